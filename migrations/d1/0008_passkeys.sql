-- Passkeys (passkeys.md): WebAuthn credentials, each user's fixed user handle, and the
-- challenges of the ceremonies. Instants are Unix seconds. users.passkey_count (0007)
-- mirrors the number of a user's passkeys, recomputed in every batch that changes them.

-- The WebAuthn user handle: 32 random bytes (base64url), made at the user's first
-- registration options and fixed from then on; never derived from the email or the id.
CREATE TABLE passkey_users (
    user_id  TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle   TEXT NOT NULL UNIQUE
);

-- One row per credential. credential_id and public_key (the COSE key as the authenticator
-- sent it) are base64url; the attestation statement is never stored.
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT NOT NULL UNIQUE,
    public_key      TEXT NOT NULL,
    sign_count      INTEGER NOT NULL,
    transports      TEXT NOT NULL DEFAULT '',
    backup_eligible INTEGER NOT NULL,
    backed_up       INTEGER NOT NULL,
    aaguid          TEXT NOT NULL,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- A challenge (32 random bytes, base64url) of one ceremony: register (bound to the user
-- and session), login (bound to the email if one was given, by its digest), mfa (bound to
-- the mfa_token, by its digest). Consumed by the first verify call, whatever its outcome.
CREATE TABLE webauthn_challenges (
    id          TEXT PRIMARY KEY,
    challenge   TEXT NOT NULL,
    ceremony    TEXT NOT NULL,
    user_id     TEXT,
    session_id  TEXT,
    binding     TEXT,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_at);

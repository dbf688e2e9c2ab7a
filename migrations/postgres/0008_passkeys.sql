-- The Postgres twin of migrations/d1/0008_passkeys.sql: passkeys, user handles and
-- WebAuthn challenges. Instants are Unix seconds (bigint), as in D1, so the statements
-- share one text; user ids stay uuid for the foreign keys.

CREATE TABLE passkey_users (
    user_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle   text NOT NULL UNIQUE
);

CREATE TABLE passkeys (
    id              text PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   text NOT NULL UNIQUE,
    public_key      text NOT NULL,
    sign_count      bigint NOT NULL,
    transports      text NOT NULL DEFAULT '',
    backup_eligible boolean NOT NULL,
    backed_up       boolean NOT NULL,
    aaguid          text NOT NULL,
    name            text NOT NULL,
    created_at      bigint NOT NULL,
    last_used_at    bigint
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- user_id and session_id are text here: a challenge outlives neither, and nothing joins on them.
CREATE TABLE webauthn_challenges (
    id          text PRIMARY KEY,
    challenge   text NOT NULL,
    ceremony    text NOT NULL,
    user_id     text,
    session_id  text,
    binding     text,
    expires_at  bigint NOT NULL,
    used_at     bigint
);
CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_at);

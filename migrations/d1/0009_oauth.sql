-- Sign-in with Google, Microsoft and GitHub (oauth.md). Instants are Unix seconds.

-- A user's identity at a provider: at most one per provider per user, and one user per
-- (provider, subject). email is the provider's address at the latest sign-in.
-- users.identity_providers mirrors the providers of a user's rows, recomputed in every
-- transaction that links or unlinks.
CREATE TABLE identities (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    UNIQUE (provider, subject),
    UNIQUE (user_id, provider)
);

-- One authorize (or link) request waiting for its callback: the state only as its HMAC
-- digest, single use, 10 minutes. verifier is the PKCE code_verifier, sealed
-- (AES-256-GCM, bound to the digest); binding the digest of the oauth_binding cookie.
-- mode 'link' names the user and the session that asked.
CREATE TABLE oauth_states (
    digest          TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    redirect_to     TEXT NOT NULL,
    response_mode   TEXT NOT NULL,
    verifier        TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('login', 'link')),
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    binding         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

-- The one-time code a callback hands the frontend (digest only, 60 s, single use), bound
-- to the user and the provider (the first factor). link_subject / link_email: an
-- email-match link of a 2FA account, written only once the MFA challenge is passed; the
-- exchange then records the challenge (challenge_digest, the mfa_token's digest) and the
-- row lives as long as that challenge.
CREATE TABLE oauth_exchange_codes (
    digest            TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    link_subject      TEXT,
    link_email        TEXT,
    challenge_digest  TEXT,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER
);
CREATE INDEX oauth_exchange_codes_by_expiry ON oauth_exchange_codes (expires_at);
CREATE INDEX oauth_exchange_codes_by_challenge ON oauth_exchange_codes (challenge_digest)
    WHERE challenge_digest IS NOT NULL;

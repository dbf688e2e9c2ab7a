-- Two-factor sign-in (mfa.md): the sign-ins waiting for a second factor (sessions'
-- `mfa_tokens`), and mfa's TOTP factors and recovery codes. Instants are Unix seconds.

-- A right first factor of a 2FA account is answered an mfa_token; only its HMAC digest is
-- kept, bound to the user and the first factor. Every try is counted before the second
-- factor is checked (at most 5), and the first success consumes it.
CREATE TABLE mfa_tokens (
    digest        TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_factor  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    used_at       INTEGER
);
CREATE INDEX mfa_tokens_by_expiry ON mfa_tokens (expires_at);

-- One TOTP factor per user: an enrollment (confirmed_at NULL: 5 tries until
-- enroll_expires_at) or a confirmed factor. The secret is sealed (AES-256-GCM under a key
-- derived from SECRET_KEY, bound to the user). last_step is the latest 30-second step
-- accepted on any route: a code of that step or an earlier one never works again.
-- confirmed_by is a fresh id of the confirmation, for the statements of its batch.
CREATE TABLE mfa_totp (
    user_id            TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret             TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    enroll_expires_at  INTEGER NOT NULL,
    enroll_attempts    INTEGER NOT NULL DEFAULT 0,
    confirmed_at       INTEGER,
    confirmed_by       TEXT,
    last_step          INTEGER NOT NULL DEFAULT -1
);

-- Recovery codes: HMAC-SHA256 digests only, one row per code, each used once. A new
-- generation deletes the old rows.
CREATE TABLE mfa_recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, digest)
);

-- Whether 2FA is on (a confirmed mfa_totp row), written by mfa in the same transaction as
-- the factor, so the user object shows it without another query.
ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1));

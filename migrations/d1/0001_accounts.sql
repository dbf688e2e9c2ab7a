-- Users, sessions and one-time tokens. Instants are Unix seconds (INTEGER).

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    -- Stored normalised (trimmed, lower case); the unique index makes a duplicate impossible.
    email          TEXT NOT NULL UNIQUE CHECK (email = lower(trim(email))),
    full_name      TEXT,
    password_hash  TEXT NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    user_agent  TEXT,
    ip          TEXT
);
-- Revoking every session of a user (password change, reset).
CREATE INDEX sessions_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Verification codes, email-change codes and reset tokens: only HMAC-SHA256 digests.
CREATE TABLE one_time_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'change_email', 'reset_password')),
    digest      TEXT NOT NULL UNIQUE,
    new_email   TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER
);
-- Replacing, cooling down and counting wrong tries per user and purpose.
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose, created_at);
-- Confirming an email change by its new address.
CREATE INDEX one_time_tokens_by_new_email ON one_time_tokens (new_email) WHERE new_email IS NOT NULL;

-- Users, sessions and one-time tokens (the Postgres twin of migrations/d1/0001_accounts.sql).

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    -- Stored normalised (trimmed, lower case); the unique constraint makes a duplicate impossible.
    email          text NOT NULL CONSTRAINT users_email_key UNIQUE CHECK (email = lower(btrim(email))),
    full_name      text,
    password_hash  text NOT NULL,
    email_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    user_agent  text,
    ip          inet
);
-- Revoking every session of a user (password change, reset).
CREATE INDEX sessions_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Verification codes, email-change codes and reset tokens: only HMAC-SHA256 digests.
CREATE TABLE one_time_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'change_email', 'reset_password')),
    digest      text NOT NULL UNIQUE,
    new_email   text,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    used_at     timestamptz
);
-- Replacing, cooling down and counting wrong tries per user and purpose.
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose, created_at);
-- Confirming an email change by its new address.
CREATE INDEX one_time_tokens_by_new_email ON one_time_tokens (new_email) WHERE new_email IS NOT NULL;

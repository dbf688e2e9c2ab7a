-- The Postgres twin of migrations/d1/0005_sessions.sql: sessions users can see and end,
-- rotating refresh tokens, the devices a user signed in from.
ALTER TABLE sessions ADD COLUMN max_expires_at timestamptz;
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN device text;
ALTER TABLE sessions ADD COLUMN country text;
ALTER TABLE sessions ADD COLUMN city text;
ALTER TABLE sessions ADD COLUMN auth_methods text NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN refresh_counter integer NOT NULL DEFAULT 0;
CREATE INDEX sessions_by_user_seen ON sessions (user_id, last_seen_at);

CREATE TABLE refresh_tokens (
    digest      text PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    n           integer NOT NULL,
    issued_at   timestamptz NOT NULL,
    used_at     timestamptz,
    UNIQUE (session_id, n)
);

CREATE TABLE sign_in_devices (
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_key     text NOT NULL,
    last_login_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, device_key)
);

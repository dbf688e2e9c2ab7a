-- Sessions that users can see and end, with rotating refresh tokens.
-- A session now lives until its idle expiry (`expires_at`, pushed forward by each refresh,
-- never past `max_expires_at`, the absolute lifetime from the login).
ALTER TABLE sessions ADD COLUMN max_expires_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
ALTER TABLE sessions ADD COLUMN device TEXT;
ALTER TABLE sessions ADD COLUMN country TEXT;
ALTER TABLE sessions ADD COLUMN city TEXT;
-- The factors of the login, first factor first, comma separated (`password`, ...).
ALTER TABLE sessions ADD COLUMN auth_methods TEXT NOT NULL DEFAULT 'password';
-- The number of the session's current refresh token.
ALTER TABLE sessions ADD COLUMN refresh_counter INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_by_user_seen ON sessions (user_id, last_seen_at);

-- One row per refresh token issued: its number in the session's chain and an HMAC digest,
-- never the token (the next one is recomputed from a presented one).
CREATE TABLE refresh_tokens (
    digest      TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    used_at     INTEGER,
    UNIQUE (session_id, n)
);

-- The devices a user signed in from (browser family, OS family, country), for the
-- new-device mail.
CREATE TABLE sign_in_devices (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_key     TEXT NOT NULL,
    last_login_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_key)
);

-- A token's purpose belongs to the capability that hands the token out (accounts:
-- verify_email, change_email; password_reset: reset_password; later ones their own), so
-- the table no longer lists them. SQLite cannot drop a CHECK: the table is rebuilt.

CREATE TABLE one_time_tokens_rebuilt (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose <> ''),
    digest      TEXT NOT NULL UNIQUE,
    new_email   TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER
);
INSERT INTO one_time_tokens_rebuilt (id, user_id, purpose, digest, new_email, created_at, expires_at, attempts, used_at)
    SELECT id, user_id, purpose, digest, new_email, created_at, expires_at, attempts, used_at FROM one_time_tokens;
DROP TABLE one_time_tokens;
ALTER TABLE one_time_tokens_rebuilt RENAME TO one_time_tokens;
-- Replacing, cooling down and counting wrong tries per user and purpose.
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose, created_at);
-- Confirming an email change by its new address.
CREATE INDEX one_time_tokens_by_new_email ON one_time_tokens (new_email) WHERE new_email IS NOT NULL;

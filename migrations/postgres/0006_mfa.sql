-- The Postgres twin of migrations/d1/0006_mfa.sql: sign-ins waiting for a second factor,
-- TOTP factors, recovery codes. Instants are Unix seconds (bigint), as in D1, so most
-- statements share one text; user ids stay uuid for the foreign keys.

CREATE TABLE mfa_tokens (
    digest        text PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_factor  text NOT NULL,
    created_at    bigint NOT NULL,
    expires_at    bigint NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    used_at       bigint
);
CREATE INDEX mfa_tokens_by_expiry ON mfa_tokens (expires_at);

CREATE TABLE mfa_totp (
    user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret             text NOT NULL,
    created_at         bigint NOT NULL,
    enroll_expires_at  bigint NOT NULL,
    enroll_attempts    integer NOT NULL DEFAULT 0,
    confirmed_at       bigint,
    confirmed_by       text,
    last_step          bigint NOT NULL DEFAULT -1
);

CREATE TABLE mfa_recovery_codes (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest      text NOT NULL,
    created_at  bigint NOT NULL,
    used_at     bigint,
    PRIMARY KEY (user_id, digest)
);

ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;

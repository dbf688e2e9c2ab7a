-- The Postgres twin of migrations/d1/0009_oauth.sql: identities, OAuth states and exchange
-- codes. Instants are Unix seconds (bigint), as in D1; user ids stay uuid for the keys.

CREATE TABLE identities (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    subject       text NOT NULL,
    email         text NOT NULL DEFAULT '',
    created_at    bigint NOT NULL,
    last_used_at  bigint NOT NULL,
    UNIQUE (provider, subject),
    UNIQUE (user_id, provider)
);

CREATE TABLE oauth_states (
    digest          text PRIMARY KEY,
    provider        text NOT NULL,
    redirect_to     text NOT NULL,
    response_mode   text NOT NULL,
    verifier        text NOT NULL,
    nonce           text NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('login', 'link')),
    user_id         uuid REFERENCES users (id) ON DELETE CASCADE,
    session_id      text,
    binding         text NOT NULL,
    created_at      bigint NOT NULL,
    expires_at      bigint NOT NULL,
    used_at         bigint
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

CREATE TABLE oauth_exchange_codes (
    digest            text PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider          text NOT NULL,
    link_subject      text,
    link_email        text,
    challenge_digest  text,
    created_at        bigint NOT NULL,
    expires_at        bigint NOT NULL,
    used_at           bigint
);
CREATE INDEX oauth_exchange_codes_by_expiry ON oauth_exchange_codes (expires_at);
CREATE INDEX oauth_exchange_codes_by_challenge ON oauth_exchange_codes (challenge_digest)
    WHERE challenge_digest IS NOT NULL;

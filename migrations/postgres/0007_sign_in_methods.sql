-- The Postgres twin of migrations/d1/0007_sign_in_methods.sql: the credentials other
-- features hold, mirrored on the user row.
ALTER TABLE users ADD COLUMN passkey_count integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN identity_providers text NOT NULL DEFAULT '';

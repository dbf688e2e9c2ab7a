-- The Postgres twin of migrations/d1/0004_users.sql: a contested registration.
ALTER TABLE users ADD COLUMN registration_contested boolean NOT NULL DEFAULT false;

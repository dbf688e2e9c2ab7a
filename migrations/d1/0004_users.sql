-- A registration that met an existing unverified account marks it contested: its password
-- was chosen before anyone proved the address, possibly by someone else. Verifying such an
-- account requires a password reset before the first login.
ALTER TABLE users ADD COLUMN registration_contested INTEGER NOT NULL DEFAULT 0 CHECK (registration_contested IN (0, 1));

-- The credentials other features hold, mirrored on the user row (like mfa_enabled), so the
-- row alone answers `sign_in_methods` and the "last credential" rule with no extra query.
-- passkeys writes passkey_count, oauth identity_providers (comma-separated, in link
-- order); each recomputes its column from its own table in the transaction that changes it.
ALTER TABLE users ADD COLUMN passkey_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN identity_providers TEXT NOT NULL DEFAULT '';

-- Codes are bound to the address they were mailed to (`sent_to`, also part of their
-- digest), so a guess is checked, counted and consumed in one statement without looking
-- the account up first: the answer takes the same time whether or not the address has an
-- account. `consumed_by` names the request that consumed a token, so the writes that
-- follow in the same batch act only for that request. `session_id` is the session that
-- asked for an email change: confirming it ends the account's other sessions.
ALTER TABLE one_time_tokens ADD COLUMN sent_to TEXT;
ALTER TABLE one_time_tokens ADD COLUMN consumed_by TEXT;
ALTER TABLE one_time_tokens ADD COLUMN session_id TEXT;
CREATE INDEX one_time_tokens_by_address ON one_time_tokens (sent_to, purpose) WHERE sent_to IS NOT NULL;

-- The Postgres twin of migrations/d1/0003_one_time_tokens.sql: codes bound to the address
-- they were mailed to, the request that consumed a token, the session that asked for it.
ALTER TABLE one_time_tokens ADD COLUMN sent_to text;
ALTER TABLE one_time_tokens ADD COLUMN consumed_by text;
ALTER TABLE one_time_tokens ADD COLUMN session_id uuid;
CREATE INDEX one_time_tokens_by_address ON one_time_tokens (sent_to, purpose) WHERE sent_to IS NOT NULL;

-- A token's purpose belongs to the capability that hands the token out (the Postgres twin
-- of migrations/d1/0002_one_time_tokens.sql): the table no longer lists them.

ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_check;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_check CHECK (purpose <> '');

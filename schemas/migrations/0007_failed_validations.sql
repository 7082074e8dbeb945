-- Failed validations per account and hostname (Let's Encrypt: 5 per hour): one ledger row
-- per hostname whose validation failed, name_set holding the hostname. Past the limit the
-- budget defers new orders naming that host instead of letting the CA refuse them.
ALTER TABLE issuance_ledger DROP CONSTRAINT issuance_ledger_kind_check;
ALTER TABLE issuance_ledger ADD CONSTRAINT issuance_ledger_kind_check CHECK (kind IN ('order', 'domain', 'failed_validation'));
CREATE INDEX issuance_ledger_failed_validation ON issuance_ledger (ca, account, name_set, created_at) WHERE kind = 'failed_validation';

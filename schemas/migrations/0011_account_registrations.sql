-- New ACME accounts per IP address (Let's Encrypt: 10 per 3 hours): one ledger row per
-- registration this installation makes at a CA (its egress address counts as one IP).
ALTER TABLE issuance_ledger DROP CONSTRAINT issuance_ledger_kind_check;
ALTER TABLE issuance_ledger ADD CONSTRAINT issuance_ledger_kind_check
    CHECK (kind IN ('order', 'domain', 'failed_validation', 'account'));

-- The issuance budget counts what the CA counts and says whose use spent it.
-- Rows carry the project that reserved them; a reservation whose job failed or was
-- cancelled no longer counts towards the certificate limits (per registered domain,
-- duplicates): Let's Encrypt counts issued certificates only. New orders per account
-- still count every order, as the CA does.
ALTER TABLE issuance_ledger ADD COLUMN project_id uuid;
CREATE INDEX issuance_ledger_domain_project ON issuance_ledger (ca, registered_domain, project_id, created_at) WHERE kind = 'domain';

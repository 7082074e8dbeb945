-- An ordered list of CAs per project: accounts with a fallback_order form the chain an
-- issuance or renewal without a named account walks (1 first). A failure the next CA
-- cannot share (the CA down, rate-limited, serverInternal, the budget spent there) moves
-- the job to the next account; a failure of the domain itself does not.
ALTER TABLE acme_accounts ADD COLUMN fallback_order int CHECK (fallback_order BETWEEN 1 AND 100);
CREATE UNIQUE INDEX acme_accounts_fallback ON acme_accounts (project_id, fallback_order) WHERE fallback_order IS NOT NULL;

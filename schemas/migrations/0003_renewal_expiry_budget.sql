-- Renewal scheduling, `expiring` notices and the issuance rate-limit budget.
-- ACME accounts came with 0001; nothing here depends on them.

-- When a version should be renewed: `renew_before` ahead of not_after when set,
-- else at 2/3 of the lifetime. The one definition (job commits and PATCH use it).
CREATE FUNCTION certfleet_renew_at(not_before timestamptz, not_after timestamptz, renew_before interval)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(not_after - renew_before, not_before + (not_after - not_before) * 2 / 3)
$$;

-- One row per (certificate version, threshold) whose `expiring` event was sent (or
-- passed over because a tighter threshold was crossed at the same time). The primary
-- key is what makes "once per threshold per version" hold with several schedulers.
CREATE TABLE expiry_notices (
    certificate_id uuid NOT NULL REFERENCES certificates (id),
    version        int NOT NULL,
    threshold_days int NOT NULL CHECK (threshold_days > 0),
    announced      boolean NOT NULL,            -- false: superseded by a tighter threshold crossed at once
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certificate_id, version, threshold_days)
);

-- The issuance budget: what was spent against a CA's rate limits, per ACME account,
-- counted in sliding windows. One `order` row per reservation (also the duplicate-
-- certificate count, by name_set) and one `domain` row per registered domain in it.
CREATE TABLE issuance_ledger (
    id                bigserial PRIMARY KEY,
    ca                text NOT NULL,            -- the ACME directory URL
    account           text NOT NULL,            -- the ACME account (id or URL)
    kind              text NOT NULL CHECK (kind IN ('order', 'domain')),
    registered_domain text,                     -- eTLD+1, for kind = domain
    name_set          text NOT NULL,            -- sorted, comma-joined names of the certificate
    job_id            uuid,                     -- a resumed job reserves once
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'domain') = (registered_domain IS NOT NULL))
);
CREATE UNIQUE INDEX issuance_ledger_job ON issuance_ledger (job_id, kind, coalesce(registered_domain, '')) WHERE job_id IS NOT NULL;
CREATE INDEX issuance_ledger_account ON issuance_ledger (ca, account, created_at) WHERE kind = 'order';
CREATE INDEX issuance_ledger_domain ON issuance_ledger (ca, registered_domain, created_at) WHERE kind = 'domain';
CREATE INDEX issuance_ledger_name_set ON issuance_ledger (ca, name_set, created_at) WHERE kind = 'order';

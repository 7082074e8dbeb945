-- DNS providers per project (issue 17): how dns-01 records reach a real zone. `config` holds
-- the non-secret settings; the secrets (TSIG key, hook password, acme-dns credentials) are
-- sealed with the master key like private keys (AAD = the provider id) and never returned.
CREATE TABLE dns_providers (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
    kind           text NOT NULL CHECK (kind IN ('rfc2136', 'exec', 'httpreq', 'acme-dns')),
    config         jsonb NOT NULL DEFAULT '{}',
    secret_sealed  bytea,
    master_key_id  text,
    -- The project's zone map: zones this provider serves (`example.com`, `*.corp.example`);
    -- a name without an explicit provider goes to the longest matching zone.
    zones          text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name),
    CHECK ((secret_sealed IS NULL) = (master_key_id IS NULL))
);

-- The provider a certificate's dns-01 records go through; NULL: the zone map decides.
ALTER TABLE certificates ADD COLUMN dns_provider text;

-- Every TXT value a job wrote through a provider, until it is removed again: the ledger that
-- lets cleanup remove exactly our values, and the per-nameserver propagation trace shown at
-- GET /v1/certificates/{ref}/challenges.
CREATE TABLE dns_challenge_records (
    job_id         uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    identifier     text NOT NULL,
    provider       text NOT NULL,
    record_name    text NOT NULL,
    record_value   text NOT NULL,
    state          text NOT NULL CHECK (state IN ('presenting', 'present', 'removed')),
    propagation    jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, record_name, record_value)
);

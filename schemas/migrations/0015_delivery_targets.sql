-- Deliveries (issue 22): a binding may name a target, and every new valid version of the
-- certificate is delivered there by a `deliver` job (one active per certificate and target).

-- Where certificates go and how. config holds what is safe to show (paths, URLs, commands);
-- secret_sealed the rest (webhook HMAC key), AES-256-GCM like private keys.
CREATE TABLE delivery_targets (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL REFERENCES projects (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    kind          text NOT NULL CHECK (kind IN ('files', 'haproxy', 'webhook', 'agent', 'unit')),
    config        jsonb NOT NULL DEFAULT '{}',
    secret_sealed bytea,
    master_key_id text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    CHECK ((secret_sealed IS NULL) OR (master_key_id IS NOT NULL))
);
CREATE UNIQUE INDEX delivery_targets_project_name ON delivery_targets (project_id, name) WHERE deleted_at IS NULL;

ALTER TABLE bindings ADD COLUMN target_id uuid REFERENCES delivery_targets (id);
CREATE INDEX bindings_target ON bindings (target_id) WHERE target_id IS NOT NULL;

-- A deliver job names its target; the other kinds name none. One active job per
-- certificate, kind and target (NULL targets count as equal: the old rule for the other kinds).
ALTER TABLE jobs ADD COLUMN target_id uuid REFERENCES delivery_targets (id);
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('issue', 'validate', 'renew', 'delete', 'revoke', 'deliver'));
ALTER TABLE jobs ADD CONSTRAINT jobs_deliver_target CHECK ((kind = 'deliver') = (target_id IS NOT NULL));
DROP INDEX jobs_one_active_per_kind;
CREATE UNIQUE INDEX jobs_one_active_per_kind ON jobs (certificate_id, kind, target_id) NULLS NOT DISTINCT
    WHERE state IN ('queued', 'running');

-- What each target holds of each certificate it is bound to, and how the last attempt went.
CREATE TABLE target_holdings (
    target_id          uuid NOT NULL REFERENCES delivery_targets (id),
    certificate_id     uuid NOT NULL REFERENCES certificates (id),
    version            int,
    fingerprint_sha256 text,
    delivered_at       timestamptz,
    last_outcome       text CHECK (last_outcome IN ('delivered', 'retrying', 'failed')),
    last_code          text,
    last_answer        text,
    last_attempt_at    timestamptz,
    PRIMARY KEY (target_id, certificate_id)
);

-- The exactly-once unit: one row per certificate version and target, written by the commit
-- of the deliver job that delivered it (or gave up: outcome failed, the dead letter).
CREATE TABLE deliveries (
    certificate_id     uuid NOT NULL,
    version            int NOT NULL,
    target_id          uuid NOT NULL REFERENCES delivery_targets (id),
    job_id             uuid REFERENCES jobs (id),
    outcome            text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    fingerprint_sha256 text,
    code               text,
    answer             text,
    attempts           int NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certificate_id, version, target_id),
    FOREIGN KEY (certificate_id, version) REFERENCES certificate_versions (certificate_id, version)
);
CREATE INDEX deliveries_target ON deliveries (target_id, created_at);

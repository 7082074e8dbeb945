-- CertFleet data model (DESIGN.md "Data"). PostgreSQL is the source of truth;
-- the constraints below are what make the job protocol safe with N workers and
-- N schedulers: unique keys instead of leader election, CHECKs instead of hope.

-- Needs PostgreSQL 13 or later (gen_random_uuid() is built in).

-- Tenants. Every API key belongs to one; every query is filtered by it.
CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of the secret is stored; the secret is shown once at creation.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,                 -- first characters of the secret, to recognise it in lists
    secret_hash  bytea NOT NULL UNIQUE,         -- SHA-256 of the whole secret
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['certificates:read', 'certificates:write', 'keys:export', 'admin']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE certificates (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id         uuid NOT NULL REFERENCES projects (id),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    common_name        text,
    sans               text[] NOT NULL DEFAULT '{}',
    source             text NOT NULL CHECK (source IN ('acme', 'uploaded')),
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'valid', 'renewing', 'expired', 'error', 'deleting', 'deleted', 'revoked')),
    usage              text NOT NULL DEFAULT 'server' CHECK (usage IN ('server', 'client')),
    key_type           text,                    -- for ACME: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096
    challenge          text CHECK (challenge IN ('http-01', 'dns-01', 'dns-01-manual')),
    acme_account_id    uuid,
    current_version    int,                     -- certificate_versions.version serving now, NULL before the first
    renew_before       interval,                -- per-certificate override of the renewal window
    renew_at           timestamptz,
    last_error_code    text,
    last_error_message text,
    validation_attempt int NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    version            bigint NOT NULL DEFAULT 1,   -- optimistic lock, and the API's ETag
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    CHECK ((state = 'deleted') = (deleted_at IS NOT NULL))
);
-- A name is unique among the live certificates of a project; deleting frees it.
CREATE UNIQUE INDEX certificates_project_name ON certificates (project_id, name) WHERE deleted_at IS NULL;
CREATE INDEX certificates_project_common_name ON certificates (project_id, common_name) WHERE deleted_at IS NULL;
CREATE INDEX certificates_sans ON certificates USING gin (sans) WHERE deleted_at IS NULL;
-- The renewal scan: certificates due for renewal, soonest first.
CREATE INDEX certificates_renew_due ON certificates (renew_at) WHERE deleted_at IS NULL AND state IN ('valid', 'expired');

CREATE TABLE certificate_versions (
    certificate_id     uuid NOT NULL REFERENCES certificates (id),
    version            int NOT NULL CHECK (version >= 1),
    chain_pem          text NOT NULL,
    client_ca_pem      text,
    -- AES-256-GCM: nonce || ciphertext || tag; AAD = certificate id + version.
    -- NULL once erased (delete), never readable without the master key.
    private_key_sealed bytea,
    master_key_id      text,
    serial             text,
    not_before         timestamptz,
    not_after          timestamptz,
    fingerprint_sha256 text,
    issuer             text,
    subject            text,
    details            jsonb,                   -- the parsed chain (X509 inspect output)
    lint               jsonb NOT NULL DEFAULT '[]',
    state              text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'valid', 'invalid', 'superseded')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certificate_id, version),
    CHECK ((private_key_sealed IS NULL) OR (master_key_id IS NOT NULL))
);
CREATE INDEX certificate_versions_not_after ON certificate_versions (not_after) WHERE state = 'valid';

-- Which consumer (service, listener, deployment) uses which certificate.
CREATE TABLE bindings (
    certificate_id uuid NOT NULL REFERENCES certificates (id),
    consumer       text NOT NULL CHECK (length(consumer) BETWEEN 1 AND 256),
    id             uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certificate_id, consumer)
);
CREATE INDEX bindings_consumer ON bindings (consumer);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id       uuid NOT NULL REFERENCES projects (id),
    certificate_id   uuid NOT NULL REFERENCES certificates (id),
    certificate_version int,                    -- the version a validate/renew job produces
    kind             text NOT NULL CHECK (kind IN ('issue', 'validate', 'renew', 'delete', 'revoke')),
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt          int NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     int NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
    not_before       timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    idempotency_key  text,
    parameters       jsonb NOT NULL DEFAULT '{}',   -- e.g. revoke reason, reuse_key
    checkpoint       jsonb,                          -- resumable progress (ACME order URL, ...)
    error_code       text,
    error_detail     text,
    errors           jsonb NOT NULL DEFAULT '[]',    -- every attempt's error, not only the last
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (attempt <= max_attempts)
);
-- The same Idempotency-Key returns the same job.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- At most one unfinished job per certificate and kind.
CREATE UNIQUE INDEX jobs_one_active_per_kind ON jobs (certificate_id, kind) WHERE state IN ('queued', 'running');
-- The reaper: running jobs whose lease ran out.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'running';
-- Due queued jobs (delayed retries, snoozes).
CREATE INDEX jobs_queued_due ON jobs (not_before) WHERE state = 'queued';
CREATE INDEX jobs_certificate ON jobs (certificate_id, created_at);

-- Transactional outbox: written in the same transaction as the change it announces,
-- published (with a confirm) after commit, or later by the relay.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    exchange      text NOT NULL,
    routing_key   text NOT NULL,
    message_id    uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    headers       jsonb NOT NULL DEFAULT '{}',
    body          jsonb NOT NULL,
    ordering_key  text,                         -- e.g. the certificate id: published in id order per key
    deliver_after timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text
);
-- The relay scans only what is still to publish.
CREATE INDEX outbox_unpublished ON outbox (deliver_after, id) WHERE published_at IS NULL;

-- The audit trail of every transition.
CREATE TABLE events (
    id             bigserial PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects (id),
    certificate_id uuid REFERENCES certificates (id),
    job_id         uuid REFERENCES jobs (id),
    type           text NOT NULL,               -- issued, renewed, validated, failed, deleted, revoked, expired, expiring, ...
    from_state     text,
    to_state       text,
    attempt        int,
    reason         text,
    actor          text NOT NULL,               -- api key id, worker id, scheduler id
    -- Makes events idempotent where a duplicate would be a lie (one `expiring` per threshold and version).
    dedupe_key     text UNIQUE,
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_certificate ON events (certificate_id, id);
CREATE INDEX events_job ON events (job_id);

CREATE TABLE acme_accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id          uuid NOT NULL REFERENCES projects (id),
    name                text NOT NULL DEFAULT 'default',
    directory_url       text NOT NULL,
    contact             text[] NOT NULL DEFAULT '{}',
    account_url         text,                   -- the kid, once registered
    key_sealed          bytea NOT NULL,         -- AES-256-GCM like certificate keys
    master_key_id       text NOT NULL,
    eab_key_id          text,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'valid', 'deactivated', 'revoked')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- http-01 tokens, served by every API replica at /.well-known/acme-challenge/{token}.
CREATE TABLE acme_challenges (
    token               text PRIMARY KEY,
    key_authorization   text NOT NULL,
    job_id              uuid REFERENCES jobs (id) ON DELETE CASCADE,
    identifier          text NOT NULL,
    type                text NOT NULL CHECK (type IN ('http-01', 'dns-01')),
    dns_name            text,                   -- dns-01: _acme-challenge.<domain>
    dns_value           text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL DEFAULT now() + interval '1 day'
);
CREATE INDEX acme_challenges_job ON acme_challenges (job_id);

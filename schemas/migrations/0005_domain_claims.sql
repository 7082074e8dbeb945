-- Domain ownership: a project claims a zone, proves control with a TXT record at
-- `_certfleet-challenge.<zone>` holding its token (or the system key assigns it), and
-- may then issue ACME certificates for names inside it. A verified zone belongs to one
-- project; the most specific verified zone containing a name decides who may issue.
CREATE TABLE domain_claims (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    zone        text NOT NULL CHECK (zone = lower(zone) AND length(zone) BETWEEN 1 AND 253),
    token       text NOT NULL,
    verified_at timestamptz,
    verified_by text,                            -- 'dns' or the system key's actor
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, zone)
);
CREATE UNIQUE INDEX domain_claims_one_owner ON domain_claims (zone) WHERE verified_at IS NOT NULL;

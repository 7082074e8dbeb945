-- Retention per project (issue 20): NULL keeps the installation's default
-- (CERTFLEET_RETENTION_EVENTS_DAYS, CERTFLEET_RETENTION_VERSIONS_DAYS).
ALTER TABLE projects
    ADD COLUMN event_retention_days int CHECK (event_retention_days BETWEEN 1 AND 36500),
    ADD COLUMN version_retention_days int CHECK (version_retention_days BETWEEN 1 AND 36500);

-- The `expiring` scan's schedule: when the scan must look at this certificate next (the
-- next threshold its current version crosses); NULL: as soon as possible. The scan then
-- visits only certificates with something to announce, not every one inside the widest
-- threshold each tick. A new current version, or its end moved, starts over (triggers below).
ALTER TABLE certificates ADD COLUMN expiring_check_at timestamptz;

CREATE FUNCTION certfleet_new_current_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.current_version IS DISTINCT FROM OLD.current_version THEN NEW.expiring_check_at := NULL; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER certificates_new_current_version BEFORE UPDATE OF current_version ON certificates
    FOR EACH ROW EXECUTE FUNCTION certfleet_new_current_version();

-- /metrics counts from maintained state instead of aggregating the tables per scrape.
-- Triggers append one delta row per change (no hot row: concurrent transactions never
-- wait on each other here); `StateCounts.fold` moves the deltas into the totals in small
-- batches (the scheduler and the API's gauge refresh both call it). A count is the sum
-- over both tables, a few hundred rows at most.
CREATE TABLE state_counts (
    subject text NOT NULL,       -- 'certificates' (live, by state) or 'jobs' (by kind and state)
    kind    text NOT NULL,       -- the job kind; '' for certificates
    state   text NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (subject, kind, state)
);
CREATE TABLE state_count_deltas (
    id      bigserial PRIMARY KEY,
    subject text NOT NULL,
    kind    text NOT NULL,
    state   text NOT NULL,
    delta   int NOT NULL
);
-- Served certificates (live, valid or renewing) by the hour their current version ends:
-- "expiring within N days" is the sum of the buckets up to now + N days.
CREATE TABLE expiry_buckets (
    hour timestamptz PRIMARY KEY,
    n    bigint NOT NULL
);
CREATE TABLE expiry_bucket_deltas (
    id    bigserial PRIMARY KEY,
    hour  timestamptz NOT NULL,
    delta int NOT NULL
);

-- The hour a served certificate's current version ends, or NULL when it is not served.
CREATE FUNCTION certfleet_expiry_hour(certificate uuid, current_version int, state text, deleted_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT date_trunc('hour', v.not_after) FROM certificate_versions v
    WHERE deleted_at IS NULL AND state IN ('valid', 'renewing')
      AND v.certificate_id = certificate AND v.version = current_version
$$;

CREATE FUNCTION certfleet_count_certificates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_hour timestamptz;
    new_hour timestamptz;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        IF TG_OP = 'DELETE' OR NEW.deleted_at IS NOT NULL OR NEW.state <> OLD.state THEN
            INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('certificates', '', OLD.state, -1);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        IF TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL OR NEW.state <> OLD.state THEN
            INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('certificates', '', NEW.state, 1);
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_hour := certfleet_expiry_hour(OLD.id, OLD.current_version, OLD.state, OLD.deleted_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_hour := certfleet_expiry_hour(NEW.id, NEW.current_version, NEW.state, NEW.deleted_at);
    END IF;
    IF old_hour IS DISTINCT FROM new_hour THEN
        IF old_hour IS NOT NULL THEN INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (old_hour, -1); END IF;
        IF new_hour IS NOT NULL THEN INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (new_hour, 1); END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER certificates_count AFTER INSERT OR UPDATE OF state, deleted_at, current_version OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certfleet_count_certificates();

-- A current version whose end moves (a repair by hand, a test) moves its expiry bucket and
-- is checked for `expiring` again.
CREATE FUNCTION certfleet_version_end_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    served boolean;
BEGIN
    SELECT deleted_at IS NULL AND state IN ('valid', 'renewing') INTO served
    FROM certificates WHERE id = NEW.certificate_id AND current_version = NEW.version;
    IF NOT FOUND THEN RETURN NULL; END IF;
    UPDATE certificates SET expiring_check_at = NULL WHERE id = NEW.certificate_id;
    IF served AND date_trunc('hour', OLD.not_after) IS DISTINCT FROM date_trunc('hour', NEW.not_after) THEN
        IF OLD.not_after IS NOT NULL THEN
            INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (date_trunc('hour', OLD.not_after), -1);
        END IF;
        IF NEW.not_after IS NOT NULL THEN
            INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (date_trunc('hour', NEW.not_after), 1);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER certificate_versions_end_moved AFTER UPDATE OF not_after ON certificate_versions
    FOR EACH ROW WHEN (OLD.not_after IS DISTINCT FROM NEW.not_after) EXECUTE FUNCTION certfleet_version_end_moved();

CREATE FUNCTION certfleet_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state AND NEW.kind = OLD.kind THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('jobs', OLD.kind, OLD.state, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('jobs', NEW.kind, NEW.state, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_count AFTER INSERT OR UPDATE OF state, kind OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION certfleet_count_jobs();

-- The starting point: what exists now (one scan, at upgrade time only; creating the
-- triggers locked both tables against writes until this transaction commits).
INSERT INTO state_counts (subject, kind, state, n)
    SELECT 'certificates', '', state, count(*) FROM certificates WHERE deleted_at IS NULL GROUP BY state;
INSERT INTO state_counts (subject, kind, state, n)
    SELECT 'jobs', kind, state, count(*) FROM jobs GROUP BY kind, state;
INSERT INTO expiry_buckets (hour, n)
    SELECT date_trunc('hour', v.not_after), count(*)
    FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
    WHERE c.deleted_at IS NULL AND c.state IN ('valid', 'renewing')
    GROUP BY 1;

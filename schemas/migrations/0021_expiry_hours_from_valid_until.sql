-- Issue 21 (cost per job) and a miscount found on the way.
--
-- The expiry buckets (migration 0012) looked each certificate's current version up to find
-- the hour to count, for the row before the change and after it. A renewal's commit marks
-- the old version superseded before it points the certificate at the new one, so the "before"
-- lookup found the old version no longer valid, and its -1 was never written: every renewal
-- left its certificate counted in the hour its old version ends, and "expiring within N
-- days" (/metrics) counted renewed certificates until that hour had passed.
--
-- `valid_until` (0019) is the same fact kept on the certificate row: the current version's
-- end while that version is valid. Counting from it needs no lookup and reads the row as it
-- was: OLD.valid_until is the hour that was counted. The version-side triggers already keep
-- it current (a version made valid, superseded, or its end moved updates its certificate),
-- so the version trigger's own bucket deltas go (they would count the move twice). A revoked
-- certificate no longer counts: its version stays valid, but nothing serves it.
--
-- Cost: a `LANGUAGE sql` function called from PL/pgSQL is parsed and planned again in every
-- transaction; with the two lookups gone and the remaining one in PL/pgSQL, an UPDATE of a
-- certificate ran about 1.5 times as often per second at 100k certificates (pgbench, 8 clients;
-- README "Benchmarks").
--
-- The buckets are rebuilt from `valid_until` under a lock that holds off writers of
-- certificates for one scan (the whole migration: 0.45 s at 1,000,000 certificates).
LOCK TABLE certificates IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE expiry_bucket_deltas, expiry_buckets IN EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION certfleet_valid_until(certificate uuid, current_version int) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF current_version IS NULL THEN RETURN NULL; END IF;
    RETURN (SELECT CASE WHEN v.state = 'valid' THEN v.not_after END FROM certificate_versions v
            WHERE v.certificate_id = certificate AND v.version = current_version);
END $$;

-- A live certificate counts in the hour its serving version ends (valid_until); a revoked
-- one is served nowhere and counts in none (0012's lookup counted it).
CREATE OR REPLACE FUNCTION certfleet_count_certificates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_hour timestamptz;
    new_hour timestamptz;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        IF TG_OP = 'DELETE' OR NEW.deleted_at IS NOT NULL OR NEW.state <> OLD.state THEN
            INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('certificates', '', OLD.state, -1);
        END IF;
        IF OLD.state <> 'revoked' THEN old_hour := date_trunc('hour', OLD.valid_until); END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        IF TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL OR NEW.state <> OLD.state THEN
            INSERT INTO state_count_deltas (subject, kind, state, delta) VALUES ('certificates', '', NEW.state, 1);
        END IF;
        IF NEW.state <> 'revoked' THEN new_hour := date_trunc('hour', NEW.valid_until); END IF;
    END IF;
    IF old_hour IS DISTINCT FROM new_hour THEN
        IF old_hour IS NOT NULL THEN INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (old_hour, -1); END IF;
        IF new_hour IS NOT NULL THEN INSERT INTO expiry_bucket_deltas (hour, delta) VALUES (new_hour, 1); END IF;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER certificates_count ON certificates;
CREATE TRIGGER certificates_count AFTER INSERT OR UPDATE OF state, deleted_at, current_version, valid_until OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certfleet_count_certificates();

-- A current version whose end moves is checked for `expiring` again; its bucket moves with
-- the certificate's valid_until (certfleet_version_valid_until).
CREATE OR REPLACE FUNCTION certfleet_version_end_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE certificates SET expiring_check_at = NULL WHERE id = NEW.certificate_id AND current_version = NEW.version;
    RETURN NULL;
END $$;
DROP FUNCTION certfleet_expiry_hour(uuid, int, text, timestamptz);

DELETE FROM expiry_bucket_deltas;
DELETE FROM expiry_buckets;
INSERT INTO expiry_buckets (hour, n)
    SELECT date_trunc('hour', valid_until), count(*) FROM certificates
    WHERE deleted_at IS NULL AND state <> 'revoked' AND valid_until IS NOT NULL GROUP BY 1;

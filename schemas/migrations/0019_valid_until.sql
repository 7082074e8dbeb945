-- certfleet:no-transaction
-- Issue 20 at one million certificates. Run statement by statement outside a transaction
-- (the migrator splits at `;` outside `$$` bodies), so the indexes build CONCURRENTLY and
-- the backfill commits in batches: an upgrade of a live installation never blocks writes
-- for long. Every statement can run again (a run interrupted half-way applies the rest).

-- When the current version ends, kept on the certificate itself (NULL: no current version,
-- or it is not `valid`). `list?expires_before=` and the expiry scan read it from an index
-- of `certificates` instead of probing each certificate's version (about 1,400 probes per
-- page of 100 at 1M), and the expiry scan no longer reads through expired certificates.
ALTER TABLE certificates ADD COLUMN IF NOT EXISTS valid_until timestamptz;

CREATE OR REPLACE FUNCTION certfleet_valid_until(certificate uuid, current_version int) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN v.state = 'valid' THEN v.not_after END FROM certificate_versions v
    WHERE v.certificate_id = certificate AND v.version = current_version
$$;

-- A certificate that points at another version takes that version's end.
CREATE OR REPLACE FUNCTION certfleet_certificate_valid_until() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.valid_until := certfleet_valid_until(NEW.id, NEW.current_version);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS certificates_valid_until ON certificates;
CREATE TRIGGER certificates_valid_until BEFORE INSERT OR UPDATE OF current_version ON certificates
    FOR EACH ROW EXECUTE FUNCTION certfleet_certificate_valid_until();

-- A current version that becomes valid or stops being so, or whose end moves, updates its
-- certificate (whichever of the two rows a transaction writes first).
CREATE OR REPLACE FUNCTION certfleet_version_valid_until() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE certificates SET valid_until = CASE WHEN NEW.state = 'valid' THEN NEW.not_after END
    WHERE id = NEW.certificate_id AND current_version = NEW.version
      AND valid_until IS DISTINCT FROM (CASE WHEN NEW.state = 'valid' THEN NEW.not_after END);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS certificate_versions_valid_until ON certificate_versions;
CREATE TRIGGER certificate_versions_valid_until AFTER INSERT OR UPDATE OF state, not_after ON certificate_versions
    FOR EACH ROW EXECUTE FUNCTION certfleet_version_valid_until();

-- What exists: 5,000 certificates per transaction, in id order (the triggers keep up with
-- what changes meanwhile).
CREATE OR REPLACE PROCEDURE certfleet_backfill_valid_until() LANGUAGE plpgsql AS $$
DECLARE
    after_id uuid := '00000000-0000-0000-0000-000000000000';
    upto uuid;
BEGIN
    LOOP
        -- The batch's last id; NULL: fewer than 5,000 remain, this is the last batch.
        SELECT id INTO upto FROM certificates WHERE id > after_id ORDER BY id OFFSET 4999 LIMIT 1;
        UPDATE certificates c SET valid_until = certfleet_valid_until(c.id, c.current_version)
        WHERE c.id > after_id AND (upto IS NULL OR c.id <= upto) AND c.current_version IS NOT NULL
          AND c.valid_until IS DISTINCT FROM certfleet_valid_until(c.id, c.current_version);
        COMMIT;
        EXIT WHEN upto IS NULL;
        after_id := upto;
    END LOOP;
END $$;
CALL certfleet_backfill_valid_until();
DROP PROCEDURE certfleet_backfill_valid_until();

-- List paging in uuid order within a project, with the end in the index: `expires_before`
-- is checked on the index entry, and only matching rows are read. Replaces 0013's
-- (project_id, id), which it serves for every other list as well.
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_project_id_valid_until ON certificates (project_id, id, valid_until)
    WHERE deleted_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS certificates_project_id_live;
-- The expiry scan: served certificates by end; an `expired` one leaves the index, so a tick
-- with nothing due reads nothing. Replaces 0013's expression index on versions.
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_served_until ON certificates (valid_until)
    WHERE deleted_at IS NULL AND state IN ('valid', 'renewing');
DROP INDEX CONCURRENTLY IF EXISTS certificate_versions_valid_until;
-- Retention walks retired versions oldest first with a keyset cursor, across projects, so
-- each batch starts where the last one stopped (ties on created_at are common: a bulk import).
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificate_versions_retired_key ON certificate_versions (created_at, certificate_id, version)
    WHERE state IN ('superseded', 'invalid');
DROP INDEX CONCURRENTLY IF EXISTS certificate_versions_retired;
ANALYZE certificates;

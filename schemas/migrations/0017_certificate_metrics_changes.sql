-- /metrics per certificate (issue 19): the API keeps one pre-rendered set of series per
-- certificate and refreshes only the rows changed since its last read, never the whole table
-- per scrape. `metrics_xid` is the transaction that last wrote the row. A reader remembers
-- the oldest transaction still running when it read (`pg_snapshot_xmin`) and next time reads
-- the rows written by that transaction or later: a write that was not yet committed then has
-- an xid at least that high, so nothing is missed whatever the commit order (a timestamp
-- watermark would miss a transaction that started before the read and committed after it).
-- Existing rows keep NULL: the API's first read at start-up takes every live certificate.
ALTER TABLE certificates ADD COLUMN metrics_xid xid8;

CREATE FUNCTION certfleet_metrics_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.metrics_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER certificates_metrics_xid BEFORE INSERT OR UPDATE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certfleet_metrics_xid();

CREATE INDEX certificates_metrics_xid ON certificates (metrics_xid);

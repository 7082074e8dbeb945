-- certfleet:no-transaction
-- Indexes for one million certificates (issue 20). Built CONCURRENTLY so an upgrade of
-- a live installation never blocks writes on these tables; the migrator runs a file
-- marked `certfleet:no-transaction` statement by statement, outside a transaction.
-- IF NOT EXISTS: a run interrupted half-way applies the rest when it is run again.

-- GET /v1/certificates/list pages in uuid order within a project (cursor paging).
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_project_id_live ON certificates (project_id, id) WHERE deleted_at IS NULL;
-- list?state=… : a rare state (error, pending) must not walk the whole project.
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_project_state_live ON certificates (project_id, state, id) WHERE deleted_at IS NULL;
-- The ARI scan: certificates never asked (NULL) first, then by when to ask again; an
-- expression, so "due" is one range of the index and not a filter over every ACME row.
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_ari_next ON certificates ((coalesce(ari_next_check_at, '-infinity'::timestamptz)))
    WHERE deleted_at IS NULL AND source = 'acme' AND state IN ('valid', 'renewing', 'expired');
-- The `expiring` scan: certificates whose next check has come (NULL: a new version, first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificates_expiring_check ON certificates ((coalesce(expiring_check_at, '-infinity'::timestamptz)))
    WHERE deleted_at IS NULL AND state IN ('valid', 'renewing') AND current_version IS NOT NULL;
-- When the serving version ends, for the expiry scan and list?expires_before. An expression,
-- not a partial index, so ANALYZE keeps statistics on it: superseded versions (about half the
-- table, most of them long ended) made the planner expect thousands of rows where there are
-- none, and scan the table. Replaces 0001's partial index on not_after.
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificate_versions_valid_until ON certificate_versions ((CASE WHEN state = 'valid' THEN not_after END));
DROP INDEX CONCURRENTLY IF EXISTS certificate_versions_not_after;
-- The relay takes unpublished rows in id order; without this the planner may walk the
-- primary key through every published row to find them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_unpublished_id ON outbox (id) WHERE published_at IS NULL;
-- Retention (the scheduler deletes in small batches, oldest first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_project_created ON events (project_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS certificate_versions_retired ON certificate_versions (created_at)
    WHERE state IN ('superseded', 'invalid');
-- list?domain= and /v1/match read the GIN index on `sans`. With fastupdate (the default) new
-- entries wait in a pending list of up to 4 MB that every search reads through: after a
-- bulk of writes, 40-70 ms per request at 100k certificates until autovacuum cleans it.
-- Certificates are written far less often than they are matched, so entries go straight in.
ALTER INDEX certificates_sans SET (fastupdate = off);
SELECT gin_clean_pending_list('certificates_sans'::regclass);

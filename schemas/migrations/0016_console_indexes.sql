-- The console's certificates table (issue 19): prefix search on name and common name, and
-- pages sorted by name, expiry or age, each an index walk at 100k certificates, not a sort.
-- text_pattern_ops: LIKE 'prefix%' uses the index whatever the database's collation.
CREATE INDEX certificates_console_name ON certificates (project_id, name text_pattern_ops) WHERE deleted_at IS NULL;
CREATE INDEX certificates_console_common_name ON certificates (project_id, common_name text_pattern_ops) WHERE deleted_at IS NULL;
CREATE INDEX certificates_console_created ON certificates (project_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX certificate_versions_console_expiry ON certificate_versions (not_after, certificate_id, version);
-- The console's jobs page: a project's newest jobs.
CREATE INDEX jobs_console_recent ON jobs (project_id, created_at DESC, id);

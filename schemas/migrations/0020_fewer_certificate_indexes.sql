-- certfleet:no-transaction
-- Every change of a certificate's state writes an entry into each of its indexes (a state
-- change is never a HOT update): in a validate job the commit's UPDATE of `certificates`
-- was its costliest statement (issue 21). Two indexes duplicated others:
-- - certificates_ari_due (ari_next_check_at): the ARI scan orders by the expression of
--   0013's certificates_ari_next, with the same predicate; nothing reads this one.
-- - certificates_project_common_name (project_id, common_name): 0016's
--   certificates_console_common_name has the same columns and predicate; text_pattern_ops
--   answers `=` as well as the console's prefix search, so list?common_name= walks it.
DROP INDEX CONCURRENTLY IF EXISTS certificates_ari_due;
DROP INDEX CONCURRENTLY IF EXISTS certificates_project_common_name;

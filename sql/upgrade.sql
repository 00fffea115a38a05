--
-- The upgrade path: ALTER EXTENSION migrate UPDATE from 1.0 to 1.1 carries
-- an unfinished backfill along, 1.1 to 1.2 keeps the grants of the status
-- function it recreates, 1.2 to 1.3 adds the record of a job's batches,
-- 1.3 to 1.4 the ownership of migrations, and the library refuses to run
-- backfills on an older catalog until then.
--
CREATE DATABASE upgrade_regress;
\c upgrade_regress
SET client_min_messages = warning;
CREATE EXTENSION migrate VERSION '1.0';
RESET client_min_messages;
\set VERBOSITY terse

CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int);
INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 10000) g;
VACUUM ANALYZE t;

SELECT migrate_backfill('t', 'w', 'v * 2');

-- What a 1.0 worker leaves behind when its job is paused in the middle of
-- the first pass: blocks 0-19 walked, their rows done and counted.
UPDATE t SET w = v * 2 WHERE ctid < '(20,0)';
INSERT INTO migrate.backfill_jobs (relid, relation, column_name, expression, state,
    batch_size, max_batch_size, batch_ms, sleep_ms, rows_per_block, next_block,
    pass_end_block, rows_done, batches, submitted_by, session_role, search_path, started_at)
SELECT 't'::regclass, 'public.t', 'w', 'v * 2', 'paused', 1000, 50000, 50, 0, 226, 20,
       pg_relation_size('t') / 8192, count(*), 5, current_user, current_user, '"$user", public', now()
FROM t WHERE w IS NOT NULL;

ALTER EXTENSION migrate UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
-- the walk position became the one range of the pass
SELECT start_block, next_block, end_block = pg_relation_size('t') / 8192 AS ends_at_table_end
FROM migrate.backfill_ranges;
SELECT workers, pass_start_rows = rows_done AS pass_start_rows_set FROM migrate.backfill_jobs;

-- the library is newer: no backfill on the 1.1 catalog
SELECT migrate_backfill('t', 'w', 'v');
-- roles let in under 1.1, one for everything, one to watch
CREATE ROLE upgrade_user;
CREATE ROLE upgrade_watcher;
SELECT migrate_grant('upgrade_user');
GRANT EXECUTE ON FUNCTION migrate_backfill_status(bigint) TO upgrade_watcher;
ALTER EXTENSION migrate UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
SELECT r AS role,
       has_function_privilege(r, 'migrate_backfill_status(bigint)', 'EXECUTE') AS status,
       has_function_privilege(r, 'migrate_backfill_pace(bigint, int, int)', 'EXECUTE') AS pace
FROM unnest(ARRAY['upgrade_user', 'upgrade_watcher', 'public']) r;
SELECT workers, sleep_ms, max_rows_per_second FROM migrate_backfill_status();
-- nor on the 1.2 catalog
SELECT migrate_backfill('t', 'w', 'v');
ALTER EXTENSION migrate UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
SELECT count(*) AS batches_recorded FROM migrate.backfill_batches;
-- the pace function takes the workers now; who could call it still can
SELECT r AS role,
       has_function_privilege(r, 'migrate_backfill_pace(bigint, int, int, int)', 'EXECUTE') AS pace
FROM unnest(ARRAY['upgrade_user', 'upgrade_watcher', 'public']) r;
SELECT count(*) AS old_pace FROM pg_proc WHERE proname LIKE 'migrate_backfill_pace%' AND pronargs = 3;
-- nor on the 1.3 catalog, nor register, resolve, plan or apply (a 1.4
-- migration has an owner)
SELECT migrate_backfill('t', 'w', 'v');
SELECT migrate_register('9', 'too_early', 'SELECT 1;');
SELECT migrate_resolve('9', 'applied');
SELECT * FROM migrate_plan();
SELECT * FROM migrate_apply();
-- migrations registered under 1.3, one by a role since dropped
INSERT INTO migrate.migrations (version, version_key, name, up_sql, checksum, statements,
    nontransactional, registered_by)
VALUES ('1', '{1}', 'before_1_4', 'SELECT 1;', 'x', 1, 0, 'upgrade_user'),
       ('2', '{2}', 'orphaned', 'SELECT 2;', 'y', 1, 0, 'upgrade_gone');
ALTER EXTENSION migrate UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'migrate';
-- each belongs to the role named (none when it is gone: superusers only)
SELECT version, coalesce(owner::regrole::text, 'none') AS owner FROM migrate.migrations ORDER BY 1;
SELECT version, registered_by FROM migrate_status();
-- register and resolve know their caller now; status and plan keep their grants
SELECT proname, prosecdef FROM pg_proc
WHERE proname IN ('migrate_register', 'migrate_resolve', 'migrate_plan', 'migrate_status') ORDER BY 1;
SELECT r AS role,
       has_function_privilege(r, 'migrate_status()', 'EXECUTE') AS status,
       has_function_privilege(r, 'migrate_plan(text)', 'EXECUTE') AS plan
FROM unnest(ARRAY['upgrade_user', 'upgrade_watcher', 'public']) r;
-- a role granted before 1.4 reaches migrate.live() as one granted now;
-- the recreated status function keeps its grants
SELECT r AS role,
       has_schema_privilege(r, 'migrate', 'USAGE') AS schema,
       has_function_privilege(r, 'migrate.live()', 'EXECUTE') AS live,
       has_function_privilege(r, 'migrate_backfill_status(bigint)', 'EXECUTE') AS backfill_status
FROM unnest(ARRAY['upgrade_user', 'upgrade_watcher', 'public']) r;
SELECT count(*) AS old_status FROM pg_proc WHERE proname LIKE 'migrate_backfill_status%';
-- a role granted before 1.4 may import another tool's history, baseline
-- and unregister, as one granted now
SELECT r AS role,
       has_function_privilege(r, 'migrate_import_history(text, jsonb)', 'EXECUTE') AS import,
       has_function_privilege(r, 'migrate_baseline(text)', 'EXECUTE') AS baseline,
       has_function_privilege(r, 'migrate_unregister(text)', 'EXECUTE') AS unregister
FROM unnest(ARRAY['upgrade_user', 'upgrade_watcher', 'public']) r;

SELECT migrate_backfill_resume(id) FROM migrate.backfill_jobs;
SELECT migrate_backfill_wait(id, '60s') FROM migrate.backfill_jobs;
-- every row right, each counted once, and nothing left in the ranges
SELECT state, rows_done, pass FROM migrate_backfill_status();
SELECT count(*) FILTER (WHERE w IS DISTINCT FROM v * 2) AS wrong FROM t;
SELECT count(*) AS ranges_left FROM migrate.backfill_ranges;
SELECT count(*) AS batches_left FROM migrate.backfill_batches;

-- a new job after the upgrade
SELECT migrate_backfill('t', 'w', 'v * 3') AS job \gset
SELECT migrate_backfill_wait(:job, '60s');
SELECT count(*) FILTER (WHERE w IS DISTINCT FROM v * 3) AS wrong FROM t;

-- pg_dump keeps roles and tables by name, finished jobs only, no ranges
SELECT a.attrelid::regclass AS "table", a.attname, a.atttypid::regtype
FROM pg_attribute a
WHERE (a.attrelid, a.attname) IN (('migrate.migrations'::regclass, 'owner'),
                                  ('migrate.backfill_jobs'::regclass, 'relid'),
                                  ('migrate.backfill_jobs'::regclass, 'submitter'))
ORDER BY 1, 2;
SELECT c.relname, f.condition
FROM pg_extension e,
     unnest(e.extconfig, e.extcondition) AS f(relid, condition)
     JOIN pg_class c ON c.oid = f.relid
WHERE e.extname = 'migrate' AND c.relkind = 'r'
ORDER BY 1;

\c contrib_regression
DROP DATABASE upgrade_regress;
DROP ROLE upgrade_user, upgrade_watcher;

/* sql/migrate--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.4'" to load this file. \quit

-- Functions whose result columns change are replaced: the 1.3 function
-- steps aside under another name, and whoever could execute it can execute
-- its replacement.  Dropped at the end of this script.
CREATE FUNCTION migrate.copy_execute_grants(old regprocedure, new regprocedure)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g oid;
BEGIN
    FOR g IN
        SELECT DISTINCT a.grantee
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = old AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', new,
            CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END);
    END LOOP;
END
$$;

-- Ownership of migrations (issue 15 §2)

-- migrate_grant(NULL) fails as the other functions do on a null argument
-- (it pasted nothing into GRANT and failed with a syntax error), and the
-- grant covers migrate.live(), which lives in the private schema.
CREATE OR REPLACE FUNCTION pg_catalog.migrate_grant(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the role that is to use migrate, e.g. migrate_grant(''deployer'').';
    END IF;
    FOR f IN
        SELECT r FROM migrate.routines() r JOIN pg_proc p ON p.oid = r
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND p.proname LIKE 'migrate\_%' AND p.proname <> 'migrate_grant'
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %s', f, role);
    END LOOP;
    -- the schema's tables stay closed: USAGE only reaches functions granted
    EXECUTE format('GRANT USAGE ON SCHEMA migrate TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION migrate.live() TO %s', role);
END
$$;
REVOKE ALL ON FUNCTION pg_catalog.migrate_grant(regrole) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_grant(regrole) IS
    'lets a role register, apply, roll back and inspect migrations and run backfills (superuser)';

-- Roles granted before 1.4 get migrate.live() too.
DO $$
DECLARE
    g oid;
BEGIN
    FOR g IN
        SELECT DISTINCT a.grantee
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'pg_catalog.migrate_apply(text, boolean)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA migrate TO %1$s; GRANT EXECUTE ON FUNCTION migrate.live() TO %1$s',
            CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END);
    END LOOP;
END
$$;

-- Migrations run as their owners (issue 15 §1, §2)

-- A migration belongs to the role that registered it and runs as that role,
-- whoever applies it.  The role is kept by OID, so that renaming it changes
-- nothing; registered_by stays the name it had, for display.  A migration
-- whose role was dropped before this upgrade has no owner: it cannot run
-- until a superuser registers it again.
ALTER TABLE migrate.migrations ADD COLUMN owner oid;
UPDATE migrate.migrations m SET owner = r.oid
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) m.registered_by;
COMMENT ON COLUMN migrate.migrations.owner IS
    'the role the migration belongs to and runs as (pg_authid oid)';

-- Lock waits the application never feels (issue 17)

-- A step's first attempt for its lock waits migrate.lock_timeout_initial,
-- each retry longer up to migrate.lock_timeout, until migrate.lock_wait_budget
-- is spent.  The run keeps the caller's schedule, in numbers for the worker
-- and in words for migrate_status(); a run from before 1.4 has neither new
-- column and waits as it did (a fixed timeout, its retries only).
ALTER TABLE migrate.runs ADD COLUMN lock_timeout_initial int;
ALTER TABLE migrate.runs ADD COLUMN lock_wait_budget int;
ALTER TABLE migrate.runs ADD COLUMN lock_schedule text;
COMMENT ON COLUMN migrate.runs.lock_timeout IS
    'ms: the longest lock timeout of an attempt (migrate.lock_timeout)';
COMMENT ON COLUMN migrate.runs.lock_timeout_initial IS
    'ms: the lock timeout of a step''s first attempt (migrate.lock_timeout_initial)';
COMMENT ON COLUMN migrate.runs.lock_retries IS
    'retries of a step for its lock, -1 for as many as the budget allows (migrate.lock_retries)';
COMMENT ON COLUMN migrate.runs.lock_wait_budget IS
    'ms: how long a step tries for its lock, from its first attempt (migrate.lock_wait_budget)';
COMMENT ON COLUMN migrate.runs.lock_schedule IS
    'the lock wait schedule in words, as the server log and migrate_status() show it';

-- migrate.live() shows the lock timeout of the step's current attempt and
-- since when it has been waiting for its lock.  The 1.3 function steps
-- aside until its grants are copied.
ALTER FUNCTION migrate.live() RENAME TO live_1_3;
CREATE FUNCTION migrate.live(
    OUT pid int, OUT kind text, OUT job_id bigint, OUT version text,
    OUT step int, OUT steps_total int, OUT retries int, OUT waits_for_snapshots boolean,
    OUT lock_timeout int, OUT lock_wait_since timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'migrate_live';
REVOKE ALL ON FUNCTION migrate.live() FROM PUBLIC;
COMMENT ON FUNCTION migrate.live() IS
    'what the workers of this database do now: the run''s migration, step and retries, the current attempt''s lock timeout (ms) and since when its step waits for its lock';
SELECT migrate.copy_execute_grants('migrate.live_1_3()', 'migrate.live()');
DROP FUNCTION migrate.live_1_3();

-- migrate_backfill_status()'s percent and ETA count a job without a where
-- clause against the table's live rows, not its size (edited in place in
-- migrate.backfill_status_rows below).

-- Ownership of migrations (issue 15 §2): who may change and see them

-- register and resolve check the caller against the owner, so they are
-- not SECURITY DEFINER (inside one the caller is gone); they switch to
-- the extension owner for their catalog writes only.
ALTER FUNCTION pg_catalog.migrate_register(text, text, text, text) SECURITY INVOKER;
ALTER FUNCTION pg_catalog.migrate_resolve(text, text) SECURITY INVOKER;

-- The status and the plan show registered_by; the plan's script text is
-- shown only to the owner, members and superusers (a script can hold a
-- password), so it is not SECURITY DEFINER either.  A function's result
-- columns cannot change in place: the 1.3 functions step aside until their
-- grants are copied to the new ones.
ALTER FUNCTION pg_catalog.migrate_plan(text) RENAME TO migrate_plan_1_3;
ALTER FUNCTION pg_catalog.migrate_status() RENAME TO migrate_status_1_3;

CREATE FUNCTION pg_catalog.migrate_plan(target text DEFAULT NULL)
RETURNS TABLE (version text, name text, step int, kind text, statements int, sql text,
               registered_by name, transactional boolean)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_plan';
REVOKE ALL ON FUNCTION pg_catalog.migrate_plan(text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_plan(text) IS
    'what migrate_apply(target) would run, step by step; sql only for the owner, members and superusers';

-- A migration's tool may mark it non-transactional (dbmate transaction:false,
-- goose NO TRANSACTION, Flyway executeInTransaction=false): each statement
-- then commits on its own, and a re-run resumes after the last one that
-- committed.  source is the file it came from, as its folder names it.
ALTER TABLE migrate.migrations ADD COLUMN transactional boolean NOT NULL DEFAULT true;
ALTER TABLE migrate.migrations ADD COLUMN source text;
COMMENT ON COLUMN migrate.migrations.transactional IS
    'false: every statement runs and commits in a transaction of its own';
COMMENT ON COLUMN migrate.migrations.source IS
    'the file the migration was registered from, relative to its folder (pg_migrate), or NULL';

ALTER FUNCTION pg_catalog.migrate_register(text, text, text, text) RENAME TO migrate_register_1_3;
CREATE FUNCTION pg_catalog.migrate_register(
    version text, name text, up_sql text, down_sql text DEFAULT NULL,
    transactional boolean DEFAULT true, source text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_register';
REVOKE ALL ON FUNCTION pg_catalog.migrate_register(text, text, text, text, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_register(text, text, text, text, boolean, text) IS
    'registers (or updates, until it has run) a migration owned by the caller; transactional => false commits each statement on its own';
SELECT migrate.copy_execute_grants('pg_catalog.migrate_register_1_3(text, text, text, text)',
                                   'pg_catalog.migrate_register(text, text, text, text, boolean, text)');
DROP FUNCTION pg_catalog.migrate_register_1_3(text, text, text, text);

-- Repeatable migrations (issue 17)

-- A repeatable migration (Flyway's R__name.sql) has a name and no version:
-- it runs after the versioned ones, in name order, whenever its script
-- changed since it last ran, as its owner like any other.  It is kept in
-- migrate.migrations under its name (version_key NULL sorts it last); its
-- history rows carry that name as their version.
ALTER TABLE migrate.migrations ADD COLUMN repeatable boolean NOT NULL DEFAULT false;
ALTER TABLE migrate.migrations ALTER COLUMN version_key DROP NOT NULL;
ALTER TABLE migrate.migrations ADD CONSTRAINT migrations_repeatable_check
    CHECK (repeatable = (version_key IS NULL));
COMMENT ON COLUMN migrate.migrations.repeatable IS
    'true: a repeatable migration, keyed by its name, run again whenever its script changes';

CREATE FUNCTION pg_catalog.migrate_register_repeatable(
    name text, sql text, transactional boolean DEFAULT true, source text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_register_repeatable';
REVOKE ALL ON FUNCTION pg_catalog.migrate_register_repeatable(text, text, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_register_repeatable(text, text, boolean, text) IS
    'registers (or changes, at any time) a repeatable migration owned by the caller; migrate_apply() runs it after the versioned ones whenever its script changed';
SELECT migrate.copy_execute_grants('pg_catalog.migrate_register(text, text, text, text, boolean, text)',
                                   'pg_catalog.migrate_register_repeatable(text, text, boolean, text)');

-- A repeatable migration applied with an older script is outdated, not a
-- checksum mismatch, and has no place in the version order.
CREATE OR REPLACE FUNCTION pg_catalog.migrate_validate()
RETURNS TABLE (version text, name text, problem text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH latest AS (
        SELECT DISTINCT ON (h.version) h.*
        FROM migrate.history h
        WHERE h.state = 'applied' OR h.action <> 'resolve'
        ORDER BY h.version, h.id DESC
    ), applied AS (
        SELECT l.*, m.version IS NOT NULL AS registered, m.version_key,
               m.checksum AS registered_checksum, coalesce(m.repeatable, false) AS repeatable
        FROM latest l LEFT JOIN migrate.migrations m USING (version)
        WHERE l.state = 'applied'
    ), top AS (
        SELECT max(version_key) AS key FROM applied
    )
    SELECT a.version, a.name, 'checksum_mismatch',
           'applied with checksum ' || a.checksum || ', registered script has ' || a.registered_checksum
    FROM applied a
    WHERE a.registered AND NOT a.repeatable AND a.checksum IS DISTINCT FROM a.registered_checksum
    UNION ALL
    SELECT a.version, a.name, 'not_registered',
           'applied ' || a.finished_at || ' but no longer registered'
    FROM applied a
    WHERE NOT a.registered
    UNION ALL
    SELECT m.version, m.name, 'out_of_order',
           'pending, but below the highest applied version'
    FROM migrate.migrations m, top
    WHERE m.version_key < top.key
      AND NOT EXISTS (SELECT 1 FROM applied a WHERE a.version = m.version)
    ORDER BY 1
$$;

-- The status is read by deployers who may not read migrate.history: it
-- shows why a migration failed (detail, hint, the failing statement) to
-- the migration's owner, members of it, superusers and the role that
-- asked for the failed run, since a detail can quote row values.  It runs
-- the query below as the extension owner, passing its caller.
CREATE FUNCTION migrate.status_rows(viewer oid)
RETURNS TABLE (version text, name text, state text, applied_at timestamptz, applied_by name,
               duration_ms double precision, checksum text, error text, retries int, steps text,
               registered_by name, transactional boolean, source text,
               error_detail text, error_hint text, error_sql text,
               lock_schedule text, lock_wait text, repeatable boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH latest AS (
        SELECT DISTINCT ON (h.version) h.*
        FROM migrate.history h
        WHERE h.action <> 'unregister'
        ORDER BY h.version, h.id DESC
    ), live AS (
        SELECT l.version, l.step, l.steps_total, l.retries, l.job_id, l.lock_timeout,
               l.lock_wait_since
        FROM migrate.live() l
        WHERE l.kind = 'run' AND l.version IS NOT NULL
    ), everything AS (
        SELECT m.version, m.version_key, m.name, m.checksum AS registered_checksum, m.owner,
               m.transactional, m.source, m.repeatable
        FROM migrate.migrations m
        UNION ALL
        SELECT l.version, NULL, l.name, NULL, NULL, NULL, NULL, NULL
        FROM latest l
        WHERE NOT EXISTS (SELECT 1 FROM migrate.migrations m WHERE m.version = l.version)
    ), shown AS (
        SELECT e.version, e.version_key, e.name, e.registered_checksum, e.owner,
               e.transactional, e.source, e.repeatable,
               l.state, l.finished_at, l.role, l.duration_ms, l.checksum, l.error_code,
               l.error_message, l.error_statement, l.error_position, l.retries,
               l.steps_done, l.steps_total, l.error_detail, l.error_hint, l.error_sql,
               v.step AS live_step, v.steps_total AS live_steps_total,
               v.retries AS live_retries, v.version IS NOT NULL AS is_live,
               v.lock_timeout AS live_lock_timeout, v.lock_wait_since,
               coalesce(v.job_id, l.run_id) AS schedule_run,
               l.error_message IS NOT NULL AND (
                   pg_has_role($1, coalesce(e.owner, 0), 'USAGE')
                   OR EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = $1 AND a.rolsuper)
                   OR EXISTS (SELECT 1 FROM migrate.runs r JOIN pg_roles a ON a.rolname = r.requested_by
                              WHERE r.id = l.run_id AND a.oid = $1)) AS may_see
        FROM everything e
        LEFT JOIN latest l ON l.version = e.version
        LEFT JOIN live v ON v.version = e.version
    )
    SELECT s.version,
           s.name,
           CASE WHEN s.is_live THEN 'running'
                WHEN s.state IS NULL THEN 'pending'
                -- a repeatable migration whose script changed since it ran
                WHEN s.repeatable AND s.state = 'applied'
                     AND s.checksum IS DISTINCT FROM s.registered_checksum THEN 'outdated'
                ELSE s.state END,
           CASE WHEN s.state = 'applied' THEN s.finished_at END,
           CASE WHEN s.state IS NOT NULL THEN s.role END,
           s.duration_ms,
           coalesce(s.checksum, s.registered_checksum),
           CASE WHEN s.error_message IS NOT NULL THEN
               coalesce(s.error_code || ': ', '') || s.error_message
               || coalesce(' (statement ' || s.error_statement
                           || coalesce(', position ' || s.error_position, '') || ')', '')
           END,
           coalesce(s.live_retries, s.retries, 0),
           CASE WHEN s.is_live THEN s.live_step || '/' || s.live_steps_total
                WHEN s.state IS NOT NULL THEN s.steps_done || '/' || s.steps_total END,
           (SELECT r.rolname FROM pg_roles r WHERE r.oid = s.owner),
           s.transactional,
           s.source,
           CASE WHEN s.may_see THEN s.error_detail END,
           CASE WHEN s.may_see THEN s.error_hint END,
           CASE WHEN s.may_see THEN s.error_sql END,
           (SELECT r.lock_schedule FROM migrate.runs r WHERE r.id = s.schedule_run),
           CASE WHEN s.lock_wait_since IS NOT NULL THEN
               format('waiting for its lock for %s s, lock_timeout now %s ms',
                      round(extract(epoch FROM clock_timestamp() - s.lock_wait_since), 1),
                      s.live_lock_timeout)
           END,
           s.repeatable
    FROM shown s
    ORDER BY s.version_key NULLS LAST, s.version
$$;
REVOKE ALL ON FUNCTION migrate.status_rows(oid) FROM PUBLIC;
COMMENT ON FUNCTION migrate.status_rows(oid) IS
    'the rows of migrate_status() as role viewer may see them (called by it as the extension owner)';

CREATE FUNCTION pg_catalog.migrate_status()
RETURNS TABLE (version text, name text, state text, applied_at timestamptz, applied_by name,
               duration_ms double precision, checksum text, error text, retries int, steps text,
               registered_by name, transactional boolean, source text,
               error_detail text, error_hint text, error_sql text,
               lock_schedule text, lock_wait text, repeatable boolean)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_status';
REVOKE ALL ON FUNCTION pg_catalog.migrate_status() FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_status() IS
    'one row per migration (repeatable ones last, outdated once their script changed): state, progress, the role it belongs to, why it failed (detail, hint and statement for its owner, members, superusers and the role that ran it), its run''s lock wait schedule and how long it has waited for its lock';

-- Every attempt, for a deployer who may not read migrate.history, with
-- the same rule for what an error shows.
CREATE FUNCTION migrate.history_rows(viewer oid, of_version text)
RETURNS TABLE (id bigint, run_id bigint, version text, name text, action text, state text,
               checksum text, steps_done int, steps_total int, retries int, role name,
               started_at timestamptz, finished_at timestamptz, duration_ms double precision,
               error_code text, error_message text, error_detail text, error_hint text,
               error_statement int, error_position int, error_sql text, note text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH h AS (
        SELECT h.*,
               pg_has_role($1, coalesce(m.owner, 0), 'USAGE')
               OR EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = $1 AND a.rolsuper)
               OR EXISTS (SELECT 1 FROM migrate.runs r JOIN pg_roles a ON a.rolname = r.requested_by
                          WHERE r.id = h.run_id AND a.oid = $1) AS may_see
        FROM migrate.history h
        LEFT JOIN migrate.migrations m ON m.version = h.version
        WHERE $2 IS NULL OR h.version = $2
    )
    SELECT h.id, h.run_id, h.version, h.name, h.action, h.state, h.checksum, h.steps_done,
           h.steps_total, h.retries, h.role, h.started_at, h.finished_at, h.duration_ms,
           h.error_code, h.error_message,
           CASE WHEN h.may_see THEN h.error_detail END,
           CASE WHEN h.may_see THEN h.error_hint END,
           h.error_statement, h.error_position,
           CASE WHEN h.may_see THEN h.error_sql END,
           h.note
    FROM h
    ORDER BY h.id
$$;
REVOKE ALL ON FUNCTION migrate.history_rows(oid, text) FROM PUBLIC;
COMMENT ON FUNCTION migrate.history_rows(oid, text) IS
    'the rows of migrate_history() as role viewer may see them (called by it as the extension owner)';

CREATE FUNCTION pg_catalog.migrate_history(of_version text DEFAULT NULL)
RETURNS TABLE (id bigint, run_id bigint, version text, name text, action text, state text,
               checksum text, steps_done int, steps_total int, retries int, role name,
               started_at timestamptz, finished_at timestamptz, duration_ms double precision,
               error_code text, error_message text, error_detail text, error_hint text,
               error_statement int, error_position int, error_sql text, note text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_history';
REVOKE ALL ON FUNCTION pg_catalog.migrate_history(text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_history(text) IS
    'every apply, rollback and resolve attempt (of one version, or all), oldest first; error detail, hint and statement as migrate_status() shows them';

SELECT migrate.copy_execute_grants('pg_catalog.migrate_plan_1_3(text)', 'pg_catalog.migrate_plan(text)');
SELECT migrate.copy_execute_grants('pg_catalog.migrate_status_1_3()', 'pg_catalog.migrate_status()');
SELECT migrate.copy_execute_grants('pg_catalog.migrate_status_1_3()', 'pg_catalog.migrate_history(text)');

DROP FUNCTION pg_catalog.migrate_plan_1_3(text);
DROP FUNCTION pg_catalog.migrate_status_1_3();

-- A run records the role that asked for it; every migration of it runs as
-- its owner, in a worker logged in as that role.  The run keeps the checksum
-- of every script it planned: one registered again after planning fails the
-- run instead of running unreviewed.  crashes/crashed_on count the restarts
-- that found it on the same migration; the recovery fails a migration that
-- crashed the worker three times instead of resuming it forever.
ALTER TABLE migrate.runs RENAME COLUMN run_as TO requested_by;
ALTER TABLE migrate.runs DROP COLUMN session_role;
ALTER TABLE migrate.runs ADD COLUMN checksums text[];
ALTER TABLE migrate.runs ADD COLUMN crashes int NOT NULL DEFAULT 0;
ALTER TABLE migrate.runs ADD COLUMN crashed_on text;

-- A backfill's workers log in as its submitter, kept by OID (a role renamed
-- while its job runs no longer strands the job).
ALTER TABLE migrate.backfill_jobs ADD COLUMN submitter oid;
UPDATE migrate.backfill_jobs j SET submitter = r.oid
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) j.submitted_by;
ALTER TABLE migrate.backfill_jobs DROP COLUMN session_role;
COMMENT ON COLUMN migrate.backfill_jobs.submitter IS
    'the role that submitted the job, which its workers log in as (pg_authid oid)';

-- The run functions run as the caller, so that they know who calls them
-- and refuse borrowed rights (a SECURITY DEFINER function, an index
-- expression run by autovacuum); they read and write migrate.* as the
-- extension owner internally.
ALTER FUNCTION pg_catalog.migrate_apply(text, boolean) SECURITY INVOKER;
ALTER FUNCTION pg_catalog.migrate_rollback(int, boolean) SECURITY INVOKER;
ALTER FUNCTION pg_catalog.migrate_rollback_to(text, boolean) SECURITY INVOKER;

-- Fair share of the workers (issue 15 §5)

-- Runs keep one of migrate.max_workers, and one role's backfills run at most
-- migrate.max_workers_per_role workers; the launcher, which has no database
-- to write a job's row in, keeps why it holds a job back in shared memory.
-- migrate_backfill_status() shows it as held_reason.
CREATE FUNCTION migrate.backfill_held_reason(id bigint)
RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'migrate_backfill_held_reason';
REVOKE ALL ON FUNCTION migrate.backfill_held_reason(bigint) FROM PUBLIC;
COMMENT ON FUNCTION migrate.backfill_held_reason(bigint) IS
    'why the launcher holds backfill job id back from a worker, or NULL (called by migrate_backfill_status())';

-- Ownership of migrations (issue 15 §2): who sees a backfill's error

-- A backfill's last error can quote the rows and values its expression read:
-- only the submitter, members of it and superusers see it.  submitted_by is
-- the submitter's name now (it follows a rename).  The status
-- function is no longer SECURITY DEFINER, so that it knows its caller (a
-- definer function cannot): it passes the caller to the query below, which
-- it runs as the extension owner.  The 1.3 function steps aside until its
-- grants are copied to the new one.
ALTER FUNCTION pg_catalog.migrate_backfill_status(bigint) RENAME TO migrate_backfill_status_1_3;

CREATE FUNCTION migrate.backfill_status_rows(viewer oid, id bigint)
RETURNS TABLE (id bigint, relation text, column_name name, state text, rows_done bigint,
               rows_total_estimate bigint, percent numeric, rows_per_second numeric,
               eta interval, batches bigint, batch_size int, retries int,
               skipped_locked bigint, last_error text, submitted_by name,
               started_at timestamptz, finished_at timestamptz, held_reason text,
               max_batch_ms double precision, pass int, migration text,
               workers int, sleep_ms int, max_rows_per_second int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH l AS (
        SELECT j.*, (SELECT c.reltuples::bigint FROM pg_class c WHERE c.oid = j.relid) AS live_rows
        FROM migrate.backfill_jobs j
        WHERE $2 IS NULL OR j.id = $2
    ), j AS (
        -- A job without a where clause has every live row of the table to
        -- do: its total is the live rows as VACUUM and ANALYZE last counted
        -- them (reltuples), not the rows done extrapolated over the blocks
        -- of the pass, which dead space skews either way (issue 17).  With a
        -- where clause, or a table never counted, the extrapolation it is.
        -- (pg_stat_get_live_tuples() is no better: a session's inserts it
        -- has not yet reported are added after its own VACUUM's count.)
        SELECT j.*,
               CASE WHEN j.state = 'done' THEN j.rows_done
                    WHEN j.pass = 1 AND j.where_clause IS NULL AND j.live_rows > 0
                        THEN greatest(j.rows_done, j.live_rows)
                    WHEN j.pass = 1 AND j.next_block > 0 AND j.pass_end_block > 0
                        THEN greatest(j.rows_done, (j.rows_done::numeric * j.pass_end_block / j.next_block)::bigint)
                    WHEN j.pass = 1 THEN greatest(j.rows_done, j.rows_total_estimate)
                    ELSE j.rows_done END AS total,
               extract(epoch FROM coalesce(j.finished_at, clock_timestamp()) - j.started_at) AS secs,
               pg_has_role($1, j.submitter, 'USAGE') AS visible,
               coalesce((SELECT a.rolname FROM pg_roles a WHERE a.oid = j.submitter),
                        j.submitted_by) AS submitter_name
        FROM l j
    ), r AS (
        SELECT j.*, CASE WHEN j.secs > 0 THEN round(j.rows_done / j.secs, 1) END AS rate
        FROM j
    )
    SELECT r.id, r.relation, r.column_name, r.state, r.rows_done, r.total,
           CASE WHEN r.state = 'done' THEN 100.0
                WHEN r.total > 0 THEN least(99.9, round(100.0 * r.rows_done / r.total, 1))
                ELSE 0.0 END,
           r.rate,
           CASE WHEN r.state IN ('queued', 'running') AND r.rate > 0
                THEN make_interval(secs => round((r.total - r.rows_done) / r.rate)) END,
           r.batches, r.batch_size, r.retries, r.skipped_locked,
           CASE WHEN r.visible THEN r.last_error END, r.submitter_name,
           r.started_at, r.finished_at,
           coalesce(r.held_reason, CASE WHEN r.state IN ('queued', 'running') THEN migrate.backfill_held_reason(r.id) END),
           round(r.max_batch_ms::numeric, 1)::float8,
           r.pass, r.migration, r.workers, r.sleep_ms, r.max_rows_per_second
    FROM r
    ORDER BY r.id
$$;
REVOKE ALL ON FUNCTION migrate.backfill_status_rows(oid, bigint) FROM PUBLIC;
COMMENT ON FUNCTION migrate.backfill_status_rows(oid, bigint) IS
    'the rows of migrate_backfill_status() as role viewer may see them (called by it as the extension owner)';

CREATE FUNCTION pg_catalog.migrate_backfill_status(id bigint DEFAULT NULL)
RETURNS TABLE (id bigint, relation text, column_name name, state text, rows_done bigint,
               rows_total_estimate bigint, percent numeric, rows_per_second numeric,
               eta interval, batches bigint, batch_size int, retries int,
               skipped_locked bigint, last_error text, submitted_by name,
               started_at timestamptz, finished_at timestamptz, held_reason text,
               max_batch_ms double precision, pass int, migration text,
               workers int, sleep_ms int, max_rows_per_second int)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_backfill_status';
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_status(bigint) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_backfill_status(bigint) IS
    'progress of every backfill job (or one); last_error only for its submitter, members and superusers';

SELECT migrate.copy_execute_grants('pg_catalog.migrate_backfill_status_1_3(bigint)',
                                   'pg_catalog.migrate_backfill_status(bigint)');

DROP FUNCTION pg_catalog.migrate_backfill_status_1_3(bigint);

-- Adoption (issue 17): history rows for what was imported from another
-- tool's history, marked applied by a baseline, or unregistered unapplied.
ALTER TABLE migrate.history DROP CONSTRAINT history_action_check;
ALTER TABLE migrate.history ADD CONSTRAINT history_action_check
    CHECK (action IN ('apply', 'rollback', 'resolve', 'import', 'baseline', 'unregister'));

-- What pg_dump keeps means the same after a restore (issue 18).  Roles and
-- tables are kept by name (regrole, regclass), so a restore into another
-- cluster binds a migration to the role of that name, not to whatever role
-- got the old OID.  A backfill job's block positions describe the old
-- table's layout: only finished jobs are dumped, as history, and no range.
ALTER TABLE migrate.migrations ALTER COLUMN owner TYPE regrole;
ALTER TABLE migrate.backfill_jobs ALTER COLUMN relid TYPE regclass;
ALTER TABLE migrate.backfill_jobs ALTER COLUMN submitter TYPE regrole;
SELECT pg_catalog.pg_extension_config_dump('migrate.backfill_jobs',
                                           'WHERE state IN (''done'', ''cancelled'')');
SELECT pg_catalog.pg_extension_config_dump('migrate.backfill_ranges', 'WHERE false');

-- The limit of a job's workers is MIGRATE_BACKFILL_MAX_WORKERS in the C
-- code, which checks it where a number comes in (the setting and
-- migrate_backfill_pace()); a second copy here could only disagree.
ALTER TABLE migrate.backfill_jobs DROP CONSTRAINT backfill_jobs_workers_check;

-- Every function says what it is for (issue 18); migrate_rules() names its
-- first column "rule", as migrate_lint() and the documentation do.  The
-- rules read nothing but the module's table, so every role may list them.
DROP FUNCTION pg_catalog.migrate_rules();
CREATE FUNCTION pg_catalog.migrate_rules(
    OUT rule text, OUT severity text, OUT lint_only boolean, OUT catches text,
    OUT lock_taken text, OUT alternative text)
RETURNS SETOF record
LANGUAGE C STRICT STABLE
AS 'MODULE_PATHNAME', 'migrate_rules_list';

COMMENT ON FUNCTION pg_catalog.migrate_rules() IS
    'every rule of the DDL-safety guard and migrate_lint(): what it catches, the lock, the safe alternative';
COMMENT ON FUNCTION pg_catalog.migrate_lint(text) IS
    'the findings of the guard''s rules on a script, judged with the live catalog; runs nothing of it';
COMMENT ON FUNCTION pg_catalog.migrate_apply(text, boolean) IS
    'queues a run of the pending migrations up to target (all by default) and, unless wait is false, waits for it';
COMMENT ON FUNCTION pg_catalog.migrate_rollback(int, boolean) IS
    'runs the down scripts of the latest applied migrations (steps of them) in a worker';
COMMENT ON FUNCTION pg_catalog.migrate_rollback_to(text, boolean) IS
    'runs the down scripts of every applied migration above target in a worker';
COMMENT ON PROCEDURE pg_catalog.migrate_wait(interval) IS
    'waits, outside any snapshot, for this database''s run to end; fails if a migration of it failed';
COMMENT ON FUNCTION pg_catalog.migrate_validate() IS
    'applied migrations whose registered script no longer matches the checksum recorded when they ran';
COMMENT ON FUNCTION pg_catalog.migrate_resolve(text, text) IS
    'settles a failed or interrupted migration as applied or rolled_back, by hand, recorded in the history';
COMMENT ON FUNCTION migrate.routines() IS
    'every routine of the extension, for migrate_grant()';
COMMENT ON FUNCTION pg_catalog.migrate_backfill(regclass, name, text, text, int, int) IS
    'queues a batched backfill of one column, run by workers as the calling role; returns the job id';
COMMENT ON FUNCTION pg_catalog.migrate_backfill_pause(bigint) IS
    'pauses a backfill job after its current batch';
COMMENT ON FUNCTION pg_catalog.migrate_backfill_resume(bigint) IS
    'resumes a paused or failed backfill job where it stopped';
COMMENT ON FUNCTION pg_catalog.migrate_backfill_cancel(bigint) IS
    'cancels a backfill job; the batches already committed stay';
COMMENT ON FUNCTION pg_catalog.migrate_backfill_wait(bigint, interval) IS
    'waits for a backfill job to finish, pause or fail, up to timeout; returns its state';
COMMENT ON FUNCTION pg_catalog.migrate_backfill_pace(bigint, int, int, int) IS
    'changes a running backfill job''s pause, rate limit, batch size or number of workers';
COMMENT ON FUNCTION migrate.guard_ddl_start() IS
    'event trigger of the DDL-safety guard: judges a DDL statement before it takes its lock';
COMMENT ON FUNCTION migrate.guard_table_rewrite() IS
    'event trigger of the DDL-safety guard: refuses a rewrite of a large table the first check did not foresee';

-- Importing another tool's history, baseline, unregister (issue 17)

-- An unregister row records who removed a migration that never ran; its
-- state says so.  migrate_status() leaves such rows out: a version removed
-- that way is not shown, and registered again it is pending.
ALTER TABLE migrate.history DROP CONSTRAINT history_state_check;
ALTER TABLE migrate.history ADD CONSTRAINT history_state_check
    CHECK (state IN ('running', 'applied', 'failed', 'rolled_back', 'unregistered'));

-- Not SECURITY DEFINER and no search_path of their own: the other tool's
-- table is found on the caller's search_path and read with the caller's
-- rights; they write migrate.history as the extension owner internally.
CREATE FUNCTION pg_catalog.migrate_import_history(tool text DEFAULT 'auto', files jsonb DEFAULT NULL)
RETURNS TABLE (version text, name text, state text, applied_at timestamptz, applied_by name,
               imported_from text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_import_history';
REVOKE ALL ON FUNCTION pg_catalog.migrate_import_history(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_import_history(text, jsonb) IS
    'imports the history of flyway, golang-migrate, dbmate, prisma, goose, node-pg-migrate or sqitch (auto: the one whose table is on the search_path) onto the registered migrations; files maps a version to its file''s text for the tool''s checksum';

CREATE FUNCTION pg_catalog.migrate_baseline(version text)
RETURNS TABLE (version text, name text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_baseline';
REVOKE ALL ON FUNCTION pg_catalog.migrate_baseline(text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_baseline(text) IS
    'marks every registered migration up to version that is not applied applied, without running it (the database already has them)';

CREATE FUNCTION pg_catalog.migrate_unregister(version text)
RETURNS text
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_unregister';
REVOKE ALL ON FUNCTION pg_catalog.migrate_unregister(text) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_unregister(text) IS
    'removes a registered migration that never ran (its owner, a member or a superuser)';

-- A pure function of its arguments, as migrate_lint(): every role may call
-- it (pg_migrate writes the same checksums into a tool's history table).
CREATE FUNCTION pg_catalog.migrate_tool_checksum(tool text, script text)
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'migrate_tool_checksum';
COMMENT ON FUNCTION pg_catalog.migrate_tool_checksum(text, text) IS
    'the checksum flyway (CRC-32), prisma (sha256) or sqitch (sha1) keeps of a file, as an import compares it';

-- Roles granted before: migrate_grant() covers the new functions for
-- roles granted from now on; those granted earlier get them here.
SELECT migrate.copy_execute_grants('pg_catalog.migrate_resolve(text, text)', f)
FROM (VALUES ('pg_catalog.migrate_import_history(text, jsonb)'::regprocedure),
             ('pg_catalog.migrate_baseline(text)'),
             ('pg_catalog.migrate_unregister(text)')) v (f);

DROP FUNCTION migrate.copy_execute_grants(regprocedure, regprocedure);

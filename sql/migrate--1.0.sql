/* migrate--1.0.sql */

\echo Use "CREATE EXTENSION migrate" to load this file. \quit

CREATE SCHEMA migrate;
REVOKE ALL ON SCHEMA migrate FROM PUBLIC;

-- Registered migrations: the scripts, immutable once applied.
CREATE TABLE migrate.migrations (
    version          text PRIMARY KEY,
    version_key      numeric[] NOT NULL UNIQUE,
    name             text NOT NULL,
    up_sql           text NOT NULL,
    down_sql         text,
    checksum         text NOT NULL,
    down_checksum    text,
    statements       int NOT NULL,
    nontransactional int NOT NULL,
    registered_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by    name NOT NULL
);

-- One row per apply or rollback run, written by the worker; what the
-- launcher reads after a crash to finish interrupted work.
CREATE TABLE migrate.runs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('apply', 'rollback')),
    target       text,
    steps        int,
    versions     text[] NOT NULL,
    session_role name NOT NULL,
    run_as       name NOT NULL,
    search_path  text NOT NULL,
    lock_timeout int NOT NULL,
    lock_retries int NOT NULL,
    state        text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'interrupted')),
    started_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at  timestamptz
);

-- Append-only history: one row per attempt to apply, roll back or resolve a
-- migration.  The latest row of a version is its state.
CREATE TABLE migrate.history (
    id              bigserial PRIMARY KEY,
    run_id          bigint REFERENCES migrate.runs (id),
    version         text NOT NULL,
    name            text NOT NULL,
    action          text NOT NULL CHECK (action IN ('apply', 'rollback', 'resolve')),
    state           text NOT NULL CHECK (state IN ('running', 'applied', 'failed', 'rolled_back')),
    checksum        text,
    steps_done      int NOT NULL DEFAULT 0,
    steps_total     int NOT NULL DEFAULT 1,
    retries         int NOT NULL DEFAULT 0,
    role            name NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    duration_ms     double precision,
    error_code      text,
    error_message   text,
    error_detail    text,
    error_hint      text,
    error_statement int,
    error_position  int,
    error_sql       text,
    note            text
);
CREATE INDEX history_version_idx ON migrate.history (version, id);
CREATE INDEX history_run_idx ON migrate.history (run_id);

SELECT pg_catalog.pg_extension_config_dump('migrate.migrations', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.runs', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.history', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.history_id_seq', '');

-- What the workers are doing right now (shared memory).
CREATE FUNCTION migrate.live(
    OUT pid int, OUT kind text, OUT job_id bigint, OUT version text,
    OUT step int, OUT steps_total int, OUT retries int, OUT waits_for_snapshots boolean)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'migrate_live';

CREATE FUNCTION pg_catalog.migrate_register(
    version text, name text, up_sql text, down_sql text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_register';

-- The run functions capture the caller's search_path for the scripts, then
-- switch to pg_catalog themselves (a SET clause would hide the caller's).
CREATE FUNCTION pg_catalog.migrate_apply(target text DEFAULT NULL, wait boolean DEFAULT true)
RETURNS TABLE (version text, name text, status text, duration_ms double precision, detail text)
LANGUAGE C VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'migrate_apply';

CREATE FUNCTION pg_catalog.migrate_rollback(steps int DEFAULT 1, wait boolean DEFAULT true)
RETURNS TABLE (version text, name text, status text, duration_ms double precision, detail text)
LANGUAGE C VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'migrate_rollback';

CREATE FUNCTION pg_catalog.migrate_rollback_to(target text, wait boolean DEFAULT true)
RETURNS TABLE (version text, name text, status text, duration_ms double precision, detail text)
LANGUAGE C VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'migrate_rollback_to';

-- A procedure: called on its own it commits while it waits, so it holds no
-- snapshot that a worker's CREATE INDEX CONCURRENTLY would wait for.
CREATE PROCEDURE pg_catalog.migrate_wait(timeout interval DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'migrate_wait';

CREATE FUNCTION pg_catalog.migrate_plan(target text DEFAULT NULL)
RETURNS TABLE (version text, name text, step int, kind text, statements int, sql text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_plan';

CREATE FUNCTION pg_catalog.migrate_status()
RETURNS TABLE (version text, name text, state text, applied_at timestamptz, applied_by name,
               duration_ms double precision, checksum text, error text, retries int, steps text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH latest AS (
        SELECT DISTINCT ON (h.version) h.*
        FROM migrate.history h
        ORDER BY h.version, h.id DESC
    ), live AS (
        SELECT l.version, l.step, l.steps_total, l.retries
        FROM migrate.live() l
        WHERE l.kind = 'run' AND l.version IS NOT NULL
    ), everything AS (
        SELECT m.version, m.version_key, m.name, m.checksum AS registered_checksum
        FROM migrate.migrations m
        UNION ALL
        SELECT l.version, NULL, l.name, NULL
        FROM latest l
        WHERE NOT EXISTS (SELECT 1 FROM migrate.migrations m WHERE m.version = l.version)
    )
    SELECT e.version,
           e.name,
           CASE WHEN v.version IS NOT NULL THEN 'running'
                WHEN l.state IS NULL THEN 'pending'
                ELSE l.state END,
           CASE WHEN l.state = 'applied' THEN l.finished_at END,
           CASE WHEN l.state IS NOT NULL THEN l.role END,
           l.duration_ms,
           coalesce(l.checksum, e.registered_checksum),
           CASE WHEN l.error_message IS NOT NULL THEN
               l.error_code || ': ' || l.error_message
               || coalesce(' (statement ' || l.error_statement
                           || coalesce(', position ' || l.error_position, '') || ')', '')
           END,
           coalesce(v.retries, l.retries, 0),
           CASE WHEN v.version IS NOT NULL THEN v.step || '/' || v.steps_total
                WHEN l.state IS NOT NULL THEN l.steps_done || '/' || l.steps_total END
    FROM everything e
    LEFT JOIN latest l ON l.version = e.version
    LEFT JOIN live v ON v.version = e.version
    ORDER BY e.version_key NULLS LAST, e.version
$$;

CREATE FUNCTION pg_catalog.migrate_validate()
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
        SELECT l.*, m.version_key, m.checksum AS registered_checksum
        FROM latest l LEFT JOIN migrate.migrations m USING (version)
        WHERE l.state = 'applied'
    ), top AS (
        SELECT max(version_key) AS key FROM applied
    )
    SELECT a.version, a.name, 'checksum_mismatch',
           'applied with checksum ' || a.checksum || ', registered script has ' || a.registered_checksum
    FROM applied a
    WHERE a.registered_checksum IS NOT NULL AND a.checksum IS DISTINCT FROM a.registered_checksum
    UNION ALL
    SELECT a.version, a.name, 'not_registered',
           'applied ' || a.finished_at || ' but no longer registered'
    FROM applied a
    WHERE a.version_key IS NULL
    UNION ALL
    SELECT m.version, m.name, 'out_of_order',
           'pending, but below the highest applied version'
    FROM migrate.migrations m, top
    WHERE m.version_key < top.key
      AND NOT EXISTS (SELECT 1 FROM applied a WHERE a.version = m.version)
    ORDER BY 1
$$;

CREATE FUNCTION pg_catalog.migrate_resolve(version text, state text)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'migrate_resolve';

-- Every routine of the extension, for the grants below.
CREATE FUNCTION migrate.routines()
RETURNS SETOF regprocedure
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.oid::regprocedure
    FROM pg_proc p
    JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'migrate'
$$;

-- Lets a role use migrate: the functions above run with the extension
-- owner's rights on the migrate schema, and migrations run as the caller.
CREATE FUNCTION pg_catalog.migrate_grant(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT r FROM migrate.routines() r JOIN pg_proc p ON p.oid = r
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND p.proname LIKE 'migrate\_%' AND p.proname <> 'migrate_grant'
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %s', f, role);
    END LOOP;
END
$$;

-- Background backfills (backfill.c): one row per job.  The worker updates
-- the walk position and the counters in the same transaction as each
-- batch, which is what makes a job resume exactly after a crash.
CREATE TABLE migrate.backfill_jobs (
    id                  bigserial PRIMARY KEY,
    relid               oid NOT NULL,
    relation            text NOT NULL,
    column_name         name NOT NULL,
    expression          text NOT NULL,
    where_clause        text,
    state               text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled')),
    batch_size          int NOT NULL,           -- rows per batch now (adapts)
    max_batch_size      int NOT NULL,
    max_rows_per_second int,
    batch_ms            int NOT NULL,           -- target batch duration
    sleep_ms            int NOT NULL,
    rows_per_block      double precision NOT NULL,
    pass                int NOT NULL DEFAULT 1,
    next_block          bigint NOT NULL DEFAULT 0,
    pass_end_block      bigint,                 -- table size when the pass started
    rows_done           bigint NOT NULL DEFAULT 0,
    rows_total_estimate bigint,
    batches             bigint NOT NULL DEFAULT 0,
    retries             int NOT NULL DEFAULT 0,
    skipped_locked      bigint NOT NULL DEFAULT 0,
    max_batch_ms        double precision NOT NULL DEFAULT 0,
    held_reason         text,
    last_error          text,
    submitted_by        name NOT NULL,
    session_role        name NOT NULL,
    search_path         text NOT NULL,
    migration           text,                   -- the migration whose script started it
    migration_action    text CHECK (migration_action IN ('apply', 'rollback')),
    run_id              bigint,
    submitted_at        timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at          timestamptz,
    finished_at         timestamptz
);
-- two unfinished jobs on the same column would fight over its rows
CREATE UNIQUE INDEX backfill_jobs_active_idx ON migrate.backfill_jobs (relid, column_name)
    WHERE state IN ('queued', 'running', 'paused');
CREATE INDEX backfill_jobs_migration_idx ON migrate.backfill_jobs (migration) WHERE migration IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('migrate.backfill_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.backfill_jobs_id_seq', '');

-- The backfill functions run as the caller, so the expression is checked
-- and later run with the caller's privileges; they write the job table as
-- the extension owner internally.
CREATE FUNCTION pg_catalog.migrate_backfill(
    relation regclass, column_name name, expression text,
    where_clause text DEFAULT NULL, batch_size int DEFAULT NULL,
    max_rows_per_second int DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill';

CREATE FUNCTION pg_catalog.migrate_backfill_pause(id bigint)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_pause';

CREATE FUNCTION pg_catalog.migrate_backfill_resume(id bigint)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_resume';

CREATE FUNCTION pg_catalog.migrate_backfill_cancel(id bigint)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_cancel';

CREATE FUNCTION pg_catalog.migrate_backfill_wait(id bigint, timeout interval DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_wait';

-- Progress: pass 1 extrapolates the rows left from the blocks walked so
-- far; later passes only redo rows that changed behind the walk.
CREATE FUNCTION pg_catalog.migrate_backfill_status(id bigint DEFAULT NULL)
RETURNS TABLE (id bigint, relation text, column_name name, state text, rows_done bigint,
               rows_total_estimate bigint, percent numeric, rows_per_second numeric,
               eta interval, batches bigint, batch_size int, retries int,
               skipped_locked bigint, last_error text, submitted_by name,
               started_at timestamptz, finished_at timestamptz, held_reason text,
               max_batch_ms double precision, pass int, migration text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH j AS (
        SELECT j.*,
               CASE WHEN j.state = 'done' THEN j.rows_done
                    WHEN j.pass = 1 AND j.next_block > 0 AND j.pass_end_block > 0
                        THEN greatest(j.rows_done, (j.rows_done::numeric * j.pass_end_block / j.next_block)::bigint)
                    WHEN j.pass = 1 THEN greatest(j.rows_done, j.rows_total_estimate)
                    ELSE j.rows_done END AS total,
               extract(epoch FROM coalesce(j.finished_at, clock_timestamp()) - j.started_at) AS secs
        FROM migrate.backfill_jobs j
        WHERE $1 IS NULL OR j.id = $1
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
           r.batches, r.batch_size, r.retries, r.skipped_locked, r.last_error, r.submitted_by,
           r.started_at, r.finished_at, r.held_reason, round(r.max_batch_ms::numeric, 1)::float8,
           r.pass, r.migration
    FROM r
    ORDER BY r.id
$$;

REVOKE ALL ON FUNCTION migrate.live() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_register(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_apply(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_rollback(int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_rollback_to(text, boolean) FROM PUBLIC;
REVOKE ALL ON PROCEDURE pg_catalog.migrate_wait(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_plan(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_validate() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_resolve(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION migrate.routines() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_grant(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill(regclass, name, text, text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_pause(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_resume(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_cancel(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_status(bigint) FROM PUBLIC;

-- DDL-safety guard (guard.c): judges every DDL statement before it takes
-- its lock.  The functions run as the user issuing the DDL; nobody calls
-- them directly.
CREATE FUNCTION migrate.guard_ddl_start()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'migrate_guard_ddl_start';

CREATE FUNCTION migrate.guard_table_rewrite()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'migrate_guard_table_rewrite';

REVOKE ALL ON FUNCTION migrate.guard_ddl_start() FROM PUBLIC;
REVOKE ALL ON FUNCTION migrate.guard_table_rewrite() FROM PUBLIC;

CREATE EVENT TRIGGER migrate_guard ON ddl_command_start
    EXECUTE FUNCTION migrate.guard_ddl_start();

CREATE EVENT TRIGGER migrate_guard_rewrite ON table_rewrite
    EXECUTE FUNCTION migrate.guard_table_rewrite();

-- The rules and the linter read only the catalog, as the caller, so every
-- role may use them: EXECUTE stays granted to PUBLIC.
CREATE FUNCTION pg_catalog.migrate_rules(
    OUT id text, OUT severity text, OUT lint_only boolean, OUT catches text,
    OUT lock_taken text, OUT alternative text)
RETURNS SETOF record
LANGUAGE C STRICT STABLE
AS 'MODULE_PATHNAME', 'migrate_rules_list';

CREATE FUNCTION pg_catalog.migrate_lint(sql text)
RETURNS TABLE (statement int, line int, rule text, severity text, relation text,
               lock_mode text, message text, hint text)
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'migrate_lint';

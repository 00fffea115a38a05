/* sql/migrate--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.2'" to load this file. \quit

-- A job's pace can change while it runs (migrate_backfill_pace), so the
-- status shows it: the pause, the rate cap and the workers.  A function's
-- result columns cannot change in place: the 1.1 function steps aside
-- until its grants are copied to the new one.
ALTER FUNCTION pg_catalog.migrate_backfill_status(bigint) RENAME TO migrate_backfill_status_1_1;

CREATE FUNCTION pg_catalog.migrate_backfill_status(id bigint DEFAULT NULL)
RETURNS TABLE (id bigint, relation text, column_name name, state text, rows_done bigint,
               rows_total_estimate bigint, percent numeric, rows_per_second numeric,
               eta interval, batches bigint, batch_size int, retries int,
               skipped_locked bigint, last_error text, submitted_by name,
               started_at timestamptz, finished_at timestamptz, held_reason text,
               max_batch_ms double precision, pass int, migration text,
               workers int, sleep_ms int, max_rows_per_second int)
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
           r.pass, r.migration, r.workers, r.sleep_ms, r.max_rows_per_second
    FROM r
    ORDER BY r.id
$$;

-- Changes the pause between batches and the rate cap of an unfinished job;
-- its worker takes them at once.  Runs as the caller, like the other
-- control functions: only the job's submitter (or a member) may.
CREATE FUNCTION pg_catalog.migrate_backfill_pace(id bigint, sleep_ms int DEFAULT NULL,
                                                 max_rows_per_second int DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_pace';

REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_status(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_pace(bigint, int, int) FROM PUBLIC;

-- Whoever could read the status still can; whoever could pause a job
-- (migrate_grant, or a grant of its own) can change its pace.
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT DISTINCT a.grantee, f.new
        FROM (VALUES ('pg_catalog.migrate_backfill_status_1_1(bigint)'::regprocedure,
                      'pg_catalog.migrate_backfill_status(bigint)'),
                     ('pg_catalog.migrate_backfill_pause(bigint)'::regprocedure,
                      'pg_catalog.migrate_backfill_pace(bigint, int, int)')) f (old, new)
        JOIN pg_catalog.pg_proc p ON p.oid = f.old
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', g.new,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
END
$$;

DROP FUNCTION pg_catalog.migrate_backfill_status_1_1(bigint);

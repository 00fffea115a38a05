/* sql/migrate--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.4'" to load this file. \quit

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

-- A backfill's last error can quote the rows and values its expression read:
-- only the submitter, members of it and superusers see it.  The status
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
    WITH j AS (
        SELECT j.*,
               CASE WHEN j.state = 'done' THEN j.rows_done
                    WHEN j.pass = 1 AND j.next_block > 0 AND j.pass_end_block > 0
                        THEN greatest(j.rows_done, (j.rows_done::numeric * j.pass_end_block / j.next_block)::bigint)
                    WHEN j.pass = 1 THEN greatest(j.rows_done, j.rows_total_estimate)
                    ELSE j.rows_done END AS total,
               extract(epoch FROM coalesce(j.finished_at, clock_timestamp()) - j.started_at) AS secs,
               pg_has_role($1, a.oid, 'USAGE') AS visible
        FROM migrate.backfill_jobs j
        LEFT JOIN pg_roles a ON a.rolname = j.submitted_by
        WHERE $2 IS NULL OR j.id = $2
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
           CASE WHEN r.visible THEN r.last_error END, r.submitted_by,
           r.started_at, r.finished_at, r.held_reason, round(r.max_batch_ms::numeric, 1)::float8,
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

DO $$
DECLARE
    g oid;
BEGIN
    FOR g IN
        SELECT a.grantee
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'pg_catalog.migrate_backfill_status_1_3(bigint)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pg_catalog.migrate_backfill_status(bigint) TO %s',
            CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END);
    END LOOP;
END
$$;

DROP FUNCTION pg_catalog.migrate_backfill_status_1_3(bigint);

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

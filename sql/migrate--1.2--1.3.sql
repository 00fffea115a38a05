/* sql/migrate--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.3'" to load this file. \quit

-- The transactions of a job's batches that changed rows, recorded by each
-- batch in its own transaction: the check after a pass skips the row
-- versions they wrote, whichever worker of the job wrote them and across
-- restarts (a worker's memory holds only its own batches since it started;
-- with several workers a volatile expression such as gen_random_uuid()
-- looked different at every check, and passes followed one another).
-- Cleared when the job is done.  Not dumped: transaction ids mean nothing
-- in another cluster.
CREATE TABLE migrate.backfill_batches (
    job_id bigint NOT NULL REFERENCES migrate.backfill_jobs (id) ON DELETE CASCADE,
    xid    xid8 NOT NULL,
    PRIMARY KEY (job_id, xid)
);

-- migrate_backfill_pace() also sets the number of workers of a running job
-- (more are started at once, the ones above the number leave after their
-- batch).  A function's arguments cannot change in place: the 1.2 function
-- steps aside until its grants are copied to the new one.
ALTER FUNCTION pg_catalog.migrate_backfill_pace(bigint, int, int) RENAME TO migrate_backfill_pace_1_2;

CREATE FUNCTION pg_catalog.migrate_backfill_pace(id bigint, sleep_ms int DEFAULT NULL,
                                                 max_rows_per_second int DEFAULT NULL,
                                                 workers int DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'migrate_backfill_pace';

REVOKE ALL ON FUNCTION pg_catalog.migrate_backfill_pace(bigint, int, int, int) FROM PUBLIC;

DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT a.grantee
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'pg_catalog.migrate_backfill_pace_1_2(bigint, int, int)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pg_catalog.migrate_backfill_pace(bigint, int, int, int) TO %s',
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
END
$$;

DROP FUNCTION pg_catalog.migrate_backfill_pace_1_2(bigint, int, int);

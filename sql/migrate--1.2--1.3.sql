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

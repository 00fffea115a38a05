/* sql/migrate--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.1'" to load this file. \quit

-- Parallel backfills: a job may run with several workers
-- (migrate.backfill_workers, copied into the job when it is submitted).
ALTER TABLE migrate.backfill_jobs
    ADD COLUMN workers int NOT NULL DEFAULT 1 CHECK (workers BETWEEN 1 AND 16);
COMMENT ON COLUMN migrate.backfill_jobs.next_block IS
    'blocks walked in this pass; the walk positions are in migrate.backfill_ranges';

-- The current pass of a job, cut into block ranges.  A batch locks the
-- range it walks and moves its next_block in the same transaction as the
-- rows it updates, so several workers share a pass without ever walking
-- the same blocks, and each range resumes exactly after a crash.
CREATE TABLE migrate.backfill_ranges (
    job_id      bigint NOT NULL REFERENCES migrate.backfill_jobs (id) ON DELETE CASCADE,
    start_block bigint NOT NULL,
    next_block  bigint NOT NULL,
    end_block   bigint NOT NULL,
    PRIMARY KEY (job_id, start_block)
);
SELECT pg_catalog.pg_extension_config_dump('migrate.backfill_ranges', '');

-- A 1.0 job in the middle of a pass walked [0, pass_end_block) in one
-- piece and stood at next_block: that is one range, and the blocks it has
-- walked are next_block, which is what the column now counts.
INSERT INTO migrate.backfill_ranges (job_id, start_block, next_block, end_block)
SELECT j.id, 0, j.next_block, j.pass_end_block
FROM migrate.backfill_jobs j
WHERE j.pass_end_block IS NOT NULL AND j.state IN ('queued', 'running', 'paused', 'failed');

-- rows_done when the current pass started: a pass that changed nothing
-- (every row left is locked by others) waits before the next one
ALTER TABLE migrate.backfill_jobs ADD COLUMN pass_start_rows bigint NOT NULL DEFAULT 0;
UPDATE migrate.backfill_jobs SET pass_start_rows = rows_done WHERE state <> 'done';

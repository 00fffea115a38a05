--
-- Background backfills: bad input is refused before a job exists, jobs run
-- to completion in the worker, pause/resume/cancel, and a migration that
-- starts a backfill stays running until it is done.
--
CREATE DATABASE backfill_regress;
\c backfill_regress
SET client_min_messages = warning;
CREATE EXTENSION migrate;
RESET client_min_messages;
\set VERBOSITY terse
SET lock_timeout = '1s';

CREATE TABLE users (id int PRIMARY KEY, email text, norm text, n int, name text);
INSERT INTO users SELECT g, 'User' || g || '@Example.COM', NULL, NULL, 'user' || g
FROM generate_series(1, 2000) g;
CREATE TABLE posts (id int PRIMARY KEY, author_name text, author_id int);
INSERT INTO posts SELECT g, 'user' || (g % 50 + 1), NULL FROM generate_series(1, 500) g;

-- Bad input: each fails with a clear error and creates no job.
SELECT migrate_backfill(NULL, 'norm', 'lower(email)');
SELECT migrate_backfill('users', NULL, 'lower(email)');
SELECT migrate_backfill('users', 'norm', NULL);
SELECT migrate_backfill('users', 'norm', 'lower(email)', batch_size => 0);
SELECT migrate_backfill('users', 'norm', 'lower(email)', batch_size => -5);
SELECT migrate_backfill('users', 'norm', 'lower(email)', max_rows_per_second => 0);
SELECT migrate_backfill('users', 'nope', 'lower(email)');
SELECT migrate_backfill('users', 'ctid', 'lower(email)');
SELECT migrate_backfill('users', 'n', 'email');
SELECT migrate_backfill('users', 'norm', 'lower(emial)');
SELECT migrate_backfill('users', 'norm', 'lower(email');
SELECT migrate_backfill('users', 'norm', '1) FROM pg_class WHERE (true');
SELECT migrate_backfill('users', 'norm', 'email; DROP TABLE users');
SELECT migrate_backfill('users', 'norm', '$1');
SELECT migrate_backfill('users', 'norm', 'lower(email)', where_clause => 'id');
-- one expression only once wrapped: pasted into the batch it widened the
-- where clause to every row (each batch updated the whole table)
SELECT migrate_backfill('users', 'norm', 'lower(email)', where_clause => 'true) OR (1=1');
SELECT migrate_backfill('users', 'norm', 'lower(email)) OR (true', where_clause => 'id < 3');
SELECT migrate_backfill('users', 'norm', 'lower(email) AS x');
CREATE VIEW users_v AS SELECT * FROM users;
SELECT migrate_backfill('users_v', 'norm', 'lower(email)');
CREATE TEMP TABLE tmp (a int, b int);
SELECT migrate_backfill('tmp', 'b', 'a');
CREATE TABLE parted (a int, b int) PARTITION BY RANGE (a);
SELECT migrate_backfill('parted', 'b', 'a');
SELECT migrate_backfill('pg_class', 'relname', 'relname');
SELECT count(*) AS jobs FROM migrate_backfill_status();

-- A plain job runs to the end in the worker.
SELECT migrate_backfill('users', 'norm', 'lower(email)') AS job \gset
SELECT migrate_backfill_wait(:job);
SELECT id = :job AS same, relation, column_name, state, rows_done, rows_total_estimate, percent,
       skipped_locked, last_error, submitted_by = current_user AS mine, finished_at >= started_at AS timed
FROM migrate_backfill_status(:job);
SELECT count(*) AS wrong FROM users WHERE norm IS DISTINCT FROM lower(email);

-- Running it again is harmless: nothing is distinct any more.
SELECT migrate_backfill('users', 'norm', 'lower(email)') AS again \gset
SELECT migrate_backfill_wait(:again);
SELECT rows_done, state FROM migrate_backfill_status() ORDER BY id DESC LIMIT 1;

-- A where clause, a subquery reading another table, and a type cast.
SELECT migrate_backfill('users', 'n', 'id * 2', where_clause => 'id <= 10') AS w \gset
SELECT migrate_backfill_wait(:w);
SELECT count(*) FILTER (WHERE n = id * 2) AS set, count(*) FILTER (WHERE n IS NULL) AS untouched FROM users;
-- a clause that is one expression with OR in it works as written
SELECT migrate_backfill('users', 'n', 'id * 3', where_clause => 'id = 1 OR id = 2 -- two rows') AS w \gset
SELECT migrate_backfill_wait(:w);
SELECT count(*) FILTER (WHERE n = id * 3) AS set, count(*) FILTER (WHERE n = id * 2) AS earlier FROM users;
SELECT migrate_backfill('posts', 'author_id',
       '(SELECT id FROM users WHERE users.name = posts.author_name)', batch_size => 7) AS sub \gset
SELECT migrate_backfill_wait(:sub);
SELECT count(*) AS wrong FROM posts p JOIN users u ON u.name = p.author_name WHERE p.author_id IS DISTINCT FROM u.id;
SELECT rows_done, batches > 1 AS batched, batch_size <= 7 AS bounded
FROM migrate_backfill_status() ORDER BY id DESC LIMIT 1;

-- A volatile expression finishes too: the check after the pass does not
-- re-evaluate it for the rows the job itself wrote.
ALTER TABLE posts ADD COLUMN touched timestamptz;
SELECT migrate_backfill('posts', 'touched', 'clock_timestamp()') AS vol \gset
SELECT migrate_backfill_wait(:vol);
SELECT state, rows_done, pass, skipped_locked FROM migrate_backfill_status(:vol);
SELECT count(*) AS unset FROM posts WHERE touched IS NULL;
-- With two workers too: each batch records its transaction
-- (migrate.backfill_batches), so the check skips what either worker wrote,
-- and the records go when the job is done.
CREATE TABLE tokens (id int PRIMARY KEY, token uuid);
INSERT INTO tokens SELECT g FROM generate_series(1, 20000) g;
VACUUM ANALYZE tokens;
SET migrate.backfill_workers = 2;
SET migrate.backfill_sleep_ms = 0;
SELECT migrate_backfill('tokens', 'token', 'gen_random_uuid()', batch_size => 500) AS uuids \gset
RESET migrate.backfill_workers;
RESET migrate.backfill_sleep_ms;
SELECT migrate_backfill_wait(:uuids, '60s');
-- (rows_done may pass 20000: a row whose new version lands on the table's
-- last, part-filled page before the walk gets there is changed again, as
-- the expression never equals what it wrote)
SELECT state, rows_done >= 20000 AS all_counted, pass, skipped_locked FROM migrate_backfill_status(:uuids);
SELECT count(*) AS unset FROM tokens WHERE token IS NULL;
SELECT count(*) AS batches_recorded FROM migrate.backfill_batches WHERE job_id = :uuids;

-- Pause, resume and cancel a slow job; a second job on the same column is refused.
UPDATE users SET norm = NULL;
SET migrate.backfill_sleep_ms = 200;
SELECT migrate_backfill('users', 'norm', 'lower(email)', batch_size => 10) AS slow \gset
RESET migrate.backfill_sleep_ms;
SELECT migrate_backfill('users', 'norm', 'upper(email)');
SELECT migrate_backfill_pause(:slow);
SELECT migrate_backfill_wait(:slow);
SELECT migrate_backfill_pause(:slow);
SELECT state FROM migrate_backfill_status(:slow);
-- its pace and workers change while it is unfinished; NULL keeps a setting, a cap of 0 removes it
SELECT workers, sleep_ms, max_rows_per_second FROM migrate_backfill_status(:slow);
SELECT migrate_backfill_pace(:slow, max_rows_per_second => 100);
SELECT workers, sleep_ms, max_rows_per_second FROM migrate_backfill_status(:slow);
SELECT migrate_backfill_pace(:slow, sleep_ms => 300, max_rows_per_second => 0);
SELECT workers, sleep_ms, max_rows_per_second FROM migrate_backfill_status(:slow);
SELECT migrate_backfill_pace(:slow, workers => 2);
SELECT workers, sleep_ms, max_rows_per_second FROM migrate_backfill_status(:slow);
SELECT migrate_backfill_pace(:slow, workers => 1);
SELECT migrate_backfill_pace(:slow);
SELECT migrate_backfill_pace(:slow, workers => 0);
SELECT migrate_backfill_pace(:slow, workers => 17);
SELECT migrate_backfill_pace(:slow, sleep_ms => -1);
SELECT migrate_backfill_pace(:slow, sleep_ms => 3600001);
SELECT migrate_backfill_pace(:slow, max_rows_per_second => -5);
SELECT migrate_backfill_pace(NULL, 0);
SELECT migrate_backfill_pace(12345, 0);
SELECT migrate_backfill_pace(:vol, 0);
SELECT migrate_backfill_resume(:slow);
SELECT state IN ('queued', 'running') AS going FROM migrate_backfill_status(:slow);
SELECT migrate_backfill_cancel(:slow);
SELECT migrate_backfill_wait(:slow);
-- a cancelled job cannot go on: its ranges and batch transactions are gone
SELECT (SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = :slow) AS ranges,
       (SELECT count(*) FROM migrate.backfill_batches WHERE job_id = :slow) AS batches;
SELECT migrate_backfill_cancel(:slow);
SELECT migrate_backfill_resume(:slow);
SELECT migrate_backfill_pause(12345);
SELECT migrate_backfill_wait(NULL);
-- waiting in the transaction that submitted would wait for itself
BEGIN;
SELECT migrate_backfill('users', 'norm', 'lower(email)') AS inxact \gset
SELECT migrate_backfill_wait(:inxact);
ROLLBACK;
-- a rolled back submission leaves nothing behind
SELECT count(*) AS jobs_for_rolled_back FROM migrate_backfill_status(:inxact);

-- Expand, backfill, contract as one plan: migration 1 stays running until
-- its backfill is done, so migration 2 can validate and set NOT NULL.
CREATE TABLE orders (id int PRIMARY KEY, amount int);
INSERT INTO orders SELECT g, g FROM generate_series(1, 3000) g;
SELECT migrate_register('1', 'orders_add_status',
$$ALTER TABLE orders ADD COLUMN status text;
SET LOCAL migrate.backfill_sleep_ms = 0;
SELECT migrate_backfill('orders', 'status', $e$CASE WHEN amount > 100 THEN 'big' ELSE 'small' END$e$);$$,
'ALTER TABLE orders DROP COLUMN status;');
SELECT migrate_register('2', 'orders_status_not_null',
$$ALTER TABLE orders ADD CONSTRAINT orders_status_nn CHECK (status IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_nn;
ALTER TABLE orders ALTER COLUMN status SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_status_nn;$$);
SELECT version, name, status FROM migrate_apply();
SELECT version, state, steps FROM migrate_status();
SELECT count(*) FILTER (WHERE status IS NULL) AS nulls, count(DISTINCT status) AS kinds FROM orders;
SELECT relation, column_name, state, rows_done, migration FROM migrate_backfill_status() WHERE migration IS NOT NULL;
-- the script's setting went into its job
SELECT sleep_ms FROM migrate.backfill_jobs WHERE migration IS NOT NULL;
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'status';

-- A granted role cannot pause, resume, cancel or pace a superuser's job
-- (the permission check comes before the state check, so a finished job
-- shows it too); the job is left as it was.
CREATE ROLE regress_bf_stranger;
SELECT migrate_grant('regress_bf_stranger');
SELECT max(id) AS su_job, max(state) AS su_state FROM migrate.backfill_jobs
  WHERE submitted_by = current_user \gset
\set VERBOSITY terse
SET ROLE regress_bf_stranger;
SELECT migrate_backfill_pause(:su_job);
SELECT migrate_backfill_resume(:su_job);
SELECT migrate_backfill_cancel(:su_job);
SELECT migrate_backfill_pace(:su_job, sleep_ms => 0);
RESET ROLE;
\set VERBOSITY default
SELECT state = :'su_state' AS unchanged FROM migrate.backfill_jobs WHERE id = :su_job;
DROP OWNED BY regress_bf_stranger;
DROP ROLE regress_bf_stranger;

\c contrib_regression
DROP DATABASE backfill_regress;

--
-- A run's one-step migrations commit without waiting for their WAL flush
-- (synchronous_commit = off for that transaction only); the run's end
-- commits synchronously, so when migrate_apply() returns, every migration
-- it applied is on disk.  test/migrate.conf sets wal_writer_delay = 10s:
-- without the synchronous end the WAL writer would leave the last commits
-- unflushed for seconds and "flushed" below would be false.
--
CREATE EXTENSION migrate;
SELECT migrate_register(g::text, 'm' || g,
  format($$CREATE TABLE ac_%s AS
           SELECT pg_current_wal_insert_lsn() AS lsn, current_setting('synchronous_commit') AS sync;$$, g))
FROM generate_series(1, 3) g;
SELECT version, status FROM migrate_apply();
SELECT 3 AS m, sync, pg_current_wal_flush_lsn() > lsn AS flushed FROM ac_3
UNION ALL SELECT 1, sync, pg_current_wal_flush_lsn() > lsn FROM ac_1 ORDER BY m;
-- the caller's own setting is untouched
SHOW synchronous_commit;
DROP EXTENSION migrate;
DROP TABLE ac_1, ac_2, ac_3;

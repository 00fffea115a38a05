--
-- The versioned migration runner: registration, ordering, apply, status,
-- plan, validate, resolve, rollback and every bad-input path.
--
CREATE EXTENSION migrate;

-- Versions order numerically part by part.
SELECT migrate_register('10', 'ten', 'CREATE TABLE r10 (id int);', 'DROP TABLE r10;');
SELECT migrate_register('2', 'two', 'CREATE TABLE r2 (id int);', 'DROP TABLE r2;');
SELECT migrate_register('1.10', 'one_ten', 'CREATE TABLE r1_10 (id int);', 'DROP TABLE r1_10;');
SELECT migrate_register('1.9', 'one_nine', 'CREATE TABLE r1_9 (id int);', 'DROP TABLE r1_9;');
SELECT migrate_register('20240101000000', 'stamp_a', 'CREATE TABLE ra (id int);', 'DROP TABLE ra;');
SELECT migrate_register('20240102000000', 'stamp_b', 'CREATE TABLE rb (id int);', 'DROP TABLE rb;');
SELECT version, name, statements, nontransactional FROM migrate.migrations ORDER BY version_key;

-- Re-registering the identical migration is a no-op.
SELECT migrate_register('2', 'two', 'CREATE TABLE r2 (id int);', 'DROP TABLE r2;');

-- Bad input: each a clear error, nothing stored.
SELECT migrate_register(NULL, 'x', 'SELECT 1');
SELECT migrate_register('3', NULL, 'SELECT 1');
SELECT migrate_register('3', 'x', NULL);
SELECT migrate_register('', 'x', 'SELECT 1');
SELECT migrate_register('1.a', 'x', 'SELECT 1');
SELECT migrate_register('1..2', 'x', 'SELECT 1');
SELECT migrate_register(repeat('1', 80), 'x', 'SELECT 1');
SELECT migrate_register('3', '', 'SELECT 1');
SELECT migrate_register('3', 'x', '');
SELECT migrate_register('3', 'x', '-- only a comment');
SELECT migrate_register('3', 'x', E'CREATE TABLE a (id int);\n\nCREATE TABL b (id int);');
SELECT migrate_register('3', 'x', 'SELECT 1', E'DROP TABLE a;\nDROP TABL b;');
SELECT migrate_register('3', 'x', E'CREATE TABLE a (id int);\n\\i more.sql');
SELECT migrate_register('3', 'x', E'\\set n 10\nSELECT :n;');
SELECT migrate_register('3', 'x', 'BEGIN; CREATE TABLE a (id int); COMMIT;');
SELECT migrate_register('3', 'x', 'COPY r2 FROM STDIN;');
SELECT migrate_register('3', 'x', 'CREATE TABLE c3 (id int); COPY r2 TO STDOUT;');
SELECT migrate_register('3', 'x', 'COPY (SELECT 1) TO STDOUT;');
SELECT migrate_register('3', 'x', 'SELECT 1;', 'COPY r2 (id) TO STDOUT WITH (FORMAT csv);');
SELECT migrate_register('002', 'x', 'SELECT 1');
SELECT migrate_register('3', 'huge', repeat('SELECT 1;', 1200000));
SELECT count(*) FROM migrate.migrations;

-- Statements that cannot run in a transaction block are found in the parse tree.
SELECT migrate_register('30', 'index_and_column',
  E'CREATE INDEX CONCURRENTLY r10_id_idx ON r10 (id);\nALTER TABLE r10 ADD COLUMN note text;\nVACUUM (ANALYZE) r10;',
  E'ALTER TABLE r10 DROP COLUMN note;\nDROP INDEX CONCURRENTLY IF EXISTS r10_id_idx;');
SELECT version, statements, nontransactional FROM migrate.migrations WHERE version = '30';

-- The plan, step by step.
SELECT version, name, step, kind, statements FROM migrate_plan();
SELECT * FROM migrate_plan('99');
SELECT * FROM migrate_plan('x');

-- Apply up to a target.
SELECT version, name, status FROM migrate_apply('1.10');
SELECT version, state, applied_by, steps FROM migrate_status();
SELECT to_regclass('r1_9') IS NOT NULL AS r1_9, to_regclass('r1_10') IS NOT NULL AS r1_10, to_regclass('r2') IS NULL AS r2_not_yet;

-- Applied migrations are immutable; pending ones may still change.
SELECT migrate_register('1.9', 'one_nine', 'CREATE TABLE r1_9 (id bigint);');
SELECT migrate_register('1.9', 'renamed', 'CREATE TABLE r1_9 (id int);', 'DROP TABLE r1_9;');
SELECT migrate_register('20240102000000', 'stamp_b', 'CREATE TABLE rb (id bigint);', 'DROP TABLE rb;');
-- ... but a down script may be fixed at any time.
SELECT migrate_register('1.9', 'one_nine', 'CREATE TABLE r1_9 (id int);', 'DROP TABLE IF EXISTS r1_9;');

-- Unknown targets.
SELECT * FROM migrate_apply('99');
SELECT * FROM migrate_apply('');

-- Apply the rest.  The CONCURRENTLY step waits for this very statement's
-- snapshot, so the call returns with that migration still running and the
-- worker finishes it once we are done.
SELECT version, name, status FROM migrate_apply();
CALL migrate_wait();
SELECT version, state, steps, error FROM migrate_status();
SELECT indisvalid FROM pg_index WHERE indexrelid = 'r10_id_idx'::regclass;
SELECT count(*) AS nothing_pending FROM migrate_apply();

-- A failing migration: its SQLSTATE, statement and position reach the
-- result and the status, and nothing of it is left behind.
SELECT migrate_register('20240103000000', 'broken',
  E'CREATE TABLE ok40 (id int);\nINSERT INTO missing_table VALUES (1);', 'DROP TABLE ok40;');
SELECT version, status, detail FROM migrate_apply();
SELECT to_regclass('ok40') IS NULL AS rolled_back_whole;
SELECT state, error_code, error_statement, error_position, error_sql FROM migrate.history WHERE version = '20240103000000';
SELECT version, state, error FROM migrate_status() WHERE version = '20240103000000';
CALL migrate_wait();
-- It changed nothing, so it may be fixed in place and applied.
SELECT migrate_register('20240103000000', 'broken',
  E'CREATE TABLE ok40 (id int);\nINSERT INTO ok40 VALUES (1);', 'DROP TABLE ok40;');
SELECT version, status FROM migrate_apply();

-- A mixed migration that fails after its concurrent step resumes at the
-- failed step: the table and index are not built twice.
SELECT migrate_register('20240104000000', 'mixed',
  E'CREATE TABLE m41 (id int);\nCREATE INDEX CONCURRENTLY m41_idx ON m41 (id);\nINSERT INTO later41 VALUES (1);',
  E'DROP TABLE m41;');
SELECT version, status FROM migrate_apply();
CALL migrate_wait();
SELECT version, state, steps, error FROM migrate_status() WHERE version = '20240104000000';
SELECT migrate_register('20240104000000', 'mixed', 'SELECT 1');
CREATE TABLE later41 (id int);
SELECT version, status FROM migrate_apply();
SELECT version, state, steps FROM migrate_status() WHERE version = '20240104000000';
SELECT count(*) FROM later41;

-- Drift.
SELECT * FROM migrate_validate();
UPDATE migrate.migrations SET checksum = 'tampered' WHERE version = '10';
SELECT migrate_register('1.5', 'late', 'CREATE TABLE late15 (id int);', 'DROP TABLE late15;');
SELECT version, problem FROM migrate_validate();
UPDATE migrate.migrations m SET checksum = h.checksum FROM migrate.history h WHERE m.version = '10' AND h.version = '10';

-- Out of order: refused unless asked for.
SELECT * FROM migrate_apply();
SET migrate.out_of_order = on;
SELECT version, status FROM migrate_apply();
RESET migrate.out_of_order;

-- Resolve after a manual fix.
SELECT migrate_register('20240105000000', 'fails', 'SELECT 1/0;');
SELECT version, status, detail FROM migrate_apply();
SELECT migrate_resolve('20240105000000', 'done');
SELECT migrate_resolve('nope', 'applied');
SELECT migrate_resolve('20240105000000', NULL);
SELECT migrate_resolve('20240105000000', 'applied') LIKE 'resolved by % from state failed' AS resolved;
SELECT migrate_resolve('20240105000000', 'applied');
SELECT version, state FROM migrate_status() WHERE version = '20240105000000';
SELECT count(*) AS nothing_pending FROM migrate_apply();

-- Rollback: down scripts in reverse order, through the same executor.
SELECT * FROM migrate_rollback(0);
SELECT * FROM migrate_rollback(NULL);
SELECT * FROM migrate_rollback(100);
SELECT * FROM migrate_rollback_to(NULL);
SELECT * FROM migrate_rollback_to('77');
-- 42 has no down script: nothing runs and the error names it.
SELECT * FROM migrate_rollback(1);
SELECT migrate_register('20240105000000', 'fails', 'SELECT 1/0;', 'SELECT 1;');
SELECT version, name, status FROM migrate_rollback(2);
SELECT version, name, status FROM migrate_rollback_to('10');
CALL migrate_wait();
SELECT version, state FROM migrate_status();
SELECT to_regclass('r10_id_idx') IS NULL AS index_dropped, to_regclass('m41') IS NULL AS m41_dropped;
-- Rolled back migrations are pending again.
SELECT version, status FROM migrate_apply('30');
CALL migrate_wait();
SELECT version, state FROM migrate_status() WHERE version = '30';

-- A migration that ever ran keeps its up script and name, also after a
-- rollback: what ran stays on record under the script that ran.
SELECT migrate_register('20240103000000', 'broken', 'CREATE TABLE other40 (id int);', 'DROP TABLE other40;');
-- One whose failed attempt ran a step keeps it too, also when resolved
-- rolled back (the resolve is accepted: it settles a failed migration).
SELECT migrate_register('70', 'partial',
  E'CREATE TYPE e70 AS ENUM (''a'');\nALTER TYPE e70 ADD VALUE ''b'';\nINSERT INTO missing70 VALUES (1);');
SELECT version, status, detail FROM migrate_apply('70');
SELECT version, state, steps FROM migrate_status() WHERE version = '70';
SELECT migrate_register('70', 'partial', 'SELECT 1;');
SELECT migrate_resolve('70', 'rolled_back') LIKE 'resolved by % from state failed' AS resolved;
SELECT migrate_register('70', 'partial', 'SELECT 1;');
SELECT migrate_register('70', 'other_name',
  E'CREATE TYPE e70 AS ENUM (''a'');\nALTER TYPE e70 ADD VALUE ''b'';\nINSERT INTO missing70 VALUES (1);');
-- Undone by hand and resolved, it runs again as registered.
DROP TYPE e70;
CREATE TABLE missing70 (id int);
-- migrate_resolve settles only a failed or interrupted migration.
SELECT migrate_register('71', 'never_run', 'CREATE TABLE r71 (id int);');
SELECT migrate_resolve('71', 'applied');
SELECT migrate_resolve('71', 'rolled_back');
SELECT migrate_resolve('1.9', 'rolled_back');
SELECT migrate_resolve('70', 'applied');
SELECT version, state FROM migrate_status() WHERE version IN ('1.9', '70', '71');
SELECT count(*) FROM migrate.history WHERE version = '71';

-- A search_path longer than the run can carry is refused, not cut short.
SELECT length(set_config('search_path', string_agg('schema_' || g, ', '), false)) > 1023 AS long_path
FROM generate_series(1, 120) g;
SELECT * FROM migrate_apply('71');
RESET search_path;
SELECT version, state FROM migrate_status() WHERE version IN ('70', '71');

-- COPY to the client did nothing in the worker (SPI refuses it without
-- raising) and was recorded as applied: a script stored before register
-- refused it is refused by the worker too, and stays pending.
SELECT migrate_register('72', 'copy_out', 'SELECT 1;');
UPDATE migrate.migrations SET up_sql = 'COPY r2 TO STDOUT;',
  checksum = encode(sha256('COPY r2 TO STDOUT;'::bytea), 'hex') WHERE version = '72';
SELECT version, status, detail FROM migrate_apply('72');
SELECT version, state, error FROM migrate_status() WHERE version IN ('70', '71', '72');

-- The caller's own uncommitted work is invisible to the worker: fail fast.
BEGIN;
SELECT migrate_register('50', 'in_xact', 'CREATE TABLE x50 (id int);');
SELECT * FROM migrate_apply();
ROLLBACK;
SELECT count(*) FROM migrate.migrations WHERE version = '50';

-- The history is append-only: every attempt and decision is on record.
SELECT version, action, state FROM migrate.history WHERE version IN ('20240103000000', '20240105000000') ORDER BY id;

DROP EXTENSION migrate;
DROP TABLE r10, r2, r1_10, r1_9, later41, late15, missing70, r71;
DROP TYPE e70;

--
-- Who may change what, and who may see what (issue 15 §2): a migration
-- belongs to the role that registered it.
--
CREATE EXTENSION migrate;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
CREATE ROLE regress_carol LOGIN IN ROLE regress_alice;    -- a member of alice
GRANT CREATE ON SCHEMA public TO regress_alice, regress_bob;

-- migrate_grant() names its role; NULL is an error of its own.
SELECT migrate_grant(NULL);
SELECT migrate_grant('regress_alice');
SELECT migrate_grant('regress_bob');
SELECT migrate_grant('regress_carol');
-- It reaches migrate.live(), in the private schema, and nothing else there.
SET ROLE regress_bob;
SELECT count(*) >= 0 AS live FROM migrate.live();
SELECT count(*) FROM migrate.history;
SELECT count(*) FROM migrate.routines();
RESET ROLE;

-- Alice registers two migrations; one applied, one pending.
SET ROLE regress_alice;
SELECT migrate_register('1', 'alice_applied', 'CREATE TABLE own1 (id int);', 'DROP TABLE own1;');
SELECT version, status FROM migrate_apply('1');
SELECT migrate_register('2', 'alice_secret',
  E'CREATE TABLE own2 (id int);\nCOMMENT ON TABLE own2 IS ''the password is hunter2'';');
RESET ROLE;

-- Bob cannot change either: not the pending one's up script, name or down
-- script, not the applied one's down script (it runs at the next rollback).
SET ROLE regress_bob;
SELECT migrate_register('2', 'alice_secret', 'CREATE TABLE own2 (id int); GRANT ALL ON own2 TO PUBLIC;');
SELECT migrate_register('2', 'bobs_now',
  E'CREATE TABLE own2 (id int);\nCOMMENT ON TABLE own2 IS ''the password is hunter2'';');
SELECT migrate_register('2', 'alice_secret',
  E'CREATE TABLE own2 (id int);\nCOMMENT ON TABLE own2 IS ''the password is hunter2'';', 'SELECT 1;');
SELECT migrate_register('1', 'alice_applied', 'CREATE TABLE own1 (id int);', 'DROP TABLE own1; CREATE TABLE bob_was_here ();');
-- The identical registration changes nothing and is not refused.
SELECT migrate_register('1', 'alice_applied', 'CREATE TABLE own1 (id int);', 'DROP TABLE own1;');
-- Each shows who it belongs to; the script text is alice's to see.
SELECT version, name, state, registered_by FROM migrate_status();
SELECT version, step, kind, sql, registered_by FROM migrate_plan();
RESET ROLE;
SET ROLE regress_alice;
SELECT version, step, sql, registered_by FROM migrate_plan();
RESET ROLE;

-- Alice can change her own pending migration, and a superuser anyone's;
-- the owner stays alice.
SET ROLE regress_alice;
SELECT migrate_register('2', 'alice_secret', 'CREATE TABLE own2 (id int);');
RESET ROLE;
SELECT migrate_register('2', 'alice_secret', 'CREATE TABLE own2 (id int);', 'DROP TABLE own2;');
SELECT version, registered_by FROM migrate_status() WHERE version = '2';
-- A failed migration of alice's: bob cannot resolve it, or fix it.
SET ROLE regress_alice;
SELECT migrate_register('3', 'alice_fails', 'SELECT 1/0;');
SELECT version, status FROM migrate_apply('3');
RESET ROLE;
SET ROLE regress_bob;
SELECT migrate_resolve('3', 'rolled_back');
SELECT migrate_register('3', 'alice_fails', 'SELECT 1;');
SELECT version, state FROM migrate_status() WHERE version = '3';
RESET ROLE;
-- Carol, a member of alice, can do both; the migration stays alice's.
SET ROLE regress_carol;
SELECT migrate_register('3', 'alice_fails', 'SELECT 1/0;', 'SELECT 1;');
SELECT migrate_resolve('3', 'rolled_back') LIKE 'resolved by regress_carol from state failed' AS resolved;
SELECT version, step, sql, registered_by FROM migrate_plan('3');
RESET ROLE;
SELECT version, owner::regrole FROM migrate.migrations ORDER BY version;
-- A migration whose role was dropped belongs to no one: only a superuser
-- may change it, and registering it again makes it theirs.
CREATE ROLE regress_dave;
SELECT migrate_grant('regress_dave');
SET ROLE regress_dave;
SELECT migrate_register('4', 'dave_gone', 'SELECT 4;');
RESET ROLE;
DROP OWNED BY regress_dave;
DROP ROLE regress_dave;
SELECT version, registered_by FROM migrate_status() WHERE version = '4';
SET ROLE regress_bob;
SELECT migrate_register('4', 'dave_gone', 'SELECT 4;');
RESET ROLE;
SELECT migrate_register('4', 'dave_gone', 'SELECT 4;');
SELECT registered_by = current_user AS adopted FROM migrate_status() WHERE version = '4';
SELECT migrate_register('4', 'dave_gone', 'SELECT 4;');

-- Bob's definer code is bob's: run by a superuser it cannot change alice's
-- migrations or read her scripts.
SET ROLE regress_bob;
CREATE FUNCTION bob_change() RETURNS text LANGUAGE sql SECURITY DEFINER
  AS $$SELECT pg_catalog.migrate_register('2', 'alice_secret', 'SELECT 1;')$$;
CREATE FUNCTION bob_read() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER
  AS 'SELECT sql FROM pg_catalog.migrate_plan()';
RESET ROLE;
SELECT bob_change();
SELECT bob_read();
DROP FUNCTION bob_change(), bob_read();

-- A backfill's last error is its submitter's to see: in the status and in
-- migrate_backfill_wait().
SET ROLE regress_alice;
CREATE TABLE own_bf (id int PRIMARY KEY, v int, w int);
INSERT INTO own_bf SELECT g, g FROM generate_series(1, 100) g;
CREATE TABLE own_side (x int);
BEGIN;
SELECT migrate_backfill('own_bf', 'w', 'v + (SELECT max(x) FROM own_side)') AS job \gset
DROP TABLE own_side;
COMMIT;
SELECT migrate_backfill_wait(:job, '60s');
SELECT state, last_error LIKE '42P01:%' AS error_shown, submitted_by FROM migrate_backfill_status(:job);
RESET ROLE;
SET ROLE regress_bob;
SELECT state, last_error, submitted_by FROM migrate_backfill_status(:job);
SELECT migrate_backfill_wait(:job, '60s');
-- Bob's definer code run by a superuser still sees only what bob may.
CREATE FUNCTION bob_peek() RETURNS text LANGUAGE sql SECURITY DEFINER
  AS 'SELECT last_error FROM pg_catalog.migrate_backfill_status(1)';
RESET ROLE;
SELECT bob_peek() IS NULL AS hidden_from_bob;
SET ROLE regress_carol;
SELECT state, last_error LIKE '42P01:%' AS error_shown FROM migrate_backfill_status(:job);
RESET ROLE;
SELECT state, last_error LIKE '42P01:%' AS error_shown FROM migrate_backfill_status(:job);
DROP FUNCTION bob_peek();

-- Owners are kept by OID: a renamed role keeps its migrations and jobs.
ALTER ROLE regress_alice RENAME TO regress_alicia;
SELECT submitted_by FROM migrate_backfill_status(:job);
SELECT DISTINCT registered_by FROM migrate_status() WHERE version IN ('1', '2', '3');
SET ROLE regress_bob;
SELECT migrate_register('3', 'alice_fails', 'SELECT 1/0;', 'SELECT 2;');
RESET ROLE;
SET ROLE regress_carol;
SELECT migrate_register('3', 'alice_fails', 'SELECT 1/0;', 'SELECT 2;');
RESET ROLE;
ALTER ROLE regress_alicia RENAME TO regress_alice;

DROP EXTENSION migrate;
DROP TABLE own_bf, own1, own2;
REVOKE CREATE ON SCHEMA public FROM regress_alice, regress_bob;
DROP ROLE regress_alice, regress_bob, regress_carol;

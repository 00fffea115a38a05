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

DROP EXTENSION migrate;
DROP TABLE own_bf;
REVOKE CREATE ON SCHEMA public FROM regress_alice, regress_bob;
DROP ROLE regress_alice, regress_bob, regress_carol;

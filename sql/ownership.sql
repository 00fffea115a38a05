--
-- Who may change what, and who may see what (issue 15 §2): a migration
-- belongs to the role that registered it.
--
CREATE EXTENSION migrate;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
GRANT CREATE ON SCHEMA public TO regress_alice, regress_bob;

-- migrate_grant() names its role; NULL is an error of its own.
SELECT migrate_grant(NULL);
SELECT migrate_grant('regress_alice');
SELECT migrate_grant('regress_bob');
-- It reaches migrate.live(), in the private schema, and nothing else there.
SET ROLE regress_bob;
SELECT count(*) >= 0 AS live FROM migrate.live();
SELECT count(*) FROM migrate.history;
SELECT count(*) FROM migrate.routines();
RESET ROLE;

DROP EXTENSION migrate;
REVOKE CREATE ON SCHEMA public FROM regress_alice, regress_bob;
DROP ROLE regress_alice, regress_bob;

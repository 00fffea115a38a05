--
-- Repeatable migrations (issue 17): registered by name, run after the
-- versioned ones in name order whenever their script changed since they
-- last ran, as their owner; never rolled back.
--
CREATE EXTENSION migrate;
CREATE ROLE regress_rep_owner LOGIN;
CREATE ROLE regress_rep_other LOGIN;
GRANT CREATE ON SCHEMA public TO regress_rep_owner, regress_rep_other;
SELECT migrate_grant('regress_rep_owner');
SELECT migrate_grant('regress_rep_other');

SET ROLE regress_rep_owner;
SELECT migrate_register('1', 'base', 'CREATE TABLE rep_base (id int, note text);', 'DROP TABLE rep_base;');
-- registered out of name order: they run in name order
SELECT migrate_register_repeatable('views_b', 'CREATE OR REPLACE VIEW rep_b AS SELECT id FROM rep_a;');
SELECT migrate_register_repeatable('views_a', 'CREATE OR REPLACE VIEW rep_a AS SELECT id FROM rep_base;');
SELECT migrate_register_repeatable('views_a', 'CREATE OR REPLACE VIEW rep_a AS SELECT id FROM rep_base;');
SELECT version, name, state, repeatable FROM migrate_status();
SELECT version, name, step, kind FROM migrate_plan();
SELECT version, status FROM migrate_apply();
SELECT version, state, applied_by, registered_by, repeatable FROM migrate_status();

-- Nothing changed: nothing runs.
SELECT migrate_register_repeatable('views_a', 'CREATE OR REPLACE VIEW rep_a AS SELECT id FROM rep_base;');
SELECT count(*) AS nothing_planned FROM migrate_plan();
SELECT count(*) AS nothing_applied FROM migrate_apply();

-- A changed script makes it outdated; the next apply runs it again, after
-- a new versioned migration, and leaves the other one alone.
SELECT migrate_register_repeatable('views_a', 'CREATE OR REPLACE VIEW rep_a AS SELECT id, note FROM rep_base;');
SELECT migrate_register('2', 'more', 'ALTER TABLE rep_base ADD COLUMN extra int;', 'ALTER TABLE rep_base DROP COLUMN extra;');
SELECT version, state FROM migrate_status();
SELECT version, name, step FROM migrate_plan();
-- a target stops at that version: repeatables wait for a whole apply
SELECT version, status FROM migrate_apply('2');
SELECT version, status FROM migrate_apply();
SELECT version, state FROM migrate_status();
SELECT attname FROM pg_attribute WHERE attrelid = 'rep_a'::regclass AND attnum > 0 ORDER BY attnum;
SELECT version, action, state FROM migrate_history() WHERE version LIKE 'views%' ORDER BY id;

-- No place in the version order: validate is clean, out-of-order checks
-- ignore it, rollback passes it by.
SELECT * FROM migrate_validate();
SELECT migrate_register('1.5', 'late', 'SELECT 1;');
SELECT version, problem FROM migrate_validate();
SELECT version, name, status FROM migrate_rollback(1);
SELECT version, state FROM migrate_status();
RESET ROLE;

-- Only the owner (a member, a superuser) changes it.
SET ROLE regress_rep_other;
SELECT migrate_register_repeatable('views_a', 'CREATE OR REPLACE VIEW rep_a AS SELECT 1 AS id;');
RESET ROLE;

-- It runs as its owner, whoever applies.
SET ROLE regress_rep_owner;
SELECT migrate_register_repeatable('who', 'CREATE OR REPLACE VIEW rep_who AS SELECT 1 AS one;');
RESET ROLE;
SELECT version, status FROM migrate_apply('2');
SELECT version, status FROM migrate_apply();
SELECT relowner::regrole FROM pg_class WHERE relname = 'rep_who';
SELECT version, applied_by FROM migrate_status() WHERE version = 'who';

-- A failed one is failed, and runs again once fixed.
SET ROLE regress_rep_owner;
SELECT migrate_register_repeatable('zz_broken', 'CREATE OR REPLACE VIEW rep_z AS SELECT * FROM rep_missing;');
SELECT version, status, detail FROM migrate_apply();
SELECT version, state FROM migrate_status() WHERE version = 'zz_broken';
SELECT migrate_register_repeatable('zz_broken', 'CREATE OR REPLACE VIEW rep_z AS SELECT 1 AS one;');
SELECT version, status FROM migrate_apply();
SELECT version, state FROM migrate_status() WHERE version = 'zz_broken';

-- Bad names and scripts: each a clear error, nothing stored.
SELECT migrate_register_repeatable(NULL, 'SELECT 1');
SELECT migrate_register_repeatable('x', NULL);
SELECT migrate_register_repeatable('', 'SELECT 1');
SELECT migrate_register_repeatable('1.2', 'SELECT 1');
SELECT migrate_register_repeatable(repeat('v', 64), 'SELECT 1');
SELECT migrate_register_repeatable('x', 'SELEC 1');
SELECT migrate_register_repeatable('x', '');
RESET ROLE;
SELECT count(*) FROM migrate.migrations WHERE repeatable;

DROP EXTENSION migrate;
DROP VIEW rep_z, rep_who, rep_b, rep_a;
DROP TABLE rep_base;
REVOKE CREATE ON SCHEMA public FROM regress_rep_owner, regress_rep_other;
DROP ROLE regress_rep_owner, regress_rep_other;

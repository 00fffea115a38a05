--
-- migrate_lint() on large scripts: linear in the script's size (a 1 MB
-- script took 81 s before 1.4, each statement's line counted from byte 0),
-- cancellable, and refused past migrate.max_script_size as
-- migrate_register() refuses it.
--
CREATE DATABASE lint_regress;
ALTER DATABASE lint_regress SET migrate.guard_min_size = 0;
\c lint_regress
SET client_min_messages = warning;
CREATE EXTENSION migrate;
RESET client_min_messages;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
SET statement_timeout = '30s';
SELECT count(*) AS findings FROM migrate_lint(repeat('select 1;', 116000));
-- the line of each statement is still right
SELECT statement, line, rule FROM migrate_lint(E'select 1;\n\n-- a comment\nCREATE INDEX ON t (id);')
WHERE rule <> 'missing-lock-timeout';
-- a statement_timeout stops it
SET statement_timeout = '10ms';
SELECT count(*) FROM migrate_lint(repeat('select 1;', 116000));
RESET statement_timeout;
-- over the limit
SELECT count(*) FROM migrate_lint(repeat('select 1;', 116600));

-- Lint runs no code of the script: a superuser linting someone's script
-- would run it with superuser rights.  Before 1.4 planning the default
-- called trap() and transforming the bound called trap_v(), both written
-- by an unprivileged role, as the superuser who linted.
CREATE ROLE lint_author;
GRANT CREATE ON SCHEMA public TO lint_author;
SET ROLE lint_author;
CREATE FUNCTION trap() RETURNS int LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RAISE NOTICE 'trap() ran as %', current_user; RETURN 1; END $$;
CREATE FUNCTION trap_v() RETURNS int LANGUAGE plpgsql VOLATILE
    AS $$ BEGIN RAISE NOTICE 'trap_v() ran as %', current_user; RETURN 1; END $$;
CREATE FUNCTION wrap() RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT random()';
CREATE TABLE parent (a int) PARTITION BY RANGE (a);
CREATE TABLE parent_100 PARTITION OF parent FOR VALUES FROM (100) TO (200);
INSERT INTO parent VALUES (150);
CREATE TABLE child (a int);
INSERT INTO child VALUES (5);
RESET ROLE;
SELECT statement, rule FROM migrate_lint($$
    SET lock_timeout = '1s';
    ALTER TABLE t ADD COLUMN c int DEFAULT trap();
    ALTER TABLE t ADD COLUMN d float8 DEFAULT wrap();
    ALTER TABLE parent ATTACH PARTITION child FOR VALUES FROM (trap_v()) TO (10);
    ALTER TABLE parent DETACH PARTITION child;
    ALTER TABLE parent ATTACH PARTITION child FOR VALUES FROM (MINVALUE) TO (10);
$$) ORDER BY statement, rule;
DROP OWNED BY lint_author;

\c contrib_regression
DROP DATABASE lint_regress;
DROP ROLE lint_author;

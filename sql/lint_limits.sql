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

\c contrib_regression
DROP DATABASE lint_regress;

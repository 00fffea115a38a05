--
-- Non-transactional migrations (issue 16): each statement commits on its
-- own, and a re-run resumes after the last one that committed.  Why a
-- migration failed (detail, hint, statement) reaches the roles that may
-- see it through migrate_status() and migrate_history().
--
CREATE EXTENSION migrate;
CREATE ROLE regress_deployer LOGIN;
CREATE ROLE regress_other LOGIN;
SELECT migrate_grant('regress_deployer');
SELECT migrate_grant('regress_other');
GRANT CREATE ON SCHEMA public TO regress_deployer;

SET ROLE regress_deployer;
-- The third statement fails until nt_target exists.
SELECT migrate_register('1', 'nt',
  E'CREATE TABLE nt (id int PRIMARY KEY);\nINSERT INTO nt VALUES (1);\nINSERT INTO nt_target SELECT id FROM nt;',
  NULL, transactional => false, source => '1_nt.up.sql');
-- one step per statement
SELECT version, step, kind, statements, transactional FROM migrate_plan();
SELECT version, status FROM migrate_apply();
-- statements 1 and 2 committed on their own
SELECT count(*) FROM nt;
SELECT version, state, steps, transactional, source, error FROM migrate_status();
-- a script that already ran part of its steps keeps its transaction mode
SELECT migrate_register('1', 'nt',
  E'CREATE TABLE nt (id int PRIMARY KEY);\nINSERT INTO nt VALUES (1);\nINSERT INTO nt_target SELECT id FROM nt;',
  NULL, transactional => true, source => '1_nt.up.sql');
CREATE TABLE nt_target (id int);
-- resumes at statement 3: the INSERT of statement 2 does not run twice
SELECT version, status FROM migrate_apply();
SELECT count(*) FROM nt;
SELECT * FROM nt_target;
SELECT version, state, steps FROM migrate_status();

-- A failure's detail and hint: the deployer who ran it sees them ...
SELECT migrate_register('2', 'dup', 'INSERT INTO nt VALUES (1);');
SELECT version, status FROM migrate_apply();
SELECT version, state, error, error_detail, error_sql FROM migrate_status() WHERE version = '2';
SELECT version, action, state, error_code, error_detail, error_sql
FROM migrate_history('2');
-- ... another role granted migrate sees the error, not the row values
SET ROLE regress_other;
SELECT version, state, error, error_detail, error_sql FROM migrate_status() WHERE version = '2';
SELECT version, action, state, error_code, error_detail, error_sql
FROM migrate_history('2');
SELECT count(*) > 0 AS sees_history FROM migrate_history();
RESET ROLE;

-- A transactional migration is still one step per group of statements.
SELECT migrate_register('3', 'tx', E'CREATE TABLE tx1 (id int);\nCREATE TABLE tx2 (id int);');
SELECT version, step, statements, transactional FROM migrate_plan('3') WHERE version = '3';

SELECT has_function_privilege('regress_other', 'migrate_history(text)', 'EXECUTE') AS granted;

DROP EXTENSION migrate;
DROP TABLE nt, nt_target;
REVOKE CREATE ON SCHEMA public FROM regress_deployer;
DROP ROLE regress_deployer, regress_other;

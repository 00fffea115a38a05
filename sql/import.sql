--
-- Adopting a database another tool migrated (issue 17): importing its
-- history onto the registered migrations, baseline, unregister, and
-- migrate_resolve() accepting only failed or interrupted migrations.
--
CREATE EXTENSION migrate;
CREATE ROLE regress_importer LOGIN;
CREATE ROLE regress_stranger LOGIN;
SELECT migrate_grant('regress_importer');
SELECT migrate_grant('regress_stranger');
GRANT CREATE ON SCHEMA public TO regress_importer;
SET ROLE regress_importer;

-- Baseline: the database already has 1 and 2.
CREATE TABLE b1 (id int);
CREATE TABLE b2 (id int);
SELECT migrate_register('1', 'b1', 'CREATE TABLE b1 (id int);');
SELECT migrate_register('2', 'b2', 'CREATE TABLE b2 (id int);');
SELECT migrate_register('3', 'b3', 'CREATE TABLE b3 (id int);');
-- resolve is not the way: it settles failed or interrupted migrations only
SELECT migrate_resolve('1', 'applied');
SELECT migrate_baseline('9');
SELECT migrate_baseline('x');
SELECT migrate_baseline(NULL);
SELECT * FROM migrate_baseline('2');
SELECT version, state FROM migrate_status();
SELECT version, action, state, note LIKE 'baselined by regress_importer: marked applied up to 2 %' AS noted
FROM migrate_history() ORDER BY id;
-- a second baseline marks nothing more; apply runs only 3
SELECT * FROM migrate_baseline('2');
SELECT version, status FROM migrate_apply();
-- a failed migration below the baseline version is refused
SELECT migrate_register('4', 'b4_fails', 'INSERT INTO nothing_here VALUES (1);');
SELECT migrate_register('5', 'b5', 'SELECT 1;');
SELECT version, status FROM migrate_apply();
SELECT * FROM migrate_baseline('5');
SELECT version, state FROM migrate_status() WHERE version IN ('4', '5');

-- Unregister: only a migration that never ran.
SELECT migrate_unregister('5');
SELECT version, state FROM migrate_status() WHERE version IN ('4', '5');
SELECT migrate_unregister('5');
SELECT migrate_unregister('4');
SELECT migrate_unregister('3');
SELECT migrate_unregister('1');
SELECT migrate_unregister(NULL);
-- registered again, it is pending as new
SELECT migrate_register('5', 'b5_again', 'SELECT 5;');
SELECT version, name, state FROM migrate_status() WHERE version = '5';
SELECT version, action, state FROM migrate_history('5');
-- only its owner (a member, a superuser) may unregister it
RESET ROLE;
SET ROLE regress_stranger;
SELECT migrate_unregister('5');
RESET ROLE;
SET ROLE regress_importer;
SELECT migrate_unregister('5') LIKE 'unregistered by regress_importer%' AS unregistered;
SELECT migrate_resolve('4', 'rolled_back') LIKE 'resolved by %' AS resolved;
SELECT migrate_unregister('4');
RESET ROLE;
DROP EXTENSION migrate;
DROP TABLE b1, b2, b3;

-- Import: the registered folder and Flyway's table.
CREATE EXTENSION migrate;
SELECT migrate_grant('regress_importer');
SELECT migrate_grant('regress_stranger');
SET ROLE regress_importer;
SELECT migrate_import_history();
SELECT migrate_import_history('liquibase');
SELECT migrate_import_history('flyway');
SELECT migrate_register('1', 'fw1', 'CREATE TABLE fw1 (id int);');
SELECT migrate_register('1.1', 'fw2', E'CREATE TABLE fw2 (id int);\r\nINSERT INTO fw2 VALUES (1);\n');
SELECT migrate_register('2', 'fw3', 'CREATE TABLE fw3 (id int);');
SELECT migrate_register('3', 'fw4', 'CREATE TABLE fw4 (id int);');
-- as Flyway creates and writes it: 2 failed outside a transaction
CREATE TABLE flyway_schema_history (
    installed_rank integer NOT NULL PRIMARY KEY,
    version varchar(50),
    description varchar(200) NOT NULL,
    type varchar(20) NOT NULL,
    script varchar(1000) NOT NULL,
    checksum integer,
    installed_by varchar(100) NOT NULL,
    installed_on timestamp NOT NULL DEFAULT now(),
    execution_time integer NOT NULL,
    success boolean NOT NULL
);
INSERT INTO flyway_schema_history VALUES
    (1, '1', 'fw1', 'SQL', 'V1__fw1.sql', 257253997, 'flyway_user', '2024-01-01 10:00:00', 12, true),
    (2, '1.1', 'fw2', 'SQL', 'V1_1__fw2.sql', -969212795, 'flyway_user', '2024-01-02 10:00:00', 7, true),
    (3, '2', 'fw3', 'SQL', 'V2__fw3.sql', 1, 'flyway_user', '2024-01-03 10:00:00', 3, false),
    (4, NULL, 'views', 'SQL', 'R__views.sql', 99, 'flyway_user', '2024-01-03 10:00:00', 3, true);
-- a version the folder lacks is named, and nothing is imported
INSERT INTO flyway_schema_history VALUES
    (5, '7', 'gone', 'SQL', 'V7__gone.sql', 5, 'flyway_user', '2024-01-04 10:00:00', 3, true);
SELECT * FROM migrate_import_history('flyway');
SELECT count(*) FROM migrate_history();
DELETE FROM flyway_schema_history WHERE installed_rank = 5;
-- a checksum that differs from the file is drift: named, nothing imported
-- (without the files, the registered script is checksummed)
UPDATE flyway_schema_history SET checksum = -1554987626 WHERE installed_rank = 1;
SELECT * FROM migrate_import_history();
SELECT count(*) FROM migrate_history();
-- the caller's rights: who may not read the table cannot import from it
RESET ROLE;
SET ROLE regress_stranger;
SELECT * FROM migrate_import_history('flyway');
-- and who may read it may still mark only the migrations that are theirs
RESET ROLE;
GRANT SELECT ON flyway_schema_history TO regress_stranger;
SET ROLE regress_stranger;
SELECT * FROM migrate_import_history('flyway', '{"1": "BEGIN;\nCREATE TABLE fw1 (id int);\nCOMMIT;\n"}');
RESET ROLE;
SET ROLE regress_importer;
SELECT count(*) FROM migrate_history();
-- the files themselves, where pg_migrate cut a wrapper from the script;
-- a file with a byte order mark and CRLF line ends is the same to Flyway
SELECT version, name, state, applied_at, applied_by, imported_from
FROM migrate_import_history('flyway', '{"1": "BEGIN;\nCREATE TABLE fw1 (id int);\nCOMMIT;\n", "1.1": "\ufeffCREATE TABLE fw2 (id int);\r\nINSERT INTO fw2 VALUES (1);"}');
SELECT version, state, applied_at, applied_by, duration_ms FROM migrate_status();
SELECT version, action, state, role, error_message, note FROM migrate_history() ORDER BY id;
-- a second import keeps migrate's record
SELECT count(*) FROM migrate_import_history();
-- apply runs what Flyway did not finish
SELECT version, status FROM migrate_apply();
-- two tools' tables: auto does not guess
CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL,
                               is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
SELECT * FROM migrate_import_history();
RESET ROLE;
DROP EXTENSION migrate;
DROP TABLE flyway_schema_history, goose_db_version, fw3, fw4;

-- Flyway's baseline row: every version up to it counts as applied; a
-- version repair marked deleted (its latest row) is not imported; the
-- schema-creation row is no migration.
CREATE EXTENSION migrate;
SELECT migrate_grant('regress_importer');
SET ROLE regress_importer;
SELECT migrate_register('1', 'fb1', 'CREATE TABLE fb1 (id int);');
SELECT migrate_register('2', 'fb2', 'CREATE TABLE fb2 (id int);');
SELECT migrate_register('3', 'fb3', 'CREATE TABLE fb3 (id int);');
SELECT migrate_register('4', 'fb4', 'CREATE TABLE fb4 (id int);');
CREATE TABLE flyway_schema_history (
    installed_rank integer NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
    type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer,
    installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
    execution_time integer NOT NULL, success boolean NOT NULL);
INSERT INTO flyway_schema_history VALUES
    (0, '0', '<< Flyway Schema Creation >>', 'SCHEMA', '"public"', NULL, 'fw', '2024-02-01 10:00:00', 0, true),
    (1, '2', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'fw', '2024-02-01 10:00:01', 0, true),
    (2, '3', 'fb3', 'SQL', 'V3__fb3.sql', -1337, 'fw', '2024-02-02 10:00:00', 4, true),
    (3, '4', 'fb4', 'SQL', 'V4__fb4.sql', 1, 'fw', '2024-02-03 10:00:00', 4, true),
    (4, '4', 'fb4', 'DELETE', 'V4__fb4.sql', 1, 'fw', '2024-02-04 10:00:00', 0, true);
-- 3's checksum is wrong: drift, nothing imported
SELECT count(*) FROM migrate_import_history();
UPDATE flyway_schema_history SET checksum = -1014873792 WHERE installed_rank = 2;
SELECT version, state, applied_by FROM migrate_import_history()
ORDER BY string_to_array(version, '.')::numeric[];
SELECT version, state FROM migrate_status();
SELECT version, note FROM migrate_history() ORDER BY string_to_array(version, '.')::numeric[];
RESET ROLE;
DROP EXTENSION migrate;
DROP TABLE flyway_schema_history;

-- golang-migrate's one row, found on the search_path; dirty is failed;
-- Prisma's sha256 and its failed and rolled back attempts.
CREATE EXTENSION migrate;
SELECT migrate_grant('regress_importer');
CREATE SCHEMA app AUTHORIZATION regress_importer;
SET ROLE regress_importer;
SET search_path = app, public;
CREATE TABLE app.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO app.schema_migrations VALUES (3, true);
SELECT migrate_register('1', 'g1', 'SELECT 1;');
SELECT migrate_register('2', 'g2', 'SELECT 2;');
SELECT migrate_register('3', 'g3', 'SELECT 3;');
SELECT migrate_register('4', 'g4', 'SELECT 4;');
SELECT version, state, applied_by FROM migrate_import_history('auto')
ORDER BY string_to_array(version, '.')::numeric[];
SELECT version, state FROM migrate_status();
RESET search_path;
SELECT migrate_import_history('golang-migrate');
RESET ROLE;
DROP EXTENSION migrate;
DROP SCHEMA app CASCADE;

CREATE EXTENSION migrate;
SELECT migrate_grant('regress_importer');
SET ROLE regress_importer;
SELECT migrate_register('20240101000000', 'init', E'CREATE TABLE p1 (id int);\n');
SELECT migrate_register('20240102000000', 'add', E'CREATE TABLE p2 (id int);\n');
SELECT migrate_register('20240103000000', 'idx', E'CREATE TABLE p3 (id int);\n');
CREATE TABLE _prisma_migrations (
    id varchar(36) PRIMARY KEY NOT NULL,
    checksum varchar(64) NOT NULL,
    finished_at timestamptz,
    migration_name varchar(255) NOT NULL,
    logs text,
    rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    applied_steps_count integer NOT NULL DEFAULT 0
);
INSERT INTO _prisma_migrations VALUES
    ('a1', encode(sha256(E'CREATE TABLE p1 (id int);\n'::bytea), 'hex'), '2024-01-01 10:00:01+00',
     '20240101000000_init', NULL, NULL, '2024-01-01 10:00:00+00', 1),
    -- failed, resolved rolled back, then applied from a file with CRLF endings
    ('a2', encode(sha256(E'CREATE TABLE p2 (id int);\n'::bytea), 'hex'), NULL,
     '20240102000000_add', 'relation "x" does not exist', '2024-01-02 11:00:00+00', '2024-01-02 10:00:00+00', 0),
    ('a3', encode(sha256(E'CREATE TABLE p2 (id int);\r\n'::bytea), 'hex'), '2024-01-02 12:00:02+00',
     '20240102000000_add', NULL, NULL, '2024-01-02 12:00:00+00', 1),
    ('a4', encode(sha256(E'CREATE TABLE p3 (id int);\n'::bytea), 'hex'), NULL,
     '20240103000000_idx', 'ERROR: deadlock detected', NULL, '2024-01-03 10:00:00+00', 0);
SELECT version, name, state, applied_at FROM migrate_import_history();
SELECT version, state, duration_ms, error FROM migrate_status();
SELECT version, error_message FROM migrate_history() WHERE state = 'failed';
RESET ROLE;

-- the checksums the tools keep, as an import compares them and pg_migrate
-- writes them: Flyway's ignores line endings and a BOM
SELECT migrate_tool_checksum('flyway', E'CREATE TABLE t (id int);\n') AS flyway_lf,
       migrate_tool_checksum('flyway', E'\uFEFFCREATE TABLE t (id int);\r\n') AS flyway_bom_crlf,
       migrate_tool_checksum('prisma', 'x') = encode(sha256('x'::bytea), 'hex') AS prisma_sha256,
       migrate_tool_checksum('sqitch', 'x') AS sqitch_sha1;
SELECT migrate_tool_checksum('dbmate', 'x');
SELECT has_function_privilege('regress_stranger', 'migrate_tool_checksum(text, text)', 'EXECUTE') AS anyone;
DROP EXTENSION migrate;

-- A role granted migrate cannot settle a superuser's migration by any of
-- the adoption paths: not by baseline, unregister or an import it can read.
CREATE EXTENSION migrate;
SELECT migrate_grant('regress_stranger');
CREATE ROLE regress_super SUPERUSER;
SET ROLE regress_super;
SELECT migrate_register('1', 'superuser_only', 'CREATE TABLE su1 (id int);');
RESET ROLE;
CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO schema_migrations VALUES (1, false);
GRANT SELECT ON schema_migrations TO regress_stranger;
SET ROLE regress_stranger;
SELECT * FROM migrate_baseline('1');
SELECT migrate_unregister('1');
SELECT version, state FROM migrate_import_history('golang-migrate');
RESET ROLE;
SELECT version, state, registered_by FROM migrate_status();
SELECT count(*) AS history FROM migrate_history();
DROP TABLE schema_migrations;
DROP EXTENSION migrate;
DROP ROLE regress_super;
DROP TABLE _prisma_migrations;
DROP OWNED BY regress_importer, regress_stranger;
DROP ROLE regress_importer, regress_stranger;

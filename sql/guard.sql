--
-- DDL-safety guard: every rule in enforce, warn and allow mode, the safe
-- alternatives, the size and new-table exemptions, and lint = guard.
--
-- Runs in a database of its own, so that migrate.guard_min_size can be set
-- for the migration worker too (ALTER DATABASE ... SET).
CREATE DATABASE guard_regress;
ALTER DATABASE guard_regress SET migrate.guard_min_size = 0;
\c guard_regress
SET client_min_messages = warning;
CREATE EXTENSION migrate;
RESET client_min_messages;
\set VERBOSITY terse

-- "Large" is anything not empty here; statements run with a lock timeout
-- so that only missing-lock-timeout's own test trips it.
SHOW migrate.guard;
SHOW migrate.guard_min_size;
SET lock_timeout = '1s';

-- try(stmt): the verdict in enforce mode, in warn mode, with migrate.allow
-- set to exactly the rules lint names, and lint's rules.  Every run is
-- rolled back.  WARNINGs printed above a row come from warn mode (or from
-- warning-severity rules).
CREATE FUNCTION try_mode(stmt text, mode text, allow text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    msg text;
BEGIN
    PERFORM pg_catalog.set_config('migrate.guard', mode, true);
    PERFORM pg_catalog.set_config('migrate.allow', allow, true);
    BEGIN
        EXECUTE stmt;
        RAISE SQLSTATE 'MGOK0';
    EXCEPTION
        WHEN SQLSTATE 'MGOK0' THEN
            RETURN 'ran';
        WHEN object_not_in_prerequisite_state THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            RETURN 'refused ' || split_part(msg, ':', 1);
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            RETURN 'passed, then: ' || msg;
    END;
END
$$;

CREATE FUNCTION try(stmt text,
    OUT enforce text, OUT warn text, OUT allowed text, OUT lint text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT string_agg(l.rule, ',' ORDER BY l.rule) INTO lint
    FROM pg_catalog.migrate_lint(stmt) l WHERE l.severity <> 'allowed';
    enforce := try_mode(stmt, 'enforce', '');
    warn := try_mode(stmt, 'warn', '');
    allowed := try_mode(stmt, 'enforce', coalesce(lint, ''));
END
$$;

-- (empty tables pass, so the indexes come first)
CREATE TABLE big (id int PRIMARY KEY, v text, s varchar(10), n numeric(10,2),
                  c varchar(10) CHECK (c <> ''), ref_id int);
CREATE INDEX big_v_idx ON big (v);
INSERT INTO big SELECT g, 'v' || g, 's', g, 'c', g FROM generate_series(1, 500) g;
CREATE TABLE ref (id int PRIMARY KEY);
INSERT INTO ref SELECT g FROM generate_series(1, 500) g;

-- create-index-blocking, and the safe alternative
SELECT * FROM try('CREATE INDEX big_s_idx ON big (s)');
-- the hint is the statement, with CONCURRENTLY where it goes
SELECT hint FROM migrate_lint('CREATE UNIQUE INDEX IF NOT EXISTS big_s_idx ON big (s)')
WHERE rule = 'create-index-blocking';
CREATE INDEX CONCURRENTLY big_s_idx ON big (s);
-- drop-index-blocking (DROP INDEX CONCURRENTLY must stay first in its transaction)
SELECT * FROM try('DROP INDEX big_s_idx');
-- the hint is the statement to run instead
SELECT hint FROM migrate_lint('DROP INDEX big_s_idx') WHERE rule = 'drop-index-blocking';
DROP INDEX CONCURRENTLY big_s_idx;
-- reindex-blocking (ProcessUtility hook)
SELECT * FROM try('REINDEX TABLE big');
SELECT * FROM try('REINDEX INDEX big_v_idx');
SELECT hint FROM migrate_lint('REINDEX TABLE big; REINDEX INDEX big_v_idx; REINDEX SCHEMA public')
WHERE rule = 'reindex-blocking';
-- a whole schema (or database, test 020) is judged by its large tables;
-- REINDEX SCHEMA cannot run in a function, so warn and allowed pass the
-- guard and then fail
SELECT * FROM try('REINDEX SCHEMA public');
SELECT * FROM try('REINDEX SCHEMA no_such_schema');
REINDEX INDEX CONCURRENTLY big_v_idx;
-- add-column-rewrite: volatile default, serial, identity, stored generated, constrained domain
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
SELECT * FROM try('ALTER TABLE big ADD COLUMN t timestamptz DEFAULT clock_timestamp()');
SELECT * FROM try('ALTER TABLE big ADD COLUMN sid bigserial');
SELECT * FROM try('ALTER TABLE big ADD COLUMN iid int GENERATED ALWAYS AS IDENTITY');
SELECT * FROM try('ALTER TABLE big ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED');
SELECT * FROM try('ALTER TABLE big ADD COLUMN p positive');
-- ... the fast defaults pass
SELECT * FROM try('ALTER TABLE big ADD COLUMN t timestamptz DEFAULT now()');
SELECT * FROM try('ALTER TABLE big ADD COLUMN flag boolean NOT NULL DEFAULT false');
SELECT * FROM try('ALTER TABLE big ADD COLUMN note text');
-- add-column-required
SELECT * FROM try('ALTER TABLE big ADD COLUMN r int NOT NULL');
-- column-type-rewrite: real rewrites, and a CHECK re-validated by a widening
SELECT * FROM try('ALTER TABLE big ALTER COLUMN id TYPE bigint');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN s TYPE varchar(5)');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN n TYPE numeric(10,3)');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN v TYPE text USING v || ''''');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN c TYPE varchar(20)');
-- ... binary-compatible changes pass
SELECT * FROM try('ALTER TABLE big ALTER COLUMN s TYPE varchar(20)');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN s TYPE text');
SELECT * FROM try('ALTER TABLE big ALTER COLUMN n TYPE numeric(12,2)');
-- set-not-null-scan, and the CHECK pattern
SELECT * FROM try('ALTER TABLE big ALTER COLUMN v SET NOT NULL');
ALTER TABLE big ADD CONSTRAINT big_v_not_null CHECK (v IS NOT NULL) NOT VALID;
SELECT * FROM try('ALTER TABLE big ALTER COLUMN v SET NOT NULL');
ALTER TABLE big VALIDATE CONSTRAINT big_v_not_null;
SELECT * FROM try('ALTER TABLE big ALTER COLUMN v SET NOT NULL');
-- foreign-key-validating
SELECT * FROM try('ALTER TABLE big ADD FOREIGN KEY (ref_id) REFERENCES ref');
SELECT * FROM try('ALTER TABLE big ADD FOREIGN KEY (ref_id) REFERENCES ref NOT VALID');
-- check-validating
SELECT * FROM try('ALTER TABLE big ADD CHECK (id > 0)');
SELECT * FROM try('ALTER TABLE big ADD CHECK (id > 0) NOT VALID');
-- unique-constraint-blocking, and USING INDEX
SELECT * FROM try('ALTER TABLE big ADD CONSTRAINT big_v_key UNIQUE (v)');
SELECT * FROM try('ALTER TABLE ref DROP CONSTRAINT ref_pkey, ADD PRIMARY KEY (id)');
CREATE UNIQUE INDEX CONCURRENTLY big_v_key ON big (v);
SELECT * FROM try('ALTER TABLE big ADD CONSTRAINT big_v_key UNIQUE USING INDEX big_v_key');
-- exclusion-constraint
SELECT * FROM try('ALTER TABLE big ADD EXCLUDE USING btree (n WITH =)');
-- validate-same-transaction
SELECT * FROM try('ALTER TABLE big ADD CONSTRAINT big_id_pos CHECK (id > 0) NOT VALID; ALTER TABLE big VALIDATE CONSTRAINT big_id_pos');
ALTER TABLE big ADD CONSTRAINT big_id_pos CHECK (id > 0) NOT VALID;
SELECT * FROM try('ALTER TABLE big VALIDATE CONSTRAINT big_id_pos');
-- rename-column, rename-table (warning severity: they run, with a WARNING)
SELECT * FROM try('ALTER TABLE big RENAME COLUMN note TO remark');
SELECT * FROM try('ALTER TABLE big RENAME TO huge');
SELECT * FROM try('ALTER TABLE big SET SCHEMA migrate');
-- drop-column, drop-table
SELECT * FROM try('ALTER TABLE big DROP COLUMN ref_id');
SELECT * FROM try('DROP TABLE ref CASCADE');
-- set-logged
SELECT * FROM try('ALTER TABLE big SET UNLOGGED');
-- set-tablespace (moving to the current tablespace passes)
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE guard_space LOCATION '';
SELECT * FROM try('ALTER TABLE big SET TABLESPACE guard_space');
SELECT * FROM try('ALTER TABLE big SET TABLESPACE pg_default');
-- set-access-method (the current method passes)
CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;
SELECT * FROM try('ALTER TABLE big SET ACCESS METHOD heap2');
SELECT * FROM try('ALTER TABLE big SET ACCESS METHOD heap');
-- vacuum-full, cluster (ProcessUtility hook), and plain VACUUM
SELECT * FROM try('VACUUM FULL big');
SELECT * FROM try('CLUSTER big USING big_pkey');
VACUUM big;
-- lock-table, truncate (warning severity)
SELECT * FROM try('LOCK TABLE big');
SELECT * FROM try('LOCK TABLE big IN SHARE UPDATE EXCLUSIVE MODE');
SELECT * FROM try('TRUNCATE big');
-- refresh-matview-blocking
CREATE MATERIALIZED VIEW big_mv AS SELECT id, v FROM big WITH NO DATA;
CREATE UNIQUE INDEX big_mv_id ON big_mv (id);
BEGIN;
SET LOCAL migrate.allow = 'refresh-matview-blocking';
REFRESH MATERIALIZED VIEW big_mv;
COMMIT;
-- (the refresh extends the file by several pages at a time from 16 on;
-- vacuum cuts the empty ones so that the size is the same on every version)
VACUUM big_mv;
SELECT * FROM try('REFRESH MATERIALIZED VIEW big_mv');
SELECT * FROM try('REFRESH MATERIALIZED VIEW CONCURRENTLY big_mv');
-- partitioned tables: CONCURRENTLY is refused on the parent, so the advice is ON ONLY
CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, date '2023-06-01' + g FROM generate_series(1, 300) g;
SELECT * FROM try('CREATE INDEX events_id_idx ON events (id)');
\set VERBOSITY default
DO $$ BEGIN EXECUTE 'CREATE INDEX events_id_idx ON events (id)'; END $$;
\set VERBOSITY terse
SELECT * FROM try('CREATE INDEX events_id_idx ON ONLY events (id)');
-- attach-partition-scan: passes once a valid CHECK implies the bound
CREATE TABLE events_2025 (id int, at date NOT NULL);
INSERT INTO events_2025 SELECT g, date '2025-01-01' + g FROM generate_series(1, 100) g;
SELECT * FROM try($$ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')$$);
ALTER TABLE events_2025 ADD CONSTRAINT events_2025_bound
    CHECK (at >= '2025-01-01' AND at < '2026-01-01') NOT VALID;
ALTER TABLE events_2025 VALIDATE CONSTRAINT events_2025_bound;
SELECT * FROM try($$ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')$$);
-- detach-partition-blocking (warning severity)
SELECT * FROM try('ALTER TABLE events DETACH PARTITION events_2023');
ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;
-- domain-constraint
CREATE DOMAIN code AS text;
ALTER TABLE big ADD COLUMN k code;
SELECT * FROM try($$ALTER DOMAIN code ADD CONSTRAINT code_upper CHECK (VALUE = upper(VALUE))$$);
SELECT * FROM try('ALTER DOMAIN code SET NOT NULL');
SELECT * FROM try($$ALTER DOMAIN code ADD CONSTRAINT code_upper CHECK (VALUE = upper(VALUE)) NOT VALID$$);
-- missing-lock-timeout: any write-blocking lock on a large table, even a brief one
SET lock_timeout = 0;
SELECT * FROM try('ALTER TABLE big ADD COLUMN z int');
SELECT * FROM try('CREATE INDEX big_n_idx ON big (n)');
SET lock_timeout = '1s';
SELECT * FROM try('ALTER TABLE big ADD COLUMN z int');

-- Exemptions.  A table created in this transaction passes, even with a
-- pg_class row rewritten by an ALTER; an ALTER of an old table does not make
-- it new.
BEGIN;
CREATE TABLE fresh AS SELECT * FROM big;
CREATE INDEX ON fresh (v);
ALTER TABLE big ADD COLUMN y int;
CREATE INDEX big_y_idx ON big (y);
ROLLBACK;
-- empty tables pass
CREATE TABLE empty_t (id int, v text);
SELECT * FROM try('CREATE INDEX ON empty_t (v)');
-- below migrate.guard_min_size passes ...
SET migrate.guard_min_size = '1MB';
SELECT * FROM try('CREATE INDEX big_s_idx ON big (s)');
-- ... but a table loaded since its last ANALYZE counts by its files
CREATE TABLE loaded (id int, pad text);
INSERT INTO loaded SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
SELECT relpages, reltuples FROM pg_class WHERE relname = 'loaded';
SELECT * FROM try('CREATE INDEX ON loaded (id)');
RESET migrate.guard_min_size;

-- Sizes that count more than the table's own heap (each passed before 1.4):
-- an empty parent is as large as its inheritance children, through which
-- ALTER TABLE works ...
CREATE TABLE inh_parent (a int);
CREATE TABLE inh_child () INHERITS (inh_parent);
INSERT INTO inh_child SELECT generate_series(1, 1000);
SELECT * FROM try('ALTER TABLE inh_parent ADD CONSTRAINT inh_pos CHECK (a > 0)');
SELECT * FROM try('ALTER TABLE inh_parent ALTER COLUMN a SET NOT NULL');
-- ... a table's TOAST counts with its heap ...
SET migrate.guard_min_size = '1MB';
CREATE TABLE wide (id int, payload text);
ALTER TABLE wide ALTER COLUMN payload SET STORAGE EXTERNAL;
INSERT INTO wide SELECT g, repeat(md5(g::text), 1000) FROM generate_series(1, 100) g;
SELECT pg_relation_size('wide') < 1024 * 1024 AS small_heap,
       pg_table_size('wide') > 2 * 1024 * 1024 AS large_with_toast;
SELECT * FROM try('VACUUM FULL wide');
RESET migrate.guard_min_size;
-- ... ALTER INDEX SET TABLESPACE copies the index ...
SELECT * FROM try('ALTER INDEX big_v_idx SET TABLESPACE guard_space');
-- ... ALTER TABLE ALL IN TABLESPACE copies every table there ...
SET migrate.guard_min_size = '1MB';
SELECT * FROM try('ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE guard_space');
RESET migrate.guard_min_size;
-- ... a new partition scans the default partition for its rows ...
CREATE TABLE dp (a int) PARTITION BY RANGE (a);
CREATE TABLE dp_default PARTITION OF dp DEFAULT;
INSERT INTO dp SELECT generate_series(1, 1000);
SELECT * FROM try('CREATE TABLE dp_2000 PARTITION OF dp FOR VALUES FROM (2000) TO (3000)');
ALTER TABLE dp_default ADD CONSTRAINT dp_default_below CHECK (a < 2000) NOT VALID;
ALTER TABLE dp_default VALIDATE CONSTRAINT dp_default_below;
SELECT * FROM try('CREATE TABLE dp_2000 PARTITION OF dp FOR VALUES FROM (2000) TO (3000)');
-- ... and ADD PRIMARY KEY USING INDEX sets NOT NULL on a nullable column
CREATE TABLE pk_t (id int);
CREATE UNIQUE INDEX pk_t_id ON pk_t (id);
INSERT INTO pk_t SELECT generate_series(1, 1000);
SELECT * FROM try('ALTER TABLE pk_t ADD PRIMARY KEY USING INDEX pk_t_id');
ALTER TABLE pk_t ADD CONSTRAINT pk_t_id_nn CHECK (id IS NOT NULL) NOT VALID;
ALTER TABLE pk_t VALIDATE CONSTRAINT pk_t_id_nn;
SELECT * FROM try('ALTER TABLE pk_t ADD PRIMARY KEY USING INDEX pk_t_id');

-- migrate.allow: unknown ids are refused; SET LOCAL lasts one transaction
SET migrate.allow = 'create-index-blocking,no-such-rule';
BEGIN;
SET LOCAL migrate.allow = 'create-index-blocking';
CREATE INDEX big_s_idx ON big (s);
COMMIT;
SHOW migrate.allow;
-- only a superuser changes the mode
CREATE ROLE guard_user;
GRANT ALL ON SCHEMA public TO guard_user;
SET ROLE guard_user;
SET migrate.guard = off;
SET migrate.guard_min_size = '1GB';
CREATE TABLE mine (id int);
INSERT INTO mine SELECT generate_series(1, 10);
CREATE INDEX ON mine (id);
RESET ROLE;

-- migrate_lint replays the script: new tables, SET lock_timeout, BEGIN/COMMIT,
-- NOT VALID then VALIDATE, DDL with DML, allow comments; syntax errors are a row.
SELECT statement, line, rule, severity, relation, lock_mode
FROM migrate_lint($$
SET lock_timeout = 0;
ALTER TABLE big ADD COLUMN w int;
SET lock_timeout = '2s';
ALTER TABLE big ADD COLUMN w int;
DROP TABLE empty_t;
CREATE TABLE big2 (id int);
CREATE INDEX ON big2 (id);
$$);
SELECT statement, line, rule, severity
FROM migrate_lint($$
BEGIN;
ALTER TABLE big ADD CONSTRAINT x CHECK (id > 0) NOT VALID;
COMMIT;
ALTER TABLE big VALIDATE CONSTRAINT x;
BEGIN;
ALTER TABLE big ADD CONSTRAINT y CHECK (id > 0) NOT VALID;
ALTER TABLE big VALIDATE CONSTRAINT y;
UPDATE big SET w = 1;
COMMIT;
$$);
SELECT statement, line, rule, severity
FROM migrate_lint($$
-- migrate:allow create-index-blocking,set-logged small in production, checked
-- migrate:allow rename-column
-- migrate:allow not-a-rule because
SET lock_timeout = '1s';
CREATE INDEX ON big (n);
BEGIN;
SET LOCAL migrate.allow = 'drop-column';
ALTER TABLE big DROP COLUMN w;
COMMIT;
ALTER TABLE big DROP COLUMN w;
$$);
-- update-unbatched (lint only): an UPDATE of a large table that spares no
-- rows (no WHERE, or one reading only the columns it sets); the hint is the
-- migrate_backfill() call that does the same, when the statement is simple
SELECT statement, rule, severity, message, hint
FROM migrate_lint($$
UPDATE big SET v = lower(v);
UPDATE ONLY big SET v = 'it''s' WHERE v IS NULL RETURNING id;
UPDATE big SET v = (SELECT max(b2.v) FROM big b2 WHERE b2.id = big.id)
  WHERE (v IS NULL OR v = '');
UPDATE big SET v = lower(v) WHERE id < 100;
UPDATE big SET v = lower(v) WHERE v IN (SELECT v FROM ref);
UPDATE big SET v = lower(v), s = 'x';
UPDATE big b SET v = lower(b.v);
UPDATE big SET v = DEFAULT;
UPDATE big SET v = lower(v) -- a note
;
UPDATE events SET id = 0 WHERE id IS NULL;
UPDATE ONLY events SET id = 0;
UPDATE big SET v = $1;
UPDATE big SET v = 'x' WHERE CURRENT OF c;
CREATE TABLE new_t (id int, v text);
UPDATE new_t SET v = 'x';
$$);
SELECT * FROM migrate_lint('ALTER TABLE big ADD COLUMN;');
SELECT * FROM migrate_lint($$SELECT 1;
CREATE INDEX ON big (v) WHERE;$$);

-- migrate_rules: one row per rule, all documented
SELECT count(*), count(*) FILTER (WHERE severity = 'error') AS errors,
       bool_and(alternative <> '' AND catches <> '' AND lock_taken <> '') AS documented
FROM migrate_rules();
-- its rule column names what migrate_lint() reports
SELECT rule, severity FROM migrate_rules() WHERE rule LIKE 'create-index%' ORDER BY rule;
-- every function of the extension says what it is for
SELECT p.oid::regprocedure AS undocumented
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'migrate')
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- The executor: migrate_apply lints each migration first and refuses an
-- unsafe one as a failed attempt naming the rule; a -- migrate:allow comment
-- lets it run (the guard then lets the worker's statements through).
SELECT migrate_register('1', 'index big', 'CREATE INDEX big_n_idx ON big (n);');
SELECT version, status, detail IS NOT NULL AS has_detail FROM migrate_apply();
SELECT version, state, error FROM migrate_status();
SELECT error_code, error_message, error_statement, left(error_hint, 60) AS hint
FROM migrate.history ORDER BY id DESC LIMIT 1;
SELECT migrate_register('1', 'index big',
    E'-- migrate:allow create-index-blocking big is small during the test\nCREATE INDEX big_n_idx ON big (n);');
SELECT version, status FROM migrate_apply();
SELECT indexrelid::regclass FROM pg_index WHERE indexrelid = 'big_n_idx'::regclass;
-- the apply-time lint refuses update-unbatched too, with the call to run instead
SELECT migrate_register('2', 'fill big', 'UPDATE big SET v = upper(v);');
SELECT version, status FROM migrate_apply();
SELECT error_code, error_message, error_hint
FROM migrate.history ORDER BY id DESC LIMIT 1;

-- CREATE EXTENSION and ALTER EXTENSION run their scripts unguarded
DROP EXTENSION migrate;
CREATE EXTENSION migrate;
ALTER EXTENSION migrate UPDATE;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE guard_regress;
DROP TABLESPACE IF EXISTS guard_space;
DROP ROLE guard_user;

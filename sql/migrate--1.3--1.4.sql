/* sql/migrate--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION migrate UPDATE TO '1.4'" to load this file. \quit

-- Ownership of migrations (issue 15 §2)

-- migrate_grant(NULL) fails as the other functions do on a null argument
-- (it pasted nothing into GRANT and failed with a syntax error), and the
-- grant covers migrate.live(), which lives in the private schema.
CREATE OR REPLACE FUNCTION pg_catalog.migrate_grant(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the role that is to use migrate, e.g. migrate_grant(''deployer'').';
    END IF;
    FOR f IN
        SELECT r FROM migrate.routines() r JOIN pg_proc p ON p.oid = r
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND p.proname LIKE 'migrate\_%' AND p.proname <> 'migrate_grant'
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %s', f, role);
    END LOOP;
    -- the schema's tables stay closed: USAGE only reaches functions granted
    EXECUTE format('GRANT USAGE ON SCHEMA migrate TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION migrate.live() TO %s', role);
END
$$;
REVOKE ALL ON FUNCTION pg_catalog.migrate_grant(regrole) FROM PUBLIC;
COMMENT ON FUNCTION pg_catalog.migrate_grant(regrole) IS
    'lets a role register, apply, roll back and inspect migrations and run backfills (superuser)';

-- Roles granted before 1.4 get migrate.live() too.
DO $$
DECLARE
    g oid;
BEGIN
    FOR g IN
        SELECT DISTINCT a.grantee
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'pg_catalog.migrate_apply(text, boolean)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA migrate TO %1$s; GRANT EXECUTE ON FUNCTION migrate.live() TO %1$s',
            CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END);
    END LOOP;
END
$$;

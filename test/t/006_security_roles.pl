# Nobody gains privileges through migrate (issue 15 §1, §2): a migration
# runs as the role that registered it, whoever applies it; a backfill as its
# submitter; and code running with borrowed rights (a SECURITY DEFINER
# function, an index expression that ANALYZE or autovacuum evaluates) cannot
# start either.  Each escalation below made eve superuser before 1.4.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migrate'
max_worker_processes = 16
autovacuum_naptime = 1
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE eve LOGIN;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	GRANT CREATE ON SCHEMA public TO eve, alice, bob;
	SELECT migrate_grant('eve');
	SELECT migrate_grant('alice');
	SELECT migrate_grant('bob');
});

sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

sub eve_is_superuser
{
	return $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'eve'});
}

sub wait_for_runs
{
	ok( $node->poll_query_until('postgres',
			q{SELECT count(*) = 0 FROM migrate.runs WHERE state = 'running'}),
		$_[0]);
}

# --- a SECURITY DEFINER function of eve's, called by a superuser
as('eve', q{
	SELECT migrate_register('1', 'escalate', 'ALTER ROLE eve SUPERUSER;');
	CREATE FUNCTION eve_apply() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
		AS $$ BEGIN PERFORM migrate_apply(wait => false); END $$;
	CREATE FUNCTION eve_backfill() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
		AS $$ BEGIN RETURN migrate_backfill('eve_t', 'w', 'eve_reset()'); END $$;
});
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT eve_apply()');
like($err, qr/cannot call migrate_apply\(\) from a SECURITY DEFINER function/,
	'migrate_apply() in a definer function is refused');
is(eve_is_superuser(), 'f', 'the definer path made nobody superuser');

# --- the superuser applies eve's migration: it runs as eve, and fails
$node->psql('postgres', 'SELECT migrate_apply()');
wait_for_runs('the superuser\'s run ended');
like($node->safe_psql('postgres', q{SELECT state || ' ' || applied_by || ' ' || error FROM migrate_status() WHERE version = '1'}),
	qr/^failed eve 42501: /,
	'eve\'s migration ran as eve when a superuser applied it');
is(eve_is_superuser(), 'f', 'applying another role\'s migration lends it nothing');

# --- an index expression that ANALYZE, and then autovacuum, evaluates
as('eve', q{
	CREATE TABLE eve_t (id int, w int);
	CREATE FUNCTION eve_trap(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN
		IF session_user <> 'eve' THEN
			PERFORM migrate_apply(wait => false);
		END IF;
		RETURN x;
	END $$;
	INSERT INTO eve_t SELECT g, NULL FROM generate_series(1, 100) g;
	CREATE INDEX eve_t_trap ON eve_t (eve_trap(id));
});
($rc, $out, $err) = $node->psql('postgres', 'ANALYZE eve_t');
like($err, qr/cannot call migrate_apply\(\) within a security-restricted operation/,
	'a superuser\'s ANALYZE evaluating eve\'s index expression is refused');
is(eve_is_superuser(), 'f', 'the ANALYZE path made nobody superuser');

my $logstart = -s $node->logfile;
as('eve', q{
	CREATE TABLE eve_auto (id int);
	CREATE INDEX eve_auto_trap ON eve_auto (eve_trap(id));
	INSERT INTO eve_auto SELECT g FROM generate_series(1, 2000) g;
});
# autovacuum's analyze runs eve_trap as eve, with the bootstrap superuser's
# session: before 1.4 that queued a run as the superuser
ok($node->wait_for_log(qr/cannot call migrate_apply\(\) within a security-restricted operation/, $logstart),
	'autovacuum\'s analyze of eve\'s index expression is refused');
is(eve_is_superuser(), 'f', 'the autovacuum path made nobody superuser');
$node->safe_psql('postgres', 'DROP TABLE eve_auto; DROP INDEX eve_t_trap');

# --- backfills: refused in a definer function, and RESET ROLE in the
# expression reaches nothing beyond the submitter
as('eve', q{
	CREATE FUNCTION eve_reset() RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'RESET ROLE';
		EXECUTE 'ALTER ROLE eve SUPERUSER';
		RETURN 1;
	END $$;
});
($rc, $out, $err) = $node->psql('postgres', 'SELECT eve_backfill()');
like($err, qr/cannot call migrate_backfill\(\) from a SECURITY DEFINER function/,
	'migrate_backfill() in a definer function is refused');
my $job = as('eve', q{SELECT migrate_backfill('eve_t', 'w', 'eve_reset()')});
ok($node->poll_query_until('postgres',
		"SELECT state IN ('failed', 'done') FROM migrate_backfill_status($job)"),
	'eve\'s own backfill ended');
like($node->safe_psql('postgres', "SELECT state || ' ' || last_error FROM migrate_backfill_status($job)"),
	qr/^failed .*(superuser|permission denied)/,
	'RESET ROLE in a backfill expression leaves the worker eve');
is(eve_is_superuser(), 'f', 'the backfill path made nobody superuser');

# --- before PostgreSQL 17 a worker cannot log in as a NOLOGIN role: a
# backfill it would run as is refused at once, not queued for a worker that
# cannot start
if ($node->safe_psql('postgres', 'SHOW server_version_num') < 170000)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE nologin_sub NOLOGIN;
		GRANT UPDATE ON eve_t TO nologin_sub;
		GRANT SELECT ON eve_t TO nologin_sub;
		SELECT migrate_grant('nologin_sub');
	});
	($rc, $out, $err) = $node->psql('postgres',
		q{SET ROLE nologin_sub; SELECT migrate_backfill('eve_t', 'w', 'id')});
	like($err, qr/the backfill would run as role "nologin_sub", which cannot log in/,
		'a NOLOGIN submitter is refused before 17');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate.backfill_jobs WHERE submitted_by = 'nologin_sub'}),
		'0', 'and no job is left queued');
}

# --- a backfill's role is kept by OID: renamed while the job runs, and the
# server restarted, the job goes on (before 1.4 the recovery looked the
# role up by name and left the job queued forever)
$node->safe_psql('postgres', q{
	CREATE ROLE renamed_sub LOGIN;
	SELECT migrate_grant('renamed_sub');
	CREATE TABLE ren_t (id int PRIMARY KEY, v int, w int);
	INSERT INTO ren_t SELECT g, g, NULL FROM generate_series(1, 20000) g;
	ALTER TABLE ren_t OWNER TO renamed_sub;
});
my $ren = as('renamed_sub', q{
	SET migrate.backfill_sleep_ms = 3600000;
	SELECT migrate_backfill('ren_t', 'w', 'v * 2', batch_size => 500)});
ok($node->poll_query_until('postgres', "SELECT batches > 0 FROM migrate_backfill_status($ren)"),
	'the job made its first batch');
$node->safe_psql('postgres', 'ALTER ROLE renamed_sub RENAME TO renamed_again');
$node->restart;
$node->safe_psql('postgres', "SELECT migrate_backfill_pace($ren, sleep_ms => 0)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($ren, '120s')"), 'done',
	'after the rename and a restart the job goes on to the end');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ren_t WHERE w = v * 2'), '20000',
	'every row is right');

# --- a migration runs as its owner, whoever applies it; one run hands over
# between owners
as('alice', q{SELECT migrate_register('10', 'alice_table', 'CREATE TABLE alice_t (id int);')});
as('bob', q{SELECT migrate_register('11', 'bob_table', 'CREATE TABLE bob_t (id int);')});
as('alice', q{SELECT migrate_register('12', 'alice_more', 'CREATE TABLE alice_more_t (id int);')});
$node->safe_psql('postgres', q{SELECT migrate_resolve('1', 'applied')});
as('bob', 'SELECT migrate_apply()');
is($node->safe_psql('postgres', q{
	SELECT string_agg(tablename || '=' || tableowner, ' ' ORDER BY tablename)
	FROM pg_tables WHERE tablename IN ('alice_t', 'bob_t', 'alice_more_t')}),
	'alice_more_t=alice alice_t=alice bob_t=bob',
	'each migration\'s objects belong to its author, although bob applied them all');
is(as('bob', q{SELECT string_agg(version || '=' || applied_by, ' ' ORDER BY version) FROM migrate_status() WHERE version IN ('10', '11', '12')}),
	'10=alice 11=bob 12=alice', 'history names the role each ran as');
ok($node->log_contains('run \d+ goes on as role "bob"'), 'the run was handed to a worker of bob\'s');

# --- nothing one migration sets carries into the next
$node->safe_psql('postgres', q{
	CREATE SCHEMA eve_s AUTHORIZATION eve;
	GRANT USAGE ON SCHEMA eve_s TO PUBLIC;
});
as('eve', q{
	CREATE TABLE eve_s.calls (who name);
	GRANT INSERT ON eve_s.calls TO PUBLIC;
	CREATE FUNCTION eve_s.lower(text) RETURNS text LANGUAGE sql
		AS $$ INSERT INTO eve_s.calls VALUES (current_user); SELECT $1 $$;
});
as('alice', q{
	SELECT migrate_register('20', 'set_path', $$SELECT pg_catalog.set_config('search_path', 'eve_s, pg_catalog, public', false);$$);
	SELECT migrate_register('21', 'use_lower', 'CREATE TABLE lowered AS SELECT lower(''X'') AS v;');
	SELECT migrate_apply();
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM eve_s.calls'), '0',
	'the next migration did not see the search_path the previous one set');
is($node->safe_psql('postgres', 'SELECT v FROM lowered'), 'x', 'it called pg_catalog.lower');

# --- a run runs exactly the scripts it planned
as('alice', q{
	SELECT migrate_register('30', 'slow', 'SELECT pg_sleep(3);');
	SELECT migrate_register('31', 'planned', 'CREATE TABLE planned_t (id int);');
	SELECT migrate_apply(wait => false);
});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM migrate.live() WHERE version = '30'}),
	'the run is on migration 30');
as('alice', q{SELECT migrate_register('31', 'planned', 'CREATE TABLE unplanned_t (id int);')});
wait_for_runs('the run with a changed script ended');
like($node->safe_psql('postgres', q{SELECT state || ' ' || error FROM migrate_status() WHERE version = '31'}),
	qr/^failed 55000: the up script of migration 31 changed after the run was planned/,
	'a script registered again after planning fails the run');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_tables WHERE tablename IN ('planned_t', 'unplanned_t')}),
	'0', 'neither script ran');
as('alice', 'SELECT migrate_apply()');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_tables WHERE tablename = 'unplanned_t'}),
	'1', 'applied again, the new script runs');

# --- a migration that crashes the worker is failed after three crashes,
# not resumed forever
as('alice', q{
	SELECT migrate_register('40', 'crashes', 'SELECT pg_sleep(600);');
	SELECT migrate_apply(wait => false);
});
my $pid = 0;
for my $crash (1 .. 3)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM migrate.live() WHERE version = '40' AND pid <> $pid"),
		"crash $crash: a worker is on migration 40");
	$pid = $node->safe_psql('postgres', q{SELECT pid FROM migrate.live() WHERE version = '40'});
	kill 'KILL', $pid;
}
wait_for_runs('the recovery gave up on migration 40');
like($node->safe_psql('postgres', q{SELECT state || ' ' || error FROM migrate_status() WHERE version = '40'}),
	qr/^failed 57P02: the migrate worker crashed 3 times running this migration/,
	'the third crash fails the migration, with the reason');
ok($node->log_contains('migration 40 crashed the worker 3 times'), 'and the log says why');

$node->stop;
done_testing();

# Fair share of the workers (issue 15 §5): backfills never take the worker
# kept for migration runs (migrate.max_workers - 1 of them at most), and the
# jobs of one role run at most migrate.max_workers_per_role workers; a job
# held back stays queued and says why in held_reason.  Once, one role's four
# backfills paused for an hour took every worker, and another role's
# migrate_apply() waited until a superuser cancelled them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('fair_share');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	SELECT migrate_grant('alice');
	SELECT migrate_grant('bob');
	CREATE SCHEMA bob AUTHORIZATION bob;
	DO $$
	BEGIN
		FOR i IN 1 .. 4 LOOP
			EXECUTE format('CREATE TABLE a%s (id int, v int, w int)', i);
			EXECUTE format('INSERT INTO a%s SELECT g, g FROM generate_series(1, 1000) g', i);
			EXECUTE format('ALTER TABLE a%s OWNER TO alice', i);
		END LOOP;
	END $$;
	CREATE TABLE bob.b (id int, v int, w int);
	INSERT INTO bob.b SELECT g, g FROM generate_series(1, 1000) g;
	ALTER TABLE bob.b OWNER TO bob;
});

# the jobs' batches wait on an advisory lock the test holds, so each keeps
# its worker for as long as the test needs
$node->safe_psql('postgres', "ALTER SYSTEM SET migrate.backfill_lock_timeout = '10min'");
$node->safe_psql('postgres', "ALTER SYSTEM SET migrate.backfill_statement_timeout = '10min'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242), pg_advisory_lock(4243)');

sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

sub held_job
{
	my ($role, $table, $key) = @_;
	return as_role($role, qq{
		SELECT migrate_backfill('$table', 'w', 'v + (SELECT 0 FROM pg_advisory_xact_lock_shared($key))')});
}

# the query counting the role's workers whose batch waits
sub waiting_sql
{
	my ($role) = @_;
	return qq{SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'migrate backfill' AND wait_event = 'advisory' AND usename = '$role'};
}

sub running
{
	my ($role) = @_;
	return $node->safe_psql('postgres', waiting_sql($role));
}

# --- one role runs at most migrate.max_workers_per_role backfill workers
# (by default all of max_workers - 1 = 3 but one)
my @alice = map { held_job('alice', "a$_", 4242) } 1 .. 4;
my $cap_reason = q{the jobs of role "alice" already run migrate.max_workers_per_role (2) backfill workers};
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 2 FROM migrate_backfill_status()
		WHERE state = 'queued' AND held_reason = '$cap_reason'}),
	'two of the role\'s four jobs are held, with the per-role cap as the reason');
ok($node->poll_query_until('postgres', waiting_sql('alice'), '2'), 'and its two others run');

# another role still finds a backfill worker
my $bob = held_job('bob', 'bob.b', 4243);
ok($node->poll_query_until('postgres', waiting_sql('bob'), '1'),
	'another role\'s job gets the third backfill worker');
is(running('alice'), '2', 'while the first role\'s jobs keep their two');

# --- with the cap raised the role fills every backfill worker, never the
# one kept for runs
$node->safe_psql('postgres', 'ALTER SYSTEM SET migrate.max_workers_per_role = 4');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $full_reason = 'all 3 backfill workers are busy (migrate.max_workers = 4, one kept for migration runs)';
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 2 FROM migrate_backfill_status()
		WHERE state = 'queued' AND held_reason = '$full_reason'}),
	'with every backfill worker busy, the held jobs say so');
as_role('bob', "SELECT migrate_backfill_cancel($bob)");
$holder->query_safe('SELECT pg_advisory_unlock(4243)');
ok($node->poll_query_until('postgres', waiting_sql('alice'), '3'),
	'the role\'s third job takes the backfill worker freed');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(submitted_by || ' ' || held_reason, ', ') FROM migrate_backfill_status()
		WHERE state = 'queued'}),
	"alice $full_reason", 'its fourth waits for a backfill worker, not the run worker');

# another role's run gets the worker kept for runs and completes (the
# statement_timeout only ends the test if it does not)
as_role('bob', q{SELECT migrate_register('1', 'bob_table', 'CREATE TABLE bob.fair (id int);')});
is( as_role('bob', q{SET statement_timeout = '60s'; SELECT status FROM migrate_apply();}),
	'applied', 'a run of another role completes while the role\'s backfills hold every backfill worker');
is($node->safe_psql('postgres', q{SELECT tableowner FROM pg_tables WHERE tablename = 'fair'}),
	'bob', 'and its migration ran');
is(running('alice'), '3', 'the backfills kept their workers');

# --- the cap lowered again: the running jobs keep their workers, the held
# one says the cap holds it
$node->safe_psql('postgres', 'ALTER SYSTEM SET migrate.max_workers_per_role = 1');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $one_reason = q{the jobs of role "alice" already run migrate.max_workers_per_role (1) backfill workers};
ok( $node->poll_query_until('postgres', qq{
		SELECT held_reason = '$one_reason' FROM migrate_backfill_status() WHERE state = 'queued'}),
	'a job over its role\'s cap waits, with the cap as the reason');
my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET migrate.max_workers_per_role = 0");
like($err, qr/invalid value for parameter "migrate.max_workers_per_role": 0/, 'a cap of 0 is refused');

# cancelled, the jobs' workers leave once their batch is let go
as_role('alice', "SELECT migrate_backfill_cancel($_)") for @alice;
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$holder->quit;
is(join(' ', map { $node->safe_psql('postgres', "SELECT migrate_backfill_wait($_, '60s')") } @alice),
	'cancelled cancelled cancelled cancelled', 'the jobs are cancelled');
is($node->safe_psql('postgres', "SELECT count(*) FROM migrate_backfill_status() WHERE held_reason IS NOT NULL"),
	'0', 'and nothing is held any more');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.backfill_lock_timeout');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.backfill_statement_timeout');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.max_workers_per_role');

$node->stop;
done_testing();

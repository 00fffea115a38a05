# kill -9 of the worker and an immediate shutdown in the middle of a run:
# the history stays exact, the launcher resumes the run after the restart,
# and every migration ends applied exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
# the test framework turns this off; a crash must restart the server here
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION migrate');

sub register_batch
{
	my ($from, $to) = @_;
	for my $v ($from .. $to)
	{
		# one-step migrations, slow enough to be caught in the middle
		$node->safe_psql('postgres', qq{
			SELECT migrate_register('$v', 'step_$v',
				'CREATE TABLE c_$v (id int); SELECT pg_sleep(0.3); INSERT INTO c_$v VALUES ($v);',
				'DROP TABLE c_$v;');
		});
	}
}

sub wait_run_done
{
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM migrate.runs WHERE state = 'running'})
	  or die 'the run never finished';
}

sub check_exact
{
	my ($from, $to, $what) = @_;
	my $n = $to - $from + 1;
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM migrate_status()
		WHERE version::int BETWEEN $from AND $to AND state = 'applied'}),
		$n, "$what: all applied");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM migrate.history
		WHERE version::int BETWEEN $from AND $to AND state = 'applied'}),
		$n, "$what: one applied history row each");
	my $rows = 0;
	$rows += $node->safe_psql('postgres', "SELECT count(*) FROM c_$_") for ($from .. $to);
	is($rows, $n, "$what: each migration's effects exist exactly once");
}

# kill -9 the worker mid-run
register_batch(1, 8);
$node->safe_psql('postgres', 'SELECT migrate_apply(wait => false)');
$node->poll_query_until('postgres',
	q{SELECT count(*) >= 3 FROM migrate.history WHERE state = 'applied'})
  or die 'no progress';
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate worker'});
ok($pid =~ /^\d+$/, 'found the worker');
kill 'KILL', $pid;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
wait_run_done();
ok($node->log_contains('resuming interrupted run'), 'the launcher resumed the run');
check_exact(1, 8, 'after kill -9');

# a multi-step migration killed between its steps resumes at the right one
$node->safe_psql('postgres', q{
	SELECT migrate_register('20', 'multi',
		'CREATE TABLE m20 (id int); INSERT INTO m20 SELECT generate_series(1, 1000);
		 CREATE INDEX CONCURRENTLY m20_idx ON m20 (id);
		 SELECT pg_sleep(2); INSERT INTO m20 VALUES (0);',
		'DROP TABLE m20;');
	SELECT migrate_apply(wait => false);
});
$node->poll_query_until('postgres',
	q{SELECT steps_done = 2 FROM migrate.history WHERE version = '20' ORDER BY id DESC LIMIT 1})
  or die 'multi-step migration made no progress';
$pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate worker'});
kill 'KILL', $pid;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
wait_run_done();
is($node->safe_psql('postgres', q{SELECT state, steps FROM migrate_status() WHERE version = '20'}),
	'applied|3/3', 'multi-step migration finished after the crash');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m20}), '1001',
	'earlier steps were not run twice');

# immediate shutdown mid-run, then a normal start
register_batch(30, 37);
$node->safe_psql('postgres', 'SELECT migrate_apply(wait => false)');
$node->poll_query_until('postgres',
	q{SELECT count(*) >= 2 FROM migrate.history WHERE version::int >= 30 AND state = 'applied'})
  or die 'no progress';
$node->stop('immediate');
$node->start;
wait_run_done();
check_exact(30, 37, 'after pg_ctl stop -m immediate');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate.history WHERE state <> 'applied'}),
	'0', 'no failed or dangling history rows');

$node->stop;
done_testing();

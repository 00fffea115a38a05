# Backfill crash safety: kill -9 of the backfill worker and immediate
# shutdowns in the middle of a job, several times; then the same with a
# job run by two workers at once.  After every crash the
# committed progress must match the table exactly (rows_done = rows that
# are right: no batch lost, none counted twice), the job resumes where it
# stopped, and it ends with every row right.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
# the test framework turns this off; a crash must restart the server here
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int);
	INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 200000) g;
	VACUUM ANALYZE t;
});

my $expr = 'v * 2';
my $job = $node->safe_psql('postgres', q{
	SET migrate.backfill_sleep_ms = 20;
	SET migrate.backfill_batch_ms = 20;
	SELECT migrate_backfill('t', 'w', 'v * 2');
});

# committed progress and the table agree exactly
sub check_exact
{
	my ($what) = @_;
	my $res = $node->safe_psql('postgres', qq{
		SELECT (SELECT rows_done FROM migrate_backfill_status($job))
		     = (SELECT count(*) FROM t WHERE w = $expr),
		       (SELECT count(*) FROM t WHERE w IS NOT NULL AND w <> $expr)});
	is($res, 't|0', "$what: rows_done equals the rows done, no row wrong");
}

my $last = 0;
sub wait_progress
{
	$node->poll_query_until('postgres', qq{
		SELECT rows_done > $last + 5000 FROM migrate_backfill_status($job)})
	  or die 'the backfill made no progress';
	$last = $node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)");
}

# kill -9 of worker $pid, then, after more progress, an immediate
# shutdown; the progress must be exact after each
sub crash_twice
{
	my ($pid, $killed, $stopped) = @_;
	kill 'KILL', $pid;
	# the server restarts after the crash: wait until the worker is gone
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid") or die 'no restart';
	check_exact($killed);

	wait_progress();
	$node->stop('immediate');
	$node->start;
	check_exact($stopped);
}

for my $round (1 .. 3)
{
	wait_progress();
	my $pid = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE application_name = 'migrate backfill'});
	ok($pid =~ /^\d+$/, "round $round: the backfill worker is visible in pg_stat_activity");
	crash_twice($pid, "kill -9 round $round", "immediate shutdown round $round");
	my $next = $node->safe_psql('postgres', "SELECT next_block > 0 OR pass > 1 FROM migrate.backfill_jobs WHERE id = $job");
	is($next, 't', "round $round: the walk position survived");
}

is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '120s')"), 'done', 'the job finishes after the crashes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w IS DISTINCT FROM v * 2'), '0', 'every row is right');
is($node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)"), '200000',
	'rows_done is exact: every row counted once');
check_exact('at the end');

# Two workers share the passes of one job, by block ranges.
$node->safe_psql('postgres', 'UPDATE t SET w = NULL');
$expr = 'v * 3';
$last = 0;
$job = $node->safe_psql('postgres', q{
	SET migrate.backfill_workers = 2;
	SET migrate.backfill_sleep_ms = 20;
	SET migrate.backfill_batch_ms = 20;
	-- slow enough that the crashes below land in the middle of the job
	SELECT migrate_backfill('t', 'w', 'v * 3', max_rows_per_second => 20000);
});
my $two = "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name = 'migrate backfill'";
for my $round (1 .. 2)
{
	wait_progress();
	# in round 2, after the crashes of round 1: both came back
	ok($node->poll_query_until('postgres', $two), "two workers, round $round: both run the job");
	my $pid = $node->safe_psql('postgres', q{
		SELECT min(pid) FROM pg_stat_activity WHERE application_name = 'migrate backfill'});
	crash_twice($pid, "two workers, kill -9 of one, round $round",
		"two workers, immediate shutdown round $round");
}
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '120s')"), 'done', 'the two-worker job finishes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w IS DISTINCT FROM v * 3'), '0', 'two workers: every row is right');
is($node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)"), '200000',
	'two workers: every row counted once');
ok($node->log_contains("backfill job $job on t.w runs as \\w+, pass \\d+, worker 2 of 2"),
	'the log names the second worker');

$node->stop;
done_testing();

# Pause, resume and cancel a running backfill, and privileges: a job runs as
# the role that submitted it, which needs UPDATE on the column and SELECT on
# what the expression reads; losing the right mid-job fails the job cleanly;
# another role cannot control it; the workers of a running job change; a
# busy server holds a job.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_control');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	SELECT migrate_grant('alice');
	SELECT migrate_grant('bob');
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int, x int);
	INSERT INTO t SELECT g, g, NULL, NULL FROM generate_series(1, 100000) g;
	CREATE TABLE secrets (k int, s int);
	GRANT SELECT ON t TO alice, bob;
	VACUUM ANALYZE t;
});

sub rows_done
{
	my ($job) = @_;
	return $node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)");
}

# --- privileges
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE alice; SELECT migrate_backfill('t', 'w', 'v * 2')});
like($err, qr/permission denied to backfill column "w" of table "t"/, 'no UPDATE right: refused at submit');
is($node->safe_psql('postgres', 'SELECT count(*) FROM migrate.backfill_jobs'), '0', 'and no job was created');

$node->safe_psql('postgres', 'GRANT UPDATE (w, x) ON t TO alice');
($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE alice; SELECT migrate_backfill('t', 'x', '(SELECT s FROM secrets WHERE k = id)')});
like($err, qr/permission denied for table secrets/, 'the expression runs with the submitter\'s privileges only');

my $job = $node->safe_psql('postgres', q{
	SET ROLE alice; SET migrate.backfill_sleep_ms = 100;
	SELECT migrate_backfill('t', 'w', 'v * 2', batch_size => 500)});
ok($node->poll_query_until('postgres', "SELECT rows_done > 0 FROM migrate_backfill_status($job)"),
	'the job makes progress');
# the worker logs in as the submitting role itself, whoever the caller's
# session user was (postgres here)
is($node->safe_psql('postgres', "SELECT submitted_by FROM migrate_backfill_status($job)"),
	'alice', 'the job runs as the submitting role');
# between batches pg_stat_activity says the worker is pausing, and how long
ok($node->poll_query_until('postgres', q{
	SELECT state = 'idle' AND query ~ ': t\.w pass 1, pausing 100 ms between batches$'
	FROM pg_stat_activity WHERE application_name = 'migrate backfill'}),
	'pg_stat_activity shows the pause between batches');

# --- another role cannot control it
($ret, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT migrate_backfill_pause($job)");
like($err, qr/permission denied to change backfill job $job/, 'another role cannot pause the job');

# --- pause and resume
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pause($job)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '10s')"), 'paused', 'paused');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'migrate backfill'}),
	'the paused job\'s worker leaves');
my $at_pause = rows_done($job);
sleep 1;
is(rows_done($job), $at_pause, 'no progress while paused');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_resume($job)");
ok($node->poll_query_until('postgres', "SELECT rows_done > $at_pause FROM migrate_backfill_status($job)"),
	'progress again after resume');

# --- a resume that lands while the paused worker is on its way out still
# gets a worker, however the two interleave
my $flip = $node->safe_psql('postgres', q{
	SET ROLE alice; SET migrate.backfill_sleep_ms = 5;
	SELECT migrate_backfill('t', 'x', 'v + 1', batch_size => 200)});
ok($node->poll_query_until('postgres', "SELECT rows_done > 0 FROM migrate_backfill_status($flip)"),
	'the job makes progress');
for (1 .. 40)
{
	# one session, two transactions 0-10 ms apart: the pause wakes the worker
	$node->safe_psql('postgres', "SET ROLE alice;\nSELECT migrate_backfill_pause($flip);\n"
		  . "SELECT pg_sleep(random() * 0.01);\nSELECT migrate_backfill_resume($flip);");
}
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($flip, '60s')"), 'done',
	'a job paused and resumed 40 times in quick succession finishes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE x IS DISTINCT FROM v + 1'), '0',
	'with every row right');

# --- losing the right mid-job fails the job with the error, no endless retry
$node->safe_psql('postgres', 'REVOKE UPDATE (w) ON t FROM alice');
ok($node->poll_query_until('postgres', "SELECT state = 'failed' FROM migrate_backfill_status($job)"),
	'the job fails');
like($node->safe_psql('postgres', "SELECT last_error FROM migrate_backfill_status($job)"),
	qr/42501: permission denied/, 'the job failed with the privilege error recorded');
($ret, $out, $err) = $node->psql('postgres', "SELECT migrate_backfill_wait($job)");
like($err, qr/backfill job $job failed: 42501/, 'wait reports the failure');

# --- resume after fixing the cause, then cancel
$node->safe_psql('postgres', 'GRANT UPDATE (w) ON t TO alice');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_resume($job)");
ok($node->poll_query_until('postgres', "SELECT state = 'running' FROM migrate_backfill_status($job)"),
	'the resumed job runs again');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_cancel($job)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '10s')"), 'cancelled', 'cancelled');
# the wait returned after the worker left: nothing changes from here on
is($node->safe_psql('postgres', "SELECT (SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = $job)
	+ (SELECT count(*) FROM migrate.backfill_batches WHERE job_id = $job)"),
	'0', 'a cancelled job keeps no ranges nor batch transactions');
my $at_cancel = rows_done($job);
ok($at_cancel > 0 && $at_cancel < 100000, 'a cancelled job keeps the batches it did');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w = v * 2'), $at_cancel,
	'and rows_done counts exactly those');

# --- a new job on the column is allowed after the cancel and finishes it
my $job2 = $node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill('t', 'w', 'v * 2')");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job2, '60s')"), 'done', 'a second job finishes');
is($node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job2)"), 100000 - $at_cancel,
	'it did only the rows left');

# --- the pace of a running job changes at once: its worker, asleep for an
# hour after its first batch, is woken and finishes
my $job3 = $node->safe_psql('postgres', q{
	SET ROLE alice; SET migrate.backfill_sleep_ms = 3600000;
	SELECT migrate_backfill('t', 'x', 'v * 3', batch_size => 1000)});
# (the first blocks may hold only the dead rows of the jobs above: batches,
# not rows_done)
ok($node->poll_query_until('postgres', "SELECT batches > 0 FROM migrate_backfill_status($job3)"),
	'the job writes its first batch');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT migrate_backfill_pace($job3, 0)");
like($err, qr/permission denied to change backfill job $job3/, 'another role cannot change the pace');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job3, sleep_ms => 0, max_rows_per_second => 50000)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job3, '60s')"), 'done',
	'a job paced at one batch an hour finishes once its pace is changed');
is($node->safe_psql('postgres', "SELECT sleep_ms, max_rows_per_second FROM migrate_backfill_status($job3)"),
	'0|50000', 'the status shows the new pace');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE x = v * 3'), '100000', 'every row is right');

# --- the number of workers of a running job changes: the rest of the pass
# is cut for them and one more starts at once; paced back, the one above
# the number leaves after its batch

# alice's one-worker job on a column, a batch every 100 ms, once it has
# done its first batch
sub slow_job
{
	my ($column, $expression) = @_;
	my $id = $node->safe_psql('postgres', qq{
		SET ROLE alice; SET migrate.backfill_sleep_ms = 100;
		SELECT migrate_backfill('t', '$column', '$expression', batch_size => 500)});
	ok($node->poll_query_until('postgres', "SELECT batches > 0 FROM migrate_backfill_status($id)"),
		'the job writes its first batch');
	return $id;
}

# until $n backfill workers run
sub workers_running
{
	my ($n) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = $n FROM pg_stat_activity WHERE application_name = 'migrate backfill'});
}

my $job5 = slow_job('x', 'v * 7');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job5, workers => 2)");
ok(workers_running(2),
	'paced to two workers, a second worker starts');
ok($node->poll_query_until('postgres', "SELECT count(*) > 1 FROM migrate.backfill_ranges WHERE job_id = $job5"),
	'the rest of the pass is cut into ranges');
# both walk their own ranges: each range's position moves
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) >= 2 FROM migrate.backfill_ranges
	WHERE job_id = $job5 AND next_block > start_block}),
	'and both workers walk them');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job5, workers => 1)");
ok(workers_running(1),
	'paced back to one, the second worker leaves');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job5, sleep_ms => 0)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job5, '60s')"), 'done', 'the job finishes');
is($node->safe_psql('postgres', "SELECT rows_done, workers FROM migrate_backfill_status($job5)"), '100000|1',
	'every row counted once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE x = v * 7'), '100000', 'and right');

# given two workers while paused, a job resumes with two, on a pass cut anew
$node->safe_psql('postgres', "SET lock_timeout = '5s'; ALTER TABLE t ADD COLUMN y int; GRANT UPDATE (y) ON t TO alice");
my $job6 = slow_job('y', 'v * 11');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pause($job6)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job6, '10s')"), 'paused', 'paused');
is($node->safe_psql('postgres', "SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = $job6"), '1',
	'a one-worker pass is one range');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job6, workers => 2)");
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_resume($job6)");
ok(workers_running(2),
	'resumed, the job runs with two workers again');
cmp_ok($node->safe_psql('postgres', "SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = $job6"),
	'>', 1, 'resumed with two workers, the rest of the pass is cut anew');
$node->safe_psql('postgres', "SET ROLE alice; SELECT migrate_backfill_pace($job6, sleep_ms => 0)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job6, '60s')"), 'done', 'that job finishes');
is($node->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job6)"), '100000',
	'every row counted once');

# --- a busy server holds the job: while more client sessions than
# migrate.backfill_max_active_sessions run a statement, no batch starts;
# sessions waiting in migrate_backfill_wait() do not count
$node->safe_psql('postgres', 'ALTER SYSTEM SET migrate.backfill_max_active_sessions = 1');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my @sleepers = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 2;
$_->query_until(qr/sleeping/, "\\echo sleeping\nSELECT pg_sleep(600);\n") for @sleepers;
my $job4 = $node->safe_psql('postgres', q{
	SET ROLE alice; SET migrate.backfill_sleep_ms = 0;
	SELECT migrate_backfill('t', 'w', 'v * 5')});
ok($node->poll_query_until('postgres', "SELECT held_reason ~ '^\\d+ active sessions exceed "
	  . "migrate\\.backfill_max_active_sessions \\(1\\)\$' FROM migrate_backfill_status($job4)"),
	'the job holds');
like($node->safe_psql('postgres', q{
	SELECT query FROM pg_stat_activity WHERE application_name = 'migrate backfill'}),
	qr/^migrate backfill $job4: holding, \d+ active sessions exceed/, 'pg_stat_activity says why it holds');
sleep 1;
is($node->safe_psql('postgres', "SELECT state, batches FROM migrate_backfill_status($job4)"), 'running|0',
	'a job held by the load stays running and starts no batch');
# two waiters at once: counted, they would be two active sessions
my $waiter = $node->background_psql('postgres');
$waiter->query_until(qr/waiting/, "\\echo waiting\nSELECT migrate_backfill_wait($job4, '60s');\n");
$node->safe_psql('postgres', q{
	SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'});
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job4, '60s')"), 'done',
	'the job goes on once the load is gone, sessions waiting for it not counted');
$waiter->quit;
$_->quit for @sleepers;
is($node->safe_psql('postgres', "SELECT held_reason IS NULL FROM migrate_backfill_status($job4)"), 't',
	'the hold reason is cleared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w = v * 5'), '100000', 'every row is right');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.backfill_max_active_sessions');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

# --- a cancel that lands while a batch runs: the cancel clears what no
# batch holds, the worker the range of its batch once that has committed,
# and the wait returns after that (the batches wait on an advisory lock the
# test holds, inside their expression)
$node->safe_psql('postgres', q{
	CREATE TABLE c (id int PRIMARY KEY, v int NOT NULL, w int);
	INSERT INTO c SELECT g, g FROM generate_series(1, 1000) g;
	VACUUM ANALYZE c;
	CREATE TABLE c2 (LIKE c); CREATE TABLE c3 (LIKE c); CREATE TABLE c4 (LIKE c);
	INSERT INTO c2 SELECT * FROM c; INSERT INTO c3 SELECT * FROM c; INSERT INTO c4 SELECT * FROM c});
$node->safe_psql('postgres', "ALTER SYSTEM SET migrate.backfill_lock_timeout = '60s'");
# one role may take every backfill worker here (046 tests the cap)
$node->safe_psql('postgres', "ALTER SYSTEM SET migrate.max_workers_per_role = 3");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');

sub held_job
{
	my ($table) = @_;
	return $node->safe_psql('postgres', qq{
		SET migrate.backfill_sleep_ms = 0;
		SELECT migrate_backfill('$table', 'w', 'v + (SELECT 0 FROM pg_advisory_xact_lock_shared(4242))')});
}

sub batches_waiting
{
	my ($n) = @_;
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = $n FROM pg_stat_activity
		WHERE application_name = 'migrate backfill' AND wait_event = 'advisory'}),
		"$n batches wait");
}
my $jobc = held_job('c');
batches_waiting(1);

# the other two backfill workers (migrate.max_workers = 4, one kept for
# runs) held too, on tables of their own, a fourth job waits for a worker:
# cancelled, it is not waited for
my @held = map { held_job("c$_") } 2 .. 3;
batches_waiting(3);
my $queued = held_job('c4');
$node->safe_psql('postgres', "SELECT migrate_backfill_cancel($queued)");
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($queued, '5s')"), 'cancelled',
	'a cancelled job that never got a worker is not waited for');

$node->safe_psql('postgres', "SELECT migrate_backfill_cancel($jobc)");
is($node->safe_psql('postgres', "SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = $jobc"), '1',
	'the cancel leaves the range its running batch holds (and does not wait for it)');
($ret, $out, $err) = $node->psql('postgres', "SELECT migrate_backfill_wait($jobc, '1s')");
like($err, qr/timed out waiting for backfill job $jobc/,
	'a cancelled job whose batch still runs is still waited for');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($jobc, '60s')"), 'cancelled',
	'the wait returns once the worker is gone');
is($node->safe_psql('postgres', "SELECT (SELECT count(*) FROM migrate.backfill_ranges WHERE job_id = $jobc),
	(SELECT count(*) FROM migrate.backfill_batches WHERE job_id = $jobc)"), '0|0',
	'the worker cleared its range and batch after its batch committed');
is(rows_done($jobc) . ' ' . $node->safe_psql('postgres', 'SELECT count(*) FROM c WHERE w = v'), '1000 1000',
	'the batch that ran past the cancel is counted');
is(join(' ', map { $node->safe_psql('postgres', "SELECT migrate_backfill_wait($_, '60s')") } @held),
	'done done', 'the jobs held with it finish');
is($node->safe_psql('postgres', 'SELECT count(*) FROM c4 WHERE w IS NULL'), '1000',
	'and the cancelled one never ran');
$holder->quit;
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.backfill_lock_timeout');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET migrate.max_workers_per_role');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

$node->stop;
done_testing();

# The lock-queue outage: a migration that needs ACCESS EXCLUSIVE waits
# behind a long reader, and every query of the application on the table
# queues behind the migration's lock request.  With the default schedule
# each attempt waits a short lock timeout (50 ms at first, growing with
# each retry), so the application's queries are never stalled for more
# than ~150 ms at a time, and the migration still completes once the
# reader is gone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('lockq');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE q (id int PRIMARY KEY);
	INSERT INTO q SELECT generate_series(1, 1000);
	SELECT migrate_register('1', 'add_q_note', 'ALTER TABLE q ADD COLUMN note text;',
		'ALTER TABLE q DROP COLUMN note;');
});

# A long reader holds ACCESS SHARE on q.
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM q');

# Nothing set: the defaults' schedule.
$node->safe_psql('postgres', 'SELECT migrate_apply(wait => false)');
ok($node->poll_query_until('postgres',
		q{SELECT retries > 0 FROM migrate.live() WHERE kind = 'run'}),
	'the migration waits behind the reader, retrying');

# Application probes, one every 20 ms, while the migration keeps trying for
# its lock: each is stalled at most by one attempt's lock timeout.
my $probe = $node->background_psql('postgres');
my $worst = 0;
my $end = time() + 4;
my $probes = 0;
while (time() < $end)
{
	my $t0 = time();
	$probe->query_safe('SELECT count(*) FROM q WHERE id = 1');
	my $took = time() - $t0;
	$worst = $took if $took > $worst;
	$probes++;
	Time::HiRes::sleep(0.02);
}
note sprintf('%d probes, slowest %.0f ms', $probes, $worst * 1000);
# 150 ms, plus slack for a loaded machine (the issue measured 962-1025 ms)
cmp_ok($worst * 1000, '<', 150 + 100,
	'no probe query stalled for longer than a short lock timeout behind the waiting migration');

my $retries = $node->safe_psql('postgres',
	q{SELECT retries FROM migrate.live() WHERE kind = 'run'});
cmp_ok($retries, '>', 0, 'the worker retried after lock timeouts');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status()}),
	'running', 'status shows the migration running meanwhile');
like($node->safe_psql('postgres', q{SELECT lock_wait FROM migrate_status()}),
	qr/^waiting for its lock for \d+\.\d s, lock_timeout now (\d+) ms$/,
	'status shows how long it has waited and the current lock timeout');
my $now = $node->safe_psql('postgres',
	q{SELECT lock_timeout FROM migrate.live() WHERE kind = 'run'});
cmp_ok($now, '>', 50, 'the lock timeout grew with the retries');
cmp_ok($now, '<=', 150, 'and is still short after 4 s behind the reader');
is($node->safe_psql('postgres', q{SELECT lock_schedule FROM migrate_status()}),
	'lock_timeout 50 ms growing 8% a retry up to 1 s, unlimited retries, for up to 600 s',
	'status shows the default schedule');
ok($node->log_contains(
		qr/migration 1 step 1 waits for its lock: lock_timeout 50 ms growing 8% a retry up to 1 s/),
	'the log shows the schedule');
ok($node->log_contains(
		qr/migration 1 step 1 could not get its lock within \d+ ms, retry \d+ in \d+ ms with lock_timeout \d+ ms \(\d+ ms of its 600000 ms lock wait budget spent\)/),
	'the log shows each retry');

# The reader ends: the migration completes.
$reader->query_safe('COMMIT');
$reader->quit;
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status()}),
	'applied', 'applied after the reader finished');
cmp_ok($node->safe_psql('postgres', q{SELECT retries FROM migrate_status()}),
	'>', 0, 'the retries are on record');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'q' AND column_name = 'note'}),
	'1', 'the column exists');

# A reader that never ends: retries run out, the migration fails cleanly.
$reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM q');
my ($rc, $out, $err) = $node->psql('postgres', q{
	SET migrate.lock_timeout = '50ms';
	SET migrate.lock_retries = 2;
	SELECT status, detail FROM migrate_rollback();
});
like($err, qr/ERROR:  migration \S+ failed: 55P03: canceling statement due to lock timeout/,
	'out of retries: failed with 55P03, and so does the call');
ok($node->log_contains(qr/migration 1 step 1 gives up waiting for its lock after 2 retries/),
	'the log says why it gave up');

# The schedule is the calling session's: a short budget with no retry
# limit gives up once the budget is spent.
($rc, $out, $err) = $node->psql('postgres', q{
	SET migrate.lock_timeout_initial = '20ms';
	SET migrate.lock_timeout = '40ms';
	SET migrate.lock_wait_budget = '500ms';
	SELECT status, detail FROM migrate_rollback();
});
like($err, qr/ERROR:  migration \S+ failed: 55P03: canceling statement due to lock timeout/,
	'budget spent: failed with 55P03');
is($node->safe_psql('postgres', q{SELECT lock_schedule FROM migrate_status()}),
	'lock_timeout 20 ms growing 8% a retry up to 40 ms, unlimited retries, for up to 500 ms',
	'status shows the schedule the caller set');
cmp_ok($node->safe_psql('postgres', q{SELECT retries FROM migrate_status()}),
	'>', 0, 'it retried until the budget was spent');
ok($node->log_contains(qr/migration 1 step 1 gives up waiting for its lock after \d+ retries in (\d+) ms/),
	'the log says it gave up');
$reader->query_safe('COMMIT');
$reader->quit;
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'q' AND column_name = 'note'}),
	'1', 'nothing was half done');
$probe->quit;

# A caller whose own transaction holds the lock fails fast instead of hanging.
($rc, $out, $err) = $node->psql('postgres', q{
	BEGIN;
	LOCK TABLE q IN ACCESS SHARE MODE;
	SELECT * FROM migrate_rollback();
	ROLLBACK;
}, timeout => 60);
like($err, qr/needs a lock that this transaction holds/, 'self-deadlock detected');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status()}),
	'failed', 'the stopped rollback changed nothing');

# pg_migrate up says that the migration waits for its lock, and how.
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE EXTENSION migrate;
	CREATE TABLE q2 (id int PRIMARY KEY);
});
my $dir = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$dir/1_add_note.up.sql" or die "$dir: $!";
print $fh "ALTER TABLE q2 ADD COLUMN note text;\n";
close $fh;
$reader = $node->background_psql('app');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM q2');
my ($up_out, $up_err) = ('', '');
my $up = IPC::Run::start(
	[ 'pg_migrate', '-d', $node->connstr('app'), '--dir', $dir, 'up' ],
	'>', \$up_out, '2>', \$up_err);
my $said = 0;
foreach (1 .. 600)
{
	$up->pump_nb;
	if ($up_out =~ /waiting for its lock/)
	{
		$said = 1;
		last;
	}
	Time::HiRes::usleep(100_000);
}
like($up_out,
	qr/^1 add_note: waiting for its lock behind other sessions, retrying \(lock_timeout 50 ms growing 8% a retry up to 1 s, unlimited retries, for up to 600 s\)$/m,
	'pg_migrate up says the migration waits for its lock, with the schedule');
$reader->query_safe('COMMIT');
$reader->quit;
$up->finish;
is($up->result(0), 0, 'pg_migrate up succeeds once the reader is gone');
like($up_out, qr/^1 add_note: applied in \d+ ms \(steps 1\/1, \d+ lock timeout retries\)$/m,
	'and says how many retries it took');

$node->stop;
done_testing();

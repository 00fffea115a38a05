# The lock-queue outage: a migration that needs ACCESS EXCLUSIVE waits
# behind a long reader.  With lock_timeout and retries the application's
# queries are never stalled for longer than the lock timeout, and the
# migration still completes once the reader is gone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
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

$node->safe_psql('postgres', q{
	SET migrate.lock_timeout = '100ms';
	SET migrate.lock_retries = 1000;
	SELECT migrate_apply(wait => false);
});

# Application probes while the migration keeps trying for its lock.
my $probe = $node->background_psql('postgres');
my $worst = 0;
my $end = time() + 4;
my $probes = 0;
while (time() < $end)
{
	my $t0 = time();
	$probe->query_safe('SELECT count(*) FROM q');
	my $took = time() - $t0;
	$worst = $took if $took > $worst;
	$probes++;
}
note sprintf('%d probes, slowest %.0f ms', $probes, $worst * 1000);
cmp_ok($worst, '<', 1.0,
	'no probe query stalled behind the waiting migration (lock_timeout is 100ms)');

my $retries = $node->safe_psql('postgres',
	q{SELECT retries FROM migrate.live() WHERE kind = 'run'});
cmp_ok($retries, '>', 0, 'the worker retried after lock timeouts');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status()}),
	'running', 'status shows the migration running meanwhile');

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

$node->stop;
done_testing();

# A backfill during a concurrent application workload (pgbench: UPDATEs of
# the source column and INSERTs of new rows on the same table): the
# application sees no error and no deadlock, and when the workload has
# stopped the backfill ends with every row right, including the rows the
# application changed or inserted behind the walk.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_pgbench');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nlog_lock_waits = on");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id serial PRIMARY KEY, v int NOT NULL, w int);
	INSERT INTO t (v) SELECT g FROM generate_series(1, 100000) g;
	VACUUM ANALYZE t;
});

# capped so that the job outlives the workload; the cap, not the default
# pause, paces it, so that batches meet the workload many times a second
my $job = $node->safe_psql('postgres', q{
	SET migrate.backfill_sleep_ms = 10;
	SELECT migrate_backfill('t', 'w', 'v * 2', max_rows_per_second => 12000)});

$node->pgbench(
	'--no-vacuum --client=4 --jobs=2 --time=4',
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'the application workload runs without any error',
	{
		'041_app' => q{
\set id random(1, 100000)
BEGIN;
UPDATE t SET v = v + 1 WHERE id = :id;
INSERT INTO t (v) VALUES (:id);
END;
}
	});

is($node->safe_psql('postgres', "SELECT state FROM migrate_backfill_status($job)"),
	'running', 'the backfill was still running when the workload stopped');
is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '120s')"), 'done', 'the backfill finishes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w IS DISTINCT FROM v * 2'), '0',
	'every row is right, those the application changed or inserted included');
ok($node->safe_psql('postgres', 'SELECT count(*) FROM t') > 100000, 'the application inserted rows');
is($node->safe_psql('postgres', "SELECT pass > 1 FROM migrate_backfill_status($job)"), 't',
	'later passes redid the rows changed behind the walk');

my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock');
unlike($log, qr/ERROR:(?!.*migrate)/, 'no application error in the server log');

$node->stop;
done_testing();

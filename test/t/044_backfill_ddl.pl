# DDL under a running backfill: the column dropped mid-job, then the table
# dropped mid-job.  Each job fails cleanly with the error recorded (no
# endless retry), and migrate_backfill_wait() reports it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_ddl');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int);
	INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 20000) g;
});

sub slow_job
{
	my $job = $node->safe_psql('postgres', q{
		SET migrate.backfill_sleep_ms = 200;
		SELECT migrate_backfill('t', 'w', 'v * 2', batch_size => 100)});
	$node->poll_query_until('postgres', "SELECT rows_done > 0 FROM migrate_backfill_status($job)")
	  or die 'no progress';
	return $job;
}

# the guard wants a lock timeout on DDL of a non-empty table; allow the drops
my $ddl = "SET lock_timeout = '5s'; SET migrate.allow = 'drop-column,drop-table';";

my $job = slow_job();
$node->safe_psql('postgres', "$ddl ALTER TABLE t DROP COLUMN w");
$node->poll_query_until('postgres', "SELECT state = 'failed' FROM migrate_backfill_status($job)")
  or die 'the job did not fail';
like($node->safe_psql('postgres', "SELECT last_error FROM migrate_backfill_status($job)"),
	qr/42703: .*column "w".*/, 'column dropped mid-job: the job failed with the error');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT migrate_backfill_wait($job)");
like($err, qr/backfill job $job failed/, 'wait reports it');

$node->safe_psql('postgres', "$ddl ALTER TABLE t ADD COLUMN w int");
$job = slow_job();
$node->safe_psql('postgres', "$ddl DROP TABLE t");
$node->poll_query_until('postgres', "SELECT state = 'failed' FROM migrate_backfill_status($job)")
  or die 'the job did not fail';
like($node->safe_psql('postgres', "SELECT last_error FROM migrate_backfill_status($job)"),
	qr/42P01: /, 'table dropped mid-job: the job failed with the error');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate backfill'"),
	'0', 'and its worker is gone');

$node->stop;
done_testing();

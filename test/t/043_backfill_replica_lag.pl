# A streaming standby whose replay is paused makes a backfill hold once the
# replay lag exceeds migrate.backfill_max_replica_lag; resuming the replay
# lets the job finish.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('bf_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nmigrate.backfill_max_replica_lag = 300ms\nwal_receiver_status_interval = 1s");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int);
	INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 100000) g;
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('bf_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my $job = $primary->safe_psql('postgres', q{
	SET migrate.backfill_sleep_ms = 50; SET migrate.backfill_batch_ms = 20;
	SELECT migrate_backfill('t', 'w', 'v * 2')});

ok($primary->poll_query_until('postgres',
	"SELECT held_reason LIKE 'replica replay lag%' FROM migrate_backfill_status($job)"),
	'the job holds while the standby does not replay');
like($primary->safe_psql('postgres', q{
	SELECT query FROM pg_stat_activity WHERE application_name = 'migrate backfill'}),
	qr/holding, replica replay lag/, 'pg_stat_activity says why');
my $held = $primary->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)");
sleep 2;
is($primary->safe_psql('postgres', "SELECT rows_done FROM migrate_backfill_status($job)"), $held,
	'no batch runs while holding');
isnt($held, '100000', 'the job had not finished');

$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
is($primary->safe_psql('postgres', "SELECT migrate_backfill_wait($job, '120s')"), 'done',
	'the job finishes once the standby replays again');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w IS DISTINCT FROM v * 2'), '0',
	'every row is right on the standby too');

$standby->stop;
$primary->stop;
done_testing();

# Backfill progress on a table with dead space (issue 17): after a
# full-table UPDATE and VACUUM the live rows sit in the first half of the
# table's blocks.  Extrapolating the rows done over the blocks walked
# doubled the total and halved the percent (the issue saw 671k rows for
# 300k, 32% shown at 72% done); percent and ETA now count the table's live
# rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_progress');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, w int) WITH (autovacuum_enabled = false);
	INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 100000) g;
	VACUUM t;
	-- the new versions go to the end, VACUUM frees the first half ...
	UPDATE t SET v = v + 1;
	VACUUM t;
	-- ... and the next ones fill it; the last row keeps the end in the table
	UPDATE t SET v = v + 1 WHERE id < 100000;
	VACUUM t;
});
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE (t.ctid::text::point)[0] < c.relpages / 2) > 99000
	FROM t, pg_class c WHERE c.oid = 't'::regclass}),
	't', 'the live rows are in the first half of the blocks, the rest is dead space');

my $job = $node->safe_psql('postgres', q{
	SET migrate.backfill_sleep_ms = 50;
	SELECT migrate_backfill('t', 'w', 'v', batch_size => 2000)});
ok($node->poll_query_until('postgres',
		"SELECT rows_done >= 25000 FROM migrate_backfill_status($job)"),
	'the backfill makes progress');
$node->safe_psql('postgres', "SELECT migrate_backfill_pause($job)");
ok($node->poll_query_until('postgres',
		"SELECT state = 'paused' FROM migrate_backfill_status($job)"),
	'paused in the middle of the walk');

my ($done, $real, $blocks) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT s.rows_done, (SELECT count(*) FROM t WHERE w IS NOT NULL),
	       round(100.0 * j.next_block / j.pass_end_block, 1)
	FROM migrate_backfill_status($job) s JOIN migrate.backfill_jobs j USING (id)});
is($done, $real, 'rows_done counts the rows written');
cmp_ok($done, '<', 90000, 'the walk is not over');
my $true_percent = 100.0 * $real / 100000;
cmp_ok($blocks, '<', $true_percent - 10, 'the walk is further in the rows than in the blocks');

my ($total, $percent) = split /\|/, $node->safe_psql('postgres',
	"SELECT rows_total_estimate, percent FROM migrate_backfill_status($job)");
note "rows done $done of 100000 live ($true_percent%), blocks walked $blocks%: shown $percent% of $total";
is($total, '100000', 'the total is the live rows, not the rows done extrapolated over the blocks');
cmp_ok(abs($percent - $true_percent), '<=', 1, 'the percent is the share of the live rows done');

$node->safe_psql('postgres', "SELECT migrate_backfill_resume($job)");
ok($node->poll_query_until('postgres',
		"SELECT state = 'done' FROM migrate_backfill_status($job)"),
	'the backfill finishes');
is($node->safe_psql('postgres',
		"SELECT rows_done || ' ' || rows_total_estimate || ' ' || percent FROM migrate_backfill_status($job)"),
	'100000 100000 100.0', 'done: every row, 100%');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE w IS DISTINCT FROM v'), '0',
	'every row holds the value');

$node->stop;
done_testing();

# The WAL a backfill writes: its batches compress their full-page images
# with lz4 while the server's wal_compression is off
# (migrate.backfill_wal_compression), leave a server setting alone, and
# write plain images when the setting is off.  Read back with pg_waldump.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('backfill_wal');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;

my ($ret) = $node->psql('postgres', 'SET wal_compression = lz4');
plan skip_all => 'PostgreSQL built without lz4' if $ret != 0;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, email text NOT NULL, norm text);
	INSERT INTO t SELECT g, 'User' || g || '@Example.COM', NULL FROM generate_series(1, 20000) g;
	VACUUM ANALYZE t;
});

# Backfills t.norm from a checkpoint on, so that every page the batches
# touch is written whole once; returns the methods of the full-page images
# of t in that stretch of WAL ("none" for an uncompressed one) and their
# counts.  (The job's own rows are written by other transactions too.)
sub backfill_images
{
	$node->safe_psql('postgres', 'UPDATE t SET norm = NULL');
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $start = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	my $job = $node->safe_psql('postgres', q{
		SET migrate.backfill_sleep_ms = 0;
		SELECT migrate_backfill('t', 'norm', 'lower(email)')});
	is($node->safe_psql('postgres', "SELECT migrate_backfill_wait($job)"), 'done', "job $job done");
	my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	my ($out, $err) = run_command([ 'pg_waldump', '-b', '-p', $node->data_dir . '/pg_wal',
		'-s', $start, '-e', $end ]);
	my $filenode = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t')");
	my %images;
	for my $line (split /\n/, $out)
	{
		next unless $line =~ m{rel \d+/\d+/$filenode fork main blk \d+ \(FPW};
		my ($method) = $line =~ /method: (\w+)/;
		$images{ $method // 'none' }++;
	}
	return \%images;
}

my $images = backfill_images();
ok(($images->{lz4} // 0) > 0, 'the batches write their page images compressed with lz4');
is($images->{none} // 0, 0, 'and none uncompressed');
is($node->safe_psql('postgres', 'SHOW wal_compression'), 'off', 'only the batches: the server setting stays off');

$node->safe_psql('postgres', 'ALTER SYSTEM SET wal_compression = pglz');
$node->reload;
$images = backfill_images();
ok(($images->{pglz} // 0) > 0, 'a server wal_compression is left as it is');
is($images->{lz4} // 0, 0, 'and not replaced by lz4');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET wal_compression');
$node->safe_psql('postgres', 'ALTER SYSTEM SET migrate.backfill_wal_compression = off');
$node->reload;
$images = backfill_images();
ok(($images->{none} // 0) > 0, 'migrate.backfill_wal_compression = off: the images are written whole');
is(($images->{lz4} // 0) + ($images->{pglz} // 0), 0, 'and none compressed');

is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE norm IS DISTINCT FROM lower(email)'),
	'0', 'every row right');

$node->stop;
done_testing();

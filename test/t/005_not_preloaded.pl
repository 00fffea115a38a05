# Without shared_preload_libraries the library refuses to load, with advice,
# rather than running without its workers and hooks.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION migrate');
isnt($rc, 0, 'CREATE EXTENSION fails');
like($err, qr/migrate must be loaded via shared_preload_libraries/, 'with a clear message');
like($err, qr/HINT:  Add migrate to shared_preload_libraries/, 'and a hint');
($rc, $out, $err) = $node->psql('postgres', q{LOAD 'migrate'});
like($err, qr/migrate must be loaded via shared_preload_libraries/, 'LOAD is refused too');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION migrate');
($rc, $out, $err) = $node->psql('postgres', 'SET migrate.lock_timout = 100');
like($err, qr/invalid configuration parameter name "migrate.lock_timout"/,
	'the migrate. prefix is reserved: a misspelt setting is an error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate launcher'}),
	'1', 'preloaded, the launcher runs');

$node->stop;
done_testing();

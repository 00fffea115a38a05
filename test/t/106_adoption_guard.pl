# The guard on day one of an adoption (issue 17): once the extension exists,
# the old tool's DDL meets the guard too.  pg_migrate lint over the existing
# folder says beforehand what would be refused; migrate.guard = warn lets a
# trial period log instead of refuse; a lock timeout is what the old tool's
# ADD COLUMN on a large table needs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('adoption_guard');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nmigrate.guard_min_size = '1MB'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE accounts AS SELECT g AS id, md5(g::text) AS email FROM generate_series(1, 60000) g;
	CREATE EXTENSION migrate});
my $c = $node->connstr('postgres');

# the team's folder, as golang-migrate left it: its next migration
my $dir = PostgreSQL::Test::Utils::tempdir;
append_to_file("$dir/1_index_email.up.sql", "CREATE INDEX accounts_email_idx ON accounts (email);\n");
append_to_file("$dir/2_add_flag.up.sql", "ALTER TABLE accounts ADD COLUMN flag int NOT NULL DEFAULT 0;\n");

command_checks_all([ 'pg_migrate', '-d', $c, '--dir', $dir, 'lint' ],
	1, [qr/1_index_email\.up\.sql:1: error create-index-blocking/], [qr/^$/],
	'lint over the existing folder names what the guard would refuse');

# the old tool runs the file as any client does: refused before the lock
my ($rc, $out, $err) = $node->psql('postgres', slurp_file("$dir/1_index_email.up.sql"));
isnt($rc, 0, 'the old tool\'s plain CREATE INDEX on a large table is refused');
like($err, qr/create-index-blocking: CREATE INDEX on large table public\.accounts/, 'naming the rule');
like($err, qr/HINT:  Build it without blocking writes, outside a transaction block: CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts \(email\)/,
	'with the statement to run instead');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE indexname = 'accounts_email_idx'}), '0',
	'and nothing was built');

# its ADD COLUMN with a constant default needs no rewrite, but without a
# lock timeout it could queue every query behind it
($rc, $out, $err) = $node->psql('postgres', slurp_file("$dir/2_add_flag.up.sql"));
like($err, qr/missing-lock-timeout: ALTER TABLE requests AccessExclusiveLock on large table public\.accounts with lock_timeout = 0/,
	'the old tool\'s ADD COLUMN without a lock timeout is refused');
($rc, $out, $err) = $node->psql('postgres', "SET lock_timeout = '2s';\n" . slurp_file("$dir/2_add_flag.up.sql"));
is($rc, 0, 'with a lock timeout (PGOPTIONS=-c lock_timeout=2s for the old tool) it runs');

# a trial period: warn logs what enforce would refuse
$node->append_conf('postgresql.conf', "migrate.guard = warn");
$node->reload;
($rc, $out, $err) = $node->psql('postgres', slurp_file("$dir/1_index_email.up.sql"));
is($rc, 0, 'with migrate.guard = warn the statement runs');
like($err, qr/WARNING:  create-index-blocking/, 'with a warning naming the rule');

$node->stop;
done_testing();

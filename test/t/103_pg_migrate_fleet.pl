# The same folder applied to several databases (-d repeated, --dsn-file,
# --all-databases, -j): each database's outcome independent, a summary
# table, non-zero exit if any failed.
use strict;
use warnings;
use Cwd qw(abs_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;

my $fixtures = abs_path('test/fixtures');
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = migrate_node('pg_migrate_fleet');
foreach my $db (qw(tenant1 tenant2 tenant3))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION migrate');
}
# tenant2 already has the table the first migration creates: it fails there
$node->safe_psql('tenant2', 'CREATE TABLE accounts (id int)');

my $history = q{SELECT coalesce(string_agg(version || ':' || state, ' ' ORDER BY string_to_array(version, '.')::numeric[]), 'none') FROM migrate_status()};

command_checks_all(
	[
		'pg_migrate', '-j', '2', '--dir', "$fixtures/golang-migrate",
		'-d', $node->connstr('tenant1'), '-d', $node->connstr('tenant2'), '-d', $node->connstr('tenant3'),
		'up'
	],
	1,
	[
		qr/== [^\n]*\/tenant2\n.*1 create_accounts: failed.*relation "accounts" already exists/s,
		qr/\/tenant1 +ok +0 .*\n[^\n]*\/tenant2 +FAILED +1 .*\n[^\n]*\/tenant3 +ok +0 .*\n1 of 3 databases failed/s
	],
	[qr/^$/],
	'three databases, one failing: its error, the summary, exit 1');
is($node->safe_psql('tenant1', $history), '1:applied 2:applied 3:applied 10:applied 11:applied',
	'tenant1 applied everything');
is($node->safe_psql('tenant2', $history), '1:failed 2:pending 3:pending 10:pending 11:pending',
	'tenant2 failed at its first migration and went no further');
is($node->safe_psql('tenant3', $history), '1:applied 2:applied 3:applied 10:applied 11:applied',
	'tenant3 applied everything, whatever happened to tenant2');

# --dsn-file: one conninfo a line, comments skipped; once tenant2 is fixed
# every database is up to date
$node->safe_psql('tenant2', 'DROP TABLE accounts');
open my $fh, '>', "$tmp/dsns" or die;
print $fh "# the tenants\n", $node->connstr('tenant1'), "\n\n", $node->connstr('tenant2'), "\n", $node->connstr('tenant3'), "\n";
close $fh;
command_like([ 'pg_migrate', '--dsn-file', "$tmp/dsns", '-j', '3', '--dir', "$fixtures/golang-migrate", 'up' ],
	qr/0 of 3 databases failed/, '--dsn-file: all three up to date');
is($node->safe_psql('tenant2', $history), '1:applied 2:applied 3:applied 10:applied 11:applied',
	'tenant2 resumed and applied everything');
command_ok([ 'pg_migrate', '--dsn-file', "$tmp/dsns", '--dir', "$fixtures/golang-migrate", 'status', '--exit-code' ],
	'status --exit-code over the fleet: 0');

# --all-databases: every database of the server that has the extension
# (postgres has not)
$node->safe_psql('tenant3', q{SELECT migrate_register('12', 'pending_one', 'CREATE TABLE p (id int);')});
command_checks_all(
	[ 'pg_migrate', '-d', $node->connstr('postgres'), '--all-databases', '--dir', "$fixtures/golang-migrate", 'status', '--exit-code' ],
	1,
	[ qr/^tenant1 +ok +0 .*\ntenant2 +ok +0 .*\ntenant3 +FAILED +3 .*\n1 of 3 databases failed$/m ],
	[qr/^$/],
	'--all-databases: the three tenants, not postgres; tenant3 has a pending migration (3)');

$node->stop;
done_testing();

# Living beside another tool (issue 17): Flyway's repeatable migrations
# (R__) run after the versioned ones and again only when their file
# changed.
use strict;
use warnings;
use Cwd qw(abs_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixtures = abs_path('test/fixtures');
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('pg_migrate_compat');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'\nmax_worker_processes = 16");
$node->start;

sub new_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION migrate');
	return $node->connstr($db);
}

sub query
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

# ---- Repeatable migrations: a Flyway folder with R__ files loads with no
# warning; they run after the versioned ones, in name order.
system("cp -r $fixtures/flyway-repeatable $tmp/rep") == 0 or die;
my $c = new_db('rep');
my $runs = q{SELECT string_agg(version || ':' || action || ':' || state, ' ' ORDER BY id) FROM migrate_history()};
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'up' ], 0,
	[qr/2 migrations and 2 repeatable in .*\(flyway\): 4 new.*1 base: applied.*2 seed: applied.*functions \(repeatable\): applied.*views \(repeatable\): applied/s],
	[qr/^$/], 'repeatable: up registers and applies the R__ files after the V files, no warning');
is(query('rep', $runs), '1:apply:applied 2:apply:applied functions:apply:applied views:apply:applied',
	'repeatable: each ran once, versioned first, then by name');
is(query('rep', q{SELECT r0_count() || ':' || (SELECT count(*) FROM r1)}), '1:1',
	'repeatable: the function and the view exist');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'status' ],
	qr/ views +\| views +\| applied .*\| t$/m, 'repeatable: status shows it applied, marked repeatable');

# Unchanged: nothing runs.
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'up' ],
	qr/0 new, 0 updated, 4 unchanged.*nothing to apply/s, 'repeatable: an unchanged folder runs nothing');
is(query('rep', q{SELECT count(*) FROM migrate.history WHERE version = 'views'}), '1',
	'repeatable: not run again');

# Changed: outdated, in the plan, run again by up; the other one is not.
write_file("$tmp/rep/R__views.sql", "CREATE OR REPLACE VIEW r1 AS SELECT id, label FROM r0;\n");
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'status' ],
	qr/ views +\| views +\| outdated /, 'repeatable: a changed file makes it outdated');
command_exit_is([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'status', '--exit-code' ], 3,
	'repeatable: outdated counts as pending for status --exit-code');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'plan' ],
	qr/^views views  .*R__views\.sql\n  step 1: transaction, 1 statement$/m,
	'repeatable: plan shows it');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'up' ],
	qr/1 updated, 3 unchanged.*views \(repeatable\): applied/s, 'repeatable: up runs it again');
is(query('rep', $runs),
	'1:apply:applied 2:apply:applied functions:apply:applied views:apply:applied views:apply:applied',
	'repeatable: only the changed one ran again');
is(query('rep', q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'r1'::regclass AND attnum > 0}),
	'id,label', 'repeatable: the view is the new one');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'up' ],
	qr/nothing to apply/, 'repeatable: and then nothing');
command_exit_is([ 'pg_migrate', '-d', $c, '--dir', "$tmp/rep", 'validate' ], 0,
	'repeatable: validate finds no drift');

$node->stop;
done_testing();

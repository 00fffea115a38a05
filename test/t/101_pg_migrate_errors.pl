# pg_migrate on bad input (each refused naming the file, nothing
# registered), a changed applied file, a failed migration printed as psql
# would, and every documented exit code.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;

my $fixtures = abs_path('test/fixtures');
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = PostgreSQL::Test::Cluster->new('pg_migrate_errors');
$node->init;
# a small table counts as large for the lint below
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'migrate'\nmax_worker_processes = 16\nmigrate.guard_min_size = '1MB'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION migrate');
my $c = $node->connstr('postgres');

sub registered
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM migrate.migrations');
}

# ---- bad folders: a message naming the file, exit 1, nothing registered
my @bad = (
	[ 'mixed', qr/mixes formats: golang-migrate and flyway \(".*V2__b\.sql"\)/ ],
	[ 'two-files', qr/two files for version 1: ".*01_b\.up\.sql" and ".*1_a\.up\.sql"|two files for version 0?1: ".*1_a\.up\.sql" and ".*01_b\.up\.sql"/ ],
	[ 'dbmate-down-marker', qr/20240101000000_indented_down\.sql": dbmate requires each migration to define a down block/ ],
	[ 'sqitch-missing-dep', qr/sqitch\.plan", line 4: change "widgets" requires "gadgets", which is not earlier in the plan/ ],
	[ 'goose-unbalanced', qr/00001_unbalanced\.sql": '-- \+goose StatementBegin' without StatementEnd/ ],
);
foreach my $b (@bad)
{
	my ($dir, $re) = @$b;
	command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/bad/$dir", 'up' ],
		1, [qr/^$/], [$re], "bad folder $dir: refused, naming the file");
}
make_path("$tmp/empty");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/empty", 'up' ],
	1, [qr/^$/], [qr/no migrations found in "\Q$tmp\E\/empty"/], 'an empty folder');

make_path("$tmp/latin1");
write_file("$tmp/latin1/1_a.up.sql", "CREATE TABLE a (id int);\n");
write_file("$tmp/latin1/2_b.up.sql", "-- caf\xe9\nCREATE TABLE b (id int);\n");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/latin1", 'up' ],
	1, [qr/^$/], [qr/2_b\.up\.sql" is not valid UTF-8 \(line 1, byte 7\)/], 'a non-UTF-8 file');

make_path("$tmp/unreadable");
write_file("$tmp/unreadable/1_a.up.sql", "CREATE TABLE a (id int);\n");
write_file("$tmp/unreadable/2_b.up.sql", "CREATE TABLE b (id int);\n");
chmod 0000, "$tmp/unreadable/2_b.up.sql";
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/unreadable", 'up' ],
	1, [qr/^$/], [qr/could not open ".*2_b\.up\.sql": Permission denied/], 'an unreadable file');

# a symlink loop in a Flyway location (read recursively)
make_path("$tmp/loop/sub");
write_file("$tmp/loop/V1__a.sql", "CREATE TABLE a (id int);\n");
symlink("$tmp/loop", "$tmp/loop/sub/back") or die;
command_checks_all([ 'pg_migrate', '-d', $c, '--format', 'flyway', '--dir', "$tmp/loop", 'up' ],
	1, [qr/^$/], [qr/directory ".*sub\/back" leads back to a directory already read \(a symlink loop\)/],
	'a symlink loop');

# a file over migrate.max_script_size: the server refuses it, the file is named
$node->safe_psql('postgres', q{CREATE DATABASE small; ALTER DATABASE small SET migrate.max_script_size = '1kB'});
$node->safe_psql('small', 'CREATE EXTENSION migrate');
make_path("$tmp/large");
write_file("$tmp/large/1_a.up.sql", "CREATE TABLE a (id int);\n");
write_file("$tmp/large/2_b.up.sql", "CREATE TABLE b (id int);\n" . ("-- padding\n" x 200));
command_checks_all([ 'pg_migrate', '-d', $node->connstr('small'), '--dir', "$tmp/large", 'up' ],
	1, [qr/^$/], [qr/could not register ".*2_b\.up\.sql" \(version 2\)\nERROR:  .*too large.*nothing was registered/s],
	'a file over migrate.max_script_size');
is($node->safe_psql('small', 'SELECT count(*) FROM migrate.migrations'), '0', 'nothing registered there either');

# a syntax error the server finds: the file is named, and nothing is registered
make_path("$tmp/syntax");
write_file("$tmp/syntax/1_a.up.sql", "CREATE TABLE a (id int);\n");
write_file("$tmp/syntax/2_b.up.sql", "CREATE TABLE b (id int;\n");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/syntax", 'up' ],
	1, [qr/^$/], [qr/could not register ".*2_b\.up\.sql" \(version 2\).*syntax error.*nothing was registered/s],
	'a syntax error: the file is named');
is(registered(), '0', 'no bad folder registered anything');

# ---- a changed applied file: refused with both checksums, nothing registered
make_path("$tmp/app");
copy("$fixtures/golang-migrate/$_", "$tmp/app/$_") or die
  foreach qw(1_create_accounts.up.sql 1_create_accounts.down.sql 2_index_accounts_email.up.sql);
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'up' ], 'the first deploy');
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'status', '--exit-code' ],
	0, [qr/applied/], [qr/^$/], 'status --exit-code: 0 when up to date');

write_file("$tmp/app/3_new.up.sql", "CREATE TABLE newer (id int);\n");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'status', '--exit-code' ],
	3, [qr/not registered/], [qr/^$/], 'status --exit-code: 3 when a migration is pending');

write_file("$tmp/app/1_create_accounts.up.sql",
	"CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, extra int);\n");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'up' ],
	1, [qr/^$/],
	[qr/could not register ".*1_create_accounts\.up\.sql" \(version 1\)\nERROR:  cannot change migration 1: it has been applied\nDETAIL:  The registered up script has checksum [0-9a-f]{64}; the new one has [0-9a-f]{64}\..*nothing was registered/s],
	'a changed applied file is refused, naming the file and both checksums');
is($node->safe_psql('postgres', q{SELECT count(*) FROM migrate.migrations WHERE version = '3'}), '0',
	'the new migration beside it was not registered either');
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'status', '--exit-code' ],
	5, [qr/changed since applied/], [qr/^$/], 'status --exit-code: 5 on drift');
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'validate' ],
	5, [qr/1 create_accounts: ".*1_create_accounts\.up\.sql" changed since it was applied \(applied checksum [0-9a-f]{64}, the file's [0-9a-f]{64}\)/],
	[qr/^$/], 'validate names the changed file and both checksums');
copy("$fixtures/golang-migrate/1_create_accounts.up.sql", "$tmp/app/1_create_accounts.up.sql") or die;

# ---- a failed migration: the server's error as psql prints it, with the
# file and line; exit 1; status --exit-code 4
write_file("$tmp/app/3_new.up.sql",
	"CREATE TABLE dup (name text);\nINSERT INTO dup VALUES ('x'), ('x');\nCREATE UNIQUE INDEX dup_name_key ON dup (name);\n");
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'up' ],
	1, [qr/3 new: failed/],
	[qr/3_new\.up\.sql:3: ERROR:  23505: could not create unique index "dup_name_key"\nDETAIL:  Key \(name\)=\(x\) is duplicated\./],
	'a failed migration: SQLSTATE, message, detail, file and line');
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'status', '--exit-code' ],
	4, [qr/failed/], [qr/^$/], 'status --exit-code: 4 when a migration failed');
write_file("$tmp/app/3_new.up.sql", "CREATE TABLE dup (name text);\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/app", 'up' ],
	'fixed under the same version, up applies it');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status() WHERE version = '3'}), 'applied',
	'the fixed migration is applied');

# ---- a deploying role granted migrate_grant() gets the whole error of the
# run it requested (migrate_history() shows it the detail)
$node->safe_psql('postgres', q{CREATE ROLE deployer LOGIN; SELECT migrate_grant('deployer'); GRANT CREATE ON SCHEMA public TO deployer});
write_file("$tmp/app/4_dup2.up.sql",
	"CREATE TABLE dup2 (name text);\nINSERT INTO dup2 VALUES ('x'), ('x');\nCREATE UNIQUE INDEX dup2_name_key ON dup2 (name);\n");
command_checks_all([ 'pg_migrate', '-d', $c, '-U', 'deployer', '--dir', "$tmp/app", 'up' ],
	1, [qr/4 dup2: failed/],
	[qr/4_dup2\.up\.sql:3: ERROR:  23505: could not create unique index "dup2_name_key"\nDETAIL:  Key \(name\)=\(x\) is duplicated\.\nCONTEXT:  statement 3 of migration 4/],
	'a deploying role: the failed migration\'s error with its detail and line');
unlink "$tmp/app/4_dup2.up.sql";
$node->safe_psql('postgres', q{SELECT migrate_resolve('4', 'rolled_back')});

# ---- lint: non-zero on error findings, text and JSON
$node->safe_psql('postgres', q{CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 100000) g});
write_file("$tmp/lint.sql", "CREATE INDEX big_id_idx ON big (id);\n");
command_checks_all([ 'pg_migrate', '-d', $c, 'lint', "$tmp/lint.sql" ],
	1, [qr/lint\.sql:1: error create-index-blocking/], [qr/^$/], 'lint: an error finding exits 1');
command_checks_all([ 'pg_migrate', '-d', $c, 'lint', '--json', "$tmp/lint.sql" ],
	1, [qr/^\[\{.*"rule": "create-index-blocking"/], [qr/^$/], 'lint --json');
write_file("$tmp/lint.sql", "CREATE INDEX CONCURRENTLY big_id_idx ON big (id);\n");
command_ok([ 'pg_migrate', '-d', $c, 'lint', "$tmp/lint.sql" ], 'lint: a clean file exits 0');

# lint of a folder: what up would run, not what is applied (the applied
# index on big2 would be flagged now that big2 is large)
make_path("$tmp/lintdir");
write_file("$tmp/lintdir/1_idx.up.sql", "CREATE INDEX big2_a_idx ON big2 (id);\n");
$node->safe_psql('postgres', q{CREATE DATABASE lintdb});
$node->safe_psql('lintdb', q{CREATE EXTENSION migrate; CREATE TABLE big2 (id int)});
my $cl = $node->connstr('lintdb');
command_ok([ 'pg_migrate', '-d', $cl, '--dir', "$tmp/lintdir", 'up' ], 'lint folder: the first index, on a small table');
$node->safe_psql('lintdb', q{INSERT INTO big2 SELECT g FROM generate_series(1, 100000) g});
write_file("$tmp/lintdir/2_idx.up.sql", "CREATE INDEX big2_b_idx ON big2 (id);\n");
command_checks_all([ 'pg_migrate', '-d', $cl, '--dir', "$tmp/lintdir", 'lint' ],
	1, [qr/\A[^\n]*2_idx\.up\.sql:1: error create-index-blocking[^\n]*\n  hint: [^\n]*\n\z/], [qr/^$/],
	'lint of the folder: only the pending migration, exit 1');

# ---- usage errors exit 2
command_checks_all([ 'pg_migrate', 'frobnicate' ], 2, [qr/^$/], [qr/unknown command "frobnicate"/],
	'an unknown command exits 2');
command_checks_all([ 'pg_migrate', '--format', 'liquibase', 'up' ], 2, [qr/^$/],
	[qr/unknown format "liquibase"/], 'an unknown format exits 2');

$node->stop;
done_testing();

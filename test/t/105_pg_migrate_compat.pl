# Living beside another tool (issue 17): Flyway's repeatable migrations
# (R__) run after the versioned ones and again only when their file
# changed; pg_migrate up --compat-history keeps the folder's tool's own
# history table exact, checked by reading it back as that tool does (with
# the tool itself, dbmate and node-pg-migrate, where test/setup.sh could
# install it).
use strict;
use warnings;
use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;

my $fixtures = abs_path('test/fixtures');
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = migrate_node('pg_migrate_compat');

sub query
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

# ---- Repeatable migrations: a Flyway folder with R__ files loads with no
# warning; they run after the versioned ones, in name order.
system("cp -r $fixtures/flyway-repeatable $tmp/rep") == 0 or die;
my $c = new_db($node, 'rep');
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
	qr/^views \(repeatable\)  .*R__views\.sql\n  step 1: transaction, 1 statement$/m,
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

# ---- Keeping the old tool's history table.
my $tools = ($ENV{MIGRATE_TEST_TOOLS} // '/usr/local/lib/migrate-test-tools') . '/node_modules/.bin';
my $user = query('postgres', 'SELECT current_user');

# The URL the tools connect with: the node's socket directory and port.
sub url
{
	my ($db) = @_;
	return sprintf('postgres://%s@localhost:%d/%s?host=%s&socket=%s&sslmode=disable',
		$user, $node->port, $db, $node->host, $node->host);
}

sub slurp_raw
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $t = <$fh>;
	close $fh;
	return $t;
}

# What Flyway's validate and info would say: each V file's latest row a
# successful apply with its checksum (an undo row in between undid it),
# each R file's latest row carrying its checksum.
sub flyway_pending
{
	my ($db, $dir) = @_;
	my @problems;
	my %rows;
	foreach my $line (split /\n/, query($db,
		q{SELECT coalesce(version, ''), description, script, checksum, success, type FROM flyway_schema_history ORDER BY installed_rank}))
	{
		my ($v, $d, $script, $sum, $ok, $type) = split /\|/, $line;
		$rows{$v eq '' ? "R:$d" : "V:$v"} = [ $script, $sum, $ok, $type ];
	}
	foreach my $path (split /\n/, `cd $dir && find . -name '[VR]*__*.sql' | sed 's|^\./||' | sort`)
	{
		my ($kind, $ver, $desc) = $path =~ m{(?:^|/)([VR])([^_]*(?:_[^_]+)*?)__(.*)\.sql$} or next;
		$ver =~ s/_/./g;
		$desc =~ s/_/ /g;
		my $key = $kind eq 'V' ? "V:$ver" : "R:$desc";
		my $row = $rows{$key};
		if (!$row || $row->[3] ne 'SQL') { push @problems, "$path: pending"; next; }
		push @problems, "$path: failed" if $row->[2] ne 't';
		push @problems, "$path: script $row->[0]" if $row->[0] ne $path;
		push @problems, "$path: checksum $row->[1], the file's " . flyway_crc("$dir/$path")
		  if $row->[1] != flyway_crc("$dir/$path");
	}
	return join('; ', @problems);
}

# -- Flyway: --compat-history creates flyway_schema_history as Flyway does
# and writes a row per apply, a repeatable one again when it changed.
system("cp -r $fixtures/flyway $tmp/fw && cp $fixtures/flyway-repeatable/R__views.sql $tmp/fw/") == 0 or die;
write_file("$tmp/fw/R__views.sql", "CREATE OR REPLACE VIEW books_v\r\nAS SELECT 1 AS one;\r\n");
$c = new_db($node, 'fw');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", '--compat-history', 'up' ],
	qr/keeping flyway_schema_history as flyway writes it.*views \(repeatable\): applied/s,
	'Flyway: up --compat-history');
is(query('fw', q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', installed_rank, coalesce(version, '-'), description, type, script, installed_by), ' ' ORDER BY installed_rank) FROM flyway_schema_history}),
	"1|1|create books|SQL|V1__create_books.sql|$user 2|1.1|add books isbn|SQL|V1_1__add_books_isbn.sql|$user 3|2|index books title|SQL|V2__index_books_title.sql|$user 4|3|seed books|SQL|sub/V3__seed_books.sql|$user 5|-|views|SQL|R__views.sql|$user",
	'Flyway: ranks, versions, descriptions, scripts (the subfolder\'s too) as Flyway writes them');
is(flyway_pending('fw', "$tmp/fw"), '', 'Flyway: read as Flyway validates, nothing pending, every checksum its CRC-32');
is(query('fw', q{SELECT count(*) FROM flyway_schema_history WHERE success AND execution_time >= 0 AND installed_on <= now()::timestamp}),
	'5', 'Flyway: success, execution time and installed_on set');
is(query('fw', q{SELECT count(*) FROM pg_indexes WHERE indexname IN ('flyway_schema_history_pk', 'flyway_schema_history_s_idx')}),
	'2', 'Flyway: the table has Flyway\'s key and index');
write_file("$tmp/fw/R__views.sql", "CREATE OR REPLACE VIEW books_v AS SELECT 1 AS one, 2 AS two;\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'up' ], 'Flyway: up after R__views.sql changed, kept by default now');
is(query('fw', q{SELECT count(*) || ':' || max(installed_rank) FROM flyway_schema_history WHERE description = 'views'}),
	'2:6', 'Flyway: the repeatable\'s new apply is a new row, as Flyway writes it');
is(flyway_pending('fw', "$tmp/fw"), '', 'Flyway: and Flyway sees nothing pending');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'up' ], 'Flyway: up with nothing to do');
is(query('fw', q{SELECT count(*) FROM flyway_schema_history}), '6', 'Flyway: writes nothing twice');
# a rollback through a U file is an undo row; the apply after it a new row
write_file("$tmp/fw/sub/U3__seed_books.sql", "DELETE FROM books;\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'down' ], 'Flyway: down through U3');
is(query('fw', q{SELECT installed_rank || ':' || version || ':' || type || ':' || script || ':' || checksum FROM flyway_schema_history ORDER BY installed_rank DESC LIMIT 1}),
	'7:3:UNDO_SQL:sub/U3__seed_books.sql:' . flyway_crc("$tmp/fw/sub/U3__seed_books.sql"),
	'Flyway: an UNDO_SQL row, as Flyway\'s undo writes it');
is(flyway_pending('fw', "$tmp/fw"), 'sub/V3__seed_books.sql: pending', 'Flyway: which Flyway reads as 3 pending');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'up' ], 'Flyway: up again');
is(query('fw', q{SELECT installed_rank || ':' || version || ':' || type FROM flyway_schema_history ORDER BY installed_rank DESC LIMIT 1}),
	'8:3:SQL', 'Flyway: the apply after the undo is a row of its own');
is(flyway_pending('fw', "$tmp/fw"), '', 'Flyway: nothing pending again');

# -- Adopting a database Flyway made (1 and the repeatable applied, the
# non-transactional 1.1 failed): import, then up; the table goes on as
# Flyway would have written it after a repair and a migrate.
$c = new_db($node, 'fwa');
query('fwa', slurp_raw("$tmp/fw/V1__create_books.sql"));
write_file("$tmp/fw/R__views.sql", "CREATE OR REPLACE VIEW books_v AS SELECT 1 AS one, 2 AS two;\n");
query('fwa', slurp_raw("$tmp/fw/R__views.sql"));
query('fwa', q{
CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL, "version" VARCHAR(50), "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL, "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");}
	. sprintf(q{
INSERT INTO "public"."flyway_schema_history" VALUES
    (1, '1', 'create books', 'SQL', 'V1__create_books.sql', %d, 'flyway_deployer', '2024-03-01 09:00:00', 21, true),
    (2, NULL, 'views', 'SQL', 'R__views.sql', %d, 'flyway_deployer', '2024-03-01 09:00:01', 3, true),
    (3, '1.1', 'add books isbn', 'SQL', 'V1_1__add_books_isbn.sql', %d, 'flyway_deployer', '2024-03-02 09:00:00', 8, false);},
	flyway_crc("$tmp/fw/V1__create_books.sql"), flyway_crc("$tmp/fw/R__views.sql"),
	flyway_crc("$tmp/fw/V1_1__add_books_isbn.sql")));
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'import' ], 'Flyway adoption: import');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fw", 'up' ], 'Flyway adoption: up');
is(query('fwa', q{SELECT string_agg(installed_rank || ':' || coalesce(version, description) || ':' || success, ' ' ORDER BY installed_rank) FROM flyway_schema_history}),
	'1:1:true 2:views:true 3:1.1:true 4:2:true 5:3:true',
	'Flyway adoption: the failed row is gone and the rest appended, as after flyway repair and migrate; the unchanged repeatable gets no new row');
is(flyway_pending('fwa', "$tmp/fw"), '', 'Flyway adoption: Flyway sees nothing pending');

# -- golang-migrate: its schema_migrations exists (golang-migrate made it):
# kept by default, one row; a migration that alters the table works; a
# failed migration leaves its version dirty, as golang-migrate does.
system("cp -r $fixtures/golang-migrate $tmp/gm") == 0 or die;
$c = new_db($node, 'gm');
query('gm', q{CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)});
write_file("$tmp/gm/12_note_on_versions.up.sql", "ALTER TABLE schema_migrations ADD COLUMN note text;\n");
write_file("$tmp/gm/12_note_on_versions.down.sql", "ALTER TABLE schema_migrations DROP COLUMN note;\n");
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/gm", 'up' ],
	qr/keeping schema_migrations as golang-migrate writes it.*12 note_on_versions: applied/s,
	'golang-migrate: up keeps the existing table by default; a migration altering it works');
# golang-migrate reads: SELECT version, dirty FROM schema_migrations LIMIT 1
is(query('gm', q{SELECT count(*) || ':' || min(version) || ':' || bool_or(dirty) FROM schema_migrations}),
	'1:12:false', 'golang-migrate: one row, version 12, clean');
write_file("$tmp/gm/13_broken.up.sql", "SELECT 1/0;\n");
write_file("$tmp/gm/13_broken.down.sql", "SELECT 1;\n");
command_exit_is([ 'pg_migrate', '-d', $c, '--dir', "$tmp/gm", 'up' ], 1, 'golang-migrate: a failing migration');
is(query('gm', q{SELECT version || ':' || dirty FROM schema_migrations}), '13:true',
	'golang-migrate: its version is dirty, as golang-migrate leaves it');
write_file("$tmp/gm/13_broken.up.sql", "SELECT 1;\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/gm", 'up' ], 'golang-migrate: fixed and applied');
is(query('gm', q{SELECT version || ':' || dirty FROM schema_migrations}), '13:false', 'golang-migrate: clean again');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/gm", 'down', '2' ], 'golang-migrate: down 2');
is(query('gm', q{SELECT version || ':' || dirty FROM schema_migrations}), '11:false',
	'golang-migrate: the version goes down with the rollback');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/gm", '--no-compat-history', 'up' ], 'golang-migrate: up --no-compat-history');
is(query('gm', q{SELECT version || ':' || dirty FROM schema_migrations}), '11:false',
	'golang-migrate: --no-compat-history leaves the table alone');

# -- Adopting a database golang-migrate left at version 3: import, then up
# moves its one row on to the last version.
$c = new_db($node, 'gma');
query('gma', slurp_raw("$fixtures/golang-migrate/$_")) for ('1_create_accounts.up.sql', '2_index_accounts_email.up.sql', '3_seed_accounts.up.sql');
query('gma', q{CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (3, false)});
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'import' ], 'golang-migrate adoption: import');
is(query('gma', q{SELECT version || ':' || dirty FROM schema_migrations}), '3:false',
	'golang-migrate adoption: import leaves its table as it was');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'up' ], 'golang-migrate adoption: up');
is(query('gma', q{SELECT count(*) || ':' || min(version) || ':' || bool_or(dirty) FROM schema_migrations}), '1:11:false',
	'golang-migrate adoption: one row, at the last version');

# -- dbmate: its table exists; a migration GRANTs on it; dbmate itself
# then finds nothing pending.
system("cp -r $fixtures/dbmate $tmp/dm") == 0 or die;
$c = new_db($node, 'dm');
query('dm', q{CREATE ROLE dbmate_reader; CREATE TABLE IF NOT EXISTS public.schema_migrations (version varchar(128) PRIMARY KEY)});
write_file("$tmp/dm/20240104000000_grant_versions.sql",
	"-- migrate:up\nGRANT SELECT ON schema_migrations TO dbmate_reader;\n\n-- migrate:down\nREVOKE SELECT ON schema_migrations FROM dbmate_reader;\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/dm", 'up' ], 'dbmate: up, a migration granting on its table');
is(query('dm', q{SELECT string_agg(version, ' ' ORDER BY version) FROM schema_migrations}),
	'20240101000000 20240102000000 20240103000000 20240104000000', 'dbmate: a row per applied version');
is(query('dm', q{SELECT has_table_privilege('dbmate_reader', 'schema_migrations', 'SELECT')}), 't',
	'dbmate: the grant on its table took');
SKIP:
{
	skip "dbmate is not installed in $tools (test/setup.sh installs it with npm)", 2 unless -x "$tools/dbmate";
	command_like([ "$tools/dbmate", '--url', url('dm'), '--migrations-dir', "$tmp/dm", '--no-dump-schema', 'status' ],
		qr/Applied: 4\s+Pending: 0/, 'dbmate status: everything applied, nothing pending');
}
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/dm", 'down' ], 'dbmate: down');
is(query('dm', q{SELECT count(*) FROM schema_migrations WHERE version = '20240104000000'}), '0',
	'dbmate: the rolled back version\'s row is gone, as dbmate rollback removes it');

# -- Prisma: --compat-history; Prisma's status reads each directory's row,
# finished, not rolled back, with the sha256 of its migration.sql.
$c = new_db($node, 'pr');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/prisma/prisma/migrations", '--compat-history', 'up' ],
	'Prisma: up --compat-history');
my @prisma = map { m{/([^/]+)/migration\.sql$}; "$1:" . sha256_hex(slurp_raw($_)) }
  sort glob("$fixtures/prisma/prisma/migrations/*/migration.sql");
is(query('pr', q{SELECT string_agg(migration_name || ':' || checksum, ' ' ORDER BY started_at, migration_name) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL AND applied_steps_count = 1 AND logs IS NULL AND finished_at >= started_at AND id ~ '^[0-9a-f-]{36}$'}),
	join(' ', @prisma), 'Prisma: each directory finished once with its sha256, as prisma migrate status reads it');

# -- goose: --compat-history creates goose_db_version with its version 0
# row; a row per applied version (up stops at the .go migration).
$c = new_db($node, 'gs');
command_exit_is([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/goose", '--compat-history', 'up' ], 1,
	'goose: up --compat-history stops at the .go migration');
# goose reads: SELECT version_id, is_applied FROM goose_db_version ORDER BY id DESC
is(query('gs', q{SELECT string_agg(version_id || ':' || is_applied, ' ' ORDER BY id) FROM goose_db_version}),
	'0:true 1:true 2:true', 'goose: version 0 then each applied version');

# -- node-pg-migrate: pgmigrations exists; node-pg-migrate itself then has
# nothing to run.
$c = new_db($node, 'np');
query('np', q{CREATE TABLE pgmigrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)});
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/node-pg-migrate", 'up' ], 'node-pg-migrate: up');
is(query('np', q{SELECT string_agg(name, ' ' ORDER BY id) FROM pgmigrations WHERE run_on <= now()::timestamp}),
	'1700000000000_create-tags 1700000000001_seed-tags', 'node-pg-migrate: a row per file, named as it names them');
SKIP:
{
	skip "node-pg-migrate is not installed in $tools (test/setup.sh installs it with npm)", 2 unless -x "$tools/node-pg-migrate";
	local $ENV{DATABASE_URL} = sprintf('postgresql://%s@localhost:%d/np?host=%s', $user, $node->port, $node->host);
	command_like([ "$tools/node-pg-migrate", 'up', '-m', "$fixtures/node-pg-migrate", '--no-verbose' ],
		qr/No migrations to run!/, 'node-pg-migrate up: nothing to run');
}

# -- sqitch: not kept, and --compat-history says so.
$c = new_db($node, 'sq');
command_checks_all([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/sqitch", '--compat-history', 'up' ], 1,
	[qr/^$/], [qr/--compat-history does not keep sqitch's registry/], 'sqitch: --compat-history refused, saying why');

$node->stop;
done_testing();

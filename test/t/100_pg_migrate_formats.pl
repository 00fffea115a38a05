# pg_migrate over a folder of each format it reads (test/fixtures/<format>),
# each with its tool's quirks: the resulting schema and history are checked,
# not only the exit code.
use strict;
use warnings;
use Cwd qw(abs_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;

my $fixtures = abs_path('test/fixtures');

my $node = migrate_node('pg_migrate_formats');

# One database per format, each with the extension.
sub query
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

my $history = q{SELECT string_agg(version || ':' || state, ' ' ORDER BY string_to_array(version, '.')::numeric[]) FROM migrate_status()};

command_like([ 'pg_migrate', '--version' ], qr/^pg_migrate \(migrate\) \d+\.\d+$/, '--version');
command_like([ 'pg_migrate', '--help' ], qr/Usage:.*--exit-code/s, '--help');

# The extension check names CREATE EXTENSION and shared_preload_libraries.
$node->safe_psql('postgres', 'CREATE DATABASE bare');
command_fails_like([ 'pg_migrate', '-d', $node->connstr('bare'), 'status' ],
	qr/not installed in database "bare".*CREATE EXTENSION migrate.*shared_preload_libraries|shared_preload_libraries.*CREATE EXTENSION migrate/s,
	'a database without the extension is named, with what to do');

# ---- golang-migrate: BEGIN/COMMIT inside a file, CIC, a comment-only down
# file (irreversible), numeric order (10 after 3), a backfill.
my $c = new_db($node, 'golang');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'up' ],
	qr/5 migrations in .*\(golang-migrate\): 5 new.*1 create_accounts: applied.*3 seed_accounts: applied.*10 add_accounts_name: applied.*11 backfill_accounts_name: applied/s,
	'golang-migrate: up applies the folder, one line per migration, in numeric order');
is(query('golang', $history), '1:applied 2:applied 3:applied 10:applied 11:applied', 'golang-migrate: history');
is(query('golang', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_email_idx'::regclass}),
	't', 'golang-migrate: the concurrent index is valid');
is(query('golang', q{SELECT string_agg(name, ',' ORDER BY id) FROM accounts}), 'ann,bob',
	'golang-migrate: the backfill in a migration filled every row');
is(query('golang', q{SELECT up_sql FROM migrate.migrations WHERE version = '1'}),
	"\nCREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);\n",
	'golang-migrate: the file\'s own BEGIN; ... COMMIT; is cut, what lies between registered byte for byte');
is(query('golang', q{SELECT down_sql IS NULL FROM migrate.migrations WHERE version = '3'}), 't',
	'golang-migrate: a comment-only down file is irreversible');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'up' ],
	qr/5 unchanged.*nothing to apply/s, 'golang-migrate: a second up registers nothing and applies nothing');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'status', '--exit-code' ],
	'golang-migrate: status --exit-code is 0 when everything is applied');
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'down', '3' ],
	qr/migration 3 \(seed_accounts\) has no down script/,
	'golang-migrate: down over an irreversible migration is refused, naming it');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'down', '--to', '3' ],
	qr/11 backfill_accounts_name: rolled back.*10 add_accounts_name: rolled back/s,
	'golang-migrate: down --to');
is(query('golang', q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'name'}),
	'0', 'golang-migrate: the down script of 10 dropped the column');
is(query('golang', $history), '1:applied 2:applied 3:applied 10:rolled_back 11:rolled_back',
	'golang-migrate: history after down --to 3');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'plan' ],
	qr/^10 add_accounts_name  .*10_add_accounts_name\.up\.sql\n  step 1: transaction, 1 statement\n11 backfill_accounts_name/m,
	'golang-migrate: plan shows what up would run, step by step');
is(query('golang', $history), '1:applied 2:applied 3:applied 10:rolled_back 11:rolled_back',
	'golang-migrate: plan changed nothing');

# ---- dbmate: sections run on their own (the down section is not run on up),
# transaction:false around a CIC, an empty down (irreversible).
$c = new_db($node, 'dbmate');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/dbmate", 'up' ], 'dbmate: up');
is(query('dbmate', $history), '20240101000000:applied 20240102000000:applied 20240103000000:applied',
	'dbmate: history');
is(query('dbmate', q{SELECT label FROM items}), 'one', 'dbmate: the table is there: its down section did not run');
is(query('dbmate', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_label_idx'::regclass}),
	't', 'dbmate: the transaction:false CIC built a valid index');
is(query('dbmate', q{SELECT transactional || ' ' || steps || ' ' || source FROM migrate_status() WHERE version = '20240102000000'}),
	'false 3/3 20240102000000_index_items.sql',
	'dbmate: transaction:false runs each of its three statements in a transaction of its own');
is(query('dbmate', q{SELECT transactional FROM migrate_status() WHERE version = '20240101000000'}),
	't', 'dbmate: a migration without transaction:false is transactional');
is(query('dbmate', q{SELECT up_sql FROM migrate.migrations WHERE version = '20240101000000'}),
	"-- migrate:up\nCREATE TABLE items (id bigint PRIMARY KEY, label text);\n\n",
	'dbmate: the up section is registered byte for byte, as dbmate runs it');
is(query('dbmate', q{SELECT down_sql FROM migrate.migrations WHERE version = '20240101000000'}),
	"-- migrate:down\nDROP TABLE items;\n", 'dbmate: the down section byte for byte');
is(query('dbmate', q{SELECT down_sql IS NULL FROM migrate.migrations WHERE version = '20240103000000'}),
	't', 'dbmate: an empty down section is irreversible');

# ---- Flyway: V1_1 is version 1.1, U files are the down scripts, .conf,
# subdirectories read.
$c = new_db($node, 'flyway');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/flyway", 'up' ], 'flyway: up');
is(query('flyway', q{SELECT string_agg(version || '=' || transactional, ' ' ORDER BY version) FROM migrate_status()}),
	'1=true 1.1=true 2=false 3=true', 'flyway: V2\'s .conf executeInTransaction=false is read');
is(query('flyway', q{SELECT source FROM migrate_status() WHERE version = '3'}), 'sub/V3__seed_books.sql',
	'flyway: the source is the file\'s path inside its location');
is(query('flyway', $history), '1:applied 1.1:applied 2:applied 3:applied',
	'flyway: V1_1 is 1.1, sub/V3 is read');
is(query('flyway', q{SELECT isbn FROM books}), '978-0441013593', 'flyway: schema and rows');
is(query('flyway', q{SELECT down_sql FROM migrate.migrations WHERE version = '1.1'}),
	"ALTER TABLE books DROP COLUMN isbn;\n", 'flyway: U1_1 is the down script of 1.1');

# ---- Prisma: found from the project directory (prisma/migrations), through
# DATABASE_URL with Prisma's ?schema=; quoted identifiers, ALTER TYPE ADD VALUE
# used in the same migration.
$c = new_db($node, 'prisma');
{
	my $port = $node->port;
	my $host = $node->host;
	local $ENV{DATABASE_URL} = "postgresql://localhost:$port/prisma?schema=public&host=$host";
	my $cwd = abs_path('.');
	chdir "$fixtures/prisma" or die;
	command_like([ 'pg_migrate', 'up' ], qr/3 migrations in "prisma\/migrations" \(prisma\)/,
		'prisma: up from the project directory, with DATABASE_URL');
	chdir $cwd or die;
}
is(query('prisma', $history), '20240101000000:applied 20240102000000:applied 20240103000000:applied',
	'prisma: history');
is(query('prisma', q{SELECT "email" || ' ' || "role" FROM "User"}), 'root@example.com ADMIN',
	'prisma: quoted identifiers, and the value added by ALTER TYPE used after it');
is(query('prisma', q{SELECT indisunique AND indisvalid FROM pg_index WHERE indexrelid = '"User_email_key"'::regclass}),
	't', 'prisma: the unique index built concurrently');

# ---- goose: StatementBegin/End around a function body holding ';',
# NO TRANSACTION around a CIC; a .go migration stops the run before it.
$c = new_db($node, 'goose');
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/goose", 'up' ],
	qr/version 00003 is ".*00003_seed_notes\.go", which pg_migrate cannot run; nothing past it was applied/,
	'goose: a Go migration is named and the run stops before it');
is(query('goose', $history), '00001:applied 00002:applied 00004:pending', 'goose: nothing past the .go file applied');
query('goose', q{INSERT INTO notes (id, body) VALUES (1, 'x'); UPDATE notes SET body = 'y'});
is(query('goose', q{SELECT updated_at IS NOT NULL FROM notes}), 't',
	'goose: the function body with its semicolons and the trigger work');
is(query('goose', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'notes_body_idx'::regclass}),
	't', 'goose: the NO TRANSACTION CIC built a valid index');
is(query('goose', q{SELECT string_agg(version || '=' || transactional, ' ' ORDER BY version) FROM migrate_status()}),
	'00001=true 00002=false 00004=true', 'goose: NO TRANSACTION is registered as non-transactional');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/goose", 'up', '00002' ],
	'goose: a target below the Go migration succeeds');

# ---- node-pg-migrate (SQL): Up/Down Migration markers, 13-digit prefixes.
$c = new_db($node, 'nodepg');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/node-pg-migrate", 'up' ], 'node-pg-migrate: up');
is(query('nodepg', $history), '1700000000000:applied 1700000000001:applied', 'node-pg-migrate: history');
is(query('nodepg', q{SELECT name FROM tags}), 'first', 'node-pg-migrate: schema and rows');
is(query('nodepg', q{SELECT down_sql FROM migrate.migrations WHERE version = '1700000000000'}),
	"\n-- Down Migration\nDROP TABLE tags;\n",
	'node-pg-migrate: the down section, from where its regex (^\\s*--, multiline) matches: the blank line before');

# ---- sqitch: plan order, dependencies, a reworked change read from
# deploy/users@v1.0.sql then deploy/users.sql, scripts with their own
# BEGIN/COMMIT, a CIC without.
$c = new_db($node, 'sqitch');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/sqitch", 'up' ],
	qr/4 migrations in .*\(sqitch\): 4 new.*note: the sqitch verify\/ scripts are not run/,
	'sqitch: up, with a note that verify/ is not run');
is(query('sqitch', q{SELECT string_agg(version || ':' || name || ':' || state, ' ' ORDER BY version::int) FROM migrate_status()}),
	'1:appschema:applied 2:users:applied 3:users_email_idx:applied 4:users:applied',
	'sqitch: one migration per change in plan order, the reworked change twice');
is(query('sqitch', q{SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'flipr' AND table_name = 'users'}),
	'nickname,email,active', 'sqitch: the original users script, then its rework');
is(query('sqitch', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'flipr.users_email_idx'::regclass}),
	't', 'sqitch: the concurrent index');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/sqitch", 'down' ],
	qr/4 users: rolled back/, 'sqitch: down runs the reworked change\'s revert script');
is(query('sqitch', q{SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flipr' AND table_name = 'users' AND column_name = 'active'}),
	'0', 'sqitch: revert/users.sql dropped the column');

# ---- status --json is built by the server (json_agg).
command_like([ 'pg_migrate', '-d', $node->connstr('nodepg'), '--dir', "$fixtures/node-pg-migrate", 'status', '--json' ],
	qr/^\[\{"version":"1700000000000","name":"create-tags","state":"applied"/,
	'status --json');

# ---- new NAME: the next migration in the folder's own format and naming
my $tmp = PostgreSQL::Test::Utils::tempdir;
system("cp -r $fixtures/goose $fixtures/golang-migrate $fixtures/flyway $tmp/") == 0 or die;
command_like([ 'pg_migrate', '--dir', "$tmp/goose", 'new', 'add_thing' ],
	qr/^\Q$tmp\E\/goose\/00005_add_thing\.sql$/, 'new: goose, the next number in the same width');
like(slurp_file("$tmp/goose/00005_add_thing.sql"), qr/^-- \+goose Up\n\n\n-- \+goose Down\n/,
	'new: with goose\'s markers');
command_like([ 'pg_migrate', '--dir', "$tmp/golang-migrate", 'new', 'add_thing' ],
	qr/^\Q$tmp\E\/golang-migrate\/12_add_thing\.up\.sql\n\Q$tmp\E\/golang-migrate\/12_add_thing\.down\.sql$/,
	'new: golang-migrate, an up and a down file');
command_like([ 'pg_migrate', '--dir', "$tmp/flyway", 'new', 'add_thing' ],
	qr/^\Q$tmp\E\/flyway\/V4__add_thing\.sql$/, 'new: Flyway');
command_fails_like([ 'pg_migrate', '--dir', "$fixtures/sqitch", 'new', 'add_thing' ],
	qr/pg_migrate new does not write sqitch changes.*sqitch add add_thing/s, 'new: sqitch is left to sqitch add');

# ---- migrate's own format: a -- migrate:no-transaction line
mkdir("$tmp/own") or die;
append_to_file("$tmp/own/001_two.up.sql",
	"-- migrate:no-transaction\nCREATE TABLE own_two (id int);\nINSERT INTO own_two VALUES (1);\n");
append_to_file("$tmp/own/002_one.up.sql", "CREATE TABLE own_one (id int);\nINSERT INTO own_one VALUES (1);\n");
$c = new_db($node, 'own');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/own", 'up' ], 'own format: up');
is(query('own', q{SELECT string_agg(name || '=' || transactional || ' ' || steps, ', ' ORDER BY version) FROM migrate_status()}),
	'two=false 2/2, one=true 1/1', 'own format: -- migrate:no-transaction runs each statement on its own');

$node->stop;
done_testing();

# Adopting a database another tool migrated (issue 17): for each tool, a
# database left the way that tool leaves it (part of test/fixtures/<format>
# applied by hand, its history table created and written as the tool writes
# it, with a failed, dirty or rolled back state where the tool has one),
# then pg_migrate import + up applies only the rest.  Drift (a changed file
# the tool kept a checksum of) and a foreign version the folder lacks are
# refused with nothing imported; baseline; up unregisters a pending
# migration whose file is gone, and only such a one.
use strict;
use warnings;
use Cwd qw(abs_path);
use Digest::SHA qw(sha1_hex sha256_hex);
use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;

my $fixtures = abs_path('test/fixtures');
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = migrate_node('pg_migrate_import');

sub query
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

# What the tool ran: the file as psql runs it.
sub run_file
{
	my ($db, $file) = @_;
	$node->safe_psql($db, slurp_file($file));
}

sub copy_tree
{
	my ($from, $to) = @_;
	make_path($to);
	opendir(my $d, $from) or die;
	for my $e (grep { !/^\.\.?$/ } readdir $d)
	{
		if (-d "$from/$e") { copy_tree("$from/$e", "$to/$e"); }
		else { copy("$from/$e", "$to/$e") or die; }
	}
	closedir $d;
}

command_like([ 'pg_migrate', '--help' ], qr/import \[--from TOOL\].*baseline VERSION/s,
	'--help names import and baseline');
command_fails_like([ 'pg_migrate', '--dir', "$fixtures/flyway", 'baseline' ],
	qr/baseline takes one argument/, 'baseline needs its version');
command_fails_like([ 'pg_migrate', '--dir', "$fixtures/flyway", 'up', '--from', 'flyway' ],
	qr/--from is an option of import/, '--from belongs to import');

my $history = q{SELECT string_agg(version || ':' || state, ' ' ORDER BY string_to_array(version, '.')::numeric[]) FROM migrate_status()};
my $imported = q{SELECT string_agg(version || ':' || state, ' ' ORDER BY string_to_array(version, '.')::numeric[]) FROM migrate_history() WHERE action = 'import'};

# ---- Flyway: 1 and 1.1 succeeded, the non-transactional 2 failed (Flyway
# keeps success = false for it), 3 never ran.
my $c = new_db($node, 'flyway');
run_file('flyway', "$fixtures/flyway/V1__create_books.sql");
run_file('flyway', "$fixtures/flyway/V1_1__add_books_isbn.sql");
my $flyway_table = q{
CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");
};
$node->safe_psql('flyway', $flyway_table);
$node->safe_psql('flyway', sprintf(q{
INSERT INTO "public"."flyway_schema_history" ("installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success", "installed_on") VALUES
    (1, '1', 'create books', 'SQL', 'V1__create_books.sql', %d, 'flyway_deployer', 21, true, '2024-03-01 09:00:00'),
    (2, '1.1', 'add books isbn', 'SQL', 'V1_1__add_books_isbn.sql', %d, 'flyway_deployer', 8, true, '2024-03-02 09:00:00'),
    (3, '2', 'index books title', 'SQL', 'V2__index_books_title.sql', %d, 'flyway_deployer', 30, false, '2024-03-03 09:00:00');
}, flyway_crc("$fixtures/flyway/V1__create_books.sql"), flyway_crc("$fixtures/flyway/V1_1__add_books_isbn.sql"),
	flyway_crc("$fixtures/flyway/V2__index_books_title.sql")));

# drift: a file changed since Flyway applied it (same folder otherwise)
copy_tree("$fixtures/flyway", "$tmp/flyway-changed");
append_to_file("$tmp/flyway-changed/V1_1__add_books_isbn.sql", "-- edited after it ran\n");
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/flyway-changed", 'import' ],
	qr/migration 1\.1 differs from what flyway applied.*recorded checksum -?\d+ for 1\.1 .*"V1_1__add_books_isbn\.sql" has -?\d+.*Nothing was imported/s,
	'flyway: a file changed since Flyway applied it is drift, named, and refused');
is(query('flyway', q{SELECT count(*) FROM migrate_history()}), '0', 'flyway: after drift nothing is imported');

$node->safe_psql('flyway', 'TRUNCATE migrate.migrations');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/flyway", 'import' ],
	qr/4 migrations in .*\(flyway\): 4 new.*1 create_books: applied at .* by flyway_deployer.*2 index_books_title: failed.*imported 3 migrations from public\.flyway_schema_history/s,
	'flyway: import registers the folder and imports Flyway\'s history');
is(query('flyway', $history), '1:applied 1.1:applied 2:failed 3:pending', 'flyway: states after the import');
is(query('flyway', q{SELECT applied_by || ' ' || to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM migrate_status() WHERE version = '1.1'}),
	'flyway_deployer 2024-03-02', 'flyway: the applying user and the time Flyway kept');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/flyway", 'up' ],
	qr/\A(?:(?!1 create_books: running).)*2 index_books_title: applied.*3 seed_books: applied/s,
	'flyway: up runs the failed 2 and the new 3, not what Flyway applied');
is(query('flyway', $history), '1:applied 1.1:applied 2:applied 3:applied', 'flyway: all applied');
is(query('flyway', q{SELECT title || ' ' || isbn FROM books}), 'Dune 978-0441013593', 'flyway: the schema is whole');

# ---- golang-migrate: at version 3, dirty (3 failed): 1 and 2 applied.
$c = new_db($node, 'golang');
run_file('golang', "$fixtures/golang-migrate/1_create_accounts.up.sql");
run_file('golang', "$fixtures/golang-migrate/2_index_accounts_email.up.sql");
$node->safe_psql('golang', q{
CREATE TABLE IF NOT EXISTS "schema_migrations" (version bigint not null primary key, dirty boolean not null);
TRUNCATE "schema_migrations";
INSERT INTO "schema_migrations" (version, dirty) VALUES (3, true);
});
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'import', '--from', 'golang-migrate' ],
	qr/1 create_accounts: applied.*2 index_accounts_email: applied.*3 seed_accounts: failed.*imported 3 migrations from public\.schema_migrations/s,
	'golang-migrate: everything below the dirty version applied, the dirty one failed');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'up' ],
	qr/\A(?:(?!create_accounts: running).)*3 seed_accounts: applied.*10 add_accounts_name: applied.*11 backfill_accounts_name: applied/s,
	'golang-migrate: up applies 3, 10 and 11 only');
is(query('golang', $history), '1:applied 2:applied 3:applied 10:applied 11:applied', 'golang-migrate: all applied');
is(query('golang', q{SELECT string_agg(name, ',' ORDER BY id) FROM accounts}), 'ann,bob',
	'golang-migrate: the seed ran once');

# ---- dbmate: 20240101000000 applied; a version the folder lacks refuses
# the import, then without it the import works.
$c = new_db($node, 'dbmate');
$node->safe_psql('dbmate', q{CREATE TABLE items (id bigint PRIMARY KEY, label text)});
$node->safe_psql('dbmate', q{
CREATE TABLE IF NOT EXISTS public.schema_migrations (version character varying(128) NOT NULL PRIMARY KEY);
INSERT INTO public.schema_migrations (version) VALUES ('20240101000000'), ('20231231000000');
});
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/dbmate", 'import' ],
	qr/version 20231231000000 of public\.schema_migrations is not registered.*Nothing was imported.*nothing was imported/s,
	'dbmate: a version of the history that the folder lacks is named, and nothing is imported');
is(query('dbmate', q{SELECT count(*) FROM migrate_history()}), '0', 'dbmate: nothing imported');
$node->safe_psql('dbmate', q{DELETE FROM public.schema_migrations WHERE version = '20231231000000'});
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/dbmate", 'import' ],
	qr/20240101000000 create_items: applied.*imported 1 migrations/s, 'dbmate: import');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/dbmate", 'up' ], 'dbmate: up');
is(query('dbmate', $history), '20240101000000:applied 20240102000000:applied 20240103000000:applied',
	'dbmate: all applied');
is(query('dbmate', $imported), '20240101000000:applied', 'dbmate: only the first came from dbmate');

# ---- Prisma: init finished; add_admin failed (finished_at and
# rolled_back_at NULL, Prisma's P3009 state), index_email not run.
$c = new_db($node, 'prisma');
my $pm = "$fixtures/prisma/prisma/migrations";
run_file('prisma', "$pm/20240101000000_init/migration.sql");
$node->safe_psql('prisma', q{
CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);
} . sprintf(q{
INSERT INTO "_prisma_migrations" VALUES
    ('0f9c7a60-5b3c-4d1e-9a51-1d2b3c4d5e6f', '%s', '2024-04-01 08:00:02+00', '20240101000000_init', NULL, NULL, '2024-04-01 08:00:00+00', 1),
    ('1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', '%s', NULL, '20240102000000_add_admin',
     'Database error code: 55P04 unsafe use of new value "ADMIN" of enum type "Role"', NULL, '2024-04-02 08:00:00+00', 0);
}, sha256_hex(slurp_file("$pm/20240101000000_init/migration.sql")),
	sha256_hex(slurp_file("$pm/20240102000000_add_admin/migration.sql"))));
command_like([ 'pg_migrate', '-d', $c, '--dir', $pm, 'import' ],
	qr/20240101000000 init: applied.*20240102000000 add_admin: failed.*imported 2 migrations from public\._prisma_migrations/s,
	'prisma: a finished migration applied, a failed one failed');
is(query('prisma', q{SELECT error FROM migrate_status() WHERE version = '20240102000000'}),
	'Database error code: 55P04 unsafe use of new value "ADMIN" of enum type "Role"',
	'prisma: the failed migration\'s logs are its error');
command_ok([ 'pg_migrate', '-d', $c, '--dir', $pm, 'up' ], 'prisma: up');
is(query('prisma', $history), '20240101000000:applied 20240102000000:applied 20240103000000:applied',
	'prisma: all applied');
is(query('prisma', q{SELECT "email" || ' ' || "role" FROM "User"}), 'root@example.com ADMIN',
	'prisma: add_admin ran once');

# ---- goose: its version-0 row, 1 applied, 2 applied then rolled back
# (a row with is_applied false); the .go migration 3 stops up as ever.
$c = new_db($node, 'goose');
# what goose ran of 1: its Up section (psql would run the Down one too)
$node->safe_psql('goose', q{
CREATE TABLE notes (id bigint PRIMARY KEY, body text, updated_at timestamptz);
CREATE TABLE goose_db_version (
    id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp NOT NULL DEFAULT now()
);
INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES
    (0, true, '2024-05-01 07:00:00'), (1, true, '2024-05-01 07:00:01'),
    (2, true, '2024-05-02 07:00:00'), (2, false, '2024-05-03 07:00:00');
});
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/goose", 'import' ],
	qr/00001 create_notes: applied.*00002 index_notes: rolled_back.*imported 2 migrations from public\.goose_db_version/s,
	'goose: the latest row of each version, the version-0 row left out');
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/goose", 'up' ],
	qr/version 00003 is "[^"]*00003_seed_notes\.go", which pg_migrate cannot run/,
	'goose: up stops before the .go migration');
is(query('goose', $history), '00001:applied 00002:applied 00004:pending', 'goose: up applied the rolled back 2 only');

# ---- node-pg-migrate: create-tags run.
$c = new_db($node, 'nodepg');
$node->safe_psql('nodepg', q{
CREATE TABLE tags (id int PRIMARY KEY, name text);
CREATE TABLE "public"."pgmigrations" (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);
INSERT INTO "public"."pgmigrations" (name, run_on) VALUES ('1700000000000_create-tags', '2023-11-14 22:13:20');
});
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/node-pg-migrate", 'import' ],
	qr/1700000000000 create-tags: applied at .*imported 1 migrations from public\.pgmigrations/s,
	'node-pg-migrate: import');
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/node-pg-migrate", 'up' ], 'node-pg-migrate: up');
is(query('nodepg', $history), '1700000000000:applied 1700000000001:applied', 'node-pg-migrate: all applied');
is(query('nodepg', q{SELECT name FROM tags}), 'first', 'node-pg-migrate: the seed ran');

# ---- sqitch: appschema and users deployed (their script_hash is the sha1
# of the deploy file, BEGIN/COMMIT and all), users_email_idx failed.
$c = new_db($node, 'sqitch');
my $sq = "$fixtures/sqitch";
run_file('sqitch', "$sq/deploy/appschema.sql");
run_file('sqitch', "$sq/deploy/users\@v1.0.sql");
$node->safe_psql('sqitch', q{
CREATE SCHEMA sqitch;
CREATE TABLE sqitch.projects (
    project         TEXT        PRIMARY KEY,
    uri             TEXT            NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    creator_name    TEXT        NOT NULL,
    creator_email   TEXT        NOT NULL
);
CREATE TABLE sqitch.changes (
    change_id       TEXT        PRIMARY KEY,
    script_hash     TEXT            NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, script_hash)
);
CREATE TABLE sqitch.events (
    event           TEXT        NOT NULL CHECK (event IN ('deploy', 'revert', 'fail', 'merge')),
    change_id       TEXT        NOT NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    requires        TEXT[]      NOT NULL DEFAULT '{}',
    conflicts       TEXT[]      NOT NULL DEFAULT '{}',
    tags            TEXT[]      NOT NULL DEFAULT '{}',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    PRIMARY KEY (change_id, committed_at)
);
INSERT INTO sqitch.projects (project, uri, creator_name, creator_email)
VALUES ('flipr', 'https://example.com/flipr/', 'Ann Planner', 'ann@example.com');
} . sprintf(q{
INSERT INTO sqitch.changes (change_id, script_hash, change, project, note, committed_at, committer_name, committer_email, planned_at, planner_name, planner_email) VALUES
    ('a1b2', '%s', 'appschema', 'flipr', 'Add schema for all flipr objects.', '2024-06-01 10:00:00+00', 'Dee Ployer', 'dee@example.com', '2024-01-01 00:00:00+00', 'Ann Planner', 'ann@example.com'),
    ('c3d4', '%s', 'users', 'flipr', 'Creates table to track our users.', '2024-06-01 10:00:01+00', 'Dee Ployer', 'dee@example.com', '2024-01-02 00:00:00+00', 'Ann Planner', 'ann@example.com');
INSERT INTO sqitch.events (event, change_id, change, project, note, committed_at, committer_name, committer_email, planned_at, planner_name, planner_email) VALUES
    ('deploy', 'a1b2', 'appschema', 'flipr', '', '2024-06-01 10:00:00+00', 'Dee Ployer', 'dee@example.com', '2024-01-01 00:00:00+00', 'Ann Planner', 'ann@example.com'),
    ('deploy', 'c3d4', 'users', 'flipr', '', '2024-06-01 10:00:01+00', 'Dee Ployer', 'dee@example.com', '2024-01-02 00:00:00+00', 'Ann Planner', 'ann@example.com'),
    ('fail', 'e5f6', 'users_email_idx', 'flipr', '', '2024-06-01 10:00:02+00', 'Dee Ployer', 'dee@example.com', '2024-01-04 00:00:00+00', 'Ann Planner', 'ann@example.com');
}, sha1_hex(slurp_file("$sq/deploy/appschema.sql")), sha1_hex(slurp_file("$sq/deploy/users\@v1.0.sql"))));
command_like([ 'pg_migrate', '-d', $c, '--dir', $sq, 'import' ],
	qr/1 appschema: applied at .* by Dee Ployer.*2 users: applied.*3 users_email_idx: failed.*imported 3 migrations from sqitch\.changes/s,
	'sqitch: deployed changes by name, their hash of the whole deploy file checked; the failed deploy');
command_ok([ 'pg_migrate', '-d', $c, '--dir', $sq, 'up' ], 'sqitch: up');
is(query('sqitch', $history), '1:applied 2:applied 3:applied 4:applied', 'sqitch: all applied');
is(query('sqitch', q{SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flipr' AND column_name = 'active'}),
	'1', 'sqitch: the reworked users ran');

# ---- Baseline: the database has golang-migrate's 1 and 2 (built another
# way); baseline 2 marks them, up runs the rest.
$c = new_db($node, 'baseline');
run_file('baseline', "$fixtures/golang-migrate/1_create_accounts.up.sql");
run_file('baseline', "$fixtures/golang-migrate/2_index_accounts_email.up.sql");
command_fails_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'baseline', '5' ],
	qr/migration 5 is not registered/, 'baseline: an unknown version is refused');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'baseline', '2' ],
	qr/1 create_accounts: baselined.*2 index_accounts_email: baselined.*2 migrations up to 2 marked applied/s,
	'baseline: marks 1 and 2 applied');
is(query('baseline', q{SELECT string_agg(version || ':' || action, ' ' ORDER BY id) FROM migrate_history()}),
	'1:baseline 2:baseline', 'baseline: recorded as such');
command_like([ 'pg_migrate', '-d', $c, '--dir', "$fixtures/golang-migrate", 'up' ],
	qr/\A(?:(?!create_accounts: running).)*3 seed_accounts: applied.*11 backfill_accounts_name: applied/s,
	'baseline: up runs only what lies above it');

# ---- Unregister: a pending migration whose file is gone is removed by up,
# with a note; an applied one whose file is gone stays.
$c = new_db($node, 'unreg');
copy_tree("$fixtures/golang-migrate", "$tmp/golang");
append_to_file("$tmp/golang/12_extra.up.sql", "CREATE TABLE extra (id int);\n");
command_ok([ 'pg_migrate', '-d', $c, '--dir', "$tmp/golang", 'up', '11' ], 'unregister: up to 11, 12 registered');
is(query('unreg', q{SELECT state FROM migrate_status() WHERE version = '12'}), 'pending', 'unregister: 12 pending');
unlink "$tmp/golang/12_extra.up.sql" or die;
unlink "$tmp/golang/11_backfill_accounts_name.up.sql" or die;
unlink "$tmp/golang/11_backfill_accounts_name.down.sql" or die;
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/golang", 'up' ],
	qr/note: 12 extra is registered but not in .* and never ran: unregistered/,
	'unregister: up removes the pending migration whose file is gone, with a note');
is(query('unreg', q{SELECT string_agg(version, ' ' ORDER BY string_to_array(version, '.')::numeric[]) FROM migrate.migrations}),
	'1 2 3 10 11', 'unregister: 12 is gone, the applied 11 whose file is gone stays');
is(query('unreg', q{SELECT action || ' ' || state FROM migrate_history('12')}), 'unregister unregistered',
	'unregister: on record');
is(query('unreg', q{SELECT count(*) FROM migrate_status() WHERE version = '12'}), '0',
	'unregister: not in the status');

done_testing();

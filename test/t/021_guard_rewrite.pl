# The table_rewrite backstop: a rewrite of a large table that the
# ddl_command_start check did not foresee is refused once ALTER holds its
# lock and before the rewrite starts.  ALTER TYPE ... CASCADE rewrites the
# typed tables of a composite type, which the first check does not judge.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('guard_rewrite');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migrate'
migrate.guard_min_size = 0
lock_timeout = '1s'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TYPE pair AS (a int, b text);
	CREATE TABLE pairs OF pair;
	INSERT INTO pairs SELECT g, g::text FROM generate_series(1, 2000) g;
	CREATE TABLE t (id int, v int);
	INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g;
});

my $relfilenode = $node->safe_psql('postgres', q{SELECT relfilenode FROM pg_class WHERE relname = 'pairs'});

my ($rc, $out, $err) = $node->psql('postgres', 'ALTER TYPE pair ALTER ATTRIBUTE a TYPE bigint CASCADE');
isnt($rc, 0, 'ALTER TYPE ... CASCADE is refused');
like($err, qr/ERROR:  column-type-rewrite: ALTER TABLE is about to rewrite large table public\.pairs/,
	'by the table_rewrite backstop, naming the rule and the table');
is($node->safe_psql('postgres', q{SELECT relfilenode FROM pg_class WHERE relname = 'pairs'}),
	$relfilenode, 'the table was not rewritten');

($rc, $out, $err) = $node->psql('postgres',
	q{SET migrate.guard = warn; ALTER TYPE pair ALTER ATTRIBUTE a TYPE bigint CASCADE});
is($rc, 0, 'warn mode lets it run');
like($err, qr/WARNING:  column-type-rewrite: ALTER TABLE is about to rewrite large table public\.pairs/,
	'with a warning from the backstop');

($rc, $out, $err) = $node->psql('postgres',
	q{SET migrate.allow = 'column-type-rewrite'; ALTER TYPE pair ALTER ATTRIBUTE a TYPE int CASCADE});
is($rc, 0, 'migrate.allow lets it run');
ok($node->log_contains('rule column-type-rewrite allowed by migrate.allow'), 'and it is logged');

# a rewrite the first check foresaw is reported once, not twice
($rc, $out, $err) = $node->psql('postgres',
	q{SET migrate.guard = warn; ALTER TABLE t ALTER COLUMN v TYPE bigint});
is($rc, 0, 'a foreseen rewrite in warn mode runs');
my @warnings = ($err =~ /WARNING:  column-type-rewrite/g);
is(scalar(@warnings), 1, 'and is warned about once');

# tables created in the same transaction may be rewritten
($rc, $out, $err) = $node->psql('postgres', q{
	BEGIN;
	CREATE TABLE fresh AS SELECT * FROM t;
	ALTER TABLE fresh ALTER COLUMN id TYPE bigint;
	ALTER TABLE fresh ADD COLUMN at timestamptz DEFAULT clock_timestamp();
	COMMIT;
});
is($rc, 0, 'rewrites of a table created in the same transaction pass') or diag($err);

# an old table altered earlier in the transaction is not mistaken for a new one
($rc, $out, $err) = $node->psql('postgres', q{
	BEGIN;
	ALTER TABLE t ADD COLUMN note text;
	ALTER TABLE t ALTER COLUMN id TYPE bigint;
	COMMIT;
});
like($err, qr/ERROR:  column-type-rewrite: /, 'an ALTER earlier in the transaction does not make a table new');

done_testing();

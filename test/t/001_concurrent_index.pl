# A CREATE INDEX CONCURRENTLY migration end to end: run at top level by the
# worker, the caller never waits for it inside its own transaction, a
# failed build leaves an INVALID index that is dropped before the retry.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cic');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t SELECT g, g % 1000 FROM generate_series(1, 5000) g;
	SELECT migrate_register('1', 'unique_v',
		'CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v);',
		'DROP INDEX CONCURRENTLY IF EXISTS t_v_key;');
});

# Duplicates make the build fail in its first phase, before it would wait
# for the caller's snapshot: the call fails at once (a run that failed does
# not end migrate_apply() successfully, so psql -v ON_ERROR_STOP=1 exits 1).
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT status, detail FROM migrate_apply()',
	extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
isnt($rc, 0, 'the call fails: the run it waited for failed');
like($err, qr/ERROR:  migration 1 failed: 23505: could not create unique index "t_v_key"/,
	'the unique violation reaches the caller');
($rc, $out, $err) = $node->psql('postgres', 'CALL migrate_wait()');
like($err, qr/migration 1 failed: 23505/, 'and migrate_wait');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status()}),
	'failed', 'status says failed');
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass}),
	'f', 'the failed build left an INVALID index');

# Fix the data by hand, apply again: the INVALID index is dropped first.
$node->safe_psql('postgres', 'UPDATE t SET v = id');
$node->safe_psql('postgres', 'SELECT migrate_apply()');
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state, steps FROM migrate_status()}),
	'applied|1/1', 'applied on the second attempt');
is($node->safe_psql('postgres',
		q{SELECT count(*), bool_and(indisvalid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 't_v_key'}),
	'1|t', 'exactly one index, and it is valid');
ok($node->log_contains('dropping invalid index left by an earlier attempt'),
	'the worker logged the cleanup');

# Writes are not blocked while a concurrent build runs: hold a snapshot so
# the build cannot finish, and write meanwhile.
$node->safe_psql('postgres', q{
	SELECT migrate_register('2', 'index_id_v',
		'CREATE INDEX CONCURRENTLY t_id_v_idx ON t (id, v);',
		'DROP INDEX CONCURRENTLY IF EXISTS t_id_v_idx;');
});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT count(*) FROM t');
# The call returns once the worker waits for the call's own snapshot, which
# can come after the holder's (the build waits for them in the order of the
# server's process array, which differs between versions): call from a
# session of its own, so that the test can go on while it waits.
my $caller = $node->background_psql('postgres');
$caller->query_until(qr/calling/, "\\echo calling\nSELECT migrate_apply();\n");
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'migrate worker' AND wait_event = 'virtualxid'}),
	'the worker waits for the old snapshot');
is($node->psql('postgres', q{SET statement_timeout = '5s'; INSERT INTO t VALUES (100000, 100000)}),
	0, 'a write goes through while CREATE INDEX CONCURRENTLY runs');
is($node->safe_psql('postgres',
		q{SELECT step || ' ' || waits_for_snapshots FROM migrate.live() WHERE kind = 'run'}),
	'1 true', 'migrate.live() shows the worker waiting for snapshots');
$holder->query_safe('COMMIT');
$holder->quit;
$caller->quit;
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status() WHERE version = '2'}),
	'applied', 'finished once the old snapshot was gone');

# The build waits for the caller's own snapshot, so migrate_apply() returns
# while it runs, and says what each migration left is waiting for.
$node->safe_psql('postgres', q{
	SELECT migrate_register('3', 'index_v',
		'CREATE INDEX CONCURRENTLY t_v_idx ON t (v);',
		'DROP INDEX CONCURRENTLY IF EXISTS t_v_idx;');
	SELECT migrate_register('4', 'create_u', 'CREATE TABLE u (id int);', 'DROP TABLE u;');
});
my $res = $node->safe_psql('postgres', 'SELECT version, status, detail FROM migrate_apply()');
like($res, qr/^3\|running\|the worker is finishing it: CONCURRENTLY waits for transactions older than it/m,
	'the build the worker is on: why the call did not wait for it');
like($res, qr/^4\|running\|queued behind migration 3 in the worker/m,
	'the migration after it: queued behind it');
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT string_agg(state, ',' ORDER BY version) FROM migrate_status() WHERE version IN ('3', '4')}),
	'applied,applied', 'both applied once the call had returned');

# Roll them all back: DROP INDEX CONCURRENTLY runs at top level too.
$node->safe_psql('postgres', 'SELECT migrate_rollback(4)');
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class WHERE relname IN ('t_v_key', 't_id_v_idx', 't_v_idx', 'u')}),
	'0', 'the indexes dropped concurrently, and the table');

$node->stop;
done_testing();

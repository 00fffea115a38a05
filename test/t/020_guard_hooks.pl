# The DDL-safety guard's ProcessUtility hook: REINDEX, VACUUM FULL, CLUSTER,
# LOCK TABLE and TRUNCATE fire no event trigger in PostgreSQL 15.  Also: the
# guard decides before the statement waits for its lock, CONCURRENTLY
# statements (DROP INDEX CONCURRENTLY must be the first action of its
# transaction) pass, databases without the extension are left alone, and
# the migration executor is not blocked by the guard.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('guard_hooks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migrate'
migrate.guard_min_size = 0
lock_timeout = '1s'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	CREATE INDEX t_v_idx ON t (v);
	INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 2000) g;
	CREATE TABLE scratch (id int);
	INSERT INTO scratch SELECT generate_series(1, 100);
});

sub refused
{
	my ($sql, $rule, $name) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	isnt($rc, 0, "$name: refused");
	like($err, qr/ERROR:  \Q$rule\E: /, "$name: names rule $rule");
	like($err, qr/HINT:  .*SET LOCAL migrate\.allow = '\Q$rule\E'/, "$name: hint says how to allow it");
}

sub passes
{
	my ($sql, $name, $warning) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	is($rc, 0, "$name: runs") or diag($err);
	if ($warning)
	{
		like($err, qr/WARNING:  \Q$warning\E: /, "$name: warns with $warning");
	}
	else
	{
		unlike($err, qr/WARNING|ERROR/, "$name: silently");
	}
}

# enforce mode, at top level (not in a function)
refused('VACUUM FULL t', 'vacuum-full', 'VACUUM FULL');
refused('VACUUM (FULL, VERBOSE) t', 'vacuum-full', 'VACUUM (FULL)');
refused('CLUSTER t USING t_pkey', 'cluster', 'CLUSTER');
refused('REINDEX TABLE t', 'reindex-blocking', 'REINDEX TABLE');
refused('REINDEX INDEX t_v_idx', 'reindex-blocking', 'REINDEX INDEX');
refused('REINDEX SCHEMA public', 'reindex-blocking', 'REINDEX SCHEMA');
refused('REINDEX DATABASE postgres', 'reindex-blocking', 'REINDEX DATABASE');
# the event trigger sees only the parse tree; the hint quotes the statement
# of a multi-statement string all the same
my (undef, undef, $index_err) = $node->psql('postgres', 'SELECT 1; CREATE INDEX t_x_idx ON t (id, v); SELECT 2;');
like($index_err, qr/HINT:  Build it without blocking writes, outside a transaction block: CREATE INDEX CONCURRENTLY t_x_idx ON t \(id, v\); then check pg_index\.indisvalid/,
	'the CREATE INDEX hint is the statement itself, with CONCURRENTLY');
my (undef, undef, $reindex_err) = $node->psql('postgres', 'REINDEX INDEX t_v_idx');
like($reindex_err, qr/HINT:  Rebuild online, outside a transaction block: REINDEX INDEX CONCURRENTLY public\.t_v_idx;/,
	'the hint is the statement to run instead');
(undef, undef, $reindex_err) = $node->psql('postgres', 'REINDEX SCHEMA public');
like($reindex_err, qr/REINDEX SCHEMA public blocks writes to 2 large tables in turn, .* the largest is public\.t \(\d+ kB\)\n.*HINT:  Rebuild online, outside a transaction block: REINDEX SCHEMA CONCURRENTLY public;/s,
	'REINDEX SCHEMA names how many large tables, the largest, and the statement to run instead');
passes('BEGIN; LOCK TABLE t; COMMIT', 'LOCK TABLE', 'lock-table');
passes('BEGIN; LOCK TABLE t IN ACCESS SHARE MODE; COMMIT', 'LOCK TABLE ACCESS SHARE');
passes('TRUNCATE scratch', 'TRUNCATE', 'truncate');
passes('TRUNCATE scratch', 'TRUNCATE of an empty table');
passes('VACUUM t', 'plain VACUUM');
passes('VACUUM (ANALYZE) t', 'VACUUM ANALYZE');

# the safe alternatives, outside a transaction block
passes('REINDEX INDEX CONCURRENTLY t_v_idx', 'REINDEX CONCURRENTLY');
passes('REINDEX TABLE CONCURRENTLY t', 'REINDEX TABLE CONCURRENTLY');
passes('REINDEX SCHEMA CONCURRENTLY public', 'REINDEX SCHEMA CONCURRENTLY');
passes('REINDEX SCHEMA pg_toast', 'REINDEX SCHEMA of a schema with no large table');
passes('CREATE INDEX CONCURRENTLY t_idv_idx ON t (id, v)', 'CREATE INDEX CONCURRENTLY');
passes('DROP INDEX CONCURRENTLY t_idv_idx', 'DROP INDEX CONCURRENTLY stays first in its transaction');

# warn mode and migrate.allow
passes("SET migrate.guard = warn; CLUSTER t USING t_pkey", 'CLUSTER in warn mode', 'cluster');
passes("SET migrate.allow = 'vacuum-full'; VACUUM FULL t", 'VACUUM FULL allowed');
ok($node->log_contains(qr/rule vacuum-full allowed by migrate\.allow for role "\w+"\n.*DETAIL:  VACUUM FULL rewrites large table public\.t .*Statement: VACUUM FULL t/),
	'the allowed violation is logged with rule, role and statement');
passes("SET migrate.guard = off; REINDEX TABLE t", 'REINDEX with the guard off');

# the guard refuses before waiting: another session holds a lock on t
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT count(*) FROM t');
my $start = time;
my ($rc, $out, $err) = $node->psql('postgres',
	"SET lock_timeout = 0; SET statement_timeout = '60s'; VACUUM FULL t");
like($err, qr/ERROR:  vacuum-full: /, 'VACUUM FULL refused while t is locked');
($rc, $out, $err) = $node->psql('postgres',
	"SET lock_timeout = 0; SET statement_timeout = '60s'; ALTER TABLE t ALTER COLUMN v TYPE bigint");
like($err, qr/ERROR:  column-type-rewrite: /, 'ALTER TABLE refused while t is locked');
($rc, $out, $err) = $node->psql('postgres',
	"SET lock_timeout = 0; SET statement_timeout = '60s'; ALTER TABLE t ADD COLUMN w int");
like($err, qr/ERROR:  missing-lock-timeout: /, 'a brief ACCESS EXCLUSIVE without lock_timeout is refused');
ok(time - $start < 30, 'none of them waited for the lock');
$holder->query_safe('COMMIT');
$holder->quit;

# a database without the extension is not guarded
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('plain', q{
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t SELECT generate_series(1, 2000);
});
($rc, $out, $err) = $node->psql('plain', 'VACUUM FULL t');
is($rc, 0, 'VACUUM FULL runs where migrate is not installed');

# the executor runs linted migrations, CONCURRENTLY and allowed ones
$node->safe_psql('postgres', q{
	SELECT migrate_register('1', 'reindex', 'REINDEX TABLE CONCURRENTLY t;');
	SELECT migrate_register('2', 'cluster',
		E'-- migrate:allow cluster t is tiny in this test\nCLUSTER t USING t_pkey;');
	SELECT migrate_register('3', 'vacuum full', 'VACUUM FULL t;');
});
$node->safe_psql('postgres', 'SELECT migrate_apply()');
$node->psql('postgres', 'CALL migrate_wait()');
my $res = $node->safe_psql('postgres', 'SELECT version, state FROM migrate_status()');
is($res, "1|applied\n2|applied\n3|failed", 'the executor ran the safe and the allowed migration, refused the unsafe one');
like($node->safe_psql('postgres',
		q{SELECT error_message || ' / ' || error_hint FROM migrate.history WHERE version = '3' ORDER BY id DESC LIMIT 1}),
	qr/^vacuum-full: VACUUM FULL rewrites large table public\.t .* \/ .*migrate:allow vacuum-full/,
	'the refusal is recorded in the history with the rule and the fix');

# What a migration runs dynamically meets the guard too (before 1.4 the
# guard was off in the worker: a DO block's CREATE INDEX, a volatile
# default and a CLUSTER on the same table went through, while the same
# statements as plain lines were refused).
$node->safe_psql('postgres', q{
	CREATE FUNCTION cluster_t() RETURNS void LANGUAGE plpgsql
		AS $$ BEGIN CLUSTER t USING t_pkey; END $$;
	SELECT migrate_register('3', 'vacuum full', 'SELECT 1;');
	SELECT migrate_register('4', 'do block', $m$
DO $$ BEGIN
	CREATE INDEX t_id_v_idx ON t (id, v);
END $$;
$m$);
	SELECT migrate_register('5', 'do default', $m$
DO $$ BEGIN
	ALTER TABLE t ADD COLUMN r float8 DEFAULT random();
END $$;
$m$);
	SELECT migrate_register('6', 'function', 'SELECT cluster_t();');
	SELECT migrate_register('7', 'allowed', $m$
-- migrate:allow create-index-blocking t is tiny in this test
DO $$ BEGIN
	CREATE INDEX t_v_id_idx ON t (v, id);
END $$;
$m$);
});
for my $v (4 .. 6)
{
	$node->psql('postgres', 'SELECT migrate_apply()');
	$node->psql('postgres', 'CALL migrate_wait()');
	like($node->safe_psql('postgres', "SELECT state || ' ' || error FROM migrate_status() WHERE version = '$v'"),
		qr/^failed 55000: (create-index-blocking|add-column-rewrite|cluster): /,
		"migration $v: the guard judges what it runs dynamically");
	$node->safe_psql('postgres', "SELECT migrate_register('$v', 'now harmless', 'SELECT 1;')");
}
$node->safe_psql('postgres', 'SELECT migrate_apply()');
$node->psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status() WHERE version = '7'}),
	'applied', 'the migration\'s allow comments allow it there too');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE indexname IN ('t_id_v_idx', 't_v_id_idx')}),
	'1', 'only the allowed index was built');

done_testing();

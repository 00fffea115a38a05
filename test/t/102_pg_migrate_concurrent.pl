# Two pg_migrate up at once (the second waits for the first run, then
# applies what is left), a client interrupted while it waits (the run goes
# on in the server), and the progress of a backfill on a non-terminal and
# on a pseudo-terminal.  A migration held on an advisory lock keeps the
# first run going for as long as the test needs.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use MigrateTest;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = migrate_node('pg_migrate_concurrent');
$node->safe_psql('postgres', 'CREATE EXTENSION migrate; CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');
my $c = $node->connstr('postgres');

# the first folder: a migration that waits for lock 4242, then a CIC
make_path("$tmp/first");
write_file("$tmp/first/1_wait.up.sql", "SELECT pg_advisory_xact_lock(4242);\n");
write_file("$tmp/first/2_index.up.sql", "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);\n");
# the second deploy has one migration more
make_path("$tmp/second");
system("cp $tmp/first/* $tmp/second/") == 0 or die;
write_file("$tmp/second/3_after.up.sql", "CREATE TABLE after_first (id int);\n");

my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');

my ($out1, $err1, $out2, $err2) = ('', '', '', '');
my $first = IPC::Run::start([ 'pg_migrate', '-d', $c, '--dir', "$tmp/first", 'up' ],
	'>', \$out1, '2>', \$err1);
ok($node->poll_query_until('postgres', q{SELECT state = 'running' FROM migrate_status() WHERE version = '1'}),
	'the first run is on its first migration');

my $second = IPC::Run::start([ 'pg_migrate', '-d', $c, '--dir', "$tmp/second", 'up' ],
	'>', \$out2, '2>', \$err2);
my $waited = 0;
foreach (1 .. 600)
{
	$second->pump_nb;
	if ($out2 =~ /another migration run is in progress.*waiting for it/)
	{
		$waited = 1;
		last;
	}
	usleep(100_000);
}
ok($waited, 'the second up says it waits for the run in progress');

$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$first->finish;
is($first->result(0), 0, 'the first up exits 0');
like($out1, qr/1 wait: applied.*2 index: applied/s, 'the first up applied its two migrations');
$second->finish;
is($second->result(0), 0, 'the second up exits 0');
like($out2, qr/3 after: applied/, 'the second up applied what was left, once the first run was over');
unlike($out2, qr/1 wait: applied/, 'and nothing twice');
is($node->safe_psql('postgres', q{SELECT string_agg(version || ':' || state, ' ' ORDER BY version) FROM migrate_status()}),
	'1:applied 2:applied 3:applied', 'history: each migration applied once');
is($node->safe_psql('postgres', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_idx'::regclass}),
	't', 'the CIC of the first run finished while the second client waited');

# Interrupted while it waits: it says the run goes on, exits 1, and the run
# does go on.
write_file("$tmp/second/4_wait_again.up.sql", "SELECT pg_advisory_xact_lock(4242);\n");
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my ($out3, $err3) = ('', '');
my $third = IPC::Run::start([ 'pg_migrate', '-d', $c, '--dir', "$tmp/second", 'up' ],
	'>', \$out3, '2>', \$err3);
ok($node->poll_query_until('postgres', q{SELECT state = 'running' FROM migrate_status() WHERE version = '4'}),
	'the run is on migration 4');
$third->signal('INT');
$third->finish;
is($third->result(0), 1, 'interrupted, pg_migrate exits 1');
like($err3, qr/stopped waiting: the run goes on in the server's worker/, 'and says the run goes on');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$holder->quit;
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status() WHERE version = '4'}),
	'applied', 'the worker finished the migration after the client left');

# The connection drops while the client waits: it says the run goes on,
# exits 1, and the run completes.
write_file("$tmp/second/5_wait_more.up.sql", "SELECT pg_advisory_xact_lock(4242);\n");
$holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my ($out4, $err4) = ('', '');
my $fourth = IPC::Run::start([ 'pg_migrate', '-d', $c, '--dir', "$tmp/second", 'up' ],
	'>', \$out4, '2>', \$err4);
ok($node->poll_query_until('postgres', q{SELECT state = 'running' FROM migrate_status() WHERE version = '5'}),
	'the run is on migration 5');
# (PGAPPNAME is set by the test framework: find the client by its queries)
ok($node->poll_query_until('postgres',
		q{SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity
		  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND query ~ 'migrate_(wait|status)'}),
	'the client\'s backend is terminated');
$fourth->finish;
is($fourth->result(0), 1, 'connection lost: pg_migrate exits 1');
like($err4, qr/lost the connection to the server: the run goes on in the server's worker/,
	'and says the run goes on');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$holder->quit;
$node->safe_psql('postgres', 'CALL migrate_wait()');
is($node->safe_psql('postgres', q{SELECT state FROM migrate_status() WHERE version = '5'}),
	'applied', 'the worker finished it');

# Backfill progress: a plain line on a non-terminal (CI logs), updated in
# place on a terminal.  Small batches at the default pace keep the job
# running for a few polls.
$node->safe_psql('postgres', 'CREATE DATABASE fill');
$node->safe_psql('fill', 'CREATE EXTENSION migrate; CREATE TABLE big (id int, v int); INSERT INTO big SELECT g, 0 FROM generate_series(1, 20000) g');
$c = $node->connstr('fill');
make_path("$tmp/fill");
write_file("$tmp/fill/1_fill.up.sql",
	"SET LOCAL migrate.backfill_max_batch_size = 5000;\nSELECT migrate_backfill('big', 'v', 'id + 1');\n");
command_like([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fill", 'up' ],
	qr/^1 fill: running\nbackfill 1 \(public\.big\.v\): [0-9.]+%, \d+ rows, [0-9.-]+ rows\/s, ETA [0-9:-]+\n(.*\n)*1 fill: applied/m,
	'non-terminal: the backfill\'s progress as plain lines');
is($node->safe_psql('fill', 'SELECT count(*) FROM big WHERE v = id + 1'), '20000', 'the backfill filled every row');

write_file("$tmp/fill/2_fill_again.up.sql",
	"SET LOCAL migrate.backfill_max_batch_size = 5000;\nSELECT migrate_backfill('big', 'v', 'id + 2');\n");
my $pty_out = '';
my $h = IPC::Run::start([ 'pg_migrate', '-d', $c, '--dir', "$tmp/fill", 'up' ], '>pty>', \$pty_out);
$h->finish;
is($h->result(0), 0, 'terminal: up exits 0');
like($pty_out, qr/\rbackfill 2 \(public\.big\.v\): [0-9.]+%[^\n]*\e\[K/,
	'terminal: the progress line is rewritten in place (carriage return, erase to end of line)');
like($pty_out, qr/2 fill_again: applied/, 'terminal: and the migration\'s end line follows');

$node->stop;
done_testing();

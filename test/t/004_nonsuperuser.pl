# A non-superuser applying migrations: the worker runs each migration as the
# role that registered it, the objects belong to it, and no superuser power
# is gained on the way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nonsuper');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION migrate;
	CREATE ROLE app LOGIN;
	CREATE ROLE owners LOGIN;
	GRANT owners TO app;
	GRANT CREATE ON SCHEMA public TO app, owners;
	CREATE ROLE stranger LOGIN;
	SELECT migrate_grant('app');
	SELECT migrate_grant('owners');
});

sub as_app
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', 'app' ]);
}

as_app(q{
	SELECT migrate_register('1', 'app_table', 'CREATE TABLE app_t (id int);', 'DROP TABLE app_t;');
	SELECT migrate_apply();
});
is($node->safe_psql('postgres', q{SELECT tableowner FROM pg_tables WHERE tablename = 'app_t'}),
	'app', 'the table belongs to the calling role');
is(as_app(q{SELECT applied_by FROM migrate_status() WHERE version = '1'}),
	'app', 'history records the calling role');

# The call fails when a migration of its run failed.
sub app_apply_fails_like
{
	my ($re, $name) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT migrate_apply()',
		extra_params => [ '-U', 'app' ]);
	like($err, $re, $name);
}

# Superuser-only statements fail inside the migration (PostgreSQL 16 and
# later check CREATEROLE first, with their own message).
as_app(q{SELECT migrate_register('2', 'escalate', 'CREATE ROLE evil SUPERUSER;')});
my $no_create_role = qr/42501: (?:must be superuser to create superusers|permission denied to create role)/;
app_apply_fails_like(qr/ERROR:  migration 2 failed: $no_create_role/,
	'migrate_apply() fails, naming the migration');
like(as_app(q{SELECT state || ' ' || error FROM migrate_status() WHERE version = '2'}),
	qr/^failed $no_create_role/, 'no superuser power in the worker');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'evil'}),
	'0', 'the role was not created');
as_app(q{SELECT migrate_register('2', 'escalate', 'ALTER SYSTEM SET work_mem = ''1MB'';')});
app_apply_fails_like(qr/migration 2 failed: 42501: permission denied to set parameter/,
	'and again for ALTER SYSTEM');
like(as_app(q{SELECT error FROM migrate_status() WHERE version = '2'}),
	qr/^42501: permission denied to set parameter "work_mem"/, 'ALTER SYSTEM refused too');
as_app(q{SELECT migrate_register('2', 'escalate', 'SELECT 1;'); SELECT migrate_apply();});

# SET ROLE: the migration belongs to the current role, not the login role,
# and runs as it.
$node->safe_psql('postgres', q{
	SET ROLE owners;
	SELECT migrate_register('3', 'owned', 'CREATE TABLE owned_t (id int);', 'DROP TABLE owned_t;');
	SELECT migrate_apply();
}, extra_params => [ '-U', 'app' ]);
is($node->safe_psql('postgres', q{SELECT tableowner FROM pg_tables WHERE tablename = 'owned_t'}),
	'owners', 'after SET ROLE the objects belong to the current role');

# The worker logs in as the owner: before PostgreSQL 17 a NOLOGIN owner is
# refused before anything is queued, with the way out.
if ($node->safe_psql('postgres', 'SHOW server_version_num') < 170000)
{
	$node->safe_psql('postgres', q{
		SET ROLE owners;
		SELECT migrate_register('3.1', 'owned_more', 'CREATE TABLE owned_more_t (id int);');
		RESET ROLE;
		ALTER ROLE owners NOLOGIN;
	});
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT migrate_apply()',
		extra_params => [ '-U', 'app' ]);
	like($err, qr/migration 3\.1 would run as role "owners", which cannot log in.*HINT:  Give the role LOGIN/s,
		'a NOLOGIN owner is refused, naming the fix');
	$node->safe_psql('postgres', 'ALTER ROLE owners LOGIN');
	as_app('SELECT migrate_apply()');
	is($node->safe_psql('postgres', q{SELECT tableowner FROM pg_tables WHERE tablename = 'owned_more_t'}),
		'owners', 'with LOGIN it runs as the owner');
}

# The state tables are not open to the role directly.
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM migrate.history',
	extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied for table history/, 'history is not readable or writable by hand');

# A role without the grant cannot use migrate at all.
($rc, $out, $err) = $node->psql('postgres', 'SELECT migrate_apply()',
	extra_params => [ '-U', 'stranger' ]);
like($err, qr/permission denied for function migrate_apply/, 'EXECUTE is not granted to PUBLIC');

$node->stop;
done_testing();

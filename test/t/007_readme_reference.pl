# The README's reference tables say what the server says: its rule list is
# migrate_rules() (rule, severity, lint only, lock), its settings table
# names every migrate.* setting, and its SQL reference every function a
# user calls.  A rule, setting or function added without its line fails here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $readme = slurp_file('README.md');

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'migrate'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION migrate');

# ---- the rule list, between its markers, row for row
my ($rules) = $readme =~ /<!-- rules: begin -->\n(.*?)<!-- rules: end -->/s;
ok(defined $rules, 'the README has a rule list between its markers');
my @readme_rules = grep { /^\| `/ } split /\n/, ($rules // '');
my @server_rules = split /\n/, $node->safe_psql('postgres', q{
	SELECT '| `' || rule || '` | ' || severity
	       || CASE WHEN lint_only THEN ' (lint only)' ELSE '' END
	       || ' | ' || lock_taken || ' |'
	FROM migrate_rules()});
is_deeply(\@readme_rules, \@server_rules, 'the README\'s rule list is migrate_rules(), in its order');

# ---- every setting, and no setting that does not exist
my @settings = split /\n/, $node->safe_psql('postgres',
	q{SELECT name FROM pg_settings WHERE name LIKE 'migrate.%' ORDER BY 1});
my %documented = map { $_ => 1 } $readme =~ /^\| `(migrate\.[a-z_]+)` \|/mg;
is_deeply([ grep { !$documented{$_} } @settings ], [], 'every migrate.* setting is in the settings table');
my %exists = map { $_ => 1 } @settings;
is_deeply([ grep { !$exists{$_} } sort keys %documented ], [], 'the settings table names no setting that does not exist');

# ---- every function of pg_catalog a user calls is in the SQL reference
my ($reference) = $readme =~ /\n## SQL reference\n(.*?)\n## /s;
my @functions = split /\n/, $node->safe_psql('postgres', q{
	SELECT DISTINCT p.proname FROM pg_proc p
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'migrate'
	WHERE p.pronamespace = 'pg_catalog'::regnamespace ORDER BY 1});
# a family written once: migrate_backfill_pause(id), _resume(id), ...
my @missing = grep {
	my $f = $_;
	my ($suffix) = $f =~ /^migrate_backfill(_\w+)$/;
	index($reference // '', "$f(") < 0 && !(defined $suffix && index($reference // '', "`$suffix(") >= 0)
} @functions;
is_deeply(\@missing, [], 'every migrate_* function is in the SQL reference');

$node->stop;
done_testing();

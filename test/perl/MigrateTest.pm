# test/perl/MigrateTest.pm - what the pg_migrate TAP tests share: a node
# with migrate preloaded, a database with the extension, a file written
# byte for byte (the client registers a file's exact bytes).
package MigrateTest;

use strict;
use warnings;
use Exporter 'import';
use Compress::Zlib qw(crc32);
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(migrate_node new_db write_file flyway_crc);

# A started node with migrate in shared_preload_libraries and room for its
# workers beside the tests' own sessions.
sub migrate_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'migrate'\nmax_worker_processes = 16");
	$node->start;
	return $node;
}

# A new database with the extension; returns its connection string.
sub new_db
{
	my ($node, $db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION migrate');
	return $node->connstr($db);
}

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

# Flyway's checksum of a file, computed here on its own (to check the
# server's): CRC-32 of its bytes without line breaks and BOM, signed.
sub flyway_crc
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $t = <$fh>;
	close $fh;
	$t =~ s/^\xEF\xBB\xBF//;
	$t =~ s/[\r\n]//g;
	my $c = crc32($t);
	return $c >= 2**31 ? $c - 2**32 : $c;
}

1;

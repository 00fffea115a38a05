# test/perl/MigrateTally.pm - the TAP::Harness that test/run_tests.sh has
# prove use (`make installcheck PROVE_FLAGS='--harness=MigrateTally'`), so
# that TAP::Parser, not the runner, reads the TAP.
#
# After prove's own summary it prints the tails of the failing files' logs
# and one line for the runner to add up:
#
#   tally: P passed, F failed
#
# P counts passing assertions (a TODO assertion counts as passing, as prove
# counts it); F counts failing assertions, plus one for each file that broke
# without a failing assertion (it died, had a bad plan or a non-zero exit)
# and one for each file that never ran (prove bailed out before it).
package MigrateTally;

use strict;
use warnings;
use parent 'TAP::Harness';
use File::Basename qw(basename);

# log lines shown per log of a failing file
my $LOG_TAIL = 80;

sub runtests
{
	my ($self, @tests) = @_;
	# a test is a file name or [file, alias]; the aggregate knows the alias
	$self->{tally_files} = [ map { ref $_ ? ($_->[1] // $_->[0]) : $_ } @tests ];
	return $self->SUPER::runtests(@tests);
}

sub summary
{
	my ($self, $aggregate, $interrupted) = @_;
	$self->SUPER::summary($aggregate, $interrupted);

	my ($passed, $failed) = (0, 0);
	my @bad;
	my %ran = map { $_ => 1 } $aggregate->descriptions;
	for my $file (@{ $self->{tally_files} })
	{
		if (!$ran{$file})
		{
			$failed++;
			push @bad, $file;
			print "# $file never ran: counted as 1 failure\n";
			next;
		}
		my ($parser) = $aggregate->parsers($file);
		$passed += scalar $parser->passed;
		$failed += scalar $parser->failed;
		if ($parser->failed)
		{
			push @bad, $file;
		}
		elsif ($parser->parse_errors || $parser->exit || $parser->wait)
		{
			$failed++;
			push @bad, $file;
			print "# $file broke without a failing assertion: counted as 1 failure\n";
		}
	}
	show_logs(@bad);
	print "tally: $passed passed, $failed failed\n";
	return;
}

# The PostgreSQL::Test logs of the given files: regress_log_NAME (the
# test's own output) and NAME_NODE.log (each node's server log).
sub show_logs
{
	my $dir = ($ENV{TESTDIR} // '.') . '/tmp_check/log';
	for my $file (@_)
	{
		my $name = basename($file, '.pl');
		for my $log ("$dir/regress_log_$name", glob("$dir/${name}_*.log"))
		{
			open my $fh, '<', $log or next;
			my @lines = <$fh>;
			close $fh;
			my $from = @lines > $LOG_TAIL ? @lines - $LOG_TAIL : 0;
			print "----- $log (last " . (@lines - $from) . " of " . @lines . " lines)\n";
			print @lines[ $from .. $#lines ];
			print "----- end of $log\n";
		}
	}
	return;
}

1;

#!/usr/bin/perl
# One runner for every test file: TAP::Harness (prove's library). .bats files
# run under `bats --tap`; unit tests and fuzz replays are executables.
# Lists skipped tests with their reasons, then prints "N passed, N failed".
# EDGECTL_STRICT=1 counts skips as failures (CI: nothing skips silently).
use strict;
use warnings;
use TAP::Harness;

my $strict = ($ENV{EDGECTL_STRICT} // '') eq '1';
my @skips;
my $h = TAP::Harness->new({
	verbosity => ($ENV{TEST_VERBOSE} ? 1 : 0),
	timer     => 1,
	exec      => sub {
		my ($harness, $file) = @_;
		return [ 'bats', '--tap', $file ] if $file =~ /\.bats$/;
		return [ $file ];
	},
});
$h->callback(made_parser => sub {
	my ($parser, $job) = @_;
	my $name = ref $job eq 'ARRAY' ? $job->[0] : "$job";
	$parser->callback(test => sub {
		my $r = shift;
		push @skips, "$name: " . $r->description . " (" . $r->explanation . ")"
			if $r->has_skip;
	});
	$parser->callback(plan => sub {
		my $p = shift;
		push @skips, "$name: whole file (" . $p->explanation . ")"
			if $p->has_skip && $p->tests_planned == 0;
	});
});
my $agg = $h->runtests(@ARGV);
my $passed = scalar($agg->passed);
my $failed = scalar($agg->failed);
# a file that died, exited non-zero or broke its plan counts once more
for my $d ($agg->descriptions) {
	my ($p) = $agg->parsers($d);
	if (($p->exit || $p->parse_errors || $p->wait) && !$p->failed) {
		print "error in $d: exit " . ($p->exit // '?') . " " .
			join('; ', $p->parse_errors) . "\n";
		$failed++;
	}
}
if (@skips) {
	print "\nskipped (" . scalar(@skips) . "):\n";
	print "  $_\n" for @skips;
	if ($strict) {
		print "EDGECTL_STRICT=1: each skip counts as a failure\n";
		$failed += scalar(@skips);
		$passed -= grep { !/whole file/ } @skips;
	}
}
print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);

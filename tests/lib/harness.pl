#!/usr/bin/perl
# One runner for every test file: TAP::Harness (prove's library). .bats files
# run under `bats --tap`; unit tests and fuzz replays are executables.
# Lists skipped tests with their reasons, then prints "N passed, N failed".
# EDGECTL_STRICT=1 counts skips as failures (CI: nothing skips silently).
#
# EDGECTL_JOBS=N (default 1) runs up to N files at once. Every file is
# written to share the machine (its own ports from the kernel, PID-suffixed
# names and subnets, its own RGW/registry/fleet), except the ones in
# @ALONE below, which run one at a time after all the others. The files
# known to be slow start first so that they overlap with the short ones.
use strict;
use warnings;
use TAP::Harness;

# Files that look at machine-wide state, so run with nothing else of this
# run beside them (the basename, as a glob):
my @ALONE = (
	# leftovers(): counts every ec-<12 hex> netns and edgectl cgroup on
	# the machine; publishes fixed host ports 18181-18183
	'400-run.bats',
);
# The slowest files (CI, sequential, in s): started first. A file not
# listed keeps its place after these.
my @SLOW = qw(120-build-docker 012-store-cas 440-run-mounts 011-store-s3
	700-faults-store 200-pushpull 420-run-qemu 010-store-file 900-hostile
	000-conventions 701-faults-restart 610-vip-flow runtime.t);

my $strict = ($ENV{EDGECTL_STRICT} // '') eq '1';
my $jobs = $ENV{EDGECTL_JOBS} // 1;
$jobs = 1 unless $jobs =~ /^[1-9][0-9]*$/;

my (@alone, @rest);
for my $f (@ARGV) {
	my $base = $f =~ s{.*/}{}r;
	if (grep { $base eq $_ } @ALONE) { push @alone, $f } else { push @rest, $f }
}
if ($jobs > 1) {
	my %rank;
	@rank{@SLOW} = (0 .. $#SLOW);
	my $r = sub { my $b = $_[0] =~ s{.*/}{}r =~ s{\.bats$}{}r; $rank{$b} // scalar @SLOW };
	my $i = 0;
	my %pos = map { $_ => $i++ } @rest;
	@rest = sort { $r->($a) <=> $r->($b) || $pos{$a} <=> $pos{$b} } @rest;
}
my @files = (@rest, @alone);
# the scheduler's globs: quote their special characters
my $q = sub { $_[0] =~ s/([\\*?{},])/\\$1/gr };

my @skips;
my @fails;
my $h = TAP::Harness->new({
	verbosity => ($ENV{TEST_VERBOSE} ? 1 : 0),
	timer     => 1,
	jobs      => $jobs,
	($jobs > 1 ? (rules => { seq => [
		{ par => [ map { $q->($_) } @rest ] },
		{ seq => [ map { $q->($_) } @alone ] },
	] }) : ()),
	exec      => sub {
		my ($harness, $file) = @_;
		return [ 'bats', '--tap', $file ] if $file =~ /\.bats$/;
		return [ $file ];
	},
});
$h->callback(made_parser => sub {
	my ($parser, $job) = @_;
	my $name = ref $job eq 'ARRAY' ? $job->[0] : "$job";
	my $cur;	# the failed test whose diagnostics follow
	$parser->callback(test => sub {
		my $r = shift;
		push @skips, "$name: " . $r->description . " (" . $r->explanation . ")"
			if $r->has_skip;
		$cur = undef;
		if (!$r->is_ok) {
			$cur = { name => "$name: " . $r->as_string, lines => [] };
			push @fails, $cur;
		}
	});
	# the diagnostics of a failed test (bats and tap.h print them as
	# comments after it), shown at the end: parallel runs interleave
	# nothing, and CI logs keep why a test failed
	$parser->callback(comment => sub {
		my $c = shift;
		push @{$cur->{lines}}, $c->as_string
			if $cur && @{$cur->{lines}} < 60;
	});
	$parser->callback(plan => sub {
		my $p = shift;
		push @skips, "$name: whole file (" . $p->explanation . ")"
			if $p->has_skip && $p->tests_planned == 0;
	});
});
my $agg = $h->runtests(@files);
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
if (@fails) {
	print "\nfailed (" . scalar(@fails) . "):\n";
	for my $f (@fails) {
		print "  $f->{name}\n";
		print "    $_\n" for @{$f->{lines}};
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

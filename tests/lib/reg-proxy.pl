#!/usr/bin/perl
# reg-proxy.pl - a small HTTP/1.1 proxy in front of a test registry that
# behaves like registries out there do (for tests/cli/212-registry-interop
# and tests/bench/registry.sh).
#
#   usage: reg-proxy.pl DIR UPSTREAM_HOST:PORT
#
# DIR is the registry's scratch dir (stop-registry.sh stops processes
# that have it as an argument). Listens on 127.0.0.1 (a free port,
# written to DIR/proxy.port once listening),
# one request per connection (answers carry "Connection: close"), one
# forked child per connection. What it does to the traffic is read from
# DIR/proxy.mode at every request (missing = pass through), space-separated:
#   norange    drop the Range header of requests and Accept-Ranges of
#              answers: the registry ignores ranges (answers 200 whole)
#   arnone     answers say "Accept-Ranges: none" (with norange: a
#              registry that says it ignores ranges)
#   slow=BPS   send answer bodies at BPS bytes per second
#   badhead    HEAD on a blob answers a Content-Length one too big (a
#              registry whose HEAD lies on a freshly mounted blob)
#   badloc     Location headers become "file:///etc/passwd"
# Every request is logged to DIR/proxy.log as
#   "METHOD PATH range=RANGE|-" (after the mode applied), and a
# connection that opens with a TLS ClientHello (it never answers it, like
# a plain-http server that waits for a request line) as "tls-hello".
# Stop it by its PID (SIGTERM): it stops its children too.
use strict;
use warnings;
use FindBin;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use lib $FindBin::Bin;
use TestProxy;

my ($dir, $upstream) = @ARGV;
die "usage: reg-proxy.pl DIR UPSTREAM_HOST:PORT\n" unless $dir && $upstream;
my $srv = TestProxy::listen("$dir/proxy.port", 'reg-proxy', 64);

sub logline { TestProxy::append("$dir/proxy.log", $_[0]); }
*write_all = \&TestProxy::write_all;

sub mode {
	open my $f, '<', "$dir/proxy.mode" or return {};
	my %m;
	local $/;
	my $s = <$f> // '';
	close $f;
	for my $w (split ' ', $s) {
		my ($k, $v) = split /=/, $w, 2;
		$m{$k} = $v // 1;
	}
	return \%m;
}

# A connection that opens with a TLS ClientHello: like a plain-http server
# waiting for a request line, read and never answer, until the client gives up.
sub tls_hello {
	my ($sock, $buf) = @_;
	return 0 unless substr($buf, 0, 1) eq "\x16";
	logline('tls-hello');
	1 while sysread($sock, my $junk, 65536);
	return 1;
}

sub serve {
	my ($c) = @_;
	alarm 120;
	my $rest;
	my $head = TestProxy::read_head($c, \$rest, sub { tls_hello($c, $_[0]) });
	return unless defined $head;
	my $m = mode();
	my ($reqline, @lines) = TestProxy::head_lines($head, 'connection', 'proxy-connection');
	my ($method, $path) = split / /, $reqline;
	my ($clen, $range, $expect) = (0, '-', 0);
	my @out = ($reqline);
	for (@lines) {
		my ($lk, $v, $l) = @$_;
		if ($lk eq 'expect') { $expect = 1; next; }
		$clen = $v if $lk eq 'content-length';
		if ($lk eq 'range') {
			next if $m->{norange};
			$range = $v;
		}
		push @out, $l;
	}
	push @out, 'Connection: close';
	logline("$method $path range=$range");
	write_all($c, "HTTP/1.1 100 Continue\r\n\r\n") if $expect && $clen;
	while (length $rest < $clen) {
		my $n = sysread($c, $rest, $clen - length $rest, length $rest);
		return if !$n;
	}
	my $u = IO::Socket::INET->new(PeerAddr => $upstream, Proto => 'tcp')
	  or return;
	write_all($u, join("\r\n", @out) . "\r\n\r\n" . $rest) or return;
	my $body;
	my $rhead = TestProxy::read_head($u, \$body);
	return unless defined $rhead;
	my ($rline, @rl) = TestProxy::head_lines($rhead, 'connection', 'keep-alive');
	my @rout = ($rline);
	for (@rl) {
		my ($lk, $v, $l) = @$_;
		next if $lk eq 'accept-ranges' && ($m->{norange} || $m->{arnone});
		if ($lk eq 'content-length' && $m->{badhead} && $method eq 'HEAD'
			&& $path =~ m{/blobs/sha256:})
		{
			$l = "Content-Length: " . ($v + 1);
		}
		$l = 'Location: file:///etc/passwd'
		  if $lk eq 'location' && $m->{badloc};
		push @rout, $l;
	}
	push @rout, 'Accept-Ranges: none' if $m->{arnone};
	push @rout, 'Connection: close';
	write_all($c, join("\r\n", @rout) . "\r\n\r\n") or return;
	my $bps = $m->{slow} || 0;
	my $t0 = time;
	my $sent = 0;
	my $block = $bps ? ($bps / 20 > 65536 ? 65536 : int($bps / 20) || 1) : 65536;
	while (1) {
		if (length $body) {
			write_all($c, $body) or return;
			$sent += length $body;
			if ($bps) {
				my $ahead = $sent / $bps - (time - $t0);
				sleep $ahead if $ahead > 0;
			}
			$body = '';
		}
		my $n = sysread($u, $body, $block);
		last if !$n;
	}
	shutdown($c, 1);
}

TestProxy::serve_forever($srv, \&serve);

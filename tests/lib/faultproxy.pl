#!/usr/bin/perl
# faultproxy.pl - a fault-injecting HTTP/1.1 proxy in front of an S3 server
# (Ceph RGW) for the fault suites (tests/cli/70x-faults-*.bats).
#
#   usage: faultproxy.pl DIR UPSTREAM_HOST:PORT
#
# Listens on 127.0.0.1 (a port from the kernel, written to DIR/port once
# listening). One request per connection: answers carry "Connection:
# close" (so a fault on one request never leaks into the next), one forked
# child per connection. Request and response bodies are streamed, never
# held whole.
#
# Faults are read from DIR/rules at every request (missing or empty = pass
# everything through), so a test injects one mid-operation by rewriting the
# file (faultproxy.bash: fault_set). One rule per line, '#' comments:
#
#   METHOD  REGEX  WHICH  ACTION[=ARG] [ACTION[=ARG]...]
#
#   METHOD  GET, PUT, POST, HEAD, DELETE or * (any)
#   REGEX   a Perl regex searched in the request target as sent, path and
#           query ("/bucket/prefix/apps/a.json", "...?partNumber=3&uploadId=")
#   WHICH   which matching requests: N (the Nth, from 1), N-M, N- (from
#           the Nth on) or * (all). Every rule whose METHOD and REGEX match
#           counts the request (per rule line, across all connections:
#           DIR/counts/, under a lock); the first rule whose WHICH takes
#           the count acts. fault_set starts the counts afresh.
#   ACTION
#     status=CODE      answer CODE with an S3 error document, never forward
#                      (500 InternalError, 503 SlowDown, others by code)
#     slowdown         = status=503 with <Code>SlowDown</Code>, Retry-After: 1
#     reset            reset the connection (RST) before anything reaches
#                      the server: the request surely did not apply
#     reset-after      forward the request, read the server's whole answer,
#                      then reset the client's connection without a byte of
#                      it: the request applied, the client cannot know
#     reset-body=N     forward, then send the client the answer's head and
#                      the first N bytes of its body, then reset (a
#                      response cut short)
#     cut-request=N    forward only the first N bytes of the request body,
#                      then reset both sides (an upload cut short)
#     delay=MS         wait MS milliseconds before forwarding (latency)
#     stall=S          read the request, answer nothing for S seconds, then
#                      reset (a server that accepted and hung)
#     stall-after=S    forward the request, read the server's whole answer,
#                      then send the client nothing for S seconds and reset:
#                      the request applied, its answer never comes (the
#                      client's own timeout has to end the wait)
#
# Every request is logged to DIR/log as
#   "METHOD TARGET -> ACTION|pass STATUS START+SECONDS" (STATUS of the
#   server, or -; START the epoch time it came in)
# Stop it by its PID (SIGTERM): it stops its children too.
use strict;
use warnings;
use Fcntl qw(:flock);
use FindBin;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);
use lib $FindBin::Bin;
use TestProxy;

my ($dir, $upstream) = @ARGV;
die "usage: faultproxy.pl DIR UPSTREAM_HOST:PORT\n" unless $dir && $upstream;
mkdir "$dir/counts";
my $srv = TestProxy::listen("$dir/port", 'faultproxy', 128);

sub logline { TestProxy::append("$dir/log", $_[0], 1); }
*write_all = \&TestProxy::write_all;

# The rules, parsed: [{line, method, re, lo, hi, actions => {k => v}}].
sub rules {
	open my $f, '<', "$dir/rules" or return [];
	my @r;
	while (my $l = <$f>) {
		chomp $l;
		$l =~ s/^\s+|\s+$//g;
		next if $l eq '' || $l =~ /^#/;
		my ($m, $re, $which, @acts) = split ' ', $l;
		unless (defined $which && @acts) {
			logline("bad rule: $l");
			next;
		}
		my ($lo, $hi);
		if    ($which eq '*')             { ($lo, $hi) = (1, 1e18); }
		elsif ($which =~ /^(\d+)$/)       { ($lo, $hi) = ($1, $1); }
		elsif ($which =~ /^(\d+)-(\d*)$/) { ($lo, $hi) = ($1, $2 eq '' ? 1e18 : $2); }
		else { logline("bad rule: $l"); next; }
		my %a;
		for (@acts) {
			my ($k, $v) = split /=/, $_, 2;
			$a{$k} = $v // 1;
		}
		my $rx = eval { qr/$re/ };
		unless ($rx) { logline("bad regex: $l"); next; }
		push @r, {line => $l, method => uc $m, re => $rx, lo => $lo,
			hi => $hi, actions => \%a};
	}
	close $f;
	return \@r;
}

# Count one more match of a rule; the new count.
sub bump {
	my ($rule) = @_;
	my $name = unpack('H*', $rule->{line});
	$name = substr($name, 0, 200) . length($name) if length $name > 200;
	open my $lk, '>>', "$dir/counts.lock" or return 1;
	flock $lk, LOCK_EX;
	my $n = 0;
	if (open my $f, '<', "$dir/counts/$name") { $n = <$f> // 0; close $f; }
	$n++;
	if (open my $f, '>', "$dir/counts/$name") { print $f "$n\n"; close $f; }
	close $lk;
	return $n;
}

# The actions for this request (a hash, empty = pass through).
sub decide {
	my ($method, $target) = @_;
	my $hit;
	# every matching rule counts the request; the first in range acts
	for my $r (@{rules()}) {
		next unless $r->{method} eq '*' || $r->{method} eq $method;
		next unless $target =~ $r->{re};
		my $n = bump($r);
		$hit //= $r->{actions} if $n >= $r->{lo} && $n <= $r->{hi};
	}
	return $hit // {};
}

sub rst {
	my ($s) = @_;
	return unless $s;
	setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	close $s;
}

my %reason = (500 => 'InternalError', 503 => 'SlowDown',
	502 => 'BadGateway', 504 => 'GatewayTimeout', 429 => 'SlowDown',
	409 => 'OperationAborted', 408 => 'RequestTimeout');

sub error_answer {
	my ($c, $code, $retry_after) = @_;
	my $name = $reason{$code} // 'InternalError';
	my $body = qq{<?xml version="1.0" encoding="UTF-8"?>\n}
	  . "<Error><Code>$name</Code><Message>injected by faultproxy</Message>"
	  . "<RequestId>fault</RequestId></Error>";
	my $h = "HTTP/1.1 $code $name\r\nContent-Type: application/xml\r\n"
	  . "Content-Length: " . length($body) . "\r\nConnection: close\r\n";
	$h .= "Retry-After: $retry_after\r\n" if defined $retry_after;
	write_all($c, "$h\r\n$body");
}

sub serve {
	my ($c) = @_;
	alarm 600;
	my $rest;
	my $head = TestProxy::read_head($c, \$rest);
	return unless defined $head;
	my ($reqline, @lines) = TestProxy::head_lines($head, 'connection',
		'proxy-connection', 'keep-alive');
	my ($method, $target) = split / /, $reqline;
	my ($clen, $expect) = (0, 0);
	my @out = ($reqline);
	for (@lines) {
		my ($lk, $v, $l) = @$_;
		if ($lk eq 'expect') { $expect = 1; next; }
		$clen = $v if $lk eq 'content-length';
		push @out, $l;
	}
	push @out, 'Connection: close';
	my $a = decide($method, $target);
	my $act = join(' ', map { $a->{$_} eq '1' ? $_ : "$_=$a->{$_}" } sort keys %$a)
	  || 'pass';
	my $status = '-';
	my $t0 = time;
	my $done = sub {
		logline(sprintf("%s %s -> %s %s %.3f+%.3f", $method, $target, $act,
			$status, $t0, time - $t0));
	};

	sleep($a->{delay} / 1000) if $a->{delay};
	if ($a->{reset}) { $done->(); rst($c); return; }
	if ($a->{status} || $a->{slowdown}) {
		# read what the client sends first (as a server would)
		write_all($c, "HTTP/1.1 100 Continue\r\n\r\n") if $expect && $clen;
		my $left = $clen - length $rest;
		while ($left > 0) {
			my $n = sysread($c, my $junk, $left > 65536 ? 65536 : $left);
			last if !$n;
			$left -= $n;
		}
		error_answer($c, $a->{status} || 503, $a->{slowdown} ? 1 : undef);
		$status = $a->{status} || 503;
		$done->();
		shutdown($c, 1);
		return;
	}
	if ($a->{stall}) {
		$done->();
		sleep $a->{stall};
		rst($c);
		return;
	}
	my $u = IO::Socket::INET->new(PeerAddr => $upstream, Proto => 'tcp');
	unless ($u) { $status = 'upstream-down'; $done->(); rst($c); return; }
	write_all($u, join("\r\n", @out) . "\r\n\r\n") or do { $done->(); rst($c); return; };
	# the body: Content-Length framed (curl sends no chunked uploads here)
	write_all($c, "HTTP/1.1 100 Continue\r\n\r\n") if $expect && $clen;
	my $cut = $a->{'cut-request'};
	my $sent = 0;
	my $send = sub {
		my ($data) = @_;
		if (defined $cut && $sent + length $data >= $cut) {
			write_all($u, substr($data, 0, $cut - $sent));
			return 0;
		}
		$sent += length $data;
		return write_all($u, $data);
	};
	if ($clen > 0) {
		my $ok = 1;
		if (length $rest) {
			$rest = substr($rest, 0, $clen);
			$ok = $send->($rest);
		}
		while ($ok && $sent < $clen) {
			my $want = $clen - $sent;
			my $n = sysread($c, my $buf, $want > 65536 ? 65536 : $want);
			last if !$n;
			$ok = $send->($buf);
		}
		if (!$ok) {
			$status = "cut at $cut";
			$done->();
			rst($u);
			rst($c);
			return;
		}
	}
	my $body;
	my $rhead = TestProxy::read_head($u, \$body);
	unless (defined $rhead) { $status = 'no-answer'; $done->(); rst($c); return; }
	($status) = $rhead =~ /^HTTP\/\S+ (\d+)/;
	$status //= '?';
	if ($a->{'reset-after'} || $a->{'stall-after'}) {
		# let the server finish with it, then say nothing (for S seconds)
		1 while sysread($u, my $junk, 65536);
		$done->();
		sleep $a->{'stall-after'} if $a->{'stall-after'};
		rst($c);
		return;
	}
	my ($rline, @rl) = TestProxy::head_lines($rhead, 'connection', 'keep-alive');
	my @rout = ($rline, (map { $_->[2] } @rl), 'Connection: close');
	write_all($c, join("\r\n", @rout) . "\r\n\r\n") or do { $done->(); return; };
	my $limit = $a->{'reset-body'};
	my $out = 0;
	while (1) {
		if (length $body) {
			if (defined $limit && $out + length $body >= $limit) {
				write_all($c, substr($body, 0, $limit - $out));
				$done->();
				rst($u);
				rst($c);
				return;
			}
			write_all($c, $body) or last;
			$out += length $body;
			$body = '';
		}
		my $n = sysread($u, $body, 65536);
		last if !$n;
	}
	$done->();
	shutdown($c, 1);
	# drain until the client closes (a clean FIN, no RST from unread data)
	1 while sysread($c, my $junk, 65536);
}

TestProxy::serve_forever($srv, \&serve);

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
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

my ($dir, $upstream) = @ARGV;
die "usage: reg-proxy.pl DIR UPSTREAM_HOST:PORT\n" unless $dir && $upstream;
# keep no descriptor of whoever started us (a test harness waits for
# its pipes to close)
POSIX::close($_) for 3 .. 1023;
my $srv = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Listen    => 64,
	ReuseAddr => 1,
	Proto     => 'tcp'
) or die "reg-proxy: listen: $!\n";
my %kids;
$SIG{CHLD} = sub {
	while ((my $p = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$p}; }
};
$SIG{TERM} = $SIG{INT} = sub {
	kill 'TERM', keys %kids;
	exit 0;
};
{
	open my $f, '>', "$dir/proxy.port.tmp" or die "reg-proxy: $dir: $!\n";
	print $f $srv->sockport, "\n";
	close $f;
	rename "$dir/proxy.port.tmp", "$dir/proxy.port"
	  or die "reg-proxy: rename: $!\n";
}

sub logline {
	my ($line) = @_;
	open my $f, '>>', "$dir/proxy.log" or return;
	print $f "$line\n";
	close $f;
}

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

# Read from $sock until $buf holds "\r\n\r\n"; the head and the rest.
sub read_head {
	my ($sock, $first) = @_;
	my $buf = '';
	while ($buf !~ /\r\n\r\n/) {
		my $n = sysread($sock, $buf, 65536, length $buf);
		return if !$n;
		if ($first && length $buf && substr($buf, 0, 1) eq "\x16") {
			logline('tls-hello');
			# like a plain-http server waiting for a request line:
			# read and never answer, until the client gives up
			1 while sysread($sock, my $junk, 65536);
			return;
		}
		return if length $buf > 1 << 20;
	}
	my $i = index($buf, "\r\n\r\n");
	return (substr($buf, 0, $i + 2), substr($buf, $i + 4));
}

sub write_all {
	my ($sock, $data) = @_;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($sock, $data, length($data) - $off, $off);
		return 0 unless defined $n;
		$off += $n;
	}
	return 1;
}

sub serve {
	my ($c) = @_;
	alarm 120;
	my ($head, $rest) = read_head($c, 1);
	return unless defined $head;
	my $m = mode();
	my @lines = split /\r\n/, $head;
	my $reqline = shift @lines;
	my ($method, $path) = split / /, $reqline;
	my ($clen, $range, $expect) = (0, '-', 0);
	my @out = ($reqline);
	for my $l (@lines) {
		my ($k, $v) = split /:\s*/, $l, 2;
		my $lk = lc $k;
		next if $lk eq 'connection' || $lk eq 'proxy-connection';
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
	my ($rhead, $body) = read_head($u, 0);
	return unless defined $rhead;
	my @rl = split /\r\n/, $rhead;
	my @rout = (shift @rl);
	for my $l (@rl) {
		my ($k, $v) = split /:\s*/, $l, 2;
		my $lk = lc $k;
		next if $lk eq 'connection' || $lk eq 'keep-alive';
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

while (1) {
	my $c = $srv->accept or next;
	my $pid = fork;
	if (!defined $pid) { close $c; next; }
	if ($pid == 0) {
		$SIG{TERM} = $SIG{INT} = 'DEFAULT';
		$SIG{CHLD} = 'DEFAULT';
		close $srv;
		serve($c);
		exit 0;
	}
	$kids{$pid} = 1;
	close $c;
}

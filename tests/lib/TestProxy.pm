# TestProxy.pm - what the test HTTP/1.1 proxies share (faultproxy.pl in
# front of RGW, reg-proxy.pl in front of a registry): a listener on
# 127.0.0.1 with a port from the kernel, one forked child per connection,
# request/answer heads read and rewritten, whole writes, log lines.
#
#   my $srv = TestProxy::listen($portfile, $name, $backlog);
#   TestProxy::serve_forever($srv, \&serve);     # serve($client) per child
#   my $head = TestProxy::read_head($sock, \$rest [, $peek]);
#   my ($first, @lines) = TestProxy::head_lines($head, @drop);
#   TestProxy::write_all($sock, $data);
#   TestProxy::append($file, $line [, $lock]);
package TestProxy;
use strict;
use warnings;
use Fcntl qw(:flock);
use IO::Socket::INET;
use POSIX ();

my %kids;

# Close every inherited descriptor (a test harness waits for its pipes to
# close), listen on 127.0.0.1 (port 0: the kernel's pick), write the port
# to $portfile atomically once listening. SIGTERM/SIGINT stop the children
# too; SIGCHLD reaps them.
sub listen {
	my ($portfile, $name, $backlog) = @_;
	POSIX::close($_) for 3 .. 1023;
	my $srv = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Listen    => $backlog // 64,
		ReuseAddr => 1,
		Proto     => 'tcp'
	) or die "$name: listen: $!\n";
	$SIG{CHLD} = sub {
		while ((my $p = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$p}; }
	};
	$SIG{TERM} = $SIG{INT} = sub {
		kill 'TERM', keys %kids;
		exit 0;
	};
	open my $f, '>', "$portfile.tmp" or die "$name: $portfile: $!\n";
	print $f $srv->sockport, "\n";
	close $f;
	rename "$portfile.tmp", $portfile or die "$name: rename: $!\n";
	return $srv;
}

# Accept forever; each connection is served by serve($client) in a child.
sub serve_forever {
	my ($srv, $serve) = @_;
	while (1) {
		my $c = $srv->accept or next;
		my $pid = fork;
		if (!defined $pid) { close $c; next; }
		if ($pid == 0) {
			$SIG{TERM} = $SIG{INT} = 'DEFAULT';
			$SIG{CHLD} = 'DEFAULT';
			close $srv;
			$serve->($c);
			exit 0;
		}
		$kids{$pid} = 1;
		close $c;
	}
}

# Read from $sock until "\r\n\r\n": the head (with its last CRLF), and what
# came after it in $$rest. undef on EOF, a head over 1 MiB, or when
# $peek->($buf) (called after each read) says to give up.
sub read_head {
	my ($sock, $rest, $peek) = @_;
	my $buf = '';
	$$rest = '';
	while ($buf !~ /\r\n\r\n/) {
		my $n = sysread($sock, $buf, 65536, length $buf);
		return if !$n;
		return if $peek && $peek->($buf);
		return if length $buf > 1 << 20;
	}
	my $i = index($buf, "\r\n\r\n");
	$$rest = substr($buf, $i + 4);
	return substr($buf, 0, $i + 2);
}

# The head's first line, then its header lines as [name (lower case),
# value, line], without the ones named in @drop (lower case).
sub head_lines {
	my ($head, @drop) = @_;
	my @l = split /\r\n/, $head;
	my $first = shift @l;
	my %drop = map { $_ => 1 } @drop;
	my @h;
	for my $l (@l) {
		my ($k, $v) = split /:\s*/, $l, 2;
		next if $drop{lc $k};
		push @h, [lc $k, $v, $l];
	}
	return ($first, @h);
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

# Append one line to $file (under an exclusive lock when $lock).
sub append {
	my ($file, $line, $lock) = @_;
	open my $f, '>>', $file or return;
	flock $f, LOCK_EX if $lock;
	print $f "$line\n";
	close $f;
}

1;

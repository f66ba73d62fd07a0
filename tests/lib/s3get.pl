#!/usr/bin/perl
# s3get.pl - one SigV4-signed GET to an S3 server over plain HTTP, for the
# fault suites' checks straight against RGW (tests/lib/faultproxy.bash:
# fault_open_uploads). Prints the body; exits 1 unless the answer is 200.
#
#   usage: s3get.pl http://HOST:PORT /PATH 'CANONICAL_QUERY' REGION
#   (the query already in canonical form: encoded, sorted, "k=v&k2=")
#   credentials from RGW_ACCESS_KEY and RGW_SECRET_KEY
#
# curl's --aws-sigv4 (7.88) signs some query strings differently from
# RGW (403), hence this.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use IO::Socket::INET;
use POSIX qw(strftime);

my ($ep, $path, $query, $region) = @ARGV;
die "usage: s3get.pl http://HOST:PORT /PATH QUERY REGION\n" unless defined $region;
my ($host) = $ep =~ m{^http://([^/]+)$} or die "s3get: not an http://HOST:PORT endpoint: $ep\n";
my ($ak, $sk) = @ENV{qw(RGW_ACCESS_KEY RGW_SECRET_KEY)};
die "s3get: RGW_ACCESS_KEY and RGW_SECRET_KEY unset\n" unless $ak && $sk;

my $date = strftime('%Y%m%dT%H%M%SZ', gmtime);
my $day = substr($date, 0, 8);
my $scope = "$day/$region/s3/aws4_request";
my $payload = 'UNSIGNED-PAYLOAD';
my $signed = 'host;x-amz-content-sha256;x-amz-date';
my $creq = join("\n", 'GET', $path, $query, "host:$host",
	"x-amz-content-sha256:$payload", "x-amz-date:$date", '', $signed, $payload);
my $sts = join("\n", 'AWS4-HMAC-SHA256', $date, $scope, sha256_hex($creq));
my $k = hmac_sha256($day, "AWS4$sk");
$k = hmac_sha256($_, $k) for ($region, 's3', 'aws4_request');
my $sig = hmac_sha256_hex($sts, $k);

my $s = IO::Socket::INET->new(PeerAddr => $host, Proto => 'tcp', Timeout => 30)
  or die "s3get: connect $host: $!\n";
print $s "GET $path?$query HTTP/1.0\r\nHost: $host\r\n"
  . "x-amz-content-sha256: $payload\r\nx-amz-date: $date\r\n"
  . "Authorization: AWS4-HMAC-SHA256 Credential=$ak/$scope, "
  . "SignedHeaders=$signed, Signature=$sig\r\n\r\n";
local $/;
my $resp = <$s> // '';
my ($head, $body) = split /\r\n\r\n/, $resp, 2;
$body //= '';
print $body;
exit($head =~ m{^HTTP/\S+ 200 } ? 0 : 1);

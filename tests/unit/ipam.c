/* Unit tests for src/net/ipam.c: host-local IPAM in process. Subnet
 * ranges, and leases in a temp directory in the CNI host-local plugin's
 * on-disk format (DIR/edgectl/<ip> = "id\r\nifname", last_reserved_ip.0):
 * the order of addresses, a full range, release by id (also of a lease
 * the plugin wrote), and leases the plugin wrote are never handed out. */
#include "net/net.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_parse(void)
{
	static const char *const bad[] = {
	    "198.19.1.0", "198.19.1.0/31",  "198.19.1.0/7", "198.19.1/24",
	    "x/24",	  "198.19.1.0/24x", "198.19.1.0/"};
	struct ipam_range r;
	struct ec_err err;
	char a[16];
	size_t i;

	ec_err_clear(&err);
	ok(ipam_subnet_parse("198.19.7.9/24", &r, &err) == 0, "a /24");
	ipam_addr_str(r.net, a);
	is_str(a, "198.19.7.0", "network address masked");
	ipam_addr_str(r.gw, a);
	is_str(a, "198.19.7.1", "gateway: the first address");
	ipam_addr_str(r.first, a);
	is_str(a, "198.19.7.2", "leases from the second");
	ipam_addr_str(r.last, a);
	is_str(a, "198.19.7.254", "to the one before broadcast");
	ok(ipam_subnet_parse("198.18.0.0/30", &r, &err) == 0 &&
	       r.first == r.last,
	   "a /30 holds one lease");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ec_err_clear(&err);
		is_int(ipam_subnet_parse(bad[i], &r, &err), -1, "'%s' refused",
		       bad[i]);
		is_int(err.cat, EC_USAGE, "'%s': usage error", bad[i]);
	}
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (fs_read_file(path, 4096, &data, &len, NULL) < 0)
		return xstrdup("(missing)");
	return data;
}

static void test_leases(void)
{
	char tmpl[] = "/tmp/ipam-test.XXXXXX";
	char *dir = mkdtemp(tmpl), a[16];
	_cleanup_free_ char *nd = NULL;
	char *f, *s;
	struct ipam_lease l;
	struct ec_err err;
	FILE *fp;
	int i;

	ec_err_clear(&err);
	ok(dir != NULL, "temp dir");
	nd = xasprintf("%s/%s", dir, IPAM_NETWORK);
	ok(ipam_alloc(dir, "198.18.9.0/29", "c1", "eth0", &l, &err) == 0,
	   "first lease");
	ipam_addr_str(l.addr, a);
	is_str(a, "198.18.9.2", "the first lease is .2");
	f = xasprintf("%s/198.18.9.2", nd);
	s = slurp(f);
	is_str(s, "c1\r\neth0", "host-local's lease format");
	free(s);
	free(f);
	f = xasprintf("%s/last_reserved_ip.0", nd);
	s = slurp(f);
	is_str(s, "198.18.9.2", "last_reserved_ip.0");
	free(s);
	free(f);
	/* a lease the plugin wrote (.3) is skipped */
	f = xasprintf("%s/198.18.9.3", nd);
	fp = fopen(f, "w");
	fputs("plugin\r\neth0", fp);
	fclose(fp);
	free(f);
	ok(ipam_alloc(dir, "198.18.9.0/29", "c2", "eth0", &l, &err) == 0,
	   "second lease");
	ipam_addr_str(l.addr, a);
	is_str(a, "198.18.9.4", "the plugin's .3 is not handed out");
	/* .5 and .6 left, then full */
	for (i = 0; i < 2; i++)
		ok(ipam_alloc(dir, "198.18.9.0/29", "more", "eth0", &l, &err) ==
		       0,
		   "lease %d", i + 3);
	ec_err_clear(&err);
	is_int(ipam_alloc(dir, "198.18.9.0/29", "c9", "eth0", &l, &err), -1,
	       "a full range fails");
	ok(strstr(err.msg, "no free address in 198.18.9.0/29") != NULL,
	   "and says so (%s)", err.msg);
	/* release by id: ours and the plugin's */
	ec_err_clear(&err);
	ok(ipam_release(dir, "c1", "eth0", &err) == 0, "release c1");
	ok(ipam_release(dir, "plugin", "eth0", &err) == 0, "release plugin");
	ok(ipam_release(dir, "nobody", "eth0", &err) == 0,
	   "releasing nothing is fine");
	f = xasprintf("%s/198.18.9.2", nd);
	ok(access(f, F_OK) < 0, "c1's lease gone");
	free(f);
	f = xasprintf("%s/198.18.9.3", nd);
	ok(access(f, F_OK) < 0, "the plugin's lease gone");
	free(f);
	f = xasprintf("%s/198.18.9.4", nd);
	ok(access(f, F_OK) == 0, "c2's lease stays");
	free(f);

	/* the search goes on after the last one given, wrapping */
	ok(ipam_alloc(dir, "198.18.9.0/29", "c3", "eth0", &l, &err) == 0,
	   "lease after release");
	ipam_addr_str(l.addr, a);
	is_str(a, "198.18.9.2", "wrapped around to .2");
	ok(ipam_alloc(dir, "198.18.9.0/29", "c4", "eth0", &l, &err) == 0,
	   "and the next");
	ipam_addr_str(l.addr, a);
	is_str(a, "198.18.9.3", ".3");
	fs_rm_rf(dir, NULL);
}

int main(void)
{
	test_parse();
	test_leases();
	return done_testing();
}

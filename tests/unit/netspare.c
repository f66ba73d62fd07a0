/* Unit tests for src/net/spare.c: spare network namespaces. Records in a
 * temp directory: a dead keeper's record and lease are collected, a live
 * one's kept (its "namespace" is a descriptor this test holds), a
 * half-written record is removed; claims take only a ready spare of the
 * same bridge and subnet whose keeper lives, once; the claimed record
 * names its spare. As root (CI), a real claim: a namespace held by this
 * process is bound at /run/netns/NAME and the record moves to the
 * claimer's file. */
#include "net/net.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUBNET "198.18.9.0/29"
#define BRIDGE "ecunit0"

/* Write DIR/NAME: a record of keeper pid holding fd (its inode), ready
 * (ip, result) or not. */
static void put_record(const char *dir, const char *name, const char *sid,
		       int pid, int fd, const char *subnet, int ready)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *s = NULL;
	struct stat st = {0};
	json_t *r;
	FILE *f;

	if (fd >= 0)
		fstat(fd, &st);
	r = json_pack("{s:s,s:i,s:i,s:I,s:I,s:s,s:s}", "sid", sid, "pid", pid,
		      "fd", fd, "ino", (json_int_t)st.st_ino, "dev",
		      (json_int_t)st.st_dev, "bridge", BRIDGE, "subnet",
		      subnet);
	if (ready) {
		json_object_set_new(r, "ip", json_string("198.18.9.2"));
		json_object_set_new(
		    r, "result",
		    json_pack("{s:s,s:[]}", "cniVersion", "1.0.0", "ips"));
	}
	s = ec_json_dump(r);
	json_decref(r);
	f = fopen(p, "w");
	fputs(s, f);
	fclose(f);
}

static int exists(const char *dir, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);

	return access(p, F_OK) == 0;
}

/* How many of the subnet's leases under LEASES are held by id. */
static int leases_of(const char *leases, const char *id)
{
	_cleanup_free_ char *want = xasprintf("%s\r\neth0", id);
	uint32_t i;
	int n = 0;

	for (i = 2; i < 8; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s/198.18.9.%u", leases,
						   IPAM_NETWORK, (unsigned)i);
		_cleanup_free_ char *data = NULL;
		size_t len;

		if (fs_read_file(p, 512, &data, &len, NULL) == 0 &&
		    !strcmp(data, want))
			n++;
	}
	return n;
}

static void test_records(void)
{
	char tmpl[] = "/tmp/netspare-test.XXXXXX";
	char *dir = mkdtemp(tmpl);
	_cleanup_free_ char *spares = xasprintf("%s/spares", dir);
	_cleanup_free_ char *leases = xasprintf("%s/leases", dir);
	_cleanup_free_ char *claimed = xasprintf("%s/net.json", dir);
	_cleanup_free_ char *sid = NULL, *p2 = NULL, *rec = NULL, *bad = NULL;
	_cleanup_free_ char *none = NULL;
	struct cni_opts o = {.bridge = BRIDGE, .subnet = SUBNET};
	struct ipam_lease l;
	struct net_spare sp;
	struct ec_err err;
	int live = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	o.ipam_dir = leases;
	ec_err_clear(&err);
	fs_mkdir_p(spares, NULL);
	ok(ipam_alloc(leases, SUBNET, "s000000000001", "eth0", &l, &err) == 0 &&
	       ipam_alloc(leases, SUBNET, "s000000000002", "eth0", &l, &err) ==
		   0,
	   "two spares' leases");
	put_record(spares, "s000000000001.json", "s000000000001", (int)dead, 3,
		   SUBNET, 1);
	put_record(spares, "s000000000002.json", "s000000000002", (int)getpid(),
		   live, SUBNET, 1);
	put_record(spares, "s000000000003.new", "s000000000003", (int)getpid(),
		   live, SUBNET, 1);
	put_record(spares, "notaspare.json", "x", (int)dead, 3, SUBNET, 1);

	/* a dead keeper's ready spare is not claimed */
	put_record(spares, "s000000000004.json", "s000000000004", (int)dead, 3,
		   SUBNET, 1);
	o.subnet = "198.18.10.0/29";
	is_int(net_spare_claim(&o, spares, claimed, "x", &sp, &err), 0,
	       "no spare of another subnet");
	o.subnet = SUBNET;
	o.bridge = "ecother";
	is_int(net_spare_claim(&o, spares, claimed, "x", &sp, &err), 0,
	       "no spare of another bridge");
	o.bridge = BRIDGE;
	ok(exists(spares, "s000000000002.json"), "a live one stays unclaimed");

	is_int(net_spare_collect(spares, leases), 2,
	       "collect: the two dead keepers' records");
	ok(!exists(spares, "s000000000001.json") &&
	       !exists(spares, "s000000000004.json"),
	   "their records are gone");
	is_int(leases_of(leases, "s000000000001"), 0, "and the dead's lease");
	ok(exists(spares, "s000000000002.json"), "the live keeper's stays");
	is_int(leases_of(leases, "s000000000002"), 1, "with its lease");
	ok(!exists(spares, "s000000000003.new"),
	   "a record its writer left half-written is removed");
	ok(exists(spares, "notaspare.json"), "other names are not touched");

	/* a live one that is not ready yet (cni_add under way) */
	put_record(spares, "s000000000005.json", "s000000000005", (int)getpid(),
		   live, SUBNET, 0);
	p2 = xasprintf("%s/s000000000002.json", spares);
	unlink(p2);
	is_int(net_spare_claim(&o, spares, claimed, "x", &sp, &err), 0,
	       "a spare without its address is not claimed");

	put_record(dir, "rec.json", "s00000000000a", 1, 3, SUBNET, 1);
	rec = xasprintf("%s/rec.json", dir);
	sid = net_spare_record_sid(rec);
	is_str(sid, "s00000000000a", "a claimed record names its spare");
	put_record(dir, "bad.json", "../x", 1, 3, SUBNET, 1);
	bad = xasprintf("%s/bad.json", dir);
	none = xasprintf("%s/none.json", dir);
	ok(!net_spare_record_sid(bad), "not a spare id: none");
	ok(!net_spare_record_sid(none), "no record: none");
	close(live);
	fs_rm_rf(dir, NULL);
}

/* As root: a namespace this process holds, claimed for real. */
static void test_claim(void)
{
	char tmpl[] = "/tmp/netspare-claim.XXXXXX";
	char *dir = mkdtemp(tmpl);
	_cleanup_free_ char *spares = xasprintf("%s/spares", dir);
	_cleanup_free_ char *leases = xasprintf("%s/leases", dir);
	_cleanup_free_ char *claimed = xasprintf("%s/net.json", dir);
	_cleanup_free_ char *name = xasprintf("ecunit-%d", (int)getpid());
	_cleanup_free_ char *path = xasprintf("%s/%s", NETNS_DIR, name);
	_cleanup_free_ char *sid = NULL;
	struct cni_opts o = {
	    .bridge = BRIDGE, .subnet = SUBNET, .ipam_dir = leases};
	struct stat a, b;
	struct net_spare sp;
	struct ec_err err;
	int nsfd;

	ec_err_clear(&err);
	fs_mkdir_p(spares, NULL);
	ok(netns_hold(&nsfd, &err) == 0, "a namespace held by a descriptor");
	put_record(spares, "s0000000000b1.json", "s0000000000b1", (int)getpid(),
		   nsfd, SUBNET, 1);
	is_int(net_spare_claim(&o, spares, claimed, name, &sp, &err), 1,
	       "claimed");
	is_str(sp.sid, "s0000000000b1", "its id");
	is_str(sp.ip, "198.18.9.2", "its address");
	ok(json_is_object(sp.result), "its CNI result");
	ok(!exists(spares, "s0000000000b1.json") && access(claimed, F_OK) == 0,
	   "the record moved to the claimer's file");
	sid = net_spare_record_sid(claimed);
	is_str(sid, "s0000000000b1", "which names it");
	fstat(nsfd, &a);
	ok(stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
	   "the namespace is bound at %s", path);
	net_spare_release(&sp);
	is_int(net_spare_claim(&o, spares, claimed, name, &sp, &err), 0,
	       "claimed once only");
	close(nsfd);
	netns_delete(name, NULL);
	fs_rm_rf(dir, NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_records();
	if (geteuid() == 0)
		test_claim();
	else
		printf("# claim: needs root (a namespace, a bind mount)\n");
	return done_testing();
}

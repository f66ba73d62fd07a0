/* fleet.c - unit tests of the remote-execution layer (src/fleet/remote.c):
 * exit statuses map back to their categories, a remote's JSON error keeps
 * its message behind the host's name, raw stderr is cut to its first line;
 * the fan-out calls every index exactly once, with at most `par` threads
 * at a time, and runs a host without "ssh" (this machine) for real. */
#include "tap.h"
#include "fleet/remote.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int calls[1000];
static atomic_int running, peak;

static void count(size_t i, void *arg)
{
	int now;

	(void)arg;
	now = atomic_fetch_add(&running, 1) + 1;
	for (int p = atomic_load(&peak); now > p;)
		if (atomic_compare_exchange_weak(&peak, &p, now))
			break;
	usleep(200);
	atomic_fetch_add(&calls[i], 1);
	atomic_fetch_sub(&running, 1);
}

static void test_fanout(void)
{
	int i, bad = 0;

	fleet_fanout(1000, 8, count, NULL);
	for (i = 0; i < 1000; i++)
		bad += atomic_load(&calls[i]) != 1;
	is_int(bad, 0, "fanout: every index called exactly once");
	ok(atomic_load(&peak) <= 8 && atomic_load(&peak) >= 2,
	   "fanout: at most 8 at a time, and in parallel (peak %d)",
	   atomic_load(&peak));
	atomic_store(&peak, 0);
	fleet_fanout(0, 8, count, NULL);
	is_int(atomic_load(&peak), 0, "fanout: nothing to do calls nothing");
	fleet_fanout(3, 0, count, NULL);
	is_int(atomic_load(&peak), 1, "fanout: par 0 is clamped to 1");
}

static void test_errors(void)
{
	struct ec_err err;
	const char *js = "{\"error\":{\"message\":\"image 'x' not found\","
			 "\"category\":\"not_found\",\"exit_status\":3}}\n";
	const char *raw = "bash: edgectl: oops\nsecond line\n";

	is_int(fleet_status_cat(3), EC_NOTFOUND, "status 3 is not found");
	is_int(fleet_status_cat(6), EC_CONFLICT, "status 6 is conflict");
	is_int(fleet_status_cat(42), EC_FAIL, "an unknown status is failed");
	ec_err_clear(&err);
	fleet_remote_error("h1", 3, js, strlen(js), &err);
	is_int(err.cat, EC_NOTFOUND, "remote not found keeps its category");
	is_str(err.msg, "host h1: image 'x' not found",
	       "remote JSON error message behind the host name");
	ec_err_clear(&err);
	fleet_remote_error("h2", 1, raw, strlen(raw), &err);
	is_str(err.msg, "host h2: exit status 1: bash: edgectl: oops",
	       "raw stderr: its first line");
	ec_err_clear(&err);
	fleet_remote_error("h3", 4, "", 0, &err);
	is_str(err.msg, "host h3: exit status 4", "no stderr: the status");
	is_int(err.cat, EC_REMOTE, "status 4 is remote");
	/* a duplicate key makes the JSON invalid: taken as raw text */
	const char *dup = "{\"error\":{\"message\":\"a\",\"message\":\"b\"}}";
	ec_err_clear(&err);
	fleet_remote_error("h4", 1, dup, strlen(dup), &err);
	ok(strstr(err.msg, "exit status 1") != NULL,
	   "duplicate keys in a remote error are not trusted");
}

static void test_local_exec(void)
{
	/* a host without "ssh" runs /proc/self/exe: this test binary is not
	 * edgectl, so only check the plumbing with a host that has "ssh"
	 * pointing nowhere reachable is an ssh error, not a crash */
	json_t *host = json_pack("{s:s,s:s}", "name", "bad", "ssh",
				 "-oProxyCommand=touch /tmp/x");
	struct ssh_opts o = {0};
	struct ec_err err;
	const char *args[] = {"version", NULL};
	json_t *r;

	ec_err_clear(&err);
	r = fleet_remote_json(&o, host, args, &err);
	ok(r == NULL && err.cat == EC_USAGE,
	   "an ssh target that looks like an option is refused (%s)", err.msg);
	json_decref(r);
	json_decref(host);
}

static void test_targets(void)
{
	static const struct {
		const char *in, *user, *host;
		int port;
	} good[] = {
	    {"h1", "", "h1", 0},
	    {"root@198.18.0.11", "root", "198.18.0.11", 0},
	    {"ci_bot@edge-1.example:2222", "ci_bot", "edge-1.example", 2222},
	    {"[::1]:22", "", "::1", 22},
	    {"root@[fd00::5]", "root", "fd00::5", 0},
	    {"::1", "", "::1", 0},
	};
	static const char *bad[] = {
	    "-oProxyCommand=sh",
	    "root@-oProxyCommand=sh",
	    "-l@h",
	    "h 1",
	    "h;rm",
	    "h:0",
	    "h:65536",
	    "h:22x",
	    "h:",
	    "@h",
	    "[]",
	    "[::1",
	    "h\n",
	    "a'b@h",
	    "",
	    "h:-1",
	    ".h",
	};
	struct ssh_target t;
	struct ec_err err;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ec_err_clear(&err);
		ok(fleet_ssh_target_parse(good[i].in, &t, &err) == 0 &&
		       !strcmp(t.user, good[i].user) &&
		       !strcmp(t.host, good[i].host) && t.port == good[i].port,
		   "ssh target '%s' -> user '%s' host '%s' port %d", good[i].in,
		   t.user, t.host, t.port);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ec_err_clear(&err);
		ok(fleet_ssh_target_parse(bad[i], &t, &err) < 0 &&
		       err.cat == EC_USAGE,
		   "ssh target '%s' refused", bad[i]);
	}
}

int main(void)
{
	test_targets();
	test_fanout();
	test_errors();
	test_local_exec();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

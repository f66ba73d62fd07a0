/* relay.c - unit tests of fleet_relay_json (src/fleet/relay.c) for real:
 * hosts without "ssh" run /proc/self/exe, so this binary plays edgectl on
 * both sides (see fake()): the bytes go through the pipe, the answer is
 * parsed strictly, and a failing side's error keeps its category and
 * message behind the host's name, the source's first unless it only lost
 * its reader. */
#include "tap.h"
#include "fleet/relay.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* `--json VERB [N]`: what a host's edgectl does in these tests. */
static int fake(int argc, char **argv)
{
	const char *verb = argv[2];
	char buf[65536];
	long long n = 0;
	ssize_t r;

	if (!strcmp(verb, "emit")) {
		long long want = argc > 3 ? atoll(argv[3]) : 0;
		memset(buf, 'x', sizeof(buf));
		signal(SIGPIPE, SIG_DFL);
		for (; n < want; n += r)
			if ((r = write(1, buf,
				       want - n < (long long)sizeof(buf)
					   ? (size_t)(want - n)
					   : sizeof(buf))) <= 0)
				return 1;
		return 0;
	}
	if (!strcmp(verb, "count") || !strcmp(verb, "count-bad")) {
		while ((r = read(0, buf, sizeof(buf))) > 0)
			n += r;
		if (!strcmp(verb, "count-bad"))
			printf("{\"bytes_received\": %lld, \"a\": 1, \"a\": 2}",
			       n);
		else
			printf("{\"bytes_received\": %lld}\n", n);
		return 0;
	}
	if (!strcmp(verb, "notfound")) {
		fprintf(stderr, "{\"error\":{\"message\":\"image 'x' not "
				"found\",\"category\":\"not_found\"}}\n");
		return 3;
	}
	if (!strcmp(verb, "raw")) {
		fprintf(stderr, "boom\nsecond line\n");
		return 1;
	}
	return 2;
}

static json_t *relay(const char *const *sargs, const char *const *dargs,
		     struct ec_err *err)
{
	json_t *a = json_pack("{s:s}", "name", "a");
	json_t *b = json_pack("{s:s}", "name", "b");
	struct ssh_opts o = {0};
	json_t *r;

	ec_err_clear(err);
	r = fleet_relay_json(&o, a, sargs, b, dargs, err);
	json_decref(a);
	json_decref(b);
	return r;
}

int main(int argc, char **argv)
{
	const char *emit[] = {"emit", "3000000", NULL};
	const char *count[] = {"count", NULL}, *bad[] = {"count-bad", NULL};
	const char *nf[] = {"notfound", NULL}, *raw[] = {"raw", NULL};
	struct ec_err err;
	json_t *r;

	if (argc > 2 && !strcmp(argv[1], "--json"))
		return fake(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	r = relay(emit, count, &err);
	ok(r && json_integer_value(json_object_get(r, "bytes_received")) ==
		    3000000,
	   "relay: 3 MB from one side arrive on the other, its answer parsed "
	   "(%s)",
	   r ? "" : err.msg);
	json_decref(r);

	r = relay(nf, count, &err);
	ok(!r && err.cat == EC_NOTFOUND, "relay: a failed source keeps its "
					 "category (not found)");
	is_str(err.msg, "host a: image 'x' not found",
	       "relay: ... and its message, behind the source's name");

	r = relay(emit, raw, &err);
	ok(!r && err.cat == EC_FAIL, "relay: a failed destination fails it");
	is_str(err.msg, "host b: exit status 1: boom",
	       "relay: the destination's error, not the source's SIGPIPE");

	r = relay(emit, bad, &err);
	ok(!r && err.cat == EC_REMOTE && strstr(err.msg, "host b"),
	   "relay: an answer with duplicate keys is refused (%s)", err.msg);

	{
		json_t *a = json_pack("{s:s,s:s}", "name", "a", "ssh",
				      "-oProxyCommand=x");
		json_t *b = json_pack("{s:s}", "name", "b");
		struct ssh_opts o = {0};
		ec_err_clear(&err);
		r = fleet_relay_json(&o, a, emit, b, count, &err);
		ok(!r && err.cat == EC_USAGE,
		   "relay: a host whose ssh target looks like an option is "
		   "refused before anything runs (%s)",
		   err.msg);
		json_decref(a);
		json_decref(b);
	}
	return done_testing();
}

/* instance.c - unit tests of what `edgectl run` decides (src/instance,
 * rt_pick in src/runtime): options checked with their messages, the spec
 * built from options and an image config (args, env, user, cwd, limits,
 * ports, mounts), the record published in the store and its key, the stop
 * escalation, the start check, log follow offsets, which instances ps
 * shows, run's argv for another host; then, on a temporary root without
 * any runtime, logs, ps, stop and rm of instances that do not run and the
 * record written to a file:// store. */
#include "tap.h"
#include "instance/instance.h"
#include "runtime/runtime.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <unistd.h>

/* Set option name=arg on o; the error message, or "" when it passed. */
static const char *set(struct inst_opts *o, const char *name, const char *arg)
{
	static struct ec_err err;

	ec_err_clear(&err);
	if (inst_opt_set(o, name, arg, &err) == 0)
		return "";
	if (err.cat != EC_USAGE)
		return "(not a usage error)";
	return err.msg;
}

static void test_opts(void)
{
	struct inst_opts o;

	inst_opts_init(&o);
	is_str(set(&o, "env", "A=1"), "", "-e A=1");
	is_str(set(&o, "env", "A="), "", "-e A= (empty value)");
	is_str(set(&o, "env", "=1"), "-e '=1': use KEY=VALUE", "-e =1");
	is_str(set(&o, "env", "A"), "-e 'A': use KEY=VALUE", "-e without =");
	is_int(json_array_size(o.env), 2, "two -e kept");
	is_str(set(&o, "publish", "8080:80"), "", "-p 8080:80");
	is_str(set(&o, "publish", "53:53/udp"), "", "-p 53:53/udp");
	ok(*set(&o, "publish", "x:80"), "-p x:80 refused");
	is_int(json_array_size(o.ports), 2, "two -p kept");
	is_str(set(&o, "volume", "/a:/b"), "", "-v /a:/b");
	is_str(set(&o, "volume", "/c:/d:ro"), "", "-v /c:/d:ro");
	is_str(set(&o, "volume", "/e:/f:rw"), "", "-v /e:/f:rw");
	is_str(set(&o, "volume", "a:/b"),
	       "-v 'a:/b': use /HOST/PATH:/CONTAINER/PATH[:ro]",
	       "-v relative source");
	is_str(set(&o, "volume", "/a:b"),
	       "-v '/a:b': use /HOST/PATH:/CONTAINER/PATH[:ro]",
	       "-v relative target");
	is_str(set(&o, "volume", "/a"),
	       "-v '/a': use /HOST/PATH:/CONTAINER/PATH[:ro]", "-v no target");
	is_str(set(&o, "volume", "/a:/b:xx"), "-v '/a:/b:xx': mode ro or rw",
	       "-v bad mode");
	is_str(set(&o, "tmpfs", "/t"), "", "--tmpfs /t");
	is_str(set(&o, "tmpfs", "t"), "--tmpfs 't': an absolute path",
	       "--tmpfs relative");
	is_int(json_array_size(o.mounts), 4, "three -v and one --tmpfs kept");
	ok(json_is_true(json_object_get(json_array_get(o.mounts, 1), "ro")) &&
	       json_is_false(
		   json_object_get(json_array_get(o.mounts, 2), "ro")) &&
	       json_is_true(
		   json_object_get(json_array_get(o.mounts, 3), "tmpfs")),
	   "mounts: ro, rw, tmpfs");
	is_str(ec_json_str(json_array_get(o.mounts, 0), "src"), "/a",
	       "mount source");
	is_str(ec_json_str(json_array_get(o.mounts, 0), "dst"), "/b",
	       "mount target");
	is_str(set(&o, "cpus", "0.5"), "", "--cpus 0.5");
	ok(o.cpus == 0.5, "cpus 0.5");
	is_str(set(&o, "cpus", "0"), "--cpus '0': a number > 0", "--cpus 0");
	ok(*set(&o, "cpus", "-1"), "--cpus -1 refused");
	ok(*set(&o, "cpus", ""), "--cpus '' refused");
	ok(*set(&o, "cpus", "nan"), "--cpus nan refused");
	ok(*set(&o, "cpus", "2000"), "--cpus 2000 refused");
	ok(*set(&o, "cpus", "1x"), "--cpus 1x refused");
	is_str(set(&o, "memory", "64M"), "", "--memory 64M");
	is_int(o.memory, 64 << 20, "memory in bytes");
	is_str(set(&o, "memory", "1M"), "--memory '1M': a size of at least 4M",
	       "--memory below 4M");
	ok(*set(&o, "memory", "lots"), "--memory lots refused");
	is_str(set(&o, "pids-limit", "100"), "", "--pids-limit 100");
	is_int(o.pids, 100, "pids 100");
	is_str(set(&o, "pids-limit", "0"),
	       "--pids-limit '0': a number from 1 to 4194304",
	       "--pids-limit 0");
	ok(*set(&o, "pids-limit", "99999999"), "--pids-limit too many");
	is_str(set(&o, "network", "none"), "", "--network none");
	is_str(o.network, "none", "network none");
	is_str(set(&o, "network", "overlay"),
	       "--network 'overlay': bridge, none or host",
	       "--network overlay");
	is_str(set(&o, "vip", "198.18.255.10"), "", "--vip IPv4");
	is_str(set(&o, "vip", "::1"), "--vip '::1': an IPv4 address",
	       "--vip IPv6 refused");
	is_str(set(&o, "name", "web-1.a_b"), "", "--name web-1.a_b");
	is_str(set(&o, "name", "-x"),
	       "--name '-x': letters, digits, '_', '.', '-'",
	       "--name starting with -");
	ok(*set(&o, "name", "a b"), "--name with a space refused");
	is_str(o.name, "web-1.a_b", "a refused name keeps the last good one");
	set(&o, "runtime", "runsc");
	set(&o, "user", "1000:1000");
	set(&o, "workdir", "/srv");
	set(&o, "entrypoint", "/bin/sh");
	set(&o, "app", "web");
	set(&o, "subnet", "198.19.7.0/24");
	is_str(o.runtime, "runsc", "--runtime");
	is_str(o.user, "1000:1000", "--user");
	is_str(o.workdir, "/srv", "--workdir");
	is_str(o.entrypoint, "/bin/sh", "--entrypoint");
	is_str(o.app, "web", "--app");
	is_str(o.subnet, "198.19.7.0/24", "--subnet");
	ok(!o.detach && !o.rm && !o.read_only, "flags start off");
	set(&o, "detach", NULL);
	set(&o, "rm", NULL);
	set(&o, "read-only", NULL);
	ok(o.detach && o.rm && o.read_only, "-d, --rm, --read-only");
	inst_opts_release(&o);
}

static void test_check(void)
{
	struct inst_opts o;
	struct ec_err err;

	inst_opts_init(&o);
	ok(inst_opts_check(&o, &err) == 0, "no ports: fine");
	set(&o, "publish", "80");
	ok(inst_opts_check(&o, &err) == 0, "ports on the default network");
	set(&o, "network", "bridge");
	ok(inst_opts_check(&o, &err) == 0, "ports on the bridge");
	set(&o, "network", "host");
	ec_err_clear(&err);
	ok(inst_opts_check(&o, &err) < 0 && err.cat == EC_USAGE,
	   "ports with --network host: usage error");
	is_str(err.msg, "-p needs --network bridge", "its message");
	inst_opts_release(&o);
}

static json_t *image_cfg(void)
{
	return json_pack("{s:[s],s:[s,s],s:[s,s,s],s:s,s:s}", "Entrypoint",
			 "/bin/ep", "Cmd", "serve", "--port=80", "Env",
			 "PATH=/opt/bin", "A=1", "AB=2", "WorkingDir", "/app",
			 "User", "nobody");
}

/* The spec's array `key` joined with '|'. */
static char *joined(const json_t *spec, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(spec, key), i, v)
		sb_addf(&sb, "%s%s", i ? "|" : "", json_string_value(v));
	return sb_detach(&sb, NULL);
}

static void test_spec_args_env(void)
{
	_cleanup_json_ json_t *cfg = image_cfg(), *low = json_pack("[s]", "/l");
	char *cmd[] = {"sh", "-c", "true"};
	struct inst_opts o;
	json_t *sp;
	char *s;

	inst_opts_init(&o);
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str((s = joined(sp, "args")), "/bin/ep|serve|--port=80",
	       "args: image entrypoint + image cmd");
	free(s);
	is_str((s = joined(sp, "env")), "PATH=/opt/bin|A=1|AB=2",
	       "env: the image's");
	free(s);
	is_str(ec_json_str(sp, "cwd"), "/app", "cwd: the image's");
	is_str(ec_json_str(sp, "user"), "nobody", "user: the image's");
	ok(!json_object_get(sp, "spares"), "spares: made by default");
	json_decref(sp);
	o.no_spares = 1;
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	ok(json_is_false(json_object_get(sp, "spares")),
	   "spares: false in the spec when the config turns them off");
	json_decref(sp);
	o.no_spares = 0;

	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, cmd, 3);
	is_str((s = joined(sp, "args")), "/bin/ep|sh|-c|true",
	       "args: image entrypoint + command given");
	free(s);
	json_decref(sp);

	set(&o, "entrypoint", "/bin/other");
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str((s = joined(sp, "args")), "/bin/other",
	       "args: --entrypoint drops the image's cmd");
	free(s);
	json_decref(sp);
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, cmd, 3);
	is_str((s = joined(sp, "args")), "/bin/other|sh|-c|true",
	       "args: --entrypoint + command given");
	free(s);
	json_decref(sp);

	set(&o, "env", "A=9");
	set(&o, "env", "B=3");
	set(&o, "env", "PATH=/bin");
	set(&o, "user", "0:0");
	set(&o, "workdir", "/");
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str((s = joined(sp, "env")), "AB=2|A=9|B=3|PATH=/bin",
	       "env: -e replaces its key only (not AB), adds new ones");
	free(s);
	is_str(ec_json_str(sp, "cwd"), "/", "cwd: --workdir");
	is_str(ec_json_str(sp, "user"), "0:0", "user: --user");
	json_decref(sp);
	inst_opts_release(&o);

	inst_opts_init(&o);
	sp = inst_spec_build(&o, "abc", "x", "sha256:d", NULL, low, NULL, 0);
	is_int(json_array_size(json_object_get(sp, "args")), 0,
	       "no image config, no command: no args (inst_exec refuses)");
	is_str((s = joined(sp, "env")),
	       "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
	       "/bin",
	       "env: a default PATH when the image has no Env");
	free(s);
	ok(!ec_json_str(sp, "cwd") && !ec_json_str(sp, "user"),
	   "no cwd, no user");
	json_decref(sp);
	inst_opts_release(&o);
}

static void test_spec_rest(void)
{
	_cleanup_json_ json_t *cfg = image_cfg();
	_cleanup_json_ json_t *low = json_pack("[s,s]", "/top", "/base");
	struct inst_opts o;
	json_t *sp;
	char *s;

	inst_opts_init(&o);
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str(ec_json_str(sp, "id"), "abc", "id");
	is_str(ec_json_str(sp, "name"), "abc", "name defaults to the id");
	is_str(ec_json_str(sp, "app"), "abc", "app defaults to the name");
	is_str(ec_json_str(sp, "hostname"), "abc", "hostname is the id");
	is_str(ec_json_str(sp, "network"), "bridge", "network: bridge");
	is_str(ec_json_str(sp, "subnet"), INST_DEFAULT_SUBNET,
	       "subnet: the default");
	ok(!ec_json_str(sp, "bridge"), "no bridge unless configured");
	ok(!ec_json_str(sp, "runtime"), "no runtime unless chosen");
	is_int(ec_json_int(sp, "memory") + ec_json_int(sp, "pids"), 0,
	       "no limits");
	ok(json_number_value(json_object_get(sp, "cpus")) == 0, "no cpu limit");
	is_int(ec_json_int(sp, "stop_grace_ms"), 10000, "stop grace 10 s");
	ok(json_is_false(json_object_get(sp, "read_only")) &&
	       json_is_false(json_object_get(sp, "rm")),
	   "not read-only, not rm");
	is_str((s = joined(sp, "lowerdirs")), "/top|/base", "lowerdirs");
	free(s);
	json_decref(sp);

	set(&o, "name", "web1");
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str(ec_json_str(sp, "app"), "web1", "app defaults to --name");
	json_decref(sp);

	set(&o, "app", "web");
	set(&o, "runtime", "runc");
	set(&o, "network", "none");
	set(&o, "subnet", "198.19.9.0/24");
	o.bridge = "ecbr";
	set(&o, "memory", "64M");
	set(&o, "cpus", "1.5");
	set(&o, "pids-limit", "50");
	set(&o, "read-only", NULL);
	set(&o, "rm", NULL);
	set(&o, "publish", "8080:80");
	set(&o, "volume", "/h:/c:ro");
	set(&o, "tmpfs", "/tmp");
	set(&o, "vip", "198.18.255.10");
	sp = inst_spec_build(&o, "abc", "web:1", "sha256:d", cfg, low, NULL, 0);
	is_str(ec_json_str(sp, "name"), "web1", "name: --name");
	is_str(ec_json_str(sp, "app"), "web", "app: --app");
	is_str(ec_json_str(sp, "runtime"), "runc", "runtime");
	is_str(ec_json_str(sp, "network"), "none", "network: --network");
	is_str(ec_json_str(sp, "subnet"), "198.19.9.0/24", "subnet: --subnet");
	is_str(ec_json_str(sp, "bridge"), "ecbr", "bridge: configured");
	is_str(ec_json_str(sp, "image"), "web:1", "image");
	is_str(ec_json_str(sp, "digest"), "sha256:d", "digest");
	is_int(ec_json_int(sp, "memory"), 64 << 20, "memory limit");
	ok(json_number_value(json_object_get(sp, "cpus")) == 1.5, "cpu limit");
	is_int(ec_json_int(sp, "pids"), 50, "pids limit");
	ok(json_is_true(json_object_get(sp, "read_only")) &&
	       json_is_true(json_object_get(sp, "rm")),
	   "read-only, rm");
	is_str((s = joined(sp, "ports")), "8080:80", "ports");
	free(s);
	is_str((s = joined(sp, "vips")), "198.18.255.10", "vips");
	free(s);
	is_int(json_array_size(json_object_get(sp, "mounts")), 2,
	       "mounts: the bind and the tmpfs");
	json_decref(sp);
	inst_opts_release(&o);
}

static void test_record(void)
{
	_cleanup_json_ json_t *st =
	    json_pack("{s:s,s:s,s:s}", "id", "abc", "status", "running", "ip",
		      "198.19.0.5");
	_cleanup_json_ json_t *sp =
	    json_pack("{s:s,s:s,s:s}", "app", "web", "digest", "sha256:d",
		      "image", "web:1");
	_cleanup_json_ json_t *r = inst_record(st, sp, "h1");
	_cleanup_free_ char *k = inst_record_key("web", "abc");
	_cleanup_free_ char *p = inst_record_prefix("web");

	is_str(k, "instances/web/abc.json", "record key");
	is_str(p, "instances/web/", "records prefix of an app");
	ok(!strncmp(k, p, strlen(p)), "the key is under the prefix");
	is_str(ec_json_str(r, "host"), "h1", "record: host");
	is_str(ec_json_str(r, "app"), "web", "record: app from the spec");
	is_str(ec_json_str(r, "digest"), "sha256:d", "record: digest");
	is_str(ec_json_str(r, "status"), "running",
	       "record: the state's status");
	is_str(ec_json_str(r, "ip"), "198.19.0.5",
	       "record: the state's address");
	ok(!json_object_get(st, "host"), "the state itself is not changed");
}

static void test_stop(void)
{
	int stage = 0;

	is_int(inst_stop_next(1000, 0, &stage), INST_STOP_WAIT, "stop: wait");
	is_int(inst_stop_next(1000, 1000, &stage), INST_STOP_WAIT,
	       "stop: still waiting at the grace");
	is_int(inst_stop_next(1000, 1001, &stage), INST_STOP_KILL,
	       "stop: KILL past the grace");
	is_int(inst_stop_next(1000, 1100, &stage), INST_STOP_WAIT,
	       "stop: KILL only once");
	is_int(inst_stop_next(1000, 1000 + INST_STOP_FORCE_MS - 1, &stage),
	       INST_STOP_WAIT, "stop: waits for the killed container");
	is_int(inst_stop_next(1000, 1000 + INST_STOP_FORCE_MS, &stage),
	       INST_STOP_FORCE, "stop: delete --force when it hangs");
	is_int(inst_stop_next(1000, 1000 + INST_STOP_FORCE_MS + 100, &stage),
	       INST_STOP_WAIT, "stop: force only once");
	is_int(inst_stop_next(1000, 1000 + INST_STOP_GIVEUP_MS, &stage),
	       INST_STOP_GIVE_UP, "stop: gives up on the monitor");
	stage = 0;
	is_int(inst_stop_next(0, 0, &stage), INST_STOP_WAIT,
	       "rm -f (no grace): one look first");
	is_int(inst_stop_next(0, 100, &stage), INST_STOP_KILL,
	       "rm -f: then KILL");
	stage = 0;
	is_int(inst_stop_next(1000, 99999, &stage), INST_STOP_KILL,
	       "a late look still kills before forcing");
	is_int(inst_stop_next(1000, 99999, &stage), INST_STOP_FORCE,
	       "then forces");
	is_int(inst_stop_next(1000, 99999, &stage), INST_STOP_GIVE_UP,
	       "then gives up");
}

static int start(const char *status, const char *error, int exited,
		 const char *rt, struct ec_err *err)
{
	_cleanup_json_ json_t *st =
	    status ? json_pack("{s:s,s:s?}", "status", status, "error", error)
		   : NULL;

	ec_err_clear(err);
	return inst_start_check(st, exited, rt, err);
}

static void test_start(void)
{
	struct ec_err err;

	is_int(start("failed", "exec: no such file", 0, NULL, &err), -1,
	       "start: failed");
	is_str(err.msg, "exec: no such file", "start: the instance's error");
	is_int(start("failed", NULL, 1, NULL, &err), -1,
	       "start: failed, monitor gone");
	is_str(err.msg, "failed", "start: a failure without a message");
	is_int(start("exited", NULL, 0, NULL, &err), 1, "start: ran and ended");
	is_int(start("created", NULL, 1, NULL, &err), 1,
	       "start: the monitor ended without a failure");
	is_int(start(NULL, NULL, 1, NULL, &err), 1,
	       "start: the monitor ended, no state");
	is_int(start("running", NULL, 0, "running", &err), 1,
	       "start: running in the runtime");
	is_int(start("running", NULL, 0, "stopped", &err), 1,
	       "start: ran already (stopped in the runtime)");
	is_int(start("running", NULL, 0, "created", &err), 0,
	       "start: created in the runtime: wait");
	is_int(start("running", NULL, 0, NULL, &err), 0,
	       "start: the runtime does not know it yet: wait");
	is_int(start("created", NULL, 0, "running", &err), 0,
	       "start: network not up yet: wait");
	is_int(start(NULL, NULL, 0, NULL, &err), 0, "start: no state yet");
}

static void test_log(void)
{
	is_int(inst_log_next(0, 0, 0, 0), INST_LOG_END, "log: empty");
	is_int(inst_log_next(0, 10, 0, 0), INST_LOG_READ, "log: bytes to read");
	is_int(inst_log_next(4, 10, 1, 1), INST_LOG_READ,
	       "log: read before waiting");
	is_int(inst_log_next(10, 10, 0, 1), INST_LOG_END,
	       "log: at the end without follow");
	is_int(inst_log_next(10, 10, 1, 1), INST_LOG_WAIT,
	       "log: follow while it runs");
	is_int(inst_log_next(10, 10, 1, 0), INST_LOG_END,
	       "log: follow ends with the instance");
	is_int(inst_log_next(10, 12, 1, 0), INST_LOG_READ,
	       "log: what it wrote before ending is read");
	is_int(inst_log_next(10, 3, 1, 1), INST_LOG_REWIND,
	       "log: a shorter log starts again");
}

static void test_visible(void)
{
	const char *st[] = {"created", "running", "exited", "failed", "lost"};
	int vis[] = {1, 1, 0, 0, 0};
	size_t i;

	for (i = 0; i < 5; i++) {
		_cleanup_json_ json_t *s = json_pack("{s:s}", "status", st[i]);
		is_int(inst_visible(s, 0), vis[i], "ps shows %s: %d", st[i],
		       vis[i]);
		is_int(inst_visible(s, 1), 1, "ps -a shows %s", st[i]);
	}
}

static void test_remote_args(void)
{
	char *argv[] = {"run", "--host", "h1", "-d", "--host=h2", "-e",
			"A=1", "img",	 "--", "sh", "--host",	  "x"};
	const char **a =
	    inst_remote_run_args("file:///s", 1, "198.19.1.0/24", 12, argv, 7);
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; a[i]; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", a[i]);
	is_str(sb.buf,
	       "--store file:///s --json run --subnet 198.19.1.0/24 -d -e A=1 "
	       "img -- sh --host x",
	       "remote run: --host dropped before IMAGE only");
	free(a);
	sb_reset(&sb);
	a = inst_remote_run_args("file:///s", 0, NULL, 4, argv, 3);
	for (i = 0; a[i]; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", a[i]);
	is_str(sb.buf, "--store file:///s run -d",
	       "remote run: no --json, no subnet");
	free(a);
	sb_release(&sb);
}

static void test_pick(void)
{
	const char *const three[] = {"crun", "runc", "runsc", NULL};
	const char *const none[] = {NULL};
	const char *rt;
	struct ec_err err;

	ok(rt_pick(NULL, three, &rt, &err) == 0, "runtime: no preference");
	is_str(rt, "crun", "runtime: the first installed");
	ok(rt_pick("runsc", three, &rt, &err) == 0 && !strcmp(rt, "runsc"),
	   "runtime: the one asked for");
	ec_err_clear(&err);
	ok(rt_pick("kata", three, &rt, &err) < 0 && err.cat == EC_USAGE && !rt,
	   "runtime: not installed is a usage error");
	is_str(err.msg,
	       "runtime 'kata' is not installed on this host (it has: crun, "
	       "runc, runsc)",
	       "runtime: the message lists the installed ones");
	ec_err_clear(&err);
	ok(rt_pick(NULL, none, &rt, &err) < 0 && err.cat == EC_NOTFOUND,
	   "runtime: none installed is not found");
	ec_err_clear(&err);
	ok(rt_pick("crun", none, &rt, &err) < 0 && err.cat == EC_USAGE &&
	       strstr(err.msg, "(it has: none)"),
	   "runtime: asked for one, none installed");
}

/* --- on a temporary root, nothing running --------------------------------- */

static struct store *test_store;

static struct store *get_store(void *arg, struct ec_err *err)
{
	(void)arg;
	(void)err;
	return test_store;
}

static struct strbuf got = STRBUF_INIT;

static void collect(void *c, int stream, const char *d, size_t n)
{
	(void)c;
	if (stream == 1)
		sb_add(&got, d, n);
}

/* An instance that ran detached and exited: spec, state, log. */
static void make_inst(const char *root, const char *id, const char *name,
		      const char *log, const char *host)
{
	_cleanup_json_ json_t *sp =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?}", "id", id, "name", name,
		      "app", "web", "image", "web:1", "digest", "sha256:d",
		      "runtime", "crun", "host", host);
	struct ec_err err;
	char *p;
	int fd;

	if (inst_create(root, id, sp, &err) < 0)
		BUG("%s", err.msg);
	if (log) {
		p = xasprintf("%s/instances/%s/log", root, id);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, log, strlen(log)) < 0)
			BUG("write %s", p);
		close(fd);
		free(p);
	}
}

static void test_root(void)
{
	struct ec_err err;
	char *base = fs_mkdtemp("/tmp", "edgectl-inst-", &err);
	char *root = xasprintf("%s/root", base);
	char *url = xasprintf("file://%s/store", base);
	struct inst_env env = {
	    .root = root, .store_url = url, .host = "h9", .store = get_store};
	json_t *l, *errors, *st, *hosts;
	struct ssh_opts so = {0};
	char *id, *data = NULL;
	size_t len;

	if (!base || store_open(url, NULL, &test_store, &err) < 0)
		BUG("setup: %s", err.msg);
	make_inst(root, "aaaa00000001", "talker", "line1\nline2\n", NULL);
	make_inst(root, "bbbb00000002", "quiet", NULL, NULL);
	make_inst(root, "cccc00000003", "named", NULL, "h7");
	inst_state_update(root, "cccc00000003",
			  json_pack("{s:s}", "status", "exited"), NULL);
	inst_state_update(
	    root, "aaaa00000001",
	    json_pack("{s:s,s:i}", "status", "exited", "exit_status", 0), NULL);

	ok(inst_logs(root, "talker", 0, collect, NULL, NULL, &err) == 0,
	   "logs by name");
	is_str(got.buf, "line1\nline2\n", "logs: the whole log");
	sb_reset(&got);
	ok(inst_logs(root, "aaaa", 1, collect, NULL, NULL, &err) == 0,
	   "logs -f of an ended instance by id prefix returns");
	is_str(got.buf, "line1\nline2\n", "logs -f: the whole log");
	ec_err_clear(&err);
	ok(inst_logs(root, "quiet", 0, collect, NULL, NULL, &err) < 0 &&
	       err.cat == EC_NOTFOUND && strstr(err.msg, "no log"),
	   "logs of a foreground instance: not found, no log");
	ec_err_clear(&err);
	ok(inst_logs(root, "nosuch", 0, collect, NULL, NULL, &err) < 0 &&
	       err.cat == EC_NOTFOUND,
	   "logs of no instance: not found");

	l = inst_ps(root, 0, &err);
	is_int(json_array_size(l), 1, "ps: the created one");
	is_str(ec_json_str(json_array_get(l, 0), "name"), "quiet",
	       "ps: not the exited one");
	json_decref(l);
	l = inst_ps(root, 1, &err);
	is_int(json_array_size(l), 3, "ps -a: all three");
	json_decref(l);

	hosts = json_pack("[{s:s},{s:s,s:s}]", "name", "here", "name", "bad",
			  "ssh", "-oProxyCommand=x");
	l = inst_ps_hosts(&so, root, hosts, 1, &errors);
	is_int(json_array_size(l), 3, "ps over hosts: this machine's three");
	is_str(ec_json_str(json_array_get(l, 0), "host"), "here",
	       "ps over hosts: named by host");
	is_int(json_array_size(errors), 1, "ps over hosts: one error");
	is_str(ec_json_str(json_array_get(errors, 0), "host"), "bad",
	       "ps over hosts: the error names its host");
	json_decref(l);
	json_decref(errors);
	json_decref(hosts);

	ok(inst_stop(&env, "talker", 0, &st, &err) == 0,
	   "stop of an ended instance: nothing to do");
	is_str(ec_json_str(st, "status"), "exited", "stop: its state");
	json_decref(st);
	ok(store_get_buf(test_store, "instances/web/aaaa00000001.json", 1 << 20,
			 &data, &len, NULL, &err) == 0,
	   "stop: the record is in the store");
	st = data ? ec_json_parse(data, len, "record", &err) : NULL;
	is_str(ec_json_str(st, "host"), "h9", "record: this host's name");
	is_str(ec_json_str(st, "app"), "web", "record: the app");
	json_decref(st);
	free(data);
	ok(inst_publish(&env, "cccc00000003", &err) == 0, "publish");
	data = NULL;
	store_get_buf(test_store, "instances/web/cccc00000003.json", 1 << 20,
		      &data, &len, NULL, &err);
	st = data ? ec_json_parse(data, len, "record", &err) : NULL;
	is_str(ec_json_str(st, "host"), "h7",
	       "record: the host it was started under wins");
	json_decref(st);
	free(data);

	ok(inst_rm(&env, "quiet", 0, &id, &err) == 0, "rm by name");
	is_str(id, "bbbb00000002", "rm: its id");
	free(id);
	ec_err_clear(&err);
	ok(inst_rm(&env, "quiet", 0, &id, &err) < 0 && err.cat == EC_NOTFOUND &&
	       !id,
	   "rm again: not found");
	ok(inst_rm(&env, "talker", 1, &id, &err) == 0, "rm -f of an ended one");
	free(id);
	ok(inst_rm(&env, "cccc", 0, &id, &err) == 0, "rm by id prefix");
	free(id);
	l = inst_ps(root, 1, &err);
	is_int(json_array_size(l), 0, "nothing left");
	json_decref(l);

	store_free(test_store);
	fs_rm_rf(base, NULL);
	free(base);
	free(root);
	free(url);
}

int main(void)
{
	test_opts();
	test_check();
	test_spec_args_env();
	test_spec_rest();
	test_record();
	test_stop();
	test_start();
	test_log();
	test_visible();
	test_remote_args();
	test_pick();
	test_root();
	sb_release(&got);
	return done_testing();
}

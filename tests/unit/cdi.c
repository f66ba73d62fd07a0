/* Unit tests for src/cdi: names, --gpus/--device requests, strict spec
 * checks, loading (priority, duplicates, JSON and YAML), resolution, the
 * runtime check and the edits applied to an OCI config. */
#include "cdi/cdi.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (!j)
		printf("# bad test JSON: %s\n", e.text);
	return j;
}

/* check a spec text; returns the category */
static int check(const char *text)
{
	struct ec_err err;
	json_t *j = J(text);
	int r;

	ec_err_clear(&err);
	r = cdi_spec_check(j, "t.json", &err);
	json_decref(j);
	if (r < 0)
		printf("#   (%s)\n", err.msg);
	return r < 0 ? (int)err.cat : 0;
}

static void put(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	free(p);
}

#define SPEC(kind, devs)                                                       \
	"{\"cdiVersion\":\"0.6.0\",\"kind\":\"" kind "\",\"devices\":[" devs   \
	"]}"
#define DEV(name, edits)                                                       \
	"{\"name\":\"" name "\",\"containerEdits\":{" edits "}}"

static void test_names(void)
{
	struct ec_err err;
	json_t *r = json_array();

	ok(cdi_name_check("nvidia.com/gpu=0", &err) == 0, "nvidia.com/gpu=0");
	ok(cdi_name_check("vendor.example/class-x=GPU-1a:2", &err) == 0,
	   "name with '-' ':'");
	ok(cdi_name_check("nvidia.com/gpu", &err) < 0 && err.cat == EC_USAGE,
	   "no '=NAME' is a usage error");
	ok(cdi_name_check("nvidia.com=0", &err) < 0, "no class");
	ok(cdi_name_check("-x.com/gpu=0", &err) < 0, "vendor starts with '-'");
	ok(cdi_name_check("x.com/g.pu=0", &err) < 0, "'.' not in a class");
	ok(cdi_name_check("x.com/gpu=a/b", &err) < 0, "'/' not in a name");

	ok(cdi_request_add(r, "gpus", "2", &err) == 0 &&
	       ec_json_int(json_array_get(r, 0), "count") == 2,
	   "--gpus 2 is a count");
	ok(cdi_request_add(r, "gpus", "all", &err) == 0, "--gpus all");
	is_str(ec_json_str(json_array_get(r, 1), "name"), "nvidia.com/gpu=all",
	       "--gpus all names nvidia.com/gpu=all");
	ok(cdi_request_add(r, "gpus", "device=1", &err) == 0, "device=1");
	is_str(ec_json_str(json_array_get(r, 2), "name"), "nvidia.com/gpu=1",
	       "--gpus device=1 is index 1");
	ok(cdi_request_add(r, "gpus", "0,2", &err) == 0 &&
	       json_array_size(r) == 5,
	   "--gpus 0,2 is two indices");
	ok(cdi_request_add(r, "gpus", "GPU-8f3a", &err) == 0, "--gpus UUID");
	is_str(ec_json_str(json_array_get(r, 5), "name"),
	       "nvidia.com/gpu=GPU-8f3a", "a UUID is a name");
	ok(cdi_request_add(r, "gpus", "0", &err) < 0 && err.cat == EC_USAGE,
	   "--gpus 0 is a usage error");
	ok(cdi_request_add(r, "gpus", "1,", &err) < 0, "--gpus '1,'");
	ok(cdi_request_add(r, "gpus", "device=", &err) < 0, "--gpus device=");
	ok(cdi_request_add(r, "device", "x.com/y", &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, "--device"),
	   "--device without =NAME names the option");
	json_decref(r);
}

static void test_checks(void)
{
	ok(check(SPEC("x.com/y", DEV("a", "\"env\":[\"A=1\"]"))) == 0,
	   "a minimal spec passes");
	ok(check("{\"cdiVersion\":\"0.9.0\",\"kind\":\"x.com/"
		 "y\",\"devices\":[" DEV("a", "") "]}") == EC_USAGE,
	   "cdiVersion 0.9.0 is refused");
	ok(check("{\"kind\":\"x.com/y\",\"devices\":[" DEV("a", "") "]}") ==
	       EC_USAGE,
	   "cdiVersion is required");
	ok(check("{\"cdiVersion\":\"0.6.0\",\"kind\":\"xy\",\"devices\":[" DEV(
	       "a", "") "]}") == EC_USAGE,
	   "a kind without '/'");
	ok(check(SPEC("x.com/y", "")) == EC_USAGE, "no devices");
	ok(check(SPEC("x.com/y", "{\"containerEdits\":{}}")) == EC_USAGE,
	   "a device without a name");
	ok(check(SPEC("x.com/y", "{\"name\":\"a\"}")) == EC_USAGE,
	   "a device without containerEdits");
	ok(check(SPEC("x.com/y", DEV("a", "") "," DEV("a", ""))) == EC_USAGE,
	   "a name twice in one spec");
	ok(check(SPEC("x.com/y", DEV("a", "\"env\":[\"NOEQ\"]"))) == EC_USAGE,
	   "env without '='");
	ok(check(SPEC("x.com/y",
		      DEV("a", "\"deviceNodes\":[{\"path\":\"dev/x\"}]"))) ==
	       EC_USAGE,
	   "a relative device path");
	ok(check(SPEC("x.com/y", DEV("a", "\"deviceNodes\":[{\"path\":\"/dev/"
					  "x\",\"type\":\"z\"}]"))) == EC_USAGE,
	   "device type z");
	ok(check(SPEC(
	       "x.com/y",
	       DEV("a",
		   "\"deviceNodes\":[{\"path\":\"/dev/x\",\"major\":1}]"))) ==
	       EC_USAGE,
	   "major without minor");
	ok(check(SPEC("x.com/y", DEV("a", "\"deviceNodes\":[{\"path\":\"/dev/"
					  "x\",\"permissions\":\"rx\"}]"))) ==
	       EC_USAGE,
	   "permissions 'rx'");
	ok(check(SPEC(
	       "x.com/y",
	       DEV("a",
		   "\"deviceNodes\":[{\"path\":\"/dev/x\",\"bogus\":1}]"))) ==
	       EC_USAGE,
	   "an unknown key in a device node");
	ok(check(SPEC("x.com/y",
		      DEV("a", "\"mounts\":[{\"hostPath\":\"/a\"}]"))) ==
	       EC_USAGE,
	   "a mount without containerPath");
	ok(check(SPEC("x.com/y", DEV("a", "\"hooks\":[{\"hookName\":\"later\","
					  "\"path\":\"/bin/true\"}]"))) ==
	       EC_USAGE,
	   "an unknown hookName");
	ok(check(SPEC("x.com/y",
		      DEV("a",
			  "\"hooks\":[{\"hookName\":\"createRuntime\",\"path\":"
			  "\"/bin/true\",\"args\":[\"true\"]}]"))) == 0,
	   "a createRuntime hook passes");
	ok(check("{\"cdiVersion\":\"0.6.0\",\"kind\":\"x.com/"
		 "y\",\"extra\":1,\"devices\":[" DEV("a", "") "]}") == EC_USAGE,
	   "an unknown top-level key");
	ok(check(SPEC("x.com/y", DEV("a", "\"intelRdt\":{}"))) == EC_USAGE,
	   "intelRdt is refused as unsupported");
}

static void test_load_resolve(void)
{
	struct ec_err err;
	char *top = fs_mkdtemp("/tmp", "ec-cdi-", NULL);
	char *d1 = xasprintf("%s/etc", top), *d2 = xasprintf("%s/run", top);
	const char *dirs[] = {d1, d2, NULL};
	json_t *reg, *rq, *e, *cfg, *gpus, *all;

	mkdir(d1, 0755);
	mkdir(d2, 0755);
	put(d1, "gpu.json",
	    "{\"cdiVersion\":\"0.5.0\",\"kind\":\"nvidia.com/gpu\","
	    "\"containerEdits\":{\"env\":[\"NVIDIA_SPEC=1\"],"
	    "\"deviceNodes\":[{\"path\":\"/dev/nvidiactl\",\"type\":\"c\","
	    "\"major\":195,\"minor\":255}]},"
	    "\"devices\":[" DEV(
		"1",
		"\"deviceNodes\":[{\"path\":\"/dev/"
		"nvidia1\","
		"\"type\":\"c\",\"major\":195,\"minor\":1}"
		"]") "," DEV("0", "\"deviceNodes\":[{\"path\":"
				  "\"/dev/nvidia0\","
				  "\"type\":\"c\",\"major\":"
				  "195,\"minor\":0}]") "," DEV("all",
							       "\"env\":[\"ALL="
							       "1\"]") "]}");
	put(d1, "fake.json",
	    SPEC("x.com/fake", DEV("a", "\"env\":[\"A=old\"]") "," DEV(
				   "b", "\"env\":[\"B=1\"]")));
	put(d2, "fake.json",
	    SPEC("x.com/fake", DEV("a", "\"env\":[\"A=new\"]")));
	put(d2, "notes.txt", "not a spec");
	put(d2, "other.yaml",
	    "cdiVersion: 0.6.0\nkind: y.com/yk\ndevices:\n- name: \"0\"\n"
	    "  containerEdits:\n    env: [YK=1]\n");

	ec_err_clear(&err);
	reg = cdi_load(dirs, &err);
	ok(reg != NULL, "load two dirs (%s)", err.msg);

	rq = json_array();
	cdi_request_add(rq, "gpus", "1", &err);
	e = cdi_resolve(reg, rq, &err);
	ok(e && json_array_size(json_object_get(e, "devices")) == 1,
	   "--gpus 1 resolves one device");
	is_str(
	    json_string_value(json_array_get(json_object_get(e, "devices"), 0)),
	    "nvidia.com/gpu=0", "the first GPU by index, not spec order");
	is_int(json_array_size(json_object_get(e, "deviceNodes")), 2,
	       "its node plus the spec-wide nvidiactl");
	json_decref(e);

	cdi_request_add(rq, "gpus", "0,1", &err);
	e = cdi_resolve(reg, rq, &err);
	is_int(json_array_size(json_object_get(e, "devices")), 2,
	       "asking for GPU 0 twice adds it once");
	is_int(json_array_size(json_object_get(e, "deviceNodes")), 3,
	       "spec-wide edits once");
	json_decref(e);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "gpus", "3", &err);
	ok(!cdi_resolve(reg, rq, &err) && err.cat == EC_NOTFOUND,
	   "3 GPUs asked, 2 exist: not found (%s)", err.msg);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "device", "x.com/fake=a", &err);
	e = cdi_resolve(reg, rq, &err);
	is_str(json_string_value(json_array_get(json_object_get(e, "env"), 0)),
	       "A=new", "a later directory overrides an earlier one");
	json_decref(e);
	cdi_request_add(rq, "device", "x.com/fake=c", &err);
	ok(!cdi_resolve(reg, rq, &err) && err.cat == EC_NOTFOUND &&
	       strstr(err.msg, "a, b"),
	   "an unknown device lists the known ones (%s)", err.msg);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "device", "x.com/fake=all", &err);
	e = cdi_resolve(reg, rq, &err);
	is_int(json_array_size(json_object_get(e, "devices")), 2,
	       "=all without a device named all: every device");
	json_decref(e);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "device", "y.com/none=a", &err);
	ok(!cdi_resolve(reg, rq, &err) && err.cat == EC_NOTFOUND &&
	       strstr(err.msg, d2),
	   "an unknown kind names the directories (%s)", err.msg);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "device", "y.com/yk=0", &err);
	e = cdi_resolve(reg, rq, &err);
	is_str(json_string_value(json_array_get(json_object_get(e, "env"), 0)),
	       "YK=1", "a device of a YAML spec resolves");
	json_decref(e);
	json_decref(rq);

	/* the edits on a config */
	rq = json_array();
	cdi_request_add(rq, "gpus", "device=1", &err);
	e = cdi_resolve(reg, rq, &err);
	json_object_set_new(e, "mounts",
			    J("[{\"hostPath\":\"/lib/x\",\"containerPath\":"
			      "\"/usr/lib/x\",\"options\":[\"ro\"]}]"));
	json_object_set_new(e, "hooks",
			    J("[{\"hookName\":\"createRuntime\",\"path\":"
			      "\"/bin/hook\",\"args\":[\"hook\",\"x\"]}]"));
	cfg = J("{\"process\":{\"env\":[\"PATH=/bin\",\"NVIDIA_SPEC=0\"],"
		"\"user\":{\"uid\":0,\"gid\":0}},\"mounts\":[],"
		"\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,"
		"\"access\":\"rwm\"}]}}}");
	cdi_apply(cfg, e);
	is_str(json_string_value(json_array_get(
		   json_object_get(json_object_get(cfg, "process"), "env"), 1)),
	       "NVIDIA_SPEC=1", "env replaces the same key in place");
	is_int(json_array_size(
		   json_object_get(json_object_get(cfg, "linux"), "devices")),
	       2, "linux.devices gets both nodes");
	{
		json_t *rules = json_object_get(
		    json_object_get(json_object_get(cfg, "linux"), "resources"),
		    "devices");
		json_t *last = json_array_get(rules, 2);
		is_int(json_array_size(rules), 3, "an allow rule per node");
		ok(json_is_true(json_object_get(last, "allow")) &&
		       ec_json_int(last, "major") == 195 &&
		       ec_json_int(last, "minor") == 1 &&
		       !strcmp(ec_json_str(last, "access"), "rwm"),
		   "rule: c 195:1 rwm, after the deny-all");
	}
	{
		json_t *m = json_array_get(json_object_get(cfg, "mounts"), 0);
		is_str(ec_json_str(m, "type"), "bind", "a mount is a bind");
		is_str(json_string_value(
			   json_array_get(json_object_get(m, "options"), 0)),
		       "rbind", "rbind added in front of the spec's options");
		is_str(ec_json_str(
			   json_array_get(
			       json_object_get(json_object_get(cfg, "hooks"),
					       "createRuntime"),
			       0),
			   "path"),
		       "/bin/hook", "a hook under its hookName");
	}
	json_decref(cfg);
	json_decref(e);
	json_decref(rq);

	/* probe: GPUs in specs */
	gpus = J("[{\"model\":\"L4\",\"memory_bytes\":1}]");
	all = cdi_probe(reg, gpus);
	is_int(json_array_size(gpus), 2,
	       "nvidia-smi's one GPU plus one from CDI");
	is_str(ec_json_str(json_array_get(gpus, 0), "cdi"), "nvidia.com/gpu=0",
	       "GPU 0 gets its CDI name");
	is_str(ec_json_str(json_array_get(gpus, 1), "model"), "nvidia.com/gpu",
	       "GPU 1 from CDI alone");
	ok(json_array_size(all) == 6, "every device name is listed (%zu)",
	   json_array_size(all));
	{
		char *names = ec_json_dump(all);
		ok(strstr(names, "\"y.com/yk=0\""),
		   "the YAML spec's device among them");
		free(names);
	}
	json_decref(all);
	json_decref(gpus);
	json_decref(reg);

	/* duplicates in one directory, malformed files */
	put(d2, "dup.json", SPEC("x.com/fake", DEV("a", "")));
	ok(!cdi_load(dirs, &err) && err.cat == EC_USAGE &&
	       strstr(err.msg, "dup.json"),
	   "a device in two specs of one directory (%s)", err.msg);
	{
		char *dup = xasprintf("%s/dup.json", d2);
		unlink(dup);
		free(dup);
	}
	put(d2, "broken.json", "{\"cdiVersion\":");
	ok(!cdi_load(dirs, &err) && err.cat == EC_USAGE &&
	       strstr(err.msg, "broken.json"),
	   "malformed JSON names the file (%s)", err.msg);
	put(d2, "broken.json",
	    "{\"cdiVersion\":\"0.6.0\",\"kind\":\"a.b/c\",\"kind\":\"a.b/d\","
	    "\"devices\":[" DEV("a", "") "]}");
	ok(!cdi_load(dirs, &err) && err.cat == EC_USAGE,
	   "duplicate keys are refused (%s)", err.msg);
	{
		const char *none[] = {"/nonexistent/cdi", NULL};
		json_t *r = cdi_load(none, &err);
		ok(r && !json_object_size(json_object_get(r, "kinds")),
		   "a missing directory is empty, not an error");
		json_decref(r);
	}
	fs_rm_rf(top, NULL);
	free(top);
	free(d1);
	free(d2);
}

static void test_runtime(void)
{
	struct ec_err err;
	char *top = fs_mkdtemp("/tmp", "ec-cdi-", NULL);
	const char *dirs[] = {top, NULL};
	json_t *rq = json_array(), *e;

	ok(cdi_runtime_check("crun", &err) == 0, "crun takes devices");
	ok(cdi_runtime_check("runsc", &err) == 0, "runsc takes devices");
	ok(cdi_runtime_check("qemu", &err) < 0 && err.cat == EC_USAGE &&
	       strstr(err.msg, "qemu"),
	   "qemu refuses devices (%s)", err.msg);
	ok(cdi_runtime_check("firecracker", &err) < 0,
	   "firecracker refuses devices");

	put(top, "g.json",
	    SPEC("nvidia.com/gpu",
		 DEV("0", "\"deviceNodes\":[{\"path\":\"/dev/"
			  "nvidia0\",\"hostPath\":\"/dev/null\"}]")));
	put(top, "f.json",
	    SPEC(
		"x.com/fake",
		DEV("a",
		    "\"deviceNodes\":[{\"path\":\"/dev/"
		    "fake0\",\"hostPath\":\"/dev/null\"}]") "," DEV("gone",
								    "\"deviceN"
								    "odes\":[{"
								    "\"path\":"
								    "\"/dev/"
								    "nonexiste"
								    "nt-ec\"}"
								    "]") "," DEV("file",
										 "\"deviceNodes\":[{"
										 "\"path\":\"/dev/"
										 "f\",\"hostPath\":\"/"
										 "etc/passwd\"}]")));
	cdi_request_add(rq, "gpus", "1", &err);
	e = cdi_edits_for(dirs, rq, "runsc", &err);
	ok(e && json_is_true(json_object_get(e, "nvproxy")),
	   "runsc with a GPU: nvproxy (%s)", err.msg);
	{
		json_t *n =
		    json_array_get(json_object_get(e, "deviceNodes"), 0);
		ok(ec_json_int(n, "major") == 1 &&
		       ec_json_int(n, "minor") == 3 &&
		       !strcmp(ec_json_str(n, "type"), "c"),
		   "type/major/minor from the host node (/dev/null: c 1:3)");
	}
	json_decref(e);
	e = cdi_edits_for(dirs, rq, "crun", &err);
	ok(e && !json_is_true(json_object_get(e, "nvproxy")),
	   "crun: no nvproxy");
	json_decref(e);
	json_decref(rq);

	rq = json_array();
	cdi_request_add(rq, "device", "x.com/fake=a", &err);
	ok(!cdi_edits_for(dirs, rq, "runsc", &err) && err.cat == EC_USAGE &&
	       strstr(err.msg, "/dev/fake0"),
	   "runsc refuses a non-NVIDIA node (%s)", err.msg);
	json_decref(rq);
	rq = json_array();
	cdi_request_add(rq, "device", "x.com/fake=gone", &err);
	ok(!cdi_edits_for(dirs, rq, "crun", &err) && err.cat == EC_NOTFOUND,
	   "a missing host node: not found (%s)", err.msg);
	json_decref(rq);
	rq = json_array();
	cdi_request_add(rq, "device", "x.com/fake=file", &err);
	ok(!cdi_edits_for(dirs, rq, "crun", &err) && err.cat == EC_USAGE,
	   "a regular file as a node: usage (%s)", err.msg);
	json_decref(rq);
	ok(cdi_edits_for(dirs, NULL, "crun", &err) == NULL,
	   "no requests: NULL");
	put(top, "h.json",
	    SPEC("x.com/hooks",
		 DEV("cc",
		     "\"hooks\":[{\"hookName\":\"createContainer\","
		     "\"path\":\"/bin/true\"}]") "," DEV("cr",
							 "\"hooks\":[{"
							 "\"hookName\":"
							 "\"createRuntime\","
							 "\"path\":\"/bin/"
							 "true\"}]")));
	rq = json_array();
	cdi_request_add(rq, "device", "x.com/hooks=cc", &err);
	ok(!cdi_edits_for(dirs, rq, "runsc", &err) && err.cat == EC_USAGE &&
	       strstr(err.msg, "createContainer"),
	   "runsc refuses a createContainer hook (%s)", err.msg);
	e = cdi_edits_for(dirs, rq, "runc", &err);
	ok(e != NULL, "runc takes it");
	json_decref(e);
	json_decref(rq);
	rq = json_array();
	cdi_request_add(rq, "device", "x.com/hooks=cr", &err);
	e = cdi_edits_for(dirs, rq, "runsc", &err);
	ok(e != NULL, "runsc takes a createRuntime hook");
	json_decref(e);
	json_decref(rq);
	fs_rm_rf(top, NULL);
	free(top);
}

static void test_nvproxy_flag(void)
{
	/* `runsc flags` of Debian 12's runsc (20221219), shortened */
	static const char old[] =
	    "  -network string\n    \tspecifies which network to use: "
	    "sandbox (default), host, none. (default \"sandbox\")\n"
	    "  -nvproxy-docker\n    \tnot a flag of that release\n"
	    "  -oci-seccomp\n    \tEnables loading OCI seccomp filters\n";

	ok(!cdi_runsc_has_nvproxy(old), "Debian 12's runsc has no -nvproxy");
	ok(cdi_runsc_has_nvproxy("  -network string\n  -nvproxy\n    \t"
				 "EXPERIMENTAL: enable support for Nvidia "
				 "GPUs\n"),
	   "a release with -nvproxy");
	ok(cdi_runsc_has_nvproxy("  --nvproxy=false\n"), "--nvproxy=...");
	ok(cdi_runsc_has_nvproxy("-nvproxy"), "at the end, no newline");
	ok(!cdi_runsc_has_nvproxy("") && !cdi_runsc_has_nvproxy(NULL) &&
	       !cdi_runsc_has_nvproxy("    \tuse -nvproxy for GPUs\n"),
	   "empty, NULL, and -nvproxy inside a help text are not the flag");
}

/* YAML specs load like JSON ones: the same conflicts, malformed ones
 * named with the line, a number where a name is wanted explained. */
static void test_yaml(void)
{
	struct ec_err err;
	char *top = fs_mkdtemp("/tmp", "ec-cdi-", NULL);
	const char *dirs[] = {top, NULL};
	json_t *reg;

	put(top, "a.json", SPEC("x.com/dup", DEV("a", "\"env\":[\"J=1\"]")));
	put(top, "b.yml",
	    "cdiVersion: 0.6.0\nkind: x.com/dup\ndevices:\n- name: a\n"
	    "  containerEdits: {env: [Y=1]}\n");
	ec_err_clear(&err);
	reg = cdi_load(dirs, &err);
	ok(!reg && err.cat == EC_USAGE &&
	       strstr(err.msg, "'x.com/dup=a' is defined in both") &&
	       strstr(err.msg, "a.json") && strstr(err.msg, "b.yml"),
	   "a device in a JSON and a YAML spec of one directory (%s)", err.msg);
	json_decref(reg);

	put(top, "b.yml", "cdiVersion: 0.6.0\nkind: x.com/y\nkind: x\n");
	ec_err_clear(&err);
	reg = cdi_load(dirs, &err);
	ok(!reg && err.cat == EC_USAGE && strstr(err.msg, "CDI spec '") &&
	       strstr(err.msg, "b.yml': line 3 column 1: duplicate key"),
	   "a malformed YAML spec: file, line, column (%s)", err.msg);
	json_decref(reg);

	put(top, "b.yml",
	    "cdiVersion: 0.6.0\nkind: x.com/y\ndevices:\n- name: 0\n"
	    "  containerEdits: {env: [Y=1]}\n");
	ec_err_clear(&err);
	reg = cdi_load(dirs, &err);
	ok(!reg && err.cat == EC_USAGE && strstr(err.msg, "devices[0]") &&
	       strstr(err.msg, "quote a number"),
	   "an unquoted number as a device name (%s)", err.msg);
	json_decref(reg);
	fs_rm_rf(top, NULL);
	free(top);
}

int main(void)
{
	test_names();
	test_checks();
	test_load_resolve();
	test_runtime();
	test_yaml();
	test_nvproxy_flag();
	return done_testing();
}

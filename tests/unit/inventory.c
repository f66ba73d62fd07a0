/* inventory.c - unit tests of the fleet records (src/fleet/inventory.c):
 * option values (labels, GPUs, UTC offsets, off-peak windows), the
 * location record and its checks, the host checks and how a host record is
 * filled from options and probe (GPUs given win, the warm set and
 * allocations survive a re-add), and ssh options from config.json. */
#include "tap.h"
#include "fleet/fleet.h"
#include "util/json.h"

#include <math.h>

static void test_values(void)
{
	static const struct {
		const char *in;
		int min;
	} offs[] = {{"+01:00", 60}, {"-01:30", -90}, {"5", 300},
		    {"0", 0},	    {"+14", 840},    {"-03:45", -225}};
	static const char *bad_offs[] = {"+15", "1:60", "x", "", "+1:2:3",
					 "1h"};
	static const char *windows[] = {"00:00-05:00", "22:00-06:00",
					"00:00-24:00"};
	static const char *bad_windows[] = {"25:00-01:00", "1-2", "00:00-05:60",
					    "00:00-05:00x", ""};
	json_t *labels = json_object(), *gpus = json_array();
	struct ec_err err;
	size_t i;
	int m;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		m = -1;
		ec_err_clear(&err);
		ok(fleet_utc_offset_parse(offs[i].in, &m, &err) == 0 &&
		       m == offs[i].min,
		   "utc offset '%s' is %d min (got %d)", offs[i].in,
		   offs[i].min, m);
	}
	for (i = 0; i < sizeof(bad_offs) / sizeof(bad_offs[0]); i++) {
		ec_err_clear(&err);
		ok(fleet_utc_offset_parse(bad_offs[i], &m, &err) < 0 &&
		       err.cat == EC_USAGE,
		   "utc offset '%s' refused", bad_offs[i]);
	}
	for (i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		ok(fleet_window_check(windows[i], NULL) == 0, "window '%s'",
		   windows[i]);
	for (i = 0; i < sizeof(bad_windows) / sizeof(bad_windows[0]); i++)
		ok(fleet_window_check(bad_windows[i], NULL) < 0,
		   "window '%s' refused", bad_windows[i]);
	ok(fleet_label_add(labels, "tier=edge", NULL) == 0 &&
	       fleet_label_add(labels, "empty=", NULL) == 0 &&
	       fleet_label_add(labels, "k=a=b", NULL) == 0,
	   "labels K=V, K= and a value with '='");
	is_str(ec_json_str(labels, "k"), "a=b", "label: split at the first '='");
	ec_err_clear(&err);
	ok(fleet_label_add(labels, "=v", &err) < 0 && err.cat == EC_USAGE &&
	       fleet_label_add(labels, "novalue", NULL) < 0,
	   "label without a key or '=' refused");
	ok(fleet_gpu_add(gpus, "L4:24G", NULL) == 0 &&
	       fleet_gpu_add(gpus, "A100:SXM:80G", NULL) == 0,
	   "gpus MODEL:MEM (the last ':' splits)");
	is_str(ec_json_str(json_array_get(gpus, 1), "model"), "A100:SXM",
	       "gpu model keeps its ':'");
	is_int(ec_json_int(json_array_get(gpus, 0), "memory_bytes"),
	       24LL << 30, "gpu memory in bytes");
	ok(fleet_gpu_add(gpus, "L4", NULL) < 0 &&
	       fleet_gpu_add(gpus, ":24G", NULL) < 0 &&
	       fleet_gpu_add(gpus, "L4:lots", NULL) < 0,
	   "gpu without model or memory refused");
	is_int(json_array_size(gpus), 2, "a refused gpu adds nothing");
	json_decref(labels);
	json_decref(gpus);
}

static void test_location(void)
{
	json_t *labels = json_pack("{s:s}", "tier", "edge");
	struct fleet_location_spec l = {.name = "par",
					.lat = 48.85,
					.lon = 2.35,
					.utc_offset_min = 60,
					.has_offset = 1,
					.off_peak = "22:00-06:00",
					.labels = labels};
	struct ec_err err;
	json_t *j;

	ec_err_clear(&err);
	j = fleet_location_record(&l, &err);
	ok(j && !strcmp(ec_json_str(j, "name"), "par") &&
	       ec_json_int(j, "utc_offset_min") == 60 &&
	       !json_object_get(j, "tz") &&
	       !strcmp(ec_json_str(j, "off_peak"), "22:00-06:00") &&
	       json_equal(json_object_get(j, "labels"), labels),
	   "location record from its options");
	json_decref(j);
	l.has_offset = 0;
	l.tz = "Europe/Paris";
	l.off_peak = NULL;
	j = fleet_location_record(&l, &err);
	ok(j && !json_object_get(j, "utc_offset_min") &&
	       !strcmp(ec_json_str(j, "tz"), "Europe/Paris") &&
	       !json_object_get(j, "off_peak"),
	   "location with a time zone: no offset, no window");
	json_decref(j);
	l.tz = NULL;
	ec_err_clear(&err);
	ok(!fleet_location_record(&l, &err) && err.cat == EC_USAGE,
	   "location without offset or zone refused (%s)", err.msg);
	l.tz = "UTC";
	l.lat = NAN;
	ok(!fleet_location_record(&l, &err), "location without lat refused");
	l.lat = -91;
	ok(!fleet_location_record(&l, &err), "latitude -91 refused");
	l.lat = 0;
	l.name = "Par";
	ec_err_clear(&err);
	ok(!fleet_location_record(&l, &err) && strstr(err.msg, "'Par'"),
	   "location name with a capital refused (%s)", err.msg);
	json_decref(labels);
}

static void test_host(void)
{
	json_t *gpus = json_pack("[{s:s,s:I}]", "model", "L4", "memory_bytes",
				 (json_int_t)1 << 34);
	json_t *probe = json_pack("{s:i,s:[{s:s}]}", "cpus", 8, "gpus",
				  "model", "T4");
	json_t *h = json_pack("{s:s,s:[{s:s}],s:[{s:s}],s:s}", "name", "old",
			      "warm", "digest", "d1", "allocations", "app",
			      "web", "subnet", "198.18.1.0/24");
	struct fleet_host_spec a = {.name = "h1",
				    .location = "par",
				    .ssh = "root@198.18.0.11:2222",
				    .edgectl = "/opt/edgectl"};
	struct ec_err err;

	ec_err_clear(&err);
	ok(fleet_host_check(&a, &err) == 0, "host check: a good host (%s)",
	   err.msg);
	fleet_host_fill(h, &a, probe);
	ok(!strcmp(ec_json_str(h, "name"), "h1") &&
	       !strcmp(ec_json_str(h, "ssh"), "root@198.18.0.11:2222") &&
	       !strcmp(ec_json_str(h, "edgectl"), "/opt/edgectl") &&
	       ec_json_int(json_object_get(h, "probe"), "cpus") == 8,
	   "host fill: name, ssh, edgectl and the probe");
	is_str(ec_json_str(json_array_get(json_object_get(h, "gpus"), 0),
			   "model"),
	       "T4", "host fill: no GPUs given: the probed ones");
	ok(json_array_size(json_object_get(h, "warm")) == 1 &&
	       json_array_size(json_object_get(h, "allocations")) == 1,
	   "host fill: a re-add keeps the warm set and allocations");
	is_str(ec_json_str(h, "subnet"), "198.18.1.0/24",
	       "host fill: a field not given is kept");
	a.gpus = gpus;
	fleet_host_fill(h, &a, probe);
	ok(json_equal(json_object_get(h, "gpus"), gpus),
	   "host fill: GPUs given replace the probed ones");
	json_decref(h);
	h = json_object();
	fleet_host_fill(h, &a, NULL);
	ok(json_is_array(json_object_get(h, "warm")) &&
	       json_is_array(json_object_get(h, "allocations")) &&
	       json_is_object(json_object_get(h, "probe")),
	   "host fill: a new host gets an empty warm set and allocations");
	json_decref(h);

	a.ssh = NULL;
	ec_err_clear(&err);
	ok(fleet_host_check(&a, &err) < 0 && err.cat == EC_USAGE,
	   "host check: --ssh missing refused (%s)", err.msg);
	a.name = "local";
	ok(fleet_host_check(&a, NULL) == 0, "host check: 'local' needs no ssh");
	a.location = NULL;
	ok(fleet_host_check(&a, NULL) < 0, "host check: --location needed");
	a.location = "../x";
	ok(fleet_host_check(&a, NULL) < 0,
	   "host check: a location that is no name refused");
	a.location = "par";
	a.ssh = "-oProxyCommand=x";
	ec_err_clear(&err);
	ok(fleet_host_check(&a, &err) < 0 && !strncmp(err.msg, "--ssh: ", 7),
	   "host check: an ssh target like an option refused (%s)", err.msg);
	json_decref(gpus);
	json_decref(probe);
}

static void test_ssh_config(void)
{
	json_t *ssh = json_pack("{s:s,s:[s,s,i,s]}", "config", "/etc/x",
				"options", "-o", "A=B", 7, "-4");
	const char *optv[3];
	struct ssh_opts o = {0};

	fleet_ssh_opts_config(&o, ssh, optv, 3);
	is_str(o.config, "/etc/x", "ssh config: the config file");
	ok(o.options == optv && !strcmp(optv[0], "-o") &&
	       !strcmp(optv[1], "A=B") && !optv[2],
	   "ssh config: string options, at most max - 1, NULL-terminated");
	fleet_ssh_opts_config(&o, NULL, optv, 3);
	ok(!o.config && !optv[0], "ssh config: none");
	json_decref(ssh);
}

int main(void)
{
	test_values();
	test_location();
	test_host();
	test_ssh_config();
	return done_testing();
}

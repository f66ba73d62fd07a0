/* cdi.h - the Container Device Interface (CDI): device specs that vendors
 * install in /etc/cdi and /var/run/cdi, devices named VENDOR/CLASS=NAME
 * (e.g. nvidia.com/gpu=0), and the edits they make to an OCI config
 * (device nodes and their cgroup rules, env, mounts, hooks).
 *
 * Specs (cdiVersion 0.3.0 .. 0.8.0) are JSON (*.json) or YAML (*.yaml,
 * *.yml: CDI's other documented format and what `nvidia-ctk cdi generate`
 * writes by default). A YAML spec becomes the same JSON tree first
 * (util/yaml.h: core-schema typing; anchors, aliases, tags beyond the
 * core ones, duplicate keys, several documents refused with the line and
 * column), so one strict check serves both formats.
 *
 * Flow: requests (from --gpus / --device, cdi_request_add, pure) ->
 * cdi_edits_for() on the host that runs the container (loads and checks
 * the specs strictly, resolves the names, completes device nodes from the
 * host's /dev) -> the edits object kept in the instance spec ->
 * cdi_apply() on the OCI config when the bundle is written (pure).
 *
 * The edits object: {devices: ["k=n"...], env: ["K=V"], deviceNodes:
 * [{path, type, major, minor, fileMode?, uid?, gid?, permissions}],
 * mounts: [{hostPath, containerPath, type?, options?}], hooks: [{hookName,
 * path, args?, env?, timeout?}], additionalGIDs: [..], nvproxy: bool}. */
#ifndef EC_CDI_H
#define EC_CDI_H

#include <jansson.h>

#include "util/err.h"

/* The kind `--gpus` maps to. */
#define CDI_GPU_KIND "nvidia.com/gpu"

/* The spec directories when none are configured, lowest priority first. */
extern const char *const cdi_default_dirs[];

/* Check a qualified device name VENDOR/CLASS=NAME; EC_USAGE saying which
 * part is wrong. */
int cdi_name_check(const char *qualified, struct ec_err *err);

/* Add the devices of one option to `requests` (an array):
 *   opt "device": VENDOR/CLASS=NAME (NAME may be "all")
 *   opt "gpus":   N (the first N GPUs), "all", ID[,ID...] or
 *                 device=ID[,ID...] (IDs: indices or UUIDs; "device=" is
 *                 needed for a single index, which alone means a count)
 * Pure; EC_USAGE for a malformed value. */
int cdi_request_add(json_t *requests, const char *opt, const char *arg,
		    struct ec_err *err);

/* Check one parsed spec document strictly (what cdiVersion, kind,
 * devices[].name and containerEdits may hold; unknown keys are errors).
 * `file` names it in messages. Pure; EC_USAGE. */
int cdi_spec_check(const json_t *spec, const char *file, struct ec_err *err);

/* Load every *.json, *.yaml and *.yml spec in `dirs` (NULL-terminated,
 * lowest priority first; NULL = cdi_default_dirs; missing directories are
 * fine) into a registry (a new JSON object, opaque). A malformed spec
 * fails (EC_USAGE naming the file, and the line and column for a syntax
 * error); a device defined twice in one directory (in any two files,
 * whatever their formats) is an error, a later directory overrides an
 * earlier one. */
json_t *cdi_load(const char *const *dirs, struct ec_err *err);

/* Resolve `requests` against a registry: the merged edits (see above)
 * with device nodes as the specs wrote them. Pure. EC_NOTFOUND for an
 * unknown kind or device (listing what exists), or too few GPUs. */
json_t *cdi_resolve(const json_t *reg, const json_t *requests,
		    struct ec_err *err);

/* May `runtime` take devices? The OCI runtimes (crun, runc, runsc) can;
 * VM runtimes (qemu, firecracker, cloud-hypervisor, ...) cannot: EC_USAGE
 * saying so. Pure. */
int cdi_runtime_check(const char *runtime, struct ec_err *err);

/* Everything `run` needs for `requests` on this host with `runtime`:
 * cdi_runtime_check, cdi_load(dirs), cdi_resolve, then each device node's
 * type, major, minor (and file mode) from the host node when the spec
 * left them out (EC_NOTFOUND when the host node is missing, EC_USAGE when
 * it is not a device); nvproxy is set for runsc with an NVIDIA GPU. A new
 * edits object, or NULL when requests is empty (and no error). */
json_t *cdi_edits_for(const char *const *dirs, const json_t *requests,
		      const char *runtime, struct ec_err *err);

/* Does `flags` (what `runsc flags` prints) list --nvproxy? Pure. */
int cdi_runsc_has_nvproxy(const char *flags);

/* Can the runsc at `runsc` (rt_path("runsc")) pass GPUs, i.e. does it take
 * --nvproxy (gVisor releases since 2023; Debian 12's 20221219 does not)?
 * Runs `runsc flags`. EC_USAGE naming its version when not, EC_NOTFOUND
 * when runsc is NULL. For edits whose "nvproxy" is true. */
int cdi_nvproxy_check(const char *runsc, struct ec_err *err);

/* Apply an edits object (from cdi_edits_for) to an OCI runtime config:
 * env (replacing the same keys), linux.devices and an allow rule per node
 * in linux.resources.devices, mounts (bind unless typed), hooks (by
 * hookName) and process.user.additionalGids. Pure; the edits were checked
 * before, so it cannot fail. */
void cdi_apply(json_t *config, const json_t *edits);

/* GPUs found in the specs (kinds whose class is "gpu"): add "cdi":
 * "KIND=NAME" to the entries of `gpus` (nvidia-smi's, by index), and an
 * entry {model: KIND, memory_bytes: 0, cdi} for each GPU beyond them.
 * Returns every device name of the registry (a new array). */
json_t *cdi_probe(const json_t *reg, json_t *gpus);

#endif

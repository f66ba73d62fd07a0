/* qemu.h - the "qemu" runtime: the image as a QEMU microvm (runtime.c
 * dispatches rt_run/rt_state/rt_kill/rt_delete_force here for "qemu").
 *
 * The guest boots the host's kernel (Debian's linux-image-amd64 by
 * default) with an initramfs holding our init (guest/init.c); the image's
 * layers are one read-only erofs disk, writes go to a tmpfs overlay in the
 * guest. One virtio-serial port carries the config in and the output and
 * exit status out (src/vm/proto.h). KVM when /dev/kvm works, TCG else.
 * The network is the instance's CNI namespace (a tap wired to eth0 with
 * tc), volumes are virtio-9p shares, and a snapshot saved by
 * rt_qemu_snapshot (images vm-disk --boot) replaces the boot.
 *
 * Per running VM, /run/edgectl/qemu/<id>/ holds `pid` (QEMU's pid and
 * start time) and `ctl.sock`, where rt_qemu_kill() hands a signal to the
 * process that drives the VM, which forwards it to the entrypoint. */
#ifndef EC_RT_QEMU_H
#define EC_RT_QEMU_H

#include "runtime/runtime.h"

#define RT_QEMU_STATE_ROOT "/run/edgectl/qemu"

/* rt_run() for "qemu": `qemu` is qemu-system-x86_64's path. RT_NET_PATH:
 * a tap in that (CNI-attached) namespace wired to its eth0 (vm/net.c);
 * RT_NET_NONE: only lo; RT_NET_HOST is refused (EC_USAGE). Mounts: host
 * directories over virtio-9p, tmpfs in the guest; a file is refused
 * (EC_USAGE). Restores a snapshot of rt_qemu_snapshot when one fits. */
int rt_qemu_run(const char *qemu, const char *id, const char *state_dir,
		const struct rt_spec *spec, rt_output_fn out, void *ctx,
		const volatile int *cancel, int *exit_status,
		struct ec_err *err);

/* Boot the VM of spec s (its image: image_digest, lowerdirs; memory,
 * cpus, vm_* as for a run) to the point where the guest init waits for
 * its config, save its state (QEMU migration) to
 * vm_dir/snap/<key>.vmstate and stop it; *path gets that file (kept when
 * it exists: *built 0). A later rt_qemu_run of the same image, memory,
 * vCPUs, accelerator, kernel, init and QEMU without 9p volumes restores it
 * (-incoming) and sends its own config: no kernel boot. Its VMs always
 * have a NIC (a tap or a dead-end hub port). state_dir: a private
 * directory for the logs (removed). */
int rt_qemu_snapshot(const char *qemu, const char *state_dir,
		     const struct rt_spec *s, char **path, int *built,
		     struct ec_err *err);

/* "running" while the VM of `id` runs (its QEMU is alive), else NULL. */
int rt_qemu_state(const char *id, char **status, int *pid, struct ec_err *err);

/* Signal ("TERM", "KILL", "SIGINT", "9"...) to the entrypoint in the VM. */
int rt_qemu_kill(const char *id, const char *sig, struct ec_err *err);

/* SIGKILL to QEMU itself: the last resort when the guest does not react. */
int rt_qemu_delete_force(const char *id, struct ec_err *err);

/* -1 with EC_NOTFOUND and a message when `want` is a VMM edgectl names
 * but has no adapter for (firecracker, cloud-hypervisor: not packaged in
 * Debian 12, so none could be tested), else 0. */
int rt_qemu_vmm_unsupported(const char *want, struct ec_err *err);

/* The accelerator VMs use here, "kvm" or "tcg": what the last run's probe
 * found (cached in vm_dir/accel), else whether /dev/kvm opens. */
const char *rt_qemu_accel(const char *vm_dir);

#endif

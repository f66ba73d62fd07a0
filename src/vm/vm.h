/* vm.h - what a microVM runtime needs besides QEMU itself: the guest
 * kernel, an initramfs with our init (guest/init.c) and the modules it
 * loads, the image's layers as one read-only erofs image, and QEMU's
 * command line. The run loop that drives QEMU is src/runtime/qemu.c.
 *
 * Cache (`dir`, normally ROOT/vm), every file written to a temp name and
 * renamed into place, so a reader never sees half a file and two builders
 * of the same key both end with the same content:
 *   rootfs/<manifest hex>.erofs       the merged layers of one image
 *   initramfs/<release>-<hash>.cpio   init + modules for one kernel
 *
 * Pure parts (unit-tested in tests/unit/vm.c): vm_config_encode,
 * vm_modules_order, vm_cpio_add/vm_cpio_end, vm_qemu_argv,
 * vm_lowerdir_option. */
#ifndef EC_VM_H
#define EC_VM_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

/* The guest init, built static by the Makefile and linked in (blob.c). */
const unsigned char *vm_guest_init_data(void);
size_t vm_guest_init_length(void);

/* What the guest init runs, encoded for the config frame (proto.h):
 * (key NUL value NUL)..., args and env in order. Values must not contain
 * NUL (C strings cannot). Appends to `out`. */
struct vm_net;
struct vm_share;
struct vm_guest_cfg {
	const char *const *args;	   /* NULL-terminated, at least one */
	const char *const *env;		   /* NULL-terminated, may be NULL */
	const char *cwd, *user, *hostname; /* NULL = default */
	int readonly;
	const struct vm_net *net;      /* NULL: no network device (only lo) */
	const char *const *vips;       /* addresses for lo (/32), may be NULL */
	const struct vm_share *shares; /* 9p volumes and tmpfs, nshares */
	size_t nshares;
	const char *seed; /* hex randomness for the guest's RNG (NULL: none) */
	uint64_t memory_max; /* the entrypoint's memory limit (0: none) */
};
void vm_config_encode(const struct vm_guest_cfg *c, struct strbuf *out);

/* The modules to load for `want` (names such as "virtio_blk"), in load
 * order (dependencies first, each once), as paths relative to the modules
 * directory, from the text of its modules.dep. A wanted module listed in
 * `builtin` (the text of modules.builtin, may be NULL) is skipped; one in
 * neither is EC_NOTFOUND naming it, unless its name starts with '?'
 * (optional: loaded when there). *paths is a NULL-terminated allocated
 * array of allocated strings (free with vm_strv_free). */
int vm_modules_order(const char *dep, const char *builtin,
		     const char *const *want, char ***paths,
		     struct ec_err *err);
void vm_strv_free(char **v);

/* newc cpio: append one entry (a directory, a regular file with `data`,
 * or a character device `rdev_major:rdev_minor`); `mode` includes the
 * type bits (S_IFDIR|0755 ...). vm_cpio_end appends the trailer. */
void vm_cpio_add(struct strbuf *sb, const char *name, uint32_t mode,
		 uint32_t rdev_major, uint32_t rdev_minor, const void *data,
		 size_t len);
void vm_cpio_end(struct strbuf *sb);

/* overlayfs "lowerdir=" value for layer dirs given top first; a ':' or
 * ',' or '\\' in a path is escaped with '\\'. Allocated. */
char *vm_lowerdir_option(const char *const *lowerdirs);

/* The guest kernel: `configured` when given (must exist), else the newest
 * /boot/vmlinuz-* (version order). *kernel is its path, *release what
 * follows "vmlinuz-" (names /lib/modules/<release>). EC_NOTFOUND when
 * there is none. Both allocated. */
int vm_kernel_find(const char *configured, char **kernel, char **release,
		   struct ec_err *err);

/* What QEMU boots for `kernel`: its vmlinux (ELF, booted through the PVH
 * entry: no firmware, no real-mode setup, no decompression in the guest,
 * which costs seconds under TCG), unpacked once with xz or zstd into
 * dir/kernel/ when the kernel is a bzImage with such a payload and the
 * vmlinux has a PVH note; else the kernel itself. *path allocated. */
int vm_kernel_boot_image(const char *dir, const char *kernel, char **path,
			 struct ec_err *err);
/* The compressed payload of a bzImage: its offset, length and the tool
 * that unpacks it ("xz", "zstd"); -1 when it is not a bzImage (boot
 * protocol >= 2.08) with one of those. Pure. */
int vm_bzimage_payload(const unsigned char *k, size_t len, size_t *off,
		       size_t *plen, const char **tool);
/* 1 when the 64-bit ELF image has a Xen PVH entry note. Pure. */
int vm_elf_has_pvh(const unsigned char *elf, size_t len);

/* The initramfs for `release` in dir/initramfs, built when missing: our
 * init as /init, /dev/console, and in /m the modules the guest needs
 * (virtio_mmio, virtio_blk, virtio_console, erofs, overlay and their
 * dependencies) from /lib/modules/<release>, those built in left out.
 * *path allocated. */
int vm_initramfs_ensure(const char *dir, const char *release, char **path,
			struct ec_err *err);

/* The image's rootfs as erofs in dir/rootfs/<hex of digest>.erofs, built
 * when missing from the layer dirs (top first, overlay whiteout format):
 * merged by a read-only overlayfs mounted in a private mount namespace
 * that dies with mkfs.erofs, so whiteouts and opaque dirs apply exactly as
 * for containers and no mount outlives the build. Needs root. *path
 * allocated; *built set when this call made it (may be NULL). */
int vm_rootfs_ensure(const char *dir, const char *digest,
		     const char *const *lowerdirs, char **path, int *built,
		     struct ec_err *err);

/* The path of a system tool (mkfs.erofs, tc) in the standard sbin and
 * bin directories, whatever PATH says (a detached run's may be short), or
 * NULL. Allocated. */
char *vm_find_tool(const char *name);

/* The rootfs disk of image `image` (a local name or reference as `pull`
 * names it) of the layout l (the local root) in ROOT/vm, built when missing
 * from its layers (unpacked first when they are not): what `prewarm` runs on a
 * qemu host so the first `run --runtime qemu` boots at once. EC_NOTFOUND when
 * the image is not in the root. */
struct vm_image_disk {
	char digest[80]; /* the manifest digest */
	char *path;	 /* allocated */
	int built;	 /* this call made it */
	uint64_t bytes;
	char **lowerdirs; /* its layer dirs, top first (vm_strv_free) */
};
struct oci_layout;
int vm_image_disk(struct oci_layout *l, const char *image,
		  struct vm_image_disk *out, struct ec_err *err);

/* Remove the rootfs disks in vm_dir/rootfs whose manifest digest is not a
 * key of `live` (the image GC's marked blobs: those of every ref and of
 * every instance's image), and their snapshots in vm_dir/snap. Names that
 * are not "<64 hex>.erofs" or "<64 hex>-<key>.vmstate" are left alone.
 * Counts the disks that went and the bytes of both. */
struct json_t;
void vm_gc_disks(const char *vm_dir, const struct json_t *live,
		 unsigned *removed, uint64_t *bytes);

/* 1 when /dev/kvm opens read-write and speaks KVM API 12, else 0. (That
 * a guest also boots with it is rt_qemu_run's probe.) */
int vm_kvm_usable(void);

/* This host's TSC rate in kHz (/proc/cpuinfo "cpu MHz"), 0 if unknown:
 * TCG guests read the host's TSC, and the microvm machine gives them
 * nothing to calibrate it against. */
unsigned vm_host_tsc_khz(void);

/* The VM's network: the identity of the CNI interface the guest takes
 * over. addr is "A.B.C.D/PREFIX", gw "" when there is no default route. */
struct vm_net {
	char mac[18];
	char addr[32];
	char gw[16];
	unsigned mtu;
};

/* In the network namespace at `netns` (a CNI-attached instance's): read
 * the identity of `dev` (eth0), create the tap `tap` with eth0's MTU, up,
 * and redirect every frame between the two with tc (vm_tc_batch). *tapfd
 * is the tap's fd for QEMU (CLOEXEC; the tap goes when it is closed).
 * Needs root and tc (iproute2). On failure nothing is left but what the
 * namespace's deletion removes. */
int vm_net_attach(const char *netns, const char *dev, const char *tap,
		  struct vm_net *n, int *tapfd, struct ec_err *err);
/* The gateway of the default route through `dev` (NULL: any) in the text
 * of /proc/net/route, as dotted text in gw. -1 when there is none. Pure. */
int vm_route_gateway(const char *route_text, const char *dev, char gw[16]);
/* tc -batch input wiring dev and tap both ways. Allocated. Pure. */
char *vm_tc_batch(const char *dev, const char *tap);

/* A volume of the VM: a host directory shared by virtio-9p under tag
 * "v<index>" (host set), or a tmpfs in the guest (host NULL). */
struct vm_share {
	const char *host, *guest;
	int readonly;
};
#define VM_SHARES_MAX 16

/* QEMU's command line for one microVM. */
struct vm_qemu_opts {
	const char *qemu;   /* qemu-system-x86_64 path */
	int kvm;	    /* -enable-kvm -cpu host, else TCG */
	uint64_t memory_mb; /* -m */
	unsigned cpus;	    /* -smp */
	const char *kernel, *initrd;
	const char *rootfs;	   /* NULL: no disk (the accelerator probe) */
	unsigned tsc_khz;	   /* TCG: the guest's TSC rate (0 = let it
				      calibrate, which fails on microvm) */
	int io_fd;		   /* connected socket: the channel */
	const char *console_log;   /* serial console (ttyS0) to this file */
	const char *cmdline_extra; /* appended to the kernel command line */
	int net_fd;	 /* tap fd (in QEMU) for virtio-net; <= 0: none */
	const char *mac; /* its MAC (NULL: QEMU's) */
	const struct vm_share *shares; /* host dirs as virtio-9p devices */
	size_t nshares;
	/* snapshots: the device set must be the same when saved and when
	 * restored, so such a VM always has its NIC (a dead-end hub port
	 * when there is no tap) and no 9p share */
	int nic;
	int incoming_fd; /* > 0: restore from this fd (-incoming fd:N) */
	const char *qmp; /* QMP on this unix socket path (NULL: none) */
};
/* NULL-terminated, allocated (free with vm_strv_free). */
char **vm_qemu_argv(const struct vm_qemu_opts *o);

#endif

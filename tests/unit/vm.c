/* vm.c - unit tests of the pure parts of src/vm: the guest config
 * encoding, module load order from modules.dep (dependencies first,
 * built-ins skipped, optional names, a missing module named), the newc
 * cpio writer (checked by cpio(1) itself when it is installed), the
 * overlayfs lowerdir escaping, QEMU's argv (KVM vs TCG, no disk for the
 * probe, commas in paths), the bzImage payload and PVH note finders, and
 * the frame header. */
#include "tap.h"
#include "util/xalloc.h"
#include "vm/proto.h"
#include "vm/vm.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int argv_has(char **v, const char *s)
{
	for (; *v; v++)
		if (!strcmp(*v, s))
			return 1;
	return 0;
}

/* The value after option `opt` in argv, or NULL. */
static const char *argv_after(char **v, const char *opt)
{
	for (; v[0] && v[1]; v++)
		if (!strcmp(v[0], opt))
			return v[1];
	return NULL;
}

static void test_config(void)
{
	const char *args[] = {"sh", "-c", "echo a b", NULL};
	const char *env[] = {"A=1", "B=x=y", NULL};
	struct vm_guest_cfg c = {.args = args,
				 .env = env,
				 .cwd = "/www",
				 .user = "nobody:nogroup",
				 .hostname = "h1",
				 .readonly = 1};
	struct strbuf sb = STRBUF_INIT;
	static const char want[] =
	    "a\0sh\0a\0-c\0a\0echo a b\0e\0A=1\0e\0B=x=y\0"
	    "w\0/www\0u\0nobody:nogroup\0h\0h1\0r\0001\0";

	vm_config_encode(&c, &sb);
	is_int((int)sb.len, (int)sizeof(want) - 1, "config: encoded length");
	ok(!memcmp(sb.buf, want, sizeof(want) - 1),
	   "config: (key NUL value NUL)..., args and env in order");
	sb_reset(&sb);
	c.cwd = c.user = c.hostname = NULL;
	c.env = NULL;
	c.readonly = 0;
	vm_config_encode(&c, &sb);
	is_int((int)sb.len, 3 * 2 + 3 + 3 + 9,
	       "config: unset fields are left out");
	{
		struct vm_net n = {.mac = "02:00:00:00:00:01",
				   .addr = "198.19.1.5/24",
				   .gw = "198.19.1.1",
				   .mtu = 1500};
		const char *vips[] = {"198.18.0.9", NULL};
		struct vm_share sh[] = {{"/h", "/data", 1}, {NULL, "/t", 0}};
		static const char want2[] =
		    "m\00002:00:00:00:00:01\0i\000198.19.1.5/24\0"
		    "g\000198.19.1.1\0t\0001500\0v\000198.18.0.9\0"
		    "M\0v0 1 /data\0M\0- 0 /t\0";
		sb_reset(&sb);
		c.args = NULL;
		c.net = &n;
		c.vips = vips;
		c.shares = sh;
		c.nshares = 2;
		vm_config_encode(&c, &sb);
		ok(sb.len == sizeof(want2) - 1 &&
		       !memcmp(sb.buf, want2, sizeof(want2) - 1),
		   "config: network identity, VIPs, 9p shares and tmpfs");
		sb_reset(&sb);
		c.net = NULL;
		c.vips = NULL;
		c.nshares = 0;
		c.memory_max = 64ull << 20;
		vm_config_encode(&c, &sb);
		ok(sb.len == 11 && !memcmp(sb.buf, "L\00067108864\0", 11),
		   "config: the entrypoint's memory limit in bytes");
	}
	sb_release(&sb);
}

static const char dep[] =
    "kernel/fs/overlayfs/overlay.ko:\n"
    "kernel/fs/erofs/erofs.ko: kernel/lib/libcrc32c.ko\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/lib/libcrc32c.ko:\n"
    "kernel/crypto/crc32c_generic.ko:\n"
    "kernel/drivers/char/virtio-console.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n";

static char *joined(char **v)
{
	struct strbuf sb = STRBUF_INIT;

	for (; v && *v; v++) {
		const char *b = strrchr(*v, '/');
		if (sb.len)
			sb_addc(&sb, ' ');
		sb_adds(&sb, b ? b + 1 : *v);
	}
	return sb_detach(&sb, NULL);
}

static void test_modules(void)
{
	const char *want[] = {"virtio_mmio",	 "virtio_blk", "virtio_console",
			      "?crc32c_generic", "?nosuch",    "erofs",
			      "overlay",	 NULL};
	const char *want2[] = {"virtio_mmio", "ext4", NULL};
	const char *want3[] = {"virtio_mmio", "virtio_blk", NULL};
	struct ec_err err;
	char **paths = NULL, *j;

	ec_err_clear(&err);
	ok(vm_modules_order(dep, NULL, want, &paths, &err) == 0,
	   "modules: resolved");
	j = joined(paths);
	is_str(j,
	       "virtio_ring.ko virtio.ko virtio_mmio.ko virtio_blk.ko "
	       "virtio-console.ko crc32c_generic.ko libcrc32c.ko erofs.ko "
	       "overlay.ko",
	       "modules: dependencies first, each once, '-' matches '_', "
	       "optional ones when there");
	ok(!strncmp(paths[0], "kernel/drivers/virtio/", 22),
	   "modules: paths as in modules.dep");
	free(j);
	vm_strv_free(paths);

	ec_err_clear(&err);
	ok(vm_modules_order(dep, NULL, want2, &paths, &err) < 0 &&
	       err.cat == EC_NOTFOUND && strstr(err.msg, "'ext4'") && !paths,
	   "modules: one in neither modules.dep nor modules.builtin is "
	   "named");
	ec_err_clear(&err);
	ok(vm_modules_order(dep, "kernel/fs/ext4/ext4.ko\n", want2, &paths,
			    &err) == 0,
	   "modules: a built-in one is skipped");
	j = joined(paths);
	is_str(j, "virtio_ring.ko virtio.ko virtio_mmio.ko",
	       "modules: only the modular ones are loaded");
	free(j);
	vm_strv_free(paths);
	ec_err_clear(&err);
	ok(vm_modules_order("",
			    "kernel/drivers/virtio/virtio_mmio.ko\n"
			    "kernel/drivers/block/virtio_blk.ko\n",
			    want3, &paths, &err) == 0 &&
	       paths && !paths[0],
	   "modules: everything built in, nothing to load");
	vm_strv_free(paths);
}

static void test_cpio(void)
{
	struct strbuf sb = STRBUF_INIT;
	char dir[] = "/tmp/ec-vm-unit-XXXXXX", cmd[256], line[256];
	FILE *f;
	int n = 0, fileok = 0, devok = 0;

	vm_cpio_add(&sb, "dev", S_IFDIR | 0755, 0, 0, NULL, 0);
	vm_cpio_add(&sb, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0);
	vm_cpio_add(&sb, "init", S_IFREG | 0755, 0, 0, "#!/bin/sh\n", 10);
	vm_cpio_end(&sb);
	ok(sb.len % 4 == 0, "cpio: 4-byte aligned");
	ok(!memcmp(sb.buf, "070701", 6), "cpio: newc magic");
	ok(memmem(sb.buf, sb.len, "TRAILER!!!", 10) != NULL, "cpio: trailer");
	if (access("/usr/bin/cpio", X_OK) != 0 || !mkdtemp(dir)) {
		ok(0, "cpio: cpio(1) is needed to check the archive "
		      "(tests/lib/deps.sh installs it)");
		sb_release(&sb);
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s/a.cpio", dir);
	f = fopen(cmd, "w");
	fwrite(sb.buf, 1, sb.len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cpio -itv < %s/a.cpio 2>&1", dir);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		n += strstr(line, " dev") || strstr(line, " init");
		fileok |= line[0] == '-' && strstr(line, " 10 ") &&
			  strstr(line, " init\n");
		devok |= line[0] == 'c' && strstr(line, "5,") &&
			 strstr(line, "dev/console");
	}
	if (f)
		pclose(f);
	is_int(n, 3, "cpio: cpio(1) lists the three entries");
	ok(fileok, "cpio: the file with its 10 bytes");
	ok(devok, "cpio: the character device 5,1");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	sb_release(&sb);
}

static void test_lowerdir(void)
{
	const char *l[] = {"/r/layers/b", "/r/a:b", "/r/c,d\\e", NULL};
	const char *one[] = {"/only", NULL};
	char *s = vm_lowerdir_option(l);

	is_str(s, "/r/layers/b:/r/a\\:b:/r/c\\,d\\\\e",
	       "lowerdir: top first, ':' ',' '\\' escaped");
	free(s);
	s = vm_lowerdir_option(one);
	is_str(s, "/only", "lowerdir: one layer");
	free(s);
}

static void test_argv(void)
{
	struct vm_qemu_opts o = {.qemu = "/usr/bin/qemu-system-x86_64",
				 .kvm = 1,
				 .memory_mb = 256,
				 .cpus = 2,
				 .kernel = "/k/vmlinux",
				 .initrd = "/c/init.cpio",
				 .rootfs = "/r/a,b.erofs",
				 .io_fd = 3,
				 .console_log = "/s/console.log",
				 .tsc_khz = 2300000,
				 .cmdline_extra = "edgectl.debug"};
	char **v = vm_qemu_argv(&o);
	const char *append;

	is_str(v[0], o.qemu, "argv: QEMU first");
	ok(!strncmp(argv_after(v, "-M"), "microvm,", 8), "argv: microvm");
	ok(argv_has(v, "-nodefaults") && argv_has(v, "-no-user-config") &&
	       argv_has(v, "-no-reboot"),
	   "argv: -nodefaults -no-user-config -no-reboot");
	ok(argv_has(v, "-enable-kvm") && !strcmp(argv_after(v, "-cpu"), "host"),
	   "argv: KVM with -cpu host");
	is_str(argv_after(v, "-m"), "256", "argv: --memory is -m");
	is_str(argv_after(v, "-smp"), "2", "argv: --cpus is -smp");
	is_str(argv_after(v, "-kernel"), "/k/vmlinux", "argv: -kernel");
	is_str(argv_after(v, "-initrd"), "/c/init.cpio", "argv: -initrd");
	is_str(argv_after(v, "-drive"),
	       "id=root,file=/r/a,,b.erofs,format=raw,if=none,readonly=on",
	       "argv: the rootfs disk read-only, ',' in its path doubled");
	ok(argv_has(v, "virtio-blk-device,drive=root"),
	   "argv: virtio-mmio blk");
	is_str(argv_after(v, "-chardev"), "socket,id=io,fd=3",
	       "argv: the channel on an inherited socket");
	ok(argv_has(v, "virtserialport,chardev=io,name=" VM_PORT_NAME),
	   "argv: the named virtio-serial port");
	is_str(argv_after(v, "-serial"), "file:/s/console.log",
	       "argv: the console to a file");
	append = argv_after(v, "-append");
	ok(strstr(append, "rdinit=/init") && strstr(append, "panic=-1") &&
	       strstr(append, "reboot=t"),
	   "argv: rdinit, panic=-1 and reboot=t on the command line");
	ok(!strstr(append, "tsc_early_khz"), "argv: KVM: no TSC rate given");
	ok(strstr(append, " edgectl.debug") &&
	       !strcmp(append + strlen(append) - 13, "edgectl.debug"),
	   "argv: the extra command line comes last (it wins)");
	vm_strv_free(v);

	o.kvm = 0;
	o.rootfs = NULL;
	o.memory_mb = 0;
	o.cpus = 0;
	o.console_log = NULL;
	o.cmdline_extra = NULL;
	v = vm_qemu_argv(&o);
	ok(!argv_has(v, "-enable-kvm") &&
	       !strcmp(argv_after(v, "-accel"), "tcg"),
	   "argv: TCG without KVM");
	ok(!argv_after(v, "-netdev") && !argv_after(v, "-fsdev"),
	   "argv: no tap, no shares: no netdev, no fsdev");
	ok(!argv_after(v, "-cpu"), "argv: TCG: no -cpu host");
	ok(!argv_after(v, "-drive"), "argv: no rootfs, no disk (the probe)");
	is_str(argv_after(v, "-m"), "512", "argv: default memory 512M");
	is_str(argv_after(v, "-smp"), "1", "argv: default one vCPU");
	is_str(argv_after(v, "-serial"), "null", "argv: no console log");
	ok(strstr(argv_after(v, "-append"),
		  "tsc_early_khz=2300000 tsc=reliable") != NULL,
	   "argv: TCG: the host's TSC rate given");
	vm_strv_free(v);

	{
		struct vm_share sh[] = {{"/h/a,b", "/data", 0},
					{NULL, "/tmp", 0},
					{"/h/ro", "/in", 1}};
		o.net_fd = 4;
		o.mac = "02:00:00:00:00:01";
		o.shares = sh;
		o.nshares = 3;
		v = vm_qemu_argv(&o);
		is_str(argv_after(v, "-netdev"), "tap,id=n0,fd=4",
		       "argv: the tap handed over as fd 4");
		ok(argv_has(v, "virtio-net-device,netdev=n0,"
			       "mac=02:00:00:00:00:01"),
		   "argv: virtio-net with the CNI interface's MAC");
		is_str(argv_after(v, "-fsdev"),
		       "local,id=fs0,path=/h/a,,b,security_model=none",
		       "argv: a 9p share, ',' in its path doubled");
		ok(argv_has(v, "virtio-9p-device,fsdev=fs0,mount_tag=v0") &&
		       argv_has(v, "local,id=fs2,path=/h/ro,security_model="
				   "none,readonly=on") &&
		       argv_has(v, "virtio-9p-device,fsdev=fs2,mount_tag=v2") &&
		       !argv_has(v, "virtio-9p-device,fsdev=fs1,mount_tag=v1"),
		   "argv: :ro shares read-only, tag by index, no device for "
		   "a tmpfs");
		vm_strv_free(v);
	}
}

static void test_net(void)
{
	static const char route[] =
	    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\t"
	    "Mask\t\tMTU\tWindow\tIRTT\n"
	    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
	char gw[16];
	char *b;

	is_int(vm_route_gateway(route, "eth0", gw), 0,
	       "route: a default route through eth0");
	is_str(gw, "192.168.1.1", "route: its gateway, network order");
	is_int(vm_route_gateway(route, "eth1", gw), -1,
	       "route: none through another device");
	is_int(vm_route_gateway("Iface\tDestination\n", NULL, gw), -1,
	       "route: no default route");
	is_str(gw, "", "route: gw empty when there is none");
	b = vm_tc_batch("eth0", "ectap0");
	ok(strstr(b, "filter add dev eth0 parent ffff: protocol all u32 "
		     "match u8 0 0 action mirred egress redirect dev ectap0") &&
	       strstr(b, "filter add dev ectap0 parent ffff: protocol all "
			 "u32 match u8 0 0 action mirred egress redirect dev "
			 "eth0") &&
	       strstr(b, "qdisc add dev eth0 ingress") &&
	       strstr(b, "qdisc add dev ectap0 ingress"),
	   "tc: every frame redirected both ways");
	free(b);
}

static void test_bzimage(void)
{
	unsigned char k[4096] = {0};
	unsigned char e[256] = {0};
	size_t off, len;
	const char *tool = NULL;
	uint64_t phoff = 64, noff = 128, nsz = 20;
	uint16_t phentsize = 56, phnum = 1;

	memcpy(k + 0x202, "HdrS", 4);
	k[0x206] = 0x0f; /* protocol 2.15 */
	k[0x207] = 0x02;
	k[0x1f1] = 3;	 /* (3 + 1) * 512 = 2048 bytes of setup */
	k[0x248] = 0x10; /* payload at 2048 + 16 */
	k[0x24c] = 100;
	memcpy(k + 2048 + 16,
	       "\xfd"
	       "7zXZ\0",
	       6);
	ok(vm_bzimage_payload(k, sizeof(k), &off, &len, &tool) == 0 &&
	       off == 2064 && len == 100 && !strcmp(tool, "xz"),
	   "bzImage: the xz payload's offset and length");
	memcpy(k + 2064, "\x28\xb5\x2f\xfd", 4);
	ok(vm_bzimage_payload(k, sizeof(k), &off, &len, &tool) == 0 &&
	       len == 96 && !strcmp(tool, "zstd"),
	   "bzImage: zstd, without the appended size");
	k[0x24c] = 0xff;
	k[0x24d] = 0xff;
	ok(vm_bzimage_payload(k, sizeof(k), &off, &len, &tool) < 0,
	   "bzImage: a payload past the end is refused");
	memcpy(k + 0x202, "XXXX", 4);
	ok(vm_bzimage_payload(k, sizeof(k), &off, &len, &tool) < 0,
	   "bzImage: no HdrS, not a bzImage");

	/* a 64-bit ELF with one PT_NOTE holding Xen's PHYS32_ENTRY note */
	memcpy(e, "\177ELF", 4);
	e[4] = 2;
	memcpy(e + 32, &phoff, 8);
	memcpy(e + 54, &phentsize, 2);
	memcpy(e + 56, &phnum, 2);
	e[64] = 4; /* PT_NOTE */
	memcpy(e + 64 + 8, &noff, 8);
	memcpy(e + 64 + 32, &nsz, 8);
	e[128] = 4;  /* namesz */
	e[132] = 4;  /* descsz */
	e[136] = 18; /* type */
	memcpy(e + 140, "Xen", 4);
	ok(vm_elf_has_pvh(e, sizeof(e)), "PVH: the Xen PHYS32_ENTRY note");
	e[136] = 17;
	ok(!vm_elf_has_pvh(e, sizeof(e)), "PVH: another note type is not it");
	ok(!vm_elf_has_pvh(e, 40), "PVH: a truncated ELF is not it");
}

/* vm_rootfs_ensure on two layers in overlay whiteout format: the upper
 * deletes a file (0/0 character device) and replaces a directory (opaque
 * xattr). Needs root (it mounts) and mkfs.erofs/fsck.erofs. */
static void test_rootfs(void)
{
	char dir[] = "/tmp/ec-vm-rootfs-XXXXXX", cmd[4096];
	const char *lowers[3];
	char upper[64], lower[64], out[64], opq[80];
	char *path = NULL, *path2 = NULL;
	struct ec_err err;
	struct stat st;
	int built = -1, built2 = -1;

	if (geteuid() != 0 || access("/usr/bin/mkfs.erofs", X_OK) != 0 ||
	    !mkdtemp(dir)) {
		ok(0, "rootfs: needs root and erofs-utils (CI has both)");
		return;
	}
	snprintf(lower, sizeof(lower), "%s/l1", dir);
	snprintf(upper, sizeof(upper), "%s/l2", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(cmd, sizeof(cmd),
		 "set -e; mkdir -p %s/etc %s/d %s/etc %s/d; "
		 "echo keep >%s/etc/keep; echo gone >%s/etc/gone; "
		 "echo old >%s/d/old; mknod %s/etc/gone c 0 0; "
		 "echo new >%s/d/new",
		 lower, lower, upper, upper, lower, lower, lower, upper, upper);
	snprintf(opq, sizeof(opq), "%s/d", upper);
	if (system(cmd) != 0 ||
	    setxattr(opq, "trusted.overlay.opaque", "y", 1, 0) < 0) {
		ok(0, "rootfs: could not make the layers");
		return;
	}
	lowers[0] = upper;
	lowers[1] = lower;
	lowers[2] = NULL;
	ec_err_clear(&err);
	ok(vm_rootfs_ensure(dir, "sha256:0123456789abcdef0123", lowers, &path,
			    &built, &err) == 0 &&
	       built == 1,
	   "rootfs: built from two layers (%s)", err.msg);
	ok(path && stat(path, &st) == 0 && strstr(path, "/rootfs/") &&
	       strstr(path, "0123456789abcdef0123.erofs"),
	   "rootfs: cached under the digest");
	ok(vm_rootfs_ensure(dir, "sha256:0123456789abcdef0123", lowers, &path2,
			    &built2, &err) == 0 &&
	       built2 == 0,
	   "rootfs: the second call finds it");
	snprintf(cmd, sizeof(cmd),
		 "fsck.erofs --extract=%s %s >/dev/null 2>&1 && "
		 "test -f %s/etc/keep && ! test -e %s/etc/gone && "
		 "test \"$(ls %s/d)\" = new && "
		 "! ls %s/rootfs | grep -q '^\\.' && "
		 "! grep -q %s /proc/self/mountinfo",
		 out, path ? path : "/nonexistent", out, out, out, dir, dir);
	free(path2);
	path2 = NULL;
	ok(system(cmd) == 0,
	   "rootfs: the whiteout hides the file, the opaque dir hides the "
	   "lower's entries, no temp file or mount left");
	ok(vm_rootfs_ensure(dir, "sha256:0123456789abcdef9999", NULL, &path2,
			    NULL, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "rootfs: no layers is refused");
	free(path);
	free(path2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static void test_frame(void)
{
	uint8_t h[VM_FRAME_HDR];

	vm_frame_hdr(h, VM_F_STDOUT, 0x01020304u);
	ok(h[0] == 'O' && h[1] == 4 && h[4] == 1,
	   "frame: type, then the length little-endian");
	is_int((int)vm_frame_len(h), 0x01020304, "frame: length round trip");
}

int main(void)
{
	test_config();
	test_modules();
	test_cpio();
	test_lowerdir();
	test_argv();
	test_net();
	test_bzimage();
	test_rootfs();
	test_frame();
	return done_testing();
}

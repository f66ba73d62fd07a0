/* vm.c - guest kernel, initramfs, rootfs image and QEMU argv (vm.h). */
#include "vm/vm.h"
#include "vm/proto.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODDEP_MAX   (16u << 20)
#define MKFS_LOG_MAX 4096

/* The modules the guest init loads (with their dependencies). */
static const char *const guest_modules[] = {
    "virtio_mmio",
    "virtio_blk",
    "virtio_console",
    /* libcrc32c (erofs) asks for "crc32c" through modprobe, which the
     * guest has not: its softdep, loaded first */
    "?crc32c_generic",
    "erofs",
    "overlay",
    NULL,
};
/* Loaded by the init only when the config asks for them (each costs boot
 * time under TCG): a network device, 9p volumes. */
static const char *const net_modules[] = {"?virtio_net", NULL};
static const char *const fs9p_modules[] = {"?9pnet_virtio", "?9p", NULL};

void vm_strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* --- config frame ----------------------------------------------------------
 */

static void kv(struct strbuf *out, char key, const char *value)
{
	sb_addc(out, key);
	sb_addc(out, '\0');
	sb_adds(out, value);
	sb_addc(out, '\0');
}

void vm_config_encode(const struct vm_guest_cfg *c, struct strbuf *out)
{
	const char *const *p;

	for (p = c->args; p && *p; p++)
		kv(out, 'a', *p);
	for (p = c->env; p && *p; p++)
		kv(out, 'e', *p);
	if (c->cwd)
		kv(out, 'w', c->cwd);
	if (c->user)
		kv(out, 'u', c->user);
	if (c->hostname)
		kv(out, 'h', c->hostname);
	if (c->readonly)
		kv(out, 'r', "1");
	if (c->net) {
		char mtu[16];
		kv(out, VM_K_MAC, c->net->mac);
		kv(out, VM_K_ADDR, c->net->addr);
		if (c->net->gw[0])
			kv(out, VM_K_GW, c->net->gw);
		snprintf(mtu, sizeof(mtu), "%u", c->net->mtu);
		if (c->net->mtu)
			kv(out, VM_K_MTU, mtu);
	}
	for (p = c->vips; p && *p; p++)
		kv(out, VM_K_VIP, *p);
	if (c->seed)
		kv(out, VM_K_SEED, c->seed);
	if (c->memory_max) {
		char mem[24];
		snprintf(mem, sizeof(mem), "%llu",
			 (unsigned long long)c->memory_max);
		kv(out, VM_K_MEMORY, mem);
	}
	for (size_t i = 0; i < c->nshares; i++) {
		const struct vm_share *m = &c->shares[i];
		char *v =
		    m->host
			? xasprintf("v%zu %d %s", i, !!m->readonly, m->guest)
			: xasprintf("- %d %s", !!m->readonly, m->guest);
		kv(out, VM_K_MOUNT, v);
		free(v);
	}
}

/* --- modules ----------------------------------------------------------------
 */

/* Module name of a path in modules.dep: basename without ".ko*", '-' as
 * '_' (what the kernel calls it). Allocated. */
static char *mod_name(const char *path, size_t len)
{
	const char *b = path, *p;
	char *n, *ko;

	for (p = path; p < path + len; p++)
		if (*p == '/')
			b = p + 1;
	n = xstrndup(b, (size_t)(path + len - b));
	if ((ko = strstr(n, ".ko")))
		*ko = '\0';
	for (p = n; *p; p++)
		if (*p == '-')
			n[p - n] = '_';
	return n;
}

/* The line of modules.dep for module `name`: *path (len) its file,
 * *deps the rest of the line. 0 when found. */
static int dep_line(const char *dep, const char *name, const char **path,
		    size_t *plen, const char **deps, size_t *dlen)
{
	const char *l = dep;

	while (l && *l) {
		const char *eol = strchr(l, '\n');
		const char *colon =
		    memchr(l, ':', eol ? (size_t)(eol - l) : strlen(l));
		size_t ll = eol ? (size_t)(eol - l) : strlen(l);

		if (colon) {
			char *n = mod_name(l, (size_t)(colon - l));
			int match = !strcmp(n, name);
			free(n);
			if (match) {
				*path = l;
				*plen = (size_t)(colon - l);
				*deps = colon + 1;
				*dlen = ll - (size_t)(colon + 1 - l);
				return 0;
			}
		}
		l = eol ? eol + 1 : NULL;
	}
	return -1;
}

static int in_builtin(const char *builtin, const char *name)
{
	const char *l = builtin;

	while (l && *l) {
		const char *eol = strchr(l, '\n');
		size_t ll = eol ? (size_t)(eol - l) : strlen(l);
		char *n = mod_name(l, ll);
		int match = !strcmp(n, name);

		free(n);
		if (match)
			return 1;
		l = eol ? eol + 1 : NULL;
	}
	return 0;
}

struct modlist {
	char **v;
	size_t n, cap;
};

static int has(const struct modlist *m, const char *path, size_t len)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strlen(m->v[i]) == len && !memcmp(m->v[i], path, len))
			return 1;
	return 0;
}

static int visit(const char *dep, const char *name, int depth,
		 struct modlist *m, struct ec_err *err)
{
	const char *path, *deps, *p;
	size_t plen, dlen;

	if (depth > 32)
		return ec_err_set(err, EC_FAIL,
				  "modules.dep: dependency loop at '%s'", name);
	if (dep_line(dep, name, &path, &plen, &deps, &dlen) < 0)
		return ec_err_set(
		    err, EC_NOTFOUND,
		    "kernel module '%s' is in no modules.dep line", name);
	if (has(m, path, plen))
		return 0;
	/* dependencies first */
	for (p = deps; p < deps + dlen;) {
		size_t n;
		char *dn;
		int r;

		while (p < deps + dlen && (*p == ' ' || *p == '\t'))
			p++;
		for (n = 0; p + n < deps + dlen && p[n] != ' ' && p[n] != '\t';
		     n++)
			;
		if (!n)
			break;
		dn = mod_name(p, n);
		r = visit(dep, dn, depth + 1, m, err);
		free(dn);
		if (r < 0)
			return -1;
		p += n;
	}
	if (!has(m, path, plen)) {
		m->v = xgrow(m->v, &m->cap, m->n + 2, sizeof(*m->v));
		m->v[m->n++] = xstrndup(path, plen);
		m->v[m->n] = NULL;
	}
	return 0;
}

int vm_modules_order(const char *dep, const char *builtin,
		     const char *const *want, char ***paths, struct ec_err *err)
{
	struct modlist m = {0};
	const char *const *w;
	const char *p, *d;
	size_t pl, dl;

	m.v = xgrow(NULL, &m.cap, 1, sizeof(*m.v));
	m.v[0] = NULL;
	for (w = want; *w; w++) {
		const char *name = **w == '?' ? *w + 1 : *w;
		if (dep_line(dep ? dep : "", name, &p, &pl, &d, &dl) < 0 &&
		    (**w == '?' || in_builtin(builtin, name)))
			continue;
		if (visit(dep ? dep : "", name, 0, &m, err) < 0) {
			vm_strv_free(m.v);
			*paths = NULL;
			if (err && err->cat == EC_NOTFOUND)
				ec_err_set(err, EC_NOTFOUND,
					   "kernel module '%s' is neither "
					   "built in nor in modules.dep",
					   name);
			return -1;
		}
	}
	*paths = m.v;
	return 0;
}

/* --- cpio -------------------------------------------------------------------
 */

static void pad4(struct strbuf *sb)
{
	while (sb->len % 4)
		sb_addc(sb, '\0');
}

void vm_cpio_add(struct strbuf *sb, const char *name, uint32_t mode,
		 uint32_t rdev_major, uint32_t rdev_minor, const void *data,
		 size_t len)
{
	static unsigned ino = 1;
	size_t nl = strlen(name) + 1;

	/* magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	 * devminor, rdevmajor, rdevminor, namesize, check */
	sb_addf(sb,
		"070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino++, mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, (unsigned)len,
		0u, 0u, rdev_major, rdev_minor, (unsigned)nl, 0u);
	sb_add(sb, name, nl);
	pad4(sb);
	if (len)
		sb_add(sb, data, len);
	pad4(sb);
}

void vm_cpio_end(struct strbuf *sb)
{
	vm_cpio_add(sb, "TRAILER!!!", 0, 0, 0, NULL, 0);
}

/* --- lowerdir ----------------------------------------------------------------
 */

char *vm_lowerdir_option(const char *const *lowerdirs)
{
	struct strbuf sb = STRBUF_INIT;
	const char *const *l;
	const char *p;

	for (l = lowerdirs; l && *l; l++) {
		if (l != lowerdirs)
			sb_addc(&sb, ':');
		for (p = *l; *p; p++) {
			if (*p == ':' || *p == ',' || *p == '\\')
				sb_addc(&sb, '\\');
			sb_addc(&sb, *p);
		}
	}
	return sb_detach(&sb, NULL);
}

/* --- kernel ------------------------------------------------------------------
 */

int vm_kernel_find(const char *configured, char **kernel, char **release,
		   struct ec_err *err)
{
	_cleanup_free_ char *best = NULL;
	const char *base;
	struct dirent *de;
	struct stat st;
	DIR *d;

	*kernel = *release = NULL;
	if (configured && *configured) {
		if (stat(configured, &st) < 0 || !S_ISREG(st.st_mode))
			return ec_err_set(err, EC_NOTFOUND,
					  "guest kernel '%s' is not a file",
					  configured);
		*kernel = xstrdup(configured);
	} else {
		if (!(d = opendir("/boot")))
			return ec_err_set(err, EC_NOTFOUND,
					  "no guest kernel: /boot has no "
					  "vmlinuz-* (install "
					  "linux-image-amd64)");
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, "vmlinuz-", 8) &&
			    (!best || strverscmp(de->d_name, best) > 0)) {
				free(best);
				best = xstrdup(de->d_name);
			}
		closedir(d);
		if (!best)
			return ec_err_set(err, EC_NOTFOUND,
					  "no guest kernel: /boot has no "
					  "vmlinuz-* (install "
					  "linux-image-amd64)");
		*kernel = xasprintf("/boot/%s", best);
	}
	base = strrchr(*kernel, '/');
	base = base ? base + 1 : *kernel;
	*release = xstrdup(strncmp(base, "vmlinuz-", 8) ? "" : base + 8);
	return 0;
}

/* --- atomic files
 * ------------------------------------------------------------- */

static int write_atomic(const char *path, const void *data, size_t len,
			struct ec_err *err);

/* Write data to path through "<path>.tmp-<pid>" and rename. */
static int write_atomic(const char *path, const void *data, size_t len,
			struct ec_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	int fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", tmp);
	if (io_write_all(fd, data, len, -1, tmp, err) < 0 || fsync(fd) < 0) {
		if (err && err->cat == EC_OK)
			ec_err_errno(err, EC_FAIL, errno, "write '%s'", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* --- vmlinux for PVH boot
 * --------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int vm_bzimage_payload(const unsigned char *k, size_t len, size_t *off,
		       size_t *plen, const char **tool)
{
	static const unsigned char xz[] = {0xfd, '7', 'z', 'X', 'Z', 0};
	static const unsigned char zst[] = {0x28, 0xb5, 0x2f, 0xfd};
	size_t setup;

	if (len < 0x250 || memcmp(k + 0x202, "HdrS", 4) ||
	    (k[0x206] | k[0x207] << 8) < 0x208)
		return -1;
	setup = ((size_t)(k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
	*off = setup + le32(k + 0x248);
	*plen = le32(k + 0x24c);
	if (*off > len || *plen > len - *off || *plen < 16)
		return -1;
	if (!memcmp(k + *off, xz, sizeof(xz))) {
		*tool = "xz";
		return 0;
	}
	if (!memcmp(k + *off, zst, sizeof(zst))) {
		*tool = "zstd";
		*plen -= 4; /* the build appends the decompressed size */
		return 0;
	}
	return -1;
}

int vm_elf_has_pvh(const unsigned char *e, size_t len)
{
	uint64_t phoff;
	uint16_t phentsize, phnum, i;

	if (len < 64 || memcmp(e, "\177ELF", 4) || e[4] != 2 /* 64-bit */)
		return 0;
	memcpy(&phoff, e + 32, 8);
	memcpy(&phentsize, e + 54, 2);
	memcpy(&phnum, e + 56, 2);
	for (i = 0; i < phnum; i++) {
		const unsigned char *ph = e + phoff + (size_t)i * phentsize;
		uint64_t off, sz, p;

		if (phoff + (size_t)(i + 1) * phentsize > len ||
		    le32(ph) != 4 /* PT_NOTE */)
			continue;
		memcpy(&off, ph + 8, 8);
		memcpy(&sz, ph + 32, 8);
		if (off > len || sz > len - off)
			continue;
		for (p = off; p + 12 <= off + sz;) {
			uint32_t nsz = le32(e + p), dsz = le32(e + p + 4);
			uint32_t type = le32(e + p + 8);
			if (nsz == 4 &&
			    type == 18 /* XEN_ELFNOTE_PHYS32_ENTRY */ &&
			    p + 16 <= off + sz && !memcmp(e + p + 12, "Xen", 4))
				return 1;
			p += 12 + ((nsz + 3) & ~3u) + ((dsz + 3) & ~3u);
		}
	}
	return 0;
}

int vm_kernel_boot_image(const char *dir, const char *kernel, char **path,
			 struct ec_err *err)
{
	_cleanup_free_ char *data = NULL, *kdir = xasprintf("%s/kernel", dir);
	const char *tool, *b = strrchr(kernel, '/');
	struct strbuf out = STRBUF_INIT, eo = STRBUF_INIT;
	struct proc_opts po = {0};
	char hex[SHA256_HEX_LEN + 1], *key;
	size_t len, off, plen;
	struct stat st;
	int status = -1;

	*path = NULL;
	if (stat(kernel, &st) < 0)
		return ec_err_errno(err, EC_NOTFOUND, errno,
				    "guest kernel '%s'", kernel);
	key = xasprintf("%s %lld %lld", kernel, (long long)st.st_size,
			(long long)st.st_mtime);
	sha256_hex(key, strlen(key), hex);
	free(key);
	*path = xasprintf("%s/%s-%.16s.vmlinux", kdir, b ? b + 1 : kernel, hex);
	if (access(*path, R_OK) == 0)
		return 0;
	if (fs_read_file(kernel, 256u << 20, &data, &len, err) < 0)
		goto keep;
	if (vm_bzimage_payload((unsigned char *)data, len, &off, &plen, &tool) <
	    0)
		goto keep; /* not a bzImage we can unpack: boot it as it is */
	{
		/* --single-stream: the size the build appends is not xz */
		const char *argv[] = {
		    tool, "-dc", !strcmp(tool, "xz") ? "--single-stream" : NULL,
		    NULL};
		po.input = data + off;
		po.input_len = plen;
		po.max_output = 512u << 20;
		po.timeout_ms = 120000;
		if (proc_run(argv, &po, &out, &eo, &status, NULL) < 0 ||
		    status != 0 ||
		    !vm_elf_has_pvh((unsigned char *)out.buf, out.len))
			goto keep;
	}
	if (fs_mkdir_p(kdir, err) < 0 ||
	    write_atomic(*path, out.buf, out.len, err) < 0) {
		sb_release(&out);
		sb_release(&eo);
		free(*path);
		*path = NULL;
		return -1;
	}
	sb_release(&out);
	sb_release(&eo);
	return 0;
keep:
	sb_release(&out);
	sb_release(&eo);
	free(*path);
	*path = xstrdup(kernel);
	ec_err_clear(err);
	return 0;
}

/* --- initramfs
 * ----------------------------------------------------------------- */

/* The module paths for `release` (absolute) of `want`, without those in
 * `skip` (a list this returned before, may be NULL), or an empty list when
 * the kernel has no module directory (everything built in, or it will fail
 * clearly in the guest). */
static int guest_module_paths(const char *release, const char *const *want,
			      char **skip, char ***abs, struct ec_err *err)
{
	_cleanup_free_ char *mdir = xasprintf("/lib/modules/%s", release);
	_cleanup_free_ char *depf = xasprintf("%s/modules.dep", mdir);
	_cleanup_free_ char *bif = xasprintf("%s/modules.builtin", mdir);
	_cleanup_free_ char *dep = NULL, *builtin = NULL;
	char **rel = NULL;
	size_t n, i, k, o = 0;

	*abs = NULL;
	if (!*release || access(depf, R_OK) < 0) {
		*abs = xcalloc(1, sizeof(**abs));
		return 0;
	}
	if (fs_read_file(depf, MODDEP_MAX, &dep, &n, err) < 0)
		return -1;
	if (access(bif, R_OK) == 0 &&
	    fs_read_file(bif, MODDEP_MAX, &builtin, &n, err) < 0)
		return -1;
	if (vm_modules_order(dep, builtin, want, &rel, err) < 0)
		return ec_err_prefix(err, "kernel %s", release);
	for (n = 0; rel[n]; n++)
		;
	*abs = xcalloc(n + 1, sizeof(**abs));
	for (i = 0; i < n; i++) {
		char *a = rel[i][0] == '/' ? xstrdup(rel[i])
					   : xasprintf("%s/%s", mdir, rel[i]);
		for (k = 0; skip && skip[k] && strcmp(skip[k], a); k++)
			;
		if (skip && skip[k])
			free(a);
		else
			(*abs)[o++] = a;
	}
	vm_strv_free(rel);
	return 0;
}

/* Add the modules `mods` under dir/ ("m", "m/net") as NN-name: load order
 * for the init, which sorts by name. */
static int cpio_modules(struct strbuf *cpio, const char *dir, char **mods,
			struct ec_err *err)
{
	size_t i;

	vm_cpio_add(cpio, dir, S_IFDIR | 0755, 0, 0, NULL, 0);
	for (i = 0; mods[i]; i++) {
		_cleanup_free_ char *data = NULL, *name = NULL;
		const char *b = strrchr(mods[i], '/');
		size_t len;

		if (fs_read_file(mods[i], 64u << 20, &data, &len, err) < 0)
			return -1;
		name = xasprintf("%s/%02zu-%s", dir, i, b ? b + 1 : mods[i]);
		vm_cpio_add(cpio, name, S_IFREG | 0644, 0, 0, data, len);
	}
	return 0;
}

int vm_initramfs_ensure(const char *dir, const char *release, char **path,
			struct ec_err *err)
{
	_cleanup_free_ char *idir = xasprintf("%s/initramfs", dir);
	struct strbuf key = STRBUF_INIT, cpio = STRBUF_INIT;
	char **mods = NULL, **netm = NULL, **p9m = NULL;
	char hex[SHA256_HEX_LEN + 1], ihex[SHA256_HEX_LEN + 1];
	char **all[3];
	struct stat st;
	size_t i, g;
	int r = -1;

	*path = NULL;
	if (guest_module_paths(release, guest_modules, NULL, &mods, err) < 0 ||
	    guest_module_paths(release, net_modules, mods, &netm, err) < 0 ||
	    guest_module_paths(release, fs9p_modules, mods, &p9m, err) < 0)
		goto out;
	all[0] = mods;
	all[1] = netm;
	all[2] = p9m;
	/* key: the init, the kernel release, each module's size and mtime */
	sha256_hex(vm_guest_init_data(), vm_guest_init_length(), ihex);
	sb_addf(&key, "%s\n%s\n", ihex, release);
	for (g = 0; g < 3; g++)
		for (i = 0; all[g][i]; i++) {
			if (stat(all[g][i], &st) < 0) {
				ec_err_errno(err, EC_FAIL, errno, "module '%s'",
					     all[g][i]);
				goto out;
			}
			sb_addf(&key, "%zu %s %lld %lld\n", g, all[g][i],
				(long long)st.st_size, (long long)st.st_mtime);
		}
	sha256_hex(key.buf, key.len, hex);
	*path =
	    xasprintf("%s/%s-%.16s.cpio", idir, *release ? release : "k", hex);
	if (access(*path, R_OK) == 0) {
		r = 0;
		goto out;
	}
	if (fs_mkdir_p(idir, err) < 0)
		goto out;
	vm_cpio_add(&cpio, "dev", S_IFDIR | 0755, 0, 0, NULL, 0);
	vm_cpio_add(&cpio, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0);
	vm_cpio_add(&cpio, "init", S_IFREG | 0755, 0, 0, vm_guest_init_data(),
		    vm_guest_init_length());
	if (cpio_modules(&cpio, "m", mods, err) < 0 ||
	    cpio_modules(&cpio, "m/net", netm, err) < 0 ||
	    cpio_modules(&cpio, "m/9p", p9m, err) < 0)
		goto out;
	vm_cpio_end(&cpio);
	r = write_atomic(*path, cpio.buf, cpio.len, err);
out:
	if (r < 0) {
		free(*path);
		*path = NULL;
	}
	vm_strv_free(mods);
	vm_strv_free(netm);
	vm_strv_free(p9m);
	sb_release(&key);
	sb_release(&cpio);
	return r;
}

/* --- rootfs image ------------------------------------------------------------
 */

char *vm_find_tool(const char *name)
{
	static const char *const dirs[] = {
	    "/usr/sbin",       "/usr/bin",	 "/sbin", "/bin",
	    "/usr/local/sbin", "/usr/local/bin", NULL};
	size_t i;

	for (i = 0; dirs[i]; i++) {
		char *p = xasprintf("%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* The child of vm_rootfs_ensure: private mount namespace, overlay of the
 * layers on `mnt` (or the single layer as it is), exec mkfs.erofs.
 * Async-signal-safe calls only: everything was prepared before fork. */
static void __attribute__((noreturn))
mkfs_child(const char *mkfs, const char *out, const char *src, const char *mnt,
	   const char *lowers, int logfd)
{
	const char *argv[] = {mkfs, "--quiet", out, src, NULL};
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 ||
	    dup2(logfd, 2) < 0)
		_exit(126);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		(void)!write(2, "unshare mount namespace failed\n", 31);
		_exit(126);
	}
	if (lowers && mount("overlay", mnt, "overlay", MS_RDONLY, lowers) < 0) {
		(void)!write(2, "mount overlay of the layers failed\n", 35);
		_exit(126);
	}
	execv(mkfs, (char *const *)argv);
	_exit(127);
}

static int run_mkfs(const char *mkfs, const char *tmp, const char *mnt,
		    const char *const *lowerdirs, const char *log,
		    struct ec_err *err)
{
	_cleanup_free_ char *lowers = NULL, *opt = NULL, *msg = NULL;
	const char *src = mnt;
	size_t n = 0, len;
	int logfd, ws;
	pid_t pid;

	while (lowerdirs[n])
		n++;
	if (n == 1) {
		src = lowerdirs[0];
	} else {
		lowers = vm_lowerdir_option(lowerdirs);
		opt = xasprintf("lowerdir=%s", lowers);
	}
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", log);
	pid = fork();
	if (pid < 0) {
		close(logfd);
		return ec_err_errno(err, EC_FAIL, errno, "fork");
	}
	if (pid == 0)
		mkfs_child(mkfs, tmp, src, mnt, opt, logfd);
	close(logfd);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return 0;
	if (fs_read_file(log, MKFS_LOG_MAX, &msg, &len, NULL) == 0)
		while (len && msg[len - 1] == '\n')
			msg[--len] = '\0';
	return ec_err_set(err, EC_FAIL, "mkfs.erofs (status %d): %s",
			  WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws),
			  msg && *msg ? msg : "no message");
}

int vm_rootfs_ensure(const char *dir, const char *digest,
		     const char *const *lowerdirs, char **path, int *built,
		     struct ec_err *err)
{
	_cleanup_free_ char *rdir = xasprintf("%s/rootfs", dir);
	_cleanup_free_ char *tmp = NULL, *log = NULL, *mnt = NULL;
	_cleanup_free_ char *mkfs = NULL;
	const char *hex = digest ? strchr(digest, ':') : NULL;
	int r;

	*path = NULL;
	if (built)
		*built = 0;
	hex = hex ? hex + 1 : digest;
	if (!hex || strlen(hex) < 12 || strchr(hex, '/'))
		return ec_err_set(err, EC_USAGE, "image digest '%s'",
				  digest ? digest : "");
	if (!lowerdirs || !lowerdirs[0])
		return ec_err_set(err, EC_USAGE,
				  "image %s has no layers to boot", digest);
	*path = xasprintf("%s/%s.erofs", rdir, hex);
	if (access(*path, R_OK) == 0)
		return 0;
	if (!(mkfs = vm_find_tool("mkfs.erofs"))) {
		free(*path);
		*path = NULL;
		return ec_err_set(err, EC_NOTFOUND,
				  "mkfs.erofs not found (install erofs-utils)");
	}
	if (fs_mkdir_p(rdir, err) < 0 ||
	    !(mnt = fs_mkdtemp(rdir, ".mnt-", err))) {
		free(*path);
		*path = NULL;
		return -1;
	}
	tmp = xasprintf("%s/.tmp-%s-%d", rdir, hex, (int)getpid());
	log = xasprintf("%s.log", tmp);
	r = run_mkfs(mkfs, tmp, mnt, lowerdirs, log, err);
	rmdir(mnt);
	unlink(log);
	if (r == 0 && rename(tmp, *path) < 0)
		r = ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
	if (r < 0) {
		unlink(tmp);
		free(*path);
		*path = NULL;
		return ec_err_prefix(err, "rootfs image of %s", digest);
	}
	if (built)
		*built = 1;
	return 0;
}

/* --- KVM and QEMU
 * ------------------------------------------------------------- */

int vm_kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return 0;
	ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
	close(fd);
	return ok;
}

unsigned vm_host_tsc_khz(void)
{
	char data[8192];
	const char *p;
	double mhz;
	ssize_t n;
	/* /proc files have no size: read the first CPU's lines */
	int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = io_read_full(fd, data, sizeof(data) - 1);
	close(fd);
	data[n > 0 ? n : 0] = '\0';
	if (!(p = strstr(data, "cpu MHz")) || !(p = strchr(p, ':')))
		return 0;
	mhz = strtod(p + 1, NULL);
	return mhz > 0 && mhz < 100000 ? (unsigned)(mhz * 1000) : 0;
}

/* A value inside a QEMU option list: ',' doubled. Allocated. */
static char *qesc(const char *s)
{
	struct strbuf sb = STRBUF_INIT;

	for (; *s; s++) {
		if (*s == ',')
			sb_addc(&sb, ',');
		sb_addc(&sb, *s);
	}
	return sb_detach(&sb, NULL);
}

char **vm_qemu_argv(const struct vm_qemu_opts *o)
{
	_cleanup_free_ char *rootfs = o->rootfs ? qesc(o->rootfs) : NULL;
	struct strbuf cmdline = STRBUF_INIT;
	char **v = xcalloc(64 + 4 * VM_SHARES_MAX, sizeof(*v));
	size_t n = 0;

#define A(x) (v[n++] = (x))
	A(xstrdup(o->qemu));
	A(xstrdup("-M"));
	A(xstrdup("microvm,x-option-roms=off,isa-serial=on"));
	A(xstrdup("-no-user-config"));
	A(xstrdup("-nodefaults"));
	A(xstrdup("-no-reboot"));
	A(xstrdup("-display"));
	A(xstrdup("none"));
	if (o->kvm) {
		A(xstrdup("-enable-kvm"));
		A(xstrdup("-cpu"));
		A(xstrdup("host"));
	} else {
		A(xstrdup("-accel"));
		A(xstrdup("tcg"));
	}
	A(xstrdup("-m"));
	A(xasprintf("%llu",
		    (unsigned long long)(o->memory_mb ? o->memory_mb : 512)));
	A(xstrdup("-smp"));
	A(xasprintf("%u", o->cpus ? o->cpus : 1));
	A(xstrdup("-kernel"));
	A(xstrdup(o->kernel));
	A(xstrdup("-initrd"));
	A(xstrdup(o->initrd));
	A(xstrdup("-append"));
	sb_adds(&cmdline, "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init");
	/* TCG: the guest's TSC is the host's; microvm has no PIT-free way
	 * to calibrate it and a loaded host makes the watchdog distrust it */
	if (!o->kvm && o->tsc_khz)
		sb_addf(&cmdline, " tsc_early_khz=%u tsc=reliable", o->tsc_khz);
	if (o->cmdline_extra && *o->cmdline_extra)
		sb_addf(&cmdline, " %s", o->cmdline_extra);
	A(sb_detach(&cmdline, NULL));
	A(xstrdup("-serial"));
	A(o->console_log ? xasprintf("file:%s", o->console_log)
			 : xstrdup("null"));
	if (o->rootfs) {
		A(xstrdup("-drive"));
		A(xasprintf("id=root,file=%s,format=raw,if=none,readonly=on",
			    rootfs));
		A(xstrdup("-device"));
		A(xstrdup("virtio-blk-device,drive=root"));
	}
	if (o->net_fd > 0 || o->nic) {
		A(xstrdup("-netdev"));
		A(o->net_fd > 0 ? xasprintf("tap,id=n0,fd=%d", o->net_fd)
				: xstrdup("hubport,id=n0,hubid=0"));
		A(xstrdup("-device"));
		/* a snapshot's MAC is the saved one: the guest sets its own */
		A(o->mac && !o->nic
		      ? xasprintf("virtio-net-device,netdev=n0,mac=%s", o->mac)
		      : xstrdup("virtio-net-device,netdev=n0"));
	}
	for (size_t i = 0; i < o->nshares && i < VM_SHARES_MAX; i++) {
		_cleanup_free_ char *h = NULL;
		if (!o->shares[i].host)
			continue;
		h = qesc(o->shares[i].host);
		/* security_model=none: files keep the guest's owners when
		 * QEMU (root) can set them, as a container's bind mount */
		A(xstrdup("-fsdev"));
		A(xasprintf("local,id=fs%zu,path=%s,security_model=none%s", i,
			    h, o->shares[i].readonly ? ",readonly=on" : ""));
		A(xstrdup("-device"));
		A(xasprintf("virtio-9p-device,fsdev=fs%zu,mount_tag=v%zu", i,
			    i));
	}
	A(xstrdup("-device"));
	A(xstrdup("virtio-serial-device,max_ports=2"));
	A(xstrdup("-chardev"));
	A(xasprintf("socket,id=io,fd=%d", o->io_fd));
	A(xstrdup("-device"));
	A(xstrdup("virtserialport,chardev=io,name=" VM_PORT_NAME));
	if (o->qmp) {
		A(xstrdup("-qmp"));
		A(xasprintf("unix:%s,server=on,wait=off", o->qmp));
	}
	if (o->incoming_fd > 0) {
		A(xstrdup("-incoming"));
		A(xasprintf("fd:%d", o->incoming_fd));
	}
#undef A
	return v;
}

/* registry.c - unit tests of the OCI registry client: the pure helpers
 * (chunk size, WWW-Authenticate, docker config, Location, Range, base64),
 * then live tests against real docker-registry (distribution 2.8)
 * servers started by tests/lib/start-registry.sh on 127.0.0.1 and
 * stopped by PID at exit (a watchdog stops them if this process dies):
 *
 *   A  anonymous, relative Location headers: blobs (monolithic and
 *      chunked, with real failed chunks resumed), ranged GET, mounts,
 *      manifests, a digest mismatch from a tampered store, skopeo interop
 *   B  Basic auth (htpasswd): right, wrong and missing credentials, and
 *      credentials from docker config files
 *   C  Bearer challenges ("silly" controller, token from a static realm)
 *      and blob GET/HEAD redirected to another host (busybox httpd on
 *      127.0.0.2): no credentials go there; many threads on one client
 *   D  real JWTs checked by the registry ("token" controller): a token
 *      without push scope refreshed once on 401, a refused token
 *   E  https with a self-signed certificate: insecure works, verified
 *      fails at once with a hint
 *
 * Without docker-registry the live tests skip with the reason (fail under
 * EDGECTL_STRICT=1). */
#include "tap.h"
#include "crypto/digest.h"
#include "registry/registry.h"
#include "registry/registry_impl.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void skip(const char *what, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, what, why);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	rc = system(cmd);
	free(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

static char *slurp(const char *path, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sb_add(&sb, buf, (size_t)n);
	close(fd);
	return sb_detach(&sb, len);
}

static void spit(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		BUG("write %s: %s", path, strerror(errno));
	close(fd);
}

static void digest_of(const void *data, size_t len, char out[80])
{
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex(data, len, hex);
	snprintf(out, 80, "sha256:%s", hex);
}

/* --- pure helpers --- */

static void test_chunk_size(void)
{
	is_int(reg_chunk_size(0, 0, 0), 64ull << 20, "chunk: 0 means 64 MiB");
	is_int(reg_chunk_size(10, 0, 0), 10,
	       "chunk: wanted size without limits");
	is_int(reg_chunk_size(100, 0, 50), 50, "chunk: clamped to max");
	is_int(reg_chunk_size(10, 20, 0), 20, "chunk: raised to min");
	is_int(reg_chunk_size(30, 20, 50), 30, "chunk: within min..max");
	is_int(reg_chunk_size(10, 20, 15), 20, "chunk: min > max: min wins");
	is_int(reg_chunk_size(100, 20, 15), 20,
	       "chunk: min > max, big want: min wins");
	is_int(reg_chunk_size(0, 0, 5 << 20), 5 << 20,
	       "chunk: default clamped to max");
	is_int(reg_chunk_size(0, 128ull << 20, 0), 128ull << 20,
	       "chunk: default raised to min");
	is_int(reg_chunk_size(50, 50, 50), 50, "chunk: min == max == want");
}

static void test_challenge(void)
{
	struct reg_challenge ch;

	ok(reg_parse_challenge(
	       "Bearer "
	       "realm=\"https://auth.example/token\",service=\"reg.example\","
	       "scope=\"repository:a/b:pull,push\"",
	       &ch) == 0 &&
	       ch.scheme == REG_AUTH_BEARER,
	   "challenge: bearer parsed");
	is_str(ch.realm, "https://auth.example/token", "challenge: realm");
	is_str(ch.service, "reg.example", "challenge: service");
	is_str(ch.scope, "repository:a/b:pull,push",
	       "challenge: scope with a comma inside quotes");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge("Basic realm=\"Registry Realm\"", &ch) == 0 &&
	       ch.scheme == REG_AUTH_BASIC,
	   "challenge: basic");
	is_str(ch.realm, "Registry Realm",
	       "challenge: basic realm with a space");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge("bearer  REALM = \"http://h/t\" , "
			       "Service=svc,error=\"invalid_token\"",
			       &ch) == 0 &&
	       ch.scheme == REG_AUTH_BEARER,
	   "challenge: case-insensitive scheme and keys, spaces, unquoted "
	   "value");
	is_str(ch.realm, "http://h/t", "challenge: realm around '='");
	is_str(ch.service, "svc", "challenge: unquoted service");
	is_str(ch.error, "invalid_token", "challenge: error");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge("Bearer realm=\"a\\\"b\"", &ch) == 0,
	   "challenge: escaped quote");
	is_str(ch.realm, "a\"b", "challenge: escaped quote unescaped");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge(
	       "Basic realm=\"x\", Bearer realm=\"https://t/\",service=\"s\"",
	       &ch) == 0 &&
	       ch.scheme == REG_AUTH_BEARER,
	   "challenge: of Basic and Bearer in one header, Bearer wins");
	is_str(ch.realm, "https://t/", "challenge: the Bearer realm");
	is_str(ch.service, "s", "challenge: the Bearer service");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge("Negotiate abc==, Basic realm=r", &ch) == 0 &&
	       ch.scheme == REG_AUTH_BASIC,
	   "challenge: unknown scheme with token68 skipped");
	reg_challenge_release(&ch);

	ok(reg_parse_challenge("Bearer service=\"s\"", &ch) < 0,
	   "challenge: bearer without realm unusable");
	ok(reg_parse_challenge("Negotiate", &ch) < 0,
	   "challenge: unknown scheme only");
	ok(reg_parse_challenge("", &ch) < 0, "challenge: empty");
	ok(reg_parse_challenge(NULL, &ch) < 0, "challenge: NULL");
	ok(reg_parse_challenge("Bearer realm=\"unterminated", &ch) == 0,
	   "challenge: unterminated quote tolerated");
	is_str(ch.realm, "unterminated", "challenge: unterminated quote value");
	reg_challenge_release(&ch);
}

static void config_case(const char *json, const char *reg, int want,
			const char *wu, const char *wp, const char *name)
{
	struct ec_err err;
	char *u = NULL, *p = NULL;
	int r = reg_config_creds(json, strlen(json), reg, "cfg", &u, &p, &err);

	is_int(r, want, "config: %s", name);
	if (r < 0 && want < 0)
		ok(err.cat == EC_USAGE && strstr(err.msg, "cfg"),
		   "config: %s: EC_USAGE naming the file (%s)", name, err.msg);
	if (want == 1) {
		is_str(u, wu, "config: %s: user", name);
		is_str(p, wp, "config: %s: password", name);
	}
	free(u);
	free(p);
}

static void test_config(void)
{
	/* "alice:s3cr:et" */
	const char *b = "YWxpY2U6czNjcjpldA==";
	char js[512];

	snprintf(js, sizeof(js),
		 "{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"%s\"}}}", b);
	config_case(js, "127.0.0.1:5000", 1, "alice", "s3cr:et",
		    "auth entry keyed host:port");
	config_case(js, "127.0.0.1:5001", 0, NULL, NULL,
		    "other port: no entry");
	config_case(js, "127.0.0.1", 0, NULL, NULL,
		    "no port vs port: no entry");
	snprintf(js, sizeof(js),
		 "{\"auths\":{\"https://reg.test:5000\":{\"auth\":\"%s\"}}}",
		 b);
	config_case(js, "reg.test:5000", 1, "alice", "s3cr:et", "https:// key");
	snprintf(js, sizeof(js),
		 "{\"auths\":{\"http://REG.test/v2/\":{\"auth\":\"%s\"}}}", b);
	config_case(js, "reg.test", 1, "alice", "s3cr:et",
		    "http:// key with a path, host case");
	config_case("{\"auths\":{\"reg.test\":{\"username\":\"bob\","
		    "\"password\":\"pw\"}}}",
		    "reg.test", 1, "bob", "pw", "username/password fields");
	config_case(
	    "{\"auths\":{\"https://reg.test\":{\"auth\":\"Ym9iOnNlY29uZA==\"},"
	    "\"reg.test\":{\"auth\":\"YWxpY2U6Zmlyc3Q=\"}}}",
	    "reg.test", 1, "alice", "first", "exact key preferred");
	config_case("{\"auths\":{\"reg.test\":{}}}", "reg.test", 0, NULL, NULL,
		    "empty entry");
	config_case("{\"auths\":{\"reg.test\":{\"auth\":\"\"}}}", "reg.test", 0,
		    NULL, NULL, "empty auth");
	config_case("{\"credsStore\":\"desktop\"}", "reg.test", 0, NULL, NULL,
		    "no auths");
	config_case("{\"auths\":{\"reg.test\":{\"auth\":\"bm9jb2xvbg==\"}}}",
		    "reg.test", -1, NULL, NULL, "auth without a colon");
	config_case("{\"auths\":{\"reg.test\":{\"auth\":\"!!!\"}}}", "reg.test",
		    -1, NULL, NULL, "auth not base64");
	config_case("{\"auths\":[]}", "reg.test", -1, NULL, NULL,
		    "auths not an object");
	config_case("{\"auths\":{", "reg.test", -1, NULL, NULL,
		    "malformed JSON");
	config_case("{\"auths\":{},\"auths\":{}}", "reg.test", -1, NULL, NULL,
		    "duplicate keys");
}

static void resolve_case(const char *req, const char *loc, const char *want)
{
	char *got = reg_resolve_url(req, loc);

	is_str(got, want, "resolve '%s' against '%s'", loc, req);
	free(got);
}

static void test_urls(void)
{
	char o[128];
	char *s;

	resolve_case("http://127.0.0.1:5000/v2/a/b/blobs/uploads/",
		     "/v2/a/b/blobs/uploads/u1?_state=x",
		     "http://127.0.0.1:5000/v2/a/b/blobs/uploads/u1?_state=x");
	resolve_case("https://r.test/v2/a/blobs/uploads/",
		     "https://other.test/up/1", "https://other.test/up/1");
	resolve_case("https://r.test/v2/a/blobs/uploads/", "//cdn.test/x",
		     "https://cdn.test/x");
	resolve_case("https://r.test/v2/a/blobs/uploads/", "u2?s=1",
		     "https://r.test/v2/a/blobs/uploads/u2?s=1");
	resolve_case("https://r.test/v2/a/blobs/uploads/u1?x=1", "u2",
		     "https://r.test/v2/a/blobs/uploads/u2");
	resolve_case("https://r.test/v2/a/blobs/uploads/u1", "?s=2",
		     "https://r.test/v2/a/blobs/uploads/u1?s=2");
	resolve_case("https://r.test", "x", "https://r.test/x");
	resolve_case("HTTP://R.test/a", "HTTPS://x.test/b", "HTTPS://x.test/b");
	/* another scheme is refused, never merged as a relative path */
	ok(!reg_resolve_url("http://r.test/v2/a/", "file:///etc/passwd"),
	   "Location 'file:///etc/passwd' refused");
	ok(!reg_resolve_url("http://r.test/v2/a/", "ftp://x.test/u"),
	   "Location 'ftp://...' refused");
	ok(!reg_resolve_url("http://r.test/v2/a/", "javascript:alert(1)"),
	   "Location 'javascript:...' refused");
	resolve_case("http://r.test/v2/a/", "u1?x=a:b",
		     "http://r.test/v2/a/u1?x=a:b");
	resolve_case("http://r.test/v2/a/", "/v2/a/u?s=file:x",
		     "http://r.test/v2/a/u?s=file:x");

	ok(reg_url_origin("HTTP://Reg.Test:5000/v2/?x", o, sizeof(o)) == 0,
	   "origin parsed");
	is_str(o, "http://reg.test:5000",
	       "origin lower-cased, path and query cut");
	ok(reg_url_origin("/v2/x", o, sizeof(o)) < 0,
	   "origin of a relative URL fails");
	ok(reg_url_origin("http:///x", o, sizeof(o)) < 0,
	   "origin without a host fails");

	s = reg_url_add_query("http://h/v2/r/blobs/uploads/u?_state=abc%3D",
			      "digest", "sha256:00");
	is_str(s,
	       "http://h/v2/r/blobs/uploads/u?_state=abc%3D&digest=sha256%3A00",
	       "query: '&' after a query");
	free(s);
	s = reg_url_add_query("http://h/v2/r/blobs/uploads/u", "from",
			      "team/app");
	is_str(s, "http://h/v2/r/blobs/uploads/u?from=team%2Fapp",
	       "query: '?' and encoding");
	free(s);
	s = reg_url_add_query("http://h/u?", "a", "b c");
	is_str(s, "http://h/u?a=b%20c", "query: after a bare '?'");
	free(s);
}

static void test_ranges(void)
{
	uint64_t have = 99;

	ok(reg_parse_upload_range("0-4", &have) == 0 && have == 5,
	   "range: 0-4 is 5 bytes");
	ok(reg_parse_upload_range("0-0", &have) == 0 && have == 0,
	   "range: 0-0 is read as empty");
	ok(reg_parse_upload_range("bytes=0-1048575", &have) == 0 &&
	       have == 1048576,
	   "range: bytes= form");
	ok(reg_parse_upload_range(" 0-9 ", &have) == 0 && have == 10,
	   "range: spaces around");
	ok(reg_parse_upload_range("5-9", &have) < 0,
	   "range: not starting at 0");
	ok(reg_parse_upload_range("0-", &have) < 0, "range: no end");
	ok(reg_parse_upload_range("0-9x", &have) < 0, "range: trailing junk");
	ok(reg_parse_upload_range("0-99999999999999999999", &have) < 0,
	   "range: overflow");
	ok(reg_parse_upload_range(NULL, &have) < 0, "range: NULL");
}

static void test_state(void)
{
	json_t *a = reg_state_new(), *b = reg_state_new();
	const char *d1 =
	    "sha256:"
	    "1111111111111111111111111111111111111111111111111111111111111111";
	char **repos = NULL;
	size_t n, i;
	char dg[80];

	ok(!reg_state_scheme(a, "r:5000"), "state: no scheme at first");
	reg_state_set_scheme(a, "r:5000", "http", 10);
	is_str(reg_state_scheme(a, "r:5000"), "http", "state: scheme kept");
	reg_state_add_blob(a, "r:5000", "team/a", d1, 10);
	reg_state_add_blob(a, "r:5000", "team/b", d1, 30);
	reg_state_add_blob(a, "other:5000", "team/c", d1, 40);
	reg_state_add_blob(a, "r:5000", "x", "sha256:short", 50);
	n = reg_state_blob_repos(a, "r:5000", "team/b", d1, &repos);
	ok(n == 1 && !strcmp(repos[0], "team/a"),
	   "state: other repos of the same registry, not the target's");
	for (i = 0; i < n; i++)
		free(repos[i]);
	free(repos);
	reg_state_add_blob(a, "r:5000", "team/z", d1, 20);
	n = reg_state_blob_repos(a, "r:5000", NULL, d1, &repos);
	ok(n == 3 && !strcmp(repos[0], "team/b") &&
	       !strcmp(repos[1], "team/z") && !strcmp(repos[2], "team/a"),
	   "state: newest first");
	for (i = 0; i < n; i++)
		free(repos[i]);
	free(repos);
	n = reg_state_blob_repos(a, "r:500", NULL, d1, &repos);
	ok(n == 0 && !repos,
	   "state: 'r:500' is not a prefix match of 'r:5000'");
	ok(!json_object_get(json_object_get(a, "blobs"), "sha256:short"),
	   "state: a bad digest is not recorded");

	/* merge: newest wins, union of repositories */
	reg_state_set_scheme(b, "r:5000", "https", 5);
	reg_state_add_blob(b, "r:5000", "team/a", d1, 99);
	reg_state_add_blob(b, "r:5000", "team/new", d1, 1);
	reg_state_merge(a, b);
	is_str(reg_state_scheme(a, "r:5000"), "http",
	       "merge: an older scheme does not win");
	reg_state_set_scheme(b, "r:5000", "https", 11);
	reg_state_merge(a, b);
	is_str(reg_state_scheme(a, "r:5000"), "https",
	       "merge: a newer scheme wins");
	n = reg_state_blob_repos(a, "r:5000", NULL, d1, &repos);
	ok(n == 4 && !strcmp(repos[0], "team/a") &&
	       !strcmp(repos[3], "team/new"),
	   "merge: union, timestamps max");
	for (i = 0; i < n; i++)
		free(repos[i]);
	free(repos);

	/* caps: 8 repositories per blob, 4096 blobs, oldest dropped */
	for (i = 0; i < 20; i++) {
		char repo[32];
		snprintf(repo, sizeof(repo), "r%zu", i);
		reg_state_add_blob(a, "cap:1", repo, d1, 1000 + (int64_t)i);
	}
	ok(json_object_size(json_object_get(json_object_get(a, "blobs"), d1)) ==
	       8,
	   "cap: 8 repositories per blob");
	n = reg_state_blob_repos(a, "cap:1", NULL, d1, &repos);
	ok(n == 8 && !strcmp(repos[0], "r19") && !strcmp(repos[7], "r12"),
	   "cap: the newest kept");
	for (i = 0; i < n; i++)
		free(repos[i]);
	free(repos);
	for (i = 0; i < 4100; i++) {
		snprintf(dg, sizeof(dg), "sha256:%064zx", i + 1);
		reg_state_add_blob(b, "r:1", "a", dg, 2000 + (int64_t)i);
	}
	ok(json_object_size(json_object_get(b, "blobs")) == 4096,
	   "cap: 4096 blobs");
	snprintf(dg, sizeof(dg), "sha256:%064zx", (size_t)1);
	ok(!json_object_get(json_object_get(b, "blobs"), dg),
	   "cap: the oldest blob dropped");
	json_decref(a);
	json_decref(b);

	/* the insecure list */
	{
		const char *l[] = {"reg.test:5000", "plain.test", "[::1]:5000"};
		ok(reg_host_listed(l, 3, "reg.test:5000"), "listed: exact");
		ok(!reg_host_listed(l, 3, "reg.test:5001"),
		   "listed: another port of a host:port entry is not");
		ok(reg_host_listed(l, 3, "plain.test:8080"),
		   "listed: a host entry covers every port");
		ok(reg_host_listed(l, 3, "PLAIN.test"),
		   "listed: host names are case-insensitive");
		ok(!reg_host_listed(l, 3, "plain.test.evil:80"),
		   "listed: no prefix matches");
		ok(reg_host_listed(l, 3, "[::1]:5000"), "listed: IPv6");
		ok(!reg_host_listed(l, 0, "reg.test:5000"),
		   "listed: empty list");
	}
}

static void test_base64(void)
{
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *out[] = {"",	 "Zg==",     "Zm8=",	"Zm9v",
			     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	size_t i, n;
	char *e, *d;

	for (i = 0; i < ARRAY_SIZE(in); i++) {
		e = reg_base64_encode(in[i], strlen(in[i]));
		d = reg_base64_decode(out[i], &n);
		is_str(e, out[i], "base64 encode '%s'", in[i]);
		ok(d && n == strlen(in[i]) && !memcmp(d, in[i], n),
		   "base64 decode '%s'", out[i]);
		free(e);
		free(d);
	}
	d = reg_base64_decode("Zm9vYg", &n);
	ok(d && n == 4 && !memcmp(d, "foob", 4),
	   "base64 decode without padding");
	free(d);
	ok(!reg_base64_decode("Zm9v!", &n), "base64: bad character");
	ok(!reg_base64_decode("Z", &n), "base64: impossible length");
	ok(!reg_base64_decode("Zm===", &n), "base64: too much padding");
	ok(reg_is_sha256("sha256:"
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4959"
			 "91b7852b855"),
	   "sha256 digest");
	ok(!reg_is_sha256("sha256:"
			  "E3B0C44298fc1c149afbf4c8996fb92427ae41e4649b934ca495"
			  "991b7852b855"),
	   "upper-case hex refused");
	ok(!reg_is_sha256("sha512:00"), "other algorithms refused");
}

/* --- live servers --- */

struct live {
	char dir[PATH_MAX];
	char reg[64];  /* 127.0.0.1:PORT */
	char side[64]; /* 127.0.0.2:PORT of the side server, or "" */
	int up;
};

static struct live *lives[8];
static size_t nlives;
static char libdir[PATH_MAX];

static void stop_all(void)
{
	size_t i;

	for (i = 0; i < nlives; i++) {
		if (!lives[i]->up)
			continue;
		sh("'%s/stop-registry.sh' '%s' 2>/dev/null", libdir,
		   lives[i]->dir);
		lives[i]->up = 0;
	}
}

static const char *P_script(void)
{
	static char buf[PATH_MAX + 32];

	snprintf(buf, sizeof(buf), "%s/start-registry.sh", libdir);
	return buf;
}

static int find_libdir(void)
{
	char exe[PATH_MAX - 32], *p;
	ssize_t n;
	int up;

	if (access("tests/lib/start-registry.sh", X_OK) == 0 &&
	    getcwd(libdir, sizeof(libdir) - 16)) {
		strcat(libdir, "/tests/lib");
		return 0;
	}
	/* build/tests/unit/registry.t -> ../../../tests/lib */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (up = 0; up < 4 && (p = strrchr(exe, '/')); up++)
		*p = '\0';
	snprintf(libdir, sizeof(libdir), "%s/tests/lib", exe);
	return access(P_script(), X_OK);
}

/* Start a registry with start-registry.sh ARGS: 0, 77 when a program is
 * missing (why filled), -1 on failure. */
static int live_start(struct live *l, const char *args, char *why, size_t wlen)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX + 16], *env, *line, *save = NULL;
	size_t len;
	int rc;

	snprintf(l->dir, sizeof(l->dir), "%s/edgectl-reg.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(l->dir))
		BUG("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s.out", l->dir);
	rc = sh("OWNER_PID=%d '%s/start-registry.sh' '%s' %s >'%s' 2>&1",
		(int)getpid(), libdir, l->dir, args, path);
	if (rc != 0) {
		char *out = slurp(path, &len);
		if (rc == 77) {
			snprintf(why, wlen, "%.*s",
				 (int)strcspn(out ? out : "", "\n"),
				 out ? out : "");
		} else {
			diag("start-registry.sh %s failed (%d):", args, rc);
			for (line = strtok_r(out, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				diag("  %s", line);
		}
		free(out);
		unlink(path);
		sh("rm -rf '%s'", l->dir);
		return rc == 77 ? 77 : -1;
	}
	unlink(path);
	lives[nlives++] = l;
	l->up = 1;
	snprintf(path, sizeof(path), "%s/env", l->dir);
	env = slurp(path, &len);
	for (line = strtok_r(env, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "REGISTRY=", 9))
			snprintf(l->reg, sizeof(l->reg), "%s", line + 9);
		else if (!strncmp(line, "REGISTRY_SIDE=", 14))
			snprintf(l->side, sizeof(l->side), "%s", line + 14);
	}
	free(env);
	return l->reg[0] ? 0 : -1;
}

/* Log lines of every client (http exchanges and headers, retries). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct strbuf logbuf = STRBUF_INIT;
static int verbose;

static void log_cb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	pthread_mutex_lock(&log_mu);
	sb_addf(&logbuf, "%d %s\n", level, msg);
	if (verbose)
		printf("#   log: %s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	sb_reset(&logbuf);
	pthread_mutex_unlock(&log_mu);
}

static int log_count(const char *needle)
{
	const char *p;
	int n = 0;

	pthread_mutex_lock(&log_mu);
	for (p = logbuf.buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	pthread_mutex_unlock(&log_mu);
	return n;
}

/* Did any exchange with a URL starting with `prefix` carry credentials?
 * Header lines ("2 > ...") precede the exchange's line ("1 METHOD URL ->").
 * Returns the number of such exchanges seen in *seen. */
static int creds_sent_to(const char *prefix, int *seen)
{
	int creds = 0, any = 0;
	char *copy, *line, *save = NULL;

	*seen = 0;
	pthread_mutex_lock(&log_mu);
	copy = xstrdup(logbuf.buf);
	pthread_mutex_unlock(&log_mu);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sp;

		if (!strncmp(line, "2 > ", 4)) {
			if (strstr(line, "(credentials)"))
				creds = 1;
			continue;
		}
		sp = strchr(line + 2, ' ');
		if (!strncmp(line, "1 ", 2) && sp && strstr(line, " -> ")) {
			if (!strncmp(sp + 1, prefix, strlen(prefix))) {
				(*seen)++;
				any |= creds;
			}
			creds = 0;
		}
	}
	free(copy);
	return any;
}

static void fill(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static char tmpdir[PATH_MAX];

/* A blob of len bytes in a file: fd (caller closes) and digest. */
static int blob_file(const void *data, size_t len, const char *name,
		     char dg[80])
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	spit(path, data, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		BUG("open %s", path);
	digest_of(data, len, dg);
	return fd;
}

static int sb_sink(void *ctx, const void *data, size_t len, struct ec_err *err)
{
	(void)err;
	sb_add(ctx, data, len);
	return 0;
}

struct progress {
	uint64_t last;
	int calls;
	int backwards;
};

static void progress_cb(void *ctx, uint64_t done)
{
	struct progress *p = ctx;

	if (done < p->last)
		p->backwards++;
	p->last = done;
	p->calls++;
}

/* Push data as a blob; 0 on success (err filled otherwise). */
static int push(struct reg_client *c, const void *data, size_t len,
		const char *name, char dg[80], struct progress *pr,
		struct ec_err *err)
{
	int fd = blob_file(data, len, name, dg);
	int r;

	ec_err_clear(err); /* messages in passing test names stay clean */
	r = reg_blob_push(c, dg, len, fd, pr ? progress_cb : NULL, pr, err);

	close(fd);
	return r;
}

/* GET [off, off+len) and compare with data. */
static int get_equals(struct reg_client *c, const char *dg, const void *data,
		      size_t size, uint64_t off, uint64_t len,
		      struct ec_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	size_t want = len ? len : size - off;
	int r;

	ec_err_clear(err);
	r = reg_blob_get(c, dg, off, len, sb_sink, &sb, err);

	if (r == 0 && (sb.len != want ||
		       memcmp(sb.buf, (const char *)data + off, want))) {
		ec_err_set(err, EC_FAIL,
			   "got %zu bytes, not the %zu expected ones", sb.len,
			   want);
		r = -1;
	}
	sb_release(&sb);
	return r;
}

static struct reg_opts opts_base(void)
{
	struct reg_opts o = {0};

	o.insecure = 1;
	o.push = 1;
	o.auth_file = "/nonexistent/edgectl-test/config.json";
	o.log = log_cb;
	o.retries = 3;
	return o;
}

static char *manifest_json(const char *cfg_dg, size_t cfg_len,
			   const char *layer_dg, size_t layer_len)
{
	return xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/"
			 "vnd.oci.image.manifest.v1+json\","
			 "\"config\":{\"mediaType\":\"application/"
			 "vnd.oci.image.config.v1+json\","
			 "\"digest\":\"%s\",\"size\":%zu},"
			 "\"layers\":[{\"mediaType\":\"application/"
			 "vnd.oci.image.layer.v1.tar+gzip\","
			 "\"digest\":\"%s\",\"size\":%zu}]}",
			 cfg_dg, cfg_len, layer_dg, layer_len);
}

static void show_file(const char *name)
{
	char path[PATH_MAX + 64], *data, *line, *save = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	data = slurp(path, &len);
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		diag("  %s", line);
	free(data);
}

static int have_skopeo(void)
{
	return sh("command -v skopeo >/dev/null 2>&1") == 0;
}

static int strict(void)
{
	const char *s = getenv("EDGECTL_STRICT");

	return s && !strcmp(s, "1");
}

static const char *P_name(const char *reg, const char *repo)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", reg, repo);
	return buf;
}

#define CHUNK  (64u << 10)
#define BIGLEN (150u << 10) /* 3 chunks: 64 + 64 + 22 KiB */

/* --- A: anonymous registry, relative Locations --- */

static void test_anon(struct live *l)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL, *c2 = NULL;
	struct ec_err err;
	struct progress pr = {0};
	char dg_small[80], dg_big[80], dg_f1[80], dg_f2[80], dg_cfg[80],
	    dg_cfg2[80], mdg[80], mt[128], dg[80];
	char path[PATH_MAX + 200];
	static char big[BIGLEN], f1[BIGLEN], f2[BIGLEN];
	const char *small = "hello registry\n";
	char *man, *man2, *data = NULL, *cfg, *cfg2;
	uint64_t size = 0;
	size_t len = 0;
	int ranges = -1, r;

	o.chunk_size = CHUNK;
	log_reset();
	ok(reg_open(l->reg, "edgectl/test", &o, &c, &err) == 0,
	   "A: open %s (insecure: https then http)", c ? reg_name(c) : err.msg);
	if (!c)
		return;
	ok(log_count("trying plain http") == 1,
	   "A: fell back to plain http once");
	is_str(reg_name(c), P_name(l->reg, "edgectl/test"), "A: reg_name");

	{
		struct reg_opts so = opts_base();
		struct reg_client *x = NULL;
		so.insecure = 0;
		so.retries = 1;
		ok(reg_open(l->reg, "edgectl/test", &so, &x, &err) < 0 &&
		       err.cat == EC_REMOTE && strstr(err.msg, l->reg) &&
		       strstr(err.msg, "--tls-verify=false"),
		   "A: without insecure an http-only registry fails with a "
		   "hint (%s)",
		   err.msg);
		reg_close(x);
	}

	/* a small blob: monolithic POST + PUT */
	log_reset();
	ok(push(c, small, strlen(small), "small", dg_small, &pr, &err) == 0,
	   "A: push a small blob (%s)", err.msg);
	is_int(log_count("1 PATCH "), 0,
	       "A: small blob: no PATCH (monolithic)");
	ok(log_count("1 POST ") == 1 && log_count("1 PUT ") == 1,
	   "A: small blob: one POST, one PUT");
	is_int(pr.last, strlen(small),
	       "A: small blob: progress reaches the size");
	r = reg_blob_stat(c, dg_small, &size, &ranges, &err);
	ok(r == 1 && size == strlen(small),
	   "A: HEAD finds it with its size (%d, %s)", r, err.msg);
	diag("docker-registry 2.8 blob HEAD: ranges=%d (Accept-Ranges %s)",
	     ranges,
	     log_count("Accept-Ranges: bytes") ? "sent" : "not sent; probed");
	ok(ranges == 1, "A: the registry serves ranges");
	ok(get_equals(c, dg_small, small, strlen(small), 0, 0, &err) == 0,
	   "A: GET the small blob (%s)", err.msg);

	digest_of("nope", 4, dg);
	is_int(reg_blob_stat(c, dg, &size, NULL, &err), 0,
	       "A: HEAD of a missing blob: 0");
	ok(get_equals(c, dg, "", 0, 0, 0, &err) < 0 && err.cat == EC_NOTFOUND &&
	       strstr(err.msg, dg) && strstr(err.msg, "edgectl/test"),
	   "A: GET of a missing blob: EC_NOTFOUND naming digest and repo (%s)",
	   err.msg);

	/* three chunks */
	fill(big, sizeof(big), 1);
	memset(&pr, 0, sizeof(pr));
	log_reset();
	ok(push(c, big, sizeof(big), "big", dg_big, &pr, &err) == 0,
	   "A: push a 150 KiB blob in 64 KiB chunks (%s)", err.msg);
	is_int(log_count("1 PATCH "), 3, "A: three PATCHes");
	ok(log_count("> Content-Range: 0-65535\n") == 1 &&
	       log_count("> Content-Range: 65536-131071\n") == 1 &&
	       log_count("> Content-Range: 131072-153599\n") == 1,
	   "A: Content-Range FIRST-LAST, equal chunks but the last");
	is_int(log_count("> Content-Type: application/octet-stream"), 3,
	       "A: PATCHes are application/octet-stream");
	ok(log_count("?_state=") >= 3,
	   "A: each PATCH went to the relative Location, resolved");
	ok(pr.calls == 4 && pr.last == BIGLEN && !pr.backwards,
	   "A: progress per chunk and at the end (%d calls)", pr.calls);
	ok(reg_blob_stat(c, dg_big, &size, NULL, &err) == 1 && size == BIGLEN,
	   "A: HEAD of the chunked blob");
	ok(get_equals(c, dg_big, big, BIGLEN, 0, 0, &err) == 0,
	   "A: GET the whole chunked blob (%s)", err.msg);
	ok(get_equals(c, dg_big, big, BIGLEN, 1000, 5000, &err) == 0,
	   "A: GET bytes 1000-5999 (%s)", err.msg);
	ok(get_equals(c, dg_big, big, BIGLEN, 150000, 0, &err) == 0,
	   "A: GET from 150000 to the end (%s)", err.msg);
	ok(get_equals(c, dg_big, big, BIGLEN, BIGLEN + 10, 0, &err) < 0 &&
	       err.cat == EC_FAIL && strstr(err.msg, "416"),
	   "A: GET past the end: 416 (%s)", err.msg);

	/* a chunk the registry refuses (HTTP 500): resume from its offset */
	fill(f1, sizeof(f1), 2);
	log_reset();
	reg_test_fault(c, REG_FAULT_PATCH_TYPE, 2);
	ok(push(c, f1, sizeof(f1), "f1", dg_f1, NULL, &err) == 0,
	   "A: push with a refused 2nd chunk (%s)", err.msg);
	ok(log_count("PATCH bytes 65536-131071: HTTP 500") >= 1,
	   "A: the registry answered 500 to the chunk");
	ok(log_count("the registry holds 65536 bytes; continuing") == 1,
	   "A: GET on the upload URL gave the offset, upload continued");
	ok(log_count("1 POST ") == 1, "A: the same upload went on (one POST)");
	is_int(log_count("1 PATCH "), 4, "A: 3 chunks + the refused one");
	ok(get_equals(c, dg_f1, f1, BIGLEN, 0, 0, &err) == 0,
	   "A: the resumed blob reads back (%s)", err.msg);

	/* a chunk cut after the registry stored half of it: distribution 2.8
	 * then refuses the stale upload URL (and cancels it): start again */
	fill(f2, sizeof(f2), 3);
	log_reset();
	reg_test_fault(c, REG_FAULT_PATCH_SHORT, 2);
	ok(push(c, f2, sizeof(f2), "f2", dg_f2, NULL, &err) == 0,
	   "A: push with a cut 2nd chunk (%s)", err.msg);
	ok(log_count("test fault 2 in PATCH 2") == 1,
	   "A: the fault was injected");
	ok(log_count("dropped the upload") == 1 ||
	       log_count("holds 98304 bytes") == 1,
	   "A: after the status GET the client restarted or continued");
	diag("docker-registry 2.8 after a cut chunk: %s",
	     log_count("dropped the upload")
		 ? "stale upload URL refused (404), upload restarted"
		 : "status GET reported the stored bytes");
	ok(get_equals(c, dg_f2, f2, BIGLEN, 0, 0, &err) == 0,
	   "A: the blob reads back intact (%s)", err.msg);

	/* mounts */
	ok(reg_open(l->reg, "edgectl/other", &o, &c2, &err) == 0,
	   "A: open a second repository");
	if (c2) {
		is_int(reg_blob_mount(c2, dg_big, "edgectl/test", &err), 1,
		       "A: mount from edgectl/test: 201");
		ok(reg_blob_stat(c2, dg_big, &size, NULL, &err) == 1 &&
		       size == BIGLEN,
		   "A: the mounted blob is in edgectl/other");
		log_reset();
		digest_of("not there", 9, dg);
		is_int(reg_blob_mount(c2, dg, "edgectl/test", &err), 0,
		       "A: mount of an unknown blob: 0 (upload started)");
		ok(log_count("1 DELETE ") == 1 && log_count("-> 204") >= 1,
		   "A: the started upload was cancelled");
		is_int(reg_blob_stat(c2, dg, &size, NULL, &err), 0,
		       "A: nothing was mounted");
	}

	/* manifests */
	cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\","
			"\"rootfs\":{\"type\":\"layers\","
			"\"diff_ids\":[\"%s\"]},\"config\":{}}",
			dg_big);
	ok(push(c, cfg, strlen(cfg), "cfg", dg_cfg, NULL, &err) == 0,
	   "A: push the config blob");
	man = manifest_json(dg_cfg, strlen(cfg), dg_big, BIGLEN);
	digest_of(man, strlen(man), mdg);
	ok(reg_manifest_put(c, "v1", man, strlen(man),
			    "application/vnd.oci.image.manifest.v1+json",
			    &err) == 0,
	   "A: put manifest by tag (%s)", err.msg);
	ok(reg_manifest_get(c, "v1", &data, &len, mt, dg, &err) == 0,
	   "A: get manifest by tag (%s)", err.msg);
	ok(data && len == strlen(man) && !memcmp(data, man, len),
	   "A: same bytes back");
	is_str(dg, mdg, "A: digest is the sha256 of the body");
	is_str(mt, "application/vnd.oci.image.manifest.v1+json",
	       "A: media type");
	free(data);
	ok(reg_manifest_get(c, mdg, &data, &len, mt, dg, &err) == 0 &&
	       len == strlen(man),
	   "A: get manifest by digest (%s)", err.msg);
	free(data);
	ok(reg_manifest_put(c, mdg, man, strlen(man),
			    "application/vnd.oci.image.manifest.v1+json",
			    &err) == 0,
	   "A: put manifest by its digest (%s)", err.msg);
	ok(reg_manifest_put(c, dg_small, man, strlen(man),
			    "application/vnd.oci.image.manifest.v1+json",
			    &err) < 0 &&
	       err.cat == EC_USAGE,
	   "A: put under another digest refused locally");
	ok(reg_manifest_get(c, "nope", &data, &len, mt, dg, &err) < 0 &&
	       err.cat == EC_NOTFOUND && strstr(err.msg, "edgectl/test:nope"),
	   "A: missing tag: EC_NOTFOUND (%s)", err.msg);
	ok(reg_manifest_get(c, "bad/tag", &data, &len, mt, dg, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "A: bad tag: EC_USAGE");
	{
		char *m3 = manifest_json(dg_cfg, strlen(cfg), dg, 9);
		ok(reg_manifest_put(
		       c, "v3", m3, strlen(m3),
		       "application/vnd.oci.image.manifest.v1+json",
		       &err) < 0 &&
		       err.cat == EC_FAIL && strstr(err.msg, "BLOB_UNKNOWN") &&
		       strstr(err.msg, "push the blobs"),
		   "A: manifest naming a missing blob refused (%s)", err.msg);
		free(m3);
	}

	/* a manifest that the store serves altered: digest mismatch */
	cfg2 = xasprintf("{\"architecture\":\"arm64\",\"os\":\"linux\","
			 "\"rootfs\":{\"type\":\"layers\","
			 "\"diff_ids\":[\"%s\"]},\"config\":{}}",
			 dg_big);
	push(c, cfg2, strlen(cfg2), "cfg2", dg_cfg2, NULL, &err);
	man2 = manifest_json(dg_cfg2, strlen(cfg2), dg_big, BIGLEN);
	digest_of(man2, strlen(man2), dg);
	ok(reg_manifest_put(c, "v2", man2, strlen(man2),
			    "application/vnd.oci.image.manifest.v1+json",
			    &err) == 0,
	   "A: put a second manifest");
	snprintf(path, sizeof(path),
		 "%s/data/docker/registry/v2/blobs/sha256/%.2s/%s/data", l->dir,
		 dg + 7, dg + 7);
	r = sh("printf ' ' >>'%s'", path);
	ok(r == 0, "A: altered the stored manifest on disk");
	ok(reg_manifest_get(c, dg, &data, &len, mt, mdg, &err) < 0 &&
	       err.cat == EC_FAIL && strstr(err.msg, "digest mismatch") &&
	       strstr(err.msg, dg),
	   "A: get by digest detects the mismatch (%s)", err.msg);

	/* interop: skopeo reads what we pushed (and copies it, checking
	 * every blob digest) */
	if (!have_skopeo()) {
		if (strict())
			ok(0, "A: skopeo is needed for interop tests (apt-get "
			      "install skopeo)");
		else
			skip("A: skopeo interop", "skopeo not installed");
	} else {
		char pol[PATH_MAX + 32];
		digest_of(man, strlen(man), mdg);
		snprintf(pol, sizeof(pol), "%s/policy.json", tmpdir);
		{
			const char *js = "{\"default\":[{\"type\":"
					 "\"insecureAcceptAnything\"}]}";
			spit(pol, js, strlen(js));
		}
		r = sh("skopeo inspect --tls-verify=false "
		       "docker://%s/edgectl/test:v1 >'%s/inspect.json' "
		       "2>'%s/inspect.err'",
		       l->reg, tmpdir, tmpdir);
		snprintf(path, sizeof(path), "%s/inspect.json", tmpdir);
		data = slurp(path, &len);
		ok(r == 0 && data && strstr(data, mdg) &&
		       strstr(data, "\"amd64\""),
		   "A: skopeo inspect reads our manifest and config (exit %d)",
		   r);
		free(data);
		r = sh("skopeo --policy '%s' copy -q --src-tls-verify=false "
		       "docker://%s/edgectl/test:v1 dir:'%s/copy' "
		       ">/dev/null 2>'%s/copy.err'",
		       pol, l->reg, tmpdir, tmpdir);
		snprintf(path, sizeof(path), "%s/copy/%s", tmpdir, dg_big + 7);
		ok(r == 0 && access(path, F_OK) == 0,
		   "A: skopeo copy to dir: verifies and keeps the chunked "
		   "layer");
		if (r != 0)
			show_file("copy.err");
		r = sh("skopeo --policy '%s' copy -q --src-tls-verify=false "
		       "--dest-tls-verify=false "
		       "docker://%s/edgectl/test:v1 "
		       "docker://%s/edgectl/byskopeo:v1 >/dev/null "
		       "2>'%s/copy2.err'",
		       pol, l->reg, l->reg, tmpdir);
		ok(r == 0, "A: skopeo copies it to another repository");
		if (r != 0)
			show_file("copy2.err");
		if (c2)
			reg_close(c2);
		c2 = NULL;
		if (r == 0 &&
		    reg_open(l->reg, "edgectl/byskopeo", &o, &c2, &err) == 0) {
			ok(reg_manifest_get(c2, "v1", &data, &len, mt, dg,
					    &err) == 0,
			   "A: we read skopeo's manifest (%s)", mt);
			free(data);
			ok(get_equals(c2, dg_big, big, BIGLEN, 0, 0, &err) == 0,
			   "A: and the layer skopeo pushed (%s)", err.msg);
		}
	}
	free(cfg);
	free(cfg2);
	free(man);
	free(man2);
	reg_close(c2);
	reg_close(c);
}

/* --- B: Basic auth --- */

static void write_config(const char *path, const char *key, const char *entry)
{
	char *js = xasprintf("{\"auths\":{\"%s\":%s}}", key, entry);

	spit(path, js, strlen(js));
	free(js);
}

static void test_basic(struct live *l)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL;
	struct ec_err err;
	char cfg[PATH_MAX + 32], dir[PATH_MAX + 32], dg[80], entry[128],
	    want[128];
	char *b64;
	uint64_t size;

	o.username = "alice";
	o.password = "pw-of-alice";
	log_reset();
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) == 0,
	   "B: open with the right password (%s)", err.msg);
	if (c) {
		ok(push(c, "basic blob", 10, "b1", dg, NULL, &err) == 0,
		   "B: push with Basic auth (%s)", err.msg);
		ok(reg_blob_stat(c, dg, &size, NULL, &err) == 1 && size == 10,
		   "B: HEAD with Basic auth");
		reg_close(c);
		c = NULL;
	}
	ok(log_count("2 > Authorization:") == 0,
	   "B: the log never shows credentials");

	snprintf(want, sizeof(want), "authentication to %s failed", l->reg);
	o.password = "wrong";
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) < 0 &&
	       err.cat == EC_PERM && strstr(err.msg, want) &&
	       strstr(err.msg, "--creds"),
	   "B: a wrong password: EC_PERM (%s)", err.msg);
	is_int(ec_cat_exit(err.cat), 5, "B: which exits 5");

	o = opts_base();
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) < 0 &&
	       err.cat == EC_PERM &&
	       strstr(err.msg, "requires authentication") &&
	       strstr(err.msg, "/nonexistent/edgectl-test"),
	   "B: no credentials: EC_PERM naming the config file (%s)", err.msg);

	/* credentials from docker config files */
	snprintf(cfg, sizeof(cfg), "%s/auth.json", tmpdir);
	b64 = reg_base64_encode("alice:pw-of-alice", 17);
	snprintf(entry, sizeof(entry), "{\"auth\":\"%s\"}", b64);
	free(b64);
	write_config(cfg, l->reg, entry);
	o.auth_file = cfg;
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) == 0,
	   "B: credentials from opts.auth_file (%s)", err.msg);
	reg_close(c);
	c = NULL;

	o.auth_file = NULL;
	setenv("REGISTRY_AUTH_FILE", cfg, 1);
	setenv("DOCKER_CONFIG", "/nonexistent", 1);
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) == 0,
	   "B: credentials from $REGISTRY_AUTH_FILE (%s)", err.msg);
	reg_close(c);
	c = NULL;
	unsetenv("REGISTRY_AUTH_FILE");

	snprintf(dir, sizeof(dir), "%s/dockercfg", tmpdir);
	mkdir(dir, 0700);
	snprintf(cfg, sizeof(cfg), "%s/dockercfg/config.json", tmpdir);
	{
		char key[96];
		snprintf(key, sizeof(key), "http://%s/v2/", l->reg);
		write_config(
		    cfg, key,
		    "{\"username\":\"alice\",\"password\":\"pw-of-alice\"}");
	}
	setenv("DOCKER_CONFIG", dir, 1);
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) == 0,
	   "B: credentials from $DOCKER_CONFIG/config.json, URL key, "
	   "username/password (%s)",
	   err.msg);
	reg_close(c);
	c = NULL;

	write_config(cfg, l->reg,
		     "{\"username\":\"alice\",\"password\":\"stale\"}");
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) < 0 &&
	       err.cat == EC_PERM && strstr(err.msg, cfg),
	   "B: stale password in the config file: EC_PERM naming it (%s)",
	   err.msg);
	spit(cfg, "{\"auths\":", 9);
	ok(reg_open(l->reg, "edgectl/basic", &o, &c, &err) < 0 &&
	       err.cat == EC_USAGE && strstr(err.msg, cfg),
	   "B: malformed config file: EC_USAGE naming it (%s)", err.msg);
	unsetenv("DOCKER_CONFIG");
	reg_close(c);
}

/* --- C: bearer tokens, redirects to another host, threads --- */

struct worker {
	struct reg_client *c;
	int id;
	int ok;
	struct ec_err err;
};

#define WORKERS	  4
#define WBLOBS	  2
#define WBLOB_LEN (100u << 10)

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char *data = xmalloc(WBLOB_LEN), name[32], dg[80];
	uint64_t size = 0;
	int i;

	w->ok = 1;
	for (i = 0; i < WBLOBS && w->ok; i++) {
		fill(data, WBLOB_LEN, (uint64_t)(100 + w->id * 10 + i));
		snprintf(name, sizeof(name), "w%d-%d", w->id, i);
		if (push(w->c, data, WBLOB_LEN, name, dg, NULL, &w->err) < 0 ||
		    reg_blob_stat(w->c, dg, &size, NULL, &w->err) != 1 ||
		    size != WBLOB_LEN ||
		    get_equals(w->c, dg, data, WBLOB_LEN, 4096, 50000,
			       &w->err) < 0)
			w->ok = 0;
	}
	free(data);
	return NULL;
}

static void test_token(struct live *l)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL, *c2 = NULL;
	struct ec_err err;
	static char big[BIGLEN];
	char dg[80], side[160], reg[160], mdg[80], mt[128], want[256];
	struct worker w[WORKERS];
	pthread_t th[WORKERS];
	uint64_t size = 0;
	char *man, *data;
	size_t len;
	int ranges = -1, seen = 0, i, all = 1;

	o.chunk_size = CHUNK;
	log_reset();
	ok(reg_open(l->reg, "edgectl/tok", &o, &c, &err) == 0,
	   "C: open a Bearer registry (%s)", err.msg);
	if (!c)
		return;
	snprintf(want, sizeof(want),
		 "GET "
		 "http://%s/"
		 "token?service=edgectl-test&scope=repository%%3Aedgectl%%"
		 "2Ftok%%3Apull%%2Cpush -> 200",
		 l->side);
	ok(log_count(want) == 1,
	   "C: token fetched once from the realm with service and push scope");

	fill(big, sizeof(big), 7);
	ok(push(c, big, sizeof(big), "tbig", dg, NULL, &err) == 0,
	   "C: chunked push with a token (%s)", err.msg);
	log_reset();
	ok(reg_blob_stat(c, dg, &size, &ranges, &err) == 1 && size == BIGLEN,
	   "C: HEAD through the redirect (%s)", err.msg);
	snprintf(side, sizeof(side), "HEAD http://%s/docker/registry/v2/blobs/",
		 l->side);
	ok(log_count("-> 307") == 1 && log_count(side) == 1,
	   "C: HEAD answered 307, followed to the side server");
	is_int(ranges, 1, "C: ranges known from the redirect target");
	ok(get_equals(c, dg, big, BIGLEN, 70000, 10000, &err) == 0,
	   "C: ranged GET through the redirect (%s)", err.msg);
	ok(get_equals(c, dg, big, BIGLEN, 0, 0, &err) == 0,
	   "C: whole GET through the redirect (%s)", err.msg);
	snprintf(side, sizeof(side), "http://%s/", l->side);
	ok(!creds_sent_to(side, &seen) && seen == 3,
	   "C: no Authorization to the other host (%d exchanges)", seen);
	snprintf(reg, sizeof(reg), "http://%s/v2/edgectl/tok/blobs/", l->reg);
	ok(creds_sent_to(reg, &seen) && seen == 3,
	   "C: while the registry got the token (%d exchanges)", seen);

	/* mount with an extra pull scope on the source repository */
	ok(reg_open(l->reg, "edgectl/tok2", &o, &c2, &err) == 0,
	   "C: open a second repository");
	if (c2) {
		log_reset();
		is_int(reg_blob_mount(c2, dg, "edgectl/tok", &err), 1,
		       "C: mount across repositories");
		ok(log_count("scope=repository%3Aedgectl%2Ftok%3Apull ->") == 1,
		   "C: the mount's token asked for pull on the source");
		reg_close(c2);
	}

	man = manifest_json(dg, BIGLEN, dg, BIGLEN);
	digest_of(man, strlen(man), mdg);
	ok(reg_manifest_put(c, "t1", man, strlen(man),
			    "application/vnd.oci.image.manifest.v1+json",
			    &err) == 0 &&
	       reg_manifest_get(c, "t1", &data, &len, mt, dg, &err) == 0 &&
	       !strcmp(dg, mdg),
	   "C: manifest round trip with a token (%s)", err.msg);
	free(data);
	free(man);

	/* many threads on one client */
	log_reset();
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){.c = c, .id = i};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		if (!w[i].ok) {
			all = 0;
			diag("worker %d: %s", i, w[i].err.msg);
		}
	}
	ok(all,
	   "C: %d threads push, stat and read %d chunked blobs each on one "
	   "client",
	   WORKERS, WBLOBS);
	is_int(log_count("1 PATCH "), WORKERS * WBLOBS * 2,
	       "C: every blob went up in 2 chunks");
	reg_close(c);
}

/* --- D: real JWTs (the "token" access controller) --- */

static int mint(struct live *l, const char *grants, const char *issuer)
{
	return sh("'%s/start-registry.sh' --mint-token '%s' '%s' %s", libdir,
		  l->dir, grants, issuer ? issuer : "");
}

static void test_jwt(struct live *l)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL, *c2 = NULL, *c3 = NULL;
	struct ec_err err;
	char dg[80], tokget[160], want[160];
	uint64_t size = 0;

	snprintf(tokget, sizeof(tokget), "GET http://%s/token?", l->side);
	log_reset();
	ok(reg_open(l->reg, "edgectl/jwt", &o, &c, &err) == 0,
	   "D: open with a pull-only token (%s)", err.msg);
	ok(reg_open(l->reg, "edgectl/jwt2", &o, &c2, &err) == 0,
	   "D: open a repository the token does not cover");
	if (!c || !c2)
		goto out;
	ok(mint(l, "edgectl/jwt:pull,push", NULL) == 0,
	   "D: the token service now grants push");

	log_reset();
	ok(push(c, "pushed after a token refresh", 28, "j1", dg, NULL, &err) ==
	       0,
	   "D: push: 401 insufficient_scope, new token, request repeated (%s)",
	   err.msg);
	is_int(log_count("token refused (HTTP 401), getting a new one"), 1,
	       "D: one refresh");
	is_int(log_count(tokget), 1, "D: one token request");
	ok(reg_blob_stat(c, dg, &size, NULL, &err) == 1 && size == 28,
	   "D: the blob is there");

	log_reset();
	ok(push(c2, "no push right here", 18, "j2", dg, NULL, &err) < 0 &&
	       err.cat == EC_PERM && strstr(err.msg, "HTTP 401") &&
	       strstr(err.msg, "push on '127.0.0.1") &&
	       strstr(err.msg, "insufficient_scope"),
	   "D: still refused after one refresh: EC_PERM (%s)", err.msg);
	is_int(log_count(tokget), 1, "D: exactly one refresh was tried");

	ok(mint(l, "edgectl/jwt:pull,push", "another-issuer") == 0,
	   "D: the token service now hands out bad tokens");
	snprintf(want, sizeof(want), "authentication to %s failed", l->reg);
	ok(reg_open(l->reg, "edgectl/jwt", &o, &c3, &err) < 0 &&
	       err.cat == EC_PERM && strstr(err.msg, want),
	   "D: a refused token: EC_PERM (%s)", err.msg);
out:
	reg_close(c);
	reg_close(c2);
	reg_close(c3);
}

/* --- E: TLS with a self-signed certificate --- */

static void test_tls(struct live *l)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL;
	struct ec_err err;
	char dg[80], want[160];

	log_reset();
	ok(reg_open(l->reg, "edgectl/tls", &o, &c, &err) == 0,
	   "E: open https, peer not verified (insecure)");
	snprintf(want, sizeof(want), "GET https://%s/v2/ -> 200", l->reg);
	ok(log_count(want) == 1 && log_count("trying plain http") == 0,
	   "E: https was used, no fallback");
	if (c) {
		ok(push(c, "over tls", 8, "e1", dg, NULL, &err) == 0 &&
		       get_equals(c, dg, "over tls", 8, 0, 0, &err) == 0,
		   "E: push and get over https (%s)", err.msg);
		reg_close(c);
		c = NULL;
	}
	o.insecure = 0;
	log_reset();
	ok(reg_open(l->reg, "edgectl/tls", &o, &c, &err) < 0 &&
	       err.cat == EC_REMOTE && strstr(err.msg, l->reg) &&
	       strstr(err.msg, "TLS certificate") &&
	       strstr(err.msg, "--tls-verify=false"),
	   "E: an unverifiable certificate fails with a hint (%s)", err.msg);
	is_int(log_count("; retry "), 0, "E: and is not retried");
	reg_close(c);
}

static void test_unreachable(void)
{
	struct reg_opts o = opts_base();
	struct reg_client *c = NULL;
	struct ec_err err;

	o.retries = 1;
	ok(reg_open("127.0.0.1:1", "x", &o, &c, &err) < 0 &&
	       err.cat == EC_REMOTE && strstr(err.msg, "127.0.0.1:1"),
	   "open of a dead registry: EC_REMOTE naming the host (%s)", err.msg);
	is_int(ec_cat_exit(err.cat), 4, "which exits 4");
	ok(reg_open("bad/host", "x", &o, &c, &err) < 0 && err.cat == EC_USAGE,
	   "bad registry name: EC_USAGE");
	ok(reg_open("127.0.0.1:1", "Bad", &o, &c, &err) < 0 &&
	       err.cat == EC_USAGE,
	   "bad repository name: EC_USAGE");
}

int main(void)
{
	static struct live A, B, C, D, E;
	char why[512] = "";
	const char *v = getenv("REG_TEST_VERBOSE");
	const char *tmp = getenv("TMPDIR");
	int rc;

	verbose = v && *v;
	test_chunk_size();
	test_challenge();
	test_config();
	test_urls();
	test_ranges();
	test_base64();
	test_state();
	test_unreachable();

	snprintf(tmpdir, sizeof(tmpdir), "%s/edgectl-regt.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpdir))
		BUG("mkdtemp");
	atexit(stop_all);
	if (find_libdir() < 0) {
		ok(0, "find tests/lib/start-registry.sh (run from the source "
		      "tree)");
		goto out;
	}
	rc = live_start(&A, "--relative-urls", why, sizeof(why));
	if (rc == 77) {
		if (strict()) {
			ok(0,
			   "docker-registry is needed (EDGECTL_STRICT=1): %s",
			   why);
		} else {
			skip("live registry tests", why);
		}
		goto out;
	}
	ok(rc == 0, "start docker-registry (anonymous, relative URLs) on %s",
	   A.reg);
	if (rc == 0)
		test_anon(&A);

	rc = live_start(&B, "--htpasswd alice:pw-of-alice", why, sizeof(why));
	if (rc == 77 && strict())
		ok(0, "htpasswd is needed: %s", why);
	else if (rc == 77)
		skip("Basic auth tests", why);
	else
		ok(rc == 0, "start docker-registry (htpasswd) on %s", B.reg);
	if (rc == 0)
		test_basic(&B);

	rc = live_start(&C, "--token --redirect", why, sizeof(why));
	if (rc == 77 && strict())
		ok(0, "busybox is needed: %s", why);
	else if (rc == 77)
		skip("token and redirect tests", why);
	else
		ok(rc == 0,
		   "start docker-registry (token, redirect) on %s, side %s",
		   C.reg, C.side);
	if (rc == 0)
		test_token(&C);

	rc = live_start(&D, "--jwt edgectl/jwt:pull", why, sizeof(why));
	if (rc == 77 && strict())
		ok(0, "openssl and busybox are needed: %s", why);
	else if (rc == 77)
		skip("JWT tests", why);
	else
		ok(rc == 0, "start docker-registry (JWT) on %s, side %s", D.reg,
		   D.side);
	if (rc == 0)
		test_jwt(&D);

	rc = live_start(&E, "--tls", why, sizeof(why));
	if (rc == 77 && strict())
		ok(0, "openssl is needed: %s", why);
	else if (rc == 77)
		skip("TLS tests", why);
	else
		ok(rc == 0, "start docker-registry (TLS) on %s", E.reg);
	if (rc == 0)
		test_tls(&E);
out:
	stop_all();
	sh("rm -rf '%s'", tmpdir);
	sb_release(&logbuf);
	return done_testing();
}

/* Unit tests for src/util/yaml: a YAML document as the jansson tree the
 * JSON path gives (an nvidia-ctk style CDI spec equals its JSON form),
 * core-schema typing of plain scalars, the core tags, and every refusal
 * (anchors, aliases, documents, tags, keys, depth, size, ambiguous
 * numbers, malformed input) naming the line and column. */
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/yaml.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>

static struct ec_err err;

static json_t *Y(const char *text)
{
	ec_err_clear(&err);
	return ec_yaml_parse(text, strlen(text), "t.yaml", &err);
}

/* The YAML text equals the JSON text as trees. */
static int same(const char *yaml, const char *json)
{
	json_t *y = Y(yaml), *j = json_loads(json, JSON_DECODE_ANY, NULL);
	int r = y && j && json_equal(y, j);

	if (!r) {
		char *s = y ? ec_json_dump(y) : NULL;
		printf("#   got %s (%s)\n", s ? s : "NULL", err.msg);
		free(s);
	}
	json_decref(y);
	json_decref(j);
	return r;
}

/* Refused as usage, the message holding `want`. */
static int refused(const char *yaml, const char *want)
{
	json_t *y = Y(yaml);
	int r = !y && err.cat == EC_USAGE && strstr(err.msg, want) &&
		!strncmp(err.msg, "t.yaml: ", 8);

	if (!r)
		printf("#   want '%s', got: %s\n", want,
		       y ? "a tree" : err.msg);
	json_decref(y);
	return r;
}

/* What `nvidia-ctk cdi generate` writes (shortened). */
static const char nvidia_yaml[] =
    "---\n"
    "cdiVersion: 0.5.0\n"
    "containerEdits:\n"
    "  deviceNodes:\n"
    "  - path: /dev/nvidiactl\n"
    "  hooks:\n"
    "  - args:\n"
    "    - nvidia-ctk\n"
    "    - hook\n"
    "    - update-ldcache\n"
    "    hookName: createContainer\n"
    "    path: /usr/bin/nvidia-ctk\n"
    "  mounts:\n"
    "  - containerPath: /run/nvidia-persistenced/socket\n"
    "    hostPath: /run/nvidia-persistenced/socket\n"
    "    options:\n"
    "    - ro\n"
    "    - nosuid\n"
    "devices:\n"
    "- containerEdits:\n"
    "    deviceNodes:\n"
    "    - path: /dev/nvidia0\n"
    "      major: 195\n"
    "      minor: 0\n"
    "      fileMode: 0o666\n"
    "  name: \"0\"\n"
    "- containerEdits:\n"
    "    deviceNodes: [{path: /dev/nvidia1}]\n"
    "  name: GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c\n"
    "kind: nvidia.com/gpu\n"
    "...\n";
static const char nvidia_json[] =
    "{\"cdiVersion\":\"0.5.0\",\"containerEdits\":{\"deviceNodes\":[{"
    "\"path\":\"/dev/nvidiactl\"}],\"hooks\":[{\"args\":[\"nvidia-ctk\","
    "\"hook\",\"update-ldcache\"],\"hookName\":\"createContainer\","
    "\"path\":\"/usr/bin/nvidia-ctk\"}],\"mounts\":[{\"containerPath\":"
    "\"/run/nvidia-persistenced/socket\",\"hostPath\":\"/run/"
    "nvidia-persistenced/socket\",\"options\":[\"ro\",\"nosuid\"]}]},"
    "\"devices\":[{\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/"
    "nvidia0\",\"major\":195,\"minor\":0,\"fileMode\":438}]},\"name\":"
    "\"0\"},{\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/"
    "nvidia1\"}]},\"name\":\"GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c\"}],"
    "\"kind\":\"nvidia.com/gpu\"}";

static void test_trees(void)
{
	ok(same(nvidia_yaml, nvidia_json),
	   "an nvidia-ctk style spec is the tree of its JSON form");
	ok(same("{\"a\": [1, \"b\"]}", "{\"a\":[1,\"b\"]}"),
	   "JSON is YAML: the same tree");
	ok(same("a: 1\nb: -7\nc: +3\nd: 0\ne: 0x1F\nf: 0o17\n",
		"{\"a\":1,\"b\":-7,\"c\":3,\"d\":0,\"e\":31,\"f\":15}"),
	   "plain integers: decimal, signed, hex, octal");
	ok(same("a: '1'\nb: \"0x1F\"\nc: !!str 5\nd: ! 6\n",
		"{\"a\":\"1\",\"b\":\"0x1F\",\"c\":\"5\",\"d\":\"6\"}"),
	   "quoted, !!str and ! scalars stay strings");
	ok(same("a: true\nb: False\nc: TRUE\nd: yes\ne: off\nf: 'true'\n",
		"{\"a\":true,\"b\":false,\"c\":true,\"d\":\"yes\","
		"\"e\":\"off\",\"f\":\"true\"}"),
	   "core booleans typed; YAML 1.1 yes/off stay strings");
	ok(same("a:\nb: ~\nc: null\nd: ''\n",
		"{\"a\":null,\"b\":null,\"c\":null,\"d\":\"\"}"),
	   "nulls: empty, ~, null; an empty quoted string is a string");
	ok(same("a: 1.5\nb: 0.6.0\nc: .inf\nd: -0x1\ne: 1_000\n",
		"{\"a\":\"1.5\",\"b\":\"0.6.0\",\"c\":\".inf\","
		"\"d\":\"-0x1\",\"e\":\"1_000\"}"),
	   "floats and other forms stay strings");
	ok(same("a: !!int \"42\"\nb: !!bool 'false'\nc: !!null ''\n"
		"d: !!float 2.5\ne: !!map {x: 1}\nf: !!seq [1]\n",
		"{\"a\":42,\"b\":false,\"c\":null,\"d\":2.5,\"e\":{\"x\":1},"
		"\"f\":[1]}"),
	   "the core tags");
	ok(same("a: 9223372036854775807\nb: -9223372036854775808\n",
		"{\"a\":9223372036854775807,\"b\":-9223372036854775808}"),
	   "int64 limits");
	ok(same("s: |\n  two\n  lines\nf: >-\n  folded\n  text\n",
		"{\"s\":\"two\\nlines\\n\",\"f\":\"folded text\"}"),
	   "block scalars");
	ok(same("\"1\": a\n'true': b\n? c\n: d\n",
		"{\"1\":\"a\",\"true\":\"b\",\"c\":\"d\"}"),
	   "quoted keys and explicit keys");
	ok(same("u: \"caf\\u00e9 \\x41\"\n", "{\"u\":\"caf\\u00e9 A\"}"),
	   "escapes become UTF-8");
	ok(same("- 1\n", "[1]") && same("hello\n", "\"hello\"") &&
	       same("--- 7\n", "7"),
	   "any node at the top (the CDI check wants an object)");
}

static void test_refusals(void)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *v;
	char *big;
	int i;

	ok(refused("a: &x 1\nb: *x\n", "line 1 column 4: anchor '&x'"),
	   "an anchor on a scalar");
	ok(refused("a: *x\n", "alias '*x' is not allowed") ||
	       refused("a: *x\n", "invalid YAML"),
	   "an alias");
	ok(refused("a: &l [1, 2]\n", "anchor '&l' is not allowed"),
	   "an anchor on a sequence");
	ok(refused("a: &m {x: 1}\n", "anchor '&m' is not allowed"),
	   "an anchor on a mapping");
	ok(refused("&k a: 1\n", "anchor '&k' is not allowed"),
	   "an anchor on a key");
	ok(refused("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: [*b,*b]\n",
		   "line 1 column 4: anchor '&a'"),
	   "billion laughs is refused at its first anchor");
	ok(refused("a: 1\n---\nb: 2\n", "line 2 column 1: a second YAML "
					"document"),
	   "two documents");
	ok(refused("", "no YAML document") &&
	       refused("# only a comment\n", "no YAML document"),
	   "no document");
	ok(refused("a: !foo 1\n", "tag '!foo' is not allowed"), "a local tag");
	ok(refused("a: !!binary aGk=\n", "tag 'tag:yaml.org,2002:binary'"),
	   "!!binary");
	ok(refused("a: !!set {x}\n", "is not allowed here"),
	   "!!set on a mapping");
	ok(refused("a: !!map [1]\n", "is not allowed here"),
	   "!!map on a sequence");
	ok(refused("a: !!int x\n", "'x' is not a valid !!int"), "!!int x");
	ok(refused("a: !!float .nan\n", "not a finite !!float"),
	   "!!float .nan");
	ok(refused("? [a]\n: 1\n", "a key must be a string, not a collection"),
	   "a sequence as a key");
	ok(refused("? {a: 1}\n: 1\n", "a key must be a string"),
	   "a mapping as a key");
	ok(refused("1: a\n", "line 1 column 1: key '1' is not a string: quote "
			     "it"),
	   "a plain integer key");
	ok(refused("x: 1\ntrue: a\n", "line 2 column 1: key 'true'"),
	   "a boolean key");
	ok(refused("~: a\n", "key '~' is not a string"), "a null key");
	ok(refused("a: {<<: {b: 1}}\n", "merge keys (<<) are not allowed"),
	   "the merge key");
	ok(refused("kind: a\nname: b\nkind: c\n",
		   "line 3 column 1: duplicate key 'kind'"),
	   "a duplicate key");
	ok(refused("a: {x: 1, \"x\": 2}\n", "duplicate key 'x'"),
	   "a duplicate key quoted differently");
	ok(refused("mode: 0644\n", "line 1 column 7: '0644' is ambiguous "
				   "(octal in YAML 1.1, decimal in 1.2): "
				   "write 0o644"),
	   "a leading-zero integer");
	ok(refused("a: 9223372036854775808\n", "out of range") &&
	       refused("a: 0xffffffffffffffffff\n", "out of range"),
	   "integers beyond int64");
	ok(refused("a: [1, 2\n", "invalid YAML") &&
	       refused("a: 1\n b: 2\n", "line 2 column"),
	   "malformed YAML names the line");
	ok(refused("a:\n\t- 1\n", "invalid YAML"), "a tab as indentation");
	ok(refused("a: 1\nb: \"\xff\"\n", "line 2 column 5: invalid YAML"),
	   "bytes that are not UTF-8");
	v = Y("a: \"x\\0y\"\n");
	ok(v && json_string_length(json_object_get(v, "a")) == 3,
	   "a NUL escape in a value is kept (as JSON's \\u0000 is)");
	json_decref(v);
	v = Y("\"k\\0\": 1\n");
	ok(!v && strstr(err.msg, "NUL"), "a key with a NUL byte (%s)", err.msg);
	json_decref(v);

	/* depth: 64 levels pass, 65 are refused */
	for (i = 0; i < EC_YAML_DEPTH_MAX; i++)
		sb_adds(&sb, "[");
	for (i = 0; i < EC_YAML_DEPTH_MAX; i++)
		sb_adds(&sb, "]");
	v = Y(sb.buf);
	ok(v != NULL, "%d nested levels pass (%s)", EC_YAML_DEPTH_MAX, err.msg);
	json_decref(v);
	sb_release(&sb);
	for (i = 0; i <= EC_YAML_DEPTH_MAX; i++)
		sb_addf(&sb, "%*sa:\n", 2 * i, "");
	ok(refused(sb.buf, "nested deeper than 64 levels"),
	   "65 nested mappings are refused");
	sb_release(&sb);

	/* size: the JSON path's cap */
	big = xmalloc((size_t)EC_JSON_MAX + 2);
	memset(big, '#', (size_t)EC_JSON_MAX + 1);
	big[EC_JSON_MAX + 1] = '\0';
	v = ec_yaml_parse(big, (size_t)EC_JSON_MAX + 1, "t.yaml", &err);
	ok(!v && err.cat == EC_USAGE && strstr(err.msg, "byte limit"),
	   "a document over %u bytes (%s)", EC_JSON_MAX, err.msg);
	free(big);
}

int main(void)
{
	test_trees();
	test_refusals();
	return done_testing();
}

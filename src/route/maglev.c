/* maglev.c - Maglev consistent hashing tables (Eisenbud et al., NSDI'16,
 * §3.4), weighted: each backend walks its own permutation of the slots
 * (offset and skip from hashes of its key) and claims the next free slot
 * on its turn; a backend of weight w takes w turns for every max-weight
 * turn, so its share of the table is w / sum(w) to within a slot or two.
 *
 * Determinism across hosts: the permutation depends only on the key (a
 * fixed hash, FNV-1a 64 mixed by the splitmix64 finaliser), and turns are
 * taken in key order, so the same set of backends gives the same table
 * whatever order it arrives in and wherever it is built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route/route.h"
#include "util/xalloc.h"

/* Primes, roughly doubling; the last one is the data plane's limit. */
static const uint32_t mg_sizes[] = {
    251,   509,	  1021,	 2039,	 4093,	 8191,
    16381, 32749, 65537, 131071, 262139, 524287,
};

#define MG_SEED_OFFSET 0x6d61676c65766f66ULL
#define MG_SEED_SKIP   0x6d61676c65767370ULL

uint32_t maglev_size_for(size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mg_sizes); i++)
		if ((uint64_t)mg_sizes[i] >= (uint64_t)MAGLEV_RATIO * n)
			return mg_sizes[i];
	return mg_sizes[ARRAY_SIZE(mg_sizes) - 1];
}

uint32_t maglev_table_size(size_t n)
{
	uint32_t m = maglev_size_for(n);

	return m > MAGLEV_TABLE_SIZE ? m : MAGLEV_TABLE_SIZE;
}

static int mg_size_listed(uint32_t m)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mg_sizes); i++)
		if (mg_sizes[i] == m)
			return 1;
	return 0;
}

static uint64_t mg_hash(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static int mg_cmp(const void *a, const void *b)
{
	const struct mg_backend *x = *(const struct mg_backend *const *)a;
	const struct mg_backend *y = *(const struct mg_backend *const *)b;

	return strcmp(x->key, y->key);
}

/* One backend taking part: where it is in its permutation. */
struct mg_turn {
	uint32_t id, weight, cur, skip;
	uint64_t credit;
};

/* Check the input and return the backends sorted by key. */
static const struct mg_backend **mg_sorted(const struct mg_backend *b, size_t n,
					   struct ec_err *err)
{
	const struct mg_backend **s = xcalloc(n ? n : 1, sizeof(*s));
	size_t i;

	for (i = 0; i < n; i++) {
		if (!b[i].key || !b[i].key[0]) {
			free(s);
			ec_err_set(err, EC_USAGE, "backend %zu has no key", i);
			return NULL;
		}
		if (!b[i].id) {
			ec_err_set(err, EC_USAGE, "backend '%s' has id 0",
				   b[i].key);
			free(s);
			return NULL;
		}
		s[i] = &b[i];
	}
	qsort(s, n, sizeof(*s), mg_cmp);
	for (i = 1; i < n; i++) {
		if (!strcmp(s[i - 1]->key, s[i]->key)) {
			ec_err_set(err, EC_USAGE, "duplicate backend '%s'",
				   s[i]->key);
			free(s);
			return NULL;
		}
	}
	return s;
}

/* Take turns until every slot is claimed. Each round the heaviest
 * backends earn a turn, so rounds always make progress. */
static void mg_fill(struct mg_turn *t, size_t nt, uint32_t m, uint32_t *table)
{
	uint32_t max_w = 0, filled = 0;
	size_t i;

	for (i = 0; i < nt; i++)
		if (t[i].weight > max_w)
			max_w = t[i].weight;
	for (;;) {
		for (i = 0; i < nt; i++) {
			t[i].credit += t[i].weight;
			if (t[i].credit < max_w)
				continue;
			t[i].credit -= max_w;
			while (table[t[i].cur])
				t[i].cur = (uint32_t)(((uint64_t)t[i].cur +
						       t[i].skip) %
						      m);
			table[t[i].cur] = t[i].id;
			if (++filled == m)
				return;
		}
	}
}

int maglev_build(const struct mg_backend *b, size_t n, uint32_t m,
		 uint32_t *table, struct ec_err *err)
{
	const struct mg_backend **s;
	struct mg_turn *t;
	size_t i, nt = 0;

	if (!mg_size_listed(m))
		return ec_err_set(err, EC_USAGE,
				  "maglev table size %u is not a supported "
				  "prime",
				  m);
	s = mg_sorted(b, n, err);
	if (!s)
		return ec_err_prefix(err, "maglev");
	memset(table, 0, (size_t)m * sizeof(*table));
	t = xcalloc(n ? n : 1, sizeof(*t));
	for (i = 0; i < n; i++) {
		if (!s[i]->weight)
			continue;
		t[nt].id = s[i]->id;
		t[nt].weight = s[i]->weight;
		t[nt].cur = (uint32_t)(mg_hash(s[i]->key, MG_SEED_OFFSET) % m);
		t[nt].skip =
		    (uint32_t)(mg_hash(s[i]->key, MG_SEED_SKIP) % (m - 1) + 1);
		nt++;
	}
	if (nt)
		mg_fill(t, nt, m, table);
	free(t);
	free(s);
	return 0;
}

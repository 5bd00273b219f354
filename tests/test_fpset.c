/*
 * Fingerprint sets: exact membership over many strings, growth, and the
 * window's promise (remembered for at least SPAN later additions, gone
 * after 2 * SPAN, memory following the history up to a bound).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ccpump/fpset.h"

static struct ccp_fp fp_num(unsigned long i)
{
	char k[64];
	int n = snprintf(k, sizeof(k), "1795882167.M%luP4242.relay\trecipient %lu at hubpo1", i,
			 i % 7);
	return ccp_fp_of(k, (size_t)n);
}

static void test_growing(void)
{
	struct ccp_fpset s;
	ccp_fpset_init(&s);
	CHECK(!ccp_fpset_has(&s, fp_num(1)));
	const unsigned long n = 200000;
	for (unsigned long i = 0; i < n; i++)
		CHECK(ccp_fpset_add(&s, fp_num(i)));
	CHECK_EQ_U64(s.n, n);
	/* Every one found, adding again refused, none of the others found. */
	for (unsigned long i = 0; i < n; i++) {
		CHECK(ccp_fpset_has(&s, fp_num(i)));
		CHECK(!ccp_fpset_add(&s, fp_num(i)));
	}
	for (unsigned long i = n; i < 2 * n; i++)
		CHECK(!ccp_fpset_has(&s, fp_num(i)));
	CHECK_EQ_U64(s.n, n);
	/* At most 3/4 full: 16 octets a slot, so at most ~43 octets a
	 * fingerprint at any size. */
	CHECK(s.n <= s.cap / 4 * 3);
	CHECK(ccp_fpset_bytes(&s) <= 2 * (n * 16 * 4 / 3) + 1024);
	ccp_fpset_clear(&s);
	CHECK(!ccp_fpset_has(&s, fp_num(5)));
	CHECK_EQ_U64(s.n, 0);
	ccp_fpset_free(&s);
}

static void test_fingerprint(void)
{
	/* The marker bit is set, strings one octet apart differ in both
	 * halves, and the empty string has a fingerprint of its own. */
	struct ccp_fp e = ccp_fp_of("", 0), a = ccp_fp_of("a\tb", 3), b = ccp_fp_of("a\tc", 3);
	CHECK(e.b & 1u);
	CHECK(a.b & 1u);
	CHECK(a.a != b.a && a.b != b.b);
	CHECK(e.a != a.a);
	/* Fingerprints whose first halves collide are still told apart. */
	struct ccp_fpset s;
	ccp_fpset_init(&s);
	struct ccp_fp x = { 42, 3 }, y = { 42, 5 };
	CHECK(ccp_fpset_add(&s, x));
	CHECK(!ccp_fpset_has(&s, y));
	CHECK(ccp_fpset_add(&s, y));
	CHECK(ccp_fpset_has(&s, x) && ccp_fpset_has(&s, y));
	ccp_fpset_free(&s);
}

static void test_window(void)
{
	const size_t span = 1000;
	struct ccp_fpwindow w;
	ccp_fpwindow_init(&w, span);
	/* Memory follows what is held, up to two tables sized for SPAN. */
	size_t bound = 2 * 2048 * sizeof(struct ccp_fp); /* 1000 at 3/4 load: 2048 slots */
	CHECK_EQ_U64(ccp_fpwindow_bytes(&w), 0);
	const unsigned long n = 25 * span + 123;
	for (unsigned long i = 0; i < n; i++) {
		CHECK(ccp_fpwindow_add(&w, fp_num(i)));
		CHECK(ccp_fpwindow_bytes(&w) <= bound);
		/* The last SPAN are always there (the one just added too). */
		if (i % 97 == 0)
			for (unsigned long k = i + 1 > span ? i + 1 - span : 0; k <= i; k++)
				CHECK(ccp_fpwindow_has(&w, fp_num(k)));
		/* Anything 2 * SPAN back is gone. */
		if (i >= 2 * span)
			CHECK(!ccp_fpwindow_has(&w, fp_num(i - 2 * span)));
		CHECK(ccp_fpwindow_count(&w) <= 2 * span);
		CHECK(ccp_fpwindow_count(&w) >= (i + 1 < span ? i + 1 : span));
	}
	/* A duplicate of the newer generation is refused and changes
	 * nothing. */
	size_t c = ccp_fpwindow_count(&w);
	CHECK(!ccp_fpwindow_add(&w, fp_num(n - 1)));
	CHECK_EQ_U64(ccp_fpwindow_count(&w), c);
	/* Both generations have been full: their tables are at the bound,
	 * and stay there. */
	CHECK_EQ_U64(ccp_fpwindow_bytes(&w), bound);
	for (unsigned long i = n; i < n + 3 * span; i++)
		CHECK(ccp_fpwindow_add(&w, fp_num(i)));
	CHECK_EQ_U64(ccp_fpwindow_bytes(&w), bound);
	ccp_fpwindow_clear(&w);
	CHECK_EQ_U64(ccp_fpwindow_count(&w), 0);
	CHECK(!ccp_fpwindow_has(&w, fp_num(n - 1)));
	CHECK(ccp_fpwindow_add(&w, fp_num(n - 1)));
	ccp_fpwindow_free(&w);

	/* A window of 2^24 with a short history: memory for the history
	 * only, not the 512 MiB its span would take. */
	ccp_fpwindow_init(&w, (size_t)1 << 24);
	for (unsigned long i = 0; i < 1000; i++)
		CHECK(ccp_fpwindow_add(&w, fp_num(i)));
	for (unsigned long i = 0; i < 1000; i++)
		CHECK(ccp_fpwindow_has(&w, fp_num(i)));
	CHECK(ccp_fpwindow_bytes(&w) <= 2048 * sizeof(struct ccp_fp));
	ccp_fpwindow_free(&w);

	/* A window of one: the last one is always remembered. */
	ccp_fpwindow_init(&w, 1);
	for (unsigned long i = 0; i < 100; i++) {
		CHECK(ccp_fpwindow_add(&w, fp_num(i)));
		CHECK(ccp_fpwindow_has(&w, fp_num(i)));
		/* The newer generation is full now: a duplicate of what it
		 * holds is still refused, and rotates nothing away. */
		CHECK(!ccp_fpwindow_add(&w, fp_num(i)));
		if (i >= 1)
			CHECK(ccp_fpwindow_has(&w, fp_num(i - 1)));
		if (i >= 2)
			CHECK(!ccp_fpwindow_has(&w, fp_num(i - 2)));
	}
	ccp_fpwindow_free(&w);

	/* One added again while only the older generation holds it is the
	 * newest: remembered through the next SPAN adds, not dropped at the
	 * next swap (A B | C D, then A, E: A is among the last two). */
	ccp_fpwindow_init(&w, 2);
	for (unsigned long i = 0; i < 4; i++)
		CHECK(ccp_fpwindow_add(&w, fp_num(i)));
	CHECK(!ccp_fpwindow_add(&w, fp_num(0))); /* remembered already */
	CHECK(ccp_fpwindow_add(&w, fp_num(4)));
	CHECK(ccp_fpwindow_has(&w, fp_num(0)));
	CHECK(ccp_fpwindow_has(&w, fp_num(4)));
	CHECK(ccp_fpwindow_add(&w, fp_num(5)));
	CHECK(ccp_fpwindow_add(&w, fp_num(6)));
	CHECK(ccp_fpwindow_add(&w, fp_num(7)));
	CHECK(!ccp_fpwindow_has(&w, fp_num(0))); /* four adds later: gone */
	CHECK(ccp_fpwindow_count(&w) <= 4);
	ccp_fpwindow_free(&w);
}

/* The map against a plain array, under random puts and removals.  Keys
 * are made to collide (a few home slots, some at the end of the table, so
 * runs wrap around), which is where a removal can break a lookup. */
#define MAP_KEYS 600

struct val {
	unsigned long key, version;
};

static struct ccp_fp map_key(unsigned long i, size_t spread)
{
	/* Home slots 0..spread-1 and the last few of any power-of-two table. */
	uint64_t a = i % 3 == 0 ? ~(uint64_t)(i % spread) : (uint64_t)(i % spread);
	struct ccp_fp f = { a, ((uint64_t)i << 1) | 1u };
	return f;
}

static void test_map(size_t spread)
{
	static bool in[MAP_KEYS];
	static unsigned long version[MAP_KEYS];
	struct ccp_fpmap m;
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ spread;
	size_t n = 0, most = 0;
	memset(in, 0, sizeof(in));
	memset(version, 0, sizeof(version));
	ccp_fpmap_init(&m, sizeof(struct val));
	CHECK(ccp_fpmap_get(&m, map_key(1, spread)) == NULL);
	CHECK(!ccp_fpmap_del(&m, map_key(1, spread)));
	for (unsigned step = 0; step < 200000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		unsigned long k = (unsigned long)(rng % MAP_KEYS);
		/* Grow for a while, then shrink, then grow again. */
		unsigned phase = (step / 20000) % 3;
		bool add = (rng >> 32) % 10 < (phase == 1 ? 3u : 7u);
		if (add) {
			struct val *v = ccp_fpmap_put(&m, map_key(k, spread));
			if (!in[k]) {
				CHECK(v->key == 0 && v->version == 0); /* new: zeroed */
				in[k] = true;
				n++;
			} else {
				CHECK_EQ_U64(v->key, k);
				CHECK_EQ_U64(v->version, version[k]);
			}
			v->key = k;
			v->version = ++version[k];
		} else {
			CHECK(ccp_fpmap_del(&m, map_key(k, spread)) == in[k]);
			if (in[k])
				n--;
			in[k] = false;
		}
		CHECK_EQ_U64(ccp_fpmap_count(&m), n);
		if (n > most)
			most = n;
		if (step % 997 == 0)
			for (unsigned long i = 0; i < MAP_KEYS; i++) {
				struct val *v = ccp_fpmap_get(&m, map_key(i, spread));
				CHECK((v != NULL) == in[i]);
				if (v) {
					CHECK_EQ_U64(v->key, i);
					CHECK_EQ_U64(v->version, version[i]);
				}
			}
	}
	for (unsigned long i = 0; i < MAP_KEYS; i++)
		if (in[i])
			CHECK(ccp_fpmap_del(&m, map_key(i, spread)));
	CHECK_EQ_U64(ccp_fpmap_count(&m), 0);
	for (unsigned long i = 0; i < MAP_KEYS; i++)
		CHECK(ccp_fpmap_get(&m, map_key(i, spread)) == NULL);
	ccp_fpmap_free(&m);
	printf("  map, %zu home slots: up to %zu entries\n", spread, most);
}

int main(void)
{
	test_map(1);
	test_map(7);
	test_map(4096);
	test_fingerprint();
	test_growing();
	test_window();
	printf("test_fpset: ok\n");
	return 0;
}

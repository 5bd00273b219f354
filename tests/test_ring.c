/*
 * The ring: full and empty edges, every burst size, wrap-around, and
 * MPMC stress in which every item carries its producer and sequence, so a
 * consumer can check per-producer order and a final census finds any item
 * lost or delivered twice.  Also the pointer rule (bit 63 is the ring's
 * tag: NULL and any pointer below 2^63 pass, a pointer with bit 63 aborts
 * loudly before anything is stored) and a producer stopped between its
 * claim and its store.  Single items take their own path
 * (ccp_ring_enqueue_mpmc(), and bursts of 1), so the stress mixes them with
 * bursts, and the edges and the pointer rule are checked on both paths.
 * Where bursts move slot words in pairs (ring.h, WIDE COPIES) every test
 * runs twice, the second time word by word, so both ways are checked.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ccpump/ring.h"

#define ENC(p, s) ((void *)(uintptr_t)((((uint64_t)(p) + 1) << 40) | (uint64_t)(s)))
#define PROD(x) ((unsigned)(((uintptr_t)(x) >> 40) - 1))
#define SEQ(x) ((uint64_t)((uintptr_t)(x) & ((1ull << 40) - 1)))

/* Set for the second pass: rings made by ring_new() copy word by word. */
static bool word_by_word;

static struct ccp_ring *ring_new(size_t capacity)
{
	struct ccp_ring *r = ccp_ring_create(capacity);
	CHECK(r != NULL);
	if (word_by_word)
		r->wide = 0;
	return r;
}

static void test_edges(void)
{
	CHECK(ccp_ring_create(0) == NULL);
	CHECK(ccp_ring_create(1) == NULL);
	CHECK(ccp_ring_create(6) == NULL);
	CHECK(ccp_ring_create(((size_t)1 << 30) * 2) == NULL);

	struct ccp_ring *r = ring_new(8);
	void *out[16], *in[16];
	for (int i = 0; i < 16; i++)
		in[i] = ENC(0, i);
	CHECK(ccp_ring_dequeue_burst_mpmc(r, out, 4) == 0); /* empty */
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 16), 8); /* clipped at capacity */
	CHECK_EQ_U64(ccp_ring_count(r), 8);
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 1), 0); /* full */
	CHECK(!ccp_ring_enqueue_mpmc(r, in[0]));
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 3), 3);
	for (int i = 0; i < 3; i++)
		CHECK(out[i] == in[i]);
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in + 8, 5), 3); /* wraps */
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 16), 8);
	for (int i = 0; i < 8; i++)
		CHECK(out[i] == in[i + 3]);
	CHECK(ccp_ring_dequeue_burst_mpmc(r, out, 16) == 0);
	CHECK_EQ_U64(ccp_ring_count(r), 0);
	ccp_ring_destroy(r);

	/* Every burst size against every fill level, over several laps. */
	r = ring_new(16);
	void *big[32], *got[32];
	uint64_t next_in = 0, next_out = 0;
	for (unsigned lap = 0; lap < 50; lap++)
		for (unsigned n = 1; n <= 20; n++) {
			for (unsigned i = 0; i < n; i++)
				big[i] = ENC(0, next_in + i);
			uint64_t before = ccp_ring_count(r);
			unsigned k = ccp_ring_enqueue_burst_mpmc(r, big, n);
			CHECK_EQ_U64(k, n < 16 - before ? n : 16 - before);
			next_in += k;
			unsigned m = ccp_ring_dequeue_burst_mpmc(r, got, (n * 7 + lap) % 21);
			for (unsigned i = 0; i < m; i++)
				CHECK_EQ_U64(SEQ(got[i]), next_out++);
		}
	unsigned m;
	while ((m = ccp_ring_dequeue_burst_mpmc(r, got, 32)) > 0)
		for (unsigned i = 0; i < m; i++)
			CHECK_EQ_U64(SEQ(got[i]), next_out++);
	CHECK_EQ_U64(next_in, next_out);
	ccp_ring_destroy(r);
}

/* NULL and every pointer with bit 63 clear go through unchanged, across a
 * lap boundary (where the tag flips); zero-length bursts do nothing. */
static void test_pointer_values(void)
{
	struct ccp_ring *r = ring_new(4);
	void *in[6] = { NULL, (void *)(uintptr_t)1, (void *)(uintptr_t)((1ull << 63) - 1),
			(void *)(uintptr_t)(1ull << 62), NULL, (void *)(uintptr_t)2 };
	void *out[6];
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 0), 0);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 0), 0);
	for (unsigned lap = 0; lap < 5; lap++) {
		CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 3), 3);
		CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 6), 3);
		for (int i = 0; i < 3; i++)
			CHECK(out[i] == in[i]);
		CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in + 3, 3), 3);
		CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 6), 3);
		for (int i = 0; i < 3; i++)
			CHECK(out[i] == in[i + 3]);
	}
	CHECK_EQ_U64(ccp_ring_count(r), 0);
	ccp_ring_destroy(r);
}

/* The pointer rule on the burst path (*ARG = 3; 11, whose stores go four
 * at a time, the bad pointer in the first four stored) or the single path
 * (1): the enqueue aborts. */
static void enqueue_bad_pointer(void *arg)
{
	unsigned n = *(const unsigned *)arg;
	struct ccp_ring *r = ring_new(16);
	void *bad = (void *)(uintptr_t)(1ull << 63 | 8);
	void *in[11];
	for (unsigned i = 0; i < 11; i++)
		in[i] = (void *)(uintptr_t)(8 * (i + 1));
	in[n == 11 ? 8 : 1] = bad;
	if (n == 1)
		ccp_ring_enqueue_mpmc(r, bad);
	else
		ccp_ring_enqueue_burst_mpmc(r, in, n);
}

/* The pointer rule with N as above: the enqueue aborts, naming ring.h and
 * bit 63. */
static void check_pointer_rule(unsigned n)
{
	char buf[1024];
	int st = check_child(enqueue_bad_pointer, &n, buf, sizeof(buf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(buf, "ring.h") != NULL);
	CHECK(strstr(buf, "bit 63") != NULL);
}

static void test_pointer_rule(void)
{
	check_pointer_rule(3);
	check_pointer_rule(11);
	check_pointer_rule(1);
}

/* The single path at the edges: full, empty, wrap-around with the lap's
 * tag flipping, and the order, against the burst path on the same ring. */
static void test_single_edges(void)
{
	struct ccp_ring *r = ring_new(4);
	void *in[12], *out[4], *x = NULL;
	for (unsigned i = 0; i < 12; i++)
		in[i] = ENC(0, i);
	CHECK(!ccp_ring_dequeue_mpmc(r, &x)); /* empty */
	unsigned next_in = 0, next_out = 0;
	for (unsigned lap = 0; lap < 3; lap++) {
		for (unsigned i = 0; i < 4; i++)
			CHECK(ccp_ring_enqueue_mpmc(r, in[next_in++ % 12]));
		CHECK(!ccp_ring_enqueue_mpmc(r, in[0])); /* full */
		CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 1), 0);
		CHECK(ccp_ring_dequeue_mpmc(r, &x));
		CHECK(x == in[next_out++ % 12]);
		CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 1), 1);
		CHECK(out[0] == in[next_out++ % 12]);
		CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 4), 2); /* the burst path */
		CHECK(out[0] == in[next_out++ % 12] && out[1] == in[next_out++ % 12]);
		CHECK(!ccp_ring_dequeue_mpmc(r, &x)); /* empty again */
	}
	/* A NULL item is an item. */
	CHECK(ccp_ring_enqueue_mpmc(r, NULL));
	x = in[0];
	CHECK(ccp_ring_dequeue_mpmc(r, &x) && x == NULL);
	ccp_ring_destroy(r);
}

/* A producer that has claimed positions but not stored them (as if
 * preempted) makes consumers stop at its first slot, not spin, and takes
 * nothing from earlier items or from other producers' later claims. */
static void test_stopped_producer(void)
{
	struct ccp_ring *r = ring_new(8);
	void *in[4] = { ENC(0, 0), ENC(0, 1), ENC(1, 0), ENC(1, 1) }, *out[8];
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 1), 1);
	/* The stopped producer: claims positions 1 and 2, stores nothing. */
	uint64_t pos = 1;
	CHECK(atomic_compare_exchange_strong(&r->prod_pos, &pos, 3));
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in + 2, 2), 2); /* positions 3, 4 */
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 8), 1);     /* only position 0 */
	CHECK(out[0] == in[0]);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 8), 0);     /* waits at 1, no spin */
	CHECK(!ccp_ring_dequeue_mpmc(r, out));                       /* so does one item */
	/* It resumes: stores its two slots as the enqueue would. */
	atomic_store_explicit(&r->slots[2], (uint64_t)(uintptr_t)in[1], memory_order_release);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 8), 0);     /* position 1 still not */
	atomic_store_explicit(&r->slots[1], (uint64_t)(uintptr_t)in[0], memory_order_release);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 8), 4);
	CHECK(out[0] == in[0] && out[1] == in[1] && out[2] == in[2] && out[3] == in[3]);
	ccp_ring_destroy(r);
}

/* A slot claimed and not yet stored (its producer stopped) at every place
 * in a burst of 32, the burst starting on either half of a 16-byte pair:
 * the dequeue takes exactly the items before it, and the rest once it is
 * stored. */
static void test_hole_at_every_slot(void)
{
	void *in[32], *out[32];
	for (unsigned i = 0; i < 32; i++)
		in[i] = ENC(0, i);
	for (unsigned start = 0; start < 2; start++)
		for (unsigned hole = 0; hole < 32; hole++) {
			struct ccp_ring *r = ring_new(64);
			if (start) { /* positions from 1 on */
				CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 1), 1);
				CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 1), 1);
			}
			uint64_t p = start + hole;
			if (hole > 0)
				CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, hole), hole);
			uint64_t pos = p;
			CHECK(atomic_compare_exchange_strong(&r->prod_pos, &pos, p + 1));
			if (hole < 31)
				CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in + hole + 1, 31 - hole),
					     31 - hole);
			CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 32), hole);
			for (unsigned i = 0; i < hole; i++)
				CHECK(out[i] == in[i]);
			/* Lap 0: the word is the pointer, tag clear. */
			atomic_store_explicit(&r->slots[p], (uint64_t)(uintptr_t)in[hole],
					      memory_order_release);
			CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 32), 32 - hole);
			for (unsigned i = hole; i < 32; i++)
				CHECK(out[i - hole] == in[i]);
			CHECK_EQ_U64(ccp_ring_count(r), 0);
			ccp_ring_destroy(r);
		}
}

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 200000

static struct ccp_ring *ring;
static _Atomic uint8_t seen[PRODUCERS][PER_PRODUCER];
static _Atomic unsigned producers_left = PRODUCERS;
static _Atomic uint64_t consumed;

/* Positions run mod 2^64: placed just below the wrap (the slots made to
 * hold the lap before), a burst across it is enqueued, counted and
 * dequeued in order.  No run reaches it (584 years at 10^9 items a
 * second); the arithmetic must not care. */
static void test_wrap(void)
{
	struct ccp_ring *r = ring_new(4);
	uint64_t p = UINT64_MAX - 1;
	atomic_store(&r->prod_pos, p);
	atomic_store(&r->cons_pos, p);
	atomic_store(&r->cons_seen, p);
	for (uint64_t q = p, i = 0; i < 4; i++, q++)
		atomic_store(&r->slots[q & r->mask], __ccp_ring_tag(r, q) ^ CCP_RING_TAG);
	void *in[3] = { (void *)0x10, (void *)0x20, (void *)0x30 }, *out[4];
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 3), 3);
	CHECK_EQ_U64(ccp_ring_count(r), 3);
	CHECK_EQ_U64(ccp_ring_enqueue_burst_mpmc(r, in, 3), 1); /* one slot left */
	CHECK_EQ_U64(ccp_ring_count(r), 4);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 4), 4);
	CHECK(out[0] == in[0] && out[1] == in[1] && out[2] == in[2] && out[3] == in[0]);
	CHECK_EQ_U64(ccp_ring_count(r), 0);
	CHECK_EQ_U64(ccp_ring_dequeue_burst_mpmc(r, out, 4), 0);
	ccp_ring_destroy(r);
}

static void *producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seq = 0, rng = id * 7919u + 1;
	void *buf[64];
	while (seq < PER_PRODUCER) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/* Half the time one item on the single path, else bursts of
		 * 1..64 (whose remainders after a short enqueue are often 1). */
		if (rng >> 63) {
			while (!ccp_ring_enqueue_mpmc(ring, ENC(id, seq)))
				;
			seq++;
			continue;
		}
		unsigned n = 1 + (unsigned)((rng >> 52) & 63);
		if (n > PER_PRODUCER - seq)
			n = (unsigned)(PER_PRODUCER - seq);
		for (unsigned i = 0; i < n; i++)
			buf[i] = ENC(id, seq + i);
		unsigned done = 0;
		while (done < n)
			done += ccp_ring_enqueue_burst_mpmc(ring, buf + done, n - done);
		seq += n;
	}
	atomic_fetch_sub_explicit(&producers_left, 1, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t last[PRODUCERS], rng = (uintptr_t)arg * 104729u + 3;
	void *buf[64];
	for (int p = 0; p < PRODUCERS; p++)
		last[p] = UINT64_MAX;
	for (;;) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned n = 1 + (unsigned)((rng >> 52) & 63);
		unsigned m = rng >> 63 ? (unsigned)ccp_ring_dequeue_mpmc(ring, buf)
				       : ccp_ring_dequeue_burst_mpmc(ring, buf, n);
		if (m == 0) {
			if (atomic_load_explicit(&producers_left, memory_order_acquire) == 0 &&
			    ccp_ring_count(ring) == 0)
				break;
			continue;
		}
		for (unsigned i = 0; i < m; i++) {
			unsigned p = PROD(buf[i]);
			uint64_t s = SEQ(buf[i]);
			CHECK(p < PRODUCERS && s < PER_PRODUCER);
			/* Per-producer order, as this consumer sees it. */
			CHECK(last[p] == UINT64_MAX || s > last[p]);
			last[p] = s;
			/* Never twice. */
			CHECK(atomic_fetch_add_explicit(&seen[p][s], 1, memory_order_relaxed) == 0);
		}
		atomic_fetch_add_explicit(&consumed, m, memory_order_relaxed);
	}
	return NULL;
}

static void test_mpmc(unsigned capacity)
{
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	ring = ring_new(capacity);
	memset(seen, 0, sizeof(seen));
	atomic_store(&producers_left, PRODUCERS);
	atomic_store(&consumed, 0);
	for (uintptr_t i = 0; i < CONSUMERS; i++)
		pthread_create(&ct[i], NULL, consumer, (void *)i);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		pthread_create(&pt[i], NULL, producer, (void *)i);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(ct[i], NULL);
	CHECK_EQ_U64(atomic_load(&consumed), (uint64_t)PRODUCERS * PER_PRODUCER);
	for (int p = 0; p < PRODUCERS; p++)
		for (int s = 0; s < PER_PRODUCER; s++)
			CHECK(atomic_load_explicit(&seen[p][s], memory_order_relaxed) == 1);
	ccp_ring_destroy(ring);
}

int main(void)
{
	struct ccp_ring *probe = ccp_ring_create(2);
	bool wide = probe->wide != 0;
	ccp_ring_destroy(probe);
	for (int pass = 0; pass < (wide ? 2 : 1); pass++) {
		word_by_word = pass == 1;
		test_edges();
		test_pointer_values();
		test_pointer_rule();
		test_single_edges();
		test_stopped_producer();
		test_hole_at_every_slot();
		test_wrap();
		test_mpmc(4); /* tiny: constant full and empty */
		test_mpmc(1024);
	}
	printf("test_ring: ok (%s)\n", wide ? "slot words in pairs, then one by one"
					       : "slot words one by one");
	return 0;
}

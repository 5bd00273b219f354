/*
 * The ring: full and empty edges, every burst size, wrap-around, and
 * MPMC stress in which every item carries its producer and sequence, so a
 * consumer can check per-producer order and a final census finds any item
 * lost or delivered twice.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "ccpump/ring.h"

#define ENC(p, s) ((void *)(uintptr_t)((((uint64_t)(p) + 1) << 40) | (uint64_t)(s)))
#define PROD(x) ((unsigned)(((uintptr_t)(x) >> 40) - 1))
#define SEQ(x) ((uint64_t)((uintptr_t)(x) & ((1ull << 40) - 1)))

static void test_edges(void)
{
	CHECK(ccp_ring_create(0) == NULL);
	CHECK(ccp_ring_create(1) == NULL);
	CHECK(ccp_ring_create(6) == NULL);
	CHECK(ccp_ring_create(((size_t)1 << 30) * 2) == NULL);

	struct ccp_ring *r = ccp_ring_create(8);
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
	r = ccp_ring_create(16);
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

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 200000

static struct ccp_ring *ring;
static _Atomic uint8_t seen[PRODUCERS][PER_PRODUCER];
static _Atomic unsigned producers_left = PRODUCERS;
static _Atomic uint64_t consumed;

static void *producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seq = 0, rng = id * 7919u + 1;
	void *buf[64];
	while (seq < PER_PRODUCER) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned n = 1 + (unsigned)(rng >> 58); /* bursts of 1..64 */
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
		unsigned n = 1 + (unsigned)(rng >> 58);
		unsigned m = ccp_ring_dequeue_burst_mpmc(ring, buf, n);
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
	ring = ccp_ring_create(capacity);
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
	test_edges();
	test_mpmc(4);    /* tiny: constant full and empty */
	test_mpmc(1024);
	puts("test_ring: ok");
	return 0;
}

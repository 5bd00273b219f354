/*
 * ring_loop: the cost of a ring's own operations, without threads.
 *
 * One thread fills a ring in bursts until it is full, then empties it in
 * bursts, over and over: the pattern of bench_ring's `--pin` at 1:1 (one
 * CPU doing both sides by turns) without the harness's waiting and
 * checking, so what is left is each ring's enqueue and dequeue.  It prints
 * nanoseconds an item (one enqueue and one dequeue), the median of the
 * repetitions, for ccpump's ring, the same ring moving a burst's slot words
 * one by one (ccp_ring_words, where the ring moves them in pairs: ring.h,
 * WIDE COPIES) and, built with DPDK, rte_ring in its default MP/MC mode.
 * Repetitions alternate the rings, so a change in the machine's speed hits
 * all alike.
 *
 *   bench_ring_loop [--burst N] [--items N] [--reps N] [--capacity N]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/clock.h"
#include "ccpump/ring.h"
#include "common.h"
#include "queues.h"

#define MAX_BURST 1024
#define MAX_REPS 101

struct loop_ring {
	const char *name;
	struct bq *q;
	/* One indirect call a burst for either ring, as in bench_ring. */
	unsigned (*enq)(struct bq *q, const uintptr_t *w, unsigned n);
	unsigned (*deq)(struct bq *q, uintptr_t *w, unsigned n);
	double ns[MAX_REPS];
};

static unsigned ccp_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	return ccp_ring_enqueue_burst_mpmc((struct ccp_ring *)q, (void *const *)w, n);
}

static unsigned ccp_deq(struct bq *q, uintptr_t *w, unsigned n)
{
	return ccp_ring_dequeue_burst_mpmc((struct ccp_ring *)q, (void **)w, n);
}

/* ITEMS through R in bursts of BURST; nanoseconds an item.  The items are
 * counted out as they were counted in, the ring must be empty at the end,
 * and the first and last word of every burst are summed on both sides, so
 * a lost, doubled or garbled item ends the run (status 1). */
static double run(struct loop_ring *r, uint64_t items, unsigned burst, uint64_t capacity)
{
	static uintptr_t in[MAX_BURST], out[MAX_BURST];
	uint64_t moved = 0, sum_in = 0, sum_out = 0;
	for (unsigned i = 0; i < burst; i++)
		in[i] = 2 * (uintptr_t)i + 2; /* non-NULL, bit 63 clear */
	uint64_t t0 = ccp_now_ns();
	while (moved < items) {
		uint64_t k = 0, d = 0;
		while (k < capacity) {
			unsigned m = r->enq(r->q, in, burst);
			if (m == 0)
				break;
			for (unsigned i = 0; i < m; i += m - 1 ? m - 1 : 1)
				sum_in += in[i];
			k += m;
		}
		while (d < k) {
			unsigned m = r->deq(r->q, out, burst);
			if (m == 0) {
				fprintf(stderr, "bench_ring_loop: %s: empty with %llu items in it\n",
					r->name, (unsigned long long)(k - d));
				exit(1);
			}
			for (unsigned i = 0; i < m; i += m - 1 ? m - 1 : 1)
				sum_out += out[i];
			d += m;
		}
		moved += k;
	}
	double ns = (double)(ccp_now_ns() - t0) / (double)moved;
	if (sum_in != sum_out || r->deq(r->q, out, 1) != 0) {
		fprintf(stderr, "bench_ring_loop: %s: items lost or doubled\n", r->name);
		exit(1);
	}
	return ns;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_ring_loop [options]\n"
		   "  --burst N     items a burst, 1..%d (32)\n"
		   "  --items N     items a repetition (40000000)\n"
		   "  --reps N      repetitions, the median reported, 1..%d (5)\n"
		   "  --capacity N  ring slots, a power of two (4096)\n",
		MAX_BURST, MAX_REPS);
}

/* FLAG's count S, within [LO, HI]; exits 2 with one line if it is not. */
static uint64_t number(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;
	if (!parse_count(s, lo, hi, &v)) {
		fprintf(stderr, "bench_ring_loop: %s: '%s' is not a number from %llu to %llu\n", flag,
			s, (unsigned long long)lo, (unsigned long long)hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned burst = 32, reps = 5;
	uint64_t items = 40000000, capacity = 4096;
	static const struct option opts[] = { { "burst", required_argument, NULL, 'b' },
					       { "items", required_argument, NULL, 'i' },
					       { "reps", required_argument, NULL, 'r' },
					       { "capacity", required_argument, NULL, 'c' },
					       { "help", no_argument, NULL, 'h' },
					       { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': burst = (unsigned)number("--burst", optarg, 1, MAX_BURST); break;
		case 'i': items = number("--items", optarg, 1, 1ull << 40); break;
		case 'r': reps = (unsigned)number("--reps", optarg, 1, MAX_REPS); break;
		case 'c': capacity = number("--capacity", optarg, 2, 1ull << 30); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (capacity & (capacity - 1)) || burst > capacity) {
		fprintf(stderr, "bench_ring_loop: %s\n",
			optind < argc ? "no arguments are taken, only options"
				      : "--capacity must be a power of two, and --burst at most it");
		return 2;
	}
	struct loop_ring rings[3];
	unsigned n = 0;
	memset(rings, 0, sizeof(rings));
	struct ccp_ring *ours = ccp_ring_create(capacity), *words = NULL;
	rings[n++] = (struct loop_ring){ "ccp_ring", (struct bq *)ours, ccp_enq, ccp_deq, { 0 } };
	if (ours != NULL && ours->wide) {
		/* A NULL one is said below, as any ring that cannot be made. */
		words = ring_words_create(capacity);
		rings[n++] = (struct loop_ring){ "ccp_ring_words", (struct bq *)words, ccp_enq,
						 ccp_deq, { 0 } };
	}
	struct loop_ring *rte_at = &rings[n];
	const struct bq_ops *rte = bq_rte_ops(0);
	if (rte != NULL) {
		struct bq_shape shape = { capacity, items, 1, 1 };
		rings[n++] = (struct loop_ring){ "rte_ring", rte->create(&shape), rte->enq, rte->deq,
						 { 0 } };
	} else {
		printf("rte_ring: skipped (built without DPDK)\n");
	}
	for (unsigned i = 0; i < n; i++)
		if (rings[i].q == NULL) {
			fprintf(stderr, "bench_ring_loop: cannot make %s\n", rings[i].name);
			return 2;
		}
	for (unsigned rep = 0; rep < reps; rep++)
		for (unsigned i = 0; i < n; i++)
			rings[i].ns[rep] = run(&rings[i], items, burst, capacity);
	printf("one thread, bursts of %u, %llu items a repetition, capacity %llu, median of %u:\n",
	       burst, (unsigned long long)items, (unsigned long long)capacity, reps);
	for (unsigned i = 0; i < n; i++) {
		double *ns = rings[i].ns, mid = median(ns, reps);
		printf("  %-14s %6.3f ns an item (%.3f to %.3f)\n", rings[i].name, mid, ns[0],
		       ns[reps - 1]);
	}
	ccp_ring_destroy(ours);
	if (words != NULL)
		ccp_ring_destroy(words);
	if (rte != NULL)
		rte->destroy(rte_at->q);
	return 0;
}

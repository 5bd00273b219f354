/*
 * queues.h: the queues bench_ring measures, behind one small table of calls.
 *
 * Every queue moves opaque non-NULL words (an item's producer and sequence,
 * packed), and every adapter offers the same two calls: enqueue up to n,
 * dequeue up to n, both non-blocking and returning how many moved.  The
 * harness does all waiting (the same spin-then-yield for every queue), so
 * the figures compare the queues and not their wait policies.
 */
#ifndef CCPUMP_BENCH_QUEUES_H
#define CCPUMP_BENCH_QUEUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bq;

/* One run's queue: its slots, and what will pass through it. */
struct bq_shape {
	uint64_t capacity;	/* slots, a power of two (bounded queues) */
	uint64_t per_producer;	/* items each producer enqueues */
	unsigned producers;
	unsigned consumers;	/* one pill each, after every item */
};

struct bq_ops {
	const char *name;
	/* Per-producer FIFO: consumers check it when true. */
	bool fifo;
	/* A queue for one run (unbounded queues preallocate their nodes from
	 * the shape). */
	struct bq *(*create)(const struct bq_shape *shape);
	void (*destroy)(struct bq *q);
	/* Up to n words; returns how many were taken.  Called by any number of
	 * producers (enq) and consumers (deq) at once. */
	unsigned (*enq)(struct bq *q, const uintptr_t *words, unsigned n);
	unsigned (*deq)(struct bq *q, uintptr_t *words, unsigned n);
};

/* DPDK rte_ring adapters (adapter_rte.c); NULL entries when built without
 * DPDK.  mode: 0 default MP/MC, 1 RTS. */
const struct bq_ops *bq_rte_ops(int mode);

#endif /* CCPUMP_BENCH_QUEUES_H */

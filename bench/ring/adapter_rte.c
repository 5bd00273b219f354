/*
 * adapter_rte.c: DPDK rte_ring for bench_ring, in a translation unit of its
 * own because DPDK's headers want their own flags (-include rte_config.h,
 * -march=corei7) and are not clean under the project's warnings.
 *
 * No EAL: rte_ring_init() on memory we allocate needs neither hugepages nor
 * rte_eal_init() (rte_ring_create() would, for its memzone and the shared
 * ring list).  The enqueue and dequeue calls are inline and touch only the
 * ring, so this is the same code path an EAL application runs.
 */
#ifdef CCPUMP_HAVE_DPDK

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wpointer-arith"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <rte_ring.h>
#pragma GCC diagnostic pop

#include <stdio.h>
#include <stdlib.h>

#include "queues.h"

static struct bq *rte_create(uint64_t capacity, unsigned flags)
{
	ssize_t sz = rte_ring_get_memsize((unsigned)capacity);
	if (sz < 0)
		return NULL;
	/* rte_ring_init wants a cache-line aligned ring. */
	size_t bytes = ((size_t)sz + RTE_CACHE_LINE_SIZE - 1) & ~(size_t)(RTE_CACHE_LINE_SIZE - 1);
	struct rte_ring *r = aligned_alloc(RTE_CACHE_LINE_SIZE, bytes);
	if (!r)
		return NULL;
	if (rte_ring_init(r, "bench", (unsigned)capacity, flags) != 0) {
		fprintf(stderr, "bench_ring: rte_ring_init failed\n");
		free(r);
		return NULL;
	}
	return (struct bq *)r;
}

static struct bq *rte_create_mpmc(const struct bq_shape *shape)
{
	return rte_create(shape->capacity, 0);
}

static struct bq *rte_create_rts(const struct bq_shape *shape)
{
	return rte_create(shape->capacity, RING_F_MP_RTS_ENQ | RING_F_MC_RTS_DEQ);
}

static void rte_destroy(struct bq *q)
{
	free(q);
}

/* rte_ring_enqueue_burst dispatches on the ring's sync type, so one pair of
 * calls serves both modes, as in an application. */
static unsigned rte_enq(struct bq *q, const uintptr_t *words, unsigned n)
{
	return rte_ring_enqueue_burst((struct rte_ring *)q, (void *const *)words, n, NULL);
}

static unsigned rte_deq(struct bq *q, uintptr_t *words, unsigned n)
{
	return rte_ring_dequeue_burst((struct rte_ring *)q, (void **)words, n, NULL);
}

static const struct bq_ops rte_mpmc_ops = {
	.name = "rte_ring", .fifo = true, .create = rte_create_mpmc,
	.destroy = rte_destroy, .enq = rte_enq, .deq = rte_deq,
};
static const struct bq_ops rte_rts_ops = {
	.name = "rte_ring_rts", .fifo = true, .create = rte_create_rts,
	.destroy = rte_destroy, .enq = rte_enq, .deq = rte_deq,
};

const struct bq_ops *bq_rte_ops(int mode)
{
	return mode ? &rte_rts_ops : &rte_mpmc_ops;
}

#else /* !CCPUMP_HAVE_DPDK */

#include "queues.h"

const struct bq_ops *bq_rte_ops(int mode)
{
	(void)mode;
	return NULL;
}

#endif

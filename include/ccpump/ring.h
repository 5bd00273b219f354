/*
 * ring.h: a bounded lock-free MPMC ring of pointers, with burst operations.
 *
 * HOW IT WORKS
 * The ring is an array of 2^k slots.  Each slot holds a pointer and a 64-bit
 * sequence word (Vyukov's bounded MPMC queue, extended to bursts).  Producers
 * and consumers each own one free-running 64-bit position counter, on cache
 * lines of their own.  Position p lives in slot p & mask, and the slot's
 * sequence tells whose turn it is:
 *
 *     seq == p              slot is free for the producer of position p
 *     seq == p + 1          slot holds the item of position p, for a consumer
 *     seq == p + capacity   freed by the consumer of p: free for position
 *                           p + capacity (the next lap)
 *
 * A burst enqueue reads the producer position, checks how many of the next
 * n slots are free, claims that many with one compare-and-swap on the
 * position, then fills and publishes each slot with a store-release of its
 * sequence.  A burst dequeue mirrors it.  One CAS per burst, as in DPDK's
 * rte_ring, but no thread ever waits for another thread of its own side:
 * rte_ring's producers spin until earlier producers move the shared tail,
 * so one preempted producer stalls them all (the "lock-waiter preemption"
 * of DPDK's RTS ring).  Here each slot is published on its own; a preempted
 * producer only delays consumers at its own slots, and they see "empty"
 * there instead of spinning.  The caller's wait strategy decides what to do.
 *
 * Positions are 64 bits, so they never wrap in practice (2^64 items at 10^9
 * a second is 584 years) and there is no ABA on sequence words.
 *
 * ORDER
 * Items of one producer are dequeued in the order it enqueued them (its
 * positions increase, and consumers take positions in increasing order); a
 * consumer's burst is a run of consecutive positions.
 *
 * WHICH CALLS MAY RUN AT ONCE
 *                       enqueue_*   dequeue_*   count   init/destroy
 *   enqueue_*            yes         yes         yes     no
 *   dequeue_*            yes         yes         yes     no
 *   count                yes         yes         yes     no
 *
 * PROGRESS
 * Neither side loops on another thread's progress: a failed CAS means some
 * other thread made progress (lock-free in that sense).  A producer stopped
 * between its CAS and its publish makes its slots unreadable until it runs
 * again: consumers behind it report a short burst or empty.  The ring is
 * therefore safe under preemption and with SCHED_FIFO threads, which
 * rte_ring's default mode is not.
 *
 * MEMORY ORDERING
 * An enqueue of x happens-before the dequeue that returns x (release on the
 * slot sequence, R1, pairs with acquire A2).  A consumer's read of a slot
 * happens-before a producer's reuse of it (release R2 pairs with A1).
 */
#ifndef CCPUMP_RING_H
#define CCPUMP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"

struct ccp_ring_slot {
	_Atomic uint64_t seq;
	void *obj;
};

struct ccp_ring {
	/* Read-mostly: written once by init. */
	uint64_t mask;
	uint64_t capacity;
	struct ccp_ring_slot *slots;
	char pad0[CCP_CACHE_GUARD - 3 * sizeof(uint64_t)];
	/* Producer position: written by producers only. */
	_Atomic uint64_t prod_pos CCP_ALIGNED(CCP_CACHE_GUARD);
	char pad1[CCP_CACHE_GUARD - sizeof(uint64_t)];
	/* Consumer position: written by consumers only. */
	_Atomic uint64_t cons_pos CCP_ALIGNED(CCP_CACHE_GUARD);
	char pad2[CCP_CACHE_GUARD - sizeof(uint64_t)];
};

_Static_assert(offsetof(struct ccp_ring, prod_pos) % CCP_CACHE_GUARD == 0,
	       "producer position must start its own cache line pair");
_Static_assert(offsetof(struct ccp_ring, cons_pos) % CCP_CACHE_GUARD == 0,
	       "consumer position must start its own cache line pair");
_Static_assert(offsetof(struct ccp_ring, cons_pos) - offsetof(struct ccp_ring, prod_pos) >=
		       CCP_CACHE_GUARD,
	       "producer and consumer positions must not share a line");

/*
 * Makes a ring of `capacity` slots, a power of two from 2 to 2^30.
 * Returns NULL (errno EINVAL) for any other capacity.  Not thread-safe.
 */
CCP_EXPORT struct ccp_ring *ccp_ring_create(size_t capacity);
/* Frees the ring.  The caller owns the pointers still inside. */
CCP_EXPORT void ccp_ring_destroy(struct ccp_ring *r);

/*
 * How many of the n slots from position pos are ready for this side: a slot
 * at position q is ready when its sequence is q + off (off 0: free for a
 * producer; off 1: full for a consumer).  *seq gets the first sequence that
 * did not match.  A1/A2: acquire, pairing with the other side's release.
 */
static inline unsigned __ccp_ring_ready(const struct ccp_ring *r, uint64_t pos, unsigned n,
					uint64_t off, uint64_t *seq)
{
	unsigned m;
	for (m = 0; m < n; m++) {
		*seq = atomic_load_explicit(&r->slots[(pos + m) & r->mask].seq,
					    memory_order_acquire);
		if (*seq != pos + m + off)
			break;
	}
	return m;
}

/*
 * Claims up to n ready positions on counter *at (prod_pos or cons_pos) with
 * one CAS.  Returns how many, and the first in *first; 0 when none is ready
 * (full for producers, empty for consumers).
 */
static inline unsigned __ccp_ring_claim(struct ccp_ring *r, _Atomic uint64_t *at, unsigned n,
					uint64_t off, uint64_t *first)
{
	/* A0: acquire keeps the slot reads after this load, so a stale position
	 * cannot pair with newer slot state into a false "full" or "empty"
	 * (ck PR #102's spurious full, avoided by ordering). */
	uint64_t pos = atomic_load_explicit(at, memory_order_acquire);
	for (;;) {
		uint64_t seq = 0;
		unsigned m = __ccp_ring_ready(r, pos, n, off, &seq);
		if (m == 0) {
			/* Behind: the slot still holds the previous lap (full), or is
			 * not yet published (empty). */
			if ((int64_t)(seq - (pos + off)) < 0)
				return 0;
			/* Ahead: another thread took position pos; catch up. */
			pos = atomic_load_explicit(at, memory_order_acquire);
			continue;
		}
		/* The CAS only arbitrates who owns the positions; the data
		 * hand-off is ordered by the slot sequences.  Acquire on failure
		 * re-reads the position as A0 does (C11 then wants at least
		 * acquire on success too; free on x86). */
		if (atomic_compare_exchange_weak_explicit(at, &pos, pos + m, memory_order_acquire,
							  memory_order_acquire)) {
			*first = pos;
			return m;
		}
	}
}

/*
 * Enqueues up to n pointers from objs, in order, as one burst.  Returns how
 * many were enqueued: 0 when the ring is full.  Lock-free; any number of
 * producers and consumers may run at once.
 */
static inline unsigned ccp_ring_enqueue_burst_mpmc(struct ccp_ring *r, void *const *objs,
						   unsigned n)
{
	uint64_t pos;
	/* A1 (in __ccp_ring_ready): pairs with R2: the consumer has read each
	 * slot's previous object before we overwrite it. */
	unsigned m = __ccp_ring_claim(r, &r->prod_pos, n, 0, &pos);
	for (unsigned i = 0; i < m; i++) {
		struct ccp_ring_slot *s = &r->slots[(pos + i) & r->mask];
		s->obj = objs[i];
		/* R1: publishes obj; pairs with A2. */
		atomic_store_explicit(&s->seq, pos + i + 1, memory_order_release);
	}
	return m;
}

/*
 * Dequeues up to n pointers into objs, oldest first.  Returns how many:
 * 0 when the ring is empty (or its next item is still being published).
 * Lock-free; any number of producers and consumers may run at once.
 */
static inline unsigned ccp_ring_dequeue_burst_mpmc(struct ccp_ring *r, void **objs, unsigned n)
{
	uint64_t pos;
	/* A2 (in __ccp_ring_ready): pairs with R1: each object is visible. */
	unsigned m = __ccp_ring_claim(r, &r->cons_pos, n, 1, &pos);
	for (unsigned i = 0; i < m; i++) {
		struct ccp_ring_slot *s = &r->slots[(pos + i) & r->mask];
		objs[i] = s->obj;
		/* R2: frees the slot for the next lap; pairs with A1. */
		atomic_store_explicit(&s->seq, pos + i + r->capacity, memory_order_release);
	}
	return m;
}

static inline bool ccp_ring_enqueue_mpmc(struct ccp_ring *r, void *obj)
{
	return ccp_ring_enqueue_burst_mpmc(r, &obj, 1) == 1;
}

static inline bool ccp_ring_dequeue_mpmc(struct ccp_ring *r, void **obj)
{
	return ccp_ring_dequeue_burst_mpmc(r, obj, 1) == 1;
}

/*
 * Items claimed by producers and not yet claimed by consumers: exact when
 * the ring is quiet, a snapshot otherwise.  Thread-safe.
 */
static inline uint64_t ccp_ring_count(const struct ccp_ring *r)
{
	uint64_t c = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
	uint64_t p = atomic_load_explicit(&r->prod_pos, memory_order_acquire);
	return p > c ? p - c : 0;
}

static inline uint64_t ccp_ring_capacity(const struct ccp_ring *r)
{
	return r->capacity;
}

#endif /* CCPUMP_RING_H */

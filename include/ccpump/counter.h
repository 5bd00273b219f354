/*
 * counter.h: statistics counters with one writer and any number of readers.
 *
 * The owning thread adds with a relaxed load and store (no locked
 * instruction: nobody else writes the word); readers load it relaxed and
 * get a value that is at most a little stale.  Nothing is ever decided on
 * these counters, so relaxed ordering is enough.
 */
#ifndef CCPUMP_COUNTER_H
#define CCPUMP_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

/* Adds n; only the counter's owning thread may call it. */
static inline void ccp_counter_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Reads a counter from any thread. */
static inline uint64_t ccp_counter_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

#endif /* CCPUMP_COUNTER_H */

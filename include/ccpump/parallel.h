/*
 * parallel.h: run one small job per index from a few short-lived threads.
 *
 * For work that mostly waits on the device (removing a batch's spool
 * files, syncing an import's mailboxes): each call waits for most of its
 * time, so a few threads overlap the waits.  The threads live for one call;
 * creating them costs microseconds, a call tens of milliseconds.
 */
#ifndef CCPUMP_PARALLEL_H
#define CCPUMP_PARALLEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "ccpump/compiler.h"

/*
 * Calls fn(ctx, i) exactly once for every i in [0, n), on the calling
 * thread and on up to max_extra more threads, one per per_thread indices
 * at least (n < 2 * per_thread: the caller alone).  Returns when every call
 * has returned.  Calls run in no particular order and at the same time, so
 * fn must be safe to run concurrently with itself.  A thread that cannot be
 * started leaves its share to the others.
 */
CCP_EXPORT void ccp_parallel_each(size_t n, size_t per_thread, unsigned max_extra,
				  void (*fn)(void *ctx, size_t i), void *ctx);

#define CCP_PARALLEL_MAX_THREADS 64u

/* A run started by ccp_parallel_start(); the caller owns the storage and
 * must not touch it until ccp_parallel_wait() has returned. */
struct ccp_parallel_run {
	size_t n;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	_Atomic size_t next; /* the next index to hand out */
	pthread_t tid[CCP_PARALLEL_MAX_THREADS];
	unsigned threads;    /* started */
};

/*
 * Like ccp_parallel_each(), but returns at once: fn(ctx, i) runs for every
 * i in [0, n) on up to max_threads new threads, one per per_thread indices
 * (at least one thread), while the caller goes on.  When no thread can be
 * started the calls run on the caller before this returns.  Every call has
 * returned, and its effects are visible, once ccp_parallel_wait(run) has.
 */
CCP_EXPORT void ccp_parallel_start(struct ccp_parallel_run *run, size_t n, size_t per_thread,
				   unsigned max_threads, void (*fn)(void *ctx, size_t i),
				   void *ctx);
CCP_EXPORT void ccp_parallel_wait(struct ccp_parallel_run *run);

#endif /* CCPUMP_PARALLEL_H */

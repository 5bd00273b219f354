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

#endif /* CCPUMP_PARALLEL_H */

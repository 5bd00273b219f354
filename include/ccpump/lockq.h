/*
 * lockq.h: a bounded FIFO of pointers behind one mutex, with condition
 * variables for "not full" and "not empty".
 *
 * This is the queue of the obvious correct fix for KB Q184524 (the pump's
 * --mode mutex) and the baseline the lock-free ring is measured against.
 * Every call may run concurrently with every other; all are blocking.
 */
#ifndef CCPUMP_LOCKQ_H
#define CCPUMP_LOCKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ccpump/compiler.h"

struct ccp_lockq {
	pthread_mutex_t lock;
	pthread_cond_t not_full;
	pthread_cond_t not_empty;
	uint64_t head, tail, mask;   /* under lock */
	unsigned waiting_producers;  /* under lock: skip signals nobody needs */
	unsigned waiting_consumers;
	bool closed;
	void **slots;
};

/* capacity: a power of two >= 2.  Returns -1 (EINVAL) otherwise. */
CCP_EXPORT int ccp_lockq_init(struct ccp_lockq *q, uint64_t capacity);
CCP_EXPORT void ccp_lockq_destroy(struct ccp_lockq *q);

/* Enqueues up to n; with wait, blocks until all n are in (or the queue is
 * closed).  Returns how many were enqueued; *full_waits (if not NULL) is
 * raised by the number of times it found the queue full. */
CCP_EXPORT unsigned ccp_lockq_enqueue_burst(struct ccp_lockq *q, void *const *objs, unsigned n,
					    bool wait, uint64_t *full_waits);
/* Dequeues up to n.  With a deadline (monotonic ns, 0 = none), waits while
 * empty and not closed, until the deadline.  Returns how many. */
CCP_EXPORT unsigned ccp_lockq_dequeue_burst(struct ccp_lockq *q, void **objs, unsigned n,
					    bool wait, uint64_t deadline_ns);
/* Wakes every waiter; later waits return at once when they cannot proceed. */
CCP_EXPORT void ccp_lockq_close(struct ccp_lockq *q);
CCP_EXPORT uint64_t ccp_lockq_count(struct ccp_lockq *q);

#endif /* CCPUMP_LOCKQ_H */

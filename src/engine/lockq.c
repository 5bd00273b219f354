/*
 * lockq.c: the mutex-and-condition-variable queue.
 */
#include "ccpump/lockq.h"

#include <errno.h>
#include <time.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"

int ccp_lockq_init(struct ccp_lockq *q, uint64_t capacity)
{
	if (capacity < 2 || (capacity & (capacity - 1))) {
		errno = EINVAL;
		return -1;
	}
	pthread_condattr_t ca;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->not_full, &ca);
	pthread_cond_init(&q->not_empty, &ca);
	pthread_condattr_destroy(&ca);
	q->head = q->tail = 0;
	q->mask = capacity - 1;
	q->waiting_producers = q->waiting_consumers = 0;
	q->closed = false;
	q->slots = ccp_calloc(capacity, sizeof(void *));
	return 0;
}

void ccp_lockq_destroy(struct ccp_lockq *q)
{
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
	ccp_free(q->slots);
}

unsigned ccp_lockq_enqueue_burst(struct ccp_lockq *q, void *const *objs, unsigned n, bool wait,
				 uint64_t *full_waits)
{
	unsigned done = 0;
	pthread_mutex_lock(&q->lock);
	while (done < n) {
		uint64_t space = q->mask + 1 - (q->tail - q->head);
		if (space == 0) {
			if (full_waits)
				(*full_waits)++;
			if (!wait || q->closed)
				break;
			q->waiting_producers++;
			pthread_cond_wait(&q->not_full, &q->lock);
			q->waiting_producers--;
			continue;
		}
		unsigned k = n - done < space ? n - done : (unsigned)space;
		for (unsigned i = 0; i < k; i++)
			q->slots[(q->tail + i) & q->mask] = objs[done + i];
		q->tail += k;
		done += k;
		if (q->waiting_consumers)
			pthread_cond_broadcast(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
	return done;
}

unsigned ccp_lockq_dequeue_burst(struct ccp_lockq *q, void **objs, unsigned n, bool wait,
				 uint64_t deadline_ns)
{
	unsigned k = 0;
	pthread_mutex_lock(&q->lock);
	while (q->tail == q->head && wait && !q->closed) {
		q->waiting_consumers++;
		if (deadline_ns) {
			struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
					       .tv_nsec = (long)(deadline_ns % 1000000000u) };
			int rc = pthread_cond_timedwait(&q->not_empty, &q->lock, &ts);
			q->waiting_consumers--;
			if (rc == ETIMEDOUT)
				break;
		} else {
			pthread_cond_wait(&q->not_empty, &q->lock);
			q->waiting_consumers--;
		}
	}
	uint64_t avail = q->tail - q->head;
	k = avail < n ? (unsigned)avail : n;
	for (unsigned i = 0; i < k; i++)
		objs[i] = q->slots[(q->head + i) & q->mask];
	q->head += k;
	if (k && q->waiting_producers)
		pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return k;
}

void ccp_lockq_close(struct ccp_lockq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_full);
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

uint64_t ccp_lockq_count(struct ccp_lockq *q)
{
	pthread_mutex_lock(&q->lock);
	uint64_t c = q->tail - q->head;
	pthread_mutex_unlock(&q->lock);
	return c;
}

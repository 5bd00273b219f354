/*
 * parallel.c: see include/ccpump/parallel.h.
 */
#include "ccpump/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#define CCP_PARALLEL_MAX_EXTRA 64u

struct job {
	size_t n;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	/* Relaxed: the fetch-add alone hands out each index once; the job was
	 * written before pthread_create and is read back after pthread_join,
	 * which order everything else. */
	_Atomic size_t next;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	while ((i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n)
		j->fn(j->ctx, i);
	return NULL;
}

void ccp_parallel_each(size_t n, size_t per_thread, unsigned max_extra,
		       void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct job j = { .n = n, .fn = fn, .ctx = ctx };
	atomic_init(&j.next, 0);
	pthread_t tid[CCP_PARALLEL_MAX_EXTRA];
	size_t want = per_thread ? n / per_thread : 0;
	if (want > 0)
		want--; /* the caller takes one share */
	if (want > max_extra)
		want = max_extra;
	if (want > CCP_PARALLEL_MAX_EXTRA)
		want = CCP_PARALLEL_MAX_EXTRA;
	size_t k = 0;
	while (k < want && pthread_create(&tid[k], NULL, worker, &j) == 0)
		k++;
	worker(&j);
	for (size_t i = 0; i < k; i++)
		pthread_join(tid[i], NULL);
}

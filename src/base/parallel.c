/*
 * parallel.c: see include/ccpump/parallel.h.
 */
#include "ccpump/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

static void *run_worker(void *arg)
{
	struct ccp_parallel_run *r = arg;
	size_t i;
	/* Relaxed: the fetch-add alone hands out each index once; the run was
	 * written before pthread_create and is read back after pthread_join,
	 * which order everything else. */
	while ((i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < r->n)
		r->fn(r->ctx, i);
	return NULL;
}

/* Sets up run and starts up to `want` threads on it. */
static void run_begin(struct ccp_parallel_run *run, size_t n, void (*fn)(void *ctx, size_t i),
		      void *ctx, size_t want)
{
	run->n = n;
	run->fn = fn;
	run->ctx = ctx;
	run->threads = 0;
	atomic_init(&run->next, 0);
	if (want > CCP_PARALLEL_MAX_THREADS)
		want = CCP_PARALLEL_MAX_THREADS;
	while (run->threads < want &&
	       pthread_create(&run->tid[run->threads], NULL, run_worker, run) == 0)
		run->threads++;
}

void ccp_parallel_each(size_t n, size_t per_thread, unsigned max_extra,
		       void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct ccp_parallel_run run;
	size_t want = per_thread ? n / per_thread : 0;
	if (want > 0)
		want--; /* the caller takes one share */
	run_begin(&run, n, fn, ctx, want < max_extra ? want : max_extra);
	run_worker(&run);
	ccp_parallel_wait(&run);
}

void ccp_parallel_start(struct ccp_parallel_run *run, size_t n, size_t per_thread,
			unsigned max_threads, void (*fn)(void *ctx, size_t i), void *ctx)
{
	size_t want = per_thread ? n / per_thread : 1;
	if (want < 1)
		want = 1;
	run_begin(run, n, fn, ctx, want < max_threads ? want : max_threads);
	if (run->threads == 0)
		run_worker(run); /* no thread: the caller does it all, now */
}

void ccp_parallel_wait(struct ccp_parallel_run *run)
{
	for (unsigned i = 0; i < run->threads; i++)
		pthread_join(run->tid[i], NULL);
	run->threads = 0;
}

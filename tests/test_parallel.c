/*
 * ccp_parallel_each: every index exactly once, whatever the split, and the
 * work really spread over more than one thread when there is enough of it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ccpump/parallel.h"

#define MAX_N 5000

struct ctx {
	_Atomic unsigned calls[MAX_N];
	pthread_t who[MAX_N];
};

static struct ctx c;

static void mark(void *arg, size_t i)
{
	struct ctx *x = arg;
	CHECK(i < MAX_N);
	atomic_fetch_add_explicit(&x->calls[i], 1, memory_order_relaxed);
	x->who[i] = pthread_self(); /* each index is written by one call only */
}

static _Atomic int company;
static pthread_t first;

/* Until `company` (which only grows: 0, 1, 2) is at least AT_LEAST, 10 s
 * at most; its value then.  Acquire: pairs with the release stores below. */
static int await_company(int at_least)
{
	struct timespec ts = { 0, 1000000 };
	for (int t = 0; t < 10000 && atomic_load_explicit(&company, memory_order_acquire) < at_least;
	     t++)
		nanosleep(&ts, NULL);
	return atomic_load_explicit(&company, memory_order_acquire);
}

static void wait_for_company(void *arg, size_t i)
{
	struct ctx *x = arg;
	if (i == 0) {
		first = pthread_self();
		/* Release: pairs with the acquire below; others compare to first. */
		atomic_store_explicit(&company, 1, memory_order_release);
		CHECK(await_company(2) == 2);
	} else {
		/* Not before the call of index 0 has begun: index 0 is handed out
		 * first, so it is on its way, but a thread descheduled between
		 * taking it and saying so (a loaded machine, ThreadSanitizer)
		 * let the other threads run every other call meanwhile, and then
		 * no call was left to meet it: the test failed, not the code. */
		if (await_company(1) == 1 && !pthread_equal(first, pthread_self()))
			atomic_store_explicit(&company, 2, memory_order_release);
	}
	mark(x, i);
}

static void run(size_t n, size_t per, unsigned extra)
{
	for (size_t i = 0; i < MAX_N; i++)
		atomic_store_explicit(&c.calls[i], 0, memory_order_relaxed);
	ccp_parallel_each(n, per, extra, mark, &c);
	for (size_t i = 0; i < MAX_N; i++)
		CHECK_EQ_U64(atomic_load_explicit(&c.calls[i], memory_order_relaxed), i < n ? 1 : 0);
}

static unsigned distinct_threads(size_t n)
{
	unsigned d = 0;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = pthread_equal(c.who[k], c.who[i]);
		d += !seen;
	}
	return d;
}

int main(void)
{
	static const size_t ns[] = { 0, 1, 2, 7, 31, 32, 33, 64, 1000, MAX_N };
	static const size_t pers[] = { 0, 1, 4, 32, 100000 };
	static const unsigned extras[] = { 0, 1, 8, 1000 };
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
		for (size_t b = 0; b < sizeof(pers) / sizeof(pers[0]); b++)
			for (size_t e = 0; e < sizeof(extras) / sizeof(extras[0]); e++)
				run(ns[a], pers[b], extras[e]);

	/* The caller alone: below two shares, or with no extra thread allowed. */
	run(63, 32, 8);
	CHECK_EQ_U64(distinct_threads(63), 1);
	CHECK(pthread_equal(c.who[0], pthread_self()));
	run(MAX_N, 1, 0);
	CHECK_EQ_U64(distinct_threads(MAX_N), 1);
	/* With extra threads allowed, the call of index 0 waits until another
	 * thread has run a call: only extra threads can get past it, so this
	 * finishes only if they exist (a 10 s limit turns a hang into a
	 * failure).  Every index still runs once, on at most 1 + 4 threads. */
	for (size_t i = 0; i < MAX_N; i++)
		atomic_store_explicit(&c.calls[i], 0, memory_order_relaxed);
	ccp_parallel_each(MAX_N, 1, 4, wait_for_company, &c);
	for (size_t i = 0; i < MAX_N; i++)
		CHECK_EQ_U64(atomic_load_explicit(&c.calls[i], memory_order_relaxed), 1);
	unsigned d = distinct_threads(MAX_N);
	CHECK(d >= 2 && d <= 5);
	puts("test_parallel: ok");
	return 0;
}

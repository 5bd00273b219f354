/*
 * hostprobe.c: the cache-line round trip between two CPUs.
 *
 * The two threads take turns on one counter: the first writes odd values,
 * the second even ones, each waiting for the other's.  A round trip is two
 * handovers of the line.  Both threads wait with a deadline, so a partner
 * the scheduler never runs (or a pin the kernel ignored) ends the probe
 * rather than hanging it.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_* */
#include "ccpump/hostprobe.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/clock.h"

#define PROBE_ROUND_TRIPS 256u /* per timed round: clock reads out of the figure */
#define PROBE_ROUNDS 64u
#define PROBE_BUDGET_NS 50000000ull

struct probe {
	/* The line handed over, alone on its own pair of lines. */
	_Atomic uint64_t turn CCP_ALIGNED(CCP_CACHE_GUARD);
	_Atomic int stop CCP_ALIGNED(CCP_CACHE_GUARD);
	uint64_t deadline_ns;
	unsigned cpu[2];
	_Atomic int ready; /* threads pinned and waiting: the timing may begin */
	bool pin_failed[2];
	unsigned rounds;
	double round_ns[PROBE_ROUNDS];
};

static bool pin_self(unsigned cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

/* Waits until turn is `want`; false once the probe is stopped or late. */
static bool await_turn(struct probe *p, uint64_t want)
{
	for (unsigned spins = 0;; spins++) {
		/* A: pairs with the release store of the other thread's turn. */
		if (atomic_load_explicit(&p->turn, memory_order_acquire) == want)
			return true;
		ccp_cpu_relax();
		if ((spins & 1023u) == 1023u &&
		    (atomic_load_explicit(&p->stop, memory_order_relaxed) ||
		     ccp_now_ns() > p->deadline_ns))
			return false;
	}
}

/* The second CPU's side: answers every odd turn with the next even one. */
static void *partner_main(void *arg)
{
	struct probe *p = arg;
	p->pin_failed[1] = !pin_self(p->cpu[1]);
	/* R: pairs with the acquire in the first side's wait for `ready`;
	 * publishes pin_failed[1]. */
	atomic_fetch_add_explicit(&p->ready, 1, memory_order_release);
	for (uint64_t t = 1;; t += 2) {
		if (!await_turn(p, t))
			return NULL;
		/* R: pairs with the acquire in the first side's await_turn(). */
		atomic_store_explicit(&p->turn, t + 1, memory_order_release);
	}
}

/* The first CPU's side: times rounds of round trips. */
static void *timer_main(void *arg)
{
	struct probe *p = arg;
	p->pin_failed[0] = !pin_self(p->cpu[0]);
	/* A: pairs with the partner's release increment of `ready`. */
	while (atomic_load_explicit(&p->ready, memory_order_acquire) == 0) {
		if (ccp_now_ns() > p->deadline_ns)
			goto out;
		ccp_cpu_relax();
	}
	if (p->pin_failed[0] || p->pin_failed[1])
		goto out;
	uint64_t t = 0;
	for (unsigned r = 0; r < PROBE_ROUNDS; r++) {
		uint64_t t0 = ccp_now_ns();
		for (unsigned i = 0; i < PROBE_ROUND_TRIPS; i++, t += 2) {
			/* R: pairs with the acquire in the partner's await_turn(). */
			atomic_store_explicit(&p->turn, t + 1, memory_order_release);
			if (!await_turn(p, t + 2))
				goto out;
		}
		p->round_ns[p->rounds++] = (double)(ccp_now_ns() - t0) / PROBE_ROUND_TRIPS;
	}
out:
	atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

bool ccp_host_probe_round_trip(struct ccp_host_probe *out)
{
	memset(out, 0, sizeof(*out));
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return false;
	unsigned found = 0, cpu[2] = { 0, 0 };
	for (unsigned c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &allowed))
			cpu[found++] = c;
	if (found < 2)
		return false;

	/* Heap, not stack: aligned to its guard, and the threads' only copy. */
	struct probe *p = aligned_alloc(CCP_CACHE_GUARD,
					(sizeof(*p) + CCP_CACHE_GUARD - 1) / CCP_CACHE_GUARD *
						CCP_CACHE_GUARD);
	if (p == NULL)
		return false;
	memset(p, 0, sizeof(*p));
	p->cpu[0] = cpu[0];
	p->cpu[1] = cpu[1];
	p->deadline_ns = ccp_now_ns() + PROBE_BUDGET_NS;
	pthread_t th[2];
	bool started[2] = { false, false };
	started[1] = pthread_create(&th[1], NULL, partner_main, p) == 0;
	if (started[1])
		started[0] = pthread_create(&th[0], NULL, timer_main, p) == 0;
	/* A timer that never started stops nothing: stop the partner here. */
	if (!started[0])
		atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	for (int i = 1; i >= 0; i--)
		if (started[i])
			pthread_join(th[i], NULL);

	/* The joins order the threads' plain writes before these reads. */
	if (p->rounds > 0) {
		qsort(p->round_ns, p->rounds, sizeof(p->round_ns[0]), cmp_double);
		out->round_trip_ns = p->round_ns[p->rounds / 2];
		out->cpu_a = cpu[0];
		out->cpu_b = cpu[1];
		out->measured = true;
	}
	free(p);
	return out->measured;
}

static void json_side(FILE *out, const char *name, const struct ccp_host_probe *h)
{
	if (h->measured)
		fprintf(out, "\"%s\":%.1f", name, h->round_trip_ns);
	else
		fprintf(out, "\"%s\":null", name);
}

void ccp_host_probe_json(FILE *out, const struct ccp_host_probe *before,
			 const struct ccp_host_probe *after)
{
	fprintf(out, "\"host_round_trip_ns\":{");
	json_side(out, "before", before);
	fputc(',', out);
	json_side(out, "after", after);
	fputc('}', out);
}

void ccp_host_probe_print(FILE *out, const struct ccp_host_probe *h)
{
	if (h->measured)
		fprintf(out, "%.0f ns", h->round_trip_ns);
	else
		fputc('-', out);
}

/*
 * gate.c: pausing deliveries while the relay cannot deliver (gate.h).
 */
#include "relay/gate.h"

#include <stdio.h>
#include <time.h>

#include "ccpump/clock.h"
#include "ccpump/log.h"

void ccp_gate_init(struct ccp_gate *g, uint64_t retry_min_ns, uint64_t retry_max_ns,
		   const _Atomic int *stop)
{
	*g = (struct ccp_gate){ .retry_min_ns = retry_min_ns, .retry_max_ns = retry_max_ns,
				.stop = stop };
	pthread_mutex_init(&g->mu, NULL);
}

void ccp_gate_destroy(struct ccp_gate *g)
{
	pthread_mutex_destroy(&g->mu);
}

enum ccp_gate_pass ccp_gate_pass(struct ccp_gate *g)
{
	for (;;) {
		enum ccp_gate_pass pass = CCP_GATE_HELD;
		uint64_t now = ccp_now_ns(), wait = 0;
		pthread_mutex_lock(&g->mu);
		if (!g->paused) {
			pass = CCP_GATE_OPEN;
		} else if (atomic_load_explicit(g->stop, memory_order_relaxed)) {
			/* Paused and stopping: no probe (an import of up to
			 * --import-timeout) on the way out (gate.h). */
		} else if (!g->probing && now >= g->next_ns) {
			g->probing = true;
			pass = CCP_GATE_PROBE;
		} else {
			wait = g->next_ns > now ? g->next_ns - now : 0;
		}
		pthread_mutex_unlock(&g->mu);
		if (pass != CCP_GATE_HELD)
			return pass;
		if (atomic_load_explicit(g->stop, memory_order_relaxed))
			return CCP_GATE_HELD;
		/* A tenth of a second at most, to see a stop or a flush; 10 ms
		 * while another dispatcher's probe is out. */
		ccp_sleep_ns(wait == 0 ? 10000000u : wait < 100000000u ? wait : 100000000u);
	}
}

bool ccp_gate_report(struct ccp_gate *g, enum ccp_gate_pass pass, const char *outage, bool tried)
{
	uint64_t now = ccp_now_ns();
	bool resumed = false;
	pthread_mutex_lock(&g->mu);
	if (pass == CCP_GATE_PROBE)
		g->probing = false;
	if (outage[0]) {
		g->batches++;
		snprintf(g->reason, sizeof(g->reason), "%s", outage);
		if (!g->paused) {
			g->paused = true;
			g->since_ns = now;
			g->backoff_ns = g->retry_min_ns;
			g->next_ns = now + g->backoff_ns;
			ccp_log(CCP_LOG_WARN, "relay: deliveries paused: %s; the messages wait in the "
				"spool, the next try in %.1f s", outage, (double)g->backoff_ns / 1e9);
		} else if (pass == CCP_GATE_PROBE) {
			g->backoff_ns = 2 * g->backoff_ns < g->retry_max_ns ? 2 * g->backoff_ns
									    : g->retry_max_ns;
			g->next_ns = now + g->backoff_ns;
			ccp_log(CCP_LOG_WARN, "relay: deliveries still paused after %.1f s: %s; the "
				"next try in %.1f s", (double)(now - g->since_ns) / 1e9, outage,
				(double)g->backoff_ns / 1e9);
		}
	} else if (tried && g->paused && pass == CCP_GATE_PROBE) {
		/* Only a probe says the outage is over: a batch let through
		 * before the pause began (another dispatcher's, in its import
		 * when this one met the outage) proves nothing of it, and
		 * resuming on it would start the next pause's backoff afresh. */
		g->paused = false;
		ccp_log(CCP_LOG_WARN, "relay: deliveries resumed after %.1f s paused (%llu batches "
			"postponed)", (double)(now - g->since_ns) / 1e9, (unsigned long long)g->batches);
		g->batches = 0;
		resumed = true;
	}
	pthread_mutex_unlock(&g->mu);
	return resumed;
}

uint64_t ccp_gate_try_now(struct ccp_gate *g)
{
	uint64_t now = ccp_now_ns(), d = 0;
	pthread_mutex_lock(&g->mu);
	if (g->paused) {
		g->next_ns = now;
		d = now - g->since_ns;
	}
	pthread_mutex_unlock(&g->mu);
	return d;
}

uint64_t ccp_gate_paused_for(struct ccp_gate *g, char *why, size_t cap)
{
	uint64_t d = 0;
	pthread_mutex_lock(&g->mu);
	if (g->paused) {
		d = ccp_now_ns() - g->since_ns;
		snprintf(why, cap, "%s", g->reason);
	}
	pthread_mutex_unlock(&g->mu);
	return d;
}

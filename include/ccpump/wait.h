/*
 * wait.h: how a pump thread waits when its side of the ring cannot move.
 *
 * Pollers wait when the ring is full (nothing is ever dropped); dispatchers
 * wait when it is empty.  Three strategies, chosen per pump:
 *
 *   spin   pause-loop on the condition: lowest latency, burns its core.
 *   yield  sched_yield() between checks: gives the core to runnable peers
 *          (on an oversubscribed machine, the thread we wait for).
 *   block  first yield a few times (on a machine with more pump threads
 *          than cores, the thread we wait for is often runnable and only
 *          needs our core), then wait on a Concurrency Kit event count
 *          (ck_ec): a short spin, then sleep in the kernel on a futex until
 *          the other side signals.  An idle pump uses no CPU.
 *
 * An event is the eventcount pattern: take a snapshot, re-check the
 * condition, and wait only while the count still equals the snapshot, so a
 * signal between the check and the sleep is never missed (ck_ec sets a
 * "has waiters" bit before sleeping; ck_ec32_add wakes only when it is set,
 * so signals cost one atomic add while nobody sleeps).
 */
#ifndef CCPUMP_WAIT_H
#define CCPUMP_WAIT_H

#include <stdint.h>

#include <ck_ec.h>

#include "ccpump/compiler.h"

enum ccp_wait_kind { CCP_WAIT_SPIN, CCP_WAIT_YIELD, CCP_WAIT_BLOCK };

CCP_EXPORT const char *ccp_wait_name(enum ccp_wait_kind k);
/* Parses "spin", "yield" or "block".  Returns 0, or -1 for anything else. */
CCP_EXPORT int ccp_wait_parse(const char *s, enum ccp_wait_kind *out);

struct ccp_event {
	struct ck_ec32 ec;
} CCP_ALIGNED(CCP_CACHE_GUARD);

CCP_EXPORT extern const struct ck_ec_mode ccp_ec_mode_mp;

/* Its sleeps after the spin: a first step of 1 ms, each next one 8 times
 * the last, until one second, then to the deadline (or until woken). */
#define CCP_WAIT_FIRST_STEP_NS 1000000
#define CCP_WAIT_STEP_SCALE 8

static inline void ccp_event_init(struct ccp_event *e)
{
	ck_ec32_init(&e->ec, 0);
}

/* Acquire: a waiter that sees a new value sees what the signaller wrote
 * before signalling. */
static inline uint32_t ccp_event_snapshot(struct ccp_event *e)
{
	return ck_ec32_value(&e->ec);
}

/* Adds n and wakes sleepers, if any.  A full barrier (lock xadd on x86). */
static inline void ccp_event_signal(struct ccp_event *e, uint32_t n)
{
	ck_ec32_add(&e->ec, &ccp_ec_mode_mp, n);
}

/*
 * Sleeps until the event moves past `snapshot` (0) or the absolute
 * CLOCK_MONOTONIC `deadline` passes (-1), by MODE's clock and futex.
 * Unlike a bare ck_ec32_wait(), no sleep runs past the deadline: ck_ec's
 * growing steps (1, 8, 64, 512 ms with ccp_ec_mode_mp) are each cut at it.
 */
CCP_EXPORT int ccp_event_wait_until(struct ccp_event *e, const struct ck_ec_mode *mode,
				    uint32_t snapshot, const struct timespec *deadline);

/* Yields before a blocking wait sleeps (see above). */
#define CCP_WAIT_BLOCK_YIELDS 16

/*
 * One wait step of strategy k: returns when the event may have moved past
 * `snapshot`, when deadline_ns (monotonic, 0 = none) has passed, or after
 * one short pause.  *idle counts the caller's consecutive fruitless steps:
 * the caller sets it to 0 whenever it makes progress.  The caller re-checks
 * its condition either way.
 */
CCP_EXPORT void ccp_wait_step(enum ccp_wait_kind k, struct ccp_event *e, uint32_t snapshot,
			      uint64_t deadline_ns, unsigned *idle);

#endif /* CCPUMP_WAIT_H */

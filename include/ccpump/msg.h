/*
 * msg.h: the message record and its state word.
 *
 * One record stands for one message (one key) while it is live.  Its state
 * word decides, with one atomic operation per transition, who may do what
 * with the message.  This is what makes KB Q184524's double enqueue
 * impossible: two pollers that saw the same notification both try NEW ->
 * QUEUED, exactly one compare-and-swap succeeds, and the loser is told so.
 *
 *                  claim (CAS, pollers race here)
 *        +-----+  ------------------------------->  +--------+
 *        | NEW |                                    | QUEUED | <---------+
 *        +-----+                                    +--------+           |
 *                                                       | begin_dispatch |
 *                                                       v (owner only)   |
 *                                                 +-------------+        |
 *                        +----------------------- | DISPATCHING | ---+   | requeue
 *                        | deliver                +-------------+    |   | (timer,
 *                        v                            | fail         |   |  attempt+1)
 *                  +-----------+                      v              |   |
 *                  | DELIVERED |                 +--------+   defer  | +----------+
 *                  +-----------+                 | FAILED |          +>| DEFERRED |
 *                   (retired)                    +--------+            +----------+
 *                                                 (retired)
 *
 * The word holds the state in its low 8 bits and the attempt number in its
 * high 32 bits.  A claim sets attempt 1; each requeue adds one.  Every
 * transition after the claim compares the whole word, so a stale holder of
 * an earlier attempt (a dispatcher that lost track of a retried message) can
 * never move the message of a later attempt: its CAS fails.
 *
 * Terminal states are DELIVERED and FAILED.  Nothing leaves them; the record
 * stays in the registry as a tombstone until no late notification can reach
 * it (docs/design.md, "Retiring a record"), then it is freed.
 */
#ifndef CCPUMP_MSG_H
#define CCPUMP_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ccpump/rcu.h" /* the RCU flavour must precede rculfhash.h */
#include <urcu/rculfhash.h>

#include "ccpump/compiler.h"

enum ccp_msg_state {
	CCP_MSG_NEW = 0,
	CCP_MSG_QUEUED = 1,
	CCP_MSG_DISPATCHING = 2,
	CCP_MSG_DELIVERED = 3,
	CCP_MSG_DEFERRED = 4,
	CCP_MSG_FAILED = 5,
};

#define CCP_MSG_STATE_MASK 0xffu
#define CCP_MSG_ATTEMPT_SHIFT 32

struct ccp_msg {
	/* The state word.  All transitions go through the functions below. */
	_Atomic uint64_t state;
	/* Registry linkage (liburcu lock-free hash table node). */
	struct cds_lfht_node node;
	/* First notification, monotonic ns: the start of the latency clock. */
	uint64_t first_seen_ns;
	/* DEFERRED only: when the retry is due (monotonic ns).  Owner-written. */
	uint64_t due_ns;
	/* Size of the user area that follows the key. */
	uint32_t user_size;
	uint32_t key_len;
	/* What an earlier run of the process spent on this message, kept with
	 * it at the source (the relay's Deferred/ markers): attempts made and
	 * seconds since its first attempt.  Set by the source's init_msg, 0
	 * otherwise; counted against max_attempts and max_age_ns, so limits
	 * hold across restarts. */
	uint32_t attempts_before;
	uint32_t age_before_s;
	/* Attempts the sink postponed (CCP_VERDICT_POSTPONED): not the
	 * message's, so not counted, but the step of the postponements' own
	 * backoff (ccp_pump_retry_delay()).  Written by the dispatcher that
	 * owns the record (DISPATCHING), read by it and by later owners,
	 * ordered by the state word's transitions as the record's other
	 * fields are. */
	uint32_t postponed;
	/* Set when the pump ended the message's retries (max_attempts or
	 * max_age_ns): its FAILED outcome is the pump's, not the sink's, and
	 * the source's ack may need to record why (the relay writes Bad's
	 * reason then).  Written by the owning dispatcher before the FAILED
	 * transition that publishes it. */
	uint32_t retries_ended;
	/* Whether the sink postponed its last try (ccp_pump_retry_postponed_
	 * now() makes those due).  Written by the owning dispatcher. */
	uint32_t last_postponed;
	/* NUL-terminated key; the user area starts at the next 16-byte boundary. */
	char key[];
};

static inline uint64_t ccp_msg_word(enum ccp_msg_state s, uint32_t attempt)
{
	return ((uint64_t)attempt << CCP_MSG_ATTEMPT_SHIFT) | (uint64_t)s;
}

static inline enum ccp_msg_state ccp_msg_word_state(uint64_t w)
{
	return (enum ccp_msg_state)(w & CCP_MSG_STATE_MASK);
}

static inline uint32_t ccp_msg_word_attempt(uint64_t w)
{
	return (uint32_t)(w >> CCP_MSG_ATTEMPT_SHIFT);
}

CCP_EXPORT const char *ccp_msg_state_name(enum ccp_msg_state s);

/* Whether S is terminal: DELIVERED or FAILED, which nothing leaves. */
static inline bool ccp_msg_state_settled(enum ccp_msg_state s)
{
	return s == CCP_MSG_DELIVERED || s == CCP_MSG_FAILED;
}

/* The attempts made on m by the state word W, counting an earlier run's
 * (attempts_before) and leaving out those the sink postponed: what limits,
 * backoff and reports go by.  (The word's own count, which postponements
 * advance too, is the record's generation.) */
static inline uint32_t ccp_msg_attempts(const struct ccp_msg *m, uint64_t w)
{
	return ccp_msg_word_attempt(w) + m->attempts_before - m->postponed;
}

/* The user area (source- or sink-defined bytes), 16-byte aligned. */
static inline void *ccp_msg_user(struct ccp_msg *m)
{
	uintptr_t p = (uintptr_t)(m->key + m->key_len + 1);
	return (void *)((p + 15) & ~(uintptr_t)15);
}

/* Reads the state word.  Acquire: pairs with the release of every
 * transition, so what the last mover wrote before its transition is seen. */
static inline uint64_t ccp_msg_load(const struct ccp_msg *m)
{
	return atomic_load_explicit((_Atomic uint64_t *)&m->state, memory_order_acquire);
}

/*
 * One transition: if the word is still `*expected`, make it `desired` and
 * return true.  Otherwise return false and leave the word found in
 * *expected.  acq_rel on success: the winner sees its predecessor's writes
 * and publishes its own.  Acquire on failure too: a loser that looks at the
 * record afterwards sees the winner's writes (the lesson of Linux's
 * "Make test_and_*_bit() ordered on failure").
 */
static inline bool ccp_msg_cas(struct ccp_msg *m, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(&m->state, expected, desired,
						       memory_order_acq_rel,
						       memory_order_acquire);
}

/*
 * NEW -> QUEUED, attempt 1.  Any number of threads may race; exactly one
 * returns true and owns the message (it must enqueue it).  Lock-free.
 */
static inline bool ccp_msg_claim(struct ccp_msg *m)
{
	uint64_t w = ccp_msg_word(CCP_MSG_NEW, 0);
	/* Test, then compare-and-swap: most notifications are for a message
	 * already claimed, and a plain load leaves the record's line shared,
	 * where even a failing CAS takes it exclusive from the core that is
	 * dispatching the message.  No word returns to NEW's (the state
	 * machine only moves on), so a load that sees another is as final as a
	 * failed CAS; acquire, as the CAS's failure order, for the same
	 * reason. */
	if (ccp_msg_load(m) != w)
		return false;
	return ccp_msg_cas(m, &w, ccp_msg_word(CCP_MSG_QUEUED, 1));
}

/*
 * QUEUED -> DISPATCHING by the thread that dequeued the message.  Returns
 * the new word, which the dispatcher passes to ccp_msg_finish().  Only the
 * owner may call it; a failure is a broken invariant and aborts.
 */
CCP_EXPORT uint64_t ccp_msg_begin_dispatch(struct ccp_msg *m);

/*
 * DISPATCHING(word) -> to (DELIVERED, DEFERRED or FAILED), same attempt.
 * Returns false if the word is no longer `word` (someone else moved it:
 * with the pump's own threads this cannot happen, and the pump aborts).
 */
static inline bool ccp_msg_finish(struct ccp_msg *m, uint64_t word, enum ccp_msg_state to)
{
	return ccp_msg_cas(m, &word, ccp_msg_word(to, ccp_msg_word_attempt(word)));
}

/*
 * DEFERRED -> QUEUED with attempt + 1, by the retry timer.  Returns true if
 * this caller requeued it (and must enqueue it).  Lock-free.
 */
static inline bool ccp_msg_requeue(struct ccp_msg *m)
{
	uint64_t w = ccp_msg_load(m);
	if (ccp_msg_word_state(w) != CCP_MSG_DEFERRED)
		return false;
	return ccp_msg_cas(m, &w, ccp_msg_word(CCP_MSG_QUEUED, ccp_msg_word_attempt(w) + 1));
}

#endif /* CCPUMP_MSG_H */

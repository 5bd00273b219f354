/*
 * pump.c: poller and dispatcher threads around the ring, the registry and
 * the state word.
 *
 * HOW IT WORKS
 * A poller takes up to notes_per_poll notifications from its source inside
 * one RCU read-side section, so that "the key was observed" and "the key
 * was looked up" happen in the same section (registry.h explains why that
 * makes retirement safe).  For each key it finds or adds the record and
 * tries to claim it; the winners go into the ring as one burst after the
 * section ends.  A poller that finds the ring full waits (strategy of the
 * configuration) and never drops: a claimed message has exactly one owner,
 * the poller, until it is in the ring.
 *
 * A dispatcher dequeues up to `batch` records, moves each QUEUED ->
 * DISPATCHING, hands the batch to the sink, and settles each verdict with
 * one more transition.  Final outcomes are acknowledged to the source, then
 * the record is retired.  Retries wait in the dispatcher's own timer heap
 * (nobody else can see them, so no lock) and go to the sink again in a
 * later batch with attempt + 1.
 *
 * WAITING
 * With wait block and several dispatchers, one idle dispatcher at a time
 * watches the ring (it yields, then sleeps on `items`, which every enqueue
 * signals); the other idle ones sleep on `handover` without yielding.  A
 * dispatcher about to hand a batch to the sink while nobody watches
 * signals `handover`, so the sleepers wake (ck_ec wakes them all) and one
 * takes up the watch: an idle dispatcher is always watching or about to,
 * and messages that arrive while the others deliver find it.  Letting every
 * idle dispatcher yield made them take turns yielding to each other on one
 * core, and wake at every enqueue: two to three times the context switches
 * (docs/performance.md).
 *
 * A sleeper must also not sleep through what ends its wait: the end of the
 * pollers, a stop, a retry call.  Each of these changes its state, then
 * signals both events; a dispatcher reads that state once a round (`struct
 * seen`), decides by it, takes its event snapshot, and before sleeping
 * reads the state again: changed since, it goes round once more instead.
 * A change after the snapshot signals past it, so the sleep returns.  A
 * dispatcher that exits signals `handover` too, so a sleeper that was
 * waiting for nothing but that watcher's leaving looks again.
 *
 * STOPPING
 * Pollers check the stop flag between polls; a poller with claimed
 * messages in hand enqueues them before it exits.  The last poller to exit
 * signals the dispatchers; a dispatcher exits when all pollers are gone,
 * the ring is empty and (after a natural end) its timer heap is empty.
 * Nothing claimed is ever lost: it is in a poller's hand, in the ring, or
 * in a dispatcher's batch or heap.
 */
#define _GNU_SOURCE
#include "ccpump/pump.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/counter.h"
#include "ccpump/hash.h"
#include "ccpump/lockq.h"
#include "ccpump/log.h"
#include "ccpump/rcu.h"
#include "ccpump/registry.h"
#include "ccpump/ring.h"

/* Counters a thread publishes for ccp_pump_stats(); written by their thread
 * only (relaxed stores), read by anyone (relaxed loads). */
struct counters {
	_Atomic uint64_t notifications, created, claims, claim_conflicts, ring_full_waits,
		reclaim_waits;
	_Atomic uint64_t batches, dispatched, delivered, deferred, postponed, requeued, failed,
		waiting_retry, in_flight, left;
};

struct pump_thread {
	struct ccp_pump *pump;
	pthread_t tid;
	unsigned id;
	bool started;
	int cpu;
	struct counters c;
	struct ccp_hist hist; /* dispatchers only; read after join */
} CCP_ALIGNED(CCP_CACHE_GUARD);

struct ccp_pump {
	struct ccp_pump_config cfg;
	struct ccp_source_ops src;
	void *src_ctx;
	struct ccp_sink_ops sink;
	void *sink_ctx;
	struct ccp_registry *reg;
	struct ccp_ring *ring;      /* lockfree and naive */
	struct ccp_lockq lockq;     /* mutex */
	pthread_mutex_t claim_lock; /* mutex: the one lock around find-and-claim */
	struct pump_thread *pollers, *dispatchers;
	bool started; /* by the thread that starts, waits and destroys */
	/* Set by ccp_pump_wait() after the joins; ccp_pump_stats(), on any
	 * thread, merges the histograms only once it reads it set (release
	 * store, acquire load: the dispatchers' last writes come first). */
	_Atomic bool joined;

	/* STOP_DRAIN and STOP_LEAVE, set by ccp_pump_stop() and ccp_pump_stop_
	 * leaving_queued(); read by every thread (relaxed: it is a request,
	 * and the threads re-check it; no data hangs on it). */
	_Atomic int stop CCP_ALIGNED(CCP_CACHE_GUARD);
	/* Raised by ccp_pump_retry_now(); each dispatcher keeps the value it
	 * last acted on.  Relaxed: a request like stop; the records it touches
	 * are the dispatcher's own (its heap), so nothing else hangs on it. */
	_Atomic uint32_t retry_gen;
	/* Raised by ccp_pump_retry_postponed_now(), the same way. */
	_Atomic uint32_t postponed_gen;
	/* Pollers still running.  The release decrement by an exiting poller
	 * pairs with the acquire load in seen_now(): a dispatcher
	 * that sees 0 sees every enqueue those pollers made. */
	_Atomic unsigned pollers_running CCP_ALIGNED(CCP_CACHE_GUARD);
	/* Threads not yet exited: ccp_pump_done() polls it (release on exit,
	 * acquire in ccp_pump_done(), so a caller that sees 0 sees the final
	 * counters). */
	_Atomic unsigned threads_running;
	/* When the last pump thread finished (monotonic ns), for exact timing. */
	_Atomic uint64_t finished_ns;
	struct ccp_event items; /* signalled after enqueues: dispatchers wait on it */
	struct ccp_event space; /* signalled after dequeues: pollers wait on it */
	/* Wait block with several dispatchers (see WAITING): set while one
	 * idle dispatcher watches `items`; the others sleep on `handover`,
	 * signalled when the watcher leaves to deliver, by an exiting
	 * dispatcher, and with `items` (wake_dispatchers()) at the end of the
	 * pollers, a stop and the retry calls.  Relaxed: what must not be missed
	 * is ordered by the event: a watcher clears the flag before it
	 * signals (a full barrier, lock xadd), and a sleeper takes its
	 * snapshot (acquire) before it looks at the flag, so a sleeper either
	 * sees the flag cleared and watches, or has a snapshot older than the
	 * signal and is woken by it. */
	_Atomic int watching CCP_ALIGNED(CCP_CACHE_GUARD);
	struct ccp_event handover;
};

/* ---- names and defaults ---------------------------------------------- */

const char *ccp_claim_mode_name(enum ccp_claim_mode m)
{
	switch (m) {
	case CCP_CLAIM_LOCKFREE: return "lockfree";
	case CCP_CLAIM_MUTEX: return "mutex";
	case CCP_CLAIM_NAIVE: return "naive";
	}
	return "?";
}

int ccp_claim_mode_parse(const char *s, enum ccp_claim_mode *out)
{
	static const enum ccp_claim_mode all[] = { CCP_CLAIM_LOCKFREE, CCP_CLAIM_MUTEX,
						   CCP_CLAIM_NAIVE };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, ccp_claim_mode_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

const char *ccp_pump_wait_name(const struct ccp_pump_config *cfg,
			       char buf[CCP_PUMP_WAIT_NAME_MAX])
{
	if (cfg->poll_wait == cfg->dispatch_wait)
		return ccp_wait_name(cfg->poll_wait);
	snprintf(buf, CCP_PUMP_WAIT_NAME_MAX, "%s,%s", ccp_wait_name(cfg->poll_wait),
		 ccp_wait_name(cfg->dispatch_wait));
	return buf;
}

void ccp_pump_config_default(struct ccp_pump_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = CCP_CLAIM_LOCKFREE;
	cfg->pollers = 2;
	cfg->dispatchers = 2;
	cfg->ring_size = 16384;
	cfg->batch = 32;
	cfg->notes_per_poll = 64;
	cfg->poll_wait = CCP_WAIT_BLOCK;
	cfg->dispatch_wait = CCP_WAIT_BLOCK;
	cfg->retry_min_ns = 1000000000ull;     /* 1 s */
	cfg->retry_max_ns = 3600000000000ull;  /* 1 h */
	cfg->max_attempts = 0;
	cfg->max_age_ns = 0;
	cfg->max_live_records = 0; /* automatic: see ccp_pump_create() */
}

/* ---- small helpers --------------------------------------------------- */

/* The stop word's bits: ccp_pump_stop() sets DRAIN, ccp_pump_stop_leaving_
 * queued() LEAVE; either stops the pollers, and LEAVE, once set, wins. */
#define STOP_DRAIN 1
#define STOP_LEAVE 2

static inline bool stopping(const struct ccp_pump *p)
{
	return atomic_load_explicit(&((struct ccp_pump *)p)->stop, memory_order_relaxed) != 0;
}

static inline bool leaving_queued(const struct ccp_pump *p)
{
	return (atomic_load_explicit(&((struct ccp_pump *)p)->stop, memory_order_relaxed) &
		STOP_LEAVE) != 0;
}

/* Names the thread (top -H, perf, gdb show it) and pins it if asked. */
static void setup_thread(const char *role, unsigned id, int cpu)
{
	char name[16];
	snprintf(name, sizeof(name), "ccp-%s/%u", role, id);
	pthread_setname_np(pthread_self(), name);
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		ccp_log(CCP_LOG_WARN, "could not pin a pump thread to CPU %d", cpu);
}

/* xorshift64*: per-thread jitter for retry delays. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* N threads gone (one that ends, or those that never started): the last
 * one out stamps the end of the run; release pairs with the acquire in
 * ccp_pump_done(). */
static void threads_gone(struct ccp_pump *p, unsigned n)
{
	uint64_t now = ccp_now_ns();
	if (atomic_fetch_sub_explicit(&p->threads_running, n, memory_order_acq_rel) == n)
		atomic_store_explicit(&p->finished_ns, now, memory_order_release);
}

/* Wakes every sleeping dispatcher, the one watching the ring and those
 * waiting to be handed the watch (WAITING), for a change each must see:
 * the end of the pollers, a stop, a retry request. */
static void wake_dispatchers(struct ccp_pump *p)
{
	ccp_event_signal(&p->items, 1);
	ccp_event_signal(&p->handover, 1);
}

/* N pollers gone: whoever takes the last one away tells the dispatchers,
 * which may end once the ring is empty.  R: pairs with the acquire in
 * seen_now(). */
static void pollers_gone(struct ccp_pump *p, unsigned n)
{
	if (atomic_fetch_sub_explicit(&p->pollers_running, n, memory_order_acq_rel) == n) {
		if (p->cfg.mode == CCP_CLAIM_MUTEX)
			ccp_lockq_close(&p->lockq);
		wake_dispatchers(p); /* to see the end */
	}
}

/* ---- pollers --------------------------------------------------------- */

/* Claims m by the pump's mode.  Returns true if this caller won.  In mode
 * mutex the caller holds claim_lock. */
static bool claim(struct ccp_pump *p, struct ccp_msg *m)
{
	switch (p->cfg.mode) {
	case CCP_CLAIM_LOCKFREE:
		return ccp_msg_claim(m);
	case CCP_CLAIM_MUTEX:
		/* The caller holds claim_lock: relaxed is enough, the mutex orders
		 * it. */
		if (atomic_load_explicit(&m->state, memory_order_relaxed) ==
		    ccp_msg_word(CCP_MSG_NEW, 0)) {
			atomic_store_explicit(&m->state, ccp_msg_word(CCP_MSG_QUEUED, 1),
					      memory_order_relaxed);
			return true;
		}
		return false;
	case CCP_CLAIM_NAIVE:
		/* The 1998 bug, on purpose: test, then set, in two steps.  Two
		 * pollers can both see NEW and both enqueue. */
		if (atomic_load_explicit(&m->state, memory_order_acquire) ==
		    ccp_msg_word(CCP_MSG_NEW, 0)) {
			atomic_store_explicit(&m->state, ccp_msg_word(CCP_MSG_QUEUED, 1),
					      memory_order_release);
			return true;
		}
		return false;
	}
	ccp_panic("claim mode %u, which ccp_pump_create() refuses", (unsigned)p->cfg.mode);
}

/* Enqueues all n claimed messages, waiting while the ring is full. */
static void enqueue_all(struct ccp_pump *p, struct pump_thread *t, struct ccp_msg **msgs,
			unsigned n)
{
	bool mutex = p->cfg.mode == CCP_CLAIM_MUTEX;
	if (mutex && p->cfg.poll_wait == CCP_WAIT_BLOCK) {
		uint64_t waits = 0;
		ccp_lockq_enqueue_burst(&p->lockq, (void *const *)msgs, n, true, &waits);
		/* Once a burst, as below: the queue counts each time round its
		 * wait, which a burst trickling in as slots free is many. */
		ccp_counter_add(&t->c.ring_full_waits, waits != 0);
		return;
	}
	/* The ring, or the locked queue polled (mode mutex with --wait spin
	 * or yield: its pollers spin or yield as they say, not sleep on the
	 * queue's condition variable).  The queue is closed only once every
	 * poller is gone, so this loop ends with all n in. */
	unsigned done = 0, idle = 0;
	bool counted = false;
	while (done < n) {
		uint32_t snap = ccp_event_snapshot(&p->space);
		unsigned k = mutex ? ccp_lockq_enqueue_burst(&p->lockq, (void *const *)(msgs + done),
							     n - done, false, NULL)
				   : ccp_ring_enqueue_burst_mpmc(p->ring, (void *const *)(msgs + done),
								 n - done);
		if (k) {
			done += k;
			idle = 0;
			/* The locked queue wakes its own sleepers. */
			if (!mutex && p->cfg.dispatch_wait == CCP_WAIT_BLOCK)
				ccp_event_signal(&p->items, k);
			continue;
		}
		if (!counted) {
			ccp_counter_add(&t->c.ring_full_waits, 1);
			counted = true;
		}
		ccp_wait_step(p->cfg.poll_wait, &p->space, snap, ccp_now_ns() + 100000000ull, &idle);
	}
}

static void *poller_main(void *arg)
{
	struct pump_thread *t = arg;
	struct ccp_pump *p = t->pump;
	unsigned max = p->cfg.notes_per_poll;
	struct ccp_note *notes = ccp_calloc(max, sizeof(*notes));
	struct ccp_msg **won = ccp_calloc(max, sizeof(*won));

	setup_thread("poll", t->id, t->cpu);
	rcu_register_thread();
	for (;;) {
		if (stopping(p))
			break;
		/* Naive mode never retires (see settle()), so it has no bound. */
		if (ccp_unlikely(p->cfg.mode != CCP_CLAIM_NAIVE &&
				 ccp_registry_live(p->reg) > p->cfg.max_live_records)) {
			/* Reclamation is behind: take no new work until it catches
			 * up (the records in the ring keep the dispatchers busy). */
			ccp_counter_add(&t->c.reclaim_waits, 1);
			ccp_sleep_ns(200000u);
			continue;
		}
		unsigned nwon = 0, conflicts = 0, created = 0;
		ccp_rcu_read_lock();
		int n = p->src.poll(p->src_ctx, t->id, notes, max);
		if (n > 0) {
			uint64_t now = ccp_now_ns();
			bool locked = p->cfg.mode == CCP_CLAIM_MUTEX;
			for (int i = 0; i < n; i++) {
				uint64_t h = ccp_hash_bytes(notes[i].key, notes[i].len);
				bool added;
				/* Mode mutex: the obvious fix, one lock around "is it
				 * known and queued? if not, add and queue it". */
				if (locked)
					pthread_mutex_lock(&p->claim_lock);
				struct ccp_msg *m = ccp_registry_find_or_add(
					p->reg, notes[i].key, notes[i].len, h, p->cfg.user_size,
					now, p->src.init_msg, p->src_ctx, &added);
				bool ok = claim(p, m);
				if (locked)
					pthread_mutex_unlock(&p->claim_lock);
				created += added;
				if (ok) {
					won[nwon++] = m;
					continue;
				}
				conflicts++;
				/* A key that came back meets its old record until
				 * it is reclaimed: the source may look again. */
				if (p->src.settled &&
				    ccp_msg_state_settled(ccp_msg_word_state(ccp_msg_load(m))))
					p->src.settled(p->src_ctx, t->id, notes[i].key,
						       notes[i].len);
			}
		}
		ccp_rcu_read_unlock();
		if (n > 0) {
			ccp_counter_add(&t->c.notifications, (uint64_t)n);
			ccp_counter_add(&t->c.created, created);
			ccp_counter_add(&t->c.claims, nwon);
			ccp_counter_add(&t->c.claim_conflicts, conflicts);
			if (nwon)
				enqueue_all(p, t, won, nwon);
		} else if (n == CCP_SOURCE_DONE) {
			break;
		} else if (p->src.wait) {
			p->src.wait(p->src_ctx, t->id, ccp_now_ns() + 100000000ull);
		} else {
			sched_yield();
		}
	}
	rcu_unregister_thread();
	ccp_free(notes);
	ccp_free(won);
	pollers_gone(p, 1);
	threads_gone(p, 1);
	return NULL;
}

/* ---- dispatchers ----------------------------------------------------- */

/* A min-heap of deferred records by due time, owned by one dispatcher. */
struct heap {
	struct ccp_msg **a;
	size_t n, cap;
};

static void heap_push(struct heap *h, struct ccp_msg *m)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		h->a = ccp_realloc(h->a, h->cap * sizeof(*h->a));
	}
	size_t i = h->n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (h->a[up]->due_ns <= m->due_ns)
			break;
		h->a[i] = h->a[up];
		i = up;
	}
	h->a[i] = m;
}

static struct ccp_msg *heap_pop(struct heap *h)
{
	struct ccp_msg *top = h->a[0], *last = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->due_ns < h->a[c]->due_ns)
			c++;
		if (last->due_ns <= h->a[c]->due_ns)
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}

struct dispatcher_state {
	struct ccp_msg **batch;
	uint64_t *words;
	enum ccp_verdict *verdicts;
	struct ccp_msg **acks;           /* settled by this batch: to acknowledge */
	enum ccp_msg_state *outcomes;
	unsigned nacks;
	struct heap deferred;
	struct ccp_retire_list retire;
	uint64_t retire_flushed_ns;      /* when `retire` was last handed over */
	uint64_t rng;
	uint32_t retry_gen;              /* the pump's retry_gen last acted on */
	uint32_t postponed_gen;          /* and its postponed_gen */
};

uint64_t ccp_pump_retry_delay(const struct ccp_pump_config *cfg, uint32_t step, uint64_t *rng)
{
	uint64_t d = cfg->retry_min_ns;
	for (uint32_t i = 1; i < step && d < cfg->retry_max_ns; i++)
		d *= 2;
	if (d > cfg->retry_max_ns)
		d = cfg->retry_max_ns;
	/* Jitter spreads a burst of failures so that their retries do not
	 * reach the sink together.  Upward, by up to half the step, while
	 * that stays within the cap; a step that would pass it is spread over
	 * the quarter below the cap instead, or messages that failed
	 * together would all wait exactly retry_max and come back together
	 * at every try from then on.  Never before retry_min, never after
	 * retry_max. */
	uint64_t r = rng_next(rng);
	if (d <= cfg->retry_max_ns - d / 2)
		return d + r % (d / 2 + 1);
	uint64_t floor = cfg->retry_max_ns - cfg->retry_max_ns / 4;
	if (floor < cfg->retry_min_ns)
		floor = cfg->retry_min_ns;
	return cfg->retry_max_ns - r % (cfg->retry_max_ns - floor + 1);
}

/* Settles one message after the sink's verdict; a final outcome is queued
 * in ds->acks for ack_settled(). */
static void settle(struct ccp_pump *p, struct pump_thread *t, struct dispatcher_state *ds,
		   struct ccp_msg *m, uint64_t word, enum ccp_verdict v, uint64_t now)
{
	const struct ccp_pump_config *cfg = &p->cfg;
	bool naive = cfg->mode == CCP_CLAIM_NAIVE;
	enum ccp_msg_state to;

	/* Attempts and age include an earlier run's (msg.h); a postponed
	 * attempt is not the message's and is not counted.  We own m
	 * (DISPATCHING): a plain write, published by ccp_msg_finish(). */
	if (v == CCP_VERDICT_POSTPONED)
		m->postponed++;
	/* Written only when it changes: naive mode's racing owners (two may
	 * settle one record) must not race on a field the mode never uses. */
	if ((v == CCP_VERDICT_POSTPONED) != (m->last_postponed != 0))
		m->last_postponed = v == CCP_VERDICT_POSTPONED;
	uint32_t attempt = ccp_msg_attempts(m, word);
	/* The backoff's step: a postponement backs off on its own count.
	 * Counted by attempts it would never grow (they stay where they
	 * were), and a message the sink keeps postponing (an unreadable
	 * file) would come back every retry_min until max_age. */
	uint32_t step = v == CCP_VERDICT_POSTPONED ? m->postponed : attempt;
	if (v == CCP_VERDICT_RETRY || v == CCP_VERDICT_POSTPONED) {
		uint64_t age = now - m->first_seen_ns + (uint64_t)m->age_before_s * 1000000000ull;
		/* The attempts end a message after a failed try only.  A
		 * postponement is no try: a message an earlier run left past
		 * max_attempts (its source's attempts_before) gets its one more
		 * try first, however often the machine puts that off.  The age
		 * runs on through an outage. */
		bool too_many = v == CCP_VERDICT_RETRY && cfg->max_attempts &&
				attempt >= cfg->max_attempts;
		bool too_old = cfg->max_age_ns && age >= cfg->max_age_ns;
		to = (too_many || too_old) ? CCP_MSG_FAILED : CCP_MSG_DEFERRED;
		/* Ended by the source before (its retries ended in an earlier
		 * claim) stays ended through a postponement. */
		m->retries_ended = to == CCP_MSG_FAILED ||
				   (v == CCP_VERDICT_POSTPONED && m->retries_ended);
		if (to == CCP_MSG_DEFERRED) {
			ccp_counter_add(&t->c.deferred, 1);
			if (v == CCP_VERDICT_POSTPONED)
				ccp_counter_add(&t->c.postponed, 1);
		}
	} else {
		to = v == CCP_VERDICT_DELIVERED ? CCP_MSG_DELIVERED : CCP_MSG_FAILED;
	}

	if (naive) {
		/* The connector's queue delivered whatever it held. */
		atomic_store_explicit(&m->state, ccp_msg_word(to, ccp_msg_word_attempt(word)),
				      memory_order_release);
	} else if (ccp_unlikely(!ccp_msg_finish(m, word, to))) {
		ccp_panic("message '%s' changed state while dispatching (attempt %u)", m->key,
			  ccp_msg_word_attempt(word));
	}

	if (to == CCP_MSG_DEFERRED) {
		m->due_ns = now + ccp_pump_retry_delay(cfg, step, &ds->rng);
		heap_push(&ds->deferred, m);
		return;
	}
	ccp_counter_add(to == CCP_MSG_DELIVERED ? &t->c.delivered : &t->c.failed, 1);
	ds->acks[ds->nacks] = m;
	ds->outcomes[ds->nacks++] = to;
}

/* The most often a busy dispatcher hands its retired records over on its
 * own (besides a full list and going idle): as often as the reclaimer's
 * rounds can take them. */
#define CCP_RETIRE_FLUSH_NS 1000000ull

/* Acknowledges the batch's final outcomes to the source (all at once when
 * it can), then retires their records: only after the source made each
 * outcome permanent may a record go. */
static void ack_settled(struct ccp_pump *p, struct pump_thread *t, struct dispatcher_state *ds,
			uint64_t now)
{
	if (p->src.ack_burst && ds->nacks > 1)
		p->src.ack_burst(p->src_ctx, t->id, ds->acks, ds->outcomes, ds->nacks);
	else
		for (unsigned i = 0; i < ds->nacks; i++)
			p->src.ack(p->src_ctx, t->id, ds->acks[i], ds->outcomes[i]);
	/* Naive records stay in the registry until the pump is destroyed: one
	 * of them may sit in the ring twice, and freeing it would turn the
	 * duplicate into a use-after-free as well. */
	if (p->cfg.mode != CCP_CLAIM_NAIVE && ds->nacks) {
		for (unsigned i = 0; i < ds->nacks; i++)
			ccp_registry_retire(&ds->retire, ds->acks[i]);
		/* A dispatcher that never goes idle would otherwise keep its
		 * tombstones until it has retired a full list: at a slow sink
		 * (an import a batch) that is minutes, in which a key put back
		 * under its name meets its old record (pump.h, settled()).
		 * Fast pumps fill the list sooner and are not slowed. */
		if (now - ds->retire_flushed_ns >= CCP_RETIRE_FLUSH_NS) {
			ccp_registry_retire_flush(&ds->retire);
			ds->retire_flushed_ns = now;
		}
	}
	ds->nacks = 0;
}

static void dispatch(struct ccp_pump *p, struct pump_thread *t, struct dispatcher_state *ds,
		     unsigned n)
{
	bool naive = p->cfg.mode == CCP_CLAIM_NAIVE;
	uint64_t now = ccp_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct ccp_msg *m = ds->batch[i];
		if (naive) {
			uint64_t w = atomic_load_explicit(&m->state, memory_order_acquire);
			ds->words[i] = ccp_msg_word(CCP_MSG_DISPATCHING, ccp_msg_word_attempt(w));
			atomic_store_explicit(&m->state, ds->words[i], memory_order_release);
		} else {
			ds->words[i] = ccp_msg_begin_dispatch(m);
		}
		if (ccp_msg_word_attempt(ds->words[i]) <= 1)
			ccp_hist_record(&t->hist, now > m->first_seen_ns ? now - m->first_seen_ns : 0);
	}
	/* Due retries taken into this batch have left the heap: counted in
	 * flight now, not deferred too (two snapshots, relaxed: a reader
	 * sums them for a stats line). */
	atomic_store_explicit(&t->c.waiting_retry, ds->deferred.n, memory_order_relaxed);
	atomic_store_explicit(&t->c.in_flight, n, memory_order_relaxed);
	/* Leaving to deliver with nobody watching: wake the sleepers, one of
	 * which takes up the watch (WAITING).  One atomic add when nobody
	 * sleeps. */
	if (p->cfg.dispatch_wait == CCP_WAIT_BLOCK && p->cfg.dispatchers > 1 &&
	    p->cfg.mode != CCP_CLAIM_MUTEX &&
	    atomic_load_explicit(&p->watching, memory_order_relaxed) == 0)
		ccp_event_signal(&p->handover, 1);
	p->sink.deliver(p->sink_ctx, t->id, ds->batch, n, ds->verdicts);
	atomic_store_explicit(&t->c.in_flight, 0, memory_order_relaxed);
	now = ccp_now_ns();
	for (unsigned i = 0; i < n; i++)
		settle(p, t, ds, ds->batch[i], ds->words[i], ds->verdicts[i], now);
	ack_settled(p, t, ds, now);
	ccp_counter_add(&t->c.batches, 1);
	ccp_counter_add(&t->c.dispatched, n);
	atomic_store_explicit(&t->c.waiting_retry, ds->deferred.n, memory_order_relaxed);
}

/* Hands the N messages taken to the sink, or, once a stop leaves what is
 * queued (LEAVING, read once a round), leaves them: QUEUED, unacknowledged,
 * at the source for the next run; their records go with the registry when
 * the pump is destroyed.  A round that took due retries read LEAVING false
 * before it took them, so a retry taken (counted requeued) is always
 * dispatched, never left. */
static void dispatch_or_leave(struct ccp_pump *p, struct pump_thread *t,
			      struct dispatcher_state *ds, unsigned n, bool leaving)
{
	if (ccp_unlikely(leaving)) {
		ccp_counter_add(&t->c.left, n);
		return;
	}
	dispatch(p, t, ds, n);
}

/* Moves due retries into the batch (DEFERRED -> QUEUED, attempt + 1). */
static unsigned take_due(struct ccp_pump *p, struct pump_thread *t, struct dispatcher_state *ds,
			 uint64_t now)
{
	unsigned n = 0;
	while (n < p->cfg.batch && ds->deferred.n && ds->deferred.a[0]->due_ns <= now) {
		struct ccp_msg *m = heap_pop(&ds->deferred);
		if (p->cfg.mode == CCP_CLAIM_NAIVE) {
			uint64_t w = atomic_load_explicit(&m->state, memory_order_acquire);
			atomic_store_explicit(&m->state,
					      ccp_msg_word(CCP_MSG_QUEUED, ccp_msg_word_attempt(w) + 1),
					      memory_order_release);
		} else if (!ccp_msg_requeue(m)) {
			ccp_panic("deferred message '%s' left DEFERRED while in its timer", m->key);
		}
		ds->batch[n++] = m;
		ccp_counter_add(&t->c.requeued, 1);
	}
	return n;
}

/* ccp_pump_retry_now(): every deferred message of this dispatcher is due
 * now.  due = min(due, now) is monotone in due, so parents stay no later
 * than their children: the heap needs no repair.  We own these records
 * (DEFERRED, in our heap): plain writes. */
static void all_due(struct dispatcher_state *ds, uint64_t now)
{
	for (size_t i = 0; i < ds->deferred.n; i++)
		if (ds->deferred.a[i]->due_ns > now)
			ds->deferred.a[i]->due_ns = now;
}

/* ccp_pump_retry_postponed_now(): the deferred messages whose last try
 * was postponed are due now.  Only some move, so the heap is built again
 * (a rare call: the end of an outage).  Our own records: plain writes. */
static void postponed_due(struct dispatcher_state *ds, uint64_t now)
{
	size_t n = ds->deferred.n;
	for (size_t i = 0; i < n; i++)
		if (ds->deferred.a[i]->last_postponed && ds->deferred.a[i]->due_ns > now)
			ds->deferred.a[i]->due_ns = now;
	ds->deferred.n = 0;
	for (size_t i = 0; i < n; i++)
		heap_push(&ds->deferred, ds->deferred.a[i]);
}

static unsigned dequeue_some(struct ccp_pump *p, struct ccp_msg **out, unsigned n,
			     uint64_t deadline_ns, bool wait)
{
	if (p->cfg.mode == CCP_CLAIM_MUTEX)
		return ccp_lockq_dequeue_burst(&p->lockq, (void **)out, n, wait, deadline_ns);
	unsigned k = ccp_ring_dequeue_burst_mpmc(p->ring, (void **)out, n);
	if (k && p->cfg.poll_wait == CCP_WAIT_BLOCK)
		ccp_event_signal(&p->space, k);
	return k;
}

static bool ring_empty(struct ccp_pump *p)
{
	if (p->cfg.mode == CCP_CLAIM_MUTEX)
		return ccp_lockq_count(&p->lockq) == 0;
	return ccp_ring_count(p->ring) == 0;
}

/* How long an idle dispatcher waits at most: until its first retry is due
 * (DUE, 0 for none), and never more than half a second, after which it
 * looks again even if nothing was signalled.  Everything it waits for
 * signals it (a message, a stop, a retry call, the pollers' end), so this
 * is a safety net, not a poll: each look costs an idle pump CPU.  (The
 * net was 100 ms, which ck_ec's uncut sleeps stretched to 585; since
 * they are cut at the deadline, 100 ms doubled an idle pump's CPU.) */
#define IDLE_LOOK_NS 500000000ull

static uint64_t idle_deadline(uint64_t due)
{
	uint64_t deadline = ccp_now_ns() + IDLE_LOOK_NS;
	return due && due < deadline ? due : deadline;
}

/* What an idle dispatcher decided by, read once a round (WAITING); the
 * retry calls' generations are in its dispatcher_state. */
struct seen {
	bool pollers_done;
	bool stop;
};

static struct seen seen_now(struct ccp_pump *p)
{
	/* A: pairs with the release decrement in poller_main(): a dispatcher
	 * that sees 0 sees every enqueue of the pollers. */
	return (struct seen){
		.pollers_done = atomic_load_explicit(&p->pollers_running, memory_order_acquire) == 0,
		.stop = stopping(p),
	};
}

/* Whether anything an idle dispatcher decided by has changed since it read
 * SEEN and its generations: then it must look again rather than sleep.
 * Called after the event snapshot: what changed before it is seen here,
 * what changes after it signals past it. */
static bool seen_moved(struct ccp_pump *p, const struct dispatcher_state *ds,
		       const struct seen *seen)
{
	struct seen now = seen_now(p);
	return now.pollers_done != seen->pollers_done || now.stop != seen->stop ||
	       atomic_load_explicit(&p->retry_gen, memory_order_relaxed) != ds->retry_gen ||
	       atomic_load_explicit(&p->postponed_gen, memory_order_relaxed) != ds->postponed_gen;
}

/* One idle wait of a dispatcher on the ring (lockfree and naive modes; mode
 * mutex's locked queue when the dispatchers spin or yield):
 * `snap` is the items event as read before the dequeue that found nothing;
 * `due` the first due time of its timer heap, 0 if it is empty. */
static void dispatcher_idle_wait(struct ccp_pump *p, const struct dispatcher_state *ds,
				 const struct seen *seen, uint32_t snap, uint64_t due,
				 unsigned *idle)
{
	uint64_t deadline = idle_deadline(due);
	if (p->cfg.dispatch_wait != CCP_WAIT_BLOCK || p->cfg.dispatchers == 1) {
		ccp_wait_step(p->cfg.dispatch_wait, &p->items, snap, deadline, idle);
		return;
	}
	/* Snapshot before looking at the watch and the state: a watcher that
	 * leaves after this, or a change after it, signals past it, and the
	 * sleep below returns at once. */
	uint32_t hsnap = ccp_event_snapshot(&p->handover);
	if (seen_moved(p, ds, seen))
		return;
	if (atomic_exchange_explicit(&p->watching, 1, memory_order_relaxed) == 0) {
		ccp_wait_step(CCP_WAIT_BLOCK, &p->items, snap, deadline, idle);
		atomic_store_explicit(&p->watching, 0, memory_order_relaxed);
	} else {
		/* Until handed the watch, or its first retry is due: no
		 * deadline otherwise, so the hand-over alone keeps messages
		 * moving (test_pump checks it). */
		unsigned no_yields = CCP_WAIT_BLOCK_YIELDS;
		ccp_wait_step(CCP_WAIT_BLOCK, &p->handover, hsnap, due, &no_yields);
	}
}

/* Mode mutex once the pollers are gone: the queue is closed, and its wait
 * returns at once, so a dispatcher with retries still to come sleeps on
 * `handover` until the first is due (or a stop, a retry call). */
static void dispatcher_closed_wait(struct ccp_pump *p, const struct dispatcher_state *ds,
				   const struct seen *seen, uint64_t due)
{
	uint32_t hsnap = ccp_event_snapshot(&p->handover);
	/* The last poller's messages may have come in after this round's
	 * dequeue found none (its enqueue signals the queue, not `handover`):
	 * every one of them is in by now (SEEN saw the pollers end), so one
	 * look says whether to take them rather than sleep. */
	if (seen_moved(p, ds, seen) || !ring_empty(p))
		return;
	unsigned no_yields = CCP_WAIT_BLOCK_YIELDS;
	ccp_wait_step(CCP_WAIT_BLOCK, &p->handover, hsnap, idle_deadline(due), &no_yields);
}

static bool dispatcher_may_exit(struct ccp_pump *p, const struct dispatcher_state *ds,
				const struct seen *seen)
{
	if (!seen->pollers_done)
		return false;
	if (!ring_empty(p))
		return false;
	/* After a stop, deferred messages stay at the source for next time. */
	return ds->deferred.n == 0 || seen->stop;
}

static void *dispatcher_main(void *arg)
{
	struct pump_thread *t = arg;
	struct ccp_pump *p = t->pump;
	unsigned B = p->cfg.batch;
	struct dispatcher_state ds;

	memset(&ds, 0, sizeof(ds));
	ds.batch = ccp_calloc(B, sizeof(*ds.batch));
	ds.words = ccp_calloc(B, sizeof(*ds.words));
	ds.verdicts = ccp_calloc(B, sizeof(*ds.verdicts));
	ds.acks = ccp_calloc(B, sizeof(*ds.acks));
	ds.outcomes = ccp_calloc(B, sizeof(*ds.outcomes));
	ds.retire.reg = p->reg;
	ds.rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)t->id << 32) ^ ccp_now_ns();
	ds.retry_gen = atomic_load_explicit(&p->retry_gen, memory_order_relaxed);
	ds.postponed_gen = atomic_load_explicit(&p->postponed_gen, memory_order_relaxed);
	ccp_hist_reset(&t->hist);

	unsigned idle = 0;
	setup_thread("disp", t->id, t->cpu);
	rcu_register_thread();
	for (;;) {
		uint64_t now = ds.deferred.n ? ccp_now_ns() : 0;
		uint32_t gen = atomic_load_explicit(&p->retry_gen, memory_order_relaxed);
		if (ccp_unlikely(gen != ds.retry_gen)) {
			ds.retry_gen = gen;
			all_due(&ds, now);
		}
		gen = atomic_load_explicit(&p->postponed_gen, memory_order_relaxed);
		if (ccp_unlikely(gen != ds.postponed_gen)) {
			ds.postponed_gen = gen;
			postponed_due(&ds, now);
		}
		/* A stop that leaves what is queued leaves the deferred too.
		 * Read once: the round takes due retries and dispatches or
		 * leaves its batch by the same answer (a stop that comes in
		 * between takes effect at the next round). */
		bool leaving = leaving_queued(p);
		unsigned n = ds.deferred.n && !leaving ? take_due(p, t, &ds, now) : 0;
		uint32_t snap = ccp_event_snapshot(&p->items);
		n += dequeue_some(p, ds.batch + n, B - n, 0, false);
		if (n) {
			dispatch_or_leave(p, t, &ds, n, leaving);
			idle = 0;
			continue;
		}
		/* Idle: let tombstones go before sleeping. */
		ccp_registry_retire_flush(&ds.retire);
		struct seen seen = seen_now(p);
		if (dispatcher_may_exit(p, &ds, &seen))
			break;
		/* Leaving, no retry will be taken: a due time in the past would
		 * make every wait return at once, a spin until the pollers end. */
		uint64_t due = ds.deferred.n && !leaving ? ds.deferred.a[0]->due_ns : 0;
		bool mutex_sleeps = p->cfg.mode == CCP_CLAIM_MUTEX &&
				    p->cfg.dispatch_wait == CCP_WAIT_BLOCK;
		if (mutex_sleeps && seen.pollers_done) {
			dispatcher_closed_wait(p, &ds, &seen, due);
		} else if (mutex_sleeps) {
			n = dequeue_some(p, ds.batch, B, idle_deadline(due), true);
			if (n)
				dispatch_or_leave(p, t, &ds, n, leaving_queued(p));
		} else {
			dispatcher_idle_wait(p, &ds, &seen, snap, due, &idle);
		}
	}
	/* A sleeper may have been waiting for this one to leave the watch. */
	ccp_event_signal(&p->handover, 1);
	ccp_registry_retire_flush(&ds.retire);
	rcu_unregister_thread();
	atomic_store_explicit(&t->c.waiting_retry, ds.deferred.n, memory_order_relaxed);
	ccp_free(ds.deferred.a);
	ccp_free(ds.batch);
	ccp_free(ds.words);
	ccp_free(ds.verdicts);
	ccp_free(ds.acks);
	ccp_free(ds.outcomes);
	threads_gone(p, 1);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------ */

struct ccp_pump *ccp_pump_create(const struct ccp_pump_config *cfg,
				 const struct ccp_source_ops *src, void *src_ctx,
				 const struct ccp_sink_ops *sink, void *sink_ctx, char *err,
				 size_t errlen)
{
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return NULL; } while (0)
	/* Unsigned: a value cast from out of range is large, not negative. */
	if ((unsigned)cfg->mode > CCP_CLAIM_NAIVE)
		BAD("claim mode must be lockfree, mutex or naive (got %u)", (unsigned)cfg->mode);
	if ((unsigned)cfg->poll_wait > CCP_WAIT_BLOCK || (unsigned)cfg->dispatch_wait > CCP_WAIT_BLOCK)
		BAD("wait kinds must be spin, yield or block (got %u for pollers, %u for "
		    "dispatchers)", (unsigned)cfg->poll_wait, (unsigned)cfg->dispatch_wait);
	if (cfg->pollers < 1 || cfg->pollers > 1024)
		BAD("pollers must be 1..1024 (got %u)", cfg->pollers);
	if (cfg->dispatchers < 1 || cfg->dispatchers > 1024)
		BAD("dispatchers must be 1..1024 (got %u)", cfg->dispatchers);
	if (cfg->ring_size < 2 || cfg->ring_size > (1ull << 30) ||
	    (cfg->ring_size & (cfg->ring_size - 1)))
		BAD("ring size must be a power of two from 2 to 2^30 (got %llu)",
		    (unsigned long long)cfg->ring_size);
	if (cfg->batch < 1 || cfg->batch > 65536)
		BAD("batch must be 1..65536 (got %u)", cfg->batch);
	if (cfg->notes_per_poll < 1 || cfg->notes_per_poll > 65536)
		BAD("notes per poll must be 1..65536 (got %u)", cfg->notes_per_poll);
	uint64_t in_hand = ccp_pump_records_in_hand(cfg);
	if (cfg->max_live_records && cfg->max_live_records < in_hand)
		BAD("max live records (%llu) must hold the ring, the batches and the polls (%llu)",
		    (unsigned long long)cfg->max_live_records, (unsigned long long)in_hand);
	/* Due times are now + delay in 64 bits: a century is plenty. */
	if (cfg->retry_min_ns == 0 || cfg->retry_max_ns < cfg->retry_min_ns ||
	    cfg->retry_max_ns > CCP_PUMP_RETRY_MAX_NS)
		BAD("retry delays must satisfy 0 < min <= max <= 100 years");
	if (src == NULL || src->poll == NULL || src->ack == NULL || sink == NULL ||
	    sink->deliver == NULL)
		BAD("a pump needs a source with poll and ack, and a sink with deliver");
#undef BAD
	struct ccp_pump *p = ccp_aligned_alloc(CCP_CACHE_GUARD, sizeof(*p));
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	if (p->cfg.max_live_records == 0) {
		/* Room for four rings' worth of tombstones awaiting their grace
		 * periods, and never less than 2^18 records. */
		p->cfg.max_live_records = 4 * in_hand > (1u << 18) ? 4 * in_hand : (1u << 18);
	}
	p->src = *src;
	p->src_ctx = src_ctx;
	p->sink = *sink;
	p->sink_ctx = sink_ctx;
	/* Live records: the ring, the batches in flight, and the tombstones of
	 * two grace periods, all capped by the bound.  A floor of half the bound
	 * keeps chains short up to it (registry.c); the table grows past it if
	 * needed. */
	p->reg = ccp_registry_create(p->cfg.max_live_records / 2);
	if (cfg->mode == CCP_CLAIM_MUTEX) {
		ccp_lockq_init(&p->lockq, cfg->ring_size);
		pthread_mutex_init(&p->claim_lock, NULL);
	} else {
		p->ring = ccp_ring_create(cfg->ring_size);
	}
	ccp_event_init(&p->items);
	ccp_event_init(&p->space);
	ccp_event_init(&p->handover);
	atomic_init(&p->watching, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->pollers_running, cfg->pollers);
	atomic_init(&p->threads_running, cfg->pollers + cfg->dispatchers);
	p->pollers = ccp_aligned_alloc(CCP_CACHE_GUARD, cfg->pollers * sizeof(*p->pollers));
	p->dispatchers =
		ccp_aligned_alloc(CCP_CACHE_GUARD, cfg->dispatchers * sizeof(*p->dispatchers));
	memset(p->pollers, 0, cfg->pollers * sizeof(*p->pollers));
	memset(p->dispatchers, 0, cfg->dispatchers * sizeof(*p->dispatchers));
	return p;
}

static int cpu_list(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

/*
 * A thread that could not be started (the machine out of threads or
 * memory): the run ends as a graceful stop would, with what the threads
 * already started took drained, and those threads joined.  The pollers
 * never started count as gone, so the dispatchers see the pollers' end;
 * whoever takes the last one away acts as the last poller out would.
 */
static void unwind_start(struct ccp_pump *p, unsigned dispatchers_started,
			 unsigned pollers_started)
{
	unsigned P = p->cfg.pollers, D = p->cfg.dispatchers;
	ccp_pump_stop(p);
	pollers_gone(p, P - pollers_started);
	threads_gone(p, (P - pollers_started) + (D - dispatchers_started));
	for (unsigned i = 0; i < pollers_started; i++)
		pthread_join(p->pollers[i].tid, NULL);
	for (unsigned i = 0; i < dispatchers_started; i++)
		pthread_join(p->dispatchers[i].tid, NULL);
	atomic_store_explicit(&p->joined, true, memory_order_release);
}

int ccp_pump_start(struct ccp_pump *p)
{
	int cpus[CPU_SETSIZE];
	int ncpu = p->cfg.pin ? cpu_list(cpus, CPU_SETSIZE) : 0;
	unsigned P = p->cfg.pollers, D = p->cfg.dispatchers;

	CCP_ASSERT(!p->started);
	p->started = true;
	/* Dispatchers first, so the first enqueues find someone draining. */
	for (unsigned i = 0; i < D; i++) {
		struct pump_thread *t = &p->dispatchers[i];
		t->pump = p;
		t->id = i;
		t->cpu = ncpu ? cpus[(P + i) % (unsigned)ncpu] : -1;
		int rc = pthread_create(&t->tid, NULL, dispatcher_main, t);
		if (rc) {
			unwind_start(p, i, 0);
			return -rc;
		}
		t->started = true;
	}
	for (unsigned i = 0; i < P; i++) {
		struct pump_thread *t = &p->pollers[i];
		t->pump = p;
		t->id = i;
		t->cpu = ncpu ? cpus[i % (unsigned)ncpu] : -1;
		int rc = pthread_create(&t->tid, NULL, poller_main, t);
		if (rc) {
			unwind_start(p, D, i);
			return -rc;
		}
		t->started = true;
	}
	return 0;
}

void ccp_pump_stop(struct ccp_pump *p)
{
	/* Relaxed: a request; what it ends is ordered by the joins.  An OR,
	 * so that it never takes back a stop that leaves what is queued. */
	atomic_fetch_or_explicit(&p->stop, STOP_DRAIN, memory_order_relaxed);
	/* Dispatchers asleep until a retry is due, after a natural end, act
	 * on it now.  An atomic add and a futex wake: safe in a signal
	 * handler. */
	wake_dispatchers(p);
}

void ccp_pump_stop_leaving_queued(struct ccp_pump *p)
{
	/* Relaxed, as ccp_pump_stop(); lock-free, so async-signal-safe. */
	atomic_fetch_or_explicit(&p->stop, STOP_LEAVE, memory_order_relaxed);
	wake_dispatchers(p);
}

void ccp_pump_retry_now(struct ccp_pump *p)
{
	atomic_fetch_add_explicit(&p->retry_gen, 1, memory_order_relaxed);
	/* To act on it now rather than within their idle wait (mode mutex
	 * waits on its queue: there, within that). */
	wake_dispatchers(p);
}

void ccp_pump_retry_postponed_now(struct ccp_pump *p)
{
	atomic_fetch_add_explicit(&p->postponed_gen, 1, memory_order_relaxed);
	wake_dispatchers(p); /* as ccp_pump_retry_now() */
}

bool ccp_pump_done(struct ccp_pump *p)
{
	return p->started &&
	       atomic_load_explicit(&p->threads_running, memory_order_acquire) == 0;
}

uint64_t ccp_pump_finished_ns(struct ccp_pump *p)
{
	return atomic_load_explicit(&p->finished_ns, memory_order_acquire);
}

void ccp_pump_wait(struct ccp_pump *p)
{
	if (!p->started || atomic_load_explicit(&p->joined, memory_order_relaxed))
		return;
	for (unsigned i = 0; i < p->cfg.pollers; i++)
		pthread_join(p->pollers[i].tid, NULL);
	for (unsigned i = 0; i < p->cfg.dispatchers; i++)
		pthread_join(p->dispatchers[i].tid, NULL);
	atomic_store_explicit(&p->joined, true, memory_order_release);
}

#define LOAD(x) ccp_counter_read(&(x))

void ccp_pump_stats(struct ccp_pump *p, struct ccp_pump_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < p->cfg.pollers; i++) {
		struct counters *c = &p->pollers[i].c;
		out->notifications += LOAD(c->notifications);
		out->created += LOAD(c->created);
		out->claims += LOAD(c->claims);
		out->claim_conflicts += LOAD(c->claim_conflicts);
		out->ring_full_waits += LOAD(c->ring_full_waits);
		out->reclaim_waits += LOAD(c->reclaim_waits);
	}
	for (unsigned i = 0; i < p->cfg.dispatchers; i++) {
		struct counters *c = &p->dispatchers[i].c;
		out->batches += LOAD(c->batches);
		out->dispatched += LOAD(c->dispatched);
		out->delivered += LOAD(c->delivered);
		out->deferred += LOAD(c->deferred);
		out->postponed += LOAD(c->postponed);
		out->requeued += LOAD(c->requeued);
		out->failed += LOAD(c->failed);
		out->waiting_retry += LOAD(c->waiting_retry);
		out->in_flight += LOAD(c->in_flight);
		out->left += LOAD(c->left);
	}
	out->in_ring = p->cfg.mode == CCP_CLAIM_MUTEX ? ccp_lockq_count(&p->lockq)
						       : ccp_ring_count(p->ring);
	out->live_records = ccp_registry_live(p->reg);
	out->finished = atomic_load_explicit(&p->joined, memory_order_acquire);
	if (out->finished)
		for (unsigned i = 0; i < p->cfg.dispatchers; i++)
			ccp_hist_merge(&out->latency, &p->dispatchers[i].hist);
}

void ccp_pump_destroy(struct ccp_pump *p)
{
	if (p == NULL)
		return;
	ccp_pump_stop(p);
	ccp_pump_wait(p);
	rcu_register_thread();
	ccp_registry_destroy(p->reg);
	rcu_unregister_thread();
	if (p->cfg.mode == CCP_CLAIM_MUTEX) {
		ccp_lockq_destroy(&p->lockq);
		pthread_mutex_destroy(&p->claim_lock);
	} else {
		ccp_ring_destroy(p->ring);
	}
	ccp_free(p->pollers);
	ccp_free(p->dispatchers);
	ccp_free(p);
}

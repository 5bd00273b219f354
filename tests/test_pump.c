/*
 * The pump end to end: exactly once with many pollers and a high dup
 * factor (lockfree and mutex modes, every wait strategy), a graceful stop
 * while the ring is full, idle dispatchers handing the watch over while
 * others deliver, retries with attempts, backoff and limits, and a stop
 * while every dispatcher waits for a retry an hour away.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ccpump/clock.h"
#include "ccpump/pump.h"
#include "ccpump/rcu.h"
#include "ccpump/registry.h"
#include "ccpump/synth.h"

static struct ccp_synth_report rep;

/* As run_synth(), with each side's own wait: pollers POLL_WAIT on a full
 * ring, dispatchers DISPATCH_WAIT on an empty one. */
static void run_synth_sides(enum ccp_claim_mode mode, enum ccp_wait_kind poll_wait,
			    enum ccp_wait_kind dispatch_wait, unsigned pollers,
			    unsigned dispatchers, unsigned dup, uint64_t ring, unsigned batch,
			    size_t payload, uint64_t messages)
{
	struct ccp_synth_config cfg;
	char err[256];
	char wait[CCP_PUMP_WAIT_NAME_MAX];
	ccp_synth_config_default(&cfg);
	cfg.pump.mode = mode;
	cfg.pump.poll_wait = poll_wait;
	cfg.pump.dispatch_wait = dispatch_wait;
	cfg.pump.pollers = pollers;
	cfg.pump.dispatchers = dispatchers;
	cfg.pump.ring_size = ring;
	cfg.pump.batch = batch;
	cfg.dup_factor = dup;
	cfg.payload = payload;
	cfg.messages = messages;
	CHECK(ccp_synth_run(&cfg, &rep, err, sizeof(err)) == 0);
	printf("  %s/%s P%u D%u K%u ring %llu batch %u: %llu msgs, %llu notes, %llu stale, "
	       "%llu conflicts, %llu full waits\n",
	       ccp_claim_mode_name(mode), ccp_pump_wait_name(&cfg.pump, wait), pollers,
	       dispatchers, dup,
	       (unsigned long long)ring, batch, (unsigned long long)rep.messages,
	       (unsigned long long)rep.notifications, (unsigned long long)rep.stale,
	       (unsigned long long)rep.pump.claim_conflicts,
	       (unsigned long long)rep.pump.ring_full_waits);
	CHECK_EQ_U64(rep.messages, messages);
	CHECK_EQ_U64(rep.duplicates, 0);
	CHECK_EQ_U64(rep.lost, 0);
	CHECK_EQ_U64(rep.phantoms, 0);
	CHECK_EQ_U64(rep.corrupted, 0);
	CHECK_EQ_U64(rep.delivered, messages);
	CHECK_EQ_U64(rep.deliveries, messages);
	CHECK(ccp_synth_exactly_once(&rep));
	/* Every notification was polled; each message claimed exactly once;
	 * every other notification lost its claim. */
	CHECK_EQ_U64(rep.notifications + rep.stale, messages * dup);
	CHECK_EQ_U64(rep.pump.notifications, rep.notifications);
	CHECK_EQ_U64(rep.pump.claims, messages);
	CHECK_EQ_U64(rep.pump.claim_conflicts, rep.notifications - messages);
	CHECK_EQ_U64(rep.pump.delivered, messages);
	CHECK_EQ_U64(rep.pump.dispatched, messages);
	CHECK(rep.pump.batches >= (messages + batch - 1) / batch);
	CHECK_EQ_U64(rep.pump.latency.count, messages);
	CHECK(rep.pump.finished);
}

static void run_synth(enum ccp_claim_mode mode, enum ccp_wait_kind wait, unsigned pollers,
		      unsigned dispatchers, unsigned dup, uint64_t ring, unsigned batch,
		      size_t payload, uint64_t messages)
{
	run_synth_sides(mode, wait, wait, pollers, dispatchers, dup, ring, batch, payload,
			messages);
}

/* ---- a source of endless distinct keys, and a slow sink ---- */

struct endless {
	char keys[8][64][32];
	uint64_t next[8];
	_Atomic uint64_t acked;
	_Atomic uint64_t delivered_calls;
	_Atomic uint64_t polls; /* each a burst of 64 */
	unsigned sink_sleep_us;
};

static int endless_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct endless *e = ctx;
	unsigned n = max < 64 ? max : 64;
	atomic_fetch_add(&e->polls, 1);
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(e->keys[poller][i], 32, "p%u.%llu", poller,
				   (unsigned long long)e->next[poller]++);
		notes[i].key = e->keys[poller][i];
		notes[i].len = (uint32_t)len;
	}
	return (int)n;
}

static void endless_ack(void *ctx, unsigned d, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct endless *e = ctx;
	CHECK(outcome == CCP_MSG_DELIVERED);
	atomic_fetch_add(&e->acked, 1);
}

static void slow_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			 enum ccp_verdict *v)
{
	struct endless *e = ctx;
	struct timespec ts = { 0, (long)e->sink_sleep_us * 1000 };
	nanosleep(&ts, NULL);
	for (unsigned i = 0; i < n; i++)
		v[i] = CCP_VERDICT_DELIVERED;
	atomic_fetch_add(&e->delivered_calls, n);
}

/* The config of a small pump: MODE, POLLERS and DISPATCHERS, a ring of
 * RING, batches of BATCH, the rest by default. */
static void small_config(struct ccp_pump_config *cfg, enum ccp_claim_mode mode, unsigned pollers,
			 unsigned dispatchers, uint64_t ring, unsigned batch)
{
	ccp_pump_config_default(cfg);
	cfg->mode = mode;
	cfg->pollers = pollers;
	cfg->dispatchers = dispatchers;
	cfg->ring_size = ring;
	cfg->batch = batch;
}

/* Starts a pump on the endless source and the slow sink (SLEEP_US a
 * batch of 4), with a ring of 8. */
static struct ccp_pump *start_endless(struct endless *e, enum ccp_claim_mode mode,
				      unsigned pollers, unsigned dispatchers, unsigned sleep_us)
{
	struct ccp_pump_config cfg;
	char err[128];
	memset(e, 0, sizeof(*e));
	e->sink_sleep_us = sleep_us;
	small_config(&cfg, mode, pollers, dispatchers, 8, 4);
	struct ccp_source_ops src = { .poll = endless_poll, .ack = endless_ack };
	struct ccp_sink_ops sink = { .deliver = slow_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, e, &sink, e, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	return p;
}

static void test_stop_with_full_ring(enum ccp_claim_mode mode)
{
	static struct endless e;
	struct ccp_pump_stats st;
	struct ccp_pump *p = start_endless(&e, mode, 3, 2, 500);
	/* Run until the ring has been full many times over. */
	for (int i = 0; i < 400; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		ccp_pump_stats(p, &st);
		if (st.ring_full_waits > 20 && st.delivered > 100)
			break;
	}
	ccp_pump_stop(p);
	ccp_pump_wait(p);
	CHECK(ccp_pump_done(p));
	ccp_pump_stats(p, &st);
	printf("  stop (%s): claimed %llu, delivered %llu, full waits %llu\n",
	       ccp_claim_mode_name(mode), (unsigned long long)st.claims,
	       (unsigned long long)st.delivered, (unsigned long long)st.ring_full_waits);
	CHECK(st.ring_full_waits > 0);
	/* Counted once a burst that found the ring full, in either mode: the
	 * endless source's bursts of 64 into a ring of 8 each wait many
	 * times over. */
	CHECK(st.ring_full_waits <= atomic_load(&e.polls));
	/* Nothing claimed was lost: every claim reached the sink and was acked. */
	CHECK_EQ_U64(st.delivered, st.claims);
	CHECK_EQ_U64(atomic_load(&e.delivered_calls), st.claims);
	CHECK_EQ_U64(atomic_load(&e.acked), st.claims);
	CHECK_EQ_U64(st.in_ring, 0);
	/* The endless source only sends distinct keys: no conflicts. */
	CHECK_EQ_U64(st.claim_conflicts, 0);
	CHECK_EQ_U64(st.notifications, st.claims);
	ccp_pump_destroy(p);
}

/* ---- a stop that leaves what is queued ---- */

struct gated {
	struct endless e;
	_Atomic unsigned in_sink; /* dispatchers inside deliver() */
	_Atomic int open;         /* 0: deliver() waits */
};

static void gated_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			  enum ccp_verdict *v)
{
	struct gated *g = ctx;
	/* Relaxed: counts, read by the test once the pump's threads are
	 * joined (the join orders them). */
	atomic_fetch_add_explicit(&g->in_sink, 1, memory_order_relaxed);
	/* Acquire: pairs with the test's release, made after the stop. */
	while (!atomic_load_explicit(&g->open, memory_order_acquire)) {
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	for (unsigned i = 0; i < n; i++)
		v[i] = CCP_VERDICT_DELIVERED;
	atomic_fetch_add_explicit(&g->e.delivered_calls, n, memory_order_relaxed);
}

static bool in_sink_ring_full(const struct ccp_pump_stats *st)
{
	return st->in_flight == 8 && st->in_ring == 8;
}

static bool await_stats(struct ccp_pump *p, bool (*what)(const struct ccp_pump_stats *));

/* Two dispatchers hold a batch of 4 each in the sink, the ring of 8 is
 * full, the pollers come to it with more claimed: a stop that leaves what
 * is queued delivers and acknowledges the two batches in the sink's hands,
 * and nothing else; every other claim is left, counted, unacknowledged.
 * Either kind of stop asked after it does not take it back. */
static void test_stop_leaving_queued(enum ccp_claim_mode mode, bool drain_too)
{
	static struct gated g;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	char err[128];
	memset(&g, 0, sizeof(g));
	small_config(&cfg, mode, 3, 2, 8, 4);
	struct ccp_source_ops src = { .poll = endless_poll, .ack = endless_ack };
	struct ccp_sink_ops sink = { .deliver = gated_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &g.e, &sink, &g, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	CHECK(await_stats(p, in_sink_ring_full));
	ccp_pump_stop_leaving_queued(p);
	if (drain_too)
		ccp_pump_stop(p);
	/* Release: pairs with the acquire in gated_deliver(); the
	 * dispatchers that see the sink open see the stop. */
	atomic_store_explicit(&g.open, 1, memory_order_release);
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	printf("  stop leaving queued (%s%s): claimed %llu, delivered %llu, left %llu\n",
	       ccp_claim_mode_name(mode), drain_too ? ", then a draining stop" : "",
	       (unsigned long long)st.claims, (unsigned long long)st.delivered,
	       (unsigned long long)st.left);
	/* Relaxed: every writer is joined. */
	CHECK_EQ_U64(atomic_load_explicit(&g.in_sink, memory_order_relaxed), 2);
	CHECK_EQ_U64(st.delivered, 8);
	CHECK_EQ_U64(st.dispatched, 8);
	CHECK_EQ_U64(atomic_load_explicit(&g.e.delivered_calls, memory_order_relaxed), 8);
	CHECK_EQ_U64(atomic_load_explicit(&g.e.acked, memory_order_relaxed), 8);
	/* The ring's 8 at least, and whatever the pollers held. */
	CHECK(st.left >= 8);
	CHECK_EQ_U64(st.claims, st.delivered + st.left);
	CHECK_EQ_U64(st.in_ring, 0);
	ccp_pump_destroy(p);
}

/* A dispatcher that never goes idle (an endless source, a slow sink) still
 * hands its tombstones over for reclamation, long before it has retired a
 * full list of 512: a key put back under its name would otherwise meet its
 * old record for as long (pump.h, settled()). */
static void test_retire_while_busy(void)
{
	static struct endless e;
	struct ccp_pump_stats st;
	struct ccp_pump *p = start_endless(&e, CCP_CLAIM_LOCKFREE, 1, 1, 1000);
	/* Until records delivered have been freed (live: the ring, a batch
	 * and the tombstones not yet reclaimed), or 30 s. */
	for (unsigned k = 0; k < 30000; k++) {
		ccp_pump_stats(p, &st);
		if (st.delivered >= 64 && st.live_records < st.delivered)
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	ccp_pump_stop(p);
	ccp_pump_wait(p);
	ccp_pump_destroy(p);
	printf("  retire while busy: %llu delivered, %llu records live\n",
	       (unsigned long long)st.delivered, (unsigned long long)st.live_records);
	CHECK(st.delivered >= 64);
	CHECK(st.live_records < st.delivered);
	CHECK(st.delivered < CCP_RETIRE_BATCH);
}

/* ---- retries: a flaky sink ---- */

#define RKEYS 3000

struct flaky {
	char keys[4][64][16];
	unsigned pos[4], round[4];
	_Atomic unsigned acks[RKEYS];
	_Atomic unsigned calls[RKEYS];
	_Atomic unsigned max_attempt[RKEYS];
	_Atomic int outcome[RKEYS];
	_Atomic unsigned charged[RKEYS]; /* ccp_msg_attempts() at the last call */
	bool postpone_all;               /* test_postponed_age: every answer */
	bool retry_first;                /* test_retry_now: RETRY, then DELIVERED */
	/* test_retry_postponed_now: even keys POSTPONED, odd ones RETRY, then
	 * DELIVERED. */
	bool split_first;
	/* test_backoff: RETRY or POSTPONED for ever, every wait checked
	 * against the pump's configuration; when each key's last call ended
	 * (written and read by the dispatcher that owns the key's record). */
	const struct ccp_pump_config *backoff;
	uint64_t last_end[RKEYS];
	/* The source's init_msg, if any (test_restored_past_limit). */
	void (*init_msg)(void *ctx, struct ccp_msg *m);
	/* test_counts_in_batch: the pump, whose figures each batch checks
	 * against the messages not yet settled (RKEYS less the acks), and
	 * how many retried batches were checked. */
	struct ccp_pump *pump;
	_Atomic unsigned finals, checked_retries;
};

/* The least a deferred message waits before backoff step STEP's retry:
 * retry_min doubled STEP - 1 times, within retry_max. */
static uint64_t least_wait(const struct ccp_pump_config *cfg, unsigned step)
{
	uint64_t d = cfg->retry_min_ns;
	for (unsigned i = 1; i < step && d < cfg->retry_max_ns; i++)
		d *= 2;
	return d < cfg->retry_max_ns ? d : cfg->retry_max_ns;
}

/* The earliest a retry at STEP may come: its wait, or where its jitter
 * could pass retry_max, the bottom of the quarter below retry_max. */
static uint64_t earliest_retry(const struct ccp_pump_config *cfg, unsigned step)
{
	uint64_t d = least_wait(cfg, step);
	if (d + d / 2 <= cfg->retry_max_ns)
		return d;
	uint64_t floor = cfg->retry_max_ns - cfg->retry_max_ns / 4;
	return floor > cfg->retry_min_ns ? floor : cfg->retry_min_ns;
}

/* test_backoff's answer for key I, call CALLS: even keys fail (RETRY),
 * odd ones are postponed, and neither ever ends but by max_age.  The
 * message's due time, set when its last call was settled (after the call
 * ended), lies at least that step's wait after the end of the call: a
 * retry never comes sooner, counted by attempts or by postponements. */
static enum ccp_verdict backoff_verdict(struct flaky *f, unsigned i, unsigned calls,
					const struct ccp_msg *m)
{
	if (calls > 1)
		CHECK(m->due_ns >= f->last_end[i] + earliest_retry(f->backoff, calls - 1));
	return i % 2 ? CCP_VERDICT_POSTPONED : CCP_VERDICT_RETRY;
}

static unsigned key_idx(const struct ccp_msg *m)
{
	return (unsigned)atoi(m->key + 1);
}

/* Each poller notifies every key twice (two rounds); keys of other pollers too. */
static int flaky_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct flaky *f = ctx;
	unsigned n = 0;
	while (n < max && n < 64 && f->round[poller] < 2) {
		if (f->pos[poller] == RKEYS) {
			f->round[poller]++;
			f->pos[poller] = 0;
			continue;
		}
		unsigned i = f->pos[poller]++;
		/* The source contract: a key whose outcome was acknowledged is
		 * gone from the spool and never reported again. */
		if (atomic_load(&f->acks[i]))
			continue;
		int len = snprintf(f->keys[poller][n], 16, "k%u", i);
		notes[n].key = f->keys[poller][n];
		notes[n].len = (uint32_t)len;
		n++;
	}
	return n ? (int)n : CCP_SOURCE_DONE;
}

static void flaky_ack(void *ctx, unsigned d, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct flaky *f = ctx;
	unsigned i = key_idx(m);
	atomic_fetch_add(&f->acks[i], 1);
	atomic_store(&f->outcome[i], (int)outcome);
	atomic_fetch_add(&f->finals, 1);
}

static void flaky_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			  enum ccp_verdict *v)
{
	struct flaky *f = ctx;
	if (f->pump) {
		/* A message is in this batch or waits for its retry, not both:
		 * with one dispatcher, both figures are this thread's own. */
		struct ccp_pump_stats st;
		ccp_pump_stats(f->pump, &st);
		unsigned open = RKEYS - atomic_load(&f->finals);
		CHECK_MSG(st.in_flight + st.waiting_retry <= open,
			  "in flight %llu and deferred now %llu, of %u messages not settled",
			  (unsigned long long)st.in_flight, (unsigned long long)st.waiting_retry,
			  open);
		if (ccp_msg_word_attempt(ccp_msg_load(msgs[0])) > 1)
			atomic_fetch_add(&f->checked_retries, 1);
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned i = key_idx(msgs[k]);
		uint64_t w = ccp_msg_load(msgs[k]);
		unsigned attempt = ccp_msg_word_attempt(w);
		CHECK(ccp_msg_word_state(w) == CCP_MSG_DISPATCHING);
		unsigned calls = atomic_fetch_add(&f->calls[i], 1) + 1;
		if (attempt > atomic_load(&f->max_attempt[i]))
			atomic_store(&f->max_attempt[i], attempt);
		/* Counted attempts, this one included: it counts until the
		 * pump settles a postponement. */
		atomic_store(&f->charged[i], ccp_msg_attempts(msgs[k], w));
		if (f->backoff)
			v[k] = backoff_verdict(f, i, calls, msgs[k]);
		else if (f->postpone_all)
			v[k] = CCP_VERDICT_POSTPONED;
		else if (f->retry_first)
			v[k] = calls == 1 ? CCP_VERDICT_RETRY : CCP_VERDICT_DELIVERED;
		else if (f->split_first)
			v[k] = calls > 1 ? CCP_VERDICT_DELIVERED
			       : i % 2 ? CCP_VERDICT_RETRY : CCP_VERDICT_POSTPONED;
		else if (i % 13 == 0)
			/* Postponed four times, then delivered: max_attempts (3)
			 * does not end it, since postponements are not counted. */
			v[k] = calls <= 4 ? CCP_VERDICT_POSTPONED : CCP_VERDICT_DELIVERED;
		else if (i % 17 == 0)
			/* Postponed twice, then failing: ends after three counted
			 * attempts, five calls in all. */
			v[k] = calls <= 2 ? CCP_VERDICT_POSTPONED : CCP_VERDICT_RETRY;
		else if (i % 11 == 0)
			v[k] = CCP_VERDICT_RETRY; /* never succeeds: max_attempts ends it */
		else if (i % 7 == 0)
			v[k] = CCP_VERDICT_FAILED;
		else if (i % 3 == 0 && attempt < 2)
			v[k] = CCP_VERDICT_RETRY; /* succeeds on attempt 2 */
		else
			v[k] = CCP_VERDICT_DELIVERED;
	}
	uint64_t end = ccp_now_ns();
	for (unsigned k = 0; k < n && f->backoff; k++)
		f->last_end[key_idx(msgs[k])] = end;
}

/* Runs the flaky source and sink to their natural end (deferred messages
 * are settled first) and returns the pump's figures. */
static void run_flaky(struct flaky *f, const struct ccp_pump_config *cfg,
		      struct ccp_pump_stats *st)
{
	char err[128];
	struct ccp_source_ops src = { .poll = flaky_poll, .ack = flaky_ack,
				      .init_msg = f->init_msg };
	struct ccp_sink_ops sink = { .deliver = flaky_deliver };
	struct ccp_pump *p = ccp_pump_create(cfg, &src, f, &sink, f, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	ccp_pump_wait(p);
	ccp_pump_stats(p, st);
	ccp_pump_destroy(p);
}

/* The flaky tests' pump: small ring and batches, retries from 1 ms. */
static void flaky_config(struct ccp_pump_config *cfg, unsigned pollers, unsigned dispatchers)
{
	ccp_pump_config_default(cfg);
	cfg->pollers = pollers;
	cfg->dispatchers = dispatchers;
	cfg->ring_size = 64;
	cfg->batch = 8;
	cfg->retry_min_ns = 1000000; /* 1 ms */
}

/* A batch of retries has left the deferred messages: the figures count
 * it in flight, and no longer deferred (they counted it twice for the
 * whole batch, which, with deliveries paused, a relay's stats line showed
 * for minutes). */
static void test_counts_in_batch(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	char err[128];
	memset(&f, 0, sizeof(f));
	f.retry_first = true;
	flaky_config(&cfg, 2, 1);
	struct ccp_source_ops src = { .poll = flaky_poll, .ack = flaky_ack };
	struct ccp_sink_ops sink = { .deliver = flaky_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &f, &sink, &f, err, sizeof(err));
	CHECK(p != NULL);
	f.pump = p;
	CHECK(ccp_pump_start(p) == 0);
	ccp_pump_wait(p);
	struct ccp_pump_stats st;
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	CHECK_EQ_U64(st.delivered, RKEYS);
	CHECK_EQ_U64(st.waiting_retry, 0);
	CHECK(atomic_load(&f.checked_retries) > 0);
}

static void test_retries(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	memset(&f, 0, sizeof(f));
	flaky_config(&cfg, 4, 3);
	cfg.retry_max_ns = 4000000;  /* 4 ms */
	cfg.max_attempts = 3;
	run_flaky(&f, &cfg, &st);
	unsigned want_failed = 0, want_deferred = 0, want_postponed = 0;
	for (unsigned i = 0; i < RKEYS; i++) {
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1); /* outcome acked exactly once */
		if (i % 13 == 0) {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 5);
			CHECK_EQ_U64(atomic_load(&f.max_attempt[i]), 5); /* the generation */
			CHECK_EQ_U64(atomic_load(&f.charged[i]), 1);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_DELIVERED);
			want_deferred += 4;
			want_postponed += 4;
		} else if (i % 17 == 0) {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 5);
			CHECK_EQ_U64(atomic_load(&f.charged[i]), 3);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
			want_failed++;
			want_deferred += 4; /* two postponed, two retried */
			want_postponed += 2;
		} else if (i % 11 == 0) {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 3);
			CHECK_EQ_U64(atomic_load(&f.max_attempt[i]), 3);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
			want_failed++;
			want_deferred += 2;
		} else if (i % 7 == 0) {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 1);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
			want_failed++;
		} else if (i % 3 == 0) {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 2);
			CHECK_EQ_U64(atomic_load(&f.max_attempt[i]), 2);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_DELIVERED);
			want_deferred++;
		} else {
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 1);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_DELIVERED);
		}
	}
	CHECK_EQ_U64(st.failed, want_failed);
	CHECK_EQ_U64(st.delivered, RKEYS - want_failed);
	CHECK_EQ_U64(st.deferred, want_deferred);
	CHECK_EQ_U64(st.postponed, want_postponed);
	CHECK_EQ_U64(st.requeued, want_deferred);
	CHECK_EQ_U64(st.waiting_retry, 0);
	CHECK_EQ_U64(st.claims, RKEYS);
	CHECK(st.notifications >= RKEYS && st.notifications <= 4u * 2u * RKEYS);
	CHECK_EQ_U64(st.claim_conflicts, st.notifications - RKEYS);
}

/* A sink that postpones everything forever, with no attempt limit: only
 * the age can end it, so every message failing proves that postponements
 * count toward max_age (that they do not count toward max_attempts,
 * test_retries shows without a clock). */
static void test_postponed_age(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	memset(&f, 0, sizeof(f));
	f.postpone_all = true;
	flaky_config(&cfg, 2, 2);
	cfg.retry_max_ns = 2000000;  /* 2 ms */
	cfg.max_attempts = 0;
	cfg.max_age_ns = 30000000;   /* 30 ms */
	run_flaky(&f, &cfg, &st);
	for (unsigned i = 0; i < RKEYS; i++) {
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1);
		CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
		CHECK_EQ_U64(atomic_load(&f.charged[i]), 1); /* only the one being made */
	}
	CHECK_EQ_U64(st.failed, RKEYS);
	CHECK_EQ_U64(st.delivered, 0);
	CHECK_EQ_U64(st.postponed, st.deferred);
	CHECK_EQ_U64(st.dispatched, st.deferred + RKEYS);
}

/* Deferred messages wait retry_min, then twice as long at each step up to
 * retry_max, counted by attempts for a failure and by postponements for a
 * postponed message (which no attempt counts), with jitter that adds, and
 * near the cap spreads below it (flaky_deliver() checks each due time).  So within max_age a message
 * is tried a few times, not every retry_min: the waits' floors bound the
 * calls whatever the machine's speed. */
static void test_backoff(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	memset(&f, 0, sizeof(f));
	flaky_config(&cfg, 2, 2);
	cfg.retry_max_ns = 32000000;  /* 32 ms */
	cfg.max_attempts = 0;
	cfg.max_age_ns = 200000000;   /* 200 ms */
	f.backoff = &cfg;
	run_flaky(&f, &cfg, &st);
	/* Call k + 1 comes at least the floors of steps 1..k after call 1,
	 * and none comes once the age has reached max_age. */
	unsigned most = 1;
	for (uint64_t waited = 0; waited < cfg.max_age_ns; most++)
		waited += earliest_retry(&cfg, most);
	for (unsigned i = 0; i < RKEYS; i++) {
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1);
		CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
		CHECK(atomic_load(&f.calls[i]) <= most);
	}
	CHECK_EQ_U64(st.failed, RKEYS);
	CHECK(st.postponed > 0 && st.postponed < st.deferred);
}

/* ccp_pump_retry_delay() at every step: at least the step's wait, at most
 * half as much again, while that fits under retry_max; past it, in the
 * quarter below retry_max; never past retry_max, never before retry_min;
 * and spread, at the cap too. */
static void test_retry_delay(void)
{
	struct ccp_pump_config cfg;
	ccp_pump_config_default(&cfg);
	cfg.retry_min_ns = 1000;
	cfg.retry_max_ns = 100000;
	uint64_t rng = 1998, first = 0, capped_first = 0;
	bool spread = false, capped_spread = false;
	for (unsigned step = 0; step < 40; step++) {
		uint64_t least = least_wait(&cfg, step ? step : 1);
		bool capped = least + least / 2 > cfg.retry_max_ns;
		for (unsigned n = 0; n < 1000; n++) {
			uint64_t d = ccp_pump_retry_delay(&cfg, step, &rng);
			CHECK(d >= cfg.retry_min_ns && d <= cfg.retry_max_ns);
			if (!capped) {
				CHECK(d >= least && d <= least + least / 2);
			} else {
				CHECK(d >= cfg.retry_max_ns - cfg.retry_max_ns / 4);
				if (n == 0)
					capped_first = d;
				capped_spread |= d != capped_first;
			}
			if (step == 1 && n == 0)
				first = d;
			spread |= step == 1 && d != first;
		}
	}
	CHECK(spread && capped_spread);
	cfg.retry_max_ns = cfg.retry_min_ns; /* no room: exactly the one delay */
	CHECK_EQ_U64(ccp_pump_retry_delay(&cfg, 3, &rng), cfg.retry_min_ns);
}

/* Polls the pump's figures until `what` holds, for up to 60 s (a deadline
 * against a hang, not a timing check). */
static bool await_stats(struct ccp_pump *p, bool (*what)(const struct ccp_pump_stats *))
{
	struct ccp_pump_stats st;
	for (unsigned i = 0; i < 6000; i++) {
		ccp_pump_stats(p, &st);
		if (what(&st))
			return true;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool all_deferred(const struct ccp_pump_stats *st)
{
	return st->waiting_retry == RKEYS;
}

static bool all_delivered(const struct ccp_pump_stats *st)
{
	return st->delivered == RKEYS;
}

/* ccp_pump_retry_now(): every message fails its first attempt and waits
 * for a retry an hour away; one call sends them all again at once, as
 * ordinary attempts, and each is delivered exactly once. */
/* A pump of 2 pollers and DISPATCHERS whose sink fails every message's
 * first attempt, the retry an hour away; started, and returned once every
 * message waits for it.  BEFORE_START, if set, is called on the pump first. */
static struct ccp_pump *start_hour_retries(struct flaky *f, enum ccp_claim_mode mode,
					   unsigned dispatchers,
					   void (*before_start)(struct ccp_pump *))
{
	struct ccp_pump_config cfg;
	char err[128];
	memset(f, 0, sizeof(*f));
	f->retry_first = true;
	flaky_config(&cfg, 2, dispatchers);
	cfg.mode = mode;
	cfg.retry_min_ns = cfg.retry_max_ns = 3600ull * 1000000000ull;
	struct ccp_source_ops src = { .poll = flaky_poll, .ack = flaky_ack };
	struct ccp_sink_ops sink = { .deliver = flaky_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, f, &sink, f, err, sizeof(err));
	CHECK(p != NULL);
	if (before_start)
		before_start(p);
	CHECK(ccp_pump_start(p) == 0);
	CHECK(await_stats(p, all_deferred));
	return p;
}

static void test_retry_now(enum ccp_claim_mode mode)
{
	static struct flaky f;
	struct ccp_pump_stats st;
	/* Nothing deferred yet: changes nothing. */
	struct ccp_pump *p = start_hour_retries(&f, mode, 3, ccp_pump_retry_now);
	ccp_pump_stats(p, &st);
	CHECK_EQ_U64(st.delivered, 0);
	CHECK_EQ_U64(st.requeued, 0);
	ccp_pump_retry_now(p);
	CHECK(await_stats(p, all_delivered));
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	for (unsigned i = 0; i < RKEYS; i++) {
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1);
		CHECK_EQ_U64(atomic_load(&f.calls[i]), 2);
		CHECK_EQ_U64(atomic_load(&f.charged[i]), 2); /* an ordinary attempt */
		CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_DELIVERED);
	}
	CHECK_EQ_U64(st.deferred, RKEYS);
	CHECK_EQ_U64(st.requeued, RKEYS);
	CHECK_EQ_U64(st.waiting_retry, 0);
	CHECK_EQ_U64(st.failed, 0);
}

/* Polls ccp_pump_done() for up to 60 s (a deadline against a hang). */
static bool await_done(struct ccp_pump *p)
{
	for (unsigned i = 0; i < 6000; i++) {
		if (ccp_pump_done(p))
			return true;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The state letter of the pump thread named NAME (/proc: R running or
 * runnable, S asleep), or 0 if there is none. */
static char thread_state(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL);
	struct dirent *e;
	char state = 0;
	while (state == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* "TID (COMM) S ...": COMM may hold spaces, the last ')' ends it. */
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (open && close && close > open && (size_t)(close - open - 1) == strlen(name) &&
		    memcmp(open + 1, name, strlen(name)) == 0 && close[1] == ' ')
			state = close[2];
	}
	closedir(d);
	return state;
}

/* Of LOOKS looks at the thread named NAME, 5 ms apart, how many found it
 * in STATE ('S' asleep, 'R' running or runnable).  A spinning or yielding
 * thread is R at every one. */
static unsigned looks_in(const char *name, char state, unsigned looks)
{
	unsigned found = 0;
	for (unsigned i = 0; i < looks; i++) {
		char c = thread_state(name);
		CHECK(c != 0);
		found += c == state;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	return found;
}

/* Until the pump's N dispatcher threads are all asleep (S) at one look;
 * false after 20 s. */
static bool await_dispatchers_asleep(unsigned n)
{
	uint64_t end = ccp_now_ns() + 20000000000ull;
	do {
		unsigned asleep = 0;
		for (unsigned i = 0; i < n; i++) {
			char name[32];
			snprintf(name, sizeof(name), "ccp-disp/%u", i);
			asleep += thread_state(name) == 'S';
		}
		if (asleep == n)
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	} while (ccp_now_ns() < end);
	return false;
}

/* A stop after the pollers' natural end, with every message deferred for
 * an hour: the dispatchers asleep until then must act on the stop now, and
 * the messages stay at the source.  In mode mutex the dispatchers sleep
 * meanwhile (the closed queue's wait returns at once: they spun on it). */
static void test_stop_after_end(enum ccp_claim_mode mode, unsigned dispatchers)
{
	static struct flaky f;
	struct ccp_pump_stats st;
	struct ccp_pump *p = start_hour_retries(&f, mode, dispatchers, NULL);
	if (dispatchers == 1) {
		/* Asleep, not running: a spinning thread is R at every look. */
		CHECK(looks_in("ccp-disp/0", 'R', 40) < 20);
	}
	ccp_pump_stop(p);
	CHECK(await_done(p));
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	CHECK_EQ_U64(st.delivered, 0);
	CHECK_EQ_U64(st.waiting_retry, RKEYS);
	for (unsigned i = 0; i < RKEYS; i++)
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 0);
}

/* ---- the wait kinds, in both claim modes ---- */

/* A started pump of one poller and DISPATCHERS in mode MODE, both sides
 * waiting as KIND says, a ring of 8, batches of 4; CTX for both the
 * source and the sink. */
static struct ccp_pump *start_waiting(enum ccp_claim_mode mode, unsigned dispatchers,
				      enum ccp_wait_kind kind, const struct ccp_source_ops *src,
				      const struct ccp_sink_ops *sink, void *ctx)
{
	struct ccp_pump_config cfg;
	char err[128];
	small_config(&cfg, mode, 1, dispatchers, 8, 4);
	cfg.poll_wait = cfg.dispatch_wait = kind;
	struct ccp_pump *p = ccp_pump_create(&cfg, src, ctx, sink, ctx, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	return p;
}

/* A poller facing a full ring waits as --wait KIND says (the dispatchers
 * held in the sink), in mode MODE too: mode mutex's locked queue once
 * slept on its condition variable whatever KIND was, so `--mode mutex
 * --wait spin` was reported as spinning and slept. */
static void test_poller_wait_kind(enum ccp_claim_mode mode, enum ccp_wait_kind kind)
{
	/* The gated sink's context begins with the endless source's. */
	static struct gated g;
	struct ccp_pump_stats st;
	memset(&g, 0, sizeof(g));
	struct ccp_source_ops src = { .poll = endless_poll, .ack = endless_ack };
	struct ccp_sink_ops sink = { .deliver = gated_deliver };
	struct ccp_pump *p = start_waiting(mode, 2, kind, &src, &sink, &g);
	CHECK(await_stats(p, in_sink_ring_full));
	/* The poller has claimed more than the full ring takes: it waits in
	 * its enqueue until the gate opens. */
	unsigned asleep = looks_in("ccp-poll/0", 'S', 40);
	if (kind == CCP_WAIT_BLOCK)
		CHECK(asleep > 0);
	else
		CHECK_EQ_U64(asleep, 0);
	ccp_pump_stop(p);
	/* Release: pairs with the acquire in gated_deliver(). */
	atomic_store_explicit(&g.open, 1, memory_order_release);
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	/* A draining stop: everything claimed was delivered and acked. */
	CHECK(st.ring_full_waits > 0);
	CHECK_EQ_U64(st.delivered, st.claims);
	CHECK_EQ_U64(atomic_load(&g.e.acked), st.claims);
	printf("  poller waits (%s, %s): asleep at %u of 40 looks, %llu delivered\n",
	       ccp_claim_mode_name(mode), ccp_wait_name(kind), asleep,
	       (unsigned long long)st.delivered);
}

static int nothing_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	(void)ctx;
	(void)poller;
	(void)notes;
	(void)max;
	return 0;
}

/* A source's wait: a nap of 1 ms, whatever the deadline. */
static void nap_wait(void *ctx, unsigned poller, uint64_t deadline_ns)
{
	(void)ctx;
	(void)poller;
	(void)deadline_ns;
	struct timespec ts = { 0, 1000000 };
	nanosleep(&ts, NULL);
}

/* Dispatchers facing an empty ring wait as --wait KIND says, in mode MODE
 * too (the source has nothing, and its pollers sleep in nap_wait()).
 * One dispatcher in mode mutex: two would meet at the queue's mutex, where
 * a thread may sleep whatever its wait kind. */
static void test_dispatcher_wait_kind(enum ccp_claim_mode mode, enum ccp_wait_kind kind)
{
	static struct endless e;
	struct ccp_pump_stats st;
	memset(&e, 0, sizeof(e));
	unsigned dispatchers = mode == CCP_CLAIM_MUTEX ? 1 : 2;
	struct ccp_source_ops src = { .poll = nothing_poll, .wait = nap_wait, .ack = endless_ack };
	struct ccp_sink_ops sink = { .deliver = slow_deliver };
	struct ccp_pump *p = start_waiting(mode, dispatchers, kind, &src, &sink, &e);
	if (kind == CCP_WAIT_BLOCK) {
		CHECK(await_dispatchers_asleep(dispatchers));
	} else {
		/* Past their start: each has looked at the ring and found it
		 * empty many times over before the first look here ends. */
		for (unsigned i = 0; i < dispatchers; i++) {
			char name[32];
			snprintf(name, sizeof(name), "ccp-disp/%u", i);
			/* Named by the thread itself, once it runs. */
			uint64_t end = ccp_now_ns() + 20000000000ull;
			while (thread_state(name) == 0 && ccp_now_ns() < end)
				sched_yield();
			CHECK_EQ_U64(looks_in(name, 'S', 40 / dispatchers), 0);
		}
	}
	ccp_pump_stop(p);
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	CHECK_EQ_U64(st.delivered, 0);
	CHECK_EQ_U64(atomic_load(&e.delivered_calls), 0);
	CHECK_EQ_U64(atomic_load(&e.acked), 0);
	printf("  dispatcher waits (%s, %s): %s\n", ccp_claim_mode_name(mode),
	       ccp_wait_name(kind), kind == CCP_WAIT_BLOCK ? "all asleep" : "never asleep in 40 looks");
}

/* After an outage of the sink's own: ccp_pump_retry_postponed_now() makes
 * the postponed messages due, and leaves those deferred for their own
 * failures to their backoff (an hour here). */
static bool half_delivered(const struct ccp_pump_stats *st)
{
	return st->delivered == RKEYS / 2;
}

static void test_retry_postponed_now(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	char err[128];
	memset(&f, 0, sizeof(f));
	f.split_first = true;
	flaky_config(&cfg, 2, 3);
	cfg.retry_min_ns = cfg.retry_max_ns = 3600ull * 1000000000ull;
	struct ccp_source_ops src = { .poll = flaky_poll, .ack = flaky_ack };
	struct ccp_sink_ops sink = { .deliver = flaky_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &f, &sink, &f, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	CHECK(await_stats(p, all_deferred));
	ccp_pump_retry_postponed_now(p);
	CHECK(await_stats(p, half_delivered));
	for (unsigned i = 0; i < RKEYS; i++)
		CHECK_EQ_U64(atomic_load(&f.calls[i]), i % 2 ? 1 : 2);
	ccp_pump_stats(p, &st);
	CHECK_EQ_U64(st.waiting_retry, RKEYS / 2);
	ccp_pump_retry_now(p); /* the rest, to end the test */
	CHECK(await_stats(p, all_delivered));
	ccp_pump_wait(p);
	ccp_pump_destroy(p);
	for (unsigned i = 0; i < RKEYS; i++)
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1);
}

/* A message an earlier run left past max_attempts (attempts_before 5,
 * max 3) gets one more try: the first postponed and the second delivered,
 * it is delivered, not failed at the postponement (no try was made); with
 * that try failed, it fails after it. */
static void restored_past_limit(void *ctx, struct ccp_msg *m)
{
	(void)ctx;
	m->attempts_before = 5;
}

static void test_restored_past_limit(void)
{
	static struct flaky f;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	memset(&f, 0, sizeof(f));
	f.split_first = true; /* even keys POSTPONED, odd RETRY, then DELIVERED */
	f.init_msg = restored_past_limit;
	flaky_config(&cfg, 2, 2);
	cfg.max_attempts = 3;
	run_flaky(&f, &cfg, &st);
	for (unsigned i = 0; i < RKEYS; i++) {
		CHECK_EQ_U64(atomic_load(&f.acks[i]), 1);
		if (i % 2 == 0) { /* postponed, then tried and delivered */
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 2);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_DELIVERED);
		} else { /* tried and failed: its one more try */
			CHECK_EQ_U64(atomic_load(&f.calls[i]), 1);
			CHECK(atomic_load(&f.outcome[i]) == CCP_MSG_FAILED);
		}
	}
	CHECK_EQ_U64(st.failed, RKEYS / 2);
	CHECK_EQ_U64(st.delivered, RKEYS / 2);
}

/* ---- keys that come back after their ack ---- */

#define BKEYS 2000

/*
 * Each key is a file that is delivered, then put back under its name the
 * moment its ack() returns (as `queue --requeue` puts a message back), and
 * must be delivered a second time.  A reader of the test holds a read-side
 * section open until every first life is acknowledged, so no record is
 * reclaimed before: every second life's notification meets the first
 * life's tombstone, and only settled() gets the key reported again.
 */
struct comeback {
	char keys[4][64][16];
	_Atomic unsigned next;          /* first-life keys handed out */
	_Atomic unsigned acks[BKEYS];
	_Atomic bool present[BKEYS];    /* the file is there (either life) */
	_Atomic uint64_t settled_calls, first_lives, done;
	pthread_mutex_t mu;
	/* Keys to report: second lives (come back), then settled() retries. */
	unsigned due[4 * BKEYS];
	unsigned ndue;
};

/* Note N of POLLER's poll: key I, formatted into the poller's buffer. */
static void comeback_note(struct comeback *c, unsigned poller, struct ccp_note *notes,
			  unsigned n, unsigned i)
{
	notes[n].len = (uint32_t)snprintf(c->keys[poller][n], 16, "b%u", i);
	notes[n].key = c->keys[poller][n];
}

static int comeback_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct comeback *c = ctx;
	unsigned n = 0, cap = max < 64 ? max : 64;
	if (atomic_load(&c->done) == 2 * BKEYS)
		return CCP_SOURCE_DONE;
	/* New keys first: the keys to report again must not starve them. */
	while (n < cap) {
		unsigned i = atomic_fetch_add(&c->next, 1);
		if (i >= BKEYS)
			break;
		atomic_store(&c->present[i], true);
		comeback_note(c, poller, notes, n++, i);
	}
	pthread_mutex_lock(&c->mu);
	while (n < cap && c->ndue > 0) {
		unsigned i = c->due[--c->ndue];
		/* An observation made now: a file no longer there (its second
		 * life acknowledged) is not reported. */
		if (!atomic_load(&c->present[i]))
			continue;
		comeback_note(c, poller, notes, n++, i);
	}
	pthread_mutex_unlock(&c->mu);
	return (int)n;
}

static void comeback_push(struct comeback *c, unsigned i)
{
	pthread_mutex_lock(&c->mu);
	CHECK(c->ndue < 4 * BKEYS);
	c->due[c->ndue++] = i;
	pthread_mutex_unlock(&c->mu);
}

static void comeback_settled(void *ctx, unsigned poller, const char *key, uint32_t len)
{
	struct comeback *c = ctx;
	CHECK(len > 1 && key[0] == 'b');
	atomic_fetch_add(&c->settled_calls, 1);
	/* Looked at again by a later poll: still there (a second life whose
	 * note met the first life's tombstone), or gone (a stale note). */
	comeback_push(c, (unsigned)atoi(key + 1));
}

static void comeback_ack(void *ctx, unsigned d, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct comeback *c = ctx;
	unsigned i = (unsigned)atoi(m->key + 1);
	CHECK(outcome == CCP_MSG_DELIVERED);
	unsigned life = atomic_fetch_add(&c->acks[i], 1) + 1;
	CHECK(life <= 2);
	if (life == 1) {
		/* Put back at once, and notified once, as inotify would. */
		comeback_push(c, i);
		atomic_fetch_add(&c->first_lives, 1);
	} else {
		atomic_store(&c->present[i], false);
	}
	atomic_fetch_add(&c->done, 1);
}

static void comeback_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			     enum ccp_verdict *v)
{
	(void)ctx;
	for (unsigned k = 0; k < n; k++)
		v[k] = CCP_VERDICT_DELIVERED;
}

static _Atomic int reader_in;

static void *comeback_reader(void *arg)
{
	struct comeback *c = arg;
	rcu_register_thread();
	ccp_rcu_read_lock();
	atomic_store(&reader_in, 1);
	/* Until every first life is acknowledged and the notes of second
	 * lives have met tombstones BKEYS times (each is reported again until
	 * its tombstone is gone), or 60 s. */
	for (unsigned k = 0; k < 6000 && (atomic_load(&c->first_lives) < BKEYS ||
					  atomic_load(&c->settled_calls) < BKEYS);
	     k++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	ccp_rcu_read_unlock();
	rcu_unregister_thread();
	return NULL;
}

static void test_comeback(enum ccp_claim_mode mode)
{
	static struct comeback c;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	char err[128];
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	small_config(&cfg, mode, 3, 2, 64, 8);
	struct ccp_source_ops src = { .poll = comeback_poll, .ack = comeback_ack,
				      .settled = comeback_settled };
	struct ccp_sink_ops sink = { .deliver = comeback_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &c, &sink, &c, err, sizeof(err));
	CHECK(p != NULL);
	pthread_t rd;
	atomic_store(&reader_in, 0);
	CHECK(pthread_create(&rd, NULL, comeback_reader, &c) == 0);
	while (atomic_load(&reader_in) == 0)
		sched_yield();
	CHECK(ccp_pump_start(p) == 0);
	/* Up to 60 s: a deadline against a second life left waiting, not a
	 * timing check. */
	for (unsigned k = 0; k < 6000 && atomic_load(&c.done) < 2 * BKEYS; k++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	uint64_t done = atomic_load(&c.done);
	CHECK(pthread_join(rd, NULL) == 0);
	ccp_pump_stop(p);
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	pthread_mutex_destroy(&c.mu);
	printf("  comeback (%s): %llu deliveries, %llu notes met a tombstone\n",
	       ccp_claim_mode_name(mode), (unsigned long long)done,
	       (unsigned long long)atomic_load(&c.settled_calls));
	CHECK_EQ_U64(done, 2 * BKEYS);
	for (unsigned i = 0; i < BKEYS; i++)
		CHECK_EQ_U64(atomic_load(&c.acks[i]), 2);
	CHECK_EQ_U64(st.delivered, 2 * BKEYS);
	/* The case this is about happened: second lives met tombstones. */
	CHECK(atomic_load(&c.settled_calls) >= BKEYS);
}

static void test_bad_config(void)
{
	struct ccp_pump_config cfg;
	struct ccp_source_ops src = { .poll = flaky_poll, .ack = flaky_ack };
	struct ccp_sink_ops sink = { .deliver = flaky_deliver };
	char err[128];
	ccp_pump_config_default(&cfg);
	cfg.ring_size = 1000;
	CHECK(ccp_pump_create(&cfg, &src, NULL, &sink, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "power of two") != NULL);
	ccp_pump_config_default(&cfg);
	cfg.pollers = 0;
	CHECK(ccp_pump_create(&cfg, &src, NULL, &sink, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "pollers") != NULL);
	/* Values no enumerator names (a caller's cast): refused, not run as
	 * a pump that claims nothing, or spins where it should sleep. */
	ccp_pump_config_default(&cfg);
	cfg.mode = (enum ccp_claim_mode)7;
	CHECK(ccp_pump_create(&cfg, &src, NULL, &sink, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "claim mode") != NULL);
	ccp_pump_config_default(&cfg);
	cfg.dispatch_wait = (enum ccp_wait_kind)3;
	CHECK(ccp_pump_create(&cfg, &src, NULL, &sink, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "wait kinds") != NULL);
	ccp_pump_config_default(&cfg);
	cfg.poll_wait = (enum ccp_wait_kind)-1;
	CHECK(ccp_pump_create(&cfg, &src, NULL, &sink, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "wait kinds") != NULL);
}

/* ---- the watch hand-over of idle dispatchers (pump.c, WAITING) ---- */

#define WKEYS 3

/* One poller releases keys w0, w1, ... as the test allows; the sink holds
 * each batch (of one) until the test lets go. */
struct watch {
	_Atomic unsigned released, polled, inside, go;
	_Atomic unsigned by[WKEYS]; /* 1 + the dispatcher that took key i */
	char keys[WKEYS][8];
};

static int watch_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct watch *w = ctx;
	(void)poller;
	(void)max;
	unsigned i = atomic_load(&w->polled);
	if (i == WKEYS)
		return CCP_SOURCE_DONE;
	if (i == atomic_load(&w->released))
		return 0;
	snprintf(w->keys[i], sizeof(w->keys[i]), "w%u", i);
	notes[0].key = w->keys[i];
	notes[0].len = (uint32_t)strlen(w->keys[i]);
	atomic_store(&w->polled, i + 1);
	return 1;
}

static void watch_ack(void *ctx, unsigned d, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	(void)ctx;
	(void)d;
	(void)m;
	CHECK(outcome == CCP_MSG_DELIVERED);
}

static void watch_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			  enum ccp_verdict *v)
{
	struct watch *w = ctx;
	CHECK_EQ_U64(n, 1);
	unsigned i = (unsigned)atoi(msgs[0]->key + 1);
	CHECK(i < WKEYS);
	CHECK_EQ_U64(atomic_exchange(&w->by[i], d + 1), 0);
	atomic_fetch_add(&w->inside, 1);
	/* Held until the test lets go; 30 s bounds a broken run. */
	uint64_t end = ccp_now_ns() + 30000000000ull;
	while (!atomic_load(&w->go) && ccp_now_ns() < end) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	v[0] = CCP_VERDICT_DELIVERED;
}

static bool await_inside(struct watch *w, unsigned k)
{
	uint64_t end = ccp_now_ns() + 20000000000ull;
	while (atomic_load(&w->inside) < k && ccp_now_ns() < end) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&w->inside) >= k;
}

/* Wait block, three dispatchers: while some deliver (held in the sink), a
 * message that arrives is taken by one of the idle ones.  Idle dispatchers
 * that do not watch the ring sleep with no deadline, so only the hand-over
 * (a watcher leaving to deliver wakes a sleeper) can get them there. */
static void test_watch_handover(void)
{
	static struct watch w;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	char err[128];
	memset(&w, 0, sizeof(w));
	ccp_pump_config_default(&cfg);
	cfg.pollers = 1;
	cfg.dispatchers = WKEYS;
	cfg.batch = 1;
	cfg.dispatch_wait = CCP_WAIT_BLOCK;
	struct ccp_source_ops src = { .poll = watch_poll, .wait = nap_wait, .ack = watch_ack };
	struct ccp_sink_ops sink = { .deliver = watch_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &w, &sink, &w, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ccp_pump_start(p) == 0);
	/* Let the dispatchers settle into their idle waits first: all of them
	 * asleep at one look (20 s bounds a broken run), so that the keys
	 * below find only the watcher awake and the others must be handed
	 * the watch. */
	CHECK(await_dispatchers_asleep(WKEYS));
	for (unsigned k = 1; k <= WKEYS; k++) {
		atomic_store(&w.released, k);
		CHECK(await_inside(&w, k));
	}
	atomic_store(&w.go, 1);
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	CHECK_EQ_U64(st.delivered, WKEYS);
	/* Each key went to a dispatcher of its own: the others were held. */
	for (unsigned i = 0; i < WKEYS; i++)
		for (unsigned j = 0; j < i; j++)
			CHECK(atomic_load(&w.by[i]) != atomic_load(&w.by[j]));
	printf("  watch hand-over: %u dispatchers held at once\n", atomic_load(&w.inside));
}

/* A stop asked for before a run begins (a Ctrl-C while the bench sets up)
 * stops that run, which says so; the run after it is not stopped. */
static void test_stop_before_run(void)
{
	struct ccp_synth_config cfg;
	char err[256];
	ccp_synth_config_default(&cfg);
	cfg.pump.pollers = 2;
	cfg.pump.dispatchers = 2;
	cfg.messages = 0;
	cfg.duration_s = 20; /* ended by the stop long before */
	ccp_synth_request_stop();
	CHECK(ccp_synth_run(&cfg, &rep, err, sizeof(err)) == 0);
	CHECK(rep.ended == CCP_SYNTH_END_SIGNAL);
	CHECK_EQ_U64(rep.duplicates, 0);
	CHECK_EQ_U64(rep.lost, 0);
	cfg.messages = 20000;
	cfg.duration_s = 0;
	CHECK(ccp_synth_run(&cfg, &rep, err, sizeof(err)) == 0);
	CHECK(rep.ended == CCP_SYNTH_END_MESSAGES);
	CHECK_EQ_U64(rep.messages, 20000);
	CHECK(ccp_synth_exactly_once(&rep));
	printf("  stop before the run: stopped after %.3f s, the next run whole\n", rep.seconds);
}

int main(void)
{
	test_bad_config();
	run_synth(CCP_CLAIM_LOCKFREE, CCP_WAIT_BLOCK, 6, 3, 16, 64, 16, 0, 100000);
	run_synth(CCP_CLAIM_MUTEX, CCP_WAIT_BLOCK, 6, 3, 16, 64, 16, 0, 50000);
	run_synth(CCP_CLAIM_LOCKFREE, CCP_WAIT_YIELD, 3, 2, 8, 1024, 32, 24, 50000);
	run_synth(CCP_CLAIM_LOCKFREE, CCP_WAIT_SPIN, 2, 2, 4, 16, 1, 0, 20000);
	run_synth_sides(CCP_CLAIM_LOCKFREE, CCP_WAIT_YIELD, CCP_WAIT_BLOCK, 3, 2, 4, 8, 2, 0, 20000);
	run_synth_sides(CCP_CLAIM_LOCKFREE, CCP_WAIT_BLOCK, CCP_WAIT_YIELD, 3, 2, 4, 8, 2, 0, 20000);
	/* A ring of 2 with blocking waits: a wake-up per message, which a
	 * loaded machine pays a time slice for; 5,000 is enough to hit every
	 * edge many times. */
	run_synth(CCP_CLAIM_LOCKFREE, CCP_WAIT_BLOCK, 1, 1, 1, 2, 1, 0, 5000);
	test_stop_with_full_ring(CCP_CLAIM_LOCKFREE);
	test_stop_with_full_ring(CCP_CLAIM_MUTEX);
	test_stop_leaving_queued(CCP_CLAIM_LOCKFREE, false);
	test_stop_leaving_queued(CCP_CLAIM_MUTEX, false);
	test_stop_leaving_queued(CCP_CLAIM_LOCKFREE, true);
	test_retire_while_busy();
	static const enum ccp_wait_kind kinds[] = { CCP_WAIT_SPIN, CCP_WAIT_YIELD, CCP_WAIT_BLOCK };
	for (unsigned k = 0; k < 3; k++) {
		test_poller_wait_kind(CCP_CLAIM_LOCKFREE, kinds[k]);
		test_poller_wait_kind(CCP_CLAIM_MUTEX, kinds[k]);
		test_dispatcher_wait_kind(CCP_CLAIM_LOCKFREE, kinds[k]);
		test_dispatcher_wait_kind(CCP_CLAIM_MUTEX, kinds[k]);
	}
	test_watch_handover();
	test_retries();
	test_counts_in_batch();
	test_postponed_age();
	test_retry_delay();
	test_backoff();
	test_retry_postponed_now();
	test_restored_past_limit();
	test_retry_now(CCP_CLAIM_LOCKFREE);
	test_retry_now(CCP_CLAIM_MUTEX);
	test_stop_after_end(CCP_CLAIM_LOCKFREE, 3);
	test_stop_after_end(CCP_CLAIM_MUTEX, 3);
	test_stop_after_end(CCP_CLAIM_MUTEX, 1);
	test_comeback(CCP_CLAIM_LOCKFREE);
	test_comeback(CCP_CLAIM_MUTEX);
	test_stop_before_run();
	puts("test_pump: ok");
	return 0;
}

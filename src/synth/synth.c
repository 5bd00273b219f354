/*
 * synth.c: the synthetic source and the checking null sink of
 * `ccpump bench` (the load is described in include/ccpump/synth.h).
 */
#include "ccpump/synth.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/log.h"
#include "ccpump/wait.h"

#define CHUNK 64u
/* A poller may start chunk c only while every other unfinished poller has
 * reached chunk c - SKEW_CHUNKS: the copies of a message then reach the
 * pollers close together in time, as the load promises, instead of one
 * poller running a whole time slice ahead of a descheduled peer. */
#define SKEW_CHUNKS 8u
/* A poller signals its `moved` event every this many chunks: a peer that
 * waits for it then has that much room before it must wait again. */
#define SKEW_WAKE_CHUNKS (SKEW_CHUNKS / 2)
#define KEY_MAX 48u
#define KEY_PREFIX "1764288000.M"
#define KEY_PREFIX_LEN 12u
#define KEY_SUFFIX "P4242.bench"
#define KEY_SUFFIX_LEN 11u
/* Without --messages, a duration run can notify up to this many messages:
 * the check-off tables are reserved, not committed, so only what is used
 * costs memory (two bytes per message).  message_cap() lowers it to what
 * the machine holds. */
#define UNBOUNDED_MESSAGES (1ull << 34)

static _Atomic int stop_requested;

const char *ccp_synth_end_name(enum ccp_synth_end e)
{
	switch (e) {
	case CCP_SYNTH_END_MESSAGES: return "messages";
	case CCP_SYNTH_END_DURATION: return "duration";
	case CCP_SYNTH_END_CAP: return "message_cap";
	case CCP_SYNTH_END_SIGNAL: return "signal";
	}
	return "?";
}

/* The octets one record of this run takes: the record, its key, its
 * payload. */
static uint64_t record_bytes(const struct ccp_synth_config *cfg)
{
	return sizeof(struct ccp_msg) + KEY_MAX + cfg->payload;
}

/* Refuses a run whose pump would hold more than half the machine's memory
 * when its ring is full: the ring's slots, and a record with its payload
 * for every message the ring, the batches in hand and the polls hold (no
 * more than the run has; in mode naive, which never retires a record,
 * every message of a --messages run).  Left to run, it would end in the
 * OOM killer or an out-of-memory abort. */
static int check_memory(const struct ccp_synth_config *cfg, char *err, size_t errlen)
{
	double half = ccp_half_memory_bytes();
	if (half == 0)
		return 0;
	const struct ccp_pump_config *p = &cfg->pump;
	uint64_t held = ccp_pump_records_in_hand(p);
	if (cfg->messages && (held > cfg->messages || p->mode == CCP_CLAIM_NAIVE))
		held = cfg->messages;
	double need = (double)p->ring_size * 8.0 + (double)held * (double)record_bytes(cfg);
	if (need <= half)
		return 0;
	if (p->mode == CCP_CLAIM_NAIVE && cfg->messages)
		snprintf(err, errlen, "mode naive keeps every record: %llu messages (--messages) "
			 "with %zu-octet payloads need %.1f GiB, over half this machine's memory "
			 "(%.1f GiB): give fewer --messages or a smaller --payload",
			 (unsigned long long)cfg->messages, cfg->payload, need / 1073741824.0,
			 half / 1073741824.0);
	else
		snprintf(err, errlen, "a full ring (--ring-size %llu) of messages with %zu-octet "
			 "payloads (--payload) needs %.1f GiB, over half this machine's memory "
			 "(%.1f GiB): give a smaller --ring-size or --payload",
			 (unsigned long long)p->ring_size, cfg->payload, need / 1073741824.0,
			 half / 1073741824.0);
	return -1;
}

/* How many messages a duration run may notify: what it keeps per message
 * (two bytes of check-off tables; in mode naive the record too, since that
 * mode never retires one) in half the machine's memory.  A run of hours
 * at millions a second would otherwise take all of it. */
static uint64_t message_cap(const struct ccp_synth_config *cfg)
{
	double half = ccp_half_memory_bytes();
	if (half == 0)
		return UNBOUNDED_MESSAGES;
	/* 16 more per record in mode naive: its allocation's rounding. */
	uint64_t per = 2 + (cfg->pump.mode == CCP_CLAIM_NAIVE ? record_bytes(cfg) + 16 : 0);
	double cap = half / (double)per;
	return cap < (double)UNBOUNDED_MESSAGES ? (uint64_t)cap : UNBOUNDED_MESSAGES;
}

void ccp_synth_request_stop(void)
{
	atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
}

struct poller_state {
	/* Current chunk; read by the other pollers for the skew bound
	 * (relaxed: a stale value only makes a poller wait a little longer). */
	_Atomic uint64_t at_chunk;
	uint64_t chunk;    /* current chunk (owner's copy) */
	unsigned pass;     /* next copy j of the message at pos that is ours */
	unsigned pos;      /* next index within the chunk */
	unsigned rot;      /* (message index at pos) % P */
	bool at_start;     /* the chunk's rate and skew checks are still due */
	unsigned id;       /* this poller's number */
	/* Signalled every SKEW_WAKE_CHUNKS chunks and when the poller
	 * finishes: what a peer that ran too far ahead of it sleeps on. */
	struct ccp_event moved;
	uint64_t stale;
	uint64_t emitted;
	/* Messages below this index have had every notification of this
	 * poller handled.  Written by the poller, read after the join. */
	uint64_t done_upto;
	bool finished;
	bool arrived;      /* counted in synth.arrived */
	bool begun;        /* every poller has arrived */
	/* The last key formatted: a poller's copies of a message come one after
	 * the other, and the next message's key is one more, so most keys are a
	 * copy or a decimal increment of this one (key_of()). */
	uint64_t last_idx;
	unsigned last_len;
	char last_key[KEY_MAX];
	char keys[];       /* notes_per_poll * KEY_MAX bytes */
} CCP_ALIGNED(CCP_CACHE_GUARD);

struct synth {
	const struct ccp_synth_config *cfg;
	uint64_t limit;                 /* message indices available */
	unsigned P, K;
	uint64_t start_ns, deadline_ns; /* deadline 0 = none */
	_Atomic uint8_t *count;         /* deliveries per message (sink) */
	_Atomic uint8_t *acked;         /* acknowledged per message (ack) */
	_Atomic uint64_t corrupted;
	/* Pollers that have polled once: none notifies before all have. */
	_Atomic unsigned arrived;
	struct ccp_event all_in;
	struct poller_state **ps;
};

/* ---- keys ------------------------------------------------------------ */

static unsigned format_key(char *buf, uint64_t idx)
{
	char digits[24];
	unsigned n = 0;
	do {
		digits[n++] = (char)('0' + idx % 10);
		idx /= 10;
	} while (idx);
	memcpy(buf, KEY_PREFIX, KEY_PREFIX_LEN);
	for (unsigned i = 0; i < n; i++)
		buf[KEY_PREFIX_LEN + i] = digits[n - 1 - i];
	memcpy(buf + KEY_PREFIX_LEN + n, KEY_SUFFIX, KEY_SUFFIX_LEN);
	return KEY_PREFIX_LEN + n + KEY_SUFFIX_LEN;
}

/* Writes message idx's key to buf, as format_key() does, from the last key
 * this poller wrote where it can. */
static unsigned key_of(struct poller_state *st, char *buf, uint64_t idx)
{
	if (idx == st->last_idx + 1) {
		/* Add one in decimal, from the last digit; all nines (a new
		 * digit) is left to format_key(). */
		char *first = st->last_key + KEY_PREFIX_LEN;
		char *d = st->last_key + st->last_len - KEY_SUFFIX_LEN - 1;
		while (d >= first && *d == '9')
			*d-- = '0';
		if (d >= first) {
			(*d)++;
			st->last_idx = idx;
		}
	}
	if (idx != st->last_idx) {
		st->last_len = format_key(st->last_key, idx);
		st->last_idx = idx;
	}
	memcpy(buf, st->last_key, st->last_len);
	return st->last_len;
}

static uint64_t parse_key(const struct ccp_msg *m)
{
	uint64_t v = 0;
	CCP_ASSERT(m->key_len > KEY_PREFIX_LEN + KEY_SUFFIX_LEN);
	for (uint32_t i = KEY_PREFIX_LEN; i < m->key_len && m->key[i] != 'P'; i++) {
		CCP_ASSERT(m->key[i] >= '0' && m->key[i] <= '9');
		v = v * 10 + (uint64_t)(m->key[i] - '0');
	}
	return v;
}

static inline uint8_t payload_byte(uint64_t idx)
{
	return (uint8_t)(idx * 131u + 7u);
}

/* ---- source ---------------------------------------------------------- */

/* A peer that chunk c would put this poller too far ahead of, or -1. */
static int laggard(const struct synth *s, unsigned self, uint64_t c)
{
	if (c < SKEW_CHUNKS)
		return -1;
	for (unsigned p = 0; p < s->P; p++)
		if (p != self && atomic_load_explicit(&s->ps[p]->at_chunk, memory_order_relaxed) <
				 c - SKEW_CHUNKS)
			return (int)p;
	return -1;
}

static bool too_far_ahead(const struct synth *s, unsigned self, uint64_t c)
{
	return laggard(s, self, c) >= 0;
}

/* Copy j of message i goes to poller (i + j) % P: this poller's first copy
 * of the message at pos is j = (poller - i) mod P, the next ones P apart.
 * Kept incrementally (one division per chunk, not one per copy). */
static void first_pass(const struct synth *s, struct poller_state *st)
{
	unsigned j = st->id + s->P - st->rot;
	st->pass = j >= s->P ? j - s->P : j;
}

static void start_chunk(const struct synth *s, struct poller_state *st)
{
	st->pos = 0;
	st->rot = (unsigned)((st->chunk * CHUNK) % s->P);
	first_pass(s, st);
	st->at_start = true;
}

/* Moves to the next chunk; false when this poller has no more work. */
static bool next_chunk(struct synth *s, struct poller_state *st)
{
	st->chunk++;
	atomic_store_explicit(&st->at_chunk, st->chunk, memory_order_relaxed);
	/* A full barrier: a peer that snapshots the event after this sees the
	 * new chunk, one that snapshotted before is woken. */
	if (st->chunk % SKEW_WAKE_CHUNKS == 0)
		ccp_event_signal(&st->moved, 1);
	start_chunk(s, st);
	st->done_upto = st->chunk * CHUNK < s->limit ? st->chunk * CHUNK : s->limit;
	if (st->chunk * CHUNK >= s->limit)
		return false;
	if (atomic_load_explicit(&stop_requested, memory_order_relaxed))
		return false;
	if (s->deadline_ns && ccp_now_ns() >= s->deadline_ns)
		return false;
	return true;
}

/* With --rate, the earliest time chunk c may start. */
static uint64_t chunk_due(const struct synth *s, uint64_t chunk)
{
	return s->start_ns + (uint64_t)((double)(chunk * CHUNK) * 1e9 / (double)s->cfg->rate);
}

/* This poller is done, and never holds the others back from here on. */
static void finish(struct synth *s, struct poller_state *st)
{
	st->finished = true;
	atomic_store_explicit(&st->at_chunk, UINT64_MAX / 2, memory_order_relaxed);
	ccp_event_signal(&st->moved, 1);
}

static int synth_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct synth *s = ctx;
	struct poller_state *st = s->ps[poller];
	unsigned k = 0;

	if (st->finished)
		return CCP_SOURCE_DONE;
	if (ccp_unlikely(!st->begun)) {
		/* All pollers begin at once, as at the connector's start-up:
		 * none notifies before every one has polled.  Threads start
		 * one after another, and a first poller that ran ahead alone
		 * would deliver its messages before the second saw them, whose
		 * copies would then all be stale: no race to lose. */
		if (!st->arrived) {
			st->arrived = true;
			/* The count alone is shared; the event wakes the
			 * waiters (synth_wait()). */
			if (atomic_fetch_add_explicit(&s->arrived, 1, memory_order_relaxed) + 1 ==
			    s->P)
				ccp_event_signal(&s->all_in, 1);
		}
		if (atomic_load_explicit(&s->arrived, memory_order_relaxed) < s->P)
			return 0;
		st->begun = true;
	}
	if (st->at_start) {
		/* A stop must not wait for the next chunk to fall due. */
		if (atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
			finish(s, st);
			return CCP_SOURCE_DONE;
		}
		uint64_t now = s->cfg->rate ? ccp_now_ns() : 0;
		if (s->cfg->rate && now < chunk_due(s, st->chunk)) {
			/* The next chunk is not due: idle, to the end of the run at most. */
			if (s->deadline_ns && now >= s->deadline_ns) {
				finish(s, st);
				return CCP_SOURCE_DONE;
			}
			return 0;
		}
		if (too_far_ahead(s, poller, st->chunk))
			return 0;
		st->at_start = false;
	}
	while (k < max) {
		/* Past this poller's last copy of the message at pos (with fewer
		 * copies than pollers it may have none): on to the next. */
		while (st->pass >= s->K && st->pos < CHUNK) {
			st->pos++;
			st->rot = st->rot + 1 == s->P ? 0 : st->rot + 1;
			first_pass(s, st);
		}
		if (st->pos >= CHUNK) {
			if (!next_chunk(s, st)) {
				finish(s, st);
				break;
			}
			if (s->cfg->rate && ccp_now_ns() < chunk_due(s, st->chunk))
				break;
			if (too_far_ahead(s, poller, st->chunk))
				break;
			st->at_start = false;
			continue;
		}
		uint64_t idx = st->chunk * CHUNK + st->pos;
		st->pass += s->P;
		if (idx >= s->limit) {
			st->pos = CHUNK;
			st->pass = s->K;
			continue;
		}
		/* Acquire: pairs with the release in synth_ack(). */
		if (atomic_load_explicit(&s->acked[idx], memory_order_acquire)) {
			st->stale++;
			continue;
		}
		char *key = st->keys + (size_t)k * KEY_MAX;
		notes[k].key = key;
		notes[k].len = key_of(st, key, idx);
		k++;
	}
	st->emitted += k;
	if (k == 0 && st->finished)
		return CCP_SOURCE_DONE;
	return (int)k;
}

static void synth_wait(void *ctx, unsigned poller, uint64_t deadline_ns)
{
	struct synth *s = ctx;
	struct poller_state *st = s->ps[poller];
	/* Snapshot, then look: an arrival after the look signals past it. */
	uint32_t in_snap = ccp_event_snapshot(&s->all_in);
	if (!st->begun && atomic_load_explicit(&s->arrived, memory_order_relaxed) < s->P) {
		unsigned no_yields = CCP_WAIT_BLOCK_YIELDS;
		ccp_wait_step(CCP_WAIT_BLOCK, &s->all_in, in_snap, deadline_ns, &no_yields);
		return;
	}
	int lag = laggard(s, poller, st->chunk);
	if (lag >= 0) {
		/* Sleep until that peer moves on.  Yielding instead cost a sixth
		 * of the pump's CPU in system calls and switches when the peer
		 * was off-CPU for a time slice; one event for all pollers woke
		 * every sleeper at every chunk (with 8 pollers on 2 CPUs, half
		 * the rate).  Each poller has its own event, signalled every
		 * SKEW_WAKE_CHUNKS, so only its waiters wake, with room to run.
		 * The check after the snapshot closes the race with a signal
		 * just before it. */
		struct poller_state *peer = s->ps[lag];
		uint32_t snap = ccp_event_snapshot(&peer->moved);
		if (atomic_load_explicit(&peer->at_chunk, memory_order_relaxed) >=
		    st->chunk - SKEW_CHUNKS)
			return;
		unsigned idle = CCP_WAIT_BLOCK_YIELDS; /* no yields first */
		ccp_wait_step(CCP_WAIT_BLOCK, &peer->moved, snap, deadline_ns, &idle);
		return;
	}
	uint64_t due = s->cfg->rate ? chunk_due(s, st->chunk) : 0;
	if (due > deadline_ns)
		due = deadline_ns;
	if (s->deadline_ns && due > s->deadline_ns)
		due = s->deadline_ns;
	uint64_t now = ccp_now_ns();
	if (due > now)
		ccp_sleep_ns(due - now);
}

static void synth_init_msg(void *ctx, struct ccp_msg *m)
{
	if (m->user_size)
		memset(ccp_msg_user(m), payload_byte(parse_key(m)), m->user_size);
}

static void synth_ack(void *ctx, unsigned dispatcher, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct synth *s = ctx;
	/* Release: pairs with the acquire in synth_poll(); the message has
	 * left the "spool" before its record is retired. */
	atomic_store_explicit(&s->acked[parse_key(m)], 1, memory_order_release);
}

/* ---- sink ------------------------------------------------------------ */

static void synth_deliver(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs, unsigned n,
			  enum ccp_verdict *verdicts)
{
	struct synth *s = ctx;
	for (unsigned i = 0; i < n; i++) {
		uint64_t idx = parse_key(msgs[i]);
		if (msgs[i]->user_size) {
			const uint8_t *u = ccp_msg_user(msgs[i]);
			uint8_t want = payload_byte(idx);
			unsigned bad = 0;
			for (uint32_t b = 0; b < msgs[i]->user_size; b++)
				bad |= u[b] ^ want;
			if (bad)
				atomic_fetch_add_explicit(&s->corrupted, 1, memory_order_relaxed);
		}
		/* Relaxed: counted, and read only after every thread is joined. */
		atomic_fetch_add_explicit(&s->count[idx], 1, memory_order_relaxed);
		verdicts[i] = CCP_VERDICT_DELIVERED;
	}
}

/* ---- the run --------------------------------------------------------- */

void ccp_synth_config_default(struct ccp_synth_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	ccp_pump_config_default(&cfg->pump);
	cfg->messages = 4000000;
	cfg->duration_s = 0;
	cfg->dup_factor = 4;
	cfg->payload = 0;
	cfg->rate = 0;
	cfg->progress = false;
	cfg->progress_out = stderr;
}

static void *reserve(uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void progress_line(const struct ccp_synth_config *cfg, struct ccp_pump *pump,
			  uint64_t start, uint64_t *last_n, uint64_t *last_t, uint64_t alloc)
{
	struct ccp_pump_stats st;
	ccp_pump_stats(pump, &st);
	uint64_t now = ccp_now_ns();
	double dt = (double)(now - *last_t) / 1e9;
	double rate = dt > 0 ? (double)(st.delivered - *last_n) / dt : 0;
	*last_n = st.delivered;
	*last_t = now;
	fprintf(cfg->progress_out,
		"\r%7.1f s  delivered %12llu  %7.2f M msg/s  ring %7llu  records %8llu  alloc %6.1f MiB ",
		(double)(now - start) / 1e9, (unsigned long long)st.delivered, rate / 1e6,
		(unsigned long long)st.in_ring, (unsigned long long)st.live_records,
		(double)alloc / 1048576.0);
	fflush(cfg->progress_out);
}

int ccp_synth_run(const struct ccp_synth_config *cfg, struct ccp_synth_report *rep, char *err,
		  size_t errlen)
{
	struct synth s;
	struct ccp_alloc_stats as;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	memset(&s, 0, sizeof(s));
	rep->cfg = *cfg;
	if (cfg->dup_factor < 1 || cfg->dup_factor > 64) {
		snprintf(err, errlen, "dup factor must be 1..64 (got %u)", cfg->dup_factor);
		return -1;
	}
	if (cfg->messages == 0 && cfg->duration_s <= 0) {
		snprintf(err, errlen, "give a message count or a duration");
		return -1;
	}
	if (check_memory(cfg, err, errlen) != 0)
		return -1;
	ccp_host_probe_round_trip(&rep->host_before);
	s.cfg = cfg;
	s.P = cfg->pump.pollers;
	s.K = cfg->dup_factor;
	rep->message_cap = cfg->messages ? 0 : message_cap(cfg);
	s.limit = cfg->messages ? cfg->messages : rep->message_cap;
	s.count = reserve(s.limit);
	s.acked = reserve(s.limit);
	if (s.count == NULL || s.acked == NULL) {
		snprintf(err, errlen, "cannot reserve check-off tables for %llu messages: %s",
			 (unsigned long long)s.limit, strerror(errno));
		rc = CCP_SYNTH_NO_RESOURCES;
		goto out;
	}
	atomic_init(&s.corrupted, 0);
	atomic_init(&s.arrived, 0);
	ccp_event_init(&s.all_in);

	struct ccp_pump_config pcfg = cfg->pump;
	pcfg.user_size = cfg->payload;
	struct ccp_source_ops src = { .wait = synth_wait, .poll = synth_poll,
				      .init_msg = synth_init_msg, .ack = synth_ack };
	struct ccp_sink_ops sink = { .deliver = synth_deliver };
	struct ccp_pump *pump = ccp_pump_create(&pcfg, &src, &s, &sink, &s, err, errlen);
	if (pump == NULL)
		goto out;

	s.ps = ccp_calloc(s.P, sizeof(*s.ps));
	for (unsigned i = 0; i < s.P; i++) {
		size_t sz = sizeof(struct poller_state) + (size_t)pcfg.notes_per_poll * KEY_MAX;
		s.ps[i] = ccp_aligned_alloc(CCP_CACHE_GUARD, sz);
		memset(s.ps[i], 0, sz);
		s.ps[i]->id = i;
		/* No key yet: an index no message has, nor the one after it. */
		s.ps[i]->last_idx = UINT64_MAX - 1;
		ccp_event_init(&s.ps[i]->moved);
		start_chunk(&s, s.ps[i]);
	}

	double cpu0 = cpu_now();
	s.start_ns = ccp_now_ns();
	s.deadline_ns = cfg->duration_s > 0 ? s.start_ns + (uint64_t)(cfg->duration_s * 1e9) : 0;
	int started = ccp_pump_start(pump);
	if (started != 0) {
		snprintf(err, errlen, "cannot start %u pollers and %u dispatchers: %s",
			 pcfg.pollers, pcfg.dispatchers, strerror(-started));
		rc = CCP_SYNTH_NO_RESOURCES;
		ccp_pump_destroy(pump);
		for (unsigned i = 0; i < s.P; i++)
			ccp_free(s.ps[i]);
		ccp_free(s.ps);
		goto out;
	}

	/* Read the allocated bytes for their peak every 5 ms (a full ring of
	 * records with payloads comes and goes in tens of milliseconds); under
	 * --rate, a paced load where an idle pump's CPU is what is measured,
	 * once a second.  Keep a sample once a second, and draw progress,
	 * until the pump ends. */
	bool paced = cfg->rate != 0;
	uint64_t last_n = 0, last_t = s.start_ns, next_sample = s.start_ns;
	while (!ccp_pump_done(pump)) {
		ccp_sleep_ns(paced ? 50000000u : 5000000u);
		uint64_t now = ccp_now_ns();
		if (paced && now < next_sample)
			continue;
		ccp_alloc_stats_read(&as);
		if (as.allocated > rep->allocated_bytes)
			rep->allocated_bytes = as.allocated;
		if (now < next_sample)
			continue;
		next_sample += 1000000000ull;
		if (rep->nsamples < CCP_SYNTH_MAX_SAMPLES)
			rep->allocated_samples[rep->nsamples++] = as.allocated;
		if (cfg->progress)
			progress_line(cfg, pump, s.start_ns, &last_n, &last_t, as.allocated);
	}
	ccp_pump_wait(pump);
	/* The pump's own end stamp: the sampling loop above notices the end
	 * only on its next tick. */
	uint64_t end = ccp_pump_finished_ns(pump);
	rep->cpu_seconds = cpu_now() - cpu0;
	if (cfg->progress) {
		progress_line(cfg, pump, s.start_ns, &last_n, &last_t, rep->allocated_bytes);
		fputc('\n', cfg->progress_out);
	}
	ccp_pump_stats(pump, &rep->pump);
	ccp_alloc_stats_read(&as);
	rep->allocated_bytes_end = as.allocated;
	if (as.allocated > rep->allocated_bytes)
		rep->allocated_bytes = as.allocated;
	rep->allocator = ccp_alloc_name();
	ccp_pump_destroy(pump);
	ccp_host_probe_round_trip(&rep->host_after);

	/* Which messages were notified: poller p covers message i if one of
	 * i's copies is p's, and p got past i. */
	uint64_t top = 0;
	for (unsigned p = 0; p < s.P; p++) {
		if (s.ps[p]->done_upto > top)
			top = s.ps[p]->done_upto;
		rep->stale += s.ps[p]->stale;
		rep->notifications += s.ps[p]->emitted;
	}
	for (uint64_t i = 0; i < top; i++) {
		bool notified = false;
		for (unsigned j = 0; j < s.K && !notified; j++)
			notified = s.ps[(i + j) % s.P]->done_upto > i;
		uint8_t c = atomic_load_explicit(&s.count[i], memory_order_relaxed);
		if (notified) {
			rep->messages++;
			if (c == 0)
				rep->lost++;
		} else if (c) {
			rep->phantoms++;
		}
		if (c) {
			rep->delivered++;
			rep->deliveries += c;
			rep->duplicates += c - 1u;
		}
	}
	/* Read and cleared for the next run in the process.  Cleared here,
	 * not when a run begins: a signal that came while the caller set up
	 * (its handler installed, the run not yet begun) still stops this
	 * one. */
	bool signalled = atomic_exchange_explicit(&stop_requested, 0, memory_order_relaxed);
	/* A signal after every message was notified cut nothing short. */
	if (top < s.limit)
		rep->ended = signalled ? CCP_SYNTH_END_SIGNAL : CCP_SYNTH_END_DURATION;
	else
		rep->ended = cfg->messages ? CCP_SYNTH_END_MESSAGES : CCP_SYNTH_END_CAP;
	rep->corrupted = atomic_load_explicit(&s.corrupted, memory_order_relaxed);
	rep->checkoff_bytes = 2 * top; /* count and acked: one byte each */
	rep->seconds = (double)(end - s.start_ns) / 1e9;
	rep->msgs_per_sec = rep->seconds > 0 ? (double)rep->delivered / rep->seconds : 0;
	rep->notifications_per_sec = rep->seconds > 0 ? (double)rep->notifications / rep->seconds : 0;
	rep->latency_p50 = ccp_hist_quantile(&rep->pump.latency, 0.50);
	rep->latency_p99 = ccp_hist_quantile(&rep->pump.latency, 0.99);
	rep->latency_p999 = ccp_hist_quantile(&rep->pump.latency, 0.999);
	rep->latency_max = rep->pump.latency.max;
	rep->peak_rss_bytes = ccp_peak_rss_bytes();
	rc = 0;
	for (unsigned i = 0; i < s.P; i++)
		ccp_free(s.ps[i]);
	ccp_free(s.ps);
out:
	if (s.count)
		munmap((void *)s.count, s.limit);
	if (s.acked)
		munmap((void *)s.acked, s.limit);
	return rc;
}

bool ccp_synth_exactly_once(const struct ccp_synth_report *rep)
{
	return rep->duplicates == 0 && rep->lost == 0 && rep->phantoms == 0 &&
	       rep->corrupted == 0 && rep->delivered == rep->messages;
}

/*
 * pump.h: pollers -> claim -> ring -> dispatchers, as threads.
 *
 * The pump knows nothing of files or cc:Mail.  A source tells pollers which
 * keys have waiting messages (notifications: the same key may be reported
 * any number of times, by any poller); a sink delivers batches.  For each
 * message the pump guarantees, in modes lockfree and mutex:
 *
 *   - exactly one poller claims it (NEW -> QUEUED) and enqueues it, however
 *     many notifications arrive, from however many pollers;
 *   - it is handed to the sink once per attempt, in a batch of up to
 *     `batch` messages; a retried message comes back after a backoff, with
 *     its attempt number raised;
 *   - its final outcome (delivered or failed) is acknowledged to the source
 *     exactly once, and only then is its record retired;
 *   - nothing is dropped: pollers wait while the ring is full, and a stop
 *     drains the ring and finishes in-flight batches; or, for a source
 *     that keeps its messages (a spool), a stop that leaves what is
 *     queued unacknowledged at the source for the next run.
 *
 * Mode naive reproduces the 1998 connector (check the state, then set it,
 * in two steps) to show the race.  Never use it for mail.
 *
 * THREADS
 *   pollers ×P: wait (source), then inside one RCU read-side section:
 *               poll notifications, find-or-add each key in the registry,
 *               claim; then enqueue the winners as one burst.
 *   dispatchers ×D: dequeue up to `batch`, QUEUED -> DISPATCHING, sink,
 *               then per message DELIVERED | DEFERRED | FAILED.
 * Sources and sinks are called from these threads concurrently; their
 * `poller` / `dispatcher` argument tells which thread calls.
 */
#ifndef CCPUMP_PUMP_H
#define CCPUMP_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"
#include "ccpump/hist.h"
#include "ccpump/msg.h"
#include "ccpump/wait.h"

enum ccp_claim_mode { CCP_CLAIM_LOCKFREE, CCP_CLAIM_MUTEX, CCP_CLAIM_NAIVE };

CCP_EXPORT const char *ccp_claim_mode_name(enum ccp_claim_mode m);
CCP_EXPORT int ccp_claim_mode_parse(const char *s, enum ccp_claim_mode *out);

enum ccp_verdict {
	CCP_VERDICT_DELIVERED, /* done: acknowledged, retired */
	CCP_VERDICT_RETRY,     /* try again later (DEFERRED, backoff) */
	CCP_VERDICT_FAILED,    /* give up: acknowledged as failed, retired */
	/* Not tried in substance: the sink could take nothing now for a reason
	 * of its own (its disk is full).  Retried later as RETRY is, with a
	 * backoff of its own (the step is m->postponed, the postponements so
	 * far), but the attempt is not counted toward max_attempts, since it
	 * says nothing about the message; its age still counts toward
	 * max_age_ns, as an MTA's queue lifetime runs through an outage. */
	CCP_VERDICT_POSTPONED,
};

/* One notification: a key that has a waiting message. */
struct ccp_note {
	const char *key;
	uint32_t len;
};

#define CCP_SOURCE_DONE (-1)

struct ccp_source_ops {
	/*
	 * Outside any RCU section: block until notifications may be ready, or
	 * until deadline_ns (monotonic) at the latest.  Optional.
	 */
	void (*wait)(void *ctx, unsigned poller, uint64_t deadline_ns);
	/*
	 * Inside an RCU read-side section, so it must not block: fill up to max
	 * notes.  The key bytes must stay valid until the next poll by the same
	 * poller.  Returns the count, 0 for none now, or CCP_SOURCE_DONE when
	 * this poller will never have more.  Contract: a note is an
	 * observation made during this call (a spool reports only files that
	 * exist while it runs), never an older one: a note of a message whose
	 * ack() completed before the call began could deliver it a second
	 * time.  A key that comes back after its ack (a file requeued under
	 * its old name) is a new message, and is reported as one (settled()).
	 */
	int (*poll)(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max);
	/*
	 * Optional: a note of the last poll met its key's record settled
	 * (DELIVERED or FAILED: a tombstone awaiting reclamation) and was
	 * refused.  Most such notes are observations made just before the
	 * message's ack().  But a key that came back after its ack meets the
	 * old record too, until it is reclaimed (milliseconds: its dispatcher
	 * hands it over after the first batch that ends a millisecond after
	 * its last handover, and it goes two grace periods later), and no
	 * notification of it may come again.  A source that can tell (a
	 * spool: is the file there again?) looks once more a little later and
	 * reports the key again, rather than leave it to its next rescan.
	 * Called by that poller, inside its read-side section, after the poll
	 * and before the next: must not block.
	 */
	void (*settled)(void *ctx, unsigned poller, const char *key, uint32_t len);
	/* Fills the user area of a new record, before any other thread can
	 * see it (it may be a record that loses its add race and is dropped).
	 * Optional. */
	void (*init_msg)(void *ctx, struct ccp_msg *m);
	/*
	 * The final outcome of m is settled: DELIVERED or FAILED.  Make it
	 * permanent at the source (a spool removes or moves the file) before
	 * returning; the record is retired right after.  Exactly once per
	 * message in modes lockfree and mutex.
	 */
	void (*ack)(void *ctx, unsigned dispatcher, struct ccp_msg *m, enum ccp_msg_state outcome);
	/*
	 * Optional: the final outcomes of a batch, msgs[0..n) with outcomes[i],
	 * instead of n calls of ack(), with the same contract for each message,
	 * so that a source can make them permanent in parallel (a spool whose
	 * unlinks wait on the disk).  Every record is retired after it returns.
	 */
	void (*ack_burst)(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs,
			  const enum ccp_msg_state *outcomes, unsigned n);
};

struct ccp_sink_ops {
	/* Delivers msgs[0..n) and sets verdicts[i] for each. */
	void (*deliver)(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs, unsigned n,
			enum ccp_verdict *verdicts);
};

/* The longest retry delay a pump takes: 100 years, so that a due time,
 * now + delay in nanoseconds, stays far from 2^64. */
#define CCP_PUMP_RETRY_MAX_NS (100ull * 365 * 24 * 3600 * 1000000000ull)

struct ccp_pump_config {
	enum ccp_claim_mode mode;
	unsigned pollers;          /* >= 1 */
	unsigned dispatchers;      /* >= 1 */
	uint64_t ring_size;        /* power of two */
	unsigned batch;            /* messages per sink call, >= 1 */
	unsigned notes_per_poll;   /* notifications per read-side section */
	/* How each side waits: pollers for space in a full ring, dispatchers
	 * for messages in an empty one (`--wait`, one kind or POLL,DISPATCH). */
	enum ccp_wait_kind poll_wait;
	enum ccp_wait_kind dispatch_wait;
	bool pin;                  /* pin threads to CPUs round-robin */
	size_t user_size;          /* bytes of user area per record */
	uint64_t retry_min_ns;     /* first retry delay (ccp_pump_retry_delay()) */
	uint64_t retry_max_ns;     /* cap of the doubling delay, >= retry_min_ns,
				      <= CCP_PUMP_RETRY_MAX_NS */
	unsigned max_attempts;     /* then FAILED; 0 = no limit (with m->attempts_before) */
	uint64_t max_age_ns;       /* from first notification, plus m->age_before_s;
				      then FAILED; 0 = none */
	/* Records alive at once, tombstones awaiting reclamation included.
	 * Past it pollers wait for reclamation to catch up before taking more
	 * notifications: memory stays bounded even when the RCU callback
	 * thread is starved of CPU.  0 = automatic (four times the ring, the
	 * batches and the polls, at least 2^18).  Mode naive has no bound. */
	uint64_t max_live_records;
};

/* The wait kinds of cfg as `--wait` takes them: one name when both sides
 * wait alike, else POLLERS,DISPATCHERS ("yield,block").  Returns buf's
 * text or a constant. */
#define CCP_PUMP_WAIT_NAME_MAX 16
CCP_EXPORT const char *ccp_pump_wait_name(const struct ccp_pump_config *cfg,
					  char buf[CCP_PUMP_WAIT_NAME_MAX]);

/* Fills cfg with the defaults shown by `ccpump bench --help`. */
CCP_EXPORT void ccp_pump_config_default(struct ccp_pump_config *cfg);

/*
 * The records a pump can hold at once before it waits for any to be
 * delivered: a full ring, every dispatcher's batch and every poller's
 * notes in hand.  What a check of the memory a configuration needs counts
 * (the bench's, the relay's), and the least max_live_records may be.
 */
static inline uint64_t ccp_pump_records_in_hand(const struct ccp_pump_config *cfg)
{
	return cfg->ring_size + (uint64_t)cfg->dispatchers * cfg->batch +
	       (uint64_t)cfg->pollers * cfg->notes_per_poll;
}

/*
 * The delay before a deferred message is sent again, at backoff step STEP
 * (1: the first retry): retry_min_ns doubled STEP - 1 times, then up to
 * half of that more at random from *rng (jitter, so that a batch's
 * failures do not come back together).  A step whose jitter could pass
 * retry_max_ns falls anywhere in the quarter below it instead (never below
 * retry_min_ns).  So no retry comes before retry_min_ns or after
 * retry_max_ns, and retries at the cap are spread too.  The step is
 * the message's counted attempts for a RETRY verdict, and its
 * postponements for a POSTPONED one.
 */
CCP_EXPORT uint64_t ccp_pump_retry_delay(const struct ccp_pump_config *cfg, uint32_t step,
					 uint64_t *rng);

struct ccp_pump_stats {
	uint64_t notifications;    /* notes polled */
	uint64_t created;          /* records added to the registry */
	uint64_t claims;           /* claims won (enqueues) */
	uint64_t claim_conflicts;  /* claims lost: message already claimed */
	uint64_t ring_full_waits;  /* bursts a poller found the ring full for (once each) */
	uint64_t reclaim_waits;    /* times a poller waited for reclamation */
	uint64_t batches;          /* sink calls */
	uint64_t dispatched;       /* messages handed to the sink (all attempts) */
	uint64_t delivered;
	uint64_t deferred;         /* retry and postponed verdicts that deferred */
	uint64_t postponed;        /* of those, postponed: not counted as attempts */
	uint64_t requeued;         /* deferred messages sent again */
	uint64_t failed;
	uint64_t waiting_retry;    /* deferred now */
	uint64_t in_ring;          /* snapshot */
	uint64_t in_flight;        /* snapshot: in batches the sink holds now */
	uint64_t live_records;     /* registry population, tombstones included */
	uint64_t left;             /* claimed, then left at the source by
				      ccp_pump_stop_leaving_queued() */
	bool finished;             /* threads joined: the histogram is valid */
	struct ccp_hist latency;   /* first notification -> dispatch, ns */
};

struct ccp_pump;

/*
 * Makes a pump; nothing runs yet.  Returns NULL with a one-line reason in
 * err for a bad configuration.
 */
CCP_EXPORT struct ccp_pump *ccp_pump_create(const struct ccp_pump_config *cfg,
					    const struct ccp_source_ops *src, void *src_ctx,
					    const struct ccp_sink_ops *sink, void *sink_ctx,
					    char *err, size_t errlen);
/* Starts the threads.  Returns 0, or -errno if a thread could not start. */
CCP_EXPORT int ccp_pump_start(struct ccp_pump *p);
/*
 * Asks for a graceful stop: pollers take no more notifications, the ring is
 * drained, in-flight batches finish, deferred messages stay unacknowledged
 * at the source for the next run.  Returns at once.  Async-signal-safe.
 */
CCP_EXPORT void ccp_pump_stop(struct ccp_pump *p);
/*
 * Asks for a prompt stop, for a source whose messages outlive the process
 * (a spool): pollers take no more notifications; the batches in the
 * sink's hands finish and are acknowledged; every message still queued
 * (in the ring, or claimed by a poller on its way there) is not delivered
 * and not acknowledged: it stays at the source, as a deferred message
 * does, for the next run, and is counted in `left`.  So a stop takes one
 * batch's time, not the ring's.  Wins over ccp_pump_stop(), before or
 * after it.  Returns at once.  Async-signal-safe.
 */
CCP_EXPORT void ccp_pump_stop_leaving_queued(struct ccp_pump *p);
/*
 * Makes every deferred message due now, as Postfix's `postqueue -f` does:
 * each dispatcher sends its deferred messages again at its next turn
 * (within 100 ms), as ordinary attempts (they count toward max_attempts;
 * the backoff after a further failure goes on from the attempt reached).
 * For an operator who has mended what failed.  Returns at once; may be
 * called from any thread, any number of times.
 */
CCP_EXPORT void ccp_pump_retry_now(struct ccp_pump *p);

/*
 * The same for the deferred messages whose last try the sink postponed
 * (CCP_VERDICT_POSTPONED) alone: for the end of an outage of the sink's
 * own, after which they would otherwise wait out their own backoffs.  A
 * message deferred for a failure of its own keeps its backoff.
 */
CCP_EXPORT void ccp_pump_retry_postponed_now(struct ccp_pump *p);
/*
 * Joins the threads: returns when every poller is done (its source said
 * CCP_SOURCE_DONE, or a stop was asked), the ring is empty, and every
 * dispatcher has finished (after a natural end, once its deferred
 * messages are settled).
 */
CCP_EXPORT void ccp_pump_wait(struct ccp_pump *p);
/* True once every pump thread has finished (ccp_pump_wait() will not block). */
CCP_EXPORT bool ccp_pump_done(struct ccp_pump *p);
/* When the last pump thread finished (monotonic ns), 0 while running. */
CCP_EXPORT uint64_t ccp_pump_finished_ns(struct ccp_pump *p);
/* Snapshot of the counters; thread-safe, relaxed (exact once joined). */
CCP_EXPORT void ccp_pump_stats(struct ccp_pump *p, struct ccp_pump_stats *out);
/*
 * Frees the pump, its ring and its registry (after waiting for pending
 * reclamation).  Call after ccp_pump_wait(), from a thread that is not
 * registered with RCU.
 */
CCP_EXPORT void ccp_pump_destroy(struct ccp_pump *p);

#endif /* CCPUMP_PUMP_H */

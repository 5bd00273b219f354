/*
 * synth.h: the synthetic load of `ccpump bench`.
 *
 * A notification source that stands for a spool seen by several pollers
 * at once, and a null sink that checks off every delivery per message, so
 * duplicates and losses are counted, not assumed.
 *
 * THE LOAD
 * Messages are numbered 0..N-1; message i's key is a Maildir-style file
 * name ("1764288000.M<i>P4242.bench").  Every message is notified
 * dup_factor times: notification j of message i goes to poller
 * (i + j) mod P, so with several pollers the copies of one message race
 * on different threads.  Pollers walk the messages in chunks of 64, all in
 * the same order and from the same moment (none is handed a notification
 * before every one has polled once), a poller's copies of a message
 * back to back, and no poller more than 8 chunks ahead of another: the
 * copies of a message arrive close together in time, as when the connector
 * started on a backlog.  A notification for a message whose
 * delivery was already acknowledged is not emitted (a real spool no longer
 * lists the file); it is counted as stale.
 *
 * THE CHECK
 * The sink adds one to a per-message counter for each delivery.  At the end:
 * duplicates = sum of (count - 1) over counts above 1; lost = notified
 * messages with count 0.
 */
#ifndef CCPUMP_SYNTH_H
#define CCPUMP_SYNTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ccpump/compiler.h"
#include "ccpump/hostprobe.h"
#include "ccpump/pump.h"

struct ccp_synth_config {
	struct ccp_pump_config pump;
	uint64_t messages;   /* distinct messages; with duration: an upper bound (0 = none) */
	double duration_s;   /* stop notifying after this long (0 = run all messages) */
	unsigned dup_factor; /* notifications per message, 1..64 */
	size_t payload;      /* bytes carried and verified per message */
	uint64_t rate;       /* messages per second to notify, 0 = as fast as possible */
	bool progress;       /* live progress line on progress_out */
	FILE *progress_out;
};

CCP_EXPORT void ccp_synth_config_default(struct ccp_synth_config *cfg);

#define CCP_SYNTH_MAX_SAMPLES 3600

/* Why the source stopped notifying. */
enum ccp_synth_end {
	CCP_SYNTH_END_MESSAGES, /* every one of --messages was notified */
	CCP_SYNTH_END_DURATION, /* --duration ran out */
	CCP_SYNTH_END_CAP,      /* a duration run reached the message cap */
	CCP_SYNTH_END_SIGNAL,   /* ccp_synth_request_stop(): cut short */
};

CCP_EXPORT const char *ccp_synth_end_name(enum ccp_synth_end e);

struct ccp_synth_report {
	struct ccp_synth_config cfg;
	enum ccp_synth_end ended;
	/* The most messages a duration run without --messages may notify:
	 * its check-off tables (and in mode naive, whose records are never
	 * retired, the records) kept to half the machine's memory. */
	uint64_t message_cap;
	uint64_t messages;        /* distinct messages notified */
	uint64_t notifications;   /* notifications emitted to pollers */
	uint64_t stale;           /* not emitted: already acknowledged */
	uint64_t deliveries;      /* sink deliveries, duplicates included */
	uint64_t delivered;       /* distinct messages delivered at least once */
	uint64_t duplicates;
	uint64_t lost;
	uint64_t phantoms;        /* delivered but never notified: must be 0 */
	uint64_t corrupted;       /* payload did not verify: must be 0 */
	double seconds;
	double msgs_per_sec;
	double notifications_per_sec;
	double cpu_seconds;       /* user + system */
	struct ccp_pump_stats pump;
	uint64_t latency_p50, latency_p99, latency_p999, latency_max;
	uint64_t peak_rss_bytes;       /* the check-off tables included */
	uint64_t checkoff_bytes;       /* the bench's own per-message tables */
	uint64_t allocated_bytes;      /* peak of jemalloc's stats.allocated, read every 5 ms
					* (once a second with a rate) */
	uint64_t allocated_bytes_end;  /* after the drain, before teardown */
	const char *allocator;
	/* The cache-line round trip between two CPUs, measured just before
	 * the pump starts and just after it is gone (hostprobe.h): a run whose
	 * host was slow shows it here. */
	struct ccp_host_probe host_before, host_after;
	unsigned nsamples;             /* allocated bytes once a second */
	uint64_t allocated_samples[CCP_SYNTH_MAX_SAMPLES];
};

/* Asks a running ccp_synth_run() to stop notifying and drain, or, before
 * one begins, the next one to stop at once; the run that stops clears the
 * request (async-signal-safe). */
CCP_EXPORT void ccp_synth_request_stop(void);

/* ccp_synth_run()'s failure other than a bad configuration (-1): the
 * machine refused what the run needs. */
#define CCP_SYNTH_NO_RESOURCES (-2)

/*
 * Runs the load through a pump built from cfg->pump and fills rep.  Returns
 * 0; -1 with a one-line reason in err for a configuration the pump refuses
 * (a flag can fix it); CCP_SYNTH_NO_RESOURCES with one when the machine
 * could not give the check-off tables or the threads.  The calling thread must not be
 * registered with RCU.
 */
CCP_EXPORT int ccp_synth_run(const struct ccp_synth_config *cfg, struct ccp_synth_report *rep,
			     char *err, size_t errlen);

/* True when every notified message was delivered exactly once. */
CCP_EXPORT bool ccp_synth_exactly_once(const struct ccp_synth_report *rep);

CCP_EXPORT void ccp_synth_print_table(FILE *out, const struct ccp_synth_report *rep);
CCP_EXPORT void ccp_synth_print_json(FILE *out, const struct ccp_synth_report *rep);

#endif /* CCPUMP_SYNTH_H */

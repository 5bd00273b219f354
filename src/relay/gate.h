/*
 * gate.h: pausing the relay's deliveries while the relay itself cannot
 * deliver (internal to src/relay).
 *
 * Some failures are the relay's, not the message's: the store cannot be
 * written, or the built-in post office cannot (their file system is full,
 * read-only, failing, or denies us).  Every message would meet them.
 * Retrying each message on its own backoff would thrash the disk, and
 * counting the tries as attempts would send good mail to Bad, with a
 * report to its sender, after an outage longer than --max-attempts allows.
 * So the relay does what an MTA does with a destination it finds dead: the
 * batch that met the failure is postponed (CCP_VERDICT_POSTPONED:
 * deferred, retried, not counted as an attempt; its age still counts), and
 * deliveries pause.  Dispatchers hold their next batch at the gate; after
 * a backoff from --retry-min, doubling to --retry-max, one of them tries
 * its batch (the probe).  The first probe that reaches the import again
 * resumes deliveries; a batch let through before the pause began, whose
 * import ends during it, does not.  One log line when deliveries pause, one per failed
 * probe, one when they resume.
 *
 * Other import answers 1, 3 and 4 (an external import command's, or the
 * built-in post office's for any other cause) are its answers about the
 * batch, and stay what the connector made of them: attempts, with backoff
 * per message (docs/operations.md).
 *
 * Every call may run on any thread at once; the state is under one mutex,
 * taken once a batch (the gate is not on any per-message path).
 */
#ifndef CCPUMP_RELAY_GATE_H
#define CCPUMP_RELAY_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ccp_gate {
	pthread_mutex_t mu;
	bool paused;       /* deliveries are paused */
	bool probing;      /* a dispatcher is trying a batch to see */
	uint64_t since_ns, next_ns, backoff_ns;
	uint64_t batches;  /* postponed since the pause began */
	char reason[600];
	/* Read-only after init. */
	uint64_t retry_min_ns, retry_max_ns;
	const _Atomic int *stop; /* non-zero: the relay is stopping */
};

enum ccp_gate_pass {
	CCP_GATE_OPEN,  /* deliveries run */
	CCP_GATE_PROBE, /* paused: this batch is the one that tries */
	CCP_GATE_HELD,  /* paused, and the relay is stopping: do not try */
};

/* A gate that is open, with the backoff's bounds and the relay's stop
 * flag (read relaxed: a request). */
void ccp_gate_init(struct ccp_gate *g, uint64_t retry_min_ns, uint64_t retry_max_ns,
		   const _Atomic int *stop);
void ccp_gate_destroy(struct ccp_gate *g);

/* Waits, while deliveries are paused, until this dispatcher may try its
 * batch: at once while they run, when the next probe is due while paused,
 * or never (CCP_GATE_HELD) once the relay is stopping. */
enum ccp_gate_pass ccp_gate_pass(struct ccp_gate *g);

/*
 * After a batch that went through the gate: OUTAGE is the relay's own
 * failure it met ("" for none), TRIED whether any of it reached an import.
 * A failure pauses deliveries (or, for a probe, puts the next probe off
 * twice as long); a batch that reached the import resumes them.  Returns
 * whether this report resumed them.
 */
bool ccp_gate_report(struct ccp_gate *g, enum ccp_gate_pass pass, const char *outage, bool tried);

/* An operator's flush: while paused, the next batch tries at once (the
 * backoff goes on from where it was, should it fail).  Returns how long
 * deliveries have been paused, 0 if they run. */
uint64_t ccp_gate_try_now(struct ccp_gate *g);

/* Paused for this long, or 0 when deliveries run; the reason into WHY. */
uint64_t ccp_gate_paused_for(struct ccp_gate *g, char *why, size_t cap);

#endif

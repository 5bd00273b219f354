/*
 * relaystats.h: the relay's figures as a log line and as the JSON of
 * --stats-file (internal to src/relay; docs/operations.md lists the
 * fields).
 */
#ifndef CCPUMP_RELAY_RELAYSTATS_H
#define CCPUMP_RELAY_RELAYSTATS_H

#include <stdint.h>

#include "ccpump/pump.h"
#include "ccpump/spool.h"

/* One snapshot of a running relay. */
struct ccp_relay_snap {
	struct ccp_pump_stats ps;
	struct ccp_spool_stats ss;
	uint64_t delivered;        /* each message once (delivered_now()) */
	double rate;               /* delivered a second since the last snapshot */
	uint64_t paused_ns;        /* 0 while deliveries run */
	char pause_reason[600];
	uint64_t duplicates, bad, imports, import_failures;
	uint64_t partial; /* delivered to some recipients only, reported in Partial/ */
	/* Reports to senders waiting in STORE/Bounce; -1 without --bounce-cmd
	 * (then not in the line, null in the file). */
	int64_t reports_waiting;
};

/* The snapshot as one `stats:` line at info level. */
void ccp_relay_snap_log(const struct ccp_relay_snap *s);

/*
 * --stats-file: the snapshot as one JSON object, replacing PATH whole
 * (written beside it, then renamed), for monitoring to read at any time.
 * STATE is "running", "paused" or "done".  A failure is logged, once until
 * a write succeeds again.  Called from one thread.
 */
void ccp_relay_snap_write(const char *path, const struct ccp_relay_snap *s, const char *state);

/* Whether the stats file PATH can be written (a file made and removed
 * beside it): 0, or -1 with a line in err.  For the flags' check at start:
 * a stats file that could never be written is a mistake in them. */
int ccp_relay_snap_file_check(const char *path, char *err, size_t errlen);

#endif

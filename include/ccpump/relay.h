/*
 * relay.h: the relay from a Maildir spool into the cc:Mail post office.
 *
 * Spool pollers (spool.h) -> pump (pump.h) -> dispatchers that convert each
 * batch (convert.h) into one MsgXXXX.ccm in the connector store and import
 * it (po.h, or an external program), as the Exchange Connector for cc:Mail
 * ran IMPORT.EXE.  The store (docs/operations.md):
 *
 *   STORE/Submit/   batches being written (synced, then renamed into Import/)
 *   STORE/Import/   batches handed to the import
 *   STORE/Bad/      messages that cannot be delivered: the spool file, NAME.reason
 *                   (one line) and NAME.ndr (a non-delivery report to the sender)
 *   STORE/Deferred/ one marker per deferred message: attempts, first, reason
 *   STORE/Bounce/   with bounce_cmd: reports to senders waiting to be sent
 *   STORE/Quarantine/  spool entries that were not regular files
 *
 * Crash safety: a spool file leaves new/ only after the import that holds
 * its message has committed.  A relay killed at any moment restarts, finds
 * the file still in new/, and relays it again; the post office skips the
 * (key, recipient) pairs it already holds, so each recipient gets each
 * message exactly once.  Leftover batches in Submit/ and Import/ are
 * removed at start: their spool files are the truth.
 */
#ifndef CCPUMP_RELAY_H
#define CCPUMP_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "ccpump/compiler.h"
#include "ccpump/convert.h"
#include "ccpump/pump.h"

struct ccp_relay_config {
	const char *spool;        /* the Maildir */
	const char *store;        /* the connector store */
	const char *po;           /* the built-in post office, unless import_cmd */
	const char *import_cmd;   /* run as CMD PATH-OF-.ccm; NULL: built-in */
	uint64_t import_timeout_ns; /* import_cmd killed past it, answer 1; 0: none */
	uint64_t batch_bytes;     /* a .ccm past this takes no more messages */
	struct ccp_pump_config pump;
	/* How messages are converted.  With po, addr_buffer and import8 are
	 * the post office's own (ccp_po_import_limits()), whatever they are
	 * here: converted for another, a message with many recipients that
	 * it takes would go to Bad as "Header Buffer Full". */
	struct ccp_convert_opts convert;
	uint64_t rescan_interval_ns;
	uint64_t stats_interval_ns;   /* 0: no stats lines */
	const char *stats_file;   /* rewritten as JSON with each stats line; NULL: none */
	uint64_t min_import_interval_ns; /* pace: wait this long after a batch that was not full */
	uint64_t max_message_bytes;   /* larger spool files go to Bad */
	/* A report on each message that goes to Bad is kept as Bad/NAME.ndr
	 * and, with bounce_cmd, run as CMD ADDRESS with the report on its
	 * standard input, to send it to the message's return path
	 * (docs/operations.md).  bounce_from: the report's From address;
	 * NULL: MAILER-DAEMON@ this host's name. */
	const char *bounce_cmd;
	const char *bounce_from;
	/* The address map's files (--map), read in order at the start, and
	 * again at each ccp_relay_request_reload() (SIGHUP), after which the
	 * batches begun convert with the new map; one that cannot be read
	 * then leaves the map in use.  Their site line gives convert.site
	 * unless site_fixed (--site given).  Without files, convert.map and
	 * convert.site are used as given. */
	const char *const *map_files;
	size_t nmap_files;
	bool site_fixed;
	bool keep;                /* delivered spool files to cur/ instead of removing */
	bool once;                /* relay what is in the spool, then exit */
	bool sync;                /* fsync batches and the post office */
	/* Fault injection for tests (ccp_spool_config.read_hook); NULL normally. */
	int (*read_hook)(void *arg, const char *name, int fd);
	void *read_hook_arg;
};

CCP_EXPORT void ccp_relay_config_default(struct ccp_relay_config *cfg);
/* Sets the connector's own pace: 5 messages a run, every 15 seconds, at once
 * again while a batch came back full (KB Q168211, Q202178). */
CCP_EXPORT void ccp_relay_profile_ccmc(struct ccp_relay_config *cfg);

struct ccp_relay_stats {
	struct ccp_pump_stats pump;
	uint64_t imports, import_failures, batches_written;
	uint64_t delivered, duplicates, bad, vanished;
	uint64_t partial;        /* delivered, some recipients not: reported in Partial/ */
	uint64_t quarantined;
	uint64_t changed;        /* reads that found the spool file changing (deferred) */
	uint64_t changed_after;  /* spool files changed after delivery (to Bad) */
	/* Retries ended, but Bad could not take their reasons: left in the
	 * spool (end_retries()). */
	uint64_t withheld;
	/* Delivered in part, but Partial could not take their reports: left
	 * in the spool, never sent to Bad (partial()). */
	uint64_t unreported;
	/* once: stopped after --retry-max paused, or after twice --retry-max
	 * of messages only postponed one by one (files it cannot read now) */
	bool gave_up_paused;
	bool spool_lost;         /* stopped: the spool, store or post office was moved */
};

/*
 * When this process is PID 1 (a container's entrypoint with no init),
 * forks: the child returns 1 and goes on to run the relay, while PID 1
 * stays behind as its init, never returning: it reaps every process
 * orphaned into it (an import or report program's own children, or those
 * a timeout left), which the relay, waiting for its own programs alone,
 * left as zombies until the process table was full; it passes SIGTERM,
 * SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 on to the relay, and
 * exits with the relay's status (128 + the signal that ended it).
 * Returns 0 when this process is not PID 1, -1 with errno when the fork
 * failed (the relay then runs as PID 1 itself).  Call it before any
 * thread is started.
 */
CCP_EXPORT int ccp_relay_init_if_pid1(void);

/*
 * The checks of the paths that ccp_relay_run() makes first, for a front end
 * to make before it opens anything: none of --spool, --store and --po
 * empty; the store and the post office apart from the spool and from each
 * other; the spool a Maildir, not one of its folders; neither the stats
 * file nor LOG_PATH (the front end's log, NULL: none) inside the spool,
 * where they would be taken for mail, nor the two one file.  Returns 0, or
 * -1 with a one-line reason in err.
 */
CCP_EXPORT int ccp_relay_check_paths(const struct ccp_relay_config *cfg, const char *log_path,
				     char *err, size_t errlen);

/*
 * Whether the pump of CFG fits the machine: a full ring, its slots and a
 * record for every message it and the batches in hand hold, in half the
 * machine's memory.  Returns 0, or -1 with a one-line reason (the flag to
 * change) in err.  ccp_relay_run() checks it too; a caller that does work
 * first (the demo's spool) checks it before.
 */
CCP_EXPORT int ccp_relay_check_memory(const struct ccp_relay_config *cfg, char *err,
				      size_t errlen);

/*
 * Runs the relay until ccp_relay_request_stop() (graceful stop) or, with
 * once, until the spool has been drained (or deliveries have been paused
 * longer than retry_max, or what is left has only been postponed for
 * twice that: st->gave_up_paused).  Returns 0, or 2 with a one-line
 * reason in err for a configuration it cannot use (a directory, the post
 * office).  Fills *st at the end when not NULL.  One relay per process.
 */
CCP_EXPORT int ccp_relay_run(const struct ccp_relay_config *cfg, struct ccp_relay_stats *st,
			     char *err, size_t errlen);
/* Asks a running relay to stop: the batches in flight finish, what is only
 * queued stays in the spool (ccp_pump_stop_leaving_queued()).  Asked before
 * ccp_relay_run() is up (a signal handler installed before it), the run
 * stops as soon as it has started; the request ends with the run.
 * Async-signal-safe. */
CCP_EXPORT void ccp_relay_request_stop(void);
/* Asks a running relay to retry its deferred messages now
 * (ccp_pump_retry_now()) and, while deliveries are paused, to try one
 * batch at once, and to try its queued reports to senders again; it acts
 * within 50 ms and logs a line.  Async-signal-safe:
 * the relay's SIGUSR1 (`ccpump queue --flush`). */
CCP_EXPORT void ccp_relay_request_flush(void);
/* Asks a running relay to read its map files (map_files) again; it acts
 * within 50 ms and logs a line: the new map's size, or why the map in use
 * stays.  Async-signal-safe: the relay's SIGHUP. */
CCP_EXPORT void ccp_relay_request_reload(void);

#endif /* CCPUMP_RELAY_H */

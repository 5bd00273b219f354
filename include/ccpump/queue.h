/*
 * queue.h: what waits in a relay's spool and store, by age
 * (`ccpump queue`, as Postfix's postqueue -p and qshape).
 *
 * waiting:     files in SPOOL/new not marked deferred
 * deferred:    files in SPOOL/new with a STORE/Deferred/ marker (a failed
 *              import; the relay retries them with backoff)
 * bad:         messages moved to STORE/Bad (each with NAME.reason)
 * quarantined: spool entries that were not regular files
 * reports:     reports to senders waiting to be sent (STORE/Bounce)
 * partial:     reports on messages delivered to some of their recipients
 *              only (STORE/Partial: the messages themselves were delivered)
 * Reading only: safe while a relay runs (a snapshot).
 */
#ifndef CCPUMP_QUEUE_H
#define CCPUMP_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ccpump/compiler.h"

#define CCP_QUEUE_AGES 6 /* < 1 min, < 10 min, < 1 h, < 4 h, < 1 day, older */

struct ccp_queue_class {
	uint64_t count, bytes;
	uint64_t by_age[CCP_QUEUE_AGES];
	uint64_t oldest_s; /* age of the oldest, seconds */
};

struct ccp_queue_report {
	struct ccp_queue_class waiting, deferred, bad, quarantined;
	/* In the spool's new/ with a marker in STORE/Delivered: delivered,
	 * but the file could not be removed (not counted as waiting). */
	struct ccp_queue_class delivered;
	/* The same with a marker that says "failed": sent to Bad (its reason
	 * and report are there), but the file could not be moved there. */
	struct ccp_queue_class failed_not_moved;
	/* Reports to senders waiting in STORE/Bounce for --bounce-cmd. */
	uint64_t reports_waiting;
	/* Reports kept in STORE/Partial, on messages delivered in part. */
	uint64_t partial_reports;
	/* The directory does not exist yet (the relay makes it on its first
	 * run): counted as empty. */
	bool spool_missing, store_missing;
};

CCP_EXPORT extern const char *const ccp_queue_age_names[CCP_QUEUE_AGES];

/* The records the relay keeps beside a message NAME in STORE/Bad: NAME
 * followed by each of these suffixes. */
#define CCP_QUEUE_RECORDS 2
CCP_EXPORT extern const char *const ccp_queue_record_suffixes[CCP_QUEUE_RECORDS];
/* Whether NAME, an entry of STORE/Bad, is one of those records. */
CCP_EXPORT bool ccp_queue_is_record(const char *name);

/* The first line of a marker in STORE/Delivered for a message sent to Bad
 * whose spool file has not been moved there (spool.c); markers without it
 * are of delivered messages. */
#define CCP_QUEUE_MARKER_FAILED "failed\n"

/* What may follow a failed marker's stamp: "reason TEXT", the one line
 * Bad could not take when the message was marked (spool.c writes it to
 * Bad before the file goes there). */
#define CCP_QUEUE_MARKER_REASON "reason "

/* A marker's size at most, its reason included. */
#define CCP_QUEUE_MARKER_MAX 1024

/* A marker in STORE/Delivered names the spool file it was written for by
 * inode, size and modification time (not device: a reboot or remount can
 * renumber it; ctime: links and attributes move it), and by birth time
 * where the file system keeps one: the inode number alone does not say
 * which file it was, since ext4 gives a freed number to the next file
 * made.  BTIME_NS is CCP_QUEUE_BTIME_NONE where there is none. */
#define CCP_QUEUE_BTIME_NONE INT64_MIN
struct ccp_queue_stamp {
	uint64_t ino, size;
	int64_t mtime_ns, btime_ns;
};

/* Writes the stamp lines of F into BUF ("ino", "size", "mtime_ns", and
 * "btime_ns" where F has a birth time); returns their length, as
 * snprintf(). */
CCP_EXPORT int ccp_queue_marker_stamp(char *buf, size_t cap, const struct ccp_queue_stamp *f);

/* What the marker STORE/Delivered/NAME (DELIVERED_FD) says of the spool
 * file of stamp F.  The inode, and the birth time where both the marker
 * and F have one, say which file the marker was written for (a marker
 * without one, written before markers had it or on a file system that
 * keeps none, goes by the inode alone); a size or modification time that
 * moved since says that file was written to after it was settled (a
 * writer that broke the Maildir rule). */
enum ccp_queue_marker {
	CCP_QUEUE_MARKER_NONE,       /* no marker */
	CCP_QUEUE_MARKER_DELIVERED,  /* delivered; its file could not be removed */
	CCP_QUEUE_MARKER_DELIVERED_CHANGED, /* the same, and its file changed since */
	CCP_QUEUE_MARKER_SENT_TO_BAD, /* failed; its file could not be moved (changed
				       * since or not: it is still the failed one) */
	CCP_QUEUE_MARKER_STALE,      /* written for another file under the name */
	CCP_QUEUE_MARKER_UNREADABLE, /* could not be read now: errno says why */
};
/* WAS (may be NULL) gets the stamp the marker recorded, for
 * CCP_QUEUE_MARKER_DELIVERED_CHANGED; REASON (may be NULL; REASON_CAP
 * octets) the reason a failed marker carries (CCP_QUEUE_MARKER_REASON,
 * without its newline), for CCP_QUEUE_MARKER_SENT_TO_BAD, or "" where it
 * carries none: what the marker says, read once. */
CCP_EXPORT enum ccp_queue_marker ccp_queue_marker_read(int delivered_fd, const char *name,
							const struct ccp_queue_stamp *f,
							struct ccp_queue_stamp *was, char *reason,
							size_t reason_cap);

/* What the marker text TEXT (a NUL-terminated marker's contents, as
 * ccp_queue_marker_read() reads them from its file) says of the spool file
 * of stamp F: ccp_queue_marker_read() without the file, for a marker the
 * store could not take and the relay holds in memory. */
CCP_EXPORT enum ccp_queue_marker ccp_queue_marker_parse(const char *text,
							 const struct ccp_queue_stamp *f,
							 struct ccp_queue_stamp *was, char *reason,
							 size_t reason_cap);

/* The reason a failed marker's TEXT carries, as ccp_queue_marker_reason(). */
CCP_EXPORT bool ccp_queue_marker_text_reason(const char *text, char *buf, size_t cap);

/* The reason (CCP_QUEUE_MARKER_REASON) the failed marker
 * STORE/Delivered/NAME carries, without its newline, into BUF (CAP
 * octets): true when it carries one. */
CCP_EXPORT bool ccp_queue_marker_reason(int delivered_fd, const char *name, char *buf,
					size_t cap);

/*
 * STORE/Deferred/KEY: a message waiting for a retry, written by the relay
 * at each failed attempt, listed by `ccpump queue`, and read back by a
 * restarted relay so that --max-attempts and --max-age count what earlier
 * runs spent:
 *
 *   attempt N\nfirst UNIXTIME\nanswer RC\nreason TEXT\n
 *
 * N attempts so far, the first at UNIXTIME; RC the import's answer, or
 * "none" for a message that never reached an import.
 */
#define CCP_QUEUE_DEFERRED_MAX 800   /* a marker's size at most */
#define CCP_QUEUE_ATTEMPTS_MAX (1u << 24) /* a larger count reads as this */

/* Writes the marker into BUF (CAP octets, at least 128): the reason (one
 * line: a newline in it ends it) is cut, at a character, to fit, so the
 * text always ends in its newline.  Returns the text's length. */
CCP_EXPORT size_t ccp_queue_deferred_text(char *buf, size_t cap, unsigned attempt,
					  int64_t first, const char *answer, const char *reason);

struct ccp_queue_deferred {
	unsigned attempt;   /* at most CCP_QUEUE_ATTEMPTS_MAX */
	int64_t first;      /* above 0, or 0 where the marker gives none */
	const char *reason; /* into the text, up to its newline; NULL if none */
	size_t reason_len;
};

/* Reads a marker's TEXT (NUL-terminated): false when it does not begin
 * with "attempt" and a count on a line of its own (not a marker of
 * ours: the message starts afresh).  A "first" line that is no positive
 * number in range gives 0; the first "reason" line, the reason. */
CCP_EXPORT bool ccp_queue_deferred_parse(const char *text, struct ccp_queue_deferred *d);

/* The folders of STORE that keep reports to senders, NAME.ndr: Bad (a
 * message delivered to no one), then Partial (one delivered in part). */
#define CCP_QUEUE_REPORT_DIRS 2
CCP_EXPORT extern const char *const ccp_queue_report_dirs[CCP_QUEUE_REPORT_DIRS];

/* A message sent to Bad while Bad holds an older one of its name keeps
 * that one as NAME.N, with N the first free from 1 up to below this; its
 * records and its report's queue entry in STORE/Bounce are renamed so too. */
#define CCP_QUEUE_BAD_ASIDE_MAX 1000u

/* That name, NAME.N, into BUF (CCP_QUEUE_RECORD_NAME_MAX octets): false
 * when it would not fit a file name (NAME is never cut). */
CCP_EXPORT bool ccp_queue_bad_aside_name(char *buf, const char *name, unsigned n);

/* Room for a record's name, its NUL included. */
#define CCP_QUEUE_RECORD_NAME_MAX 256

/*
 * The name of message NAME's record SUFFIX (".reason", ".ndr") in
 * STORE/Bad or STORE/Partial, into BUF (CCP_QUEUE_RECORD_NAME_MAX
 * octets): NAME then SUFFIX.  A message's name may take all 255 octets a
 * file name has, so where NAME and the longest suffix do not fit, each of
 * its records is named by NAME's first octets, '~' and 16 hex digits of a
 * hash of the whole name (the same on every host and run), then SUFFIX.
 */
CCP_EXPORT void ccp_queue_record_name(char *buf, const char *name, const char *suffix);

/* The line a relay that sends reports to senders (--bounce-cmd) writes
 * into STORE/relay.lock, after its pid. */
#define CCP_QUEUE_LOCK_SENDS_REPORTS "sends-reports"
/* Whether STORE/relay.lock says that the relay that took it last sends
 * reports to senders; false too when it cannot be read (no relay has run
 * on STORE).  Whether that relay still runs, ccp_queue_flush() tells. */
CCP_EXPORT bool ccp_queue_lock_sends_reports(const char *store);

/* Fills rep.  A spool or store that does not exist yet counts as empty (and
 * is flagged in rep); one that is not a directory, or cannot be read, is an
 * error.  Returns 0, or -1 with a one-line reason naming the path. */
CCP_EXPORT int ccp_queue_scan(const char *spool, const char *store, struct ccp_queue_report *rep,
			      char *err, size_t errlen);
/* Prints the report as a qshape-like table, and the newest deferred and bad
 * entries with their reasons (up to `list` of each). */
CCP_EXPORT void ccp_queue_print(FILE *out, const char *store, const struct ccp_queue_report *rep,
				unsigned list);
CCP_EXPORT void ccp_queue_print_json(FILE *out, const struct ccp_queue_report *rep);

#endif /* CCPUMP_QUEUE_H */

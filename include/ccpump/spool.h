/*
 * spool.h: a Maildir spool as the pump's notification source.
 *
 * The spool stands where the connector's MTS-OUT queue stood.  Any MTA can
 * deliver into it: a message is written into DIR/tmp and renamed (or linked)
 * into DIR/new; ccpump relays what is in DIR/new.  Each poller learns of
 * files three ways, all overlapping on purpose, so duplicate notifications
 * are normal and the pump's claim makes exactly one of them win:
 *
 *   - a scan of new/ when it starts;
 *   - inotify (IN_MOVED_TO, IN_CREATE), one watch for each of the first
 *     eight pollers (an instance each: the user has few), so each of them
 *     hears every event;
 *   - a rescan of new/ every rescan interval (the connector's polling),
 *     staggered across pollers.
 *
 * The source contract of pump.h (a note is an observation made during the
 * poll, never of a message whose acknowledgement completed before it
 * began) is kept for inotify's names by checking each with fstatat()
 * inside the poll: an event may be older than an unlink, the fstatat() is
 * not.  A scan's entries typed DT_REG are reported without that check (a
 * stat per message and poller cost a tenth of the relay's CPU), and one
 * read from a buffer filled by an earlier poll may be older than an
 * unlink: glibc's readdir buffer, and ext4's own, which keeps a hash
 * block's names across getdents calls, so that reading the directory
 * ourselves would not help.  Such a note meets its message's tombstone
 * or, once that is reclaimed, makes a record whose read finds no file: it
 * is counted as vanished and delivers nothing, since what is delivered is
 * the file, never the note.
 * The fstatat() also finds entries that are not regular files (symlinks,
 * directories, fifos, devices): those are never followed or opened but
 * moved into the quarantine folder, with one logged line saying why.
 * Names starting with '.' are ignored (temporary names of some MTAs).
 *
 * A note that meets its message's record settled (delivered or failed,
 * not yet reclaimed) while the file is in new/ again, put back under its
 * old name (`ccpump queue --requeue`), is looked at again after 5 ms,
 * doubling, up to twelve times, rather than left to the next rescan.
 *
 * A file is read only when it is dispatched, by ccp_spool_read_message():
 * through one fd, with fstat() before and after, so a copy torn by a writer
 * that is still at work (appending, truncating, replacing the name) is
 * never handed on; the dispatcher defers the message and reads it again
 * later.  What the read saw (inode, size, mtime, ctime) is kept in the
 * message's user area and checked again at acknowledgement.
 *
 * Acknowledgement: DELIVERED unlinks new/NAME (or renames it into cur/ with
 * keep), unless the file changed after it was read: then the post office
 * holds the earlier version, and this one goes to the failed folder with a
 * NAME.reason, so that nothing is lost and nothing is delivered twice.
 * FAILED renames it into the failed folder.
 */
#ifndef CCPUMP_SPOOL_H
#define CCPUMP_SPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ccpump/compiler.h"
#include "ccpump/pump.h"

/* How NAME.reason in the failed folder begins for a spool file that
 * changed after its delivery: the post office holds the version read
 * before, and would skip this one as a duplicate key. */
#define CCP_SPOOL_CHANGED_AFTER "changed after its delivery"

struct ccp_spool_config {
	const char *dir;            /* the Maildir: dir/tmp, dir/new, dir/cur */
	unsigned pollers;           /* pollers that will call the source */
	uint64_t rescan_interval_ns;
	bool keep;                  /* delivered files go to cur/ instead of away */
	const char *failed_dir;     /* FAILED messages go here (created if missing) */
	const char *quarantine_dir; /* entries that are not regular files */
	/* Where a delivered message whose file cannot leave new/ (a read-only
	 * spool, an immutable file) gets a marker with its file's stamp, so
	 * that it is never imported again: a later read of it answers
	 * CCP_SPOOL_READ_DELIVERED.  Created if missing; NULL: none. */
	const char *delivered_dir;
	/* Fault injection for tests: called by ccp_spool_read_message() after
	 * its first fstat() and before it reads, with the open fd.  Returns 0,
	 * or an errno the read then fails with, as if read(2) had.  NULL in
	 * production. */
	int (*read_hook)(void *arg, const char *name, int fd);
	void *read_hook_arg;
	/* Called with a message's name before the spool writes its reason
	 * into the failed folder itself (changed after its delivery; failed,
	 * settled by its marker), to make room there: the relay keeps an older
	 * message of that name as NAME.N rather than have it replaced.  NULL:
	 * none. */
	void (*before_failed)(void *arg, const char *name);
	void *before_failed_arg;
};

struct ccp_spool_stats {
	uint64_t inotify_events;
	uint64_t scanned;        /* directory entries read by scans */
	uint64_t vanished;       /* candidates gone before the check */
	uint64_t quarantined;    /* not regular files, moved aside */
	uint64_t changed;        /* reads that found the file changing: deferred */
	uint64_t changed_after;  /* files changed after their delivery: to failed */
	uint64_t acked;
	uint64_t ack_errors;
	/* Names marked in the delivered folder now: settled files that could
	 * not leave new/, and failed ones on their way to the failed folder. */
	uint64_t marked;
	/* Time the dispatchers spent settling files (removing a delivered one
	 * from new/, moving a failed one, marking one that cannot leave),
	 * summed over them, in ns.  Growing nearly as fast as the clock, it
	 * says some dispatcher is always waiting for the disk's removals: they
	 * bound the relay. */
	uint64_t settle_ns;
};

struct ccp_spool;

/*
 * Opens the spool: dir must exist and be a directory; tmp/, new/ and cur/
 * are created if missing, as are the failed and quarantine folders.
 * Returns NULL with a one-line reason naming the path in err.
 */
CCP_EXPORT struct ccp_spool *ccp_spool_open(const struct ccp_spool_config *cfg, char *err,
					    size_t errlen);
CCP_EXPORT void ccp_spool_close(struct ccp_spool *s);

/* Since when (monotonic ns) no scan of new/ could be opened (out of
 * descriptors or memory); 0 while they open.  Any thread. */
CCP_EXPORT uint64_t ccp_spool_scan_failing_since(const struct ccp_spool *s);

/* The source operations; pass the spool as the pump's src_ctx. */
CCP_EXPORT const struct ccp_source_ops *ccp_spool_source(void);

/*
 * Ends the source: every poller's next poll says CCP_SOURCE_DONE once it
 * has finished its start-up scan (drain mode) or at once (stop).  With
 * drain_first, pollers complete one full scan of new/ before they end, for
 * `relay --once`.  Async-signal-safe.
 */
CCP_EXPORT void ccp_spool_finish(struct ccp_spool *s, bool drain_first);

/* Bytes of user area each message record needs (the pump's user_size). */
CCP_EXPORT size_t ccp_spool_user_size(void);

enum ccp_spool_read {
	CCP_SPOOL_READ_OK,       /* a stable copy is in the buffer */
	CCP_SPOOL_READ_VANISHED, /* new/NAME is gone: nothing to deliver */
	CCP_SPOOL_READ_CHANGED,  /* it changed while read: defer, read it again later */
	/* Some process has it open for writing: it may be incomplete however
	 * still it stands; defer, read it again later. */
	CCP_SPOOL_READ_BEING_WRITTEN,
	CCP_SPOOL_READ_UNUSABLE, /* it cannot be relayed (unreadable, empty, too big) */
	/* The machine could not read it now (out of descriptors or memory, an
	 * I/O error): not the file's fault, try again later. */
	CCP_SPOOL_READ_FAILED,
	/* It was delivered before and its file could not be removed (a marker
	 * in the delivered folder says so): settle it as delivered, do not
	 * import it again.  Its ack removes the file if it now can. */
	CCP_SPOOL_READ_DELIVERED,
	/* It failed before, its reason and report are in the failed folder,
	 * and its file could not be moved there (the same marker, saying
	 * so): settle it as failed, do not convert or report it again.  Its
	 * ack moves the file if it now can. */
	CCP_SPOOL_READ_FAILED_BEFORE,
};

/*
 * Marks m, about to go to the failed folder with its reason and report,
 * as failed in the delivered folder, before its report is queued: should
 * the process die before m's ack moves its file (the rest of its batch is
 * still importing), the next read settles it as failed again
 * (CCP_SPOOL_READ_FAILED_BEFORE) rather than report it a second time.
 * The ack's move removes the marker.  Returns whether it was written (not
 * for a message without a stamp: one whose read found no file).  Called
 * by the dispatcher that owns m.
 */
CCP_EXPORT bool ccp_spool_mark_failed(struct ccp_spool *s, struct ccp_msg *m);

/*
 * Stamps m, when no read of this record stamped it, by what new/KEY is now
 * (a statx(), as a read's stamp, the file left unopened): a record settled
 * without a read (the relay sends a message whose retries ended to the
 * failed folder by its marker alone) must carry one, or neither
 * ccp_spool_mark_failed() nor its ack's marker, should the move fail, can
 * keep the file from being imported as new mail at the next rescan.
 * Returns whether m has a stamp.  Called by the dispatcher that owns m.
 */
CCP_EXPORT bool ccp_spool_stamp_unread(struct ccp_spool *s, struct ccp_msg *m);

/* What a read of m's spool file saw (ccp_spool_read_message(): its stamp),
 * as opaque octets, copied out of m's user area (ccp_spool_stamp_get())
 * and into another record's (ccp_spool_stamp_set()).  For a message
 * delivered by one record and acknowledged by a later one of its key (the
 * relay writes a report the store held back without reading or importing
 * the message again): the ack then judges the file by the read that was
 * delivered, so a file changed since goes to the failed folder as changed
 * after its delivery, and one unchanged leaves new/. */
struct ccp_spool_stamp {
	uint64_t octets[12];
};
CCP_EXPORT void ccp_spool_stamp_get(struct ccp_msg *m, struct ccp_spool_stamp *out);
CCP_EXPORT void ccp_spool_stamp_set(struct ccp_msg *m, const struct ccp_spool_stamp *in);

/* The inode of new/KEY, 0 when it is not there (an fstatat()).
 * Thread-safe. */
CCP_EXPORT uint64_t ccp_spool_ino(const struct ccp_spool *s, const char *key);

/* new/KEY's stat (not followed if a link) into *OUT: 0, or -1 with errno.
 * Thread-safe. */
CCP_EXPORT int ccp_spool_stat(const struct ccp_spool *s, const char *key, struct stat *out);

/* Reads at most CAP octets from the start of new/KEY (a regular file, not
 * followed if a link) into BUF, with none of ccp_spool_read_message()'s
 * checks: for quoting a message's header.  Returns the octets read, or -1
 * when it cannot be opened. */
CCP_EXPORT ssize_t ccp_spool_read_head(struct ccp_spool *s, const char *key, char *buf,
				       size_t cap);

/*
 * Reads new/M->key (O_NOFOLLOW, one fd) into *buf (grown as needed, *cap
 * its size; NUL-terminated after *len bytes).  The read is taken only if
 * the file was the same before and after it: same size as fstat() said
 * before (and as many bytes read), same mtime and ctime, and new/NAME
 * still that inode.  Where only the ctime moved (a Maildir writer's
 * unlink() of its tmp/ name seen in the middle), it is read again at once,
 * three reads at most.  Otherwise CHANGED, with what changed in why, logged
 * and counted.  UNUSABLE, FAILED and CHANGED set a one-line reason in why.  On OK
 * the stamp is kept in m's user area for the check at acknowledgement.
 * Called by the dispatcher that owns m; any number of dispatchers at once.
 * Blocking (file I/O).
 */
CCP_EXPORT enum ccp_spool_read ccp_spool_read_message(struct ccp_spool *s, struct ccp_msg *m,
						      char **buf, size_t *cap, size_t *len,
						      uint64_t max_bytes, char *why, size_t whylen);

CCP_EXPORT void ccp_spool_stats(const struct ccp_spool *s, struct ccp_spool_stats *out);

/* Whether DIR/new, by its path, has stopped being the directory the spool
 * opened (moved, removed or replaced), as its pollers find before each
 * rescan: mail delivered to the new one would never be seen.  Thread-safe. */
CCP_EXPORT bool ccp_spool_lost(const struct ccp_spool *s);

#endif /* CCPUMP_SPOOL_H */

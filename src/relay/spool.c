/*
 * spool.c: the Maildir spool as a notification source (include/ccpump/spool.h).
 *
 * Each poller owns an inotify instance on new/ and a scan cursor (a DIR*
 * on new/).  A poll drains inotify events first, then continues the scan
 * that is due (start-up, or every rescan interval, staggered by poller).
 * A scan's entry typed DT_REG is reported as it is; every other name (all
 * of inotify's, which carry no type) is checked with
 * fstatat(AT_SYMLINK_NOFOLLOW) first.  All of it runs inside the pump's
 * read-side section and never blocks: the inotify fd is non-blocking, and
 * readdir on a local directory does not wait for anyone.  wait() is where a
 * poller sleeps: poll(2) on its inotify fd until the next rescan is due.
 *
 * A name whose note met its message's record settled (delivered or failed,
 * awaiting reclamation) and that is still in new/ is looked at again a
 * little later (spool_settled()): a file requeued under its old name
 * would otherwise wait for the next rescan.  So is a file a settlement
 * finds put back under the name of a message that had vanished (ack_one()),
 * which it leaves where it is.
 *
 * A delivered message whose file cannot leave new/ is marked so in the
 * delivered folder (keep_settled()), and a later read of it settles it
 * without an import (CCP_SPOOL_READ_DELIVERED); so is a failed one whose
 * file cannot be moved to the failed folder, settled again as failed
 * without a second report (CCP_SPOOL_READ_FAILED_BEFORE).  A name that ends as a
 * record in the failed folder does is renamed before it is ever reported
 * (rename_reserved()).
 */
#define _GNU_SOURCE
#include "ccpump/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/counter.h"
#include "ccpump/fdio.h"
#include "ccpump/fpset.h"
#include "ccpump/hash.h"
#include "ccpump/log.h"
#include "ccpump/parallel.h"
#include "ccpump/queue.h"
#include "relay/fsutil.h"

#define EVBUF (64 * (sizeof(struct inotify_event) + NAME_MAX + 1))

/*
 * A name to look at again (spool_settled()): after RECHECK_FIRST_NS, then
 * twice as long each time its note meets the old record again, until
 * RECHECK_TRIES (5 ms to 10 s, 20 s in all: far past the milliseconds a
 * record is kept, should the reclaimer be starved of CPU), then it is left
 * to the rescans.  Each poller keeps at most SPOOL_RECHECKS; more are left
 * to the rescans too.
 */
#define SPOOL_RECHECKS 64
#define RECHECK_FIRST_NS 5000000ull
#define RECHECK_TRIES 12
#define RECHECK_REPORTED UINT64_MAX /* due_ns: reported by the last poll */

struct recheck {
	uint64_t due_ns;
	unsigned tries;
	char name[NAME_MAX + 1];
};

struct spool_poller {
	int ifd;             /* inotify, watching new/; -1: rescans only */
	DIR *scan;           /* the scan in progress, or NULL */
	uint64_t next_scan;  /* monotonic ns */
	/* Events were lost (IN_Q_OVERFLOW) while a scan was under way: the
	 * files they named may lie behind that scan's position, so another
	 * scan follows it at once. */
	bool rescan_after;
	bool first_scan_done;
	/* ccp_spool.unmovable_gen when the scan in progress began. */
	uint64_t scan_gen;
	/* The new name candidate() gave a reserved one (rename_reserved()). */
	char renamed[NAME_MAX + 1];
	/* Pending inotify names, parsed from evbuf. */
	char evbuf[EVBUF] __attribute__((aligned(8)));
	size_t evlen, evpos;
	/* Names reported by the last poll: valid until the next one. */
	char (*names)[NAME_MAX + 1];
	unsigned nnames;
	/* Names to look at again (SPOOL_RECHECKS, allocated at the first). */
	struct recheck *rechecks;
	unsigned nrechecks;
	/* Counters, read by ccp_spool_stats() (relaxed). */
	_Atomic uint64_t inotify_events, scanned, vanished, quarantined;
} CCP_ALIGNED(CCP_CACHE_GUARD);

/* Pollers that watch new/ with inotify (ccp_spool_open()). */
#define SPOOL_WATCHERS 8

struct ccp_spool {
	struct ccp_spool_config cfg;
	char *dir, *failed_dir, *quarantine_dir;
	int new_fd, cur_fd, failed_fd, quarantine_fd;
	struct spool_poller *pollers;
	_Atomic int finish;  /* 0 run, 1 drain after one full scan, 2 stop */
	_Atomic uint64_t acked, ack_errors, changed, changed_after;
	/* Nanoseconds the dispatchers spent settling files (spool_ack(),
	 * spool_ack_burst()), summed: ccp_spool_stats()'s settle_ns. */
	_Atomic uint64_t settle_ns;
	/* Names of entries that could not leave new/ (not quarantined, not
	 * renamed), reported once while they stay: the pollers meet them
	 * again at every rescan.  Two generations, so that the set holds what
	 * is stuck now, not every name that ever was (unmovable_seen()):
	 * unmovable[unmovable_cur] takes the names met since the last turn,
	 * the other holds those met before it.  All under unmovable_mu. */
	pthread_mutex_t unmovable_mu;
	struct ccp_fpset unmovable[2];
	unsigned unmovable_cur;
	uint64_t unmovable_gen; /* turns so far */
	/* DIR/new by its path, and whether it no longer leads to new_fd's
	 * directory (check_still_there(); relaxed: a flag for the relay's
	 * main loop, no data hangs on it). */
	char *new_path;
	char *cur_path; /* watched like new/ with --keep (check_still_there()) */
	_Atomic int lost;
	/* Since when (monotonic ns) no rescan could open new/ (out of
	 * descriptors or memory), 0 while they open: the failure is logged
	 * once when it begins and once when it ends, by the poller whose
	 * exchange moved it (relaxed: only says which poller logs). */
	_Atomic uint64_t scan_failing_since;
	/* Names a settlement found put back under a vanished message's name
	 * (ack_one()): the next poll of any poller reports them.  The list is
	 * under again_mu; again_pending (relaxed) only saves pollers the lock
	 * when it is empty, and a poller that misses it polls again within
	 * the pump's wait (100 ms). */
	pthread_mutex_t again_mu;
	char (*again)[NAME_MAX + 1];
	unsigned nagain;
	_Atomic int again_pending;
	/* Delivered messages whose files could not leave new/ (ack_one()): a
	 * marker each in delivered_dir, holding what was delivered (its file's
	 * stamp), and their names' fingerprints here, so that the read of a
	 * later claim finds the message delivered and never imports it again.
	 * The set is under delivered_lock (read-mostly: every read and ack
	 * looks, only a marker written or removed writes); a name leaves it
	 * with its marker (delivered_forget()), so it holds the files stuck
	 * now, not every message ever sent to the failed folder (each is
	 * marked on its way there).  A name's notes and its forgetting never
	 * race: they come from the one live record of the name, in turn.
	 * ndelivered (relaxed) spares reads and acks the lock while it is
	 * empty, as it is on a healthy spool. */
	pthread_rwlock_t delivered_lock;
	/* Each value: NULL, or a marker the store could not take (full,
	 * read-only), held in memory instead (keep_settled_why()): its name,
	 * a NUL, then its text, so that the stop can offer it to the store
	 * once more (write_held_markers()). */
	struct ccp_fpmap delivered;
	_Atomic unsigned long ndelivered;
	int delivered_fd;
	char *delivered_dir;
};

/* Names waiting in ccp_spool.again at most: more are left to the rescans. */
#define SPOOL_AGAIN 64

/* Reads of one file in one go while only its ctime moves under them
 * (ccp_spool_read_message()). */
#define SPOOL_READ_TRIES 3

/*
 * What a dispatcher's read saw of a spool file, kept in the message's user
 * area (written and read only by the dispatcher that owns the message).
 * `set` is 0 until a read succeeds: a message that vanished has no stamp.
 */
struct spool_stamp {
	uint64_t dev, ino, size, nlink;
	int64_t mtime_ns, ctime_ns;
	/* Its birth time, CCP_QUEUE_BTIME_NONE where the file system keeps
	 * none (ccp_statx_birth()). */
	int64_t btime_ns;
	uint32_t set;
	/* ccp_spool_mark_failed() wrote this message's "failed" marker (before
	 * its report was queued): a failure of its move is then news, not a
	 * rescan finding it again. */
	uint32_t marked;
	/* The hash of the octets read (ccp_hash_bytes()), where `summed`: what
	 * tells a ctime that moved with the content as delivered from a
	 * rewrite that put the mtime back (changed_after_read()). */
	uint64_t sum;
	uint32_t summed;
};

size_t ccp_spool_user_size(void)
{
	return sizeof(struct spool_stamp);
}

_Static_assert(sizeof(struct spool_stamp) <= sizeof(struct ccp_spool_stamp),
	       "struct ccp_spool_stamp holds a spool_stamp");

void ccp_spool_stamp_get(struct ccp_msg *m, struct ccp_spool_stamp *out)
{
	CCP_ASSERT(m->user_size >= sizeof(struct spool_stamp));
	memset(out, 0, sizeof(*out));
	memcpy(out, ccp_msg_user(m), sizeof(struct spool_stamp));
}

void ccp_spool_stamp_set(struct ccp_msg *m, const struct ccp_spool_stamp *in)
{
	CCP_ASSERT(m->user_size >= sizeof(struct spool_stamp));
	memcpy(ccp_msg_user(m), in, sizeof(struct spool_stamp));
}

static void stamp_of(const struct statx *st, struct spool_stamp *t)
{
	t->dev = (uint64_t)makedev(st->stx_dev_major, st->stx_dev_minor);
	t->ino = st->stx_ino;
	t->size = st->stx_size;
	t->nlink = st->stx_nlink;
	t->mtime_ns = ccp_statx_ns(&st->stx_mtime);
	t->ctime_ns = ccp_statx_ns(&st->stx_ctime);
	if (!ccp_statx_birth(st, &t->btime_ns))
		t->btime_ns = CCP_QUEUE_BTIME_NONE;
	t->set = 1;
	t->marked = 0;
	t->sum = 0;
	t->summed = 0;
}

/* How one stamp of a file differs from a later one. */
enum stamp_change {
	STAMP_SAME = 0,
	/* Only its ctime moved, its link count 1 (or 0) at both: the one case
	 * the stamps cannot settle (stamp_differs()). */
	STAMP_CTIME,
	STAMP_CHANGED,
};

/* Says in why how b differs from a, and which kind of change it is. */
static enum stamp_change stamp_differs(const struct spool_stamp *a, const struct spool_stamp *b,
				       char *why, size_t whylen)
{
	/* The same inode number with another birth time is another file
	 * too: ext4 gives a freed number to the next file made. */
	if (a->dev != b->dev || a->ino != b->ino ||
	    (a->btime_ns != CCP_QUEUE_BTIME_NONE && b->btime_ns != CCP_QUEUE_BTIME_NONE &&
	     a->btime_ns != b->btime_ns))
		snprintf(why, whylen, "replaced by another file");
	else if (a->size != b->size)
		snprintf(why, whylen, "size %llu -> %llu bytes", (unsigned long long)a->size,
			 (unsigned long long)b->size);
	else if (a->mtime_ns != b->mtime_ns)
		snprintf(why, whylen, "rewritten in place (mtime changed, size %llu)",
			 (unsigned long long)a->size);
	/*
	 * A new ctime alone: a rewrite in place that put the mtime back
	 * (`cp -p` or `rsync --inplace -t` over the file, the same size), or
	 * a new owner or mode alone.  With another link count the link count
	 * explains it: a Maildir writer that delivers by link() into new/ and
	 * then unlink() of its tmp/ name (qmail's way, and procmail's) changes
	 * the ctime after the file is in new/, and the relay may read it in
	 * between (test_mda).  Nor while the file has a second name.  But the
	 * link count cannot always tell: ext4's unlink() drops the count
	 * before it sets the ctime (tmpfs's the other way round), and a stat
	 * in that moment (stat takes no lock) sees one link and the link()'s
	 * ctime, then one link and a new ctime.  So the caller settles this
	 * case by the content: a read again (ccp_spool_read_message()), a
	 * hash of what was delivered (changed_after_read()).
	 */
	else if (a->ctime_ns != b->ctime_ns && a->nlink == b->nlink && a->nlink <= 1) {
		snprintf(why, whylen, "its inode changed (ctime changed, size %llu)",
			 (unsigned long long)a->size);
		return STAMP_CTIME;
	} else
		return STAMP_SAME;
	return STAMP_CHANGED;
}

/* ---- delivered, not removed ----------------------------------------- */

/* What a delivered-marker holds: the file that was delivered, by inode,
 * size and modification time, and birth time where the file system keeps
 * one (ccp_queue_marker_stamp()).  Not by device:
 * the marker's folder belongs to this spool, whose files share one file
 * system, and a device number need not survive a reboot or a remount
 * (btrfs, overlay, LVM, NFS, loop devices renumber): a marker that went
 * stale with it would let a message whose file could not be removed be
 * imported again.  Markers written with a first "dev N" line, as they
 * were, still match (ccp_queue_marker_read()). */
static struct ccp_queue_stamp marker_stamp(const struct spool_stamp *t)
{
	return (struct ccp_queue_stamp){ .ino = t->ino, .size = t->size, .mtime_ns = t->mtime_ns,
					 .btime_ns = t->btime_ns };
}

static int marker_text(const struct spool_stamp *t, char *buf, size_t cap)
{
	struct ccp_queue_stamp f = marker_stamp(t);
	return ccp_queue_marker_stamp(buf, cap, &f);
}

/* The first line of the marker of a message that failed (its reason and
 * report are in the failed folder) and whose file could not be moved
 * there: it is not converted, imported or reported again, only moved once
 * it can be.  `ccpump queue` reads it too (queue.h). */
#define MARKER_FAILED_LINE CCP_QUEUE_MARKER_FAILED

/* What may follow a failed marker's stamp: the reason its failed folder
 * could not take when it was marked (a spool file changed after its
 * delivery, changed_after_read()).  It is written there before the file
 * is moved (write_marker_reason()). */
#define MARKER_REASON CCP_QUEUE_MARKER_REASON
#define MARKER_MAX CCP_QUEUE_MARKER_MAX

enum marker {
	MARKER_NONE,
	MARKER_MATCHES,        /* delivered, the file could not be removed */
	MARKER_CHANGED,        /* the same, and the file was written to since */
	MARKER_MATCHES_FAILED, /* failed, the file could not be moved */
	MARKER_DIFFERS,
	MARKER_UNREADABLE,
};

/* Whether the marker delivered_dir/NAME names the file of stamp T: the
 * same inode (ctime moves with links and attributes, which do not make it
 * another message) and, where both have one, the same birth time (a new
 * file given a freed inode number is a new message), and the same size
 * and modification time, or else
 * MARKER_CHANGED, with WAS (may be NULL) set to T as it was when the
 * marker was written.  A failed one's file is the failed message, changed
 * or not; REASON (may be NULL; CAP octets) gets the reason it carries, ""
 * for none.  MARKER_UNREADABLE: the machine could not read it now (out of
 * descriptors, an I/O error): it may well match, and must not be taken
 * for stale. */
static bool delivered_held(struct ccp_spool *s, const char *name, char *buf);

static enum marker marker_of(struct ccp_spool *s, const char *name, const struct spool_stamp *t,
			     struct spool_stamp *was, char *reason, size_t cap)
{
	struct ccp_queue_stamp f = marker_stamp(t), m;
	char held[MARKER_MAX];
	enum ccp_queue_marker k =
		delivered_held(s, name, held)
			? ccp_queue_marker_parse(held, &f, &m, reason, cap)
			: ccp_queue_marker_read(s->delivered_fd, name, &f, &m, reason, cap);
	switch (k) {
	case CCP_QUEUE_MARKER_DELIVERED: return MARKER_MATCHES;
	case CCP_QUEUE_MARKER_DELIVERED_CHANGED:
		if (was) {
			*was = *t;
			was->size = m.size;
			was->mtime_ns = m.mtime_ns;
		}
		return MARKER_CHANGED;
	case CCP_QUEUE_MARKER_SENT_TO_BAD: return MARKER_MATCHES_FAILED;
	case CCP_QUEUE_MARKER_STALE: return MARKER_DIFFERS;
	case CCP_QUEUE_MARKER_UNREADABLE:
		return ccp_machine_read_errno(errno) ? MARKER_UNREADABLE : MARKER_NONE;
	case CCP_QUEUE_MARKER_NONE: break;
	}
	return MARKER_NONE;
}

/* NAME has a marker: on disk (HELD NULL), or held in memory as the text
 * HELD, which the store could not take. */
static void delivered_note_held(struct ccp_spool *s, const char *name, const char *held)
{
	pthread_rwlock_wrlock(&s->delivered_lock);
	struct ccp_fp f = ccp_fp_of(name, strlen(name));
	char **v = ccp_fpmap_get(&s->delivered, f);
	if (v == NULL) {
		v = ccp_fpmap_put(&s->delivered, f);
		atomic_fetch_add_explicit(&s->ndelivered, 1, memory_order_relaxed);
	}
	ccp_free(*v);
	*v = NULL;
	if (held) {
		size_t ln = strlen(name) + 1, lt = strlen(held) + 1;
		*v = ccp_malloc(ln + lt);
		memcpy(*v, name, ln);
		memcpy(*v + ln, held, lt);
	}
	pthread_rwlock_unlock(&s->delivered_lock);
}

static void delivered_note(struct ccp_spool *s, const char *name)
{
	delivered_note_held(s, name, NULL);
}

/* The text of NAME's marker held in memory, into BUF (MARKER_MAX octets):
 * false when it has none there. */
static bool delivered_held(struct ccp_spool *s, const char *name, char *buf)
{
	if (atomic_load_explicit(&s->ndelivered, memory_order_relaxed) == 0)
		return false;
	pthread_rwlock_rdlock(&s->delivered_lock);
	char **v = ccp_fpmap_get(&s->delivered, ccp_fp_of(name, strlen(name)));
	bool held = v && *v;
	if (held)
		snprintf(buf, MARKER_MAX, "%s", *v + strlen(*v) + 1); /* past the name */
	pthread_rwlock_unlock(&s->delivered_lock);
	return held;
}

static bool delivered_listed(struct ccp_spool *s, const char *name)
{
	if (atomic_load_explicit(&s->ndelivered, memory_order_relaxed) == 0)
		return false;
	pthread_rwlock_rdlock(&s->delivered_lock);
	bool has = ccp_fpmap_get(&s->delivered, ccp_fp_of(name, strlen(name))) != NULL;
	pthread_rwlock_unlock(&s->delivered_lock);
	return has;
}

/* NAME's marker is removed: NAME leaves the set (a lookup from then on
 * spares the marker's open).  Called by the owner of NAME's live record. */
static void delivered_forget(struct ccp_spool *s, const char *name)
{
	unlinkat(s->delivered_fd, name, 0);
	if (atomic_load_explicit(&s->ndelivered, memory_order_relaxed) == 0)
		return;
	pthread_rwlock_wrlock(&s->delivered_lock);
	struct ccp_fp f = ccp_fp_of(name, strlen(name));
	char **v = ccp_fpmap_get(&s->delivered, f);
	if (v != NULL) {
		ccp_free(*v);
		ccp_fpmap_del(&s->delivered, f);
		atomic_fetch_sub_explicit(&s->ndelivered, 1, memory_order_relaxed);
	}
	pthread_rwlock_unlock(&s->delivered_lock);
}

/*
 * Whether new/NAME, open with stamp T, is a message delivered before whose
 * file could not be removed (MARKER_MATCHES; MARKER_CHANGED if it was
 * written to since, WAS then its stamp as delivered), or one that failed
 * before and could not be moved (MARKER_MATCHES_FAILED).  A marker for
 * another file under the name (one put back since, by hand) is stale, and
 * goes (MARKER_NONE); MARKER_UNREADABLE leaves the question open.
 */
static enum marker delivered_before(struct ccp_spool *s, const char *name,
				    const struct spool_stamp *t, struct spool_stamp *was)
{
	if (s->delivered_fd < 0 || !delivered_listed(s, name))
		return MARKER_NONE;
	enum marker k = marker_of(s, name, t, was, NULL, 0);
	if (k == MARKER_DIFFERS) {
		delivered_forget(s, name);
		k = MARKER_NONE;
	}
	return k;
}

/* Offers the store NAME's marker held in memory, TEXT, once more: whether
 * it took it, which is logged, WHEN saying at what moment ("" at a rescan
 * that found the file, " at the stop"). */
static bool store_held_marker(struct ccp_spool *s, const char *name, const char *text,
			      const char *when)
{
	if (ccp_store_write(s->delivered_fd, name, text, strlen(text), true) != 0)
		return false;
	ccp_log(CCP_LOG_INFO, "%s/%s: written%s, the marker held in memory until now",
		s->delivered_dir, name, when);
	return true;
}

/*
 * The file of m, settled (delivered, or FAILED with its reason and report
 * written), could not leave new/ (a read-only spool, an immutable file, a
 * failed folder on another file system that is full): its marker keeps it
 * from being imported, or converted and reported, again, now and after a
 * restart, until it can leave.  Returns whether the marker was written.
 */
static bool keep_settled_why(struct ccp_spool *s, struct ccp_msg *m, bool failed,
			    const char *reason, bool *again)
{
	const struct spool_stamp *t = ccp_msg_user(m);
	enum marker want = failed ? MARKER_MATCHES_FAILED : MARKER_MATCHES;
	char text[MARKER_MAX];
	*again = false;
	if (s->delivered_fd < 0 || m->user_size < sizeof(*t) || !t->set)
		return false;
	/* Marked at an earlier try: a rescan found it again, nothing new;
	 * but a marker held in memory is offered to the store again, which
	 * may have room now, so that a restart no longer forgets it. */
	if (delivered_listed(s, m->key) && marker_of(s, m->key, t, NULL, NULL, 0) == want) {
		*again = true;
		if (delivered_held(s, m->key, text) && store_held_marker(s, m->key, text, ""))
			delivered_note(s, m->key);
		return true;
	}
	int n = snprintf(text, sizeof(text), "%s", failed ? MARKER_FAILED_LINE : "");
	n += marker_text(t, text + n, sizeof(text) - (size_t)n);
	if (reason) { /* its first line, cut to fit */
		size_t len = strcspn(reason, "\n"), room = sizeof(text) - (size_t)n -
							   strlen(MARKER_REASON) - 2;
		n += snprintf(text + n, sizeof(text) - (size_t)n, MARKER_REASON "%.*s\n",
			      (int)(len < room ? len : room), reason);
	}
	if (ccp_store_write(s->delivered_fd, m->key, text, (size_t)n, true) != 0) {
		int e = errno;
		/* In place all the same when only its folder's sync failed: it
		 * counts, here and after a restart, if not after a power loss. */
		bool there = marker_of(s, m->key, t, NULL, NULL, 0) == want;
		/* Else it is held in memory, read as the file would be: the
		 * store full or read-only, this run still never imports or
		 * reports the message again while its file waits in new/ (a
		 * report sent twice, or a changed file's new text delivered to
		 * a post office that skips it, were the cost).  A restart
		 * before the store takes the marker or the file forgets it. */
		ccp_log(CCP_LOG_ERROR, "cannot write %s/%s: %s%s", s->delivered_dir, m->key,
			strerror(e), there ? "" : "; held in memory: this run does not relay it "
						  "again, a restart before the store can take it may");
		if (!there) {
			text[n] = '\0';
			delivered_note_held(s, m->key, text);
			return true;
		}
	}
	delivered_note(s, m->key);
	return true;
}

/* Where NAME's marker is, for the log: its folder, or memory when the
 * store could not take it (keep_settled_why()). */
static const char *marked_in(struct ccp_spool *s, const char *name)
{
	char held[MARKER_MAX];
	return delivered_held(s, name, held) ? "memory (the store cannot take its marker)"
					     : s->delivered_dir;
}

static bool keep_settled(struct ccp_spool *s, struct ccp_msg *m, bool failed, bool *again)
{
	return keep_settled_why(s, m, failed, NULL, again);
}

/* At open: the markers of files still in new/ as they were settled are
 * kept and listed; the others (removed since, or another file now) go.
 * Returns -1 with the reason in err when the folder cannot be read through:
 * a marker not listed is not looked at, and its file would be imported
 * again. */
static int load_delivered(struct ccp_spool *s, char *err, size_t errlen)
{
	DIR *d = ccp_dir_reopen(s->delivered_fd);
	struct dirent *de;
	struct statx st;
	struct spool_stamp t;
	unsigned kept = 0, kept_failed = 0, kept_reason = 0, kept_changed = 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", s->delivered_dir, strerror(errno));
		return -1;
	}
	ccp_dir_remove_stale_tmp(s->delivered_fd);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			int e = errno;
			closedir(d);
			if (e == 0)
				break;
			snprintf(err, errlen, "cannot read %s: %s", s->delivered_dir, strerror(e));
			return -1;
		}
		if (de->d_name[0] == '.')
			continue;
		enum marker k = MARKER_NONE;
		/* A failed marker's reason with its verdict: the marker is read
		 * once. */
		char why[MARKER_MAX] = "";
		if (ccp_statx(s->new_fd, de->d_name, AT_SYMLINK_NOFOLLOW, &st) == 0) {
			stamp_of(&st, &t);
			k = marker_of(s, de->d_name, &t, NULL, why, sizeof(why));
		} else if (errno != ENOENT) {
			k = MARKER_UNREADABLE;
		}
		/* Kept when in doubt: a marker wrongly kept costs a look, one
		 * wrongly removed a second delivery. */
		if (k == MARKER_MATCHES || k == MARKER_CHANGED || k == MARKER_MATCHES_FAILED ||
		    k == MARKER_UNREADABLE) {
			delivered_note(s, de->d_name);
			if (k == MARKER_CHANGED)
				kept_changed++;
			else if (k == MARKER_MATCHES_FAILED && why[0])
				kept_reason++;
			else if (k == MARKER_MATCHES_FAILED)
				kept_failed++;
			else
				kept++;
			continue;
		}
		unlinkat(s->delivered_fd, de->d_name, 0);
	}
	if (kept)
		ccp_log(CCP_LOG_WARN, "spool %s: %u messages delivered before are still in new/ (their "
			"files could not be removed; see %s): never imported again, removed once "
			"they can be", s->dir, kept, s->delivered_dir);
	if (kept_failed)
		ccp_log(CCP_LOG_WARN, "spool %s: %u messages that failed before are still in new/ "
			"(their files were not moved to %s: they could not be, or the relay stopped "
			"first; see %s): their reasons and reports are there, they are never "
			"imported or reported again, moved once they can be", s->dir, kept_failed,
			s->failed_dir, s->delivered_dir);
	if (kept_reason)
		ccp_log(CCP_LOG_WARN, "spool %s: %u messages that changed after their delivery are "
			"still in new/ (their reasons could not be written to %s; see %s): never "
			"imported again, moved once their reasons can be written", s->dir,
			kept_reason, s->failed_dir, s->delivered_dir);
	if (kept_changed)
		ccp_log(CCP_LOG_WARN, "spool %s: %u messages delivered before are still in new/ and "
			"have been written to since (see %s): never imported again, they go to %s "
			"with the reason", s->dir, kept_changed, s->delivered_dir, s->failed_dir);
	return 0;
}

struct ccp_spool *ccp_spool_open(const struct ccp_spool_config *cfg, char *err, size_t errlen)
{
	struct stat st;
	if (cfg->dir == NULL) {
		snprintf(err, errlen, "no spool directory given");
		return NULL;
	}
	if (stat(cfg->dir, &st) != 0) {
		snprintf(err, errlen, "spool %s: %s", cfg->dir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool %s: not a directory", cfg->dir);
		return NULL;
	}
	if (cfg->pollers < 1 || cfg->failed_dir == NULL || cfg->quarantine_dir == NULL) {
		snprintf(err, errlen, "spool %s: needs pollers, a failed and a quarantine folder",
			 cfg->dir);
		return NULL;
	}
	struct ccp_spool *s = ccp_calloc(1, sizeof(*s));
	s->cfg = *cfg;
	pthread_mutex_init(&s->unmovable_mu, NULL);
	pthread_mutex_init(&s->again_mu, NULL);
	pthread_rwlock_init(&s->delivered_lock, NULL);
	ccp_fpset_init(&s->unmovable[0]);
	ccp_fpset_init(&s->unmovable[1]);
	ccp_fpmap_init(&s->delivered, sizeof(char *));
	atomic_init(&s->ndelivered, 0);
	s->delivered_fd = -1;
	s->new_path = ccp_path_join(cfg->dir, "new");
	atomic_init(&s->lost, 0);
	atomic_init(&s->scan_failing_since, 0);
	atomic_init(&s->again_pending, 0);
	s->dir = ccp_strdup(cfg->dir);
	s->failed_dir = ccp_strdup(cfg->failed_dir);
	s->quarantine_dir = ccp_strdup(cfg->quarantine_dir);
	s->new_fd = s->cur_fd = s->failed_fd = s->quarantine_fd = -1;
	char *p = ccp_path_join(cfg->dir, "tmp");
	int tmp_fd = ccp_dir_ensure_open(p, err, errlen);
	if (tmp_fd < 0) {
		ccp_free(p);
		goto fail;
	}
	/* The copies of `queue --requeue`s cut short (a SIGKILL, a power
	 * loss) in the middle of a move across file systems: ccpump's own
	 * temporary names whose makers are gone, never the MTA's files. */
	unsigned stale = ccp_dir_remove_stale_own_tmp(tmp_fd);
	if (stale)
		ccp_log(CCP_LOG_INFO, "spool %s: removed %u copies that requeues cut short left "
			"(ccpump's temporary names)", p, stale);
	ccp_free(p);
	close(tmp_fd);
	s->new_fd = ccp_dir_ensure_open(s->new_path, err, errlen);
	if (s->new_fd < 0)
		goto fail;
	s->cur_path = ccp_path_join(cfg->dir, "cur");
	s->cur_fd = ccp_dir_ensure_open(s->cur_path, err, errlen);
	if (s->cur_fd < 0 ||
	    (s->failed_fd = ccp_dir_ensure_open(cfg->failed_dir, err, errlen)) < 0 ||
	    (s->quarantine_fd = ccp_dir_ensure_open(cfg->quarantine_dir, err, errlen)) < 0)
		goto fail;
	/* Copies into quarantine that a crash cut short (ccp_move_entry()). */
	ccp_dir_remove_stale_tmp(s->quarantine_fd);
	if (cfg->delivered_dir) {
		s->delivered_dir = ccp_strdup(cfg->delivered_dir);
		if ((s->delivered_fd = ccp_dir_ensure_open(cfg->delivered_dir, err, errlen)) < 0)
			goto fail;
		if (load_delivered(s, err, errlen) != 0)
			goto fail;
	}

	s->pollers = ccp_aligned_alloc(CCP_CACHE_GUARD, cfg->pollers * sizeof(*s->pollers));
	memset(s->pollers, 0, cfg->pollers * sizeof(*s->pollers));
	for (unsigned i = 0; i < cfg->pollers; i++)
		s->pollers[i].ifd = -1; /* none yet: ccp_spool_close() after a failure */
	uint64_t now = ccp_now_ns();
	unsigned unwatched = 0;
	int unwatched_errno = 0;
	for (unsigned i = 0; i < cfg->pollers; i++) {
		struct spool_poller *sp = &s->pollers[i];
		sp->next_scan = now; /* the start-up scan */
		sp->names = NULL;
		/* SPOOL_WATCHERS pollers hear of new files as they arrive, which
		 * is all the overlap inotify can give; the rest find them by
		 * their rescans.  An inotify instance per poller would spend the
		 * user's few (fs.inotify.max_user_instances, 128 by default) and
		 * starve every other program of that user. */
		if (i >= SPOOL_WATCHERS)
			continue;
		const uint32_t events = IN_MOVED_TO | IN_CREATE | IN_ONLYDIR;
		sp->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (sp->ifd < 0 || inotify_add_watch(sp->ifd, s->new_path, events) < 0) {
			int e = errno;
			/* Past the system's inotify limits (fs.inotify.max_user_
			 * instances, 128 by default, and max_user_watches), a poller
			 * finds files by its rescans alone; the first must watch,
			 * or new files would wait for a rescan. */
			if (i == 0 || (e != EMFILE && e != ENOSPC)) {
				snprintf(err, errlen, "cannot watch %s with inotify: %s", s->new_path,
					 strerror(e));
				goto fail;
			}
			if (sp->ifd >= 0)
				close(sp->ifd);
			sp->ifd = -1;
			unwatched++;
			unwatched_errno = e;
		}
	}
	if (unwatched)
		ccp_log(CCP_LOG_WARN, "spool %s: %u of %u pollers meant to watch new/ have no inotify "
			"watch (%s: the limits fs.inotify.max_user_instances and max_user_watches); "
			"they find new files by their rescans", cfg->dir, unwatched,
			cfg->pollers < SPOOL_WATCHERS ? cfg->pollers : SPOOL_WATCHERS,
			strerror(unwatched_errno));
	return s;
fail:
	ccp_spool_close(s);
	return NULL;
}

/*
 * At the stop: the markers held in memory are offered to the store once
 * more, as each rescan that finds their files does, since it may have
 * room by now (a rescan may be up to --rescan-interval away): one written
 * holds across the restart, one still refused is forgotten by it.  A
 * marker whose file has left new/ protects nothing and is not written (a
 * marker left for a file that has gone would go at the next start in any
 * case: load_delivered()).  Frees them all; returns how many the store
 * still refused.  Single-threaded: the pollers and dispatchers are done.
 */
static unsigned long write_held_markers(struct ccp_spool *s)
{
	unsigned long still = 0;
	struct stat st;
	for (size_t i = 0; i < s->delivered.cap; i++) {
		if (!s->delivered.keys[i].b)
			continue;
		char **v = (char **)(s->delivered.vals + i * s->delivered.vsize);
		if (*v == NULL)
			continue;
		const char *name = *v, *text = name + strlen(name) + 1;
		/* Gone: nothing left to import again. */
		bool gone = s->new_fd >= 0 &&
			    fstatat(s->new_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
		if (!gone && !(s->delivered_fd >= 0 && store_held_marker(s, name, text, " at the stop")))
			still++;
		ccp_free(*v);
		*v = NULL;
	}
	return still;
}

void ccp_spool_close(struct ccp_spool *s)
{
	if (s == NULL)
		return;
	if (s->pollers) {
		for (unsigned i = 0; i < s->cfg.pollers; i++) {
			if (s->pollers[i].ifd >= 0)
				close(s->pollers[i].ifd);
			if (s->pollers[i].scan)
				closedir(s->pollers[i].scan);
			ccp_free(s->pollers[i].names);
			ccp_free(s->pollers[i].rechecks);
		}
		ccp_free(s->pollers);
	}
	unsigned long held = write_held_markers(s);
	int fds[] = { s->new_fd, s->cur_fd, s->failed_fd, s->quarantine_fd, s->delivered_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Each was logged by name when the store refused its marker. */
	if (held)
		ccp_log(CCP_LOG_ERROR, "spool %s: %lu settled messages were marked in memory "
			"only, the store refusing their markers: a restart before their files "
			"leave new/ may import or report them again", s->dir, held);
	ccp_free(s->dir);
	ccp_free(s->delivered_dir);
	ccp_fpmap_free(&s->delivered);
	pthread_rwlock_destroy(&s->delivered_lock);
	ccp_free(s->failed_dir);
	ccp_free(s->quarantine_dir);
	ccp_fpset_free(&s->unmovable[0]);
	ccp_fpset_free(&s->unmovable[1]);
	pthread_mutex_destroy(&s->unmovable_mu);
	pthread_mutex_destroy(&s->again_mu);
	ccp_free(s->again);
	ccp_free(s->new_path);
	ccp_free(s->cur_path);
	ccp_free(s);
}

void ccp_spool_finish(struct ccp_spool *s, bool drain_first)
{
	atomic_store_explicit(&s->finish, drain_first ? 1 : 2, memory_order_relaxed);
}

int ccp_spool_stat(const struct ccp_spool *s, const char *key, struct stat *out)
{
	return fstatat(s->new_fd, key, out, AT_SYMLINK_NOFOLLOW);
}

uint64_t ccp_spool_ino(const struct ccp_spool *s, const char *key)
{
	struct stat st;
	return ccp_spool_stat(s, key, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

ssize_t ccp_spool_read_head(struct ccp_spool *s, const char *key, char *buf, size_t cap)
{
	int fd = openat(s->new_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return -1;
	ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ccp_read_full(fd, buf, cap) : -1;
	close(fd);
	return got;
}

/*
 * Whether FD's file is open for writing, by any process: then a writer that
 * made it in new/ itself (not in tmp/, renamed in when complete) may not
 * have written all of it, however still it stands while it is read.  Asked
 * of the kernel with a read lease, which is refused (EAGAIN) while any fd
 * on the file is open for writing, and given back at once when granted.  A
 * writer's open in the moment between waits for that; the lease's break
 * notice is sent as SIGURG, which is ignored unless handled (ccpump does
 * not), so it cannot end the process as the default SIGIO would.  Where no
 * lease can be had (the file is another user's and the relay lacks
 * CAP_LEASE, a file system without leases, fs.leases-enable 0), the answer
 * is "no": the fstat()s around the read remain the only check.
 */
static bool open_for_writing(int fd)
{
	if (fcntl(fd, F_SETSIG, SIGURG) != 0)
		return false;
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		return false;
	}
	return errno == EAGAIN;
}

/* The stamp of new/NAME as it is now, the file left unopened: whether it
 * is a regular file, stamped into *T. */
static bool stamp_by_name(const struct ccp_spool *s, const char *name, struct spool_stamp *t)
{
	struct statx st;
	if (ccp_statx(s->new_fd, name, AT_SYMLINK_NOFOLLOW, &st) != 0 || !S_ISREG(st.stx_mode))
		return false;
	stamp_of(&st, t);
	return true;
}

/* A read that found no file: the stamp of an earlier read no longer says
 * what the message is (spool_ack() goes by it). */
static enum ccp_spool_read vanished(struct ccp_msg *m)
{
	if (m->user_size >= sizeof(struct spool_stamp))
		((struct spool_stamp *)ccp_msg_user(m))->set = 0;
	return CCP_SPOOL_READ_VANISHED;
}

enum ccp_spool_read ccp_spool_read_message(struct ccp_spool *s, struct ccp_msg *m,
					   char **buf, size_t *cap, size_t *len, uint64_t max_bytes,
					   char *why, size_t whylen)
{
	struct statx st;
	struct spool_stamp before, after;
	char what[160];
	enum ccp_spool_read res = CCP_SPOOL_READ_UNUSABLE;
	int fd = openat(s->new_fd, m->key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		/* ELOOP: a symbolic link now (O_NOFOLLOW), put under the name
		 * since the scan saw a file: no file of the message is left,
		 * and the entry is the pollers' to quarantine (candidate(),
		 * once the ack has them look again). */
		if (e == ENOENT || e == ELOOP)
			return vanished(m);
		/* The same for what cannot be opened for being no file: a
		 * socket (ENXIO), a device without its driver (ENXIO, ENODEV) or
		 * on a nodev mount (EACCES). */
		struct stat ls;
		if (fstatat(s->new_fd, m->key, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(ls.st_mode))
			return vanished(m);
		/* Not the machine's fault (not ours to read): stamped by its
		 * name, so that a marker can speak for it, as for any file
		 * settled that cannot leave new/ (one not ours to read may not
		 * be ours to move either, in a sticky new/): else each rescan
		 * would send it to the failed folder again. */
		if (!ccp_machine_read_errno(e) && stamp_by_name(s, m->key, &before)) {
			*(struct spool_stamp *)ccp_msg_user(m) = before;
			switch (delivered_before(s, m->key, &before, &after)) {
			case MARKER_MATCHES:
				return CCP_SPOOL_READ_DELIVERED;
			case MARKER_CHANGED:
				/* Its ack sees it changed since (changed_after_read()). */
				*(struct spool_stamp *)ccp_msg_user(m) = after;
				return CCP_SPOOL_READ_DELIVERED;
			case MARKER_MATCHES_FAILED:
				return CCP_SPOOL_READ_FAILED_BEFORE;
			default:
				break;
			}
		}
		snprintf(why, whylen, "spool file %s cannot be opened: %s", m->key, strerror(e));
		return ccp_machine_read_errno(e) ? CCP_SPOOL_READ_FAILED : CCP_SPOOL_READ_UNUSABLE;
	}
	if (ccp_statx(fd, "", AT_EMPTY_PATH, &st) != 0) {
		snprintf(why, whylen, "spool file %s cannot be examined: %s", m->key,
			 strerror(errno));
		/* An I/O error is the machine's, as for the read below:
		 * postponed, not the message's fault. */
		if (ccp_machine_read_errno(errno))
			res = CCP_SPOOL_READ_FAILED;
		goto out;
	}
	if (!S_ISREG(st.stx_mode)) {
		/* Swapped since the scan for a FIFO, a device or a folder (O_
		 * NONBLOCK opened it without waiting): as for a symbolic link
		 * above, quarantined by the pollers, not sent to Bad. */
		close(fd);
		return vanished(m);
	}
	stamp_of(&st, &before);
	switch (delivered_before(s, m->key, &before, &after)) {
	case MARKER_MATCHES:
		/* Its ack removes the file if it now can. */
		*(struct spool_stamp *)ccp_msg_user(m) = before;
		res = CCP_SPOOL_READ_DELIVERED;
		goto out;
	case MARKER_CHANGED:
		/* Delivered, and written to since: its ack finds it changed
		 * after its delivery, by the stamp it was delivered with, and
		 * sends it to the failed folder with the reason
		 * (changed_after_read()), as when the change comes before the
		 * file could be removed.  Relayed again, its new text would go
		 * to a post office that skips it as a duplicate. */
		*(struct spool_stamp *)ccp_msg_user(m) = after;
		res = CCP_SPOOL_READ_DELIVERED;
		goto out;
	case MARKER_MATCHES_FAILED:
		/* Its ack moves the file to the failed folder if it now can. */
		*(struct spool_stamp *)ccp_msg_user(m) = before;
		res = CCP_SPOOL_READ_FAILED_BEFORE;
		goto out;
	case MARKER_UNREADABLE:
		snprintf(why, whylen, "spool file %s: its marker in %s cannot be read: %s", m->key,
			 s->delivered_dir, strerror(errno));
		res = CCP_SPOOL_READ_FAILED;
		goto out;
	default:
		break;
	}
	/* What goes to Bad for the file itself is stamped too, for its
	 * "failed" marker (ccp_spool_mark_failed()). */
	*(struct spool_stamp *)ccp_msg_user(m) = before;
	int injected = s->cfg.read_hook ? s->cfg.read_hook(s->cfg.read_hook_arg, m->key, fd) : 0;
	/* Before the file is judged by its size: a writer that made it in
	 * new/ may not have written a byte of it yet. */
	if (!injected && open_for_writing(fd)) {
		snprintf(why, whylen, "spool file %s is still open for writing", m->key);
		atomic_fetch_add_explicit(&s->changed, 1, memory_order_relaxed);
		ccp_log(CCP_LOG_WARN, "spool %s/new/%s is still open for writing: deferred, to be "
			"read again", s->dir, m->key);
		res = CCP_SPOOL_READ_BEING_WRITTEN;
		goto out;
	}
	if (st.stx_size == 0) {
		snprintf(why, whylen, "spool file %s is empty", m->key);
		goto out;
	}
	if (st.stx_size > max_bytes) {
		snprintf(why, whylen, "spool file %s has %lld bytes, over the limit of %llu", m->key,
			 (long long)st.stx_size, (unsigned long long)max_bytes);
		goto out;
	}
	size_t want = (size_t)st.stx_size, got = 0;
	if (*cap < want + 1) {
		*cap = want + 1;
		*buf = ccp_realloc(*buf, *cap);
	}
	for (unsigned tries = 1;; tries++) {
		/* From the start each time: a read again follows one that
		 * reached the end. */
		ssize_t n = injected ? (errno = injected, -1) : ccp_pread_full(fd, *buf, want, 0);
		/* The fd's inode before and after the read, then the name: does
		 * new/NAME still lead to it?  (A writer that renames a new
		 * version over the name leaves our fd on the old one.) */
		if (n < 0 || ccp_statx(fd, "", AT_EMPTY_PATH, &st) != 0) {
			snprintf(why, whylen, "spool file %s cannot be read: %s", m->key,
				 strerror(errno));
			if (ccp_machine_read_errno(errno))
				res = CCP_SPOOL_READ_FAILED;
			goto out;
		}
		got = (size_t)n; /* fewer: it shrank under us, caught below */
		stamp_of(&st, &after);
		res = CCP_SPOOL_READ_CHANGED;
		enum stamp_change c = STAMP_CHANGED;
		if (got < want)
			snprintf(what, sizeof(what), "shrank to %zu bytes while %zu were read", got,
				 want);
		else if ((c = stamp_differs(&before, &after, what, sizeof(what))) == STAMP_SAME) {
			struct spool_stamp named;
			if (ccp_statx(s->new_fd, m->key, AT_SYMLINK_NOFOLLOW, &st) != 0) {
				res = vanished(m);
				goto out;
			}
			stamp_of(&st, &named);
			if ((c = stamp_differs(&after, &named, what, sizeof(what))) == STAMP_SAME) {
				after.sum = ccp_hash_bytes(*buf, got);
				after.summed = 1;
				*(struct spool_stamp *)ccp_msg_user(m) = after;
				(*buf)[got] = '\0';
				*len = got;
				res = CCP_SPOOL_READ_OK;
				goto out;
			}
		}
		/* Only the ctime moved: a Maildir writer's unlink() of its tmp/
		 * name seen in the middle (stamp_differs()), or a rewrite that
		 * put the mtime back.  Read again at once from a fresh stamp:
		 * the unlink() is done by then, and a rewrite is read whole or
		 * seen again.  Where even that fails, or its size is another
		 * now, deferred as any change. */
		if (c != STAMP_CTIME || tries == SPOOL_READ_TRIES ||
		    ccp_statx(fd, "", AT_EMPTY_PATH, &st) != 0 || st.stx_size != want)
			break;
		stamp_of(&st, &before);
	}
	snprintf(why, whylen, "spool file %s changed while it was read (%s)", m->key, what);
	atomic_fetch_add_explicit(&s->changed, 1, memory_order_relaxed);
	ccp_log(CCP_LOG_WARN, "spool %s/new/%s changed while it was read (%s): deferred, to be "
		"read again", s->dir, m->key, what);
out:
	close(fd);
	return res;
}

static const char *file_kind(mode_t m)
{
	if (S_ISLNK(m)) return "a symbolic link";
	if (S_ISDIR(m)) return "a directory";
	if (S_ISFIFO(m)) return "a fifo";
	if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
	if (S_ISSOCK(m)) return "a socket";
	return "not a regular file";
}

/*
 * NAME is an entry that cannot leave new/ now: whether to report it, which
 * is once while it stays.  Not when the set of names met since the last
 * turn has it, nor the set from before (met at the last complete rescan,
 * and so, unless it went, met again at the next).  A rescan that reads
 * new/ to its end having begun after the last turn meets every entry that
 * stayed throughout (readdir's promise), so such a rescan turns the
 * generations (unmovable_turn()): the names not met since are dropped, and
 * an entry that went and comes back later under its name is reported
 * again.  So the sets hold at most the names stuck over two rescans, where
 * one set kept every name ever stuck for the relay's life.  Under
 * unmovable_mu.
 */
static bool unmovable_seen(struct ccp_spool *s, const char *name)
{
	struct ccp_fp f = ccp_fp_of(name, strlen(name));
	if (!ccp_fpset_add(&s->unmovable[s->unmovable_cur], f))
		return false;
	return !ccp_fpset_has(&s->unmovable[!s->unmovable_cur], f);
}

/* A rescan of SP read new/ to its end: turns the generations of the
 * unmovable names if it began after the last turn (unmovable_seen()). */
static void unmovable_turn(struct ccp_spool *s, struct spool_poller *sp)
{
	pthread_mutex_lock(&s->unmovable_mu);
	if (sp->scan_gen == s->unmovable_gen) {
		struct ccp_fpset *old = &s->unmovable[!s->unmovable_cur];
		/* Freed, not cleared: the table goes with the names. */
		ccp_fpset_free(old);
		ccp_fpset_init(old);
		s->unmovable_cur = !s->unmovable_cur;
		s->unmovable_gen++;
	}
	pthread_mutex_unlock(&s->unmovable_mu);
}

/*
 * NAME ends as the records the relay keeps beside a message in Bad do
 * (NAME.reason, NAME.ndr: queue.h): in Bad it would be taken for one, and
 * a message of the shorter name sent there would have its record written
 * over it.  It is renamed within new/ (never over another entry), to be
 * found again under a name of its own, before it is ever claimed: such a
 * name is never relayed, so no delivery can go by it, and a rename is
 * always safe, whenever it comes.  One that cannot be renamed now (an
 * immutable file, a read-only spool) waits in new/, reported once, until
 * it can.  One poller at a time.  Returns whether it was renamed, into TO
 * (NAME_MAX + 1 octets): the new name is reported at once, as a scan
 * under way or a `--once` run's last one may not see it.
 */
static bool rename_reserved(struct ccp_spool *s, const char *name, char *to)
{
	size_t n = strlen(name);
	/* Room for "_9" after it: a name too long loses its last octets. */
	int keep = n + 2 <= NAME_MAX ? (int)n : NAME_MAX - 2;
	bool renamed = false;
	int e = 0;
	pthread_mutex_lock(&s->unmovable_mu);
	for (unsigned k = 0; k < 10 && !renamed; k++) {
		snprintf(to, NAME_MAX + 1, k ? "%.*s_%u" : "%.*s_", keep, name, k);
		/* Where RENAME_NOREPLACE is not known, a link and the old
		 * name's removal; should that fail (a sticky new/ and another
		 * user's file), the new link goes again: left, each rescan
		 * would add one more name, each a message of its own. */
		if (ccp_rename_noreplace(s->new_fd, name, s->new_fd, to) == 0)
			renamed = true;
		else if ((e = errno) != EEXIST)
			break;
	}
	if (renamed)
		ccp_log(CCP_LOG_WARN, "spool %s/new/%s: its name ends as a record in %s does: renamed "
			"%s", s->dir, name, s->failed_dir, to);
	else if (e != ENOENT && unmovable_seen(s, name))
		ccp_log(CCP_LOG_WARN, "spool %s/new/%s: its name ends as a record in %s does, and it "
			"cannot be renamed (%s): left in new/, not relayed, until it can be", s->dir,
			name, s->failed_dir, strerror(e));
	pthread_mutex_unlock(&s->unmovable_mu);
	return renamed;
}

/* The Nth name beside NAME (N >= 1) where NAME is taken, into OUT
 * (NAME_MAX + 1 octets): NAME.N, NAME cut to fit.  For up to 1000. */
#define SPOOL_BESIDE_MAX 1000
static void name_beside(char *out, const char *name, unsigned n)
{
	snprintf(out, NAME_MAX + 1, "%.*s.%u", NAME_MAX - 5, name, n);
}

/* The name new/NAME is quarantined under, into OUT (NAME_MAX + 1 octets):
 * NAME, or where the quarantine holds that already (an entry quarantined
 * before under the name: evidence, not to be replaced), NAME.1, NAME.2
 * and so on (name_beside()), as keep_in_cur() names.  False, with errno, when
 * none can be had. */
static bool quarantine_name(const struct ccp_spool *s, const char *name, char *out)
{
	struct stat st;
	snprintf(out, NAME_MAX + 1, "%s", name);
	for (unsigned i = 1; i <= SPOOL_BESIDE_MAX; i++) {
		if (fstatat(s->quarantine_fd, out, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT;
		name_beside(out, name, i);
	}
	errno = EEXIST;
	return false;
}

/*
 * Decides whether NAME in new/ is a message to report now.  Entries that
 * are not regular files are moved into quarantine, by one poller at a time
 * (the first logs it; the others see it gone); one that cannot be moved
 * (a directory when the store is on another file system) stays, skipped,
 * and is reported once.  `type` is the directory
 * entry's d_type from a scan, DT_UNKNOWN from inotify: a scan's DT_REG
 * needs no stat, since the entry's type is stored in the directory itself
 * (ext4, xfs, btrfs, tmpfs).  Either way the entry may change before it is
 * read: the read opens with O_NOFOLLOW and checks S_ISREG on the fd.
 * Returns the name to report (another, when it was renamed: see
 * rename_reserved()), or NULL.
 */
static const char *candidate(struct ccp_spool *s, struct spool_poller *sp, const char *name,
			     unsigned char type)
{
	struct stat st;
	if (name[0] == '.' || name[0] == '\0')
		return NULL;
	if (ccp_unlikely(ccp_queue_is_record(name))) {
		if (!rename_reserved(s, name, sp->renamed))
			return NULL;
		name = sp->renamed; /* the same entry: its type holds */
	}
	if (type == DT_REG)
		return name;
	if (fstatat(s->new_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		ccp_counter_add(&sp->vanished, 1);
		return NULL;
	}
	if (S_ISREG(st.st_mode))
		return name;
	/* One poller at a time (a rare path): across file systems a move is a
	 * copy, and two pollers copying one entry would trip on each other. */
	pthread_mutex_lock(&s->unmovable_mu);
	bool gone = fstatat(s->new_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0;
	if (gone || S_ISREG(st.st_mode)) {
		/* Moved by another poller, or now a file to read. */
		pthread_mutex_unlock(&s->unmovable_mu);
		return gone ? NULL : name;
	}
	char qname[NAME_MAX + 1];
	if (quarantine_name(s, name, qname) &&
	    ccp_move_entry_as(s->new_fd, name, s->quarantine_fd, qname, true) == 0) {
		ccp_counter_add(&sp->quarantined, 1);
		bool renamed = strcmp(qname, name) != 0;
		ccp_log(CCP_LOG_WARN, "spool %s/new/%s is %s: moved to %s%s%s, never opened%s",
			s->dir, name, file_kind(st.st_mode), s->quarantine_dir,
			renamed ? " as " : "", renamed ? qname : "",
			renamed ? " (an entry of its name is there already)" : "");
	} else {
		/* ENOENT with the entry still there: the quarantine folder is
		 * gone, which is said, not taken for the entry's removal. */
		int e = errno;
		struct stat still;
		if ((e != ENOENT || fstatat(s->new_fd, name, &still, AT_SYMLINK_NOFOLLOW) == 0) &&
		    unmovable_seen(s, name))
			ccp_log(CCP_LOG_WARN, "spool %s/new/%s is %s and cannot be moved to %s: %s; "
				"left in new/, never opened", s->dir, name, file_kind(st.st_mode),
				s->quarantine_dir,
				e == EXDEV ? "it is on another file system" : strerror(e));
	}
	pthread_mutex_unlock(&s->unmovable_mu);
	return NULL;
}

/* Next name from inotify, or NULL when none is pending. */
static const char *next_event(struct spool_poller *sp)
{
	for (;;) {
		if (sp->evpos >= sp->evlen) {
			ssize_t n = read(sp->ifd, sp->evbuf, sizeof(sp->evbuf));
			if (n <= 0)
				return NULL; /* EAGAIN: nothing pending */
			sp->evlen = (size_t)n;
			sp->evpos = 0;
		}
		struct inotify_event *ev = (struct inotify_event *)(void *)(sp->evbuf + sp->evpos);
		sp->evpos += sizeof(*ev) + ev->len;
		if (ev->mask & IN_Q_OVERFLOW) {
			/* Events were lost: rescan at once, or right after the
			 * scan under way (its end would set the next one an
			 * interval away). */
			sp->next_scan = 0;
			if (sp->scan != NULL)
				sp->rescan_after = true;
			continue;
		}
		if (ev->len && !(ev->mask & IN_ISDIR)) {
			ccp_counter_add(&sp->inotify_events, 1);
			return ev->name;
		}
	}
}

/*
 * Before each rescan: is DIR/new, by its path, still the directory the
 * spool opened?  An operator who moves the spool aside and makes a new one
 * would otherwise leave the relay scanning the old one, and watching it,
 * while mail waits in the new one.  The first poller to see it logs it and
 * marks the spool lost; the relay then stops (ccp_spool_lost()).
 */
static void check_still_there(struct ccp_spool *s)
{
	/* With --keep, cur/ too: delivered files renamed into a removed cur/
	 * would fail (ENOENT), and stay in new/. */
	const char *gone = !ccp_fd_is_path(s->new_fd, s->new_path) ? s->new_path
			   : s->cfg.keep && !ccp_fd_is_path(s->cur_fd, s->cur_path) ? s->cur_path
										 : NULL;
	if (gone == NULL)
		return;
	int zero = 0;
	if (atomic_compare_exchange_strong_explicit(&s->lost, &zero, 1, memory_order_relaxed,
						    memory_order_relaxed))
		ccp_log(CCP_LOG_ERROR, "spool %s is no longer the directory this relay opened "
			"(moved, removed or replaced)", gone);
}

bool ccp_spool_lost(const struct ccp_spool *s)
{
	return atomic_load_explicit(&((struct ccp_spool *)s)->lost, memory_order_relaxed) != 0;
}

/* A scan that could not be made or finished (error E: out of descriptors
 * or memory, an I/O error in new/): the next try is a second away (or a
 * rescan interval, if shorter), not at once, for a poller must not spin on
 * it; logged once until a scan reads through, which --once waits for
 * (ccp_spool_scan_failing_since()). */
static void scan_failed(struct ccp_spool *s, struct spool_poller *sp, int e)
{
	uint64_t now = ccp_now_ns(), none = 0;
	uint64_t wait = s->cfg.rescan_interval_ns < 1000000000u ? s->cfg.rescan_interval_ns
								 : 1000000000u;
	sp->next_scan = now + wait;
	if (atomic_compare_exchange_strong_explicit(&s->scan_failing_since, &none, now,
						    memory_order_relaxed, memory_order_relaxed))
		ccp_log(CCP_LOG_ERROR, "spool %s cannot be rescanned: %s; tried again every %.1f s",
			s->new_path, strerror(e), (double)wait / 1e9);
}

/* Opens the rescan of new/. */
static void start_scan(struct ccp_spool *s, struct spool_poller *sp)
{
	check_still_there(s);
	pthread_mutex_lock(&s->unmovable_mu);
	sp->scan_gen = s->unmovable_gen;
	pthread_mutex_unlock(&s->unmovable_mu);
	sp->scan = ccp_dir_reopen(s->new_fd);
	if (sp->scan == NULL)
		scan_failed(s, sp, errno);
}

uint64_t ccp_spool_scan_failing_since(const struct ccp_spool *s)
{
	return atomic_load_explicit(&((struct ccp_spool *)s)->scan_failing_since,
				    memory_order_relaxed);
}

/*
 * The names due to be looked at again, into names[] from n on (up to max):
 * those still files in new/ are reported, and wait for what their notes
 * meet; the others are dropped.  An entry reported by the last poll that
 * settled() did not re-arm was claimed, or met a live record: done.
 */
static unsigned due_rechecks(struct ccp_spool *s, struct spool_poller *sp, unsigned n,
			     unsigned max)
{
	uint64_t now = ccp_now_ns();
	for (unsigned k = 0; k < sp->nrechecks;) {
		struct recheck *r = &sp->rechecks[k];
		if (r->due_ns != RECHECK_REPORTED && (r->due_ns > now || n == max)) {
			k++;
			continue;
		}
		const char *c;
		if (r->due_ns != RECHECK_REPORTED && (c = candidate(s, sp, r->name, DT_UNKNOWN))) {
			strcpy(sp->names[n++], c);
			r->due_ns = RECHECK_REPORTED;
			k++;
			continue;
		}
		*r = sp->rechecks[--sp->nrechecks];
	}
	return n;
}

/* The names ack_one() found put back, into names[] from n on (up to max);
 * checked as inotify's are. */
static unsigned take_again(struct ccp_spool *s, struct spool_poller *sp, unsigned n,
			   unsigned max)
{
	pthread_mutex_lock(&s->again_mu);
	while (n < max && s->nagain > 0) {
		const char *c = candidate(s, sp, s->again[--s->nagain], DT_UNKNOWN);
		if (c)
			strcpy(sp->names[n++], c);
	}
	atomic_store_explicit(&s->again_pending, s->nagain > 0, memory_order_relaxed);
	pthread_mutex_unlock(&s->again_mu);
	return n;
}

static int spool_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct ccp_spool *s = ctx;
	struct spool_poller *sp = &s->pollers[poller];
	int finish = atomic_load_explicit(&s->finish, memory_order_relaxed);
	unsigned n = 0;
	const char *name;

	if (finish == 2 || (finish == 1 && sp->first_scan_done && sp->scan == NULL))
		return CCP_SOURCE_DONE;
	if (sp->names == NULL)
		sp->names = ccp_calloc(max, sizeof(*sp->names));

	if (sp->nrechecks && finish == 0)
		n = due_rechecks(s, sp, n, max);
	if (finish == 0 && atomic_load_explicit(&s->again_pending, memory_order_relaxed))
		n = take_again(s, sp, n, max);
	while (n < max && finish == 0 && (name = next_event(sp)) != NULL) {
		const char *c = candidate(s, sp, name, DT_UNKNOWN);
		if (c) {
			strcpy(sp->names[n], c);
			n++;
		}
	}
	if (sp->scan == NULL && ccp_now_ns() >= sp->next_scan)
		start_scan(s, sp);
	while (n < max && sp->scan) {
		errno = 0;
		struct dirent *de = readdir(sp->scan);
		if (de == NULL) {
			int e = errno;
			closedir(sp->scan);
			sp->scan = NULL;
			if (e != 0) {
				/* A read error is not the end of new/: the names
				 * past it were not seen, so the scan is not done. */
				scan_failed(s, sp, e);
				break;
			}
			if (atomic_load_explicit(&s->scan_failing_since, memory_order_relaxed) &&
			    atomic_exchange_explicit(&s->scan_failing_since, 0, memory_order_relaxed))
				ccp_log(CCP_LOG_INFO, "spool %s: rescans resumed", s->new_path);
			sp->first_scan_done = true;
			unmovable_turn(s, sp);
			/* Stagger the pollers' rescans across the interval. */
			sp->next_scan = ccp_now_ns() + s->cfg.rescan_interval_ns +
					s->cfg.rescan_interval_ns * poller / s->cfg.pollers / 2;
			if (sp->rescan_after) {
				sp->rescan_after = false;
				sp->next_scan = 0;
			}
			break;
		}
		ccp_counter_add(&sp->scanned, 1);
		const char *c = candidate(s, sp, de->d_name, de->d_type);
		if (c) {
			strcpy(sp->names[n], c);
			n++;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		notes[i].key = sp->names[i];
		notes[i].len = (uint32_t)strlen(sp->names[i]);
	}
	if (n == 0 && finish == 1 && sp->first_scan_done && sp->scan == NULL)
		return CCP_SOURCE_DONE;
	return (int)n;
}

static void spool_wait(void *ctx, unsigned poller, uint64_t deadline_ns)
{
	struct ccp_spool *s = ctx;
	struct spool_poller *sp = &s->pollers[poller];
	uint64_t now = ccp_now_ns();
	uint64_t until = sp->next_scan < deadline_ns ? sp->next_scan : deadline_ns;
	for (unsigned k = 0; k < sp->nrechecks; k++)
		if (sp->rechecks[k].due_ns < until)
			until = sp->rechecks[k].due_ns;
	if (sp->scan || until <= now)
		return;
	struct pollfd pfd = { .fd = sp->ifd, .events = POLLIN };
	uint64_t ms = (until - now + 999999) / 1000000;
	poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

/* Has the pollers look at new/NAME again (a running relay's; --once
 * leaves it to the next run's scan). */
static void look_again(struct ccp_spool *s, const struct ccp_msg *m)
{
	if (m->key_len > NAME_MAX)
		return;
	pthread_mutex_lock(&s->again_mu);
	if (s->again == NULL)
		s->again = ccp_calloc(SPOOL_AGAIN, sizeof(*s->again));
	if (s->nagain < SPOOL_AGAIN) { /* else the rescans find it */
		memcpy(s->again[s->nagain], m->key, m->key_len + 1);
		s->nagain++;
		atomic_store_explicit(&s->again_pending, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->again_mu);
}

/*
 * Whether new/NAME holds the octets a read hashed into T, read again in
 * full: 1 when it does, 0 when it holds others (or another file is there),
 * -1 with errno when it cannot be read.
 */
static int holds_what_was_read(const struct ccp_spool *s, const char *name,
			       const struct spool_stamp *t)
{
	int fd = openat(s->new_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct statx st;
	int same = -1;
	if (ccp_statx(fd, "", AT_EMPTY_PATH, &st) == 0) {
		same = 0;
		if (st.stx_ino == t->ino && st.stx_size == t->size) {
			/* One octet more than it should hold: one that grew since
			 * its statx is not taken for the same. */
			size_t size = (size_t)t->size;
			char *buf = ccp_malloc(size + 1);
			ssize_t n = ccp_read_full(fd, buf, size + 1);
			if (n < 0)
				same = -1;
			else
				same = (size_t)n == size && ccp_hash_bytes(buf, size) == t->sum;
			ccp_free(buf);
		}
	}
	int e = errno;
	close(fd);
	errno = e; /* the open's, the statx's or the read's, for -1 */
	return same;
}

/*
 * Before a delivered file leaves new/: is it still what was read?  A file
 * that changed after its read (a writer that broke the Maildir rule) holds
 * something the post office did not get, and the post office would skip
 * it as a duplicate key if it were relayed again.  So it goes to the
 * failed folder with NAME.reason, and an operator decides.  Returns true
 * when it did so.  (A change between this check and the unlink cannot be
 * seen; writers that deliver through tmp/ never make one.)
 */
static bool changed_after_read(struct ccp_spool *s, struct ccp_msg *m)
{
	const struct spool_stamp *read_st = ccp_msg_user(m);
	struct spool_stamp now;
	struct statx st;
	char what[160], line[400];
	if (m->user_size < sizeof(*read_st) || !read_st->set ||
	    ccp_statx(s->new_fd, m->key, AT_SYMLINK_NOFOLLOW, &st) != 0)
		return false;
	if (!S_ISREG(st.stx_mode)) {
		/* Put out of the way for an entry that is no message (a
		 * socket, a device, a folder, a link): what was delivered is
		 * gone, and the entry is the pollers' to quarantine, never the
		 * failed folder's. */
		look_again(s, m);
		atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
		return true;
	}
	stamp_of(&st, &now);
	enum stamp_change c = stamp_differs(read_st, &now, what, sizeof(what));
	if (c == STAMP_SAME)
		return false;
	bool uncompared = false;
	/* Only the ctime moved, which the stamps cannot settle (a Maildir
	 * writer's unlink() seen in the middle, stamp_differs()): the
	 * octets can.  A record settled by its marker (delivered by an
	 * earlier rescan or run, its file unable to leave new/) read no
	 * octets: it goes by the marker's rule, which names the file by
	 * inode, size, mtime and birth time and not by the ctime (an
	 * operator's `chattr -i` or chmod on the stuck file moves that), as
	 * the next rescan or restart would. */
	if (c == STAMP_CTIME) {
		if (!read_st->summed)
			return false;
		int same = holds_what_was_read(s, m->key, read_st);
		if (same > 0)
			return false;
		if (same == 0)
			snprintf(what, sizeof(what), "rewritten in place, its mtime put back "
				 "(size %llu)", (unsigned long long)read_st->size);
		else
			/* Unknown, not changed: the file goes where an operator
			 * looks, since removed it could hold what was never
			 * delivered, and the reason says which it is. */
			snprintf(what, sizeof(what), "its ctime moved, and it could not be read "
				 "again to compare its octets: %s", strerror(errno));
		uncompared = same < 0;
	}
	atomic_fetch_add_explicit(&s->changed_after, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
	/* The reason first, whole (a temporary name renamed into place), then
	 * the file: whoever finds the file in the failed folder (`ccpump
	 * queue --requeue`) finds why it is there. */
	int n = snprintf(line, sizeof(line), CCP_SPOOL_CHANGED_AFTER " (%s): the post office "
			 "holds the %llu bytes read before; %s\n", what,
			 (unsigned long long)read_st->size,
			 uncompared ? "whether this file still holds them is not known, and it was "
				      "not delivered again"
				    : "this version was not delivered");
	char rec[CCP_QUEUE_RECORD_NAME_MAX];
	ccp_queue_record_name(rec, m->key, ".reason");
	if (s->cfg.before_failed)
		s->cfg.before_failed(s->cfg.before_failed_arg, m->key);
	if (ccp_store_write(s->failed_fd, rec, line, (size_t)n, true) != 0) {
		/* Moved now, the file would be in the failed folder without
		 * why, and a requeue would hand its new text to a post office
		 * that skips it.  So it waits in new/, marked failed by the
		 * stamp it has now with its reason in the marker, which is
		 * written to the failed folder before the file is moved there
		 * (ack_one()).  Only if it cannot be marked either does it go
		 * without its reason: left unmarked, a rescan would relay it
		 * again. */
		int e = errno;
		bool again;
		*(struct spool_stamp *)ccp_msg_user(m) = now;
		if (keep_settled_why(s, m, true, line, &again)) {
			ccp_log(CCP_LOG_ERROR, "spool %s/new/%s changed after its delivery (%s), and "
				"its reason cannot be written to %s/%s: %s; it waits in new/, not "
				"relayed again, marked so in %s with its reason, and is moved once "
				"the reason can be written", s->dir, m->key, what, s->failed_dir, rec,
				strerror(e), marked_in(s, m->key));
			return true;
		}
		ccp_log(CCP_LOG_ERROR, "cannot write %s/%s: %s; the file goes without it",
			s->failed_dir, rec, strerror(e));
	}
	if (ccp_move_entry(s->new_fd, m->key, s->failed_fd, true) != 0) {
		/* Left in new/ as it is, the next rescan would relay it again:
		 * an import program would deliver the new version a second
		 * time, and the built-in post office would skip it as a
		 * duplicate and the file would go, never seen.  So it is marked
		 * failed, by the stamp it has now, as a message whose move to
		 * the failed folder failed is: later reads settle it as failed,
		 * and its ack moves it there, to its reason, once it can. */
		int e = errno;
		bool again;
		*(struct spool_stamp *)ccp_msg_user(m) = now;
		bool kept = keep_settled(s, m, true, &again);
		ccp_log(CCP_LOG_ERROR, "spool %s/new/%s changed after its delivery (%s) and cannot be "
			"moved to %s: %s; %s%s", s->dir, m->key, what, s->failed_dir, strerror(e),
			kept ? "it waits in new/, not relayed again, marked so in "
			     : "it cannot be marked either, and may be relayed again",
			kept ? marked_in(s, m->key) : "");
		if (!kept)
			unlinkat(s->failed_fd, rec, 0);
		return true;
	}
	ccp_log(CCP_LOG_WARN, "spool %s/new/%s %.*s: moved to %s", s->dir, m->key, n - 1, line,
		s->failed_dir);
	/* A delivered marker it had (its file could not be removed then)
	 * goes with it. */
	if (delivered_listed(s, m->key))
		delivered_forget(s, m->key);
	return true;
}

/* Whether DIRFD/NAME is a file that holds TEXT and nothing else. */
static bool record_holds(int dirfd, const char *name, const char *text)
{
	char buf[MARKER_MAX + 1];
	size_t len = strlen(text);
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct stat st;
	ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
				len <= MARKER_MAX
			    ? ccp_read_full(fd, buf, len)
			    : -1;
	close(fd);
	return n == (ssize_t)len && memcmp(buf, text, len) == 0;
}

/* A failed file about to be moved to the failed folder: the reason its
 * marker carries (keep_settled_why()), if any, is written there first.
 * False when it cannot be: the file then stays in new/, marked. */
static bool write_marker_reason(struct ccp_spool *s, struct ccp_msg *m)
{
	char reason[MARKER_MAX], rec[CCP_QUEUE_RECORD_NAME_MAX];
	char held[MARKER_MAX];
	if (!delivered_listed(s, m->key) ||
	    !(delivered_held(s, m->key, held)
		      ? ccp_queue_marker_text_reason(held, reason, sizeof(reason) - 1)
		      : ccp_queue_marker_reason(s->delivered_fd, m->key, reason, sizeof(reason) - 1)))
		return true;
	ccp_queue_record_name(rec, m->key, ".reason");
	strcat(reason, "\n");
	/* Written at an earlier try whose move then failed: not written
	 * again.  Only if it is this reason: another there is an older
	 * message's of the name, and the file would go under it. */
	if (record_holds(s->failed_fd, rec, reason))
		return true;
	if (s->cfg.before_failed)
		s->cfg.before_failed(s->cfg.before_failed_arg, m->key);
	if (ccp_store_write(s->failed_fd, rec, reason, strlen(reason), true) == 0)
		return true;
	/* Said once when it was marked; a rescan finds it again and again. */
	ccp_log(CCP_LOG_DEBUG, "spool %s/new/%s: its reason still cannot be written to %s/%s: %s; "
		"it waits in new/", s->dir, m->key, s->failed_dir, rec, strerror(errno));
	return false;
}

/* --keep: moves delivered new/NAME into cur/, beside an earlier kept copy
 * of the name rather than over it (a message requeued under its name and
 * delivered again): NAME.1, NAME.2 and so on, cut to fit. */
static int keep_in_cur(struct ccp_spool *s, const char *name)
{
	char alt[NAME_MAX + 1];
	if (ccp_rename_noreplace(s->new_fd, name, s->cur_fd, name) == 0)
		return 0;
	for (unsigned i = 1; errno == EEXIST && i <= SPOOL_BESIDE_MAX; i++) {
		name_beside(alt, name, i);
		if (ccp_rename_noreplace(s->new_fd, name, s->cur_fd, alt) == 0)
			return 0;
	}
	return -1;
}

static void ack_one(struct ccp_spool *s, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	int rc;
	const struct spool_stamp *read_st = ccp_msg_user(m);
	struct stat st;
	if (outcome == CCP_MSG_DELIVERED && m->user_size >= sizeof(*read_st) && !read_st->set) {
		/* Its last read found no file (vanished): nothing of new/NAME
		 * was delivered, and a file there now is another message, put
		 * back under the name since (`queue --requeue`): removing it
		 * would lose it.  Its own note may have been refused while
		 * this record was live, so the pollers look at it again. */
		if (fstatat(s->new_fd, m->key, &st, AT_SYMLINK_NOFOLLOW) == 0)
			look_again(s, m);
		atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
		return;
	}
	if (outcome != CCP_MSG_DELIVERED &&
	    fstatat(s->new_fd, m->key, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		/* The file was put out of the way since its read, for an entry
		 * that is no message (as in changed_after_read()): not the
		 * failed message, and the quarantine's, not the failed
		 * folder's. */
		look_again(s, m);
		atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
		return;
	}
	if (outcome == CCP_MSG_DELIVERED && changed_after_read(s, m))
		return;
	if (outcome != CCP_MSG_DELIVERED && !write_marker_reason(s, m)) {
		atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
		return;
	}
	if (outcome == CCP_MSG_DELIVERED)
		rc = s->cfg.keep ? keep_in_cur(s, m->key) : unlinkat(s->new_fd, m->key, 0);
	else
		rc = ccp_move_entry(s->new_fd, m->key, s->failed_fd, true);
	/* ENOENT: the file vanished under us (an operator removed it); the
	 * message is settled either way.  Unless the file is still there:
	 * then the folder it was to go to is gone (cur/ or the failed folder
	 * removed), and the file must not stay in new/ unmarked, to be
	 * imported again at the next rescan. */
	int e = rc != 0 ? errno : 0;
	struct stat left;
	if (e == ENOENT && fstatat(s->new_fd, m->key, &left, AT_SYMLINK_NOFOLLOW) != 0)
		e = 0;
	if (e != 0) {
		atomic_fetch_add_explicit(&s->ack_errors, 1, memory_order_relaxed);
		/* Settled, and still in new/: the next rescan would find it as
		 * new mail and import it again, or convert it and send its
		 * sender another report. */
		bool again = false, delivered = outcome == CCP_MSG_DELIVERED;
		bool kept = keep_settled(s, m, !delivered, &again);
		/* Marked by this record before its report was queued: the
		 * first failure, not a rescan finding it again. */
		if (m->user_size >= sizeof(*read_st) && read_st->marked)
			again = false;
		ccp_log(again ? CCP_LOG_DEBUG : CCP_LOG_ERROR, "spool %s/new/%s: cannot %s: %s%s%s",
			s->dir, m->key,
			delivered ? (s->cfg.keep ? "move to cur/" : "remove")
				  : "move to the failed folder",
			strerror(e),
			!kept ? "" : delivered ? "; delivered, marked so in "
					       : "; failed (its reason is there), marked so in ",
			kept ? marked_in(s, m->key) : "");
	} else if (delivered_listed(s, m->key)) {
		/* Gone at last: its marker goes too, once the file's leaving
		 * new/ is on disk.  With the store on another file system a
		 * power loss could keep the marker's removal and lose the
		 * file's, and the file would come back unmarked, to be imported
		 * (or reported) again.  Kept when the sync fails: the start-up
		 * removes a marker whose file is gone. */
		if (fsync(s->new_fd) == 0)
			delivered_forget(s, m->key);
		else
			ccp_log(CCP_LOG_WARN, "spool %s: cannot sync it after %s left: %s; its "
				"marker in %s stays until the next start", s->new_path, m->key,
				strerror(errno), s->delivered_dir);
	}
	atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
}

bool ccp_spool_stamp_unread(struct ccp_spool *s, struct ccp_msg *m)
{
	struct spool_stamp *t = ccp_msg_user(m);
	if (m->user_size < sizeof(*t))
		return false;
	return t->set || stamp_by_name(s, m->key, t);
}

bool ccp_spool_mark_failed(struct ccp_spool *s, struct ccp_msg *m)
{
	bool again;
	if (!keep_settled(s, m, true, &again))
		return false;
	((struct spool_stamp *)ccp_msg_user(m))->marked = 1;
	return true;
}

/* The time since T0 into settle_ns; returns it.  Relaxed: a sum read for
 * the stats, ordering nothing. */
static uint64_t settled_since(struct ccp_spool *s, uint64_t t0)
{
	uint64_t spent = ccp_now_ns() - t0;
	atomic_fetch_add_explicit(&s->settle_ns, spent, memory_order_relaxed);
	return spent;
}

static void spool_ack(void *ctx, unsigned dispatcher, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	uint64_t t0 = ccp_now_ns();
	ack_one(ctx, m, outcome);
	settled_since(ctx, t0);
}

/*
 * A batch's files leave new/ from several threads at once.  An unlink
 * waits on the disk when the file system gives freed blocks back to the
 * device at once (ext4 mounted with discard waits for each discard), so
 * one thread removing a thousand files spends most of its time asleep;
 * a few threads overlap those waits (30,000 files: 3.0 s from one thread,
 * 1.3 s from four, 0.8 s from sixteen on the test machine).  In the relay,
 * 24 workers beat 8 by about 5% in throughput and CPU per message
 * (docs/performance-history.md); starting them costs about half a
 * millisecond a batch.  The workers run from ccp_parallel_each().
 */
#define ACK_WORKERS 24       /* besides the dispatcher itself */
#define ACK_PER_WORKER 32    /* files per thread, at least */

struct ack_job {
	struct ccp_spool *s;
	struct ccp_msg *const *msgs;
	const enum ccp_msg_state *outcomes;
};

static void ack_index(void *ctx, size_t i)
{
	struct ack_job *j = ctx;
	ack_one(j->s, j->msgs[i], j->outcomes[i]);
}

static void spool_ack_burst(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs,
			    const enum ccp_msg_state *outcomes, unsigned n)
{
	struct ack_job j = { .s = ctx, .msgs = msgs, .outcomes = outcomes };
	uint64_t t0 = ccp_now_ns();
	ccp_parallel_each(n, ACK_PER_WORKER, ACK_WORKERS, ack_index, &j);
	uint64_t spent = settled_since(j.s, t0);
	ccp_log(CCP_LOG_DEBUG, "spool %s: %u settled files left new/ in %.0f ms", j.s->dir, n,
		(double)spent / 1e6);
}

/*
 * A note of the last poll met a settled record.  A name no longer in new/
 * was a note made just before its ack: nothing to do.  One still there is
 * either being acknowledged now or was put back (`queue --requeue`), a new
 * message that must wait until the old record is reclaimed: look again
 * (due_rechecks()).  Inside the poller's read-side section; it does not
 * block (an fstatat() of a local directory).
 */
static void spool_settled(void *ctx, unsigned poller, const char *key, uint32_t len)
{
	struct ccp_spool *s = ctx;
	struct spool_poller *sp = &s->pollers[poller];
	struct stat st;
	if (len > NAME_MAX || fstatat(s->new_fd, key, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	struct recheck *r = NULL;
	for (unsigned k = 0; k < sp->nrechecks && r == NULL; k++)
		if (strcmp(sp->rechecks[k].name, key) == 0)
			r = &sp->rechecks[k];
	if (r != NULL) {
		/* Reported again by due_rechecks(), and the old record is still
		 * there: later, or at last to the rescans. */
		if (++r->tries == RECHECK_TRIES) {
			*r = sp->rechecks[--sp->nrechecks];
			return;
		}
	} else {
		if (sp->rechecks == NULL)
			sp->rechecks = ccp_calloc(SPOOL_RECHECKS, sizeof(*sp->rechecks));
		if (sp->nrechecks == SPOOL_RECHECKS)
			return; /* the rescans find it */
		r = &sp->rechecks[sp->nrechecks++];
		r->tries = 0;
		memcpy(r->name, key, len);
		r->name[len] = '\0';
	}
	r->due_ns = ccp_now_ns() + (RECHECK_FIRST_NS << r->tries);
}

static const struct ccp_source_ops spool_ops = {
	.wait = spool_wait,
	.poll = spool_poll,
	.init_msg = NULL,
	.ack = spool_ack,
	.ack_burst = spool_ack_burst,
	.settled = spool_settled,
};

const struct ccp_source_ops *ccp_spool_source(void)
{
	return &spool_ops;
}

void ccp_spool_stats(const struct ccp_spool *s, struct ccp_spool_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < s->cfg.pollers; i++) {
		struct spool_poller *sp = &s->pollers[i];
		out->inotify_events += ccp_counter_read(&sp->inotify_events);
		out->scanned += ccp_counter_read(&sp->scanned);
		out->vanished += ccp_counter_read(&sp->vanished);
		out->quarantined += ccp_counter_read(&sp->quarantined);
	}
	out->acked = atomic_load_explicit(&((struct ccp_spool *)s)->acked, memory_order_relaxed);
	struct ccp_spool *w = (struct ccp_spool *)s;
	out->ack_errors = atomic_load_explicit(&w->ack_errors, memory_order_relaxed);
	out->changed = atomic_load_explicit(&w->changed, memory_order_relaxed);
	out->changed_after = atomic_load_explicit(&w->changed_after, memory_order_relaxed);
	out->marked = atomic_load_explicit(&w->ndelivered, memory_order_relaxed);
	out->settle_ns = atomic_load_explicit(&w->settle_ns, memory_order_relaxed);
}

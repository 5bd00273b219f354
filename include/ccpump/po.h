/*
 * po.h: the stand-in cc:Mail post office and its IMPORT.
 *
 * Nobody can run Lotus's IMPORT.EXE today, so ccpump ships the destination:
 * a directory that behaves as a post office, and an import that answers with
 * IMPORT's exit codes (KB Q181186, Q168670, Q166045, Q179072, Q180641):
 *
 *   0  every message imported          CCP_PO_OK
 *   1  post office not accessible      CCP_PO_NOT_ACCESSIBLE (also: input unreadable)
 *   3  not a post office (misconfigured) CCP_PO_MISCONFIGURED
 *   4  locked by another import        CCP_PO_LOCKED
 *   5  undeliverable messages          CCP_PO_UNDELIVERABLE (written to the .und file)
 *
 * Layout of DIR (docs/ccmail-format.md §7):
 *   po.conf              "ccpump-po 2" and settings; its absence means "not a PO"
 *   users                the user directory (only when made with one)
 *   store/NNNNNNNN.msgs  the message store: each imported message once,
 *                        appended; a new file after 64 MiB
 *   mailboxes/NAME.mbx   one append-only index per recipient: a line per
 *                        message, naming its store file, offset and length
 *   delivery.log         one line per delivery (D), skipped duplicate (S) and
 *                        undeliverable message or recipient (U): the audit trail
 *   po.lock              flock(2) target: one import at a time
 *   import.journal       present only during (or after a crash in) an import
 *
 * Every import is all or nothing: the whole input is parsed and checked
 * first; then a journal records the old length of every file it will touch;
 * then the store and the mailboxes are appended and synced; then the log lines are appended
 * and synced (the commit point); then the journal goes.  After a crash the
 * next import (or stats) finds the journal: when the log holds the commit, it
 * only removes the journal; otherwise it cuts every file back to its old
 * length (a journal with a line an import does not write is damaged: nothing
 * is cut back, and every import answers 3); it also cuts a last log line
 * without its line end.  A (message key, recipient) pair among the last
 * dedup_window the log holds (below) is not delivered again: it is counted
 * as a skipped duplicate.  Older pairs handed in again are delivered again,
 * and `po stats`, which reads the whole log, counts them as duplicates.
 *
 * Threads: a struct ccp_po may be shared by any number of threads; imports
 * through it run one at a time (a mutex, then the flocks), and it keeps its
 * index of delivered pairs in memory between imports, catching up with lines
 * other processes appended; it reads the log only under the lock, after
 * recovery.  Imports from another process (or another handle) meanwhile
 * answer 4, as IMPORT did when the post office was locked.
 */
#ifndef CCPUMP_PO_H
#define CCPUMP_PO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"

enum ccp_po_code {
	CCP_PO_OK = 0,
	CCP_PO_NOT_ACCESSIBLE = 1,
	CCP_PO_MISCONFIGURED = 3,
	CCP_PO_LOCKED = 4,
	CCP_PO_UNDELIVERABLE = 5,
};

/* Where an injected crash stops an import, as if the process had died there;
 * it answers 1 and leaves its journal for the next import (or stats). */
enum ccp_po_crash {
	CCP_PO_CRASH_NONE = 0,
	CCP_PO_CRASH_MAILBOXES = 1, /* store and mailboxes appended, no commit: undone */
	CCP_PO_CRASH_JOURNAL = 2,   /* journal synced, nothing appended: undone */
	CCP_PO_CRASH_STORE = 3,     /* store appended, mailboxes not: undone */
	CCP_PO_CRASH_COMMITTED = 4, /* log written (committed), journal left: kept */
};

/* Fault injection for tests of the caller: with probability RATE an import
 * answers CODE (1 or 4) without touching anything; every import takes
 * DELAY_MS longer (while holding the lock); with CRASH every import stops at
 * that step (enum ccp_po_crash) and answers 1. */
struct ccp_po_fault {
	double rate;
	int code;
	unsigned delay_ms;
	uint64_t seed;
	int crash; /* enum ccp_po_crash */
};

/* Parses "rate=0.1,code=4,delay_ms=50,seed=7,crash=0..4" (any subset, any order).
 * Returns 0, or -1 with a reason in ERR.  Thread-safe. */
CCP_EXPORT int ccp_po_fault_parse(const char *spec, struct ccp_po_fault *f, char *err,
				  size_t errcap);

struct ccp_po_opts {
	bool sync;          /* fsync files and directories (true) */
	bool env_fault;     /* read CCPUMP_PO_FAULT at open when no fault is
			       set in FAULT (true) */
	struct ccp_po_fault fault;
	/* Tests only (NULL normally): called with the post office locked, as
	 * an import begins, so that a test can hold the lock as long as it
	 * needs and no longer, instead of guessing a delay. */
	void (*locked_hook)(void *arg);
	void *locked_hook_arg;
};

CCP_EXPORT void ccp_po_opts_default(struct ccp_po_opts *o);

struct ccp_po_init_opts {
	const char *users;   /* user directory file to copy in, or NULL: accept all */
	size_t addr_buffer;  /* Import's address buffer: 4096 (default) or 163840 */
	bool import8;        /* reject [ ] in Subject as Import 8.3 did (true) */
	size_t dedup_window; /* delivered pairs remembered at least (CCP_PO_DEDUP_WINDOW) */
	long long log_segment; /* rotate delivery.log past this size (CCP_PO_LOG_SEGMENT) */
};

/* delivery.log is the commit point of every import, so it cannot be cut by
 * logrotate.  An import that finds it at log_segment octets or more first
 * renames it to delivery.log.NNNNNNNN (numbered from 1, oldest first) and
 * starts a new one; `po stats` reads every segment.  The index is rebuilt
 * from the last dedup_window delivered pairs, reading back through as many
 * segments as hold them: a segment may be removed (or compressed) only once
 * at least dedup_window D lines follow it, or the pairs it held are
 * forgotten and delivered again if handed in again.  At the defaults (256
 * MiB, about 3 million pairs; a window of 131,072) that means keeping the
 * newest; a small log_segment or a large window needs more kept.  A rebuild that
 * finds a segment missing within the window logs a warning naming it. */
#define CCP_PO_LOG_SEGMENT (256ll << 20)
#define CCP_PO_LOG_SEGMENT_MIN 4096ll

/* The index of delivered (key, recipient) pairs keeps at least the last
 * dedup_window of them and at most twice that, in 32 to 43 octets a pair
 * once the window is full, less before (the tables grow with the history,
 * fpset.h): 131,072 pairs take 8 MiB.  An import handed in
 * again skips the pairs still remembered; ccpump's relay hands in again only
 * what was in flight at a crash (dispatchers x batch messages). */
#define CCP_PO_DEDUP_WINDOW 131072u
#define CCP_PO_DEDUP_WINDOW_MIN 1024u
#define CCP_PO_DEDUP_WINDOW_MAX (1u << 28)

CCP_EXPORT void ccp_po_init_opts_default(struct ccp_po_init_opts *o);

/* Makes DIR a post office (creating DIR if needed).  An existing post office
 * is refused.  Returns 0, or 1/3 with a reason in ERR.  Thread-safe; not
 * meant to race with another ccp_po_init() of the same DIR. */
CCP_EXPORT int ccp_po_init(const char *dir, const struct ccp_po_init_opts *o, char *err,
			   size_t errcap);

struct ccp_po;

/* Opens the post office in DIR and loads its index of deliveries, as an
 * import does: under po.lock, after finishing an interrupted import.  When
 * another import holds the lock (opening never waits), or the interrupted
 * import cannot be finished now, the first import through the handle loads
 * the index instead and answers for what stood in the way.  Returns 0 with
 * *out set, or CCP_PO_NOT_ACCESSIBLE / CCP_PO_MISCONFIGURED with a reason
 * in ERR.  Thread-safe. */
CCP_EXPORT int ccp_po_open(const char *dir, const struct ccp_po_opts *o, struct ccp_po **out,
			   char *err, size_t errcap);
/* Closes it.  No import may be running on it, or start: the caller ends
 * its users first. */
CCP_EXPORT void ccp_po_close(struct ccp_po *po);
/* Whether the post office's directory, as opened, is still the one at its
 * path (not moved aside, removed or replaced since).  Thread-safe. */
CCP_EXPORT bool ccp_po_still_there(const struct ccp_po *po);
/* What the post office's imports take (po.conf, as po init set it): its
 * address buffer in octets, and whether it refuses '[' and ']' in a
 * Subject as Import 8.3 did.  The relay converts for them. */
CCP_EXPORT void ccp_po_import_limits(const struct ccp_po *po, size_t *addr_buffer, bool *import8);
/* The index of delivered pairs now. */
struct ccp_po_index_usage {
	size_t window; /* po.conf's dedup_window: pairs remembered at least */
	size_t pairs;  /* pairs remembered now (at most twice the window) */
	size_t bytes;  /* octets its tables take now: they grow with the history, up
			* to room for the window in each of two generations */
};
CCP_EXPORT void ccp_po_index_usage(struct ccp_po *po, struct ccp_po_index_usage *u);

struct ccp_po_result {
	size_t messages;      /* messages in the input (good and bad) */
	size_t delivered;     /* (message, recipient) deliveries made */
	size_t skipped;       /* pairs already delivered: skipped duplicates */
	size_t undeliverable; /* messages or recipients that went to the .und */
	char reason[512];     /* the first problem, one line naming the input */
	/* The errno behind an import that failed writing the post office (or
	 * finishing an earlier import, or reading its log first), 0 otherwise:
	 * ENOSPC, EDQUOT, EROFS or EIO say a fault of the machine, not of the
	 * messages. */
	int sys_errno;
};

/*
 * Imports the .ccm text DATA (named NAME in messages).  Undeliverable
 * messages are written to UND_PATH (appended; NULL: not written, the
 * delivery log still records them).  Returns a ccp_po_code; RES is filled in
 * every case.  Thread-safe (imports through one handle are serialised).
 */
CCP_EXPORT int ccp_po_import_buffer(struct ccp_po *po, const char *data, size_t len,
				    const char *name, const char *und_path,
				    struct ccp_po_result *res);
/* What became of one message of a committed import. */
enum ccp_po_outcome {
	CCP_PO_MSG_DELIVERED,     /* delivered to every recipient not delivered before */
	CCP_PO_MSG_DUPLICATE,     /* every (key, recipient) pair was delivered before */
	CCP_PO_MSG_PARTIAL,       /* delivered, but some recipients are unknown (.und) */
	CCP_PO_MSG_UNDELIVERABLE, /* not delivered at all (.und); REASON says why */
};

/* Called once per message, in input order, with its key (X-Spool-Id, or
 * "fnv:..." when it has none; not NUL-terminated) and, for PARTIAL and
 * UNDELIVERABLE, a one-line reason ("" otherwise). */
typedef void (*ccp_po_report_fn)(void *arg, const char *key, size_t key_len,
				 enum ccp_po_outcome outcome, const char *reason);

/*
 * ccp_po_import_buffer() that also reports each message's outcome to FN,
 * so that a relay can settle each spool entry of a batch.  FN runs after the
 * import has released the post office (it may import again) and only when
 * the import committed (return 0 or 5); on 1, 3 or 4 nothing was imported
 * and FN is not called.  Thread-safe as ccp_po_import_buffer().
 */
CCP_EXPORT int ccp_po_import_report(struct ccp_po *po, const char *data, size_t len,
				    const char *name, const char *und_path,
				    struct ccp_po_result *res, ccp_po_report_fn fn, void *arg);

/*
 * ccp_po_import_report() of DATA, which holds exactly the octets of FILE
 * in the directory DIRFD, as ccp_ccm_write() wrote them (a relay's batch,
 * synced when the post office syncs), and which nobody changes afterwards
 * (the caller may remove it).  The post office keeps the file itself as a
 * store file, by a hard link, instead of copying its messages (a copy of
 * DATA where no link can be made).  A message whose sizes did not fit makes
 * it copy instead, as ccp_po_import_report().  Thread-safe likewise.
 */
CCP_EXPORT int ccp_po_import_adopt(struct ccp_po *po, const char *data, size_t len, int dirfd,
				   const char *file, const char *name, const char *und_path,
				   struct ccp_po_result *res, ccp_po_report_fn fn, void *arg);

/* Imports the file PATH; the .und file goes beside it (Msg1A2B.ccm ->
 * Msg1A2B.und).  An unreadable input answers 1. */
CCP_EXPORT int ccp_po_import_file(struct ccp_po *po, const char *path, struct ccp_po_result *res);
/* The same, reporting each message's outcome as ccp_po_import_report(). */
CCP_EXPORT int ccp_po_import_file_report(struct ccp_po *po, const char *path,
					 struct ccp_po_result *res, ccp_po_report_fn fn, void *arg);

struct ccp_po_stats {
	uint64_t mailboxes;            /* files in mailboxes/ */
	uint64_t delivered;            /* D lines: messages delivered to mailboxes */
	uint64_t distinct_keys;        /* message keys among them */
	uint64_t duplicate_deliveries; /* D lines repeating a (key, recipient): must be 0 */
	uint64_t skipped_duplicates;   /* S lines */
	uint64_t undeliverable;        /* U lines */
	uint64_t dedup_window;         /* po.conf: pairs the import index remembers at least */
	uint64_t log_segments;         /* rotated delivery.log.NNNNNNNN files read too */
	uint64_t spill_runs;           /* sorted runs written to the temporary directory */
};

/* How stats counts distinct pairs and keys (fpcount.h): within `memory`
 * octets of fingerprints, pairs and keys together; past it, in sorted runs
 * in `tmp_dir` (NULL: $TMPDIR, else /tmp), unlinked from the start. */
struct ccp_po_stats_opts {
	size_t memory;
	const char *tmp_dir;
};
#define CCP_PO_STATS_MEMORY ((size_t)128 << 20)

/* Counts from delivery.log, after finishing any interrupted import.
 * Waits (blocking flock) for a running import.  Returns 0, or 1/3 with a
 * reason in ERR (1 also when a run cannot be written to the temporary
 * directory).  OPTS may be NULL: CCP_PO_STATS_MEMORY and the default
 * directory.  Thread-safe; needs no open handle. */
CCP_EXPORT int ccp_po_stats_with(const char *dir, const struct ccp_po_stats_opts *opts,
				 struct ccp_po_stats *st, char *err, size_t errcap);
/* ccp_po_stats_with() with OPTS = NULL. */
CCP_EXPORT int ccp_po_stats(const char *dir, struct ccp_po_stats *st, char *err, size_t errcap);

/*
 * Reads the mailbox file NAME (as ccp_po_mailbox_name() makes it, or as listed
 * in DIR/mailboxes/) and appends its messages, resolved from the store, to
 * OUT: the mailbox as one .ccm text, in delivery order.  Finishes any
 * interrupted import first and waits (blocking flock) for a running one.
 * Returns 0; 1 when the mailbox or a store file cannot be read (ENOENT: no
 * such mailbox); 3 when DIR is not a post office or a reference is damaged;
 * a reason in ERR.  Thread-safe; needs no open handle.
 */
struct ccp_ccm_buf;
CCP_EXPORT int ccp_po_mailbox_read(const char *dir, const char *name, struct ccp_ccm_buf *out,
				   char *err, size_t errcap);

/* The mailbox file name (no directory, with ".mbx") for a recipient address
 * as it appears in a To/Cc/Bcc line: case folded, spaces collapsed, a space
 * written '_', every other octet outside [a-z0-9.,@+-] written %XX (a leading
 * '.' too); over 200 octets, the first 180 and '~' and a hash of the whole.
 * Never empty, never starts with '.', never holds '/'; at most 204 octets
 * with ".mbx" (CAP must exceed that).  Thread-safe.  Returns the length. */
CCP_EXPORT size_t ccp_po_mailbox_name(const char *addr, size_t len, char *out, size_t cap);

#endif /* CCPUMP_PO_H */

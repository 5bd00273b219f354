/*
 * relay.c: spool -> pump -> convert -> MsgXXXX.ccm -> import
 * (include/ccpump/relay.h).
 *
 * A dispatcher's batch: read and convert each claimed spool file; write all
 * that converted into one .ccm in Submit/, sync it, rename it into Import/
 * (sync the folder), and import it.  The import's answer settles each
 * message: 0 and 5 committed (every message reports delivered, duplicate,
 * partial or undeliverable); 1, 3 and 4 imported nothing, and the batch's
 * messages are retried with backoff, each .ccm removed, never re-imported
 * as such (the loop of KB Q223772 cannot happen: a retry converts afresh).
 */
#define _GNU_SOURCE
#include "ccpump/relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <glib.h> /* g_utf8_validate() */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/ccm.h"
#include "ccpump/clock.h"
#include "ccpump/fdio.h"
#include "ccpump/fpset.h"
#include "ccpump/log.h"
#include "ccpump/codepage.h"
#include "ccpump/po.h"
#include "ccpump/queue.h"
#include "ccpump/spool.h"
#include "relay/bounce.h"
#include "relay/bouncer.h"
#include "relay/fsutil.h"
#include "relay/gate.h"
#include "relay/runcmd.h"
#include "relay/und.h"
#include "relay/relaystats.h"

/* The relay warns at start when its batches in flight, at this many
 * recipients a message, could outgrow the post office's dedup window. */
#define RELAY_RCPT_PER_MSG 16u

static _Atomic int relay_stop;
/* Raised by ccp_relay_request_flush(); the main loop acts on each change.
 * Relaxed, as relay_stop: a request, no data hangs on it (a lock-free
 * atomic, so safe in a signal handler). */
static _Atomic unsigned relay_flush;
/* Raised by ccp_relay_request_reload(), as relay_flush. */
static _Atomic unsigned relay_reload;

void ccp_relay_request_stop(void)
{
	atomic_store_explicit(&relay_stop, 1, memory_order_relaxed);
}

/* Sleeps in naps of SLICE ns until DUE (ccp_now_ns()), or less once the
 * relay is asked to stop: true when it was. */
static bool nap_until(uint64_t due, uint64_t slice)
{
	while (!atomic_load_explicit(&relay_stop, memory_order_relaxed) && ccp_now_ns() < due)
		ccp_sleep_ns(slice);
	return atomic_load_explicit(&relay_stop, memory_order_relaxed);
}

void ccp_relay_request_flush(void)
{
	atomic_fetch_add_explicit(&relay_flush, 1, memory_order_relaxed);
}

void ccp_relay_request_reload(void)
{
	atomic_fetch_add_explicit(&relay_reload, 1, memory_order_relaxed);
}

void ccp_relay_config_default(struct ccp_relay_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	ccp_pump_config_default(&cfg->pump);
	cfg->pump.pollers = 2;
	cfg->pump.dispatchers = 2;
	cfg->pump.batch = 1024;
	cfg->pump.ring_size = 8192;
	cfg->pump.retry_min_ns = 1000000000ull;     /* 1 s */
	cfg->pump.retry_max_ns = 600000000000ull;   /* 10 min */
	cfg->pump.max_attempts = 0;
	cfg->pump.max_age_ns = 5ull * 86400 * 1000000000ull; /* 5 days, as MTAs do */
	ccp_convert_opts_default(&cfg->convert);
	cfg->rescan_interval_ns = 15000000000ull;   /* the connector polled every 15 s */
	cfg->stats_interval_ns = 10000000000ull;
	cfg->min_import_interval_ns = 0;
	cfg->max_message_bytes = 64ull << 20;
	cfg->import_timeout_ns = 600000000000ull; /* 10 min */
	cfg->batch_bytes = 64ull << 20;
	cfg->sync = true;
}

void ccp_relay_profile_ccmc(struct ccp_relay_config *cfg)
{
	cfg->pump.batch = 5;
	cfg->pump.dispatchers = 1;
	cfg->min_import_interval_ns = 15000000000ull;
}

struct relay;

/* The address map of the --map files as last read (relay_map_read()).  A
 * dispatcher's converter points into it, so each dispatcher holds a
 * reference, and the relay one to the map in use: a reload frees the map
 * it replaces once the last batch converting with it is over. */
struct relay_map {
	struct ccp_convert_map *map;
	char *site;    /* the files' site line, or NULL */
	unsigned refs; /* under relay.map_mu */
};

struct disp {
	struct relay *r;
	unsigned id;
	struct ccp_convert *conv;
	struct ccp_ccm_buf reason_u8; /* po_reason_utf8()'s */
	/* The map conv converts with (NULL without --map files), and the
	 * relay's map_gen it was taken at: a reload makes the next batch take
	 * the new one (disp_converter()). */
	struct relay_map *map;
	uint64_t map_gen;
	struct ccp_ccm_buf ccm; /* DIRECT_ALIGN-aligned, for write_batch_direct() */
	char *in;
	size_t incap;
	uint64_t seq;
	uint64_t last_import_ns;
	/* the batch being settled */
	struct ccp_msg *const *msgs;
	enum ccp_verdict *verdicts;
	unsigned *included, nincluded, cursor;
	/* Deferred without import, as changed while read (1), still open
	 * for writing (2), or postponed by a failed read (3, its reason at
	 * read_why[read_at[i]]); postponed because the store could not take
	 * its reason or report (4, postponed_by_store(): which file, and why,
	 * at read_why[read_at[i]]); else 0. */
	uint8_t *changed;
	uint32_t *read_at;
	struct ccp_ccm_buf read_why; /* changed 3 and 4: the reasons, each NUL-ended */
	char last_read_why[600];     /* read_message()'s, for the caller */
	/* What stopped the batch that is not the messages' fault (the store
	 * cannot be written, the post office's disk is full): "" if nothing. */
	char outage[600];
	/* for the batch's log line */
	char name[64];       /* its .ccm, "" when none was written */
	unsigned dups, vanished;
	/* Settled without an import, found again by a rescan: by their
	 * Delivered/ markers (files that could not leave new/), or kept in
	 * new/ after their retries ended (withhold()). */
	unsigned marked;
	/* Reports written without an import, on messages delivered in part
	 * before (partial()): the store takes what it could not. */
	unsigned reported;
	uint64_t t_start, t_converted, t_written, t_imported;
} CCP_ALIGNED(CCP_CACHE_GUARD);

/* Messages left in the spool for the store's failure, by their keys'
 * fingerprints: a map (kept_get(), kept_put(), kept_forget()) whose every
 * value begins with its spool file's inode (another file under the name
 * is another message), under relay.kept_mu, and its count n (relaxed, as
 * the relay's flags: it only spares new records and batches the lock
 * while the map is empty; the map under the lock is what they go by).  A
 * map, not a list: every new record, and every message a dispatcher
 * takes, looks its key up, and a long outage of the store's disk can
 * leave thousands. */
struct kept {
	struct ccp_fpmap map;
	_Atomic size_t n;
};

struct withheld {     /* the value of the key's fingerprint in relay.withheld */
	uint64_t ino;        /* its spool file's inode: another file is another message */
	uint32_t attempts;   /* made in all */
	int64_t first_s;     /* wall-clock time of the first */
	char last[200];      /* the reason its last retry was deferred for */
};

/* The value of the key's fingerprint in relay.unreported and
 * relay.unfailed. */
struct held_reason {
	uint64_t ino;        /* as struct withheld's */
	struct ccp_spool_stamp read; /* the read that was imported */
	/* The recipients it did not reach (partial()), or why the import
	 * found it undeliverable (undeliverable()). */
	char reason[600];
};

struct relay {
	const struct ccp_relay_config *cfg;
	/* cfg->convert, with the post office's limits when it is built in. */
	struct ccp_convert_opts convert;
	struct ccp_spool *spool;
	struct ccp_po *po;
	char *submit, *import, *bad, *deferred;
	char *partial; /* STORE/Partial: the reports on messages delivered in part */
	int submit_fd, import_fd, bad_fd, deferred_fd, partial_fd;
	/* Keys whose Deferred/ marker an earlier run left (fingerprints; read
	 * only after start, so pollers share it without a lock). */
	struct ccp_fpset restore;
	struct disp *disp;
	struct ccp_gate gate; /* deliveries paused while we cannot deliver (gate.h) */
	_Atomic int resumed;  /* the gate reopened: retry what it postponed */
	/* Messages whose retries ended while Bad could not take their reason
	 * (end_retries()): their attempts and age, for the record that claims
	 * them again (relay_src_init_msg()), so that they end the same way.
	 * And messages delivered in part whose reports Partial could not take
	 * (partial()): the recipients they missed, for the try that writes
	 * the report without importing them again (deliver_batch()). */
	pthread_mutex_t kept_mu;
	struct kept withheld;   /* struct withheld each */
	struct kept unreported; /* struct held_reason each */
	/* And messages an import found undeliverable whose reasons Bad could
	 * not take (undeliverable()): tried again, they go to Bad from here,
	 * not through a second import, which could deliver again to the
	 * recipients an import program reached before listing them. */
	struct kept unfailed;   /* struct held_reason each */
	/* And messages refused (a conversion's or a read's verdict, not an
	 * import's) whose reasons Bad could not take (bad_or_postpone()):
	 * tried again, they are read and refused again, but should --max-age
	 * end them first, their reason is the refusal, not the store's
	 * failure that postponed them (end_retries()). */
	struct kept refused;    /* struct held_reason each */
	/* The --map files' map (struct relay_map), and a count of the maps
	 * read, which the dispatchers compare theirs with before each batch
	 * (acquire; the release is relay_map_publish()'s, after the map is
	 * in place). */
	pthread_mutex_t map_mu;
	struct relay_map *map;
	_Atomic uint64_t map_gen;
	char bounce_from[320]; /* the reports' From address (bounce.h) */
	struct ccp_bouncer *bouncer; /* --bounce-cmd: sends the reports (bouncer.h) */
	char *bounce;                /* STORE/Bounce: the reports waiting to be sent */
	int bounce_fd;
	_Atomic uint64_t imports, import_failures, batches, duplicates, bad_count,
		partial_count, vanished;
	/* Files delivered before that could not leave new/, settled again by
	 * their Delivered/ markers at each rescan: DELIVERED verdicts that are
	 * no delivery (delivered_now()). */
	_Atomic uint64_t resettled;
	/* Deferral markers not written, and when that was last logged
	 * (log_unwritten_markers(); relaxed: counts for a log line). */
	_Atomic uint64_t markers_unwritten, markers_logged_ns;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- the address map (--map) ------------------------------------------- */

static void relay_map_free(struct relay_map *m)
{
	if (!m)
		return;
	ccp_convert_map_free(m->map);
	ccp_free(m->site);
	ccp_free(m);
}

/* The --map files read in order into a new map (one reference, the
 * caller's), or NULL with the first file's problem in ERR. */
static struct relay_map *relay_map_read(const struct ccp_relay_config *cfg, char *err,
					size_t errlen)
{
	struct relay_map *m = ccp_calloc(1, sizeof(*m));
	m->map = ccp_convert_map_new();
	m->refs = 1;
	for (size_t i = 0; i < cfg->nmap_files; i++)
		if (ccp_convert_map_load(m->map, cfg->map_files[i], &m->site, err, errlen) != 0) {
			relay_map_free(m);
			return NULL;
		}
	return m;
}

/* Drops a reference to M (NULL: none). */
static void relay_map_put(struct relay *r, struct relay_map *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&r->map_mu);
	bool last = --m->refs == 0;
	pthread_mutex_unlock(&r->map_mu);
	if (last)
		relay_map_free(m);
}

/* M, with the reference the caller had, becomes the map in use; the map
 * it replaces goes once no dispatcher converts with it. */
static void relay_map_publish(struct relay *r, struct relay_map *m)
{
	pthread_mutex_lock(&r->map_mu);
	struct relay_map *old = r->map;
	r->map = m;
	/* R: pairs with the acquire in disp_converter(). */
	atomic_fetch_add_explicit(&r->map_gen, 1, memory_order_release);
	pthread_mutex_unlock(&r->map_mu);
	relay_map_put(r, old);
}

/* ccp_relay_request_reload(): the --map files read again; the batches
 * begun after convert with what they say.  A file that cannot be read, or
 * has a line that is no rule, leaves the map in use as it was: half a map
 * would send mail for the users it lost to the wrong place. */
static void relay_reload_now(struct relay *r)
{
	const struct ccp_relay_config *cfg = r->cfg;
	if (cfg->nmap_files == 0) {
		ccp_log(CCP_LOG_INFO, "relay: reload: no --map file to read again");
		return;
	}
	char err[600];
	struct relay_map *m = relay_map_read(cfg, err, sizeof(err));
	if (m == NULL) {
		ccp_log(CCP_LOG_ERROR, "relay: reload: %s: the map in use stays", err);
		return;
	}
	size_t natives = ccp_convert_map_natives(m->map), users = ccp_convert_map_users(m->map);
	relay_map_publish(r, m);
	ccp_log(CCP_LOG_INFO, "relay: reload: %zu --map files read again: %zu native domains, %zu "
		"users; batches begun from now on use them", cfg->nmap_files, natives, users);
}

/* Makes D's converter, or makes it again with the map in use when a
 * reload has replaced the one it has.  False, errno set, when it cannot
 * be made (out of memory or descriptors: iconv); D's old one is kept, to
 * be freed, and made again at the next batch. */
static bool disp_converter(struct relay *r, struct disp *d)
{
	/* A: pairs with the release in relay_map_publish(). */
	if (d->conv && d->map_gen == atomic_load_explicit(&r->map_gen, memory_order_acquire))
		return true;
	struct ccp_convert_opts o = r->convert;
	struct relay_map *m = NULL;
	uint64_t gen = 0;
	if (r->cfg->nmap_files) {
		pthread_mutex_lock(&r->map_mu);
		m = r->map;
		m->refs++;
		gen = atomic_load_explicit(&r->map_gen, memory_order_relaxed);
		pthread_mutex_unlock(&r->map_mu);
		o.map = m->map;
		if (m->site && !r->cfg->site_fixed)
			o.site = m->site; /* --site wins over a site line */
	}
	struct ccp_convert *c = ccp_convert_new(&o);
	if (c == NULL) {
		relay_map_put(r, m);
		return false;
	}
	ccp_convert_free(d->conv);
	relay_map_put(r, d->map);
	d->conv = c;
	d->map = m;
	d->map_gen = gen;
	return true;
}

/* ---- messages left in the spool (struct kept) -------------------------- */

/* Removes m's entry from K, if any.  Under kept_mu. */
static void kept_drop(struct kept *k, const struct ccp_msg *m)
{
	ccp_fpmap_del(&k->map, ccp_fp_of(m->key, m->key_len));
	atomic_store_explicit(&k->n, ccp_fpmap_count(&k->map), memory_order_relaxed);
}

/* m's entry in K becomes VALUE (of K's value size, beginning with the
 * inode). */
static void kept_put(struct relay *r, struct kept *k, const struct ccp_msg *m, const void *value)
{
	pthread_mutex_lock(&r->kept_mu);
	memcpy(ccp_fpmap_put(&k->map, ccp_fp_of(m->key, m->key_len)), value, k->map.vsize);
	atomic_store_explicit(&k->n, ccp_fpmap_count(&k->map), memory_order_relaxed);
	pthread_mutex_unlock(&r->kept_mu);
}

/* m's entry in K goes: the store took what it was kept for, or the
 * message is gone. */
static void kept_forget(struct relay *r, struct kept *k, const struct ccp_msg *m)
{
	if (atomic_load_explicit(&k->n, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&r->kept_mu);
	kept_drop(k, m);
	pthread_mutex_unlock(&r->kept_mu);
}

/* m's entry in K, copied into OUT (K's value size; NULL: whether it has
 * one, nothing copied): false when it has none, or one for another file
 * under the name (the first removed by hand, a new one delivered since),
 * which is stale and goes. */
static bool kept_get(struct relay *r, struct kept *k, const struct ccp_msg *m, void *out)
{
	if (atomic_load_explicit(&k->n, memory_order_relaxed) == 0)
		return false;
	uint64_t ino = ccp_spool_ino(r->spool, m->key);
	pthread_mutex_lock(&r->kept_mu);
	const void *v = ccp_fpmap_get(&k->map, ccp_fp_of(m->key, m->key_len));
	uint64_t was = 0;
	if (v != NULL)
		memcpy(&was, v, sizeof(was));
	bool found = v != NULL && was == ino;
	if (!found && v != NULL)
		kept_drop(k, m);
	else if (found && out != NULL)
		memcpy(out, v, k->map.vsize);
	pthread_mutex_unlock(&r->kept_mu);
	return found;
}

/* Keeps m in K with REASON and the read that was imported. */
static void hold_reason(struct relay *r, struct kept *k, struct ccp_msg *m, const char *reason)
{
	struct held_reason u = { .ino = ccp_spool_ino(r->spool, m->key) };
	ccp_spool_stamp_get(m, &u.read);
	snprintf(u.reason, sizeof(u.reason), "%s", reason);
	kept_put(r, k, m, &u);
}

/* Whether m is held in K (hold_reason()): if so, its reason into *U, and
 * m carries the read that was imported, for its ack to judge the file by
 * (a record claimed anew has none of its own). */
static bool held_again(struct relay *r, struct kept *k, struct ccp_msg *m, struct held_reason *u)
{
	if (!kept_get(r, k, m, u))
		return false;
	ccp_spool_stamp_set(m, &u->read);
	return true;
}

/* ---- Bad/: the reason and a non-delivery report ------------------------ */

/* Errors that say the machine cannot write the store or the post office
 * now (full, read-only, out of files or memory, denied, failing): not a
 * message's fault, and gone once an operator acts. */
static bool machine_errno(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS || e == EIO || e == EMFILE ||
	       e == ENFILE || e == ENOMEM || e == EACCES || e == EPERM;
}

/* A report written by write_report(), to be queued once the caller has
 * logged what became of its message. */
struct report {
	int dir_fd;
	const char *dir;
	char ndr_name[CCP_QUEUE_RECORD_NAME_MAX];
	enum ccp_bounce_to to;
	const char *field;
	char addr[320]; /* the return path found, if any */
};

/* REASON as a sender's report gives it, into BUF (CAP octets): without
 * the batch file and line the post office names it by
 * (STORE/Import/MsgXXXX.ccm: line N: ), which mean nothing to the sender
 * and show where the store is on this server, wherever they are in it
 * (a reason may quote the post office's: "the import program listed it
 * as undeliverable: ...", "retries ended after attempt N (the last:
 * ...)").  Bad's NAME.reason and the log keep them. */
/* The next mention of a batch in REASON from FROM on: its path
 * (STORE/Import/NAME), which begins at *AT, and the ": line N: " after it
 * if any.  Returns where the text after them begins; NULL when there is
 * none. */
static const char *batch_mention(const struct relay *r, const char *from, const char **at)
{
	size_t n = strlen(r->import);
	for (const char *a = strstr(from, r->import); a != NULL; a = strstr(a + 1, r->import)) {
		if (a[n] != '/')
			continue;
		const char *p = strstr(a + n, ": ");
		if (p == NULL)
			return NULL;
		p += 2;
		const char *q = p;
		if (strncmp(q, "line ", 5) == 0) {
			for (q += 5; *q >= '0' && *q <= '9'; q++)
				;
			if (q > p + 5 && q[0] == ':' && q[1] == ' ')
				p = q + 2;
		}
		*at = a;
		return p;
	}
	return NULL;
}

static const char *reason_for_sender(const struct relay *r, const char *reason, char *buf,
				     size_t cap)
{
	size_t len = 0;
	const char *from = reason, *at, *p;
	while ((p = batch_mention(r, from, &at)) != NULL) {
		/* What comes before the batch's name, then on past it. */
		size_t k = (size_t)(at - from);
		if (len + k >= cap)
			break;
		memcpy(buf + len, from, k);
		len += k;
		from = p;
	}
	if (from == reason)
		return reason;
	snprintf(buf + len, cap - len, "%s", from);
	return buf;
}

/*
 * Writes the report of kind REPORT on m, DIR/NAME.ndr (DIR_FD: Bad or
 * Partial), quoting the original header (ORIGINAL, or else read from the
 * spool file, which is still there), and fills in *OUT for
 * queue_bounce().  Returns 0, else the errno, with no report left and a
 * line naming the file in PROBLEM.
 */
static int write_report(struct relay *r, enum ccp_bounce_kind report, int dir_fd,
			const char *dir, struct ccp_msg *m, const char *original, size_t olen,
			const char *reason, struct report *out, char *problem, size_t cap)
{
	char head[CCP_BOUNCE_HEADER_MAX], to[320] = "", shown[1024];
	out->dir_fd = dir_fd;
	out->dir = dir;
	ccp_queue_record_name(out->ndr_name, m->key, ".ndr");
	const char *field;
	if (original == NULL) {
		ssize_t got = ccp_spool_read_head(r->spool, m->key, head, sizeof(head));
		original = head;
		olen = got > 0 ? (size_t)got : 0;
	}
	enum ccp_bounce_to kind = ccp_bounce_recipient(original, olen, to, sizeof(to), &field);
	struct ccp_ccm_buf ndr;
	ccp_ccm_buf_init(&ndr);
	ccp_bounce_format(&ndr, report, r->bounce_from, kind == CCP_BOUNCE_TO_ADDR ? to : NULL,
			  m->key, reason_for_sender(r, reason, shown, sizeof(shown)), original, olen);
	int e = 0;
	if (ccp_store_write(dir_fd, out->ndr_name, ndr.data, ndr.len, r->cfg->sync) != 0)
		e = errno;
	ccp_ccm_buf_free(&ndr);
	if (e) {
		snprintf(problem, cap, "cannot write %s/%s: %s", dir, out->ndr_name, strerror(e));
		return e;
	}
	out->to = kind;
	out->field = field;
	snprintf(out->addr, sizeof(out->addr), "%s", to);
	return 0;
}

/*
 * --bounce-cmd: the report write_report() wrote on KEY goes to the bouncer,
 * to be sent to the message's return path.  A null return path gets
 * nothing: the message was a report or another automatic message itself.
 * The report stays where it was written whatever happens; what did is
 * logged.  Returns 0, or the errno of a queueing that failed for the
 * machine's reasons (machine_errno(): the store full, read-only, failing,
 * Bounce/ made immutable), with PROBLEM, and nothing logged: the caller
 * takes its report back and postpones the message, since nothing would
 * ever queue the report again.  Any other failure is logged.
 */
static int queue_bounce(struct relay *r, const char *key, const struct report *rep,
			char *problem, size_t cap)
{
	if (!r->bouncer)
		return 0;
	if (rep->to == CCP_BOUNCE_TO_NULL)
		ccp_log(CCP_LOG_INFO, "message %s: no report sent: its return path is null (<>)",
			key);
	else if (rep->to == CCP_BOUNCE_TO_AUTO && rep->addr[0])
		ccp_log(CCP_LOG_INFO, "message %s: no report sent: its return path %s is a mail "
			"system's own (MAILER-DAEMON)", key, rep->addr);
	else if (rep->to == CCP_BOUNCE_TO_AUTO && rep->field &&
		 strcmp(rep->field, "Content-Type") == 0)
		ccp_log(CCP_LOG_INFO, "message %s: no report sent: it is a report itself "
			"(Content-Type: multipart/report)", key);
	else if (rep->to == CCP_BOUNCE_TO_AUTO)
		ccp_log(CCP_LOG_INFO, "message %s: no report sent: it is an automatic reply itself "
			"(Auto-Submitted: auto-replied)", key);
	else if (rep->to == CCP_BOUNCE_TO_NONE && rep->field)
		ccp_log(CCP_LOG_WARN, "message %s: no report sent: its %s holds no usable address; "
			"it stays in %s/%s", key, rep->field, rep->dir, rep->ndr_name);
	else if (rep->to == CCP_BOUNCE_TO_NONE)
		ccp_log(CCP_LOG_WARN, "message %s: no report sent: it has no Return-Path, Sender or "
			"From; it stays in %s/%s", key, rep->dir, rep->ndr_name);
	else if (ccp_bouncer_queue(r->bouncer, rep->dir_fd, rep->ndr_name, key) != 0) {
		int e = errno;
		if (machine_errno(e)) {
			snprintf(problem, cap, "cannot queue its report in %s: %s", r->bounce,
				 strerror(e));
			return e;
		}
		ccp_log(CCP_LOG_ERROR, "message %s: its report cannot be queued in %s: %s; it stays "
			"in %s/%s", key, r->bounce, strerror(e), rep->dir, rep->ndr_name);
	}
	return 0;
}

/* Whether A and B can be one message and its copy across file systems (a
 * copy keeps the modification time): the same size and mtime. */
static bool copy_kept_times(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Whether Bad/KEY (THERE its stat) is the copy of new/KEY a move to Bad
 * across file systems placed before a crash cut it short (the spool file
 * was not removed yet): the same size and modification time (a copy keeps
 * the times) and the same first 64 KiB.
 */
static bool bad_holds_its_copy(struct relay *r, const char *key, const struct stat *there)
{
	struct stat sp;
	if (ccp_spool_stat(r->spool, key, &sp) != 0 || !copy_kept_times(&sp, there))
		return false;
	enum { HEAD = 65536 };
	char *a = ccp_malloc(HEAD), *b = ccp_malloc(HEAD);
	ssize_t na = ccp_spool_read_head(r->spool, key, a, HEAD);
	int fd = openat(r->bad_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	ssize_t nb = fd >= 0 ? ccp_read_full(fd, b, HEAD) : -1;
	if (fd >= 0)
		close(fd);
	bool same = na >= 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
	ccp_free(a);
	ccp_free(b);
	return same;
}

/*
 * m (KEY) goes to Bad while Bad/KEY holds an older message of that name (a
 * writer that reuses names): the older one is kept, as KEY.N (the first N
 * from 1 with no Bad/KEY.N), with its reason, its report and, while still
 * queued, its report's entry in Bounce/, in that order and the message
 * last, so that a crash in between leaves Bad/KEY there and the next try
 * moves the rest to the same KEY.N.  Where that cannot be done (no room
 * in a file name for the suffix, a rename refused), the older one is
 * replaced, as before, and the log says so.  Bad/KEY that is m's own copy
 * from a move a crash cut short is m's: replaced.
 */
static void keep_older_in_bad(struct relay *r, const char *key)
{
	struct stat there, st;
	/* Only a file is a message; anything else under the name is left to
	 * the move, which refuses to replace it (and the message waits,
	 * marked failed, in new/). */
	if (fstatat(r->bad_fd, key, &there, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(there.st_mode))
		return;
	if (bad_holds_its_copy(r, key, &there)) {
		ccp_log(CCP_LOG_INFO, "message %s: %s/%s is its copy from a move to Bad a crash "
			"cut short: replaced", key, r->bad, key);
		return;
	}
	char aside[CCP_QUEUE_RECORD_NAME_MAX], why[300] = "";
	unsigned n;
	for (n = 1; n < CCP_QUEUE_BAD_ASIDE_MAX && !why[0]; n++) {
		if (!ccp_queue_bad_aside_name(aside, key, n))
			snprintf(why, sizeof(why), "its name leaves no room for a suffix");
		else if (fstatat(r->bad_fd, aside, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				break;
			snprintf(why, sizeof(why), "%s/%s: %s", r->bad, aside, strerror(errno));
		}
	}
	if (!why[0] && n == CCP_QUEUE_BAD_ASIDE_MAX)
		snprintf(why, sizeof(why), "%s/%s.1 to .%u are all taken", r->bad, key,
			 CCP_QUEUE_BAD_ASIDE_MAX - 1);
	char from[CCP_QUEUE_RECORD_NAME_MAX], to[CCP_QUEUE_RECORD_NAME_MAX];
	ccp_queue_record_name(from, key, ".ndr");
	struct stat q, ndr;
	/* Its report's queue entry, while it is that report (a link to it). */
	if (!why[0] && r->bounce_fd >= 0 &&
	    fstatat(r->bounce_fd, key, &q, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(r->bad_fd, from, &ndr, AT_SYMLINK_NOFOLLOW) == 0 && q.st_dev == ndr.st_dev &&
	    q.st_ino == ndr.st_ino &&
	    ccp_rename_noreplace(r->bounce_fd, key, r->bounce_fd, aside) != 0)
		snprintf(why, sizeof(why), "cannot rename %s/%s: %s", r->bounce, key,
			 strerror(errno));
	static const char *const order[] = { ".ndr", ".reason" };
	for (size_t i = 0; i < 2 && !why[0]; i++) {
		ccp_queue_record_name(from, key, order[i]);
		ccp_queue_record_name(to, aside, order[i]);
		if (renameat(r->bad_fd, from, r->bad_fd, to) != 0 && errno != ENOENT)
			snprintf(why, sizeof(why), "cannot rename %s/%s: %s", r->bad, from,
				 strerror(errno));
	}
	if (!why[0] && ccp_rename_noreplace(r->bad_fd, key, r->bad_fd, aside) != 0)
		snprintf(why, sizeof(why), "cannot rename %s/%s: %s", r->bad, key, strerror(errno));
	if (why[0]) {
		ccp_log(CCP_LOG_WARN, "message %s: %s/%s holds an older message of that name, "
			"which cannot be kept (%s): replaced, with its reason and any report of it "
			"not yet sent", key, r->bad, key, why);
		return;
	}
	if (r->cfg->sync &&
	    (fsync(r->bad_fd) != 0 || (r->bounce_fd >= 0 && fsync(r->bounce_fd) != 0)))
		ccp_log(CCP_LOG_WARN, "message %s: the older message's move to %s/%s cannot be "
			"synced: %s", key, r->bad, aside, strerror(errno));
	ccp_log(CCP_LOG_WARN, "message %s: %s/%s held an older message of that name: kept as "
		"%s/%s, with its reason and report", key, r->bad, key, r->bad, aside);
}

/* keep_older_in_bad() for the spool (ccp_spool_config.before_failed). */
static void keep_older_for_spool(void *arg, const char *name)
{
	keep_older_in_bad(arg, name);
}

/*
 * Records why m goes to Bad: NAME.reason (one line) and NAME.ndr, a report
 * to the sender (write_report()), which --bounce-cmd then sends.  Returns 0
 * when both are written, else the errno, with neither left and a line
 * naming the file in PROBLEM.
 */
static int to_bad(struct relay *r, struct ccp_msg *m, const char *original, size_t olen,
		  const char *reason, char *problem, size_t cap)
{
	char name[CCP_QUEUE_RECORD_NAME_MAX], line[1200];
	keep_older_in_bad(r, m->key);
	ccp_queue_record_name(name, m->key, ".reason");
	int n = snprintf(line, sizeof(line), "%s\n", reason);
	if (ccp_store_write(r->bad_fd, name, line, (size_t)n, r->cfg->sync) != 0) {
		int e = errno;
		snprintf(problem, cap, "cannot write %s/%s: %s", r->bad, name, strerror(e));
		return e;
	}
	struct report rep;
	int e = write_report(r, CCP_BOUNCE_UNDELIVERED, r->bad_fd, r->bad, m, original, olen,
			     reason, &rep, problem, cap);
	/* Queued, then marked: a crash after the marker and before the ack
	 * moves the file (the rest of the batch still importing) brings no
	 * second report at the next start, which moves the file to Bad on
	 * the marker's word.  The other order lost the report to a crash in
	 * between: the marker said reported, and nothing was queued.  A crash
	 * between the two now sends Bad the message again at the next start,
	 * and the report replaces its unsent copy in the queue, or follows
	 * the one sent: at least once, as every report.  A report the queue
	 * cannot take now is taken back with the reason: the message waits,
	 * postponed, as for a report Bad cannot take, since in Bad nothing
	 * would queue its report again. */
	if (e == 0 && (e = queue_bounce(r, m->key, &rep, problem, cap)) != 0)
		unlinkat(r->bad_fd, rep.ndr_name, 0);
	if (e) {
		unlinkat(r->bad_fd, name, 0);
		return e;
	}
	ccp_log(CCP_LOG_WARN, "message %s to Bad: %s", m->key, reason);
	count(&r->bad_count, 1);
	ccp_spool_mark_failed(r->spool, m);
	return 0;
}

/* What to_bad() could not write: the spool file goes to Bad all the same
 * (its move is the spool's), and the log keeps the reason. */
static void bad_without_reason(struct relay *r, const struct ccp_msg *m, const char *problem,
			       const char *reason)
{
	ccp_log(CCP_LOG_ERROR, "message %s to Bad without its reason (%s): %s", m->key, problem,
		reason);
	count(&r->bad_count, 1);
}

/*
 * A record for m could not be written, for the reason errno E: when that is
 * the machine's (machine_errno(): the store full, read-only, failing), m is
 * postponed (*V) and stays in the spool until the record can be written;
 * the failure, PROBLEM, goes into d->outage and pauses deliveries.  Returns
 * whether it did so.  Any other failure would not pass on a retry.
 */
static bool postpone_for_outage(struct disp *d, int e, const char *problem, enum ccp_verdict *v)
{
	if (!machine_errno(e))
		return false;
	snprintf(d->outage, sizeof(d->outage), "%s", problem);
	*v = CCP_VERDICT_POSTPONED;
	return true;
}

/* The message of verdict V (in d->verdicts) was postponed because the store
 * could not take its reason or report (PROBLEM): that goes into its
 * Deferred/ marker (mark_deferred()), where the batch's outage and reason
 * might be another message's. */
static void postponed_by_store(struct disp *d, const enum ccp_verdict *v, const char *problem)
{
	size_t i = (size_t)(v - d->verdicts);
	d->changed[i] = 4;
	d->read_at[i] = (uint32_t)d->read_why.len;
	ccp_ccm_buf_add(&d->read_why, problem, strlen(problem) + 1);
}

/*
 * Sends m to Bad (verdict FAILED).  When the store cannot take its reason
 * now, m is postponed instead (postpone_for_outage()), and kept with
 * REASON in HELD (relay.refused, or relay.unfailed for an import's
 * verdict), which end_retries() takes for its reason; else its entry
 * there goes.  Any other failure would never pass: m goes to Bad without
 * its reason, with a log line.
 */
static void bad_or_postpone(struct disp *d, struct ccp_msg *m, const char *original, size_t olen,
			    const char *reason, enum ccp_verdict *v, struct kept *held)
{
	char problem[600];
	int e = to_bad(d->r, m, original, olen, reason, problem, sizeof(problem));
	*v = CCP_VERDICT_FAILED;
	if (e != 0 && !postpone_for_outage(d, e, problem, v))
		bad_without_reason(d->r, m, problem, reason);
	if (*v == CCP_VERDICT_POSTPONED) {
		postponed_by_store(d, v, problem);
		hold_reason(d->r, held, m, reason);
	} else {
		kept_forget(d->r, held, m);
	}
}

/*
 * m was delivered, but not to the recipients REASON names (the post
 * office's PARTIAL, IMPORT's /PARTIAL): its sender is told, in
 * Partial/NAME.ndr, which --bounce-cmd sends, and m is settled as
 * delivered.  The report is written before the spool file goes, so a crash
 * in between imports m again: the post office skips the recipients it
 * has, and reports the others once more.  When the store cannot take the
 * report now, m is postponed (postpone_for_outage()), and kept with REASON
 * in relay.unreported: its later tries write the report, not import it
 * again (deliver_batch()), and --max-age does not send it to Bad
 * (end_retries()), since it was delivered.  Any other failure would never
 * pass: m is delivered without its report, with a log line.
 */
static void partial(struct disp *d, struct ccp_msg *m, const char *reason, enum ccp_verdict *v)
{
	struct relay *r = d->r;
	char problem[600];
	struct report rep;
	int e = write_report(r, CCP_BOUNCE_PARTIAL, r->partial_fd, r->partial, m, NULL, 0, reason,
			     &rep, problem, sizeof(problem));
	/* Queued before it is settled, as in to_bad(). */
	if (e == 0 && (e = queue_bounce(r, m->key, &rep, problem, sizeof(problem))) != 0)
		unlinkat(r->partial_fd, rep.ndr_name, 0);
	*v = CCP_VERDICT_DELIVERED;
	if (e != 0 && postpone_for_outage(d, e, problem, v)) {
		hold_reason(r, &r->unreported, m, reason);
		postponed_by_store(d, v, problem);
		return;
	}
	kept_forget(r, &r->unreported, m);
	if (e == 0) {
		ccp_log(CCP_LOG_WARN, "message %s delivered in part, its report in %s/%s: %s",
			m->key, r->partial, rep.ndr_name, reason);
	} else {
		ccp_log(CCP_LOG_ERROR, "message %s delivered in part, without its report (%s): %s",
			m->key, problem, reason);
	}
	count(&r->partial_count, 1);
}

/*
 * m was found undeliverable by the import (REASON): to Bad.  When the store
 * cannot take its reason now, m is postponed (bad_or_postpone()), and kept
 * with REASON in relay.unfailed: its later tries send it to Bad from there
 * (fail_again()), not through another import.  The built-in post office
 * keeps no delivery of it, but an import program may have reached some of
 * its recipients before listing it, and would reach them again at each
 * try while the outage lasts.
 */
static void undeliverable(struct disp *d, struct ccp_msg *m, const char *reason,
			  enum ccp_verdict *v)
{
	bad_or_postpone(d, m, NULL, 0, reason, v, &d->r->unfailed);
}

/* Whether m was found undeliverable by an earlier import whose reason Bad
 * could not take (relay.unfailed): if so, it goes to Bad now (*V), or is
 * postponed again while the store still cannot take it, without a second
 * read or import. */
static bool fail_again(struct disp *d, struct ccp_msg *m, enum ccp_verdict *v)
{
	struct held_reason u;
	if (!held_again(d->r, &d->r->unfailed, m, &u))
		return false;
	undeliverable(d, m, u.reason, v);
	return true;
}

/* ---- reading and converting one message -------------------------------- */

/* Reads spool file m into d->in.  Returns its length; -1 if it vanished
 * or was delivered before (verdict DELIVERED: nothing left to deliver) or
 * failed before (verdict FAILED: its reason is in Bad), -2 if it changed while read
 * (verdict RETRY: read it again once it is stable), -3 if it is unusable
 * (verdict FAILED, to Bad with the reason) or cannot be read now for the
 * machine's reasons (verdict POSTPONED), -4 if it is still open for writing
 * (verdict RETRY, as -2), -5 if the machine failed its read (verdict
 * POSTPONED, the reason in d->last_read_why). */
static ssize_t read_message(struct disp *d, struct ccp_msg *m, enum ccp_verdict *v)
{
	struct relay *r = d->r;
	char reason[600];
	size_t len = 0;
	switch (ccp_spool_read_message(r->spool, m, &d->in, &d->incap, &len,
				       r->cfg->max_message_bytes, reason, sizeof(reason))) {
	case CCP_SPOOL_READ_OK:
		return (ssize_t)len;
	case CCP_SPOOL_READ_VANISHED:
		count(&r->vanished, 1);
		d->vanished++;
		*v = CCP_VERDICT_DELIVERED;
		return -1;
	case CCP_SPOOL_READ_DELIVERED:
		/* Delivered before; its file could not be removed then.  In
		 * the batch line: already in the post office. */
		d->dups++;
		d->marked++;
		count(&r->resettled, 1);
		*v = CCP_VERDICT_DELIVERED;
		return -1;
	case CCP_SPOOL_READ_FAILED_BEFORE:
		/* Sent to Bad before, reason and report written; its file
		 * could not be moved then.  Nothing is written or sent again. */
		d->marked++;
		*v = CCP_VERDICT_FAILED;
		return -1;
	case CCP_SPOOL_READ_CHANGED:
		*v = CCP_VERDICT_RETRY;
		return -2;
	case CCP_SPOOL_READ_BEING_WRITTEN:
		*v = CCP_VERDICT_RETRY;
		return -4;
	case CCP_SPOOL_READ_FAILED:
		/* The machine's failure, for this file alone (one bad sector
		 * must not pause all mail): postponed, read again later.  The
		 * reason goes into its marker too (-5). */
		ccp_log(CCP_LOG_WARN, "%s: postponed, to be read again", reason);
		snprintf(d->last_read_why, sizeof(d->last_read_why), "%s", reason);
		*v = CCP_VERDICT_POSTPONED;
		return -5;
	case CCP_SPOOL_READ_UNUSABLE:
		break;
	}
	bad_or_postpone(d, m, NULL, 0, reason, v, &d->r->refused);
	return -3;
}

/* ---- importing ---------------------------------------------------------- */

/* Settles the batch's message named KEY by the import's OUTCOME.  Returns
 * false, having logged it, when no message of the batch has that key. */
static bool settle_one(struct disp *d, const char *key, size_t key_len,
		       enum ccp_po_outcome outcome, const char *reason)
{
	/* Reports come in input order: try the next included message first. */
	unsigned hit = UINT32_MAX;
	for (unsigned k = 0; k < d->nincluded && hit == UINT32_MAX; k++) {
		unsigned j = (d->cursor + k) % d->nincluded;
		struct ccp_msg *m = d->msgs[d->included[j]];
		if (ccp_ccm_spool_id_is(key, key_len, m->key, m->key_len))
			hit = j;
	}
	if (hit == UINT32_MAX) {
		ccp_log(CCP_LOG_ERROR, "import of %s reported a message key %.*s not in its batch",
			d->name, (int)key_len, key);
		return false;
	}
	d->cursor = hit + 1;
	unsigned i = d->included[hit];
	switch (outcome) {
	case CCP_PO_MSG_DUPLICATE:
		count(&d->r->duplicates, 1);
		d->dups++;
		__attribute__((fallthrough)); /* already there is delivered */
	case CCP_PO_MSG_DELIVERED:
		d->verdicts[i] = CCP_VERDICT_DELIVERED;
		break;
	case CCP_PO_MSG_PARTIAL:
		partial(d, d->msgs[i], reason && *reason ? reason : "some recipients are unknown",
			&d->verdicts[i]);
		break;
	case CCP_PO_MSG_UNDELIVERABLE:
		/* Listed twice (an import program's .und): settled by the first
		 * entry; a second would count it, and report it, again. */
		if (d->verdicts[i] != CCP_VERDICT_RETRY)
			break;
		undeliverable(d, d->msgs[i], reason && *reason ? reason : "undeliverable",
			      &d->verdicts[i]);
		break;
	}
	return true;
}

/*
 * The post office's REASON in UTF-8, as the log, Bad's record and the
 * sender's report are written: after the batch's path and line
 * ("STORE/Import/MsgXXXX.ccm: line N: ", kept as it is) it quotes the
 * batch's recipient lines, in the code page, where "J\x81rgen" was
 * "Jürgen".  REASON itself when it holds no octet past ASCII there; with
 * UNLESS_UTF8 (an import program's, which
 * may write either), when it is UTF-8 already.
 */
static const char *po_reason_utf8(struct disp *d, const char *reason, bool unless_utf8)
{
	if (unless_utf8 && g_utf8_validate(reason, -1, NULL))
		return reason;
	const char *text = reason, *at, *after;
	while ((after = batch_mention(d->r, text, &at)) != NULL)
		text = after;
	const char *p = text;
	while (*p && (unsigned char)*p < 0x80)
		p++;
	/* The batch was converted by d->conv: its code page's handles. */
	if (*p == '\0' || d->conv == NULL)
		return reason;
	ccp_ccm_buf_reset(&d->reason_u8);
	ccp_ccm_buf_add(&d->reason_u8, reason, (size_t)(text - reason));
	ccp_codepage_to_utf8(ccp_convert_codepage(d->conv), text, strlen(text), &d->reason_u8);
	ccp_ccm_buf_addc(&d->reason_u8, '\0');
	return d->reason_u8.data;
}

static void settle_report(void *arg, const char *key, size_t key_len,
			  enum ccp_po_outcome outcome, const char *reason)
{
	settle_one(arg, key, key_len, outcome, reason ? po_reason_utf8(arg, reason, false) : reason);
}

/*
 * An external import answered 5: the messages its .und file lists are
 * undeliverable, the rest of the batch was imported.  Each entry is read by
 * ccp_und_entry() (und.h), which goes by the message's size line, and the
 * message is named by its own X-Spool-Id line: a line of a message's text
 * that reads "X-Spool-Id: ..." names nothing.  The entry's reason goes
 * with the message.  When the list cannot be read whole (no .und, an entry
 * not in that form, a message without an X-Spool-Id or with one that is
 * not the batch's), which messages were
 * imported is not known: the others are deferred, never taken as
 * delivered, and the post office's keys skip what it already holds when
 * they come again.
 */
static void settle_from_und(struct disp *d, const char *und_name, const char *und_path)
{
	static const char listed[] = "the import program listed it as undeliverable";
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	char why[160] = "";
	unsigned named = 0;
	if (ccp_ccm_buf_read_at(&b, d->r->import_fd, und_name) != 0)
		snprintf(why, sizeof(why), "could not be read: %s", strerror(errno));
	const char *p = b.data ? ccp_und_first(b.data, b.data + b.len) : NULL;
	const char *end = b.data ? b.data + b.len : NULL;
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	while (!why[0] && p < end) {
		const char *reason, *msg;
		size_t reason_len, msg_len;
		const char *next = ccp_und_entry(p, end, &reason, &reason_len, &msg, &msg_len);
		if (!next) {
			snprintf(why, sizeof(why), "is not in IMPORT's form at octet %zu",
				 (size_t)(p - b.data));
			break;
		}
		struct ccp_ccm_reader rd;
		ccp_ccm_reader_init(&rd, msg, msg_len, und_path);
		const struct ccp_ccm_ext *id = ccp_ccm_reader_next(&rd, &m) > 0 ?
						       ccp_ccm_msg_ext(&m, "X-Spool-Id") : NULL;
		if (!id) {
			snprintf(why, sizeof(why), "holds a message without an X-Spool-Id line "
				 "this relay can read, at octet %zu", (size_t)(msg - b.data));
			break;
		}
		/* Its first 300 octets, said to be cut where they are. */
		char text[sizeof(listed) + 320];
		snprintf(text, sizeof(text), "%s: %.*s%s", listed,
			 (int)(reason_len < 300 ? reason_len : 300), reason,
			 reason_len > 300 ? " [...]" : "");
		/* A key not in the batch (mis-encoded by the program, cut short)
		 * names none of ours: which one it meant is not known, so the
		 * list is not read whole. */
		if (!settle_one(d, id->value, id->value_len, CCP_PO_MSG_UNDELIVERABLE,
				po_reason_utf8(d, text, true))) {
			snprintf(why, sizeof(why), "names a message not in the batch (X-Spool-Id "
				 "%.*s)", (int)(id->value_len < 80 ? id->value_len : 80), id->value);
			break;
		}
		named++;
		p = next;
	}
	ccp_ccm_msg_free(&m);
	ccp_ccm_buf_free(&b);
	if (!why[0] && !named)
		snprintf(why, sizeof(why), "names no message");
	unsigned rest = 0;
	for (unsigned k = 0; k < d->nincluded; k++) {
		enum ccp_verdict *v = &d->verdicts[d->included[k]];
		if (*v == CCP_VERDICT_RETRY) {
			rest++;
			if (!why[0])
				*v = CCP_VERDICT_DELIVERED;
		}
	}
	if (why[0])
		ccp_log(CCP_LOG_WARN, "import of %s answered 5, but its list of undeliverable "
			"messages %s %s: the %u messages it does not name are deferred",
			d->name, und_path, why, rest);
}

/* Markers that could not be written: one line every MARKER_LOG_NS at most
 * (on a full disk every batch meets it), with the count since the last. */
#define MARKER_LOG_NS 10000000000ull

static void log_unwritten_markers(struct relay *r, unsigned n, int e)
{
	uint64_t now = ccp_now_ns();
	atomic_fetch_add_explicit(&r->markers_unwritten, n, memory_order_relaxed);
	uint64_t last = atomic_load_explicit(&r->markers_logged_ns, memory_order_relaxed);
	if (last && now - last < MARKER_LOG_NS)
		return;
	/* One dispatcher wins the line; the others' counts go into it or the
	 * next one. */
	if (!atomic_compare_exchange_strong_explicit(&r->markers_logged_ns, &last, now,
						     memory_order_relaxed, memory_order_relaxed))
		return;
	uint64_t total = atomic_exchange_explicit(&r->markers_unwritten, 0, memory_order_relaxed);
	ccp_log(CCP_LOG_ERROR, "cannot write %llu deferral markers in %s: %s (the messages stay "
		"deferred; a restart would count their attempts and age afresh)",
		(unsigned long long)total, r->deferred, strerror(e));
}

/* This run's first sight of m in wall-clock seconds: taken in
 * nanoseconds and cut to a second once, the same whenever it is asked. */
static int64_t sighted_s(const struct ccp_msg *m)
{
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	int64_t ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec -
		     (int64_t)(ccp_now_ns() - m->first_seen_ns);
	return ns / 1000000000;
}

/* When m was first seen, in wall-clock seconds: this run's first sight of
 * it, less the age an earlier run had given it (m->age_before_s), which
 * is counted from the same sight (age_before()).  What a Deferred/ marker
 * and a withheld message keep.  The whole seconds of "now" less the whole
 * seconds since, each cut on its own, put a marker's first a second
 * later at about every other restart, and the age --max-age ends crept
 * back a second each time. */
static int64_t first_seen_s(const struct ccp_msg *m)
{
	return sighted_s(m) - (int64_t)m->age_before_s;
}

/* The age an earlier run gave m, first seen at FIRST (wall-clock seconds):
 * counted to this run's sight of it, which first_seen_s() counts back
 * from, so the first time comes back as it was written. */
static uint32_t age_before(const struct ccp_msg *m, int64_t first)
{
	int64_t age = sighted_s(m) - first;
	return (uint32_t)(age < 0 ? 0 : age > UINT32_MAX ? UINT32_MAX : age);
}

/*
 * Deferred/KEY records a message waiting for a retry, for `ccpump queue`
 * and for the next run: "attempt N\nfirst UNIXTIME\nanswer RC\nreason
 * ...\n" (N attempts so far, the first at UNIXTIME; answer "none" for a
 * spool file that changed while it was read: it never reached an import).
 * Written only on the failure path; removed when a retried message is
 * settled.  A restarted relay reads it back (relay_src_init_msg), so --max-attempts
 * and --max-age count what earlier runs spent.
 */
static void mark_deferred(struct relay *r, const struct disp *d, struct ccp_msg *const *msgs,
			  unsigned n, const enum ccp_verdict *verdicts, int rc, const char *reason,
			  bool untried)
{
	char line[CCP_QUEUE_DEFERRED_MAX], held[700];
	unsigned unwritten = 0;
	int unwritten_errno = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct ccp_msg *m = msgs[i];
		uint64_t w = ccp_msg_load(m);
		bool postponed = verdicts[i] == CCP_VERDICT_POSTPONED;
		if (verdicts[i] == CCP_VERDICT_RETRY || postponed) {
			/* Not tried (stopping while deliveries were paused): a
			 * marker it has stays as it is, its own reason in it;
			 * the pause's reason may be another message's. */
			if (untried && faccessat(r->deferred_fd, m->key, F_OK, 0) == 0)
				continue;
			/* The attempt being settled counts, unless postponed
			 * (none to take back from a record that made none: one
			 * restored from a withheld message only ever postponed). */
			uint32_t attempt = ccp_msg_attempts(m, w);
			if (postponed && attempt > 0)
				attempt--;
			char answer[16] = "none", said[64];
			const char *why = d->changed[i] >= 3   ? d->read_why.data + d->read_at[i]
					  : d->changed[i] == 2 ? "the spool file was still open for writing"
							       : "the spool file changed while it was read";
			/* The batch's import answer; none for a message
			 * deferred at its read (1 to 3). */
			if ((d->changed[i] == 0 || d->changed[i] == 4) && rc >= 0)
				snprintf(answer, sizeof(answer), "%d", rc);
			if (!d->changed[i]) {
				/* An import that said nothing: its answer is the
				 * reason, in the marker and, should retries end,
				 * in Bad and the report. */
				if (rc >= 0)
					snprintf(said, sizeof(said), "the import answered %d", rc);
				else
					snprintf(said, sizeof(said), "not imported (the log says why)");
				/* Postponed with the whole batch by the relay's own
				 * failure (the batch unwritable, the import undone):
				 * that is why, not the post office's first problem
				 * line, which may be another message's. */
				why = postponed && d->outage[0] ? d->outage
				      : reason && *reason       ? reason
				      : d->outage[0]            ? d->outage
								: said;
				if (untried) {
					snprintf(held, sizeof(held),
						 "not tried: deliveries were paused (%s)", why);
					why = held;
				}
			}
			size_t len = ccp_queue_deferred_text(line, sizeof(line), attempt,
							     first_seen_s(m), answer, why);
			/* Without it the message is still deferred; only a restart
			 * would count its attempts and age afresh. */
			if (ccp_store_write(r->deferred_fd, m->key, line, len, false) != 0) {
				unwritten++;
				unwritten_errno = errno;
			}
		} else if (m->retries_ended) {
			/* Sent to Bad for its ended retries: end_retries() reads
			 * the marker for Bad's reason, and it goes after. */
		} else if (ccp_msg_word_attempt(w) > 1 ||
			   (r->restore.n && ccp_fpset_has(&r->restore, ccp_fp_of(m->key, m->key_len)))) {
			/* Settled after an earlier attempt of this run, or with a
			 * marker an earlier run left (one that postponed it may say
			 * "attempt 0"): the marker goes. */
			unlinkat(r->deferred_fd, m->key, 0);
		}
	}
	if (unwritten)
		log_unwritten_markers(r, unwritten, unwritten_errno);
}

/*
 * A durable batch for the built-in post office is written with O_DIRECT:
 * the octets go from our buffer to the disk without a copy into the page
 * cache.  The post office indexes the batch from the buffer and adopts the
 * file as it is (ccp_po_import_adopt), so nothing reads the file back.  The
 * page cache's copy of about 6 MiB a batch was a tenth of the relay's CPU
 * time, most of it the first touch of free pages (a virtual machine's host
 * takes freed guest pages back), and its pages then had to be written back
 * and reclaimed.  O_DIRECT wants the memory, the file offset and the length
 * aligned: the dispatcher's buffer is aligned (ccp_ccm_buf_init_aligned), its
 * aligned head goes direct, and the tail, under DIRECT_ALIGN octets, through
 * the page cache once F_SETFL has cleared O_DIRECT.  The caller's fsync
 * makes both durable.  A file system without O_DIRECT (ramfs) gets plain
 * writes, and so does an external import command, which reads the file.
 */
#define DIRECT_ALIGN 4096

/* For a batch of DIRECT_ALIGN octets or more (write_batch() sees to it),
 * so the aligned head is never empty. */
static bool write_batch_direct(struct disp *d, int fd)
{
	size_t head = d->ccm.len & ~(size_t)(DIRECT_ALIGN - 1);
	CCP_ASSERT(((uintptr_t)d->ccm.data & (DIRECT_ALIGN - 1)) == 0 && head > 0);
	bool ok = ccp_write_all(fd, d->ccm.data, head) == 0;
	int e = errno;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) != 0)
		return false;
	if (!ok) {
		/* EINVAL: the device wants a larger alignment after all.  Start
		 * over through the page cache. */
		errno = e;
		if (e != EINVAL || ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
			return false;
		head = 0;
	}
	return ccp_write_all(fd, d->ccm.data + head, d->ccm.len - head) == 0;
}

static bool write_batch(struct disp *d, const char *name)
{
	struct relay *r = d->r;
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
	bool direct = r->po && r->cfg->sync && d->ccm.len >= DIRECT_ALIGN;
	int fd = direct ? openat(r->submit_fd, name, flags | O_DIRECT, 0600) : -1;
	if (fd < 0) {
		/* EINVAL: a file system without O_DIRECT (tmpfs before Linux
		 * 6.6, ramfs) refuses the open only after it made the file, so
		 * the plain open below would meet it (O_EXCL).  The name is this
		 * dispatcher's alone: the empty file is ours to remove. */
		if (direct && errno == EINVAL)
			unlinkat(r->submit_fd, name, 0);
		direct = false;
		fd = openat(r->submit_fd, name, flags, 0600);
	}
	if (fd < 0)
		goto fail;
	bool ok = direct ? write_batch_direct(d, fd) : ccp_write_all(fd, d->ccm.data, d->ccm.len) == 0;
	if (ok && r->cfg->sync)
		ok = fsync(fd) == 0;
	/* Closed whatever failed before: the batch is removed below, and an
	 * fd left open on it would pin its blocks, one more at each probe of
	 * a disk that keeps failing, until the relay runs out of fds. */
	int e = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && renameat(r->submit_fd, name, r->import_fd, name) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		unlinkat(r->submit_fd, name, 0);
		errno = e;
		goto fail;
	}
	/* Import/ itself is not synced: no restart needs its entries (a
	 * crash's batches there are removed, clear_leftovers(), and their
	 * messages, still in new/, relayed again), and the post office makes
	 * its own link to the file durable (adopt_store()).  A sync here cost
	 * a journal commit per batch for nothing. */
	count(&r->batches, 1);
	return true;
fail:
	/* The caller logs it, once per pause (the gate). */
	return false;
}

/* The N messages of a batch, none read or tried, are postponed: their
 * verdicts, and the batch's record for mark_deferred() and log_batch()
 * (nothing changed, no .ccm, no counts, no time spent). */
static void postpone_untried(struct disp *d, enum ccp_verdict *verdicts, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		verdicts[k] = CCP_VERDICT_POSTPONED;
	d->changed = ccp_realloc(d->changed, n * sizeof(*d->changed));
	memset(d->changed, 0, n * sizeof(*d->changed));
	d->name[0] = '\0';
	d->dups = d->vanished = d->marked = d->reported = 0;
	d->t_start = d->t_converted = d->t_written = d->t_imported = ccp_now_ns();
}

/* Whether m was delivered in part and its report could not be written
 * then (relay.unreported): if so, the report is written now, and m settled
 * by that (*V) without a second read or import: delivered, or postponed
 * again while the store still cannot take it.  It carries the read that
 * was delivered, for its ack to judge the file by (a record claimed anew
 * has none of its own).  Its Deferred/ marker goes with it: this may be
 * the first try of such a record. */
static bool report_again(struct disp *d, struct ccp_msg *m, enum ccp_verdict *v)
{
	struct relay *r = d->r;
	struct held_reason u;
	if (!held_again(r, &r->unreported, m, &u))
		return false;
	partial(d, m, u.reason, v);
	if (*v == CCP_VERDICT_DELIVERED) {
		d->reported++;
		unlinkat(r->deferred_fd, m->key, 0);
	}
	return true;
}

/* Converts, writes and imports one batch, setting every verdict.  Returns
 * the import's answer (-1 when nothing reached the import) and its reason. */
static int deliver_batch(struct relay *r, struct disp *d, struct ccp_msg *const *msgs, unsigned n,
			 enum ccp_verdict *verdicts, char *why, size_t whylen, unsigned *taken)
{
	if (!disp_converter(r, d)) {
		/* The machine's, not the messages' (the start-up made one, so
		 * this is out of memory or descriptors): postponed, and
		 * deliveries pause, as for a batch that cannot be written.
		 * Not converted with the map a reload replaced either. */
		snprintf(d->outage, sizeof(d->outage), "cannot convert to code page %d: %s",
			 (int)r->cfg->convert.codepage, strerror(errno));
		snprintf(why, whylen, "%s", d->outage);
		postpone_untried(d, verdicts, n);
		*taken = n;
		return -1;
	}
	d->msgs = msgs;
	d->verdicts = verdicts;
	d->nincluded = 0;
	d->cursor = 0;
	d->name[0] = '\0';
	d->dups = d->vanished = d->marked = d->reported = 0;
	d->t_start = ccp_now_ns();
	d->included = ccp_realloc(d->included, n * sizeof(*d->included));
	d->changed = ccp_realloc(d->changed, n * sizeof(*d->changed));
	d->read_at = ccp_realloc(d->read_at, n * sizeof(*d->read_at));
	ccp_ccm_buf_reset(&d->read_why);
	ccp_ccm_buf_reset(&d->ccm);

	unsigned i;
	for (i = 0; i < n; i++) {
		/* The .ccm holds --batch-bytes: the rest of the pump's batch goes
		 * into the next one (relay_deliver()).  A message larger than
		 * that goes alone. */
		if (d->nincluded && d->ccm.len >= r->cfg->batch_bytes)
			break;
		verdicts[i] = CCP_VERDICT_RETRY;
		d->changed[i] = 0; /* postponed_by_store() may set it */
		/* Its retries ended in an earlier claim, and Bad could not take
		 * it then (withhold()): Bad now, no import. */
		if (ccp_unlikely(msgs[i]->retries_ended)) {
			verdicts[i] = CCP_VERDICT_FAILED;
			d->marked++; /* the batch line: no news (end_retries() says it) */
			continue;
		}
		/* Delivered in part before, its report held back by the store
		 * (partial()): the report is tried again, not the delivery. */
		if (ccp_unlikely(report_again(d, msgs[i], &verdicts[i])))
			continue;
		/* Found undeliverable before, Bad unable to take it then
		 * (undeliverable()): Bad now, not another import. */
		if (ccp_unlikely(fail_again(d, msgs[i], &verdicts[i])))
			continue;
		/* Vanished (an operator removed it, or a crash-restart raced its
		 * own unlink), changed while read, or unusable: settled here. */
		ssize_t len = read_message(d, msgs[i], &verdicts[i]);
		if (len != -3) /* -3: by bad_or_postpone() */
			d->changed[i] = len == -2 ? 1 : len == -4 ? 2 : len == -5 ? 3 : 0;
		if (len == -5) {
			d->read_at[i] = (uint32_t)d->read_why.len;
			ccp_ccm_buf_add(&d->read_why, d->last_read_why, strlen(d->last_read_why) + 1);
		}
		if (len < 0)
			continue;
		size_t mark = d->ccm.len;
		struct ccp_convert_input in = { .data = d->in, .len = (size_t)len,
						.name = msgs[i]->key, .key = msgs[i]->key };
		if (ccp_convert_message(d->conv, &in, &d->ccm) != CCP_CONVERT_OK) {
			d->ccm.len = mark;
			bad_or_postpone(d, msgs[i], d->in, (size_t)len, ccp_convert_error(d->conv),
					&verdicts[i], &d->r->refused);
			continue;
		}
		if (r->cfg->convert.envelope_field) {
			struct ccp_convert_stats cs;
			ccp_convert_last_stats(d->conv, &cs);
			if (cs.envelope_missing)
				ccp_log(CCP_LOG_WARN, "message %s has no %s field naming a recipient: "
					"delivered to the recipients of its header", msgs[i]->key,
					r->cfg->convert.envelope_field);
		}
		d->included[d->nincluded++] = i;
	}
	*taken = i;
	d->t_converted = d->t_written = d->t_imported = ccp_now_ns();
	if (d->nincluded == 0)
		return -1;

	/* The connector's pace: after a batch that was not full, wait. */
	if (r->cfg->min_import_interval_ns && d->last_import_ns) {
		nap_until(d->last_import_ns + r->cfg->min_import_interval_ns, 100000000u);
	}

	/* MsgXXXX.ccm, and the .und file an import writes beside it. */
	char base[48], name[64], und_name[64], path[4200], und[4200];
	snprintf(base, sizeof(base), "Msg%02X%010llX", d->id, (unsigned long long)d->seq++);
	snprintf(name, sizeof(name), "%s.ccm", base);
	snprintf(und_name, sizeof(und_name), "%s.und", base);
	snprintf(path, sizeof(path), "%s/%s", r->import, name);
	snprintf(und, sizeof(und), "%s/%s", r->import, und_name);
	uint64_t t_paced = ccp_now_ns();
	if (!write_batch(d, name)) {
		/* The store, not the messages: postponed, and deliveries pause. */
		snprintf(d->outage, sizeof(d->outage), "cannot write batch %s/%s: %s", r->submit,
			 name, strerror(errno));
		snprintf(why, whylen, "%s", d->outage);
		for (unsigned k = 0; k < d->nincluded; k++)
			verdicts[d->included[k]] = CCP_VERDICT_POSTPONED;
		return -1;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	/* The pace's wait is nobody's work: it is left out of the times. */
	d->t_written = ccp_now_ns() - (t_paced - d->t_converted);

	int rc;
	struct ccp_po_result res = { 0 };
	if (r->po) {
		/* The built-in post office imports the bytes just written to
		 * Import/ from memory, not by reading the file back, and keeps
		 * the file itself as its store file (a hard link): the messages
		 * are neither read, copied nor synced again, and removing the
		 * batch from Import/ below frees no blocks.  The file stays in
		 * Import/ until the batch is settled, for a crash to find. */
		rc = ccp_po_import_adopt(r->po, d->ccm.data ? d->ccm.data : "", d->ccm.len,
					 r->import_fd, name, path, und, &res, settle_report, d);
	} else {
		res.reason[0] = '\0';
		rc = ccp_import_cmd_run(r->cfg->import_cmd, path, r->cfg->import_timeout_ns, res.reason,
					sizeof(res.reason), &res.sys_errno);
		if (rc == 0)
			for (unsigned k = 0; k < d->nincluded; k++)
				verdicts[d->included[k]] = CCP_VERDICT_DELIVERED;
		else if (rc == 5)
			settle_from_und(d, und_name, und);
	}
	count(&r->imports, 1);
	d->t_imported = ccp_now_ns() - (t_paced - d->t_converted);
	if (rc == CCP_PO_NOT_ACCESSIBLE &&
	    (r->po ? machine_errno(res.sys_errno) : res.sys_errno != 0)) {
		/* The post office undid the import because its disk is full,
		 * read-only or failing, or the import program did not run
		 * (the machine out of processes or memory, or the program
		 * gone or unexecutable since the start): the machine's fault,
		 * not the messages'.  Postponed; deliveries pause. */
		snprintf(d->outage, sizeof(d->outage), "%s", res.reason);
		for (unsigned k = 0; k < d->nincluded; k++)
			verdicts[d->included[k]] = CCP_VERDICT_POSTPONED;
	}
	if (rc != 0 && rc != 5) {
		count(&r->import_failures, 1);
		ccp_log(CCP_LOG_WARN, "import of %s answered %d%s%s: %u messages deferred", name, rc,
			res.reason[0] ? ": " : "", res.reason, d->nincluded);
	}
	unlinkat(r->import_fd, name, 0);
	unlinkat(r->import_fd, und_name, 0);
	snprintf(why, whylen, "%s", res.reason);
	return rc;
}

/*
 * One info line per batch, for an operator to follow the relay and see
 * where a batch's time goes:
 *   batch Msg01000000002A.ccm: 1024 messages, 5.1 MiB, import answered 0:
 *   1024 delivered, 0 deferred, 0 to Bad; convert 48 ms, write 9 ms, import 21 ms
 * "delivered" counts messages the post office already had (named after it)
 * and spool files that vanished before they were read.  The times are the
 * dispatcher's phases: reading and converting the spool files, writing
 * and syncing the .ccm, and the import.  Removing the spool files comes
 * after, when the pump acknowledges the batch.
 */
static void log_batch(const struct disp *d, unsigned n, const enum ccp_verdict *verdicts, int rc)
{
	unsigned v[4] = { 0, 0, 0, 0 };
	char extra[96] = "";
	for (unsigned i = 0; i < n; i++)
		v[verdicts[i]]++;
	v[CCP_VERDICT_RETRY] += v[CCP_VERDICT_POSTPONED]; /* deferred, either way */
	if (d->dups || d->vanished)
		snprintf(extra, sizeof(extra), " (%u already in the post office, %u vanished)",
			 d->dups, d->vanished);
	if (d->name[0] == '\0') {
		/* A batch of files that cannot leave new/, settled again from
		 * their markers: at every rescan that finds them, so not at
		 * info.  Their first settling, the failed removal or move, and
		 * the count at start-up are logged. */
		enum ccp_log_level level = d->marked == n ? CCP_LOG_DEBUG : CCP_LOG_INFO;
		ccp_log(level, "batch of %u messages, none imported: %u delivered%s, "
			"%u deferred, %u to Bad; read and convert %.0f ms", n,
			v[CCP_VERDICT_DELIVERED], extra, v[CCP_VERDICT_RETRY], v[CCP_VERDICT_FAILED],
			(double)(d->t_converted - d->t_start) / 1e6);
		return;
	}
	ccp_log(CCP_LOG_INFO, "batch %s: %u messages, %.1f MiB, import answered %d: %u delivered%s, "
		"%u deferred, %u to Bad; convert %.0f ms, write %.0f ms, import %.0f ms", d->name,
		n, (double)d->ccm.len / 1048576.0, rc, v[CCP_VERDICT_DELIVERED], extra,
		v[CCP_VERDICT_RETRY], v[CCP_VERDICT_FAILED],
		(double)(d->t_converted - d->t_start) / 1e6,
		(double)(d->t_written - d->t_converted) / 1e6,
		(double)(d->t_imported - d->t_written) / 1e6);
}

static void relay_deliver(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs, unsigned n,
			  enum ccp_verdict *verdicts)
{
	struct relay *r = ctx;
	struct disp *d = &r->disp[dispatcher];
	bool imported = false;
	/* The pump's batch in one .ccm, or in several when its messages
	 * outgrow --batch-bytes: each is a batch of its own to the gate, the
	 * import, the markers and the log. */
	for (unsigned start = 0, k; start < n; start += k) {
		char why[600] = "";
		int rc = -1;
		d->outage[0] = '\0';
		enum ccp_gate_pass pass = ccp_gate_pass(&r->gate);
		bool held = pass == CCP_GATE_HELD;
		if (held) {
			/* Stopping while paused: not tried, the messages stay in
			 * the spool as they are. */
			k = n - start;
			postpone_untried(d, verdicts + start, k);
			ccp_gate_paused_for(&r->gate, why, sizeof(why));
		} else {
			rc = deliver_batch(r, d, msgs + start, n - start, verdicts + start, why,
					   sizeof(why), &k);
			/* The outage is over: the messages it postponed, each
			 * backing off on its own, are due now (the main loop).
			 * A report the store took that it could not before
			 * says so as an import does. */
			if (ccp_gate_report(&r->gate, pass, d->outage, rc >= 0 || d->reported))
				atomic_store_explicit(&r->resumed, 1, memory_order_relaxed);
			imported |= rc >= 0;
		}
		mark_deferred(r, d, msgs + start, k, verdicts + start, rc, why, held);
		log_batch(d, k, verdicts + start, rc);
	}
	/* The connector's pace (--profile ccmc): after a batch that was not
	 * full, the next import waits. */
	if (imported)
		d->last_import_ns = n == r->cfg->pump.batch ? 0 : ccp_now_ns();
}

/*
 * The spool is the pump's source; the relay stands between them to see the
 * end of a message whose retries ran out (--max-attempts, --max-age): the
 * pump fails a RETRY verdict, so its Deferred/ marker is still there.  The
 * marker becomes the reason in Bad/, with a non-delivery report.
 */
static void relay_src_wait(void *ctx, unsigned poller, uint64_t deadline_ns)
{
	struct relay *r = ctx;
	ccp_spool_source()->wait(r->spool, poller, deadline_ns);
}

static int relay_src_poll(void *ctx, unsigned poller, struct ccp_note *notes, unsigned max)
{
	struct relay *r = ctx;
	return ccp_spool_source()->poll(r->spool, poller, notes, max);
}

static void relay_src_settled(void *ctx, unsigned poller, const char *key, uint32_t len)
{
	struct relay *r = ctx;
	ccp_spool_source()->settled(r->spool, poller, key, len);
}

/* The Deferred/ marker of KEY as text (mark_deferred() writes it), or
 * false when there is none. */
static bool read_marker(const struct relay *r, const char *key, char *text, size_t cap)
{
	int fd = openat(r->deferred_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, cap - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return true;
}

/* m stays in the spool with its retries ended (end_retries()): what it
 * spent, and the reason of its last retry, are kept for the records that
 * claim it again, which go straight to Bad (no import: its retries are
 * over) with the same reason, whether or not the store could take its
 * marker.  The entry lasts until Bad takes the message: a record that
 * takes it may lose the race to add itself (registry.h) and be freed. */
static void withhold(struct relay *r, const struct ccp_msg *m, const char *last)
{
	struct withheld w = {
		.ino = ccp_spool_ino(r->spool, m->key),
		.attempts = ccp_msg_attempts(m, ccp_msg_load(m)),
		.first_s = first_seen_s(m),
	};
	snprintf(w.last, sizeof(w.last), "%.*s", (int)sizeof(w.last) - 1, last);
	kept_put(r, &r->withheld, m, &w);
}

/* For a new record: what a withheld message of its key had spent, and
 * its retries marked ended.  Returns whether there was one. */
static bool withheld_restore(struct relay *r, struct ccp_msg *m)
{
	struct withheld w;
	if (!kept_get(r, &r->withheld, m, &w))
		return false;
	/* This claim makes no attempt of its own (deliver_batch() only sends
	 * it to Bad), so the count it shows is the one it ended with. */
	m->attempts_before = w.attempts - 1;
	m->age_before_s = age_before(m, w.first_s);
	m->retries_ended = 1;
	return true;
}

/* The reason withheld message m's last retry was deferred for, into BUF;
 * false when it is not withheld. */
static bool withheld_last(struct relay *r, const struct ccp_msg *m, char *buf, size_t cap)
{
	struct withheld w;
	if (!kept_get(r, &r->withheld, m, &w))
		return false;
	snprintf(buf, cap, "%s", w.last);
	return true;
}

/*
 * The pump ended m's retries (--max-attempts, --max-age): it goes to Bad
 * with "retries ended after attempt N (the last: REASON)", REASON from its
 * Deferred/ marker.  Returns false when m must stay in the spool instead:
 * the store cannot take its reason now (full, read-only), and a message
 * never reaches Bad without its reason and report.  Its record is settled,
 * but its file stays in new/: a rescan finds it again, and once its record
 * is reclaimed it is claimed anew, to end the same way when the store can
 * take the reason.
 */
static bool end_retries(struct relay *r, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	char marker[CCP_QUEUE_DEFERRED_MAX], kept[200], reason[900], problem[600];
	if (outcome != CCP_MSG_FAILED || !m->retries_ended)
		return true;
	/* Delivered in part, its report held back by the store (partial()):
	 * the message was delivered, and its retries were the report's.  It
	 * is no message for Bad: it stays in the spool, and the record that
	 * claims it again writes the report once the store can take it. */
	if (kept_get(r, &r->unreported, m, NULL)) {
		ccp_log(CCP_LOG_WARN, "message %s was delivered in part, and its report still "
			"cannot be written to %s: not sent to Bad past --max-age; it waits in the "
			"spool, not imported again, until the report can be written", m->key,
			r->partial);
		return false;
	}
	const char *last = "not kept: the store could not take its marker";
	if (read_marker(r, m->key, marker, sizeof(marker))) {
		/* Its reason line; a marker without one (not of ours) is
		 * shown by its first line. */
		struct ccp_queue_deferred dm;
		char *l = marker;
		if (ccp_queue_deferred_parse(marker, &dm) && dm.reason)
			l = marker + (dm.reason - marker);
		l[strcspn(l, "\n")] = '\0';
		last = l;
	} else if (withheld_last(r, m, kept, sizeof(kept))) {
		last = kept;
	}
	/* Found undeliverable by an import, or refused by its conversion,
	 * while Bad could not take that (undeliverable(), bad_or_postpone()):
	 * its retries were Bad's, and the import's or the refusal's reason is
	 * the message's, not the store's failure (which named the store's
	 * path to the sender). */
	struct held_reason u;
	if (kept_get(r, &r->unfailed, m, &u) || kept_get(r, &r->refused, m, &u))
		snprintf(reason, sizeof(reason), "%s", u.reason);
	else
		snprintf(reason, sizeof(reason), "retries ended after attempt %u (the last: %s)",
			 ccp_msg_attempts(m, ccp_msg_load(m)), last);
	char before[200];
	bool again = withheld_last(r, m, before, sizeof(before));
	/* Not read in this claim (deliver_batch()): stamped now, so that its
	 * failed marker, and its ack's should the move to Bad fail, keep the
	 * file from coming back as new mail after its report has gone. */
	ccp_spool_stamp_unread(r->spool, m);
	int e = to_bad(r, m, NULL, 0, reason, problem, sizeof(problem));
	if (e != 0 && machine_errno(e)) {
		/* Said once: each rescan claims it again while the store is
		 * full, which is no news. */
		ccp_log(again ? CCP_LOG_DEBUG : CCP_LOG_WARN, "message %s: %s, but %s: it waits in "
			"the spool until the store can take its reason", m->key, reason, problem);
		withhold(r, m, last);
		return false;
	}
	if (e != 0)
		bad_without_reason(r, m, problem, reason);
	kept_forget(r, &r->withheld, m);
	/* In Bad now: a requeue of it (the same inode) is imported again,
	 * not sent back to Bad by fail_again() on the entry's word. */
	kept_forget(r, &r->unfailed, m);
	kept_forget(r, &r->refused, m);
	return true;
}

/* After the spool file has left new/ (for Bad): its marker goes.  Before
 * that, a crash would leave the message in new/ without its attempts, to
 * start again from the first while its report was already on its way. */
static void end_retries_done(struct relay *r, const struct ccp_msg *m, enum ccp_msg_state outcome)
{
	/* Still in new/: its move to Bad failed, and a rescan brings it back;
	 * the marker keeps what it has spent. */
	if (outcome == CCP_MSG_FAILED && ccp_spool_ino(r->spool, m->key) == 0)
		unlinkat(r->deferred_fd, m->key, 0);
}

static void relay_src_ack(void *ctx, unsigned dispatcher, struct ccp_msg *m,
			  enum ccp_msg_state outcome)
{
	struct relay *r = ctx;
	if (!end_retries(r, m, outcome))
		return;
	ccp_spool_source()->ack(r->spool, dispatcher, m, outcome);
	end_retries_done(r, m, outcome);
}

static void relay_src_ack_burst(void *ctx, unsigned dispatcher, struct ccp_msg *const *msgs,
				const enum ccp_msg_state *outcomes, unsigned n)
{
	struct relay *r = ctx;
	bool *stays = NULL; /* made at the first message end_retries() keeps */
	for (unsigned i = 0; i < n; i++)
		if (!end_retries(r, msgs[i], outcomes[i])) {
			if (stays == NULL)
				stays = ccp_calloc(n, sizeof(*stays));
			stays[i] = true;
		}
	if (stays == NULL) {
		ccp_spool_source()->ack_burst(r->spool, dispatcher, msgs, outcomes, n);
	} else {
		/* A store that cannot take a reason: rare, one at a time. */
		for (unsigned i = 0; i < n; i++)
			if (!stays[i])
				ccp_spool_source()->ack(r->spool, dispatcher, msgs[i], outcomes[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if (stays == NULL || !stays[i])
			end_retries_done(r, msgs[i], outcomes[i]);
	ccp_free(stays);
}

/*
 * Whether m, a message an earlier run deferred, was on its way to Bad when
 * that run was killed: to_bad() had written its reason (and its report,
 * and queued that) but not yet the spool's failed marker, so its reason
 * is in Bad and the message is not.  Given one more try, it could be
 * delivered while its report went out all the same, and the records stay
 * in Bad with no message, which no queue command sees.  So it goes to Bad
 * now, with no import: its retries ended (withheld_restore() likewise),
 * the reason the one written then (relay.unfailed, which end_retries()
 * takes), its report written and queued again (at least once, as every
 * report).  Another message of the same name in Bad is not this one's.
 */
static void bad_under_way(struct relay *r, struct ccp_msg *m)
{
	char rec[CCP_QUEUE_RECORD_NAME_MAX], reason[600];
	struct stat st;
	ccp_queue_record_name(rec, m->key, ".reason");
	if (fstatat(r->bad_fd, m->key, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return;
	bool not_regular = false;
	int fd = ccp_open_regular_at(r->bad_fd, rec, &not_regular);
	if (fd < 0)
		return;
	ssize_t n = read(fd, reason, sizeof(reason) - 1);
	close(fd);
	if (n <= 0)
		return;
	reason[n] = '\0';
	reason[strcspn(reason, "\n")] = '\0';
	if (reason[0] == '\0')
		return;
	hold_reason(r, &r->unfailed, m, reason);
	/* This claim makes no attempt of its own: the count it shows is the
	 * one it ended with. */
	if (m->attempts_before > 0)
		m->attempts_before--;
	m->retries_ended = 1;
	ccp_log(CCP_LOG_WARN, "message %s was on its way to Bad when the relay stopped (its "
		"reason is there): it goes there now, not tried again", m->key);
}

/*
 * A new record whose message an earlier run deferred: its attempts and age
 * come back from the Deferred/ marker (or, for one this run kept in the
 * spool after its retries ended, from memory: withhold()).  Runs in a poller, before the record
 * is visible; only for the keys whose markers were there at start (no
 * other message can have one).
 */
static void relay_src_init_msg(void *ctx, struct ccp_msg *m)
{
	struct relay *r = ctx;
	if (withheld_restore(r, m))
		return;
	/* Delivered in part, only its report held back (partial()): what an
	 * earlier claim spent is no longer the message's, and its age starts
	 * afresh, so that a marker's does not end each claim at once. */
	if (kept_get(r, &r->unreported, m, NULL))
		return;
	if (r->restore.n == 0 || !ccp_fpset_has(&r->restore, ccp_fp_of(m->key, m->key_len)))
		return;
	char text[CCP_QUEUE_DEFERRED_MAX];
	struct ccp_queue_deferred dm;
	if (!read_marker(r, m->key, text, sizeof(text)) || !ccp_queue_deferred_parse(text, &dm))
		return; /* none, or not a marker of ours: the message starts afresh */
	if (dm.first > 0 && dm.first <= (int64_t)time(NULL))
		m->age_before_s = age_before(m, dm.first);
	/* A damaged or hand-edited count cannot wrap the attempt number: the
	 * parse reads a larger one as CCP_QUEUE_ATTEMPTS_MAX. */
	m->attempts_before = dm.attempt;
	/* Past this run's limits already, it still gets one try before they
	 * end it, as an MTA's queue lifetime ends a message only after a
	 * failed delivery attempt: whatever failed may be mended.  Unless it
	 * was on its way to Bad. */
	bad_under_way(r, m);
}

static const struct ccp_source_ops relay_src_ops = {
	.wait = relay_src_wait,
	.poll = relay_src_poll,
	.init_msg = relay_src_init_msg,
	.ack = relay_src_ack,
	.ack_burst = relay_src_ack_burst,
	.settled = relay_src_settled,
};

/* ---- the run ------------------------------------------------------------ */

/* relay.lock holds this relay's pid (ccp_dir_lock()).  One that sends the
 * reports to senders says so on the next line: `ccpump queue
 * --resend-report` asks a running relay to send them only if it does
 * (ccp_queue_lock_sends_reports()). */
static void lock_note_reports(int lock_fd, const struct ccp_relay_config *cfg)
{
	static const char line[] = CCP_QUEUE_LOCK_SENDS_REPORTS "\n";
	struct stat st;
	if (cfg->bounce_cmd && fstat(lock_fd, &st) == 0 &&
	    pwrite(lock_fd, line, sizeof(line) - 1, st.st_size) != (ssize_t)sizeof(line) - 1) {
		/* The relay sends them all the same; `queue --resend-report`
		 * only says that it may not. */
	}
}

/*
 * A `queue --requeue` that died (a SIGKILL, a power loss) between moving a
 * message's records aside and moving the message leaves the message in Bad
 * and its records under temporary names that say what they are
 * (ccp_tmp_name_for(): the message's inode and ctime, the record, its
 * name).
 * Each is put back where that very message is still in Bad, untouched,
 * and nothing has taken the entry's name since; the rest (the message left
 * Bad: the requeue was done with it, or is now, by message_in_bad()) are
 * removed by the caller.  A requeue makes its aside names plain as soon as
 * the message is in new/, so none of them says to put anything back.
 */
static bool message_in_bad(const struct relay *r, const char *name, unsigned long long ino,
			   unsigned long long ctime_ns)
{
	struct stat st;
	/* Held open while it is looked at and perhaps removed: its inode
	 * number names it only while it is (ccp_unlink_if_same()). */
	int fd = openat(r->bad_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	bool in_bad = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	/* Still the very file the requeue found, untouched since: not one a
	 * relay put there after a later requeue, nor one renamed in. */
	if (in_bad && ((unsigned long long)st.st_ino != ino ||
		       (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
				       (unsigned long long)st.st_ctim.tv_nsec != ctime_ns))
		in_bad = false;
	/* Across file systems a requeue copies the message into the spool
	 * (its modification time kept), links it into new/, then removes it
	 * from Bad: one that died in between left it in both.  The spool's
	 * copy is the message then, and the requeue is finished here. */
	char path[PATH_MAX];
	struct stat sp;
	snprintf(path, sizeof(path), "%s/new/%s", r->cfg->spool, name);
	int nfd = in_bad ? ccp_dir_open_in(r->cfg->spool, "new") : -1;
	if (in_bad && nfd >= 0 && fstatat(nfd, name, &sp, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sp.st_mode) && copy_kept_times(&sp, &st) &&
	    (sp.st_dev != st.st_dev || sp.st_ino != st.st_ino)) {
		if (ccp_unlink_if_same(r->bad_fd, name, fd) == 0)
			ccp_log(CCP_LOG_WARN, "%s/%s removed: a requeue that did not finish had "
				"already put its copy into %s", r->bad, name, path);
		in_bad = false;
	}
	ccp_close_fds((const int[]){ fd, nfd }, 2);
	return in_bad;
}

static bool put_back(int dirfd, const char *dir, const char *aside, const char *what)
{
	if (ccp_rename_noreplace(dirfd, aside, dirfd, what) != 0)
		return false;
	ccp_log(CCP_LOG_WARN, "%s/%s put back: a requeue that did not finish had put it aside",
		dir, what);
	return true;
}

/* The name of the message in Bad that is the file (INO, CTIME_NS), into
 * NAME (CCP_QUEUE_RECORD_NAME_MAX octets): an aside of a name too long to
 * be written in it names the message by these alone.  False when none is. */
static bool find_in_bad(const struct relay *r, unsigned long long ino,
			unsigned long long ctime_ns, char *name)
{
	DIR *d = ccp_dir_reopen(r->bad_fd);
	struct dirent *de;
	struct stat st;
	bool found = false;
	while (!found && d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || ccp_queue_is_record(de->d_name) ||
		    (de->d_type != DT_UNKNOWN && de->d_type != DT_REG) ||
		    fstatat(r->bad_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if ((unsigned long long)st.st_ino == ino &&
		    (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
				    (unsigned long long)st.st_ctim.tv_nsec == ctime_ns) {
			snprintf(name, CCP_QUEUE_RECORD_NAME_MAX, "%s", de->d_name);
			found = true;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* What an aside name holds: WHAT is "INO.CTIME" (the message as the
 * requeue found it, in hex), the suffix of the record it holds (none for
 * the queued report), '~' and the message's name, or nothing for a name
 * too long to be written there (queuectl.c's aside_name()).  Returns the
 * name, from WHAT or found in Bad (into NAMEBUF), and sets *RECORD to the
 * suffix's index in ccp_queue_record_suffixes, or -1 for the report; NULL
 * for another form, or a message no longer in Bad. */
static const char *aside_of(const struct relay *r, const char *what, unsigned long long *ino,
			    unsigned long long *ctime_ns, int *record, char *namebuf)
{
	int used = 0;
	if (sscanf(what, "%llx.%llx%n", ino, ctime_ns, &used) != 2 || used == 0)
		return NULL;
	const char *suffix = what + used, *tilde = strchr(suffix, '~');
	if (tilde == NULL)
		return NULL;
	size_t len = (size_t)(tilde - suffix);
	*record = -1;
	for (int i = 0; len && i < CCP_QUEUE_RECORDS; i++)
		if (strlen(ccp_queue_record_suffixes[i]) == len &&
		    memcmp(ccp_queue_record_suffixes[i], suffix, len) == 0)
			*record = i;
	if (len && *record < 0)
		return NULL;
	if (tilde[1])
		return tilde + 1;
	return find_in_bad(r, *ino, *ctime_ns, namebuf) ? namebuf : NULL;
}

/* The message the aside WHAT of a record (REPORT false) or of the queued
 * report (true) belongs to, while it is still in Bad as the requeue found
 * it (message_in_bad()); its record's index in *RECORD.  NULL otherwise. */
static const char *aside_message(const struct relay *r, const char *what, bool report,
				 int *record, char *namebuf)
{
	unsigned long long ino, ctime_ns;
	const char *name = aside_of(r, what, &ino, &ctime_ns, record, namebuf);
	if (name == NULL || (*record < 0) != report)
		return NULL;
	return message_in_bad(r, name, ino, ctime_ns) ? name : NULL;
}

static bool put_back_record(void *arg, const char *aside, const char *what)
{
	const struct relay *r = arg;
	int i;
	char found[CCP_QUEUE_RECORD_NAME_MAX], rec[CCP_QUEUE_RECORD_NAME_MAX];
	const char *name = aside_message(r, what, false, &i, found);
	if (name == NULL)
		return false;
	ccp_queue_record_name(rec, name, ccp_queue_record_suffixes[i]);
	return put_back(r->bad_fd, r->bad, aside, rec);
}

static bool put_back_report(void *arg, const char *aside, const char *what)
{
	const struct relay *r = arg;
	int i;
	char found[CCP_QUEUE_RECORD_NAME_MAX];
	const char *name = aside_message(r, what, true, &i, found);
	return name && put_back(r->bounce_fd, r->bounce, aside, name);
}

/* Batches left by a crash: their spool files are still in new/, so they are
 * relayed again; the leftover files are removed. */
static void clear_leftovers(int dirfd, const char *path)
{
	unsigned n = ccp_dir_remove_prefixed(dirfd, "Msg");
	if (n)
		ccp_log(CCP_LOG_INFO, "removed %u unfinished batch files from %s", n, path);
}

/* Deferral markers of an earlier run stay for the messages still waiting in
 * new/ (their attempts and age carry over: relay_src_init_msg, which looks
 * only for the keys noted here); a marker whose message has left the spool
 * is removed. */
static void keep_markers(struct relay *r, const char *spool)
{
	char *newdir = ccp_path_join(spool, "new");
	int nfd = ccp_dir_open_in(spool, "new");
	if (nfd < 0) {
		/* Which messages still wait is not known (new/ not mounted yet,
		 * not ours, not a directory): every marker stays.  The spool's
		 * own open says what is wrong. */
		ccp_free(newdir);
		return;
	}
	DIR *dir = ccp_dir_reopen(r->deferred_fd);
	struct dirent *de;
	unsigned kept = 0, gone = 0;
	struct stat st;
	while (dir && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.') {
			/* A marker a crash left half made (ccp_store_write()). */
			if (strncmp(de->d_name, CCP_TMP_PREFIX, strlen(CCP_TMP_PREFIX)) == 0)
				unlinkat(r->deferred_fd, de->d_name, 0);
			continue;
		}
		if (fstatat(nfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
			/* Waiting still, or not known to have gone: kept. */
			ccp_fpset_add(&r->restore, ccp_fp_of(de->d_name, strlen(de->d_name)));
			kept++;
		} else if (unlinkat(r->deferred_fd, de->d_name, 0) == 0) {
			gone++;
		}
	}
	if (dir)
		closedir(dir);
	close(nfd);
	if (kept || gone)
		ccp_log(CCP_LOG_INFO, "%s: %u messages deferred by an earlier run keep their "
			"attempts and age; %u markers of messages no longer waiting removed",
			r->deferred, kept, gone);
	ccp_free(newdir);
}

/* The messages delivered, each once: the pump's DELIVERED verdicts less
 * the files that a marker settled again (one that cannot leave new/ is
 * claimed at every rescan) and those whose read found no file (settled as
 * delivered, with nothing delivered: a scan's note of a file already
 * gone, an entry swapped for one that is no file).  Those are counted
 * when the file is read, the verdict when the batch is settled: while a
 * batch is in hand this reads low by them, exact once the pump is done. */
static uint64_t delivered_now(struct relay *r, const struct ccp_pump_stats *ps)
{
	uint64_t none = atomic_load(&r->resettled) + atomic_load(&r->vanished);
	return ps->delivered > none ? ps->delivered - none : 0;
}

/* What the stats line and the stats file say, taken at once; *last holds
 * the previous snapshot's time and count of delivered messages, for the
 * rate since then. */

static void stats_take(struct relay *r, struct ccp_pump *pump, uint64_t last[2],
		       struct ccp_relay_snap *s)
{
	ccp_pump_stats(pump, &s->ps);
	ccp_spool_stats(r->spool, &s->ss);
	/* Never less than the last snapshot's, which a batch in hand could
	 * make it (delivered_now()). */
	s->delivered = delivered_now(r, &s->ps);
	if (s->delivered < last[1])
		s->delivered = last[1];
	uint64_t now = ccp_now_ns();
	s->rate = now > last[0] ? (double)(s->delivered - last[1]) * 1e9 / (double)(now - last[0])
				: 0.0;
	last[0] = now;
	last[1] = s->delivered;
	s->pause_reason[0] = '\0';
	s->paused_ns = ccp_gate_paused_for(&r->gate, s->pause_reason, sizeof(s->pause_reason));
	s->duplicates = atomic_load(&r->duplicates);
	s->bad = atomic_load(&r->bad_count);
	s->partial = atomic_load(&r->partial_count);
	s->imports = atomic_load(&r->imports);
	s->import_failures = atomic_load(&r->import_failures);
	s->reports_waiting = r->bounce ? (int64_t)ccp_dir_count_names(r->bounce) : -1;
}

/* ccp_relay_request_flush(): deferred messages due now, a paused delivery
 * tried at once, the reports to senders tried again, and a line saying
 * so. */
static void relay_flush_now(struct relay *r, struct ccp_pump *pump)
{
	struct ccp_pump_stats ps;
	ccp_pump_stats(pump, &ps);
	ccp_pump_retry_now(pump);
	ccp_bouncer_flush(r->bouncer);
	uint64_t paused = ccp_gate_try_now(&r->gate);
	if (paused)
		ccp_log(CCP_LOG_INFO, "relay: flush: retrying %llu deferred messages now; deliveries "
			"paused for %.0f s: trying a batch now", (unsigned long long)ps.waiting_retry,
			(double)paused / 1e9);
	else
		ccp_log(CCP_LOG_INFO, "relay: flush: retrying %llu deferred messages now",
			(unsigned long long)ps.waiting_retry);
}

/* A stats line and, with --stats-file, the file. */
static void stats_report(struct relay *r, struct ccp_pump *pump, uint64_t last[2], bool done)
{
	struct ccp_relay_snap s;
	stats_take(r, pump, last, &s);
	ccp_relay_snap_log(&s);
	if (r->cfg->stats_file)
		ccp_relay_snap_write(r->cfg->stats_file, &s,
				     done ? "done" : s.paused_ns ? "paused" : "running");
}

/*
 * --once ends when what is left cannot be done now.  A pause of all
 * deliveries (the gate) ends it past --retry-max; so must messages that
 * are only postponed one by one (a file on a failing sector, the process
 * out of descriptors), which are not attempts, so --max-attempts never
 * ends them, and which pause nothing.  only_postponed() says when, for
 * more than twice --retry-max, messages waited and none was delivered,
 * failed or deferred for an attempt (a counted retry comes within
 * --retry-max), while postponements went on, and now none is in the ring
 * or a batch.
 */
struct once_watch {
	uint64_t progress, postponed, since_ns, waiting;
};

static bool only_postponed(struct once_watch *w, struct ccp_pump *pump,
			   const struct ccp_relay_config *cfg)
{
	struct ccp_pump_stats ps;
	ccp_pump_stats(pump, &ps);
	uint64_t now = ccp_now_ns();
	uint64_t progress = ps.delivered + ps.failed + (ps.deferred - ps.postponed);
	if (progress != w->progress || w->since_ns == 0) {
		w->progress = progress;
		w->postponed = ps.postponed;
		w->since_ns = now;
		return false;
	}
	/* A postponed message's retry is in a batch for a moment: that is
	 * no progress, but a batch that is there when the time is up may be
	 * an import that takes long; it is waited for. */
	w->waiting = ps.waiting_retry;
	return ps.waiting_retry > 0 && ps.in_ring == 0 && ps.in_flight == 0 &&
	       ps.postponed > w->postponed && now - w->since_ns > 2 * cfg->pump.retry_max_ns;
}

/* PATH as the relay will find it once it has made what is missing: the
 * longest leading part that is there resolved (links, "..", relative to
 * the working directory), and the names after it added as they will be
 * made.  Not only the last name may be missing: the relay makes the spool
 * before the store, so a store given as "SPOOL/store" (or through a link
 * to the spool's parent) for a spool not made yet lies inside it all the
 * same.  The names that are not there yet cannot be links, so they are
 * added as they read ("." dropped, ".." taking one back: a path that
 * needs a missing folder's ".." cannot be made anyway).  Else, as given.
 * OUT holds PATH_MAX octets. */
static void resolved_path(const char *path, char *out)
{
	char copy[PATH_MAX], cur[PATH_MAX], next[PATH_MAX], res[PATH_MAX];
	if (realpath(path, out))
		return;
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(copy) || (path[0] != '/' && realpath(".", cur) == NULL)) {
		snprintf(out, PATH_MAX, "%s", path);
		return;
	}
	memcpy(copy, path, len + 1);
	if (path[0] == '/')
		memcpy(cur, "/", 2);
	bool there = true;
	char *save = NULL;
	for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (strcmp(name, ".") == 0)
			continue;
		size_t cl = strcmp(cur, "/") != 0 ? strlen(cur) : 0, nl = strlen(name);
		if (cl + 1 + nl >= sizeof(next)) {
			snprintf(out, PATH_MAX, "%s", path);
			return;
		}
		memcpy(next, cur, cl);
		next[cl] = '/';
		memcpy(next + cl + 1, name, nl + 1);
		/* Into a buffer of its own: a failed realpath() may leave a
		 * part of its path in it. */
		if (there && realpath(next, res)) {
			memcpy(cur, res, strlen(res) + 1);
			continue;
		}
		there = false;
		if (strcmp(name, "..") == 0) {
			char *slash = strrchr(cur, '/');
			slash[slash == cur] = '\0'; /* "/a" -> "/", "/a/b" -> "/a" */
		} else {
			memcpy(cur, next, strlen(next) + 1);
		}
	}
	memcpy(out, cur, strlen(cur) + 1);
}

/* Whether the resolved path A is B or inside it. */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/'));
}

/* Whether DIR/NAME is a directory. */
static bool is_dir_in(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path) &&
	       stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A spool given as a Maildir's new/ (or cur/, tmp/) rather than the
 * Maildir: the relay would make new/, cur/ and tmp/ inside it and watch
 * those, while the MTA delivers beside them, and no message would ever be
 * relayed, without a word.  Refused when the folder above holds all three,
 * as a Maildir does.  SPOOL is --spool resolved (resolved_path()). */
static int check_spool_is_maildir(const struct ccp_relay_config *cfg, const char *spool,
				  char *err, size_t errlen)
{
	char above[PATH_MAX];
	snprintf(above, sizeof(above), "%s", spool);
	char *slash = strrchr(above, '/');
	if (slash == NULL || slash == above)
		return 0;
	const char *base = spool + (slash - above) + 1;
	if (strcmp(base, "new") != 0 && strcmp(base, "cur") != 0 && strcmp(base, "tmp") != 0)
		return 0;
	*slash = '\0';
	if (!is_dir_in(above, "new") || !is_dir_in(above, "cur") || !is_dir_in(above, "tmp"))
		return 0;
	snprintf(err, errlen, "--spool %s is the %s/ folder of the Maildir %s: give the Maildir "
		 "itself", cfg->spool, base, above);
	return -1;
}

/* The spool is a Maildir that an MTA fills: the store and the post office
 * are made beside it, not in it, and are two directories.  (One path given
 * for two flags would mix the relay's folders into the spool, or a store
 * into the post office; the store in the spool's new/ is taken for mail.)
 * And the spool is the Maildir, not a folder of one.  Leaves the spool's
 * resolved path in SPOOL. */
static int check_paths(const struct ccp_relay_config *cfg, char spool[PATH_MAX], char *err,
		       size_t errlen)
{
	char store[PATH_MAX], po[PATH_MAX];
	/* An unset variable in a unit file or a cron line: said as such, not
	 * as the working directory's fault. */
	const char *const named[3][2] = { { "--spool", cfg->spool }, { "--store", cfg->store },
					  { "--po", cfg->po } };
	for (int i = 0; i < 3; i++)
		if (named[i][1] && named[i][1][0] == '\0') {
			snprintf(err, errlen, "%s '': no directory given", named[i][0]);
			return -1;
		}
	resolved_path(cfg->spool, spool);
	resolved_path(cfg->store, store);
	if (path_within(store, spool)) {
		snprintf(err, errlen, "--store %s is the spool (--spool %s) or inside it: the "
			 "relay's store must be apart from the Maildir", cfg->store, cfg->spool);
		return -1;
	}
	if (cfg->po != NULL) {
		resolved_path(cfg->po, po);
		if (path_within(po, spool)) {
			snprintf(err, errlen, "--po %s is the spool (--spool %s) or inside it: the "
				 "post office must be apart from the Maildir", cfg->po, cfg->spool);
			return -1;
		}
		if (strcmp(po, store) == 0) {
			snprintf(err, errlen,
				 "--po %s and --store %s are one directory: give each its own",
				 cfg->po, cfg->store);
			return -1;
		}
	}
	return check_spool_is_maildir(cfg, spool, err, errlen);
}

/* A file the relay writes beside its work (the stats file, the log): in
 * the spool it would be taken for mail, sent to Bad at every write; on
 * the other, each stats write would rename over the log. */
static int check_side_file(const char *flag, const char *path, const char *spool, char *err,
			   size_t errlen)
{
	char at[PATH_MAX];
	if (path == NULL || path[0] == '\0')
		return 0; /* an empty stats file is refused with its own words */
	resolved_path(path, at);
	if (path_within(at, spool)) {
		snprintf(err, errlen, "%s %s is inside the spool (--spool): the relay would take "
			 "it for mail; write it elsewhere", flag, path);
		return -1;
	}
	return 0;
}

int ccp_relay_check_paths(const struct ccp_relay_config *cfg, const char *log_path, char *err,
			  size_t errlen)
{
	char spool[PATH_MAX];
	if (check_paths(cfg, spool, err, errlen) != 0)
		return -1;
	if (check_side_file("--stats-file", cfg->stats_file, spool, err, errlen) != 0 ||
	    check_side_file("--log", log_path, spool, err, errlen) != 0)
		return -1;
	if (log_path && log_path[0] && cfg->stats_file && cfg->stats_file[0]) {
		char a[PATH_MAX], b[PATH_MAX];
		resolved_path(log_path, a);
		resolved_path(cfg->stats_file, b);
		if (strcmp(a, b) == 0) {
			snprintf(err, errlen, "--log %s and --stats-file %s are one file: each stats "
				 "write would replace the log", log_path, cfg->stats_file);
			return -1;
		}
	}
	return 0;
}

static int relay_run(const struct ccp_relay_config *cfg, struct ccp_relay_stats *st, char *err,
		     size_t errlen)
{
	struct relay r;
	int rc = 2, store_lock = -1, spool_lock = -1;
	struct ccp_pump *pump = NULL;
	/* Taken before the --map files are first read: a reload asked for
	 * after that (a SIGHUP while the relay starts) is acted on. */
	unsigned reload_seen = atomic_load_explicit(&relay_reload, memory_order_relaxed);

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.convert = cfg->convert;
	if (cfg->bounce_from && !ccp_bounce_address_usable(cfg->bounce_from)) {
		snprintf(err, errlen, "--bounce-from %s: not an address (local@domain, no spaces "
			 "or quotes)", cfg->bounce_from);
		return 2;
	}
	if (cfg->bounce_from)
		snprintf(r.bounce_from, sizeof(r.bounce_from), "%s", cfg->bounce_from);
	else
		ccp_bounce_default_from(r.bounce_from, sizeof(r.bounce_from));
	ccp_gate_init(&r.gate, cfg->pump.retry_min_ns, cfg->pump.retry_max_ns, &relay_stop);
	pthread_mutex_init(&r.kept_mu, NULL);
	pthread_mutex_init(&r.map_mu, NULL);
	ccp_fpmap_init(&r.withheld.map, sizeof(struct withheld));
	ccp_fpmap_init(&r.unreported.map, sizeof(struct held_reason));
	ccp_fpmap_init(&r.unfailed.map, sizeof(struct held_reason));
	ccp_fpmap_init(&r.refused.map, sizeof(struct held_reason));
	r.submit_fd = r.import_fd = r.bad_fd = r.deferred_fd = r.partial_fd = r.bounce_fd = -1;
	if (cfg->spool == NULL || cfg->store == NULL || (cfg->po == NULL && cfg->import_cmd == NULL)) {
		snprintf(err, errlen, "a relay needs --spool, --store and --po (or --import-cmd)");
		return 2;
	}
	/* What is missing is made, as on a first run: the spool and the store
	 * (their parents must exist), and the post office with po init's
	 * defaults.  Something else in their place is an error, found before
	 * anything is made; what was made is logged once the relay is up. */
	struct stat sst;
	const char *const dirs[3][2] = { { "spool", cfg->spool }, { "store", cfg->store },
					 { "post office", cfg->po } };
	for (int i = 0; i < 3; i++)
		if (dirs[i][1] && stat(dirs[i][1], &sst) == 0 && !S_ISDIR(sst.st_mode)) {
			snprintf(err, errlen, "%s %s: not a directory", dirs[i][0], dirs[i][1]);
			return 2;
		}
	if (ccp_relay_check_paths(cfg, NULL, err, errlen) != 0)
		return 2;
	if (ccp_relay_check_memory(cfg, err, errlen) != 0)
		return 2;
	/* The code page's converter, which every dispatcher makes: one that
	 * iconv cannot give (glibc's gconv modules not installed, a wrong
	 * GCONV_PATH, as in a bare container) is said now, in one line, not
	 * met by the first batch. */
	struct ccp_convert *probe = ccp_convert_new(&cfg->convert);
	if (probe == NULL) {
		snprintf(err, errlen, "cannot convert to code page %d: iconv has no converter for it "
			 "(%s); glibc's gconv modules must be installed (IBM%d.so), or GCONV_PATH "
			 "name their folder", (int)cfg->convert.codepage, strerror(errno),
			 (int)cfg->convert.codepage);
		return 2;
	}
	ccp_convert_free(probe);
	/* A stats file that could never be written is a mistake in the flags:
	 * said now, not once deliveries have begun. */
	if (cfg->stats_file && ccp_relay_snap_file_check(cfg->stats_file, err, errlen) != 0)
		return 2;
	bool made[3] = { false, false, false }; /* spool, store, post office */
	for (int i = 0; i < 2; i++) {
		if (mkdir(dirs[i][1], 0700) == 0)
			made[i] = true;
		else if (errno != EEXIST) {
			snprintf(err, errlen, "%s %s: %s", dirs[i][0], dirs[i][1], strerror(errno));
			return 2;
		}
	}
	r.submit = ccp_path_join(cfg->store, "Submit");
	r.import = ccp_path_join(cfg->store, "Import");
	r.bad = ccp_path_join(cfg->store, "Bad");
	r.deferred = ccp_path_join(cfg->store, "Deferred");
	r.partial = ccp_path_join(cfg->store, "Partial");
	char *quarantine = ccp_path_join(cfg->store, "Quarantine");
	char *delivered = ccp_path_join(cfg->store, "Delivered");
	/* One relay per store and per spool: a second would remove the first's
	 * batches in flight as a crash's leftovers, and race it for every
	 * file.  Taken before anything in them is touched. */
	if ((store_lock = ccp_dir_lock(cfg->store, "relay.lock", "store", NULL, err, errlen)) < 0)
		goto out;
	/* Another relay on the spool is a setup to fix: refused.  A process
	 * that is no relay (a backup's flock, a user who may read the spool)
	 * is waited out instead, the store's lock held meanwhile: refused, the
	 * relay would stay down (the shipped unit does not restart on status
	 * 2) with the mail waiting for a person.  --once refuses: the next
	 * run tries again. */
	bool foreign, waited = false;
	while ((spool_lock = ccp_dir_lock(cfg->spool, NULL, "spool", &foreign, err, errlen)) < 0) {
		if (!foreign || cfg->once)
			goto out;
		if (!waited)
			ccp_log(CCP_LOG_ERROR, "relay: %s; waiting for it to let go (tried again every "
				"second)", err);
		waited = true;
		if (nap_until(ccp_now_ns() + 1000000000u, 50000000u)) {
			ccp_log(CCP_LOG_INFO, "relay: stopped while waiting for the spool's lock: "
				"nothing was relayed");
			if (st)
				memset(st, 0, sizeof(*st));
			rc = 0;
			goto out;
		}
	}
	if (waited)
		ccp_log(CCP_LOG_INFO, "relay: spool %s: its lock is ours now", cfg->spool);
	lock_note_reports(store_lock, cfg);
	if (cfg->nmap_files) {
		char merr[600];
		if ((r.map = relay_map_read(cfg, merr, sizeof(merr))) == NULL) {
			snprintf(err, errlen, "--map: %s", merr);
			goto out;
		}
		ccp_log(CCP_LOG_INFO, "relay: %zu --map files read: %zu native domains, %zu users",
			cfg->nmap_files, ccp_convert_map_natives(r.map->map),
			ccp_convert_map_users(r.map->map));
	}
	if ((r.submit_fd = ccp_dir_ensure_open(r.submit, err, errlen)) < 0 ||
	    (r.import_fd = ccp_dir_ensure_open(r.import, err, errlen)) < 0 ||
	    (r.bad_fd = ccp_dir_ensure_open(r.bad, err, errlen)) < 0 ||
	    (r.deferred_fd = ccp_dir_ensure_open(r.deferred, err, errlen)) < 0 ||
	    (r.partial_fd = ccp_dir_ensure_open(r.partial, err, errlen)) < 0)
		goto out;
	clear_leftovers(r.submit_fd, r.submit);
	clear_leftovers(r.import_fd, r.import);
	/* Bad/ and Partial/ records a crash left half made (ccp_store_write());
	 * keep_markers() removes Deferred/'s as it reads the markers.  First,
	 * the records a requeue put aside and did not finish with: back, for
	 * a message still in Bad. */
	ccp_dir_stale_asides(r.bad_fd, put_back_record, &r);
	ccp_dir_remove_stale_tmp(r.bad_fd);
	ccp_dir_remove_stale_tmp(r.partial_fd);
	keep_markers(&r, cfg->spool);
	if (cfg->bounce_cmd) {
		r.bounce = ccp_path_join(cfg->store, "Bounce");
		if ((r.bounce_fd = ccp_dir_ensure_open(r.bounce, err, errlen)) < 0)
			goto out;
		/* A report a crashed `queue --requeue` had taken aside: back,
		 * for a message still in Bad; else removed. */
		ccp_dir_stale_asides(r.bounce_fd, put_back_report, &r);
		ccp_dir_remove_stale_tmp(r.bounce_fd);
		if ((r.bouncer = ccp_bouncer_start(cfg->bounce_cmd, r.bounce, r.bounce_fd,
						   cfg->pump.retry_min_ns, cfg->pump.retry_max_ns,
						   cfg->sync, &relay_stop, err, errlen)) == NULL)
			goto out;
	}

	if (cfg->import_cmd == NULL) {
		struct ccp_po_opts po;
		ccp_po_opts_default(&po);
		po.sync = cfg->sync;
		char poerr[512];
		struct stat pst;
		if (stat(cfg->po, &pst) != 0 && errno == ENOENT) {
			struct ccp_po_init_opts io;
			ccp_po_init_opts_default(&io);
			if (ccp_po_init(cfg->po, &io, poerr, sizeof(poerr)) != 0) {
				snprintf(err, errlen, "%s", poerr);
				goto out;
			}
			made[2] = true;
		}
		if (ccp_po_open(cfg->po, &po, &r.po, poerr, sizeof(poerr)) != 0) {
			snprintf(err, errlen, "%s", poerr);
			goto out;
		}
		ccp_po_import_limits(r.po, &r.convert.addr_buffer, &r.convert.import8);
		/* After a crash the relay hands in again at most what was in
		 * flight; the post office skips it only while it remembers it. */
		struct ccp_po_index_usage u;
		ccp_po_index_usage(r.po, &u);
		uint64_t in_flight = (uint64_t)cfg->pump.dispatchers * cfg->pump.batch;
		if (in_flight * RELAY_RCPT_PER_MSG > u.window)
			ccp_log(CCP_LOG_WARN, "%s: the post office remembers %zu delivered pairs "
				"(dedup_window in po.conf), and %u dispatchers x batch %u can hold "
				"%llu messages: after a crash, if those average more than %llu "
				"recipients, some could be delivered twice; raise dedup_window",
				cfg->po, u.window, cfg->pump.dispatchers, cfg->pump.batch,
				(unsigned long long)in_flight,
				(unsigned long long)(u.window / in_flight));
	}
	struct ccp_spool_config sc = { .dir = cfg->spool, .pollers = cfg->pump.pollers,
				       .rescan_interval_ns = cfg->rescan_interval_ns,
				       .keep = cfg->keep, .failed_dir = r.bad,
				       .quarantine_dir = quarantine, .delivered_dir = delivered,
				       .read_hook = cfg->read_hook,
				       .read_hook_arg = cfg->read_hook_arg,
				       .before_failed = keep_older_for_spool,
				       .before_failed_arg = &r };
	r.spool = ccp_spool_open(&sc, err, errlen);
	if (r.spool == NULL)
		goto out;

	r.disp = ccp_aligned_alloc(CCP_CACHE_GUARD, cfg->pump.dispatchers * sizeof(*r.disp));
	memset(r.disp, 0, cfg->pump.dispatchers * sizeof(*r.disp));
	for (unsigned i = 0; i < cfg->pump.dispatchers; i++) {
		r.disp[i].r = &r;
		r.disp[i].id = i;
		r.disp[i].seq = (uint64_t)time(NULL) << 8;
		ccp_ccm_buf_init_aligned(&r.disp[i].ccm, DIRECT_ALIGN);
		ccp_ccm_buf_init(&r.disp[i].read_why);
		ccp_ccm_buf_init(&r.disp[i].reason_u8);
	}
	struct ccp_sink_ops sink = { .deliver = relay_deliver };
	struct ccp_pump_config pc = cfg->pump;
	pc.user_size = ccp_spool_user_size();
	pump = ccp_pump_create(&pc, &relay_src_ops, &r, &sink, &r, err, errlen);
	if (pump == NULL)
		goto out;
	if (made[0])
		ccp_log(CCP_LOG_INFO, "relay: spool %s created", cfg->spool);
	if (made[1])
		ccp_log(CCP_LOG_INFO, "relay: store %s created", cfg->store);
	if (made[2])
		ccp_log(CCP_LOG_INFO, "relay: post office %s initialised (ccpump po init's "
			"defaults)", cfg->po);
	/* The spool's lock is a flock on its directory, which anyone who may
	 * read the directory can take too, and keep the next relay from
	 * starting.  Writers need only search it (a Maildir's writer creates
	 * in tmp/ and renames into new/).  Said once the relay is up: a
	 * refusal stays one line. */
	struct stat lst;
	if (fstat(spool_lock, &lst) == 0 && (lst.st_mode & S_IROTH))
		ccp_log(CCP_LOG_WARN, "relay: spool %s is readable by every user (mode %04o): any "
			"of them can hold its lock and keep a relay from starting; writers need "
			"only search it (chmod o-r)", cfg->spool, (unsigned)(lst.st_mode & 07777));
	/* new/ itself, through the spool's own descriptor of it. */
	char said[800]; /* a warning's reason; paths may be long */
	struct stat nst;
	bool new_stat = ccp_spool_stat(r.spool, ".", &nst) == 0;
	if (new_stat &&
	    ccp_hardlink_exposed("/proc/sys/fs/protected_hardlinks", &nst, geteuid(), said,
				 sizeof(said)))
		ccp_log(CCP_LOG_WARN, "relay: spool %s/new: %s", cfg->spool, said);
	/* With --keep delivered files are renamed, not removed: no discard
	 * on the relay's path. */
	if (new_stat && !cfg->keep &&
	    ccp_mount_discards("/proc/self/mountinfo", nst.st_dev, said, sizeof(said)))
		ccp_log(CCP_LOG_WARN, "relay: spool %s is on %s", cfg->spool, said);
	ccp_log(CCP_LOG_INFO, "relay: spool %s -> %s (%s), %u pollers, %u dispatchers, batch %u%s",
		cfg->spool, cfg->import_cmd ? cfg->import_cmd : cfg->po,
		cfg->import_cmd ? "external import" : "post office", cfg->pump.pollers,
		cfg->pump.dispatchers, cfg->pump.batch, cfg->once ? ", once" : "");
	int started = ccp_pump_start(pump);
	if (started != 0) {
		snprintf(err, errlen, "cannot start %u pollers and %u dispatchers: %s",
			 cfg->pump.pollers, cfg->pump.dispatchers, strerror(-started));
		goto out;
	}
	if (cfg->once)
		ccp_spool_finish(r.spool, true);
	uint64_t next_stats = ccp_now_ns() + cfg->stats_interval_ns;
	uint64_t last_stats[2] = { ccp_now_ns(), 0 };
	bool stopping = false, gave_up = false, lost = false;
	uint64_t next_dir_check = 0;
	struct once_watch once_watch = { 0 };
	unsigned flush_seen = atomic_load_explicit(&relay_flush, memory_order_relaxed);
	while (!ccp_pump_done(pump)) {
		ccp_sleep_ns(50000000u);
		/* A cron job's run does not wait out an outage: past --retry-max
		 * paused, it stops and leaves the mail for the next run. */
		char why[600];
		uint64_t paused = cfg->once && !stopping ? ccp_gate_paused_for(&r.gate, why, sizeof(why)) : 0;
		uint64_t unscanned = ccp_spool_scan_failing_since(r.spool);
		if (paused > cfg->pump.retry_max_ns) {
			ccp_log(CCP_LOG_ERROR, "relay: deliveries paused for %.0f s (%s): stopping; the "
				"messages stay in the spool for the next run", (double)paused / 1e9, why);
			gave_up = true;
			ccp_relay_request_stop();
		} else if (cfg->once && !stopping && unscanned &&
			   ccp_now_ns() - unscanned > cfg->pump.retry_max_ns) {
			/* No scan, so no end of one: --once would wait for ever. */
			ccp_log(CCP_LOG_ERROR, "relay: the spool could not be scanned for %.1f s: "
				"stopping; its messages stay for the next run",
				(double)(ccp_now_ns() - unscanned) / 1e9);
			gave_up = true;
			ccp_relay_request_stop();
		} else if (cfg->once && !stopping && only_postponed(&once_watch, pump, cfg)) {
			ccp_log(CCP_LOG_ERROR, "relay: %llu messages only postponed (files the machine "
				"cannot read now), nothing else done, for %.1f s: stopping; they stay in "
				"the spool for the next run",
				(unsigned long long)once_watch.waiting,
				(double)(ccp_now_ns() - once_watch.since_ns) / 1e9);
			gave_up = true;
			ccp_relay_request_stop();
		}
		/* The spool, the store or the post office moved away under us:
		 * stop, so that a restart (by systemd, or the operator) opens the
		 * directories the mail now goes from and to. */
		const char *gone = NULL;
		if (!stopping && !lost && ccp_now_ns() >= next_dir_check) {
			next_dir_check = ccp_now_ns() + 1000000000ull;
			gone = ccp_spool_lost(r.spool) ? "spool"
			       : !ccp_fd_is_path(r.bad_fd, r.bad) ? "store"
			       : r.po && !ccp_po_still_there(r.po) ? "post office"
								  : NULL;
		}
		if (gone) {
			ccp_log(CCP_LOG_ERROR, "relay: the %s was moved, removed or replaced: stopping; "
				"start the relay again to relay from and to the directories now there",
				gone);
			lost = true;
			ccp_relay_request_stop();
		}
		/* Relaxed: a flag, no data hangs on it. */
		if (atomic_exchange_explicit(&r.resumed, 0, memory_order_relaxed))
			ccp_pump_retry_postponed_now(pump);
		unsigned flush = atomic_load_explicit(&relay_flush, memory_order_relaxed);
		if (flush != flush_seen) {
			flush_seen = flush;
			relay_flush_now(&r, pump);
		}
		unsigned reload = atomic_load_explicit(&relay_reload, memory_order_relaxed);
		if (reload != reload_seen) {
			reload_seen = reload;
			relay_reload_now(&r);
		}
		if (!stopping && atomic_load_explicit(&relay_stop, memory_order_relaxed)) {
			/* The batches in hand finish; what is only queued stays in
			 * the spool, as a restart would find it anyway: a stop
			 * takes one batch's time, not the ring's (a slow import
			 * program would otherwise outlast systemd's stop timeout
			 * and be killed in the middle of a batch). */
			ccp_spool_finish(r.spool, false);
			ccp_pump_stop_leaving_queued(pump);
			/* Logged once asked: a batch that ends after this line
			 * hands no other to the sink (test_relay_spool.sh, 3e3c). */
			ccp_log(CCP_LOG_INFO, "relay: stopping: finishing the batches in flight; "
				"queued messages stay in the spool");
			stopping = true;
		}
		if (cfg->stats_interval_ns && ccp_now_ns() >= next_stats) {
			stats_report(&r, pump, last_stats, false);
			next_stats += cfg->stats_interval_ns;
		}
	}
	ccp_pump_wait(pump);
	/* --once sends what reports it can before it exits; a stop leaves
	 * them queued for the next run. */
	ccp_bouncer_stop(r.bouncer, cfg->once && !stopping);
	r.bouncer = NULL;
	stats_report(&r, pump, last_stats, true);
	if (st) {
		memset(st, 0, sizeof(*st));
		ccp_pump_stats(pump, &st->pump);
		struct ccp_spool_stats ss;
		ccp_spool_stats(r.spool, &ss);
		st->imports = atomic_load(&r.imports);
		st->import_failures = atomic_load(&r.import_failures);
		st->batches_written = atomic_load(&r.batches);
		st->delivered = delivered_now(&r, &st->pump);
		st->duplicates = atomic_load(&r.duplicates);
		st->bad = atomic_load(&r.bad_count);
		st->partial = atomic_load(&r.partial_count);
		st->vanished = atomic_load(&r.vanished);
		st->withheld = atomic_load_explicit(&r.withheld.n, memory_order_relaxed);
		st->unreported = atomic_load_explicit(&r.unreported.n, memory_order_relaxed);
		st->quarantined = ss.quarantined;
		st->changed = ss.changed;
		st->changed_after = ss.changed_after;
		st->gave_up_paused = gave_up;
		st->spool_lost = lost;
	}
	rc = 0;
out:
	ccp_pump_destroy(pump);
	ccp_bouncer_stop(r.bouncer, false);
	if (r.disp) {
		for (unsigned i = 0; i < cfg->pump.dispatchers; i++) {
			ccp_convert_free(r.disp[i].conv);
			ccp_ccm_buf_free(&r.disp[i].reason_u8);
			relay_map_put(&r, r.disp[i].map);
			ccp_ccm_buf_free(&r.disp[i].ccm);
			ccp_free(r.disp[i].in);
			ccp_free(r.disp[i].included);
			ccp_free(r.disp[i].changed);
			ccp_free(r.disp[i].read_at);
			ccp_ccm_buf_free(&r.disp[i].read_why);
		}
		ccp_free(r.disp);
	}
	ccp_spool_close(r.spool);
	if (r.po)
		ccp_po_close(r.po);
	ccp_close_fds((const int[]){ r.submit_fd, r.import_fd, r.bad_fd, r.deferred_fd,
				     r.partial_fd, r.bounce_fd, store_lock, spool_lock },
		      8);
	ccp_free(r.submit);
	ccp_free(r.import);
	ccp_free(r.bad);
	ccp_free(r.deferred);
	ccp_free(r.partial);
	ccp_free(r.bounce);
	ccp_free(quarantine);
	ccp_free(delivered);
	ccp_fpset_free(&r.restore);
	ccp_fpmap_free(&r.withheld.map);
	ccp_fpmap_free(&r.unreported.map);
	ccp_fpmap_free(&r.unfailed.map);
	ccp_fpmap_free(&r.refused.map);
	pthread_mutex_destroy(&r.kept_mu);
	relay_map_put(&r, r.map);
	pthread_mutex_destroy(&r.map_mu);
	ccp_gate_destroy(&r.gate);
	return rc;
}

int ccp_relay_check_memory(const struct ccp_relay_config *cfg, char *err, size_t errlen)
{
	/* A ring sized past the machine (the flag goes to 2^30) is said in a
	 * line, not met by an out-of-memory abort as the ring is made: its
	 * slots, and a record with a spool file's name for every message the
	 * ring, the batches and the polls in hand hold. */
	double half = ccp_half_memory_bytes();
	double need = (double)cfg->pump.ring_size * 8.0 +
		      (double)ccp_pump_records_in_hand(&cfg->pump) *
			      (double)(sizeof(struct ccp_msg) + NAME_MAX + 1);
	if (half > 0 && need > half) {
		snprintf(err, errlen, "a full ring (--ring-size %llu) needs %.1f GiB, over half this "
			 "machine's memory (%.1f GiB): give a smaller --ring-size",
			 (unsigned long long)cfg->pump.ring_size, need / 1073741824.0,
			 half / 1073741824.0);
		return -1;
	}
	return 0;
}

int ccp_relay_run(const struct ccp_relay_config *cfg, struct ccp_relay_stats *st, char *err,
		  size_t errlen)
{
	/* A stop asked for before the run is up (a SIGTERM while the relay
	 * resolves its host name, or opens the post office) is kept, and the
	 * run stops as soon as it starts.  The request is cleared once the
	 * run is over instead, so that a later run in this process (a test's,
	 * the demo's) starts afresh.  Relaxed: a request, as
	 * ccp_relay_request_stop() makes it. */
	/* The relay reads its programs' exit statuses itself.  Started with
	 * SIGCHLD ignored (a supervisor's or an entrypoint's habit, which
	 * exec keeps), the kernel would reap them first: every import would
	 * lose its answer and count as failed, and be delivered again at
	 * its retry. */
	struct sigaction chld;
	if (sigaction(SIGCHLD, NULL, &chld) == 0 &&
	    (chld.sa_handler == SIG_IGN || (chld.sa_flags & SA_NOCLDWAIT))) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGCHLD, &dfl, NULL);
		ccp_log(CCP_LOG_INFO, "relay: SIGCHLD was ignored by whoever started the relay; set "
			"back to its default, so that the relay can read its programs' exit "
			"statuses");
	}
	int rc = relay_run(cfg, st, err, errlen);
	atomic_store_explicit(&relay_stop, 0, memory_order_relaxed);
	return rc;
}

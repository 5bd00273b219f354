/*
 * bouncer.c: the reports' sending thread and its queue on disk (bouncer.h).
 */
#define _GNU_SOURCE /* pthread_setname_np() */
#include "relay/bouncer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/log.h"
#include "ccpump/queue.h"
#include "relay/bounce.h"
#include "relay/fsutil.h"
#include "relay/runcmd.h"

/* How long one run of the bounce command may take. */
#define BOUNCE_TIMEOUT_NS 60000000000ull

struct ccp_bouncer {
	/* Read-only after start. */
	char *cmd, *dir;
	int dirfd;
	uint64_t retry_min_ns, retry_max_ns;
	bool sync;
	const _Atomic int *stop_now; /* may be NULL */
	pthread_t thread;

	pthread_mutex_t mu;
	pthread_cond_t cv;   /* CLOCK_MONOTONIC */
	bool kicked;         /* under mu: something was queued since the last scan */
	bool flushed;        /* under mu: ccp_bouncer_flush() since the last scan */
	bool stop, drain;    /* under mu */
};

/* Where the report queued as NAME (open on FD) is kept, for the log, into
 * WHERE: the file in Bad/ or Partial/ beside the queue that is the same
 * file (the queue holds links). */
static void kept_in(const struct ccp_bouncer *b, const char *name, int fd, char *where,
		    size_t cap)
{
	struct stat q, k;
	char rec[CCP_QUEUE_RECORD_NAME_MAX], path[CCP_QUEUE_RECORD_NAME_MAX + 16];
	snprintf(where, cap, "the store");
	if (fstat(fd, &q) != 0)
		return;
	ccp_queue_record_name(rec, name, ".ndr");
	for (unsigned i = 0; i < CCP_QUEUE_REPORT_DIRS; i++) {
		snprintf(path, sizeof(path), "../%s/%s", ccp_queue_report_dirs[i], rec);
		if (fstatat(b->dirfd, path, &k, AT_SYMLINK_NOFOLLOW) == 0 && k.st_ino == q.st_ino &&
		    k.st_dev == q.st_dev) {
			snprintf(where, cap, "%s", path + 3);
			return;
		}
	}
}

/* Takes the report SENT (the file its send opened, still open) out of the
 * queue.  A requeued message that failed again while its old report was
 * being sent has a new report queued under the same name, and that one
 * must stay to be sent: so only the entry that is still the file sent is
 * removed (the window left is two system calls, ccp_unlink_if_same(),
 * where the whole run of the command, up to a minute, was one).  SENT is
 * the caller's descriptor of it, open until then, so that no new file can
 * be given its inode number. */
static bool dequeue(struct ccp_bouncer *b, const char *name, int sent)
{
	if (ccp_unlink_if_same(b->dirfd, name, sent) != 0) {
		ccp_log(CCP_LOG_ERROR, "message %s: its report cannot be taken out of %s: %s; it is "
			"not sent again while this relay runs", name, b->dir, strerror(errno));
		return false;
	}
	/* A message of the same name sent to Bad while this report was being
	 * sent keeps the older one as NAME.N, its queue entry renamed so too
	 * (keep_older_in_bad()): that entry is the file just sent, and left
	 * there it would be sent a second time.  The report file's links
	 * tell: its own in Bad/ (or Partial/) and, while still queued under
	 * any name, the entry; one link, the common case, is the report
	 * alone. */
	struct stat was, st;
	if (fstat(sent, &was) != 0 || was.st_nlink < 2)
		return true;
	char aside[CCP_QUEUE_RECORD_NAME_MAX];
	for (unsigned n = 1; n < CCP_QUEUE_BAD_ASIDE_MAX; n++) {
		if (!ccp_queue_bad_aside_name(aside, name, n))
			break;
		if (fstatat(b->dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    st.st_dev != was.st_dev || st.st_ino != was.st_ino)
			continue;
		if (ccp_unlink_if_same(b->dirfd, aside, sent) == 0)
			ccp_log(CCP_LOG_INFO, "message %s: its report, sent, was queued again as %s/%s "
				"meanwhile (a newer message of the name went to Bad): taken out too",
				name, b->dir, aside);
		else
			ccp_log(CCP_LOG_ERROR, "message %s: its report, sent, cannot be taken out of "
				"%s as %s: %s; it is not sent again while this relay runs", name,
				b->dir, aside, strerror(errno));
		break;
	}
	return true;
}

/* What became of a queued report. */
enum sent_state {
	SEND_DONE,  /* sent, or never to be: out of the queue */
	SEND_LATER, /* stays queued, tried again after its backoff */
	SEND_STUCK, /* done, but its queue entry could not be removed: kept
		       out of every later pass while it is that file */
};

/* Sends the queued report NAME. */
/* Sends the report queued as NAME.  AGAIN says when a report not sent
 * for now is tried again ("tried again in 2 s"; a drain's last pass: "left
 * queued for the next run"). */
static enum sent_state send_one(struct ccp_bouncer *b, const char *name, const char *again_when)
{
	char addr[320], why[600] = "", kept[CCP_QUEUE_RECORD_NAME_MAX + 16];
	bool odd = false;
	int fd = ccp_open_regular_at(b->dirfd, name, &odd);
	if (fd < 0) {
		if (errno == ENOENT)
			return SEND_DONE; /* gone: requeued, or removed by an operator */
		if (odd) {
			/* Not a report the relay queued (a FIFO would have hung
			 * this thread, and the stop with it): left where it is,
			 * and out of the later passes. */
			ccp_log(CCP_LOG_WARN, "message %s: its queued report in %s is not a regular "
				"file: not sent, left there", name, b->dir);
			return SEND_STUCK;
		}
		ccp_log(CCP_LOG_WARN, "message %s: its queued report cannot be opened in %s: %s; "
			"%s", name, b->dir, strerror(errno), again_when);
		return SEND_LATER;
	}
	if (!ccp_bounce_report_to(fd, addr, sizeof(addr))) {
		int e = errno;
		if (e != 0) {
			close(fd);
			/* Unreadable now: not the same as a report without a
			 * recipient, which would be dropped. */
			ccp_log(CCP_LOG_WARN, "message %s: its queued report cannot be read in %s: "
				"%s; %s", name, b->dir, strerror(e), again_when);
			return SEND_LATER;
		}
		ccp_log(CCP_LOG_WARN, "message %s: its queued report has no usable To: not sent, "
			"removed from %s", name, b->dir);
		bool out = dequeue(b, name, fd);
		close(fd);
		return out ? SEND_DONE : SEND_STUCK;
	}
	int rc = ccp_run_cmd(b->cmd, addr, fd, BOUNCE_TIMEOUT_NS, "60 s", "bounce command", why,
			     sizeof(why));
	if (rc != 0)
		kept_in(b, name, fd, kept, sizeof(kept));
	/* 75 (EX_TEMPFAIL), or a program that could not run or was stopped:
	 * later.  Any other answer is the program's last word on it. */
	bool again = rc < 0 || rc == 75 || rc == 126 || rc == 127;
	if (rc != 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "the bounce command answered %d", rc);
	if (rc != 0 && again) {
		ccp_log(CCP_LOG_WARN, "message %s: the report to %s was not sent: %s; %s", name,
			addr, why, again_when);
		close(fd);
		return SEND_LATER;
	}
	bool out = dequeue(b, name, fd);
	close(fd);
	/* The removal made durable, or said not to be: undone by a crash, it
	 * would send the report again. */
	if (out && b->sync && fsync(b->dirfd) != 0)
		ccp_log(CCP_LOG_WARN, "message %s: its sent report's removal from %s cannot be "
			"synced: %s; a crash now could send it again", name, b->dir, strerror(errno));
	if (rc == 0)
		ccp_log(CCP_LOG_INFO, "message %s: report sent to %s", name, addr);
	else
		ccp_log(CCP_LOG_WARN, "message %s: the report to %s was not sent: %s, not a "
			"temporary failure (75): not tried again; it stays in %s", name, addr, why,
			kept);
	return out ? SEND_DONE : SEND_STUCK;
}

/* Which file a queued report was, by inode and when it was made. */
struct report_file {
	uint64_t ino;
	/* When it was made: its birth time where the file system keeps one
	 * (ccp_statx_birth()), else its ctime. */
	int64_t made_ns;
	bool birth;
};

/* A queued report whose last try failed for now: when to try it next, and
 * the wait after that.  Owned by the bouncer's thread. */
struct retry {
	char *name;
	/* The report that failed: another file under the name is new.  Its
	 * inode number alone does not say so: ext4 gives a freed number to
	 * the next file made, and a requeued message's new report is made
	 * just after its old one is removed.  Its birth time does; a ctime
	 * says so too, but moves with every link, rename and chmod of the
	 * file (a failed requeue renames its .ndr aside and back), after
	 * which a report sent but stuck in the queue would be sent again. */
	struct report_file file;
	uint64_t due_ns, backoff_ns;
};

/* The report file DIRFD/NAME; zeroed where it cannot be looked at. */
static struct report_file report_file_of(int dirfd, const char *name)
{
	struct statx sx;
	struct report_file f = { 0 };
	if (ccp_statx(dirfd, name, AT_SYMLINK_NOFOLLOW, &sx) != 0)
		return f;
	f.ino = sx.stx_ino;
	f.birth = ccp_statx_birth(&sx, &f.made_ns);
	if (!f.birth)
		f.made_ns = ccp_statx_ns(&sx.stx_ctime);
	return f;
}

/* Whether F is the file R tried. */
static bool retry_same_file(const struct retry *r, const struct report_file *f)
{
	return r->file.ino == f->ino && r->file.birth == f->birth && r->file.made_ns == f->made_ns;
}

struct retries {
	struct retry *a;
	size_t n, cap;
};

/*
 * The retry of NAME in R, or NULL.  R is in name order (a pass makes it in
 * the order of ccp_dir_names(), strcmp()'s), and a pass asks for names in
 * that order too, so one cursor, *AT, walks R once a pass: a queue of n
 * reports held back by a failing --bounce-cmd costs a pass n steps, not
 * the n^2 / 2 compares of a search from the start for every name.
 */
static struct retry *retry_find(struct retries *r, size_t *at, const char *name)
{
	int c = 1;
	while (*at < r->n && (c = strcmp(r->a[*at].name, name)) < 0)
		++*at;
	return *at < r->n && c == 0 ? &r->a[*at] : NULL;
}

static void retries_clear(struct retries *r)
{
	for (size_t i = 0; i < r->n; i++)
		ccp_free(r->a[i].name);
	r->n = 0;
}

/* A flush (`queue --flush`): every report waiting for its retry is due now,
 * its backoff afresh; one sent but stuck in the queue (due "never") stays
 * so: sending it again would send it twice. */
static void retries_flush(struct retries *r, uint64_t retry_min_ns)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->a[i].due_ns != UINT64_MAX) {
			r->a[i].due_ns = 0;
			r->a[i].backoff_ns = retry_min_ns;
		}
}

/* One pass over the queue, in name order.  Each report has its own
 * backoff: one that failed for now is tried again after --retry-min,
 * doubling up to --retry-max, and a pass (a new report queued, or the
 * retry of another) skips it until then.  So one address's failure holds
 * back no other report, and a new one is sent at once.  The failed ones'
 * backoffs move from OLD into a fresh list, which keeps only names still
 * queued.  A report done with but stuck in the queue (its entry could not
 * be removed) is kept with a due time of "never" while it is that file.
 * Returns the time the next retry is due, 0 when none is, or UINT64_MAX
 * when a stop without drain cut the pass short. */
static uint64_t pass(struct ccp_bouncer *b, struct retries *old)
{
	DIR *d = ccp_dir_reopen(b->dirfd);
	if (d == NULL) {
		ccp_log(CCP_LOG_ERROR, "cannot read %s: %s", b->dir, strerror(errno));
		return ccp_now_ns() + b->retry_min_ns;
	}
	size_t n;
	char **names = ccp_dir_names(d, NULL, &n);
	struct retries kept = { 0 };
	size_t at = 0; /* retry_find()'s cursor in OLD */
	uint64_t next = 0;
	bool quit = false;
	for (size_t i = 0; i < n && !quit; i++) {
		pthread_mutex_lock(&b->mu);
		quit = b->stop && !b->drain;
		bool draining = b->stop;
		pthread_mutex_unlock(&b->mu);
		/* Relaxed: a request, set by a signal handler; no data hangs
		 * on it. */
		quit |= b->stop_now && atomic_load_explicit(b->stop_now, memory_order_relaxed);
		if (quit)
			break;
		struct retry *r = retry_find(old, &at, names[i]);
		struct report_file file = report_file_of(b->dirfd, names[i]);
		if (r && !retry_same_file(r, &file))
			r = NULL; /* the message failed again: a new report, sent at once */
		uint64_t backoff = r ? r->backoff_ns : b->retry_min_ns;
		uint64_t due = r ? r->due_ns : 0;
		/* A drain tries every report once more, as --once says; one
		 * that was done but stuck in the queue (due "never") is not. */
		if (due != UINT64_MAX && (draining || due <= ccp_now_ns())) {
			/* A drain's pass is this run's last: a report not sent
			 * waits for the next run, whenever that comes (a cron
			 * job's, hours away), not for its backoff. */
			char when[64] = "left queued for the next run";
			if (!draining)
				snprintf(when, sizeof(when), "tried again in %.0f s",
					 (double)backoff / 1e9);
			enum sent_state st1 = send_one(b, names[i], when);
			if (st1 == SEND_DONE)
				continue;
			if (st1 == SEND_STUCK) {
				due = UINT64_MAX;
			} else {
				due = ccp_now_ns() + backoff;
				backoff = 2 * backoff < b->retry_max_ns ? 2 * backoff
									: b->retry_max_ns;
			}
		}
		if (kept.n == kept.cap) {
			kept.cap = kept.cap ? 2 * kept.cap : 16;
			kept.a = ccp_realloc(kept.a, kept.cap * sizeof(*kept.a));
		}
		kept.a[kept.n++] = (struct retry){ ccp_strdup(names[i]), file, due, backoff };
		if (due != UINT64_MAX && (next == 0 || due < next))
			next = due;
	}
	ccp_dir_names_free(names, n);
	retries_clear(old);
	ccp_free(old->a);
	*old = kept;
	return quit ? UINT64_MAX : next;
}

static void *bouncer_main(void *arg)
{
	struct ccp_bouncer *b = arg;
	struct retries retries = { 0 };
	uint64_t next = 0; /* the next retry due (0: none) */
	pthread_setname_np(pthread_self(), "ccp-bounce");
	for (;;) {
		pthread_mutex_lock(&b->mu);
		/* Wait for a report, for a retry that falls due, or a stop. */
		while (!b->stop && !b->flushed && !b->kicked && (next == 0 || ccp_now_ns() < next)) {
			uint64_t until = next ? next : ccp_now_ns() + 3600000000000ull;
			struct timespec ts = { (time_t)(until / 1000000000u),
					       (long)(until % 1000000000u) };
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		}
		bool stop = b->stop, drain = b->drain;
		if (b->flushed)
			retries_flush(&retries, b->retry_min_ns); /* an operator mended the command */
		b->kicked = b->flushed = false;
		pthread_mutex_unlock(&b->mu);
		if (stop && !drain)
			break;
		next = pass(b, &retries);
		if (stop)
			break; /* drained: one more pass was all */
	}
	retries_clear(&retries);
	ccp_free(retries.a);
	return NULL;
}

struct ccp_bouncer *ccp_bouncer_start(const char *cmd, const char *dir, int dirfd,
				      uint64_t retry_min_ns, uint64_t retry_max_ns, bool sync,
				      const _Atomic int *stop_now, char *err, size_t errlen)
{
	struct ccp_bouncer *b = ccp_calloc(1, sizeof(*b));
	b->stop_now = stop_now;
	b->cmd = ccp_strdup(cmd);
	b->dir = ccp_strdup(dir);
	b->dirfd = dirfd;
	b->retry_min_ns = retry_min_ns;
	b->retry_max_ns = retry_max_ns;
	b->sync = sync;
	b->kicked = true; /* an earlier run's leftovers first */
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&b->thread, NULL, bouncer_main, b);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the bounce thread: %s", strerror(rc));
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
		ccp_free(b->cmd);
		ccp_free(b->dir);
		ccp_free(b);
		return NULL;
	}
	return b;
}

int ccp_bounce_queue_link(int dir_fd, const char *ndr_name, int queue_fd, const char *key,
			  bool sync)
{
	/* A report already queued under this name is an older one (the
	 * message was requeued and failed again): the new one replaces it. */
	if (linkat(dir_fd, ndr_name, queue_fd, key, 0) != 0 &&
	    (errno != EEXIST || unlinkat(queue_fd, key, 0) != 0 ||
	     linkat(dir_fd, ndr_name, queue_fd, key, 0) != 0))
		return -1;
	if (sync && fsync(queue_fd) != 0) {
		/* Not queued, as the caller is told: left in place, the link
		 * would be sent all the same (on a message whose move to Bad
		 * is then postponed, its report sent a second time once it
		 * goes there). */
		int e = errno;
		unlinkat(queue_fd, key, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int ccp_bouncer_queue(struct ccp_bouncer *b, int dir_fd, const char *ndr_name, const char *key)
{
	if (ccp_bounce_queue_link(dir_fd, ndr_name, b->dirfd, key, b->sync) != 0)
		return -1;
	pthread_mutex_lock(&b->mu);
	b->kicked = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

void ccp_bouncer_flush(struct ccp_bouncer *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->flushed = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void ccp_bouncer_stop(struct ccp_bouncer *b, bool drain)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	b->drain = drain;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	ccp_free(b->cmd);
	ccp_free(b->dir);
	ccp_free(b);
}

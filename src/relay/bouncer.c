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

/* Sends the queued report NAME.  Returns false when it should be tried
 * again later (it stays queued). */
static bool send_one(struct ccp_bouncer *b, const char *name, uint64_t backoff_ns)
{
	char addr[320], why[600] = "", kept[CCP_QUEUE_RECORD_NAME_MAX + 16];
	int fd = openat(b->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return true; /* gone: requeued, or removed by an operator */
	if (!ccp_bounce_report_to(fd, addr, sizeof(addr))) {
		close(fd);
		ccp_log(CCP_LOG_WARN, "message %s: its queued report has no usable To: not sent, "
			"removed from %s", name, b->dir);
		unlinkat(b->dirfd, name, 0);
		return true;
	}
	int rc = ccp_run_cmd(b->cmd, addr, fd, BOUNCE_TIMEOUT_NS, "60 s", "bounce command", why,
			     sizeof(why));
	if (rc != 0)
		kept_in(b, name, fd, kept, sizeof(kept));
	close(fd);
	/* 75 (EX_TEMPFAIL), or a program that could not run or was stopped:
	 * later.  Any other answer is the program's last word on it. */
	bool again = rc < 0 || rc == 75 || rc == 126 || rc == 127;
	if (rc != 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "the bounce command answered %d", rc);
	if (rc != 0 && again) {
		ccp_log(CCP_LOG_WARN, "message %s: the report to %s was not sent: %s; tried again "
			"in %.0f s", name, addr, why, (double)backoff_ns / 1e9);
		return false;
	}
	unlinkat(b->dirfd, name, 0);
	if (b->sync)
		fsync(b->dirfd);
	if (rc == 0)
		ccp_log(CCP_LOG_INFO, "message %s: report sent to %s", name, addr);
	else
		ccp_log(CCP_LOG_WARN, "message %s: the report to %s was not sent: %s, not a "
			"temporary failure (75): not tried again; it stays in %s", name, addr, why,
			kept);
	return true;
}

/* One pass over the queue, in name order: every report is tried (one
 * address's failure must not hold the others back).  Returns false when
 * any is to be tried again, or a stop without drain cut the pass short. */
static bool pass(struct ccp_bouncer *b, uint64_t backoff_ns)
{
	DIR *d = ccp_dir_reopen(b->dirfd);
	if (d == NULL) {
		ccp_log(CCP_LOG_ERROR, "cannot read %s: %s", b->dir, strerror(errno));
		return false;
	}
	size_t n;
	char **names = ccp_dir_names(d, NULL, &n);
	bool ok = true, quit = false;
	for (size_t i = 0; i < n; i++) {
		if (!quit) {
			pthread_mutex_lock(&b->mu);
			quit = b->stop && !b->drain;
			pthread_mutex_unlock(&b->mu);
			ok = (quit ? false : send_one(b, names[i], backoff_ns)) && ok;
		}
	}
	ccp_dir_names_free(names, n);
	return ok;
}

static void *bouncer_main(void *arg)
{
	struct ccp_bouncer *b = arg;
	uint64_t backoff = b->retry_min_ns, next = 0; /* next pass due (0: now) */
	pthread_setname_np(pthread_self(), "ccp-bounce");
	for (;;) {
		pthread_mutex_lock(&b->mu);
		/* Wait for a report, for the retry after a failure, or a stop. */
		while (!b->stop && !b->flushed && (next ? ccp_now_ns() < next : !b->kicked)) {
			uint64_t until = next ? next : ccp_now_ns() + 3600000000000ull;
			struct timespec ts = { (time_t)(until / 1000000000u),
					       (long)(until % 1000000000u) };
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		}
		bool stop = b->stop, drain = b->drain;
		if (b->flushed)
			backoff = b->retry_min_ns; /* an operator mended the command */
		b->kicked = b->flushed = false;
		pthread_mutex_unlock(&b->mu);
		if (stop && !drain)
			break;
		bool ok = pass(b, backoff);
		if (stop)
			break; /* drained: one more pass was all */
		if (ok) {
			backoff = b->retry_min_ns;
			next = 0;
		} else {
			next = ccp_now_ns() + backoff;
			backoff = 2 * backoff < b->retry_max_ns ? 2 * backoff : b->retry_max_ns;
		}
	}
	return NULL;
}

struct ccp_bouncer *ccp_bouncer_start(const char *cmd, const char *dir, int dirfd,
				      uint64_t retry_min_ns, uint64_t retry_max_ns, bool sync,
				      char *err, size_t errlen)
{
	struct ccp_bouncer *b = ccp_calloc(1, sizeof(*b));
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
	return sync ? fsync(queue_fd) : 0;
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

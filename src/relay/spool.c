/*
 * spool.c: the Maildir spool as a notification source (include/ccpump/spool.h).
 *
 * Each poller owns an inotify instance on new/ and a scan cursor (a DIR*
 * on new/).  A poll drains inotify events first, then continues the scan
 * that is due (start-up, or every rescan interval, staggered by poller),
 * and checks every candidate name with fstatat(AT_SYMLINK_NOFOLLOW) before
 * reporting it.  All of it runs inside the pump's read-side section and
 * never blocks: the inotify fd is non-blocking, and readdir on a local
 * directory does not wait for anyone.  wait() is where a poller sleeps:
 * poll(2) on its inotify fd until the next rescan is due.
 */
#define _GNU_SOURCE
#include "ccpump/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/counter.h"
#include "ccpump/log.h"
#include "relay/fsutil.h"

#define EVBUF (64 * (sizeof(struct inotify_event) + NAME_MAX + 1))

struct spool_poller {
	int ifd;             /* inotify, watching new/ */
	DIR *scan;           /* the scan in progress, or NULL */
	uint64_t next_scan;  /* monotonic ns */
	bool first_scan_done;
	/* Pending inotify names, parsed from evbuf. */
	char evbuf[EVBUF] __attribute__((aligned(8)));
	size_t evlen, evpos;
	/* Names reported by the last poll: valid until the next one. */
	char (*names)[NAME_MAX + 1];
	unsigned nnames;
	/* Counters, read by ccp_spool_stats() (relaxed). */
	_Atomic uint64_t inotify_events, scanned, vanished, quarantined;
} CCP_ALIGNED(CCP_CACHE_GUARD);

struct ccp_spool {
	struct ccp_spool_config cfg;
	char *dir, *failed_dir, *quarantine_dir;
	int new_fd, cur_fd, failed_fd, quarantine_fd;
	struct spool_poller *pollers;
	_Atomic int finish;  /* 0 run, 1 drain after one full scan, 2 stop */
	_Atomic uint64_t acked, ack_errors;
};

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
	s->dir = ccp_strdup(cfg->dir);
	s->failed_dir = ccp_strdup(cfg->failed_dir);
	s->quarantine_dir = ccp_strdup(cfg->quarantine_dir);
	s->new_fd = s->cur_fd = s->failed_fd = s->quarantine_fd = -1;
	char *p = ccp_path_join(cfg->dir, "tmp");
	int tmp_fd = ccp_dir_ensure_open(p, err, errlen);
	ccp_free(p);
	if (tmp_fd < 0)
		goto fail;
	close(tmp_fd);
	p = ccp_path_join(cfg->dir, "new");
	s->new_fd = ccp_dir_ensure_open(p, err, errlen);
	ccp_free(p);
	if (s->new_fd < 0)
		goto fail;
	p = ccp_path_join(cfg->dir, "cur");
	s->cur_fd = ccp_dir_ensure_open(p, err, errlen);
	ccp_free(p);
	if (s->cur_fd < 0 ||
	    (s->failed_fd = ccp_dir_ensure_open(cfg->failed_dir, err, errlen)) < 0 ||
	    (s->quarantine_fd = ccp_dir_ensure_open(cfg->quarantine_dir, err, errlen)) < 0)
		goto fail;

	s->pollers = ccp_aligned_alloc(CCP_CACHE_GUARD, cfg->pollers * sizeof(*s->pollers));
	memset(s->pollers, 0, cfg->pollers * sizeof(*s->pollers));
	char *newp = ccp_path_join(cfg->dir, "new");
	uint64_t now = ccp_now_ns();
	for (unsigned i = 0; i < cfg->pollers; i++) {
		struct spool_poller *sp = &s->pollers[i];
		sp->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (sp->ifd < 0 ||
		    inotify_add_watch(sp->ifd, newp, IN_MOVED_TO | IN_CREATE | IN_ONLYDIR) < 0) {
			snprintf(err, errlen, "cannot watch %s with inotify: %s", newp,
				 strerror(errno));
			ccp_free(newp);
			goto fail;
		}
		sp->next_scan = now; /* the start-up scan */
		sp->names = NULL;
	}
	ccp_free(newp);
	return s;
fail:
	ccp_spool_close(s);
	return NULL;
}

void ccp_spool_close(struct ccp_spool *s)
{
	if (s == NULL)
		return;
	if (s->pollers) {
		for (unsigned i = 0; i < s->cfg.pollers; i++) {
			if (s->pollers[i].ifd > 0)
				close(s->pollers[i].ifd);
			if (s->pollers[i].scan)
				closedir(s->pollers[i].scan);
			ccp_free(s->pollers[i].names);
		}
		ccp_free(s->pollers);
	}
	int fds[] = { s->new_fd, s->cur_fd, s->failed_fd, s->quarantine_fd };
	for (size_t i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ccp_free(s->dir);
	ccp_free(s->failed_dir);
	ccp_free(s->quarantine_dir);
	ccp_free(s);
}

void ccp_spool_finish(struct ccp_spool *s, bool drain_first)
{
	atomic_store_explicit(&s->finish, drain_first ? 1 : 2, memory_order_relaxed);
}

int ccp_spool_open_message(struct ccp_spool *s, const char *name)
{
	int fd = openat(s->new_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
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
 * Decides whether NAME in new/ is a message to report now.  Entries that
 * are not regular files are moved into quarantine (the poller whose rename
 * wins logs it; the others see it vanish).
 */
static bool candidate(struct ccp_spool *s, struct spool_poller *sp, const char *name)
{
	struct stat st;
	if (name[0] == '.' || name[0] == '\0')
		return false;
	if (fstatat(s->new_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		ccp_counter_add(&sp->vanished, 1);
		return false;
	}
	if (S_ISREG(st.st_mode))
		return true;
	if (renameat(s->new_fd, name, s->quarantine_fd, name) == 0) {
		ccp_counter_add(&sp->quarantined, 1);
		ccp_log(CCP_LOG_WARN, "spool %s/new/%s is %s: moved to %s, never opened", s->dir,
			name, file_kind(st.st_mode), s->quarantine_dir);
	}
	return false;
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
			sp->next_scan = 0; /* events were lost: rescan at once */
			continue;
		}
		if (ev->len && !(ev->mask & IN_ISDIR)) {
			ccp_counter_add(&sp->inotify_events, 1);
			return ev->name;
		}
	}
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

	while (n < max && finish == 0 && (name = next_event(sp)) != NULL) {
		if (candidate(s, sp, name)) {
			strcpy(sp->names[n], name);
			n++;
		}
	}
	if (sp->scan == NULL && ccp_now_ns() >= sp->next_scan) {
		int fd = openat(s->new_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sp->scan = fd >= 0 ? fdopendir(fd) : NULL;
		if (sp->scan == NULL && fd >= 0)
			close(fd);
	}
	while (n < max && sp->scan) {
		errno = 0;
		struct dirent *de = readdir(sp->scan);
		if (de == NULL) {
			closedir(sp->scan);
			sp->scan = NULL;
			sp->first_scan_done = true;
			/* Stagger the pollers' rescans across the interval. */
			sp->next_scan = ccp_now_ns() + s->cfg.rescan_interval_ns +
					s->cfg.rescan_interval_ns * poller / s->cfg.pollers / 2;
			break;
		}
		ccp_counter_add(&sp->scanned, 1);
		if (candidate(s, sp, de->d_name)) {
			strcpy(sp->names[n], de->d_name);
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
	if (sp->scan || until <= now)
		return;
	struct pollfd pfd = { .fd = sp->ifd, .events = POLLIN };
	uint64_t ms = (until - now + 999999) / 1000000;
	poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

static void spool_ack(void *ctx, unsigned dispatcher, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct ccp_spool *s = ctx;
	int rc;
	if (outcome == CCP_MSG_DELIVERED)
		rc = s->cfg.keep ? renameat(s->new_fd, m->key, s->cur_fd, m->key)
				 : unlinkat(s->new_fd, m->key, 0);
	else
		rc = renameat(s->new_fd, m->key, s->failed_fd, m->key);
	/* ENOENT: the file vanished under us (an operator removed it); the
	 * message is settled either way. */
	if (rc != 0 && errno != ENOENT) {
		atomic_fetch_add_explicit(&s->ack_errors, 1, memory_order_relaxed);
		ccp_log(CCP_LOG_ERROR, "spool %s/new/%s: cannot %s: %s", s->dir, m->key,
			outcome == CCP_MSG_DELIVERED ? (s->cfg.keep ? "move to cur/" : "remove")
						     : "move to the failed folder",
			strerror(errno));
	}
	atomic_fetch_add_explicit(&s->acked, 1, memory_order_relaxed);
}

static const struct ccp_source_ops spool_ops = {
	.wait = spool_wait,
	.poll = spool_poll,
	.init_msg = NULL,
	.ack = spool_ack,
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
	out->ack_errors =
		atomic_load_explicit(&((struct ccp_spool *)s)->ack_errors, memory_order_relaxed);
}

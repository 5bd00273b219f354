/*
 * relaystats.c: the relay's stats line and stats file (relaystats.h).
 */
#include "relay/relaystats.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/ccm.h"
#include "ccpump/fdio.h"
#include "ccpump/log.h"
#include "relay/fsutil.h"

void ccp_relay_snap_log(const struct ccp_relay_snap *s)
{
	char paused[64] = "", reports[48] = "";
	if (s->paused_ns)
		snprintf(paused, sizeof(paused), ", deliveries paused for %.0f s",
			 (double)s->paused_ns / 1e9);
	if (s->reports_waiting >= 0)
		snprintf(reports, sizeof(reports), ", reports waiting %lld",
			 (long long)s->reports_waiting);
	ccp_log(CCP_LOG_INFO,
		"stats: %.0f msgs/s, delivered %llu, duplicates skipped %llu, bad %llu, "
		"delivered in part %llu, waiting in ring %llu, in flight %llu, deferred now %llu, "
		"imports %llu (failed %llu), duplicate notifications suppressed %llu, "
		"quarantined %llu, changed while read %llu, changed after delivery %llu, "
		"postponed %llu, settling spool files %.1f s%s%s",
		s->rate, (unsigned long long)s->delivered, (unsigned long long)s->duplicates,
		(unsigned long long)s->bad, (unsigned long long)s->partial,
		(unsigned long long)s->ps.in_ring, (unsigned long long)s->ps.in_flight,
		(unsigned long long)s->ps.waiting_retry, (unsigned long long)s->imports,
		(unsigned long long)s->import_failures, (unsigned long long)s->ps.claim_conflicts,
		(unsigned long long)s->ss.quarantined, (unsigned long long)s->ss.changed,
		(unsigned long long)s->ss.changed_after, (unsigned long long)s->ps.postponed,
		(double)s->ss.settle_ns / 1e9, reports, paused);
}

/* S as a JSON string: quotes, backslashes and control characters escaped,
 * and an octet that is not UTF-8 (a path's name in another charset, in a
 * reason) written as U+FFFD: JSON is UTF-8, and one such octet would make
 * the whole file unreadable to a monitor. */
static void json_string(struct ccp_ccm_buf *b, const char *s)
{
	ccp_ccm_buf_adds(b, "\"");
	while (*s) {
		unsigned char c = (unsigned char)*s;
		/* 0 where no valid character starts: GLib answers (gunichar)-1
		 * or -2 for a stray octet, an overlong form, a surrogate, or a
		 * character cut short by the NUL. */
		size_t n = 1;
		if (c >= 0x80)
			n = g_utf8_get_char_validated(s, -1) < 0x110000
				    ? (size_t)(g_utf8_next_char(s) - s)
				    : 0;
		if (c == '"' || c == '\\')
			ccp_ccm_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			ccp_ccm_buf_printf(b, "\\u%04x", c);
		else if (n == 0)
			ccp_ccm_buf_adds(b, "\\ufffd");
		else
			ccp_ccm_buf_add(b, s, n);
		s += n ? n : 1;
	}
	ccp_ccm_buf_adds(b, "\"");
}

/* The name the stats file is written under before it is renamed into
 * place: beside it, so that the rename stays on its file system, and one
 * of ccpump's temporary names (ccp_tmp_name()), so that what a crash in
 * the middle of a write leaves there is known as a dead process's and
 * removed by the next start (ccp_relay_snap_file_check()). */
static char *stats_tmp_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
	char *tmp = ccp_malloc(dir + CCP_TMP_NAME_MAX);
	memcpy(tmp, path, dir);
	ccp_tmp_name(tmp + dir, CCP_TMP_NAME_MAX);
	return tmp;
}

void ccp_relay_snap_write(const char *path, const struct ccp_relay_snap *s, const char *state)
{
	static bool failing; /* one thread writes: the relay's main loop */
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	ccp_ccm_buf_printf(&b, "{\"time\": %lld, \"pid\": %ld, \"state\": \"%s\", ",
			   (long long)time(NULL), (long)getpid(), state);
	ccp_ccm_buf_printf(&b, "\"paused_seconds\": %.1f, \"pause_reason\": ",
			   (double)s->paused_ns / 1e9);
	json_string(&b, s->pause_reason);
	ccp_ccm_buf_printf(&b,
			   ", \"msgs_per_sec\": %.1f, \"delivered\": %llu, \"duplicates_skipped\": %llu, "
			   "\"bad\": %llu, \"partial\": %llu, \"waiting_in_ring\": %llu, "
			   "\"in_flight\": %llu, \"deferred_now\": %llu, \"imports\": %llu, "
			   "\"import_failures\": %llu, "
			   "\"duplicate_notifications_suppressed\": %llu, \"quarantined\": %llu, "
			   "\"changed_while_read\": %llu, \"changed_after_delivery\": %llu, "
			   "\"postponed\": %llu, \"settle_seconds\": %.6f, \"reports_waiting\": ",
			   s->rate, (unsigned long long)s->delivered,
			   (unsigned long long)s->duplicates, (unsigned long long)s->bad,
			   (unsigned long long)s->partial, (unsigned long long)s->ps.in_ring,
			   (unsigned long long)s->ps.in_flight,
			   (unsigned long long)s->ps.waiting_retry, (unsigned long long)s->imports,
			   (unsigned long long)s->import_failures,
			   (unsigned long long)s->ps.claim_conflicts,
			   (unsigned long long)s->ss.quarantined, (unsigned long long)s->ss.changed,
			   (unsigned long long)s->ss.changed_after, (unsigned long long)s->ps.postponed,
			   (double)s->ss.settle_ns / 1e9);
	if (s->reports_waiting >= 0)
		ccp_ccm_buf_printf(&b, "%lld}\n", (long long)s->reports_waiting);
	else
		ccp_ccm_buf_adds(&b, "null}\n");
	char *tmp = stats_tmp_path(path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int rc = fd < 0 ? -1
			: ccp_tmp_finish(fd, AT_FDCWD, tmp, path, false,
					 ccp_write_all(fd, b.data, b.len));
	if (rc != 0 && !failing)
		ccp_log(CCP_LOG_ERROR, "cannot write the stats file %s: %s", path, strerror(errno));
	failing = rc != 0;
	ccp_free(tmp);
	ccp_ccm_buf_free(&b);
}

int ccp_relay_snap_file_check(const char *path, char *err, size_t errlen)
{
	/* Each write renames a new file over PATH: no rename puts a file
	 * in place of a directory, or under no name. */
	struct stat st;
	if (path[0] == '\0' || (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "stats file %s%s", path,
			 path[0] ? ": a directory is there, not a file" : "'': no file name given");
		return -1;
	}
	char *probe = stats_tmp_path(path);
	int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	int e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(probe);
	}
	if (fd < 0) {
		ccp_free(probe);
		snprintf(err, errlen, "stats file %s: cannot write beside it: %s", path, strerror(e));
		return -1;
	}
	/* A relay killed in the middle of a write left its temporary file:
	 * ccpump's temporary names whose maker is gone go (another relay's
	 * live one, and every other name, stay). */
	char *base = strrchr(probe, '/');
	if (base)
		base[1] = '\0';
	int dirfd = open(base ? probe : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0) {
		ccp_dir_remove_stale_own_tmp(dirfd);
		close(dirfd);
	}
	ccp_free(probe);
	return 0;
}

/*
 * queuectl.c: flush and requeue (include/ccpump/queuectl.h).
 */
#define _GNU_SOURCE /* renameat2() */
#include "ccpump/queuectl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"
#include "ccpump/queue.h"
#include "ccpump/spool.h"
#include "relay/bounce.h"
#include "relay/bouncer.h"
#include "relay/fsutil.h"

/* ---- flush -------------------------------------------------------------- */

/* Whether descriptor FD of process PID holds a flock() write lock: its
 * fdinfo lists the locks held through that open file, one "lock:" line
 * each ("lock:\t1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"). */
static bool fd_holds_write_flock(pid_t pid, const char *fd)
{
	char path[320], line[256]; /* fd names are numbers; the size is what d_name allows */
	snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%s", (long)pid, fd);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	bool held = false;
	while (!held && fgets(line, sizeof(line), f) != NULL)
		held = strncmp(line, "lock:", 5) == 0 && strstr(line, " FLOCK ") != NULL &&
		       strstr(line, " WRITE ") != NULL;
	fclose(f);
	return held;
}

/* Whether process PID holds the relay's lock on the file (dev, ino): 1 yes,
 * 0 no (or no such process), -1 with errno when its descriptors cannot be
 * read (another user's process).  Having the file open is not enough: a
 * `ccpump queue` reading it has it open too, and may have been given the
 * pid of a relay that left a stale lock behind. */
static int holds_lock(pid_t pid, dev_t dev, ino_t ino)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	struct dirent *de;
	struct stat st;
	int found = 0;
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* stat() follows the magic link to the open file itself. */
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && st.st_dev == dev &&
		    st.st_ino == ino && fd_holds_write_flock(pid, de->d_name))
			found = 1;
	}
	closedir(d);
	return found;
}

int ccp_queue_flush(const char *store, pid_t *pid, char *err, size_t errlen)
{
	char *path = ccp_path_join(store, "relay.lock");
	int rc = -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char buf[32];
	ssize_t n;
	if (fd < 0 && errno == ENOENT) {
		snprintf(err, errlen, "no ccpump relay has run on store %s (no %s)", store, path);
		rc = 1;
		goto out;
	}
	if (fd < 0 || fstat(fd, &st) != 0 || (n = pread(fd, buf, sizeof(buf) - 1, 0)) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	/* Our own pid (a stale lock's, reused by this process) is no relay:
	 * signalled, we would end ourselves. */
	int held = v > 0 && (pid_t)v != getpid() && (*end == '\n' || *end == '\0')
			   ? holds_lock((pid_t)v, st.st_dev, st.st_ino)
			   : 0;
	if (held < 0) {
		snprintf(err, errlen, "cannot tell whether pid %ld runs the relay on store %s: %s", v,
			 store, strerror(errno));
		goto out;
	}
	if (held == 0) {
		snprintf(err, errlen, "no ccpump relay is running on store %s", store);
		rc = 1;
		goto out;
	}
	if (kill((pid_t)v, SIGUSR1) != 0) {
		snprintf(err, errlen, "cannot signal the relay on store %s (pid %ld): %s", store, v,
			 strerror(errno));
		goto out;
	}
	*pid = (pid_t)v;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	ccp_free(path);
	return rc;
}

/* ---- requeue ------------------------------------------------------------ */

/* A name a message in Bad may have: not empty, no path, no dot name (the
 * store's temporary names). */
static bool plain_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

/* Whether NAME may be a message of Bad (not a path, not a record); if
 * not, a line in ERR. */
static bool bad_message_name(const char *name, char *err, size_t errlen)
{
	if (!plain_name(name)) {
		snprintf(err, errlen, "'%s' is not the name of a message in Bad", name);
		return false;
	}
	if (ccp_queue_is_record(name)) {
		snprintf(err, errlen, "'%s' is a record of Bad, not a message", name);
		return false;
	}
	return true;
}

/* Holds the signals that end a process by default (a Ctrl-C during an
 * --all action, a service manager's TERM) until release_signals(): one
 * message's steps are not cut short. */
static void hold_signals(sigset_t *was)
{
	sigset_t hold;
	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &hold, was);
}

/* Gives back the mask hold_signals() took (a signal held is acted on
 * now), errno kept. */
static void release_signals(const sigset_t *was)
{
	int e = errno;
	pthread_sigmask(SIG_SETMASK, was, NULL);
	errno = e;
}

/* Across file systems: the file open on SRC is copied into TMP_DIRFD (the
 * spool's tmp/, as a Maildir writer does), then linked into
 * NEW_DIRFD/NAME, which fails rather than replace an entry. */
static int copy_in(int src, const char *name, int tmp_dirfd, int new_dirfd, bool sync,
		   void (*in_new)(void *), void *arg)
{
	char tmp[CCP_TMP_NAME_MAX];
	ccp_tmp_name(tmp, sizeof(tmp));
	if (ccp_copy_file(src, tmp_dirfd, tmp, sync) != 0)
		return -1;
	/* The copy as made, held open until then: a failed sync takes back
	 * our link, never an entry put under the name since
	 * (ccp_unlink_if_same()). */
	int copy = openat(tmp_dirfd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int rc = copy >= 0 ? linkat(tmp_dirfd, tmp, new_dirfd, name, 0) : -1;
	int e = errno;
	if (rc == 0)
		in_new(arg);
	if (rc == 0 && sync && fsync(new_dirfd) != 0) {
		e = errno;
		ccp_unlink_if_same(new_dirfd, name, copy);
		rc = -1;
	}
	unlinkat(tmp_dirfd, tmp, 0);
	ccp_close_fds(&copy, 1);
	errno = e;
	return rc;
}

/* Moves SRC_DIRFD/NAME to NEW_DIRFD/NAME, never over an entry. */
static int move_in(int src_dirfd, const char *name, int tmp_dirfd, int new_dirfd, bool sync,
		   void (*in_new)(void *), void *arg)
{
	/* IN_NEW(ARG) runs as soon as the message is in new/, before the
	 * copy in Bad is removed where there is one. */
	if (renameat2(src_dirfd, name, new_dirfd, name, RENAME_NOREPLACE) == 0) {
		in_new(arg);
		return 0;
	}
	int how = errno;
	if (how != EXDEV && how != EINVAL)
		return -1;
	/* The file moved, held open until its removal from Bad below
	 * (ccp_unlink_if_same()): across file systems it is what is copied;
	 * on a file system without RENAME_NOREPLACE it is linked, as a link
	 * cannot replace either. */
	int held = openat(src_dirfd, name,
			  (how == EXDEV ? O_RDONLY | O_NONBLOCK : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
	if (held < 0)
		return -1;
	int rc;
	if (how == EXDEV) {
		rc = copy_in(held, name, tmp_dirfd, new_dirfd, sync, in_new, arg);
	} else {
		rc = linkat(src_dirfd, name, new_dirfd, name, 0);
		if (rc == 0)
			in_new(arg);
	}
	/* In the spool now: the copy in Bad goes.  Should it stay, the spool's
	 * is the message, and Bad's is only a copy of what is delivered.  Only
	 * the file that was moved goes: from the moment it is in new/, a
	 * running relay may claim it, fail it again and put a copy of its own
	 * into Bad under this name (across file systems a move is a copy
	 * renamed over the name), and that copy is the message now.  The
	 * window left is two system calls (ccp_unlink_if_same()), where the
	 * copy to the spool (with its syncs) was one before. */
	if (rc == 0)
		ccp_unlink_if_same(src_dirfd, name, held);
	int e = errno;
	close(held);
	errno = e;
	return rc;
}

/* Renames aside name NAME (CAP octets) in DIRFD to a plain temporary
 * name, which says nothing of what it holds: never put back. */
static void demote_aside(int dirfd, char *name, size_t cap)
{
	char plain[CCP_TMP_NAME_MAX];
	ccp_tmp_name(plain, sizeof(plain));
	if (renameat(dirfd, name, dirfd, plain) == 0)
		snprintf(name, cap, "%s", plain);
}

/* The aside name (CCP_ASIDE_NAME_MAX octets) of the record SUFFIX ("" for
 * the queued report) of message NAME, found as IDENT ("INO.CTIME"): the
 * temporary name, '~', IDENT, SUFFIX, '~' and NAME; where NAME is too long
 * for a file name with all that, the same without NAME: the relay's
 * start-up then finds the message in Bad by its inode and ctime. */
static void aside_name(char *buf, const char *ident, const char *suffix, const char *name)
{
	char what[CCP_QUEUE_RECORD_NAME_MAX + 64];
	snprintf(what, sizeof(what), "%s%s~%s", ident, suffix, name);
	ccp_tmp_name_for(buf, CCP_ASIDE_NAME_MAX, what);
	if (strchr(buf, '~') == NULL) {
		snprintf(what, sizeof(what), "%s%s~", ident, suffix);
		ccp_tmp_name_for(buf, CCP_ASIDE_NAME_MAX, what);
	}
}

/* A requeue's records and report put aside. */
struct asides {
	int bad_fd, bounce_fd;
	char (*rec)[CCP_ASIDE_NAME_MAX];
	const bool *rec_moved;
	char *report;
	bool report_moved;
};

/* The message is in new/: its asides are no longer to be put back,
 * whatever comes (a crash before their removal, or the copy left in Bad
 * across file systems, which a start-up would take for the message still
 * there).  A move undone after this (a failed sync) renames them back by
 * their new names all the same. */
static void demote_asides(void *arg)
{
	struct asides *a = arg;
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++)
		if (a->rec_moved[i])
			demote_aside(a->bad_fd, a->rec[i], CCP_ASIDE_NAME_MAX);
	if (a->report_moved)
		demote_aside(a->bounce_fd, a->report, CCP_ASIDE_NAME_MAX);
}

/* Whether Bad/NAME is a spool file that changed after its delivery: its
 * reason says so (spool.c). */
static bool delivered_before(int bad_fd, const char *name)
{
	char rec[CCP_QUEUE_RECORD_NAME_MAX], line[64];
	ccp_queue_record_name(rec, name, ".reason");
	int fd = openat(bad_fd, rec, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	close(fd);
	line[n > 0 ? n : 0] = '\0';
	return strncmp(line, CCP_SPOOL_CHANGED_AFTER, strlen(CCP_SPOOL_CHANGED_AFTER)) == 0;
}

int ccp_queue_requeue(const char *spool, const char *store, const char *name, bool sync,
		      char *err, size_t errlen)
{
	if (!bad_message_name(name, err, errlen))
		return -1;
	/* From the records' move aside to their removal the requeue must not
	 * be cut short: the records would stay under temporary names, which
	 * the relay's start-up removes, leaving the message in Bad without its
	 * reason and its waiting report.  So the signals that end a process by
	 * default (a Ctrl-C during --requeue-all, a service manager's TERM)
	 * wait for the end of this message: they are held here, and acted on
	 * when the mask is given back at the end. */
	sigset_t was;
	hold_signals(&was);
	char *bad = ccp_path_join(store, "Bad"), *deferred = ccp_path_join(store, "Deferred");
	char *bounce = ccp_path_join(store, "Bounce"), *delivered = ccp_path_join(store, "Delivered");
	char *newdir = ccp_path_join(spool, "new"), *tmpdir = ccp_path_join(spool, "tmp");
	/* Each required folder's errno kept as it is opened: the message
	 * names the one that failed, with its own reason.  new/ and tmp/ not
	 * through a link: whoever may write the spool could make either one
	 * to any directory, and root's requeue would rename the message
	 * there (ccp_dir_open_in()). */
	int bad_fd = open(bad, O_RDONLY | O_DIRECTORY | O_CLOEXEC), bad_e = errno;
	int new_fd = ccp_dir_open_in(spool, "new"), new_e = errno;
	int tmp_fd = ccp_dir_open_in(spool, "tmp"), tmp_e = errno;
	int def_fd = open(deferred, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int bounce_fd = open(bounce, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int del_fd = open(delivered, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char aside[CCP_QUEUE_RECORDS][CCP_ASIDE_NAME_MAX];
	bool moved_aside[CCP_QUEUE_RECORDS] = { false };
	char report_aside[CCP_ASIDE_NAME_MAX];
	bool report_moved = false;
	char rec[CCP_QUEUE_RECORD_NAME_MAX];
	struct stat st;
	int rc = -1;

	if (bad_fd < 0 || new_fd < 0 || tmp_fd < 0) {
		const char *which = bad_fd < 0 ? bad : new_fd < 0 ? newdir : tmpdir;
		int e = bad_fd < 0 ? bad_e : new_fd < 0 ? new_e : tmp_e;
		snprintf(err, errlen, "%s: cannot open %s: %s", name, which, strerror(e));
		goto out;
	}
	/* A requeue killed (SIGKILL, a power loss) in the middle of a copy
	 * across file systems left the copy's name in tmp/ (copy_in()),
	 * linked into new/ or not: gone now that its maker is.  Only ccpump's
	 * own temporary names; this process makes none but within one call. */
	ccp_dir_remove_stale_own_tmp(tmp_fd);
	if (fstatat(bad_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, errlen, "%s: not in %s%s%s", name, bad, errno == ENOENT ? "" : ": ",
			 errno == ENOENT ? "" : strerror(errno));
		goto out;
	}
	/* The message as found, for the aside names (below). */
	char ident[48];
	snprintf(ident, sizeof(ident), "%llx.%llx", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_ctim.tv_nsec);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a message in %s (not a regular file)", name, bad);
		goto out;
	}
	if (fstatat(new_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(err, errlen, "%s: %s/%s is there already: not replaced", name, newdir, name);
		goto out;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot look in %s: %s", name, newdir, strerror(errno));
		goto out;
	}
	if (delivered_before(bad_fd, name)) {
		ccp_queue_record_name(rec, name, ".reason");
		snprintf(err, errlen, "%s: delivered before it changed (%s/%s): under its "
			 "name the post office would skip this version as a duplicate; to deliver "
			 "it as a message of its own, move it into %s under a new name", name, bad,
			 rec, newdir);
		goto out;
	}
	/* The records go aside under temporary names first, and come back
	 * if the move fails: removed after it, they could take with them the
	 * records of the message's next trip to Bad, should the relay send it
	 * there again at once.  (A crash leaves them to the relay's start-up:
	 * each name says the message it belongs to and the record it holds,
	 * "INO.CTIME.reason~NAME" (aside_name()), and is put back only while
	 * Bad/NAME is still that very file, untouched; once the message is in
	 * new/, the names are made plain (demote_asides()), and the start-up
	 * removes them.) */
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++) {
		ccp_queue_record_name(rec, name, ccp_queue_record_suffixes[i]);
		aside_name(aside[i], ident, ccp_queue_record_suffixes[i], name);
		if (renameat(bad_fd, rec, bad_fd, aside[i]) == 0)
			moved_aside[i] = true;
		else if (errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot move its record %s aside: %s", name, rec,
				 strerror(errno));
			goto restore;
		}
	}
	/* A report on its failure still waiting to be sent is not sent: the
	 * message goes back to be delivered.  It goes aside like the records,
	 * and is removed only once the message is in new/: a failed move
	 * leaves the message in Bad with its report still queued. */
	aside_name(report_aside, ident, "", name);
	if (bounce_fd >= 0 && renameat(bounce_fd, name, bounce_fd, report_aside) == 0)
		report_moved = true;
	else if (bounce_fd >= 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot take its queued report out of %s: %s", name,
			 bounce, strerror(errno));
		goto restore;
	}
	/* Its attempts start again: a marker left behind would count the old
	 * ones. */
	bool def_gone = def_fd >= 0 && unlinkat(def_fd, name, 0) == 0;
	if (def_fd >= 0 && !def_gone && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove its marker in %s: %s", name, deferred,
			 strerror(errno));
		goto restore;
	}
	/* A "failed" marker that outlived the move to Bad (a crash between
	 * the two) would match the file again, moved back with its inode:
	 * the relay would send it straight back to Bad, without the reason
	 * and report just removed. */
	bool del_gone = del_fd >= 0 && unlinkat(del_fd, name, 0) == 0;
	if (del_fd >= 0 && !del_gone && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove its marker in %s: %s", name, delivered,
			 strerror(errno));
		goto restore;
	}
	/* Each of those changes made durable before the message is in new/,
	 * where a relay may take it at once: brought back by a crash after
	 * the move, the queued report would be sent on a message going out
	 * again, and the failed marker would send it back to Bad.  A sync
	 * that fails stops the requeue here, the message still in Bad with
	 * its records and report. */
	const char *unsynced = sync && report_moved && fsync(bounce_fd) != 0 ? bounce
			       : sync && def_gone && fsync(def_fd) != 0     ? deferred
			       : sync && del_gone && fsync(del_fd) != 0     ? delivered
									    : NULL;
	if (unsynced != NULL) {
		snprintf(err, errlen, "%s: cannot sync %s: %s", name, unsynced, strerror(errno));
		goto restore;
	}
	struct asides as = { .bad_fd = bad_fd, .bounce_fd = bounce_fd, .rec = aside,
			     .rec_moved = moved_aside, .report = report_aside,
			     .report_moved = report_moved };
	if (move_in(bad_fd, name, tmp_fd, new_fd, sync, demote_asides, &as) != 0) {
		snprintf(err, errlen, "%s: cannot move it into %s: %s", name, newdir,
			 strerror(errno));
		goto restore;
	}
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++)
		if (moved_aside[i])
			unlinkat(bad_fd, aside[i], 0);
	if (report_moved)
		unlinkat(bounce_fd, report_aside, 0);
	/* Both directories' entries made durable before we say it is done.
	 * (Should a sync fail, the move is made all the same and is not
	 * undone: the message is in new/ either way.  It is said: a crash
	 * could then take back part of the move.) */
	if (sync && (fsync(new_fd) != 0 || fsync(bad_fd) != 0))
		ccp_log(CCP_LOG_WARN, "%s: moved into %s, but the move cannot be synced: %s; it "
			"may not survive a crash", name, newdir, strerror(errno));
	rc = 0;
	goto out;
restore:
	/* The message never left Bad, so no newer report can be queued
	 * meanwhile (one resent by an operator is this same file). */
	if (report_moved)
		renameat(bounce_fd, report_aside, bounce_fd, name);
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++) {
		ccp_queue_record_name(rec, name, ccp_queue_record_suffixes[i]);
		if (moved_aside[i])
			renameat(bad_fd, aside[i], bad_fd, rec);
	}
out:
	ccp_close_fds((const int[]){ bad_fd, new_fd, tmp_fd, def_fd, bounce_fd, del_fd }, 6);
	ccp_free(bad);
	ccp_free(deferred);
	ccp_free(bounce);
	ccp_free(delivered);
	ccp_free(newdir);
	ccp_free(tmpdir);
	release_signals(&was);
	return rc;
}

int ccp_queue_resend_report(const char *store, const char *name, char *err, size_t errlen)
{
	char ndr[CCP_QUEUE_RECORD_NAME_MAX], addr[320];
	if (!plain_name(name) || ccp_queue_is_record(name)) {
		snprintf(err, errlen, "'%s' is not the name of a message in Bad or Partial", name);
		return -1;
	}
	ccp_queue_record_name(ndr, name, ".ndr");
	/* The report on a message in Bad, else on one delivered in part. */
	char *dirs[CCP_QUEUE_REPORT_DIRS];
	for (unsigned k = 0; k < CCP_QUEUE_REPORT_DIRS; k++)
		dirs[k] = ccp_path_join(store, ccp_queue_report_dirs[k]);
	char *bounce = ccp_path_join(store, "Bounce");
	int dir_fd = -1, bounce_fd = -1, fd = -1, e = 0;
	int rc = -1;
	for (unsigned k = 0; k < CCP_QUEUE_REPORT_DIRS && fd < 0; k++) {
		if (dir_fd >= 0)
			close(dir_fd);
		bool odd = false;
		/* A regular file's alone: a FIFO left there by whoever owns the
		 * store would hang the command, which root may run. */
		if ((dir_fd = open(dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
			fd = ccp_open_regular_at(dir_fd, ndr, &odd);
		if (odd) {
			snprintf(err, errlen, "%s: its report %s/%s is not a regular file: not sent",
				 name, dirs[k], ndr);
			goto out;
		}
		/* The first failure other than "not there" is the one to say. */
		if (fd < 0 && (e == 0 || e == ENOENT))
			e = errno;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: no report %s/%s or %s/%s: %s", name, dirs[0], ndr,
			 dirs[1], ndr, strerror(e));
		goto out;
	}
	if (!ccp_bounce_report_to(fd, addr, sizeof(addr))) {
		snprintf(err, errlen, "%s: its report has no address to go to (no usable return "
			 "path was found)", name);
		goto out;
	}
	/* Made, where it is not there yet, as the store's owner's: run as root
	 * on the store of a relay run as its own user (the shipped service),
	 * a Bounce/ of root's would stop that relay, once given --bounce-cmd,
	 * at its start. */
	if ((bounce_fd = ccp_dir_ensure_open_in(store, "Bounce", err, errlen)) < 0)
		goto out;
	if (ccp_bounce_queue_link(dir_fd, ndr, bounce_fd, name, true) != 0) {
		snprintf(err, errlen, "%s: cannot queue its report in %s: %s", name, bounce,
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	ccp_close_fds((const int[]){ dir_fd, bounce_fd, fd }, 3);
	for (unsigned k = 0; k < CCP_QUEUE_REPORT_DIRS; k++)
		ccp_free(dirs[k]);
	ccp_free(bounce);
	return rc;
}

/* ---- delete ------------------------------------------------------------- */

/* Syncs directory DIRFD (DIR) after NAME's removal from it; a failure is
 * said, not undone: the removal is made either way. */
static void sync_removal(int dirfd, const char *name, const char *dir)
{
	if (fsync(dirfd) != 0)
		ccp_log(CCP_LOG_WARN, "%s: removed from %s, but the removal cannot be synced: %s; "
			"a crash may bring it back", name, dir, strerror(errno));
}

/* Says, in ERR, that message NAME's WHAT DIR/ENTRY could not be removed
 * (errno), after what the line says already: each one a delete leaves is
 * named, the first in full, the others after it.  Sets *RC to -1. */
static void left_behind(char *err, size_t errlen, int *rc, const char *name, const char *what,
			const char *dir, const char *entry)
{
	size_t n = *rc < 0 ? strnlen(err, errlen) : 0;
	if (n + 1 >= errlen)
		return;
	if (*rc < 0)
		snprintf(err + n, errlen - n, "; nor its %s %s/%s: %s", what, dir, entry,
			 strerror(errno));
	else
		snprintf(err, errlen, "%s: removed, but not its %s %s/%s: %s", name, what, dir,
			 entry, strerror(errno));
	*rc = -1;
}

int ccp_queue_delete(const char *store, const char *name, bool sync, char *err, size_t errlen)
{
	if (!bad_message_name(name, err, errlen))
		return -1;
	/* As a requeue's: a Ctrl-C in the middle of --delete-all would leave
	 * a message's records without it; the signals wait for its end. */
	sigset_t was;
	hold_signals(&was);
	char *bad = ccp_path_join(store, "Bad"), *bounce = ccp_path_join(store, "Bounce");
	char *deferred = ccp_path_join(store, "Deferred");
	int bad_fd = open(bad, O_RDONLY | O_DIRECTORY | O_CLOEXEC), bad_e = errno;
	int bounce_fd = open(bounce, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int def_fd = open(deferred, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char rec[CCP_QUEUE_RECORD_NAME_MAX];
	struct stat st;
	int rc = -1;
	if (bad_fd < 0) {
		snprintf(err, errlen, "%s: cannot open %s: %s", name, bad, strerror(bad_e));
		goto out;
	}
	if (fstatat(bad_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, errlen, "%s: not in %s%s%s", name, bad, errno == ENOENT ? "" : ": ",
			 errno == ENOENT ? "" : strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a message in %s (not a regular file)", name, bad);
		goto out;
	}
	/* The message first: should a step after it fail (or a crash come),
	 * what is left is records of no message, which a later delete or an
	 * operator removes, never a message in Bad without its reason. */
	if (unlinkat(bad_fd, name, 0) != 0) {
		snprintf(err, errlen, "%s: cannot remove it from %s: %s", name, bad, strerror(errno));
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++) {
		ccp_queue_record_name(rec, name, ccp_queue_record_suffixes[i]);
		if (unlinkat(bad_fd, rec, 0) != 0 && errno != ENOENT)
			left_behind(err, errlen, &rc, name, "record", bad, rec);
	}
	/* Its report, if it still waits to be sent: the message it is about
	 * is gone at the operator's word, as Postfix's postsuper -d sends no
	 * bounce.  And a Deferred/ marker, had a crash left one. */
	bool report_gone = bounce_fd >= 0 && unlinkat(bounce_fd, name, 0) == 0;
	if (bounce_fd >= 0 && !report_gone && errno != ENOENT)
		left_behind(err, errlen, &rc, name, "queued report", bounce, name);
	bool marker_gone = def_fd >= 0 && unlinkat(def_fd, name, 0) == 0;
	if (def_fd >= 0 && !marker_gone && errno != ENOENT)
		left_behind(err, errlen, &rc, name, "marker", deferred, name);
	/* Every removal made durable before we say it is done, the report's
	 * first: a queued report is a link to the .ndr, which it keeps, and
	 * brought back by a crash without its removal, it would be sent on a
	 * message the operator deleted.  Should the crash come between two
	 * syncs, what comes back is at worst the message in Bad without its
	 * report (sent by no one; deleted again by the operator), never the
	 * report without its message. */
	if (sync && report_gone)
		sync_removal(bounce_fd, name, bounce);
	if (sync && marker_gone)
		sync_removal(def_fd, name, deferred);
	if (sync)
		sync_removal(bad_fd, name, bad);
out:
	ccp_close_fds((const int[]){ bad_fd, bounce_fd, def_fd }, 3);
	ccp_free(bad);
	ccp_free(bounce);
	ccp_free(deferred);
	release_signals(&was);
	return rc;
}

int ccp_queue_each_bad(const char *store, int (*fn)(void *arg, const char *name), void *arg,
		       char *err, size_t errlen)
{
	char *bad = ccp_path_join(store, "Bad");
	int bad_fd = open(bad, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = bad_fd >= 0 ? ccp_dir_reopen(bad_fd) : NULL;
	if (d == NULL) {
		int e = errno;
		struct stat st;
		/* No Bad/ in a store: nothing bad yet.  No store: a mistyped
		 * path, which "0 messages" would hide from a cron job. */
		bool none = e == ENOENT && stat(store, &st) == 0 && S_ISDIR(st.st_mode);
		if (e == ENOENT && !none)
			snprintf(err, errlen, "store %s: %s", store,
				 errno == ENOENT ? "no such directory" : strerror(errno));
		else if (!none)
			snprintf(err, errlen, "cannot read %s: %s", bad, strerror(e));
		if (bad_fd >= 0)
			close(bad_fd);
		ccp_free(bad);
		return none ? 0 : -1;
	}
	/* The names first, then the calls: fn may move entries out of Bad. */
	size_t n;
	char **names = ccp_dir_names(d, ccp_queue_is_record, &n);
	ccp_free(bad);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* Messages are files: a directory or a FIFO made in Bad/ is
		 * none, and the relay never put it there. */
		struct stat st;
		if (fstatat(bad_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
			continue;
		rc = fn(arg, names[i]);
	}
	ccp_dir_names_free(names, n);
	close(bad_fd);
	return rc;
}

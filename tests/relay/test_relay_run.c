/*
 * test_relay_run: the relay run in this process, with fsync() the test's
 * own (below), which can fail as a failing disk's does; renameat(),
 * renameat2(), linkat(), write(), unlinkat() and statx() are the test's
 * too, to fail as other file systems and full disks do.
 *
 *   stop first  a stop asked for before the run is up (a SIGTERM while the
 *               relay starts) stops the run once it is up, not never; and
 *               the next run in the process starts afresh;
 *   fsync fails every batch's fsync fails for a while: deliveries pause
 *               and each probe's batch is removed, its fd closed (none left
 *               open on a removed batch); once fsync works again, every
 *               message is delivered once;
 *   store write a record written with sync has its directory synced too,
 *               so that its name survives a crash of the machine;
 *   Import/     is never synced: no restart needs its entries;
 *   unreadable  a rescan whose read of new/ fails part way (EIO) is not
 *   folders     the end of new/: a --once run scans again and relays it
 *               all once it reads through; a Delivered/ that cannot be
 *               read through at start-up stops the relay from starting;
 *   resettled   files delivered that cannot leave new/ are settled again
 *               by their markers at every rescan, and not counted as
 *               delivered again; once they leave, each marker is removed
 *               only after new/ is synced;
 *   dir syncs   a requeue and a sent report whose directory's sync fails
 *   that fail   are done all the same, and say that a crash could undo
 *               them;
 *   across, not a requeue across file systems whose sync of new/ fails
 *   synced      takes back its own link only: a file put under the name in
 *               that moment stays (the copy's tmp/ name holds its inode
 *               number until then, which ext4 would give the next file
 *               made), and so does the message in Bad;
 *   a SIGTERM   in the middle of a requeue (here, at the message's move,
 *               its records already aside) acts only once the requeue is
 *               done: the message is in new/ by then, no record aside;
 *   long names  a requeued message's name too long for its asides' names:
 *               they name it by inode and ctime;
 *   put back    a dead requeue's aside is put back at start-up on a file
 *               system without RENAME_NOREPLACE;
 *   killed      a requeue across file systems killed (SIGKILL) at its sync
 *   requeue     of new/ leaves its copy's name in the spool's tmp/: the
 *               next requeue removes it, and so does the relay's start-up;
 *               nothing else in tmp/ goes (an MTA's file, names that only
 *               begin as ccpump's, a live process's temporary name);
 *   reload      the map files read again while messages flow: each is
 *               delivered once, under one map or the other; after the
 *               last reload, under its names and site;
 *   no fork     an import program that cannot be started postpones its
 *               batch and pauses deliveries, no attempt counted;
 *   gone        so does one removed or made unexecutable since the
 *               start (the shell's 127 and 126); back, it delivers;
 *   queue fails a report Bounce/ cannot take postpones its message;
 *               once it can, the message goes to Bad, its report sent;
 *   po limits   the relay converts for the post office's address buffer
 *               and [ ] setting (po.conf); for an import program, for
 *               its own flags;
 *   cut short   a rename by link and unlink that a crash cut short is
 *               finished, not made a second message;
 *   ENOENT      a rename by link and unlink whose unlink finds the old
 *               name gone already is done: the new name is not removed;
 *   unlink      one whose unlink fails takes its link back, and syncs
 *   fails       the folder after;
 *   held open   ccp_unlink_if_same() removes a name only while it leads
 *               to the file the caller holds open, and aborts on a
 *               descriptor that is not open; its callers (a move across
 *               file systems, a link's too; a requeue's; a start-up's
 *               finishing of a dead requeue) hold the file they remove;
 *   markers     a Delivered/ marker names its file by inode and, where
 *               both have one, birth time: the same number with another
 *               birth time is another file (stale); one without (older
 *               markers) goes by the inode; a failed marker's reason
 *               follows the stamp, and comes with its verdict: a
 *               start-up reads a failed marker once;
 *   no statx    where statx() is refused (a seccomp filter older than it
 *               answers EPERM), ccp_statx() stands in with fstatat(), no
 *               birth time, and the relay delivers as before;
 *   across file a move between two file systems (renameat() answering
 *   systems     EXDEV) that fails (the copy's write, its folder's sync, the
 *               source's removal, a source gone, the copy's rename over
 *               the name) leaves the destination's entry of that name as
 *               it was, and the source, and syncs the destination's
 *               folder after its undo as after the copy; one that
 *               succeeds replaces that entry, as a rename does; with and
 *               without RENAME_EXCHANGE and RENAME_NOREPLACE, and on a
 *               file system with neither RENAME_EXCHANGE nor hard links.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay_util.h"
#include "ccpump/log.h"
#include "ccpump/po.h"
#include "ccpump/queue.h"
#include "ccpump/queuectl.h"
#include "ccpump/relay.h"
#include "ccpump/spool.h"
#include "relay/bouncer.h"
#include "relay/fsutil.h"

#define MESSAGES 8

/* While set, fsync() of a batch being written (STORE/Submit/Msg...) fails
 * with EIO; the failures are counted. */
static _Atomic int fail_batches;
static _Atomic unsigned batch_failures;
/* The last directory fsync() synced. */
static _Atomic dev_t synced_dev;
static _Atomic ino_t synced_ino;
/* Syncs of a directory named .../Import (the store's). */
static _Atomic unsigned import_syncs;
/* While set, fsync() of a directory whose path holds it fails with EIO. */
static const char *_Atomic fail_dirs;
/* While set, such a failing fsync() first puts another file at this path
 * (its text: "another message\n"), as a writer could in that moment. */
static const char *_Atomic replace_at_failed_sync;

/* Whether FD is open on a path that holds NEEDLE (a deleted file's too:
 * its link reads "PATH (deleted)"). */
static bool fd_path_has(int fd, const char *needle)
{
	char path[4096];
	fd_target(fd, path, sizeof(path));
	return strstr(path, needle) != NULL;
}

/* Whether FD is open on a path that holds what WHERE names now: a
 * failure is to be injected there. */
static bool injected_at(const char *_Atomic *where, int fd)
{
	const char *needle = atomic_load_explicit(where, memory_order_relaxed);
	return needle && fd_path_has(fd, needle);
}

/* While set, fsync() of a directory whose path holds it kills the
 * process (SIGKILL), as a kill -9 in that moment would. */
static const char *_Atomic kill_at_dir_sync;
/* While set, fsync() calls on a directory whose path holds it, failed or
 * not, are counted in dir_syncs. */
static const char *_Atomic count_syncs_in;
static _Atomic unsigned dir_syncs;

/* Every fsync() of the relay and the post office comes here (this
 * definition takes the place of libc's in the program). */
int fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (injected_at(&count_syncs_in, fd))
			atomic_fetch_add_explicit(&dir_syncs, 1, memory_order_relaxed);
		const char *killing = atomic_load_explicit(&kill_at_dir_sync, memory_order_relaxed);
		if (killing && fd_path_has(fd, killing))
			raise(SIGKILL);
		const char *failing = atomic_load(&fail_dirs);
		if (failing && fd_path_has(fd, failing)) {
			const char *put = atomic_exchange_explicit(&replace_at_failed_sync, NULL,
								   memory_order_relaxed);
			if (put) {
				unlink(put);
				write_file(put, "another message\n", 16);
			}
			errno = EIO;
			return -1;
		}
		if (fd_path_has(fd, "/Import"))
			atomic_fetch_add(&import_syncs, 1);
		atomic_store(&synced_dev, st.st_dev);
		atomic_store(&synced_ino, st.st_ino);
	} else if (atomic_load(&fail_batches) && fd_path_has(fd, "/Submit/Msg")) {
		atomic_fetch_add(&batch_failures, 1);
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

/* While set, the rename of a file of this name with RENAME_NOREPLACE (a
 * requeue's move into new/) first raises SIGTERM. */
static const char *_Atomic term_at_rename;

/* While set, the rename of a file of this name with RENAME_NOREPLACE
 * first lists the entries of its directory into seen_at_rename, each
 * followed by '/'. */
static const char *_Atomic list_at_rename;
static char seen_at_rename[8192];

static void list_dirfd(int dirfd, char *out, size_t cap)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0;
	out[0] = '\0';
	while (d && (de = readdir(d)) != NULL && n < cap)
		n += (size_t)snprintf(out + n, cap - n, "%s/", de->d_name);
	if (d)
		closedir(d);
}

/* While set, fork() fails with EAGAIN, as when the machine is out of
 * processes. */
static _Atomic int fail_fork;

pid_t fork(void)
{
	static pid_t (*real_fork)(void);
	if (atomic_load(&fail_fork)) {
		errno = EAGAIN;
		return -1;
	}
	if (real_fork == NULL)
		real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	return real_fork();
}

/* Whether the two descriptors are open on one directory. */
static bool same_dir(int a, int b)
{
	struct stat x, y;
	return a == b || (fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
			  x.st_ino == y.st_ino);
}

/* While set, renameat() from one directory into another fails with EXDEV,
 * as between two file systems (a spool and a store on two disks). */
static _Atomic int exdev_renames;

/* While set, renameat2() with RENAME_NOREPLACE fails with EINVAL, as on
 * a file system that does not know the flag (NFS, some FUSE). */
static _Atomic int no_noreplace;
/* While set, renameat2() with any flag fails with EINVAL, as on a file
 * system that knows neither RENAME_NOREPLACE nor RENAME_EXCHANGE. */
static _Atomic int no_rename_flags;

/* While set, renameat2() with RENAME_EXCHANGE fails with EINVAL (and
 * RENAME_NOREPLACE works), as on exFAT, or FAT before Linux 6.0. */
static _Atomic int no_exchange;
/* While set, linkat() of an entry that is there fails with EPERM, as on a
 * file system without hard links (FAT, exFAT, some FUSE). */
static _Atomic int no_links;

/* While it names an entry, the next rename of a temporary name (a move's
 * copy) over that name, renameat() or renameat2(), fails with EIO, once. */
static const char *_Atomic fail_place_once;

/* Whether the rename of OLD over NEW is the one fail_place_once names;
 * it is then no longer named. */
static bool place_fails(const char *old, const char *new_name)
{
	const char *name = atomic_load_explicit(&fail_place_once, memory_order_relaxed);
	if (name == NULL || strncmp(old, ".tmp-", 5) != 0 || strcmp(new_name, name) != 0)
		return false;
	atomic_store_explicit(&fail_place_once, NULL, memory_order_relaxed);
	errno = EIO;
	return true;
}

/* While set, linkat() of a report (NAME.ndr) fails with EPERM, as the
 * queueing of a report in an immutable Bounce/ does. */
static _Atomic int fail_report_links;

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	struct stat st;
	size_t ol = strlen(oldpath);
	if (atomic_load_explicit(&fail_report_links, memory_order_relaxed) && ol > 4 &&
	    strcmp(oldpath + ol - 4, ".ndr") == 0) {
		errno = EPERM;
		return -1;
	}
	if (atomic_load_explicit(&no_links, memory_order_relaxed) &&
	    fstatat(olddirfd, oldpath, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EPERM;
		return -1;
	}
	return (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	if (atomic_load_explicit(&exdev_renames, memory_order_relaxed) &&
	    !same_dir(olddirfd, newdirfd)) {
		errno = EXDEV;
		return -1;
	}
	if ((atomic_load(&no_noreplace) && (flags & RENAME_NOREPLACE)) ||
	    (atomic_load_explicit(&no_exchange, memory_order_relaxed) &&
	     (flags & RENAME_EXCHANGE)) ||
	    (atomic_load_explicit(&no_rename_flags, memory_order_relaxed) && flags != 0)) {
		errno = EINVAL;
		return -1;
	}
	if (place_fails(oldpath, newpath))
		return -1;
	const char *name = atomic_load(&term_at_rename);
	if (name && (flags & RENAME_NOREPLACE) && strcmp(oldpath, name) == 0)
		raise(SIGTERM);
	name = atomic_load(&list_at_rename);
	if (name && (flags & RENAME_NOREPLACE) && strcmp(oldpath, name) == 0)
		list_dirfd(olddirfd, seen_at_rename, sizeof(seen_at_rename));
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (atomic_load_explicit(&exdev_renames, memory_order_relaxed) &&
	    !same_dir(olddirfd, newdirfd)) {
		errno = EXDEV;
		return -1;
	}
	if (place_fails(oldpath, newpath))
		return -1;
	return (int)syscall(SYS_renameat, olddirfd, oldpath, newdirfd, newpath);
}

/* While set, write() to a file whose path holds it fails with ENOSPC, as
 * on a full disk; each such failure is counted in writes_failed. */
static const char *_Atomic fail_writes_in;
static _Atomic unsigned writes_failed;

ssize_t write(int fd, const void *buf, size_t n)
{
	if (injected_at(&fail_writes_in, fd)) {
		atomic_fetch_add_explicit(&writes_failed, 1, memory_order_relaxed);
		errno = ENOSPC;
		return -1;
	}
	return syscall(SYS_write, fd, buf, n);
}

/* While set, statx() fails with EPERM, as under a seccomp filter older
 * than it. */
static _Atomic int no_statx;

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
	if (atomic_load_explicit(&no_statx, memory_order_relaxed)) {
		errno = EPERM;
		return -1;
	}
	return (int)syscall(SYS_statx, dirfd, path, flags, mask, sx);
}

/* While it names a file, the next unlinkat() of that name removes it and
 * answers ENOENT, as an NFS client does when its REMOVE is retransmitted
 * after the server carried it out. */
static const char *_Atomic enoent_after_unlink;

/* While set, unlinkat() in a directory whose path holds it fails with
 * EPERM, as in a sticky folder, or of an immutable file. */
static const char *_Atomic fail_unlink_in;

/* While set, each unlinkat() in a directory whose path holds it (a marker
 * leaving Delivered/) is counted in forgets, and in forgets_unsynced when
 * the syncs counted in dir_syncs (count_syncs_in) are fewer than the
 * removals so far: each must follow a sync of the folder its file left. */
static const char *_Atomic forget_in;
static _Atomic unsigned forgets, forgets_unsynced;

/* While both are set, an unlinkat() of the name HELD_NAME in a directory
 * whose path holds HELD_DIR is counted in unlinks_checked, and in
 * unlinks_unheld when the file it removes is not open in this process:
 * a removal by inode number (ccp_unlink_if_same()) of a file not held
 * open could take another file given its number since. */
static const char *_Atomic held_name, *_Atomic held_dir;
static _Atomic unsigned unlinks_checked, unlinks_unheld;

/* Whether DIRFD/NAME is a file some descriptor of this process is open
 * on (O_PATH ones too). */
static bool open_here(int dirfd, const char *name)
{
	struct stat f, o;
	if (fstatat(dirfd, name, &f, AT_SYMLINK_NOFOLLOW) != 0)
		return false;
	DIR *fds = opendir("/proc/self/fd");
	CHECK(fds != NULL);
	struct dirent *de;
	bool found = false;
	while (!found && (de = readdir(fds)) != NULL)
		found = de->d_name[0] != '.' && fstat(atoi(de->d_name), &o) == 0 &&
			o.st_dev == f.st_dev && o.st_ino == f.st_ino;
	closedir(fds);
	return found;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	const char *name = atomic_load_explicit(&held_name, memory_order_relaxed);
	if (name && strcmp(path, name) == 0 && injected_at(&held_dir, dirfd)) {
		atomic_fetch_add_explicit(&unlinks_checked, 1, memory_order_relaxed);
		if (!open_here(dirfd, path))
			atomic_fetch_add_explicit(&unlinks_unheld, 1, memory_order_relaxed);
	}
	if (injected_at(&fail_unlink_in, dirfd)) {
		errno = EPERM;
		return -1;
	}
	if (injected_at(&forget_in, dirfd) &&
	    atomic_fetch_add(&forgets, 1) + 1 > atomic_load(&dir_syncs))
		atomic_fetch_add(&forgets_unsynced, 1);
	int rc = (int)syscall(SYS_unlinkat, dirfd, path, flags);
	name = atomic_load(&enoent_after_unlink);
	if (rc == 0 && name && strcmp(path, name) == 0) {
		atomic_store(&enoent_after_unlink, NULL);
		errno = ENOENT;
		return -1;
	}
	return rc;
}

/* While set, readdir() of a directory whose path holds it returns its
 * first READDIR_OK_ENTRIES names (dot names aside) over the whole time it
 * is set, then fails with EIO, as a folder with a bad block does; the
 * failures are counted. */
#define READDIR_OK_ENTRIES 3
static const char *_Atomic fail_readdir_in;
static _Atomic unsigned readdir_served, readdir_failures;
/* While set, the ends of reads of a directory whose path holds it (a scan
 * read through) are counted in scans_done. */
static const char *_Atomic count_scans_in;
static _Atomic unsigned scans_done;

struct dirent *readdir(DIR *d)
{
	static struct dirent *(*real_readdir)(DIR *);
	if (real_readdir == NULL)
		real_readdir = (struct dirent * (*)(DIR *)) dlsym(RTLD_NEXT, "readdir");
	if (!injected_at(&fail_readdir_in, dirfd(d))) {
		struct dirent *de = real_readdir(d);
		if (de == NULL && injected_at(&count_scans_in, dirfd(d)))
			atomic_fetch_add(&scans_done, 1);
		return de;
	}
	struct dirent *de = real_readdir(d);
	if (de == NULL || de->d_name[0] == '.')
		return de;
	if (atomic_fetch_add(&readdir_served, 1) < READDIR_OK_ENTRIES)
		return de;
	atomic_fetch_add(&readdir_failures, 1);
	errno = EIO;
	return NULL;
}

/* Checks from now on that each removal of NAME in a directory whose path
 * holds DIR is of a file held open (unlinkat()); NULL, NULL: no more. */
static void check_held(const char *name, const char *dir)
{
	atomic_store_explicit(&held_name, NULL, memory_order_relaxed);
	atomic_store_explicit(&held_dir, dir, memory_order_relaxed);
	atomic_store_explicit(&unlinks_checked, 0, memory_order_relaxed);
	atomic_store_explicit(&unlinks_unheld, 0, memory_order_relaxed);
	atomic_store_explicit(&held_name, name, memory_order_relaxed);
}

/* While set, each openat() of this name in a folder whose path holds
 * "/Delivered" (a marker) is counted in marker_opens. */
static const char *_Atomic count_opens_of;
static _Atomic unsigned marker_opens;

int openat(int dirfd, const char *path, int flags, ...)
{
	const char *name = atomic_load_explicit(&count_opens_of, memory_order_relaxed);
	if (name && strcmp(path, name) == 0 && fd_path_has(dirfd, "/Delivered"))
		atomic_fetch_add_explicit(&marker_opens, 1, memory_order_relaxed);
	va_list ap;
	va_start(ap, flags);
	int fd = sys_openat_va(dirfd, path, flags, ap);
	va_end(ap);
	return fd;
}

/* Fds of this process open on a batch file (in Submit/, removed or not). */
static unsigned open_batches(void)
{
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	struct dirent *de;
	unsigned n = 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && fd_path_has(atoi(de->d_name), "/Submit/Msg"))
			n++;
	closedir(d);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Whether DIRFD/NAME is a file holding TEXT, or, when LINK, a symbolic
 * link to TEXT. */
static bool entry_is(int dirfd, const char *name, bool link, const char *text)
{
	char buf[256];
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(st.st_mode) != link)
		return false;
	ssize_t n;
	if (link) {
		n = readlinkat(dirfd, name, buf, sizeof(buf));
	} else {
		int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		CHECK(fd >= 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

/* The entries of DIR, dot names (a temporary name left behind) counted. */
static unsigned count_all(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *de;
	unsigned n = 0;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Makes folder ROOT/NAME, its path into DIR (CAP octets), and opens it. */
static int new_dir(const char *root, const char *name, char *dir, size_t cap)
{
	snprintf(dir, cap, "%s/%s", root, name);
	CHECK(mkdir(dir, 0700) == 0);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static struct ccp_relay_config run_cfg;
static struct ccp_relay_stats run_st;
static _Atomic int run_rc = -1;

static void *relay_thread(void *arg)
{
	(void)arg;
	char err[600];
	int rc = ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "relay: %s\n", err);
	atomic_store(&run_rc, rc);
	return NULL;
}

/* A relay's config (not --once) in run_cfg, for a fresh spool of MESSAGES
 * messages under ROOT, TAG naming its directories; the post office in PO. */
static void prepare_relay(const char *root, const char *tag, char *po)
{
	setup(root, tag, po);
	for (int i = 0; i < MESSAGES; i++) {
		char key[32];
		snprintf(key, sizeof(key), "m%d", i);
		deliver(key, "a message");
	}
	ccp_relay_config_default(&run_cfg);
	run_cfg.spool = spool;
	run_cfg.store = store;
	run_cfg.po = po;
	run_cfg.stats_interval_ns = 0;
	run_cfg.pump.batch = 4;
	run_cfg.pump.dispatchers = 1; /* GMime is invisible to ThreadSanitizer */
	run_cfg.pump.retry_min_ns = 1000000; /* 1 ms */
	run_cfg.pump.retry_max_ns = 2000000; /* 2 ms */
}

/* That relay, running in a thread of its own. */
static pthread_t run_relay(void)
{
	atomic_store(&run_rc, -1);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, relay_thread, NULL) == 0);
	return th;
}

/* A running relay (not --once) on a fresh spool of MESSAGES messages
 * under ROOT, TAG naming its directories; returns the post office. */
static pthread_t start_relay(const char *root, const char *tag, char *po)
{
	prepare_relay(root, tag, po);
	return run_relay();
}

/* Waits up to 60 s for COND (a deadline against a hang, not a timing
 * check). */
#define AWAIT(cond)                                                    \
	do {                                                           \
		for (unsigned w_ = 0; w_ < 6000 && !(cond); w_++)      \
			sleep_ms(10);                                  \
	} while (0)

static void test_stop_first(const char *root)
{
	char po[600];
	ccp_relay_request_stop();
	pthread_t th = start_relay(root, "-stop", po);
	/* A run that lost the stop would relay until asked again: 20 s
	 * (against a start-up of milliseconds) before it is. */
	for (unsigned w = 0; w < 2000 && atomic_load(&run_rc) < 0; w++)
		sleep_ms(10);
	bool stopped = atomic_load(&run_rc) >= 0;
	if (!stopped)
		ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(stopped);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	/* The request ended with that run: the next relays the spool. */
	char err[600], path[800];
	run_cfg.once = true;
	CHECK(ccp_relay_run(&run_cfg, &run_st, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
}

static void test_fsync_fails(const char *root)
{
	char po[600], path[800], err[512];
	atomic_store(&fail_batches, 1);
	pthread_t th = start_relay(root, "-fsync", po);
	/* Deliveries pause; each probe writes a batch, fails its fsync and
	 * removes it. */
	AWAIT(atomic_load(&batch_failures) >= 20 || atomic_load(&run_rc) >= 0);
	CHECK(atomic_load(&batch_failures) >= 20);
	atomic_store(&fail_batches, 0);
	snprintf(path, sizeof(path), "%s/new", spool);
	AWAIT(count_dir(path) == 0 || atomic_load(&run_rc) >= 0);
	CHECK_EQ_U64(count_dir(path), 0);
	/* Idle now: no batch is being written, and none is left open. */
	CHECK_EQ_U64(open_batches(), 0);
	ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	CHECK_EQ_U64(run_st.delivered, MESSAGES);
	/* Synced batches were imported (sync is on by default), and their
	 * folder Import/ was never synced. */
	CHECK(run_cfg.sync);
	CHECK(run_st.batches_written > 0);
	CHECK_EQ_U64(atomic_load(&import_syncs), 0);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.distinct_keys, MESSAGES);
	CHECK_EQ_U64(ps.duplicate_deliveries, 0);
}

/* A rescan whose read of new/ fails part way (an I/O error) has not seen
 * the names past the error: a --once run does not end on it, as on the
 * end of new/, with the rest of the spool never looked at; it scans again
 * and relays everything once the folder reads through. */
static void test_scan_read_fails(const char *root)
{
	char po[600], path[800];
	atomic_store(&readdir_served, 0);
	atomic_store(&readdir_failures, 0);
	atomic_store(&fail_readdir_in, "/spool-readdir/new");
	prepare_relay(root, "-readdir", po);
	run_cfg.once = true;
	run_cfg.pump.retry_max_ns = 60000000000ull; /* no giving up on the spool */
	pthread_t th = run_relay();
	/* Rescans of new/ fail, one a second: the run goes on meanwhile. */
	AWAIT(atomic_load(&readdir_failures) >= 3 || atomic_load(&run_rc) >= 0);
	CHECK(atomic_load(&readdir_failures) >= 3);
	CHECK(atomic_load(&run_rc) < 0);
	atomic_store(&fail_readdir_in, NULL);
	AWAIT(atomic_load(&run_rc) >= 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	CHECK(!run_st.gave_up_paused);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
	struct ccp_po_stats ps;
	char err[512];
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.distinct_keys, MESSAGES);
	CHECK_EQ_U64(ps.duplicate_deliveries, 0);
}

/* Delivered/ read part way at start-up: the markers past the error were
 * not looked at, and their files would be imported again, so the relay
 * does not start; it names the folder and the error. */
static void test_markers_unread(const char *root)
{
	char po[600], path[800], err[600];
	prepare_relay(root, "-markers-unread", po);
	run_cfg.once = true;
	CHECK(mkdir(store, 0700) == 0);
	snprintf(path, sizeof(path), "%s/Delivered", store);
	CHECK(mkdir(path, 0700) == 0);
	for (int i = 0; i < READDIR_OK_ENTRIES + 2; i++) {
		snprintf(path, sizeof(path), "%s/Delivered/gone%d", store, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		CHECK(fd >= 0);
		close(fd);
	}
	atomic_store(&readdir_served, 0);
	atomic_store(&fail_readdir_in, "/store-markers-unread/Delivered");
	int rc = ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
	atomic_store(&fail_readdir_in, NULL);
	CHECK(rc != 0);
	CHECK(strstr(err, "/store-markers-unread/Delivered: Input/output error") != NULL);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), MESSAGES);
	/* Read through, the stale markers go and the spool is relayed. */
	CHECK(ccp_relay_run(&run_cfg, &run_st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(count_dir(path), 0);
	snprintf(path, sizeof(path), "%s/Delivered", store);
	CHECK_EQ_U64(count_dir(path), 0);
}

/* Files delivered that cannot leave new/ (every removal there refused)
 * are marked in Delivered/ and settled again by their markers at each
 * rescan: the relay's count of delivered messages stays the number of
 * messages, however many rescans claim them again.  Once they can leave,
 * each marker goes after new/ is synced. */
static void test_resettled_not_counted(const char *root)
{
	char po[600], path[800], err[512];
	prepare_relay(root, "-resettle", po);
	run_cfg.rescan_interval_ns = 20000000; /* 20 ms */
	atomic_store(&fail_unlink_in, "/spool-resettle/new");
	pthread_t th = run_relay();
	snprintf(path, sizeof(path), "%s/Delivered", store);
	AWAIT((access(path, F_OK) == 0 && count_dir(path) == MESSAGES) ||
	      atomic_load(&run_rc) >= 0);
	CHECK_EQ_U64(count_dir(path), MESSAGES);
	atomic_store(&scans_done, 0);
	atomic_store(&count_scans_in, "/spool-resettle/new");
	/* Each rescan claims every file again. */
	AWAIT(atomic_load(&scans_done) >= 10 || atomic_load(&run_rc) >= 0);
	CHECK(atomic_load(&scans_done) >= 10);
	/* Removals allowed again: each file leaves new/, and its marker goes
	 * only after new/ is synced, should the store be on another file
	 * system than the spool. */
	atomic_store(&dir_syncs, 0);
	atomic_store(&count_syncs_in, "/spool-resettle/new");
	atomic_store(&forgets, 0);
	atomic_store(&forgets_unsynced, 0);
	atomic_store(&forget_in, "/store-resettle/Delivered");
	atomic_store(&fail_unlink_in, NULL);
	AWAIT((count_dir(path) == 0 && atomic_load(&forgets) == MESSAGES) ||
	      atomic_load(&run_rc) >= 0);
	CHECK_EQ_U64(atomic_load(&forgets), MESSAGES);
	CHECK_EQ_U64(atomic_load(&forgets_unsynced), 0);
	atomic_store(&forget_in, NULL);
	atomic_store(&count_syncs_in, NULL);
	ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	atomic_store(&count_scans_in, NULL);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	CHECK(run_st.pump.delivered > MESSAGES); /* the claims again, as verdicts */
	CHECK_EQ_U64(run_st.delivered, MESSAGES);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.distinct_keys, MESSAGES);
	CHECK_EQ_U64(ps.duplicate_deliveries, 0);
}

static void test_store_write(const char *root)
{
	char dir[800];
	int fd = new_dir(root, "records", dir, sizeof(dir));
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	atomic_store(&synced_ino, 0);
	CHECK(ccp_store_write(fd, "unsynced", "a\n", 2, false) == 0);
	CHECK(atomic_load(&synced_ino) == 0);
	CHECK(ccp_store_write(fd, "synced", "b\n", 2, true) == 0);
	CHECK(atomic_load(&synced_dev) == st.st_dev && atomic_load(&synced_ino) == st.st_ino);
	close(fd);
}

/* The log's lines (WARN and up) go to a file under ROOT while F runs;
 * returns whether a line held NEEDLE. */
static bool logged(const char *root, void (*f)(const char *), const char *needle)
{
	char path[800], text[8192];
	snprintf(path, sizeof(path), "%s/log", root);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	int was = ccp_log_set_fd(fd);
	ccp_log_set_level(CCP_LOG_WARN);
	f(root);
	ccp_log_set_level(CCP_LOG_ERROR);
	ccp_log_set_fd(was);
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (strstr(text, needle) == NULL) {
		fprintf(stderr, "not logged: %s\nthe log:\n%s", needle, text);
		return false;
	}
	return true;
}

/* A spool and a store under ROOT (TAG naming them) with message m1 in
 * Bad, for a requeue. */
static void m1_in_bad(const char *root, const char *tag)
{
	char po[600], path[900];
	setup(root, tag, po);
	snprintf(path, sizeof(path), "%s/Bad", store);
	CHECK(mkdir(store, 0700) == 0 && mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/Bad/m1", store);
	write_file(path, "a message\n", 10);
}

/* A message in Bad requeued while its directories' syncs fail. */
static void requeue_unsynced(const char *root)
{
	char path[800], err[600];
	m1_in_bad(root, "-requeue");
	atomic_store(&fail_dirs, "/new");
	int rc = ccp_queue_requeue(spool, store, "m1", true, err, sizeof(err));
	atomic_store(&fail_dirs, NULL);
	CHECK_EQ_U64(rc, 0);
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	CHECK(access(path, F_OK) == 0);
}

/* A report sent while its queue's directory cannot be synced: out of the
 * queue all the same. */
static void report_unsynced(const char *root)
{
	char path[800], err[600];
	snprintf(path, sizeof(path), "%s/report", root);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/report/Bounce", root);
	CHECK(mkdir(path, 0700) == 0);
	int qfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(qfd >= 0);
	snprintf(path, sizeof(path), "%s/report/m1.ndr", root);
	const char *ndr = "To: <sender@example.org>\nSubject: undeliverable\n\nnot delivered\n";
	write_file(path, ndr, strlen(ndr));
	snprintf(path, sizeof(path), "%s/report", root);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	CHECK(ccp_bounce_queue_link(dfd, "m1.ndr", qfd, "m1", false) == 0);
	snprintf(path, sizeof(path), "%s/report/Bounce", root);
	atomic_store(&fail_dirs, "/report/Bounce");
	struct ccp_bouncer *b = ccp_bouncer_start("true", path, qfd, 1000000, 2000000,
						  true, NULL, err, sizeof(err));
	CHECK(b != NULL);
	ccp_bouncer_stop(b, true);
	atomic_store(&fail_dirs, NULL);
	CHECK_EQ_U64(count_dir(path), 0);
	close(qfd);
	close(dfd);
}

/* A bounce command, CMD, that writes each address it is given into the
 * file SENT, reads its report, then runs the shell line EXTRA. */
static void recording_bounce(const char *cmd, const char *sent, const char *extra)
{
	char script[2000];
	snprintf(script, sizeof(script), "#!/bin/sh\necho \"$1\" >>'%s'\ncat >/dev/null\n%s",
		 sent, extra);
	write_file(cmd, script, strlen(script));
	CHECK(chmod(cmd, 0755) == 0);
}

/* Queues the report DIR/NAME.ndr, to NAME@example.org, under NAME. */
static void queue_report(struct ccp_bouncer *b, int dfd, int qfd, const char *dir,
			 const char *name)
{
	char path[900], ndr[200], file[64];
	snprintf(path, sizeof(path), "%s/%s.ndr", dir, name);
	snprintf(ndr, sizeof(ndr), "To: <%s@example.org>\nSubject: undeliverable\n\nnot "
		 "delivered\n", name);
	write_file(path, ndr, strlen(ndr));
	snprintf(file, sizeof(file), "%s.ndr", name);
	if (b)
		CHECK(ccp_bouncer_queue(b, dfd, file, name) == 0);
	else
		CHECK(ccp_bounce_queue_link(dfd, file, qfd, name, false) == 0);
}

/* Each report that failed for now keeps its own backoff from one pass to
 * the next, whatever the names around it: reports a, b, c and e, b and e
 * failing (75), then d queued, whose pass sends d and skips b and e, their
 * backoffs (10 s) not over.  Each address is tried once. */
static void test_report_backoffs(const char *root)
{
	char dir[800], queue[900], sent[900], cmd[900], err[600];
	snprintf(dir, sizeof(dir), "%s/backoffs", root);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(queue, sizeof(queue), "%s/Bounce", dir);
	CHECK(mkdir(queue, 0700) == 0);
	snprintf(sent, sizeof(sent), "%s/sent", dir);
	snprintf(cmd, sizeof(cmd), "%s/bounce.sh", dir);
	recording_bounce(cmd, sent, "case $1 in b@* | e@*) exit 75 ;; esac\n");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int qfd = open(queue, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0 && qfd >= 0);
	const char *first[] = { "a", "b", "c", "e" };
	for (size_t i = 0; i < 4; i++)
		queue_report(NULL, dfd, qfd, dir, first[i]);
	struct ccp_bouncer *b = ccp_bouncer_start(cmd, queue, qfd, 10000000000ull, 20000000000ull,
						  false, NULL, err, sizeof(err));
	CHECK(b != NULL);
	for (int t = 0; t < 1000 && count_dir(queue) != 2; t++)
		sleep_ms(10);
	CHECK_EQ_U64(count_dir(queue), 2); /* b and e, waiting out their backoff */
	queue_report(b, dfd, qfd, dir, "d");
	for (int t = 0; t < 1000 && count_dir(queue) != 2; t++)
		sleep_ms(10);
	sleep_ms(300); /* time for a wrong second try of b or e */
	ccp_bouncer_stop(b, false);
	size_t len;
	char *got = read_file(sent, &len);
	static const char want[] = "a@example.org\nb@example.org\nc@example.org\ne@example.org\n"
				   "d@example.org\n";
	if (got == NULL || strcmp(got, want) != 0)
		fprintf(stderr, "report_backoffs: the command was given:\n%s", got ? got : "");
	CHECK(got != NULL && strcmp(got, want) == 0);
	free(got);
	CHECK_EQ_U64(count_dir(queue), 2);
	close(qfd);
	close(dfd);
}

/* A requeue across file systems (the copy linked into new/) whose sync of
 * new/ fails takes back its own link, and only that: another file put
 * under the name in that moment stays, and the message stays in Bad. */
static void test_requeue_across_unsynced(const char *root)
{
	char path[900], bad[900], err[600];
	m1_in_bad(root, "-xdev-requeue");
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	snprintf(bad, sizeof(bad), "%s/Bad", store);
	atomic_store_explicit(&replace_at_failed_sync, path, memory_order_relaxed);
	atomic_store(&fail_dirs, "/new");
	atomic_store_explicit(&exdev_renames, 1, memory_order_relaxed);
	int rc = ccp_queue_requeue(spool, store, "m1", true, err, sizeof(err));
	atomic_store_explicit(&exdev_renames, 0, memory_order_relaxed);
	atomic_store(&fail_dirs, NULL);
	CHECK(atomic_load_explicit(&replace_at_failed_sync, memory_order_relaxed) == NULL);
	CHECK_EQ_U64(rc, -1);
	CHECK(strstr(err, "Input/output error") != NULL);
	snprintf(path, sizeof(path), "%s/new", spool);
	int nfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int bfd = open(bad, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(nfd >= 0 && bfd >= 0);
	CHECK(entry_is(nfd, "m1", false, "another message\n"));
	CHECK(entry_is(bfd, "m1", false, "a message\n"));
	close(nfd);
	close(bfd);
}

/* What the SIGTERM handler saw when it ran: whether the requeued message
 * was in new/ yet (access() is async-signal-safe). */
static volatile sig_atomic_t term_ran, term_saw_new;
static char term_new[900];

static void on_term(int sig)
{
	(void)sig;
	term_ran = 1;
	term_saw_new = access(term_new, F_OK) == 0;
}

static void test_requeue_term(const char *root)
{
	char path[900], err[600];
	m1_in_bad(root, "-term");
	snprintf(path, sizeof(path), "%s/Bad/m1.reason", store);
	write_file(path, "unknown recipient\n", 18);
	snprintf(term_new, sizeof(term_new), "%s/new/m1", spool);
	struct sigaction sa = { .sa_handler = on_term }, old;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGTERM, &sa, &old) == 0);
	atomic_store(&term_at_rename, "m1");
	int rc = ccp_queue_requeue(spool, store, "m1", true, err, sizeof(err));
	atomic_store(&term_at_rename, NULL);
	CHECK(sigaction(SIGTERM, &old, NULL) == 0);
	CHECK_EQ_U64(rc, 0);
	CHECK(term_ran);
	CHECK(term_saw_new);
	/* Nothing left in Bad, aside (temporary names) or not: the records
	 * went with the message. */
	snprintf(path, sizeof(path), "%s/Bad", store);
	CHECK_EQ_U64(count_all(path), 0);
}

/* A requeue of a message whose name is too long to be written in an aside
 * name beside a temporary name: its records' asides name it by inode and
 * ctime alone ("INO.CTIME.reason~"), not by a plain temporary name, so
 * that a start-up after a crash can still find it and put them back
 * (test_relay_spool.sh, 3e4c). */
static void test_requeue_long_name(const char *root)
{
	char po[600], name[256], path[1200], err[600], want[128];
	struct stat st;
	setup(root, "-long", po);
	snprintf(path, sizeof(path), "%s/Bad", store);
	CHECK(mkdir(store, 0700) == 0 && mkdir(path, 0700) == 0);
	snprintf(name, sizeof(name), "1764288000.M1P1.%0200d.test", 0);
	snprintf(path, sizeof(path), "%s/Bad/%s", store, name);
	write_file(path, "a message\n", 10);
	CHECK(stat(path, &st) == 0);
	snprintf(want, sizeof(want), "~%llx.%llx.reason~/", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_ctim.tv_nsec);
	snprintf(path, sizeof(path), "%s/Bad/%s.reason", store, name);
	write_file(path, "unknown recipient\n", 18);
	atomic_store(&list_at_rename, name);
	int rc = ccp_queue_requeue(spool, store, name, true, err, sizeof(err));
	atomic_store(&list_at_rename, NULL);
	CHECK_EQ_U64(rc, 0);
	if (strstr(seen_at_rename, want) == NULL)
		fprintf(stderr, "Bad at the move: %s (no entry ending %s)\n", seen_at_rename, want);
	CHECK(strstr(seen_at_rename, want) != NULL);
	snprintf(path, sizeof(path), "%s/new/%s", spool, name);
	CHECK(access(path, F_OK) == 0);
}

/* A --once run of the relay on the spool and store of the last setup(),
 * into the post office PO or through IMPORT_CMD, with --max-attempts 1 and
 * retries of 1 to 20 ms; its stats in run_st. */
/* A --once relay's config in run_cfg, on the spool and store of setup(). */
static void once_config(const char *po, const char *import_cmd)
{
	ccp_relay_config_default(&run_cfg);
	run_cfg.spool = spool;
	run_cfg.store = store;
	run_cfg.po = po;
	run_cfg.import_cmd = import_cmd;
	run_cfg.once = true;
	run_cfg.stats_interval_ns = 0;
	run_cfg.pump.dispatchers = 1;
	run_cfg.pump.max_attempts = 1;
	run_cfg.pump.retry_min_ns = 1000000;  /* 1 ms */
	run_cfg.pump.retry_max_ns = 20000000; /* 20 ms */
}

static int run_once(const char *po, const char *import_cmd, char *err, size_t errlen)
{
	once_config(po, import_cmd);
	int rc = ccp_relay_run(&run_cfg, &run_st, err, errlen);
	if (rc != 0)
		fprintf(stderr, "relay: %s\n", err);
	return rc;
}

/* Whether no process holds the lock PATH (flock), as a relay holds its
 * store's. */
static bool lock_free(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_now;
}

/* A message without From in the spool, new/m1 (its path into PATH, 900
 * octets), which goes to Bad with a report to its Return-Path; and a
 * bounce command, CMD (900), that writes each address it is given into
 * the file SENT (900).  TAG names them apart under ROOT. */
static void no_from_with_bounce(const char *root, const char *tag, char *path, char *sent,
				char *cmd)
{
	snprintf(path, 900, "%s/new/m1", spool);
	const char *text = "Return-Path: <s@example.org>\r\nTo: m1@example.org\r\n"
			   "Subject: no From\r\n\r\nhi\r\n";
	write_file(path, text, strlen(text));
	snprintf(sent, 900, "%s/sent-%s", root, tag);
	snprintf(cmd, 900, "%s/bounce-%s.sh", root, tag);
	recording_bounce(cmd, sent, "");
}

/* A message without From sent to Bad, the relay killed (SIGKILL) at the
 * sync of its failed marker in Delivered/: its report was queued before
 * the marker, and the next run sends it.  A marker written first left
 * the report unqueued, and the next start moved the message to Bad on
 * the marker's word, reported to no one. */
static void test_report_before_failed_marker(const char *root)
{
	char po[600], path[900], sent[900], cmd[900], err[600];
	setup(root, "-reportfirst", po);
	no_from_with_bounce(root, "reportfirst", path, sent, cmd);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		atomic_store(&kill_at_dir_sync, "/Delivered");
		once_config(po, NULL);
		run_cfg.bounce_cmd = cmd; /* it may send the report before it dies */
		ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
		_exit(0); /* not killed: the test fails below */
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* A report command it was starting holds the store's lock until its
	 * exec (close-on-exec). */
	snprintf(path, sizeof(path), "%s/relay.lock", store);
	AWAIT(lock_free(path));
	once_config(po, NULL);
	run_cfg.bounce_cmd = cmd;
	int rc = ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "relay: %s\n", err);
	CHECK_EQ_U64(rc, 0);
	char got[200] = "";
	FILE *f = fopen(sent, "r");
	if (f) {
		if (!fgets(got, sizeof(got), f))
			got[0] = '\0';
		fclose(f);
	}
	CHECK(strcmp(got, "s@example.org\n") == 0);
	snprintf(path, sizeof(path), "%s/Bad/m1", store);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
}

/* A start-up after a requeue that died with m1's reason aside, on a file
 * system without RENAME_NOREPLACE: the reason is put back all the same
 * (by a link, which cannot replace either), not removed. */
static void test_put_back_without_noreplace(const char *root)
{
	char po[600], path[1200], err[600];
	struct stat st;
	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead);
	m1_in_bad(root, "-putback");
	snprintf(po, sizeof(po), "%s/po-putback", root);
	snprintf(path, sizeof(path), "%s/Bad/m1", store);
	CHECK(stat(path, &st) == 0);
	snprintf(path, sizeof(path), "%s/Bad/.tmp-%ld.1.0-1~%llx.%llx.reason~m1", store, (long)dead,
		 (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_ctim.tv_nsec);
	write_file(path, "unknown recipient\n", 18);
	atomic_store(&no_noreplace, 1);
	int rc = run_once(po, NULL, err, sizeof(err));
	atomic_store(&no_noreplace, 0);
	CHECK_EQ_U64(rc, 0);
	snprintf(path, sizeof(path), "%s/Bad/m1.reason", store);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/Bad", store);
	CHECK_EQ_U64(count_dir(path), 2); /* m1 and its reason, nothing aside */
}

/* Message NAME, put in Bad, is requeued across file systems by a child
 * process killed (SIGKILL) at its sync of new/, its copy linked there by
 * then: the copy's name in the spool's tmp/ is left, a second link to
 * new/NAME. */
static void requeue_killed(const char *name)
{
	char path[900], err[600];
	snprintf(path, sizeof(path), "%s/Bad/%s", store, name);
	write_file(path, "a message\n", 10);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		atomic_store_explicit(&kill_at_dir_sync, "/new", memory_order_relaxed);
		atomic_store_explicit(&exdev_renames, 1, memory_order_relaxed);
		ccp_queue_requeue(spool, store, name, true, err, sizeof(err));
		_exit(1);
	}
	int status;
	struct stat st;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	snprintf(path, sizeof(path), "%s/new/%s", spool, name);
	CHECK(stat(path, &st) == 0 && st.st_nlink == 2);
}

/* Whether the spool's tmp/ holds the N names of KEEP and nothing else. */
static bool tmp_holds_only(const char *const *keep, unsigned n)
{
	char path[900];
	snprintf(path, sizeof(path), "%s/tmp", spool);
	if (count_all(path) != n)
		return false;
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/tmp/%s", spool, keep[i]);
		if (access(path, F_OK) != 0)
			return false;
	}
	return true;
}

/*
 * A requeue killed in the middle of a move across file systems leaves its
 * copy's name in the spool's tmp/: the next requeue removes it, and so
 * does the relay's start-up.  Nothing else there goes: an MTA's file being
 * written, names that only begin as ccpump's do (of a dead pid), and a
 * live ccpump process's temporary name.
 */
static void test_requeue_killed(const char *root)
{
	char po[600], path[900], err[600], dead_tmp[64], dead_aside[64], live[CCP_TMP_NAME_MAX];
	m1_in_bad(root, "-killed");
	snprintf(po, sizeof(po), "%s/po-killed", root);
	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead);
	snprintf(dead_tmp, sizeof(dead_tmp), ".tmp-%ld-1.part", (long)dead);
	snprintf(dead_aside, sizeof(dead_aside), ".tmp-%ld.1.0-1~m1", (long)dead);
	/* The live process: it makes its name, says it, and runs until the
	 * test closes its end of the pipe (or dies). */
	int ready[2], hold[2];
	CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(hold, O_CLOEXEC) == 0);
	pid_t holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		close(hold[1]);
		ccp_tmp_name(live, sizeof(live));
		snprintf(path, sizeof(path), "%s/tmp/%s", spool, live);
		write_file(path, "being copied\n", 13);
		CHECK(write(ready[1], live, sizeof(live)) == (ssize_t)sizeof(live));
		char c;
		while (read(hold[0], &c, 1) != 0)
			;
		_exit(0);
	}
	close(hold[0]);
	CHECK(read(ready[0], live, sizeof(live)) == (ssize_t)sizeof(live));
	const char *const keep[] = { "1764288000.M1P1.test", ".tmp-mine", dead_tmp, dead_aside,
				     live };
	for (unsigned i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/tmp/%s", spool, keep[i]);
		write_file(path, "being written\n", 14);
	}
	requeue_killed("m1");
	CHECK(!tmp_holds_only(keep, 5));
	snprintf(path, sizeof(path), "%s/Bad/m2", store);
	write_file(path, "a message\n", 10);
	CHECK_EQ_U64(ccp_queue_requeue(spool, store, "m2", true, err, sizeof(err)), 0);
	CHECK(tmp_holds_only(keep, 5));
	requeue_killed("m3");
	CHECK_EQ_U64(run_once(po, NULL, err, sizeof(err)), 0);
	CHECK(tmp_holds_only(keep, 5));
	close(hold[1]);
	CHECK(waitpid(holder, NULL, 0) == holder);
	close(ready[0]);
	close(ready[1]);
}

/*
 * A message delivered in part (alice is in the post office's user
 * directory, nobody is not) whose report Partial/ cannot take (its writes
 * fail: a full disk) while --max-age passes (1 ns: at every try): it was
 * delivered, so it does not go to Bad.  Its report is tried again, not its
 * delivery: once Partial/ takes it, the report is written, the message
 * leaves the spool, and the post office was given it once.
 */
static void test_partial_unreported(const char *root)
{
	char po[600], users[700], path[900], tmp[900], err[600];
	setup(root, "-unreported", po);
	snprintf(po, sizeof(po), "%s/po-unreported-users", root);
	snprintf(users, sizeof(users), "%s/users-unreported", root);
	po_knowing(po, users, "\"alice@example.org\" [SMTP:alice@example.org] at EXSITE\n");
	const char *text = "From: \"Sender\" <s@example.org>\r\nTo: alice@example.org\r\n"
			   "Cc: nobody@example.org\r\nSubject: m1\r\n"
			   "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nhi\r\n";
	snprintf(tmp, sizeof(tmp), "%s/tmp/m1", spool);
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	write_file(tmp, text, strlen(text));
	CHECK(rename(tmp, path) == 0);

	atomic_store_explicit(&writes_failed, 0, memory_order_relaxed);
	atomic_store_explicit(&fail_writes_in, "/Partial/", memory_order_relaxed);
	ccp_relay_config_default(&run_cfg);
	run_cfg.spool = spool;
	run_cfg.store = store;
	run_cfg.po = po;
	run_cfg.stats_interval_ns = 0;
	run_cfg.rescan_interval_ns = 10000000; /* 10 ms: the rescan that finds it again */
	run_cfg.pump.dispatchers = 1;
	run_cfg.pump.max_age_ns = 1;
	run_cfg.pump.retry_min_ns = 1000000;  /* 1 ms */
	run_cfg.pump.retry_max_ns = 2000000;  /* 2 ms */
	atomic_store(&run_rc, -1);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, relay_thread, NULL) == 0);
	/* Tried, ended by --max-age, found again and tried again. */
	snprintf(tmp, sizeof(tmp), "%s/Bad/m1", store);
	AWAIT(atomic_load_explicit(&writes_failed, memory_order_relaxed) >= 3 ||
	      access(tmp, F_OK) == 0 || atomic_load(&run_rc) >= 0);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(access(path, F_OK) == 0);
	atomic_store_explicit(&fail_writes_in, NULL, memory_order_relaxed);
	AWAIT(access(path, F_OK) != 0 || atomic_load(&run_rc) >= 0);
	ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	CHECK(access(path, F_OK) != 0);
	CHECK(access(tmp, F_OK) != 0);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(run_st.partial, 1);
	CHECK_EQ_U64(run_st.imports, 1);
	snprintf(path, sizeof(path), "%s/Partial/m1.ndr", store);
	CHECK(access(path, F_OK) == 0);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.delivered, 1);
	CHECK_EQ_U64(ps.duplicate_deliveries, 0);
}

/* Whether the log file FD holds NEEDLE. */
static bool log_has(int fd, const char *needle)
{
	static char text[65536];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	return strstr(text, needle) != NULL;
}

/* Puts TEXT in the map file PATH whole (tmp/, then rename): a reload
 * reads the one map or the other, as an editor's save leaves it. */
static void write_map(const char *path, const char *text)
{
	char tmp[800];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	write_file(tmp, text, strlen(text));
	CHECK(rename(tmp, path) == 0);
}

/* reload: ccp_relay_request_reload() (SIGHUP) while messages flow, the
 * map file changed between two post offices' names each time: every
 * message is delivered once, under the one name or the other; once the
 * last reload is logged, the next message goes to the last map's user,
 * from its site (the sender is foreign to that map).  Under ThreadSanitizer: the dispatcher takes each
 * new map while the main loop publishes it and drops the one before. */
static void test_map_reload(const char *root)
{
	char po[600], map[700], path[800], err[600];
	setup(root, "-reload", po);
	snprintf(map, sizeof(map), "%s/reload.map", root);
	write_map(map, "native example.org APO\n");
	snprintf(path, sizeof(path), "%s/reload.log", root);
	int lfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(lfd >= 0);
	int was = ccp_log_set_fd(lfd);
	ccp_log_set_level(CCP_LOG_INFO);
	const char *files[] = { map };
	ccp_relay_config_default(&run_cfg);
	run_cfg.spool = spool;
	run_cfg.store = store;
	run_cfg.po = po;
	run_cfg.map_files = files;
	run_cfg.nmap_files = 1;
	run_cfg.stats_interval_ns = 0;
	run_cfg.rescan_interval_ns = 10000000; /* 10 ms */
	run_cfg.pump.batch = 2;
	run_cfg.pump.dispatchers = 1;
	atomic_store(&run_rc, -1);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, relay_thread, NULL) == 0);
	for (int i = 0; i < 40; i++) {
		char key[32];
		snprintf(key, sizeof(key), "r%d", i);
		deliver(key, "a message");
		if (i % 4 == 3) {
			write_map(map, i % 8 == 3 ? "native example.org BPO\n" : "native example.org APO\n");
			ccp_relay_request_reload();
		}
		sleep_ms(3);
	}
	write_map(map, "native y.example YPO\nsite CSITE\nuser last@example.org Last at CPO\n");
	ccp_relay_request_reload();
	AWAIT(log_has(lfd, "1 native domains, 1 users") || atomic_load(&run_rc) >= 0);
	deliver("last", "a message");
	snprintf(path, sizeof(path), "%s/new", spool);
	AWAIT(count_dir(path) == 0 || atomic_load(&run_rc) >= 0);
	ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	ccp_log_set_level(CCP_LOG_ERROR);
	ccp_log_set_fd(was);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	CHECK(log_has(lfd, "relay: reload: 1 --map files read again: 1 native domains, 1 users"));
	close(lfd);
	CHECK_EQ_U64(count_dir(path), 0);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.delivered, 41);
	CHECK_EQ_U64(ps.distinct_keys, 41);
	CHECK_EQ_U64(ps.duplicate_deliveries, 0);
	CHECK_EQ_U64(ps.undeliverable, 0);
	size_t len;
	char *box = read_mailbox(po, "Last at CPO", &len);
	CHECK(box != NULL && strstr(box, "Subject: last\r\n") != NULL &&
	      strstr(box, "From: \"Sender\" [SMTP:s@example.org] at CSITE\r\n") != NULL);
	free(box);
}

/* A --once run (status RC) that ended paused, nothing delivered or sent
 * to Bad, the spool file PATH still there. */
static void check_paused_kept(int rc, const char *path)
{
	CHECK_EQ_U64(rc, 0);
	CHECK(run_st.gave_up_paused);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(run_st.delivered, 0);
	CHECK(access(path, F_OK) == 0);
}

/* An import program that cannot be started (fork() fails: out of
 * processes) is the machine's failure, not the messages': the batch is
 * postponed and deliveries pause, no attempt is counted, so even with
 * --max-attempts 1 nothing goes to Bad; --once ends past --retry-max
 * paused, the message still in the spool. */
static void test_import_not_started(const char *root)
{
	char po[600], path[900], err[600];
	setup(root, "-nofork", po);
	deliver("m1", "a message");
	atomic_store(&fail_fork, 1);
	int rc = run_once(NULL, "true", err, sizeof(err));
	atomic_store(&fail_fork, 0);
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	check_paused_kept(rc, path);
}

/* An import program gone since the relay's start (the shell answers 127)
 * or made unexecutable (126) is the relay's failure, as one that cannot
 * be started: postponed, deliveries pause, no attempt counted.  Taken as
 * IMPORT's 1, each batch was an attempt, and --max-attempts 1 sent the
 * message to Bad with a report to its sender.  Once the program is back,
 * the message goes out. */
static void test_import_gone(const char *root)
{
	char po[600], path[900], prog[900], err[600];
	setup(root, "-gone", po);
	deliver("m1", "a message");
	snprintf(prog, sizeof(prog), "%s/imp-gone.sh", root);
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	check_paused_kept(run_once(NULL, prog, err, sizeof(err)), path);
	/* There, but not executable: 126. */
	const char *script = "#!/bin/sh\nexit 0\n";
	write_file(prog, script, strlen(script));
	CHECK(chmod(prog, 0644) == 0);
	check_paused_kept(run_once(NULL, prog, err, sizeof(err)), path);
	/* Back: delivered, at its first attempt. */
	CHECK(chmod(prog, 0755) == 0);
	int rc = run_once(NULL, prog, err, sizeof(err));
	CHECK_EQ_U64(rc, 0);
	CHECK(!run_st.gave_up_paused);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(run_st.delivered, 1);
	CHECK(access(path, F_OK) != 0 && errno == ENOENT);
}

/* A report the queue (Bounce/) cannot take for the machine's reasons
 * (EPERM: made immutable; a full or read-only store) postpones its
 * message, as a report Bad cannot take does: sent to Bad regardless, its
 * report stayed unqueued for good, its sender never told.  Once the
 * queue takes it, the message goes to Bad and its report is sent. */
static void test_report_queue_fails(const char *root)
{
	char po[600], path[900], sent[900], cmd[900], err[600], ndr[900];
	setup(root, "-queuefail", po);
	no_from_with_bounce(root, "queuefail", path, sent, cmd);
	snprintf(ndr, sizeof(ndr), "%s/Bad/m1.ndr", store);
	atomic_store(&fail_report_links, 1);
	once_config(po, NULL);
	run_cfg.bounce_cmd = cmd;
	int rc = ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
	atomic_store(&fail_report_links, 0);
	CHECK_EQ_U64(rc, 0);
	CHECK(run_st.gave_up_paused);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK(access(path, F_OK) == 0);
	CHECK(access(ndr, F_OK) != 0 && errno == ENOENT);
	CHECK(access(sent, F_OK) != 0);
	once_config(po, NULL);
	run_cfg.bounce_cmd = cmd;
	CHECK_EQ_U64(ccp_relay_run(&run_cfg, &run_st, err, sizeof(err)), 0);
	CHECK_EQ_U64(run_st.bad, 1);
	CHECK(access(ndr, F_OK) == 0);
	size_t len;
	char *got = read_file(sent, &len);
	CHECK(got != NULL && strcmp(got, "s@example.org\n") == 0);
	free(got);
}

/* The converter takes the post office's limits (po.conf): one made with
 * the large address buffer and without Import 8.3's [ ] refusal (po init
 * --addr-buffer 163840 --keep-brackets) gets a message of 300 recipients
 * (about 15,000 octets of address lines) with its Subject as written;
 * converted for the defaults, the relay sent it to Bad as "Header Buffer
 * Full" and mapped the brackets.  With --import-cmd, the relay's own
 * settings: the default buffer sends it to Bad, the large one passes it. */
static void test_po_limits(const char *root)
{
	char po[600], path[900], err[600], text[32768];
	size_t n = (size_t)snprintf(text, sizeof(text), "From: s@example.org\r\nTo: ");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%su%d@example.org",
				      i ? ",\r\n " : "", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "\r\nSubject: [list] many\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000"
			      "\r\n\r\nhi\r\n");
	CHECK(n < sizeof(text));
	setup(root, "-limits", po);
	snprintf(po, 600, "%s/po-large", root); /* setup()'s has the defaults */
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	io.addr_buffer = CCP_CCM_ADDR_BUFFER_LARGE;
	io.import8 = false;
	CHECK(ccp_po_init(po, &io, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/new/many", spool);
	write_file(path, text, n);
	CHECK_EQ_U64(run_once(po, NULL, err, sizeof(err)), 0);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(run_st.delivered, 1);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.delivered, 300);
	size_t len;
	char *box = read_mailbox(po, "\"u7@example.org\" [SMTP:u7@example.org] at EXSITE", &len);
	CHECK(box != NULL && strstr(box, "Subject: [list] many\r\n") != NULL);
	free(box);

	/* An import program: the relay's settings, the defaults first. */
	char cmd[1000], got[900];
	snprintf(got, sizeof(got), "%s/imported-limits", root);
	CHECK(mkdir(got, 0700) == 0);
	snprintf(cmd, sizeof(cmd), "cp -t %s", got);
	write_file(path, text, n);
	CHECK_EQ_U64(run_once(NULL, cmd, err, sizeof(err)), 0);
	CHECK_EQ_U64(run_st.bad, 1);
	CHECK_EQ_U64(run_st.delivered, 0);
	write_file(path, text, n);
	once_config(NULL, cmd);
	run_cfg.convert.addr_buffer = CCP_CCM_ADDR_BUFFER_LARGE;
	CHECK_EQ_U64(ccp_relay_run(&run_cfg, &run_st, err, sizeof(err)), 0);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(run_st.delivered, 1);
	CHECK_EQ_U64(count_dir(got), 1);
}

/* A spool file whose name ends as a record's (a.reason) is renamed before
 * it is relayed (a.reason_).  On a file system without RENAME_NOREPLACE
 * that is a link and an unlink; a crash between them left both names, one
 * file.  The next run finishes that move (the old name goes) rather than
 * make a third name: two names would be two messages, delivered twice. */
static void test_rename_cut_short(const char *root)
{
	char po[600], path[900], link_to[900], err[600];
	setup(root, "-cutshort", po);
	deliver("a.reason", "a message");
	snprintf(path, sizeof(path), "%s/new/a.reason", spool);
	snprintf(link_to, sizeof(link_to), "%s/new/a.reason_", spool);
	CHECK(link(path, link_to) == 0);
	atomic_store(&no_noreplace, 1);
	int rc = run_once(po, NULL, err, sizeof(err));
	atomic_store(&no_noreplace, 0);
	CHECK_EQ_U64(rc, 0);
	CHECK_EQ_U64(run_st.delivered, 1);
	struct ccp_po_stats ps;
	CHECK(ccp_po_stats(po, &ps, err, sizeof(err)) == 0);
	CHECK_EQ_U64(ps.delivered, 1);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
}

/* A rename by link and unlink whose unlink answers ENOENT (the old name
 * gone already) is done: the new name, the file's only one now, stays. */
static void test_rename_unlink_enoent(const char *root)
{
	char dir[600], path[700];
	int dfd = new_dir(root, "enoent", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/a", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL && fputs("a message\n", f) >= 0 && fclose(f) == 0);
	atomic_store(&no_noreplace, 1);
	atomic_store(&enoent_after_unlink, "a");
	CHECK_EQ_U64(ccp_rename_noreplace(dfd, "a", dfd, "b"), 0);
	atomic_store(&no_noreplace, 0);
	CHECK(atomic_load(&enoent_after_unlink) == NULL);
	CHECK(faccessat(dfd, "a", F_OK, 0) != 0 && errno == ENOENT);
	CHECK(faccessat(dfd, "b", F_OK, 0) == 0);
	close(dfd);
}

/* A rename by link and unlink whose unlink fails takes its link back, and
 * syncs the link's folder after: the link may have reached the disk (a
 * journal commit in between), and a crash that kept it and lost its
 * removal would leave the file under two names, in new/ two messages. */
static void test_rename_unlink_fails(const char *root)
{
	char from[600], to[600], path[700];
	int ffd = new_dir(root, "undo-from", from, sizeof(from));
	int tfd = new_dir(root, "undo-to", to, sizeof(to));
	snprintf(path, sizeof(path), "%s/a", from);
	write_file(path, "a message\n", 10);
	atomic_store(&no_noreplace, 1);
	atomic_store_explicit(&fail_unlink_in, "/undo-from", memory_order_relaxed);
	atomic_store_explicit(&dir_syncs, 0, memory_order_relaxed);
	atomic_store_explicit(&count_syncs_in, "/undo-to", memory_order_relaxed);
	int rc = ccp_rename_noreplace(ffd, "a", tfd, "b");
	int e = errno;
	atomic_store_explicit(&count_syncs_in, NULL, memory_order_relaxed);
	atomic_store_explicit(&fail_unlink_in, NULL, memory_order_relaxed);
	atomic_store(&no_noreplace, 0);
	CHECK(rc == -1 && e == EPERM);
	CHECK(faccessat(ffd, "a", F_OK, 0) == 0);
	CHECK(faccessat(tfd, "b", F_OK, 0) != 0 && errno == ENOENT);
	CHECK(atomic_load_explicit(&dir_syncs, memory_order_relaxed) >= 1);
	close(ffd);
	close(tfd);
}

/* ccp_unlink_if_same() in the folder open on *ARG, without a file held. */
static void unlink_unheld(void *arg)
{
	ccp_unlink_if_same(*(const int *)arg, "a", -1);
}

/*
 * ccp_unlink_if_same() removes a name only while it leads to the file the
 * caller holds open: another file under the name stays, a name gone is
 * done; a descriptor that is not open aborts, naming fsutil.c, since
 * without the file held its inode number could be another file's.
 */
static void test_unlink_if_same(const char *root)
{
	char dir[700], path[800];
	int dfd = new_dir(root, "same", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/a", dir);
	write_file(path, "first\n", 6);
	int first = openat(dfd, "a", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	CHECK(first >= 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	write_file(path, "second\n", 7);
	CHECK(renameat(dfd, "b", dfd, "a") == 0);
	CHECK_EQ_U64(ccp_unlink_if_same(dfd, "a", first), 0);
	CHECK(entry_is(dfd, "a", false, "second\n"));
	int second = openat(dfd, "a", O_RDONLY | O_CLOEXEC);
	CHECK(second >= 0);
	CHECK_EQ_U64(ccp_unlink_if_same(dfd, "a", second), 0);
	CHECK(faccessat(dfd, "a", F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT);
	CHECK_EQ_U64(ccp_unlink_if_same(dfd, "a", second), 0);
	close(first);
	close(second);

	char said[1024];
	int st = check_child(unlink_unheld, &dfd, said, sizeof(said));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(said, "fsutil.c") != NULL && strstr(said, "not open") != NULL);
	close(dfd);
}

/*
 * The callers of ccp_unlink_if_same() hold the file open when they remove
 * it by its inode: a requeue across file systems, the message it leaves
 * Bad; and a relay's start-up, Bad/m1 of a requeue that died after its
 * copy reached new/ (its record aside names m1 by inode and ctime; the
 * spool's copy has its size and modification time).
 */
static void test_removed_held(const char *root)
{
	char po[600], path[900], aside[1000], err[600];
	struct stat st;
	m1_in_bad(root, "-held");
	snprintf(po, sizeof(po), "%s/po-held", root);
	atomic_store_explicit(&exdev_renames, 1, memory_order_relaxed);
	check_held("m1", "/Bad");
	int rc = ccp_queue_requeue(spool, store, "m1", true, err, sizeof(err));
	unsigned checked = atomic_load_explicit(&unlinks_checked, memory_order_relaxed);
	unsigned unheld = atomic_load_explicit(&unlinks_unheld, memory_order_relaxed);
	check_held(NULL, NULL);
	atomic_store_explicit(&exdev_renames, 0, memory_order_relaxed);
	CHECK_EQ_U64(rc, 0);
	CHECK_EQ_U64(checked, 1);
	CHECK_EQ_U64(unheld, 0);

	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead);
	snprintf(path, sizeof(path), "%s/Bad/m1", store);
	write_file(path, "a message\n", 10);
	CHECK(stat(path, &st) == 0);
	snprintf(aside, sizeof(aside), "%s/Bad/.tmp-%ld.1.0-1~%llx.%llx.reason~m1", store,
		 (long)dead, (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_ctim.tv_nsec);
	write_file(aside, "unknown recipient\n", 18);
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	CHECK(unlink(path) == 0);
	write_file(path, "a message\n", 10);
	CHECK(utimensat(AT_FDCWD, path, (const struct timespec[]){ st.st_atim, st.st_mtim }, 0) ==
	      0);
	check_held("m1", "/Bad");
	rc = run_once(po, NULL, err, sizeof(err));
	checked = atomic_load_explicit(&unlinks_checked, memory_order_relaxed);
	unheld = atomic_load_explicit(&unlinks_unheld, memory_order_relaxed);
	check_held(NULL, NULL);
	CHECK_EQ_U64(rc, 0);
	CHECK_EQ_U64(checked, 1);
	CHECK_EQ_U64(unheld, 0);
}

static void test_markers(const char *root)
{
	/* The stamp of the file a marker was written for, and others. */
	enum { BORN, WRITTEN_TO, BORN_LATER, NO_BIRTH };
	static const struct ccp_queue_stamp files[] = {
		[BORN] = { .ino = 12, .size = 345, .mtime_ns = 6789, .btime_ns = 1000 },
		[WRITTEN_TO] = { .ino = 12, .size = 400, .mtime_ns = 6789, .btime_ns = 1000 },
		/* Its inode number given to a file made later. */
		[BORN_LATER] = { .ino = 12, .size = 345, .mtime_ns = 6789, .btime_ns = 2000 },
		/* A file system that gives no birth time (now). */
		[NO_BIRTH] = { .ino = 12, .size = 400, .mtime_ns = 6789,
			       .btime_ns = CCP_QUEUE_BTIME_NONE },
	};
	static const char stamp[] = "ino 12\nsize 345\nmtime_ns 6789\nbtime_ns 1000\n";
	static const struct {
		const char *text;
		int file;
		enum ccp_queue_marker says;
	} cases[] = {
		{ stamp, BORN, CCP_QUEUE_MARKER_DELIVERED },
		{ stamp, WRITTEN_TO, CCP_QUEUE_MARKER_DELIVERED_CHANGED },
		{ stamp, BORN_LATER, CCP_QUEUE_MARKER_STALE },
		{ stamp, NO_BIRTH, CCP_QUEUE_MARKER_DELIVERED_CHANGED },
		{ "failed\nino 12\nsize 345\nmtime_ns 6789\nbtime_ns 1000\nreason changed\n", BORN,
		  CCP_QUEUE_MARKER_SENT_TO_BAD },
		{ "failed\nino 12\nsize 345\nmtime_ns 6789\nbtime_ns 1000\nreason changed\n",
		  BORN_LATER, CCP_QUEUE_MARKER_STALE },
		/* Written before markers had a birth time (and before that, with
		 * a device line): by the inode alone. */
		{ "ino 12\nsize 345\nmtime_ns 6789\n", BORN_LATER, CCP_QUEUE_MARKER_DELIVERED },
		{ "dev 2049\nino 12\nsize 345\nmtime_ns 6789\n", BORN_LATER,
		  CCP_QUEUE_MARKER_DELIVERED },
		{ "failed\nino 12\nsize 345\nmtime_ns 6789\nreason r\n", BORN_LATER,
		  CCP_QUEUE_MARKER_SENT_TO_BAD },
		/* Anything but the stamp exactly as written is not ours. */
		{ "ino 12\nsize 345\nmtime_ns 6789 btime_ns 1000\n", BORN, CCP_QUEUE_MARKER_STALE },
		{ "ino 12\nsize 345\nmtime_ns 6789\nbtime_ns 1000\nx\n", BORN, CCP_QUEUE_MARKER_STALE },
		{ "ino 12\nsize 345\nmtime_ns 6789\nbtime_ns 01000\n", BORN, CCP_QUEUE_MARKER_STALE },
	};
	char dir[700], text[CCP_QUEUE_MARKER_MAX];
	CHECK_EQ_U64(ccp_queue_marker_stamp(text, sizeof(text), &files[BORN]), strlen(stamp));
	CHECK(strcmp(text, stamp) == 0);
	int dfd = new_dir(root, "markers", dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ccp_queue_stamp was = { 0 };
		char reason[64] = "not read";
		CHECK(ccp_store_write(dfd, "NAME", cases[i].text, strlen(cases[i].text), false) == 0);
		enum ccp_queue_marker k = ccp_queue_marker_read(dfd, "NAME", &files[cases[i].file],
								&was, reason, sizeof(reason));
		if (k != cases[i].says)
			fprintf(stderr, "marker %zu: %d, not %d\n", i, (int)k, (int)cases[i].says);
		CHECK(k == cases[i].says);
		/* A file changed since gets the stamp it was settled with. */
		CHECK(k != CCP_QUEUE_MARKER_DELIVERED_CHANGED ||
		      memcmp(&was, &files[BORN], sizeof(was)) == 0);
		/* A failed marker's reason comes with its verdict. */
		CHECK_STREQ(reason, k != CCP_QUEUE_MARKER_SENT_TO_BAD ? ""
				    : strstr(cases[i].text, "reason r\n") ? "r"
									 : "changed");
	}
	close(dfd);
}

/* A spool whose m1 is marked failed in Delivered/, the marker carrying the
 * reason Bad could not take, is opened: the start-up reads the marker once
 * (its reason with its verdict), and says that one message waits for its
 * reason to be written. */
static void open_with_failed_marker(const char *root)
{
	char po[600], path[1000], bad[800], quarantine[800], delivered[800], err[600];
	char text[CCP_QUEUE_MARKER_MAX];
	setup(root, "-failedmark", po);
	deliver("m1", "a message");
	snprintf(path, sizeof(path), "%s/new/m1", spool);
	struct statx sx;
	CHECK(ccp_statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &sx) == 0);
	struct ccp_queue_stamp f = { .ino = sx.stx_ino, .size = sx.stx_size,
				     .mtime_ns = ccp_statx_ns(&sx.stx_mtime),
				     .btime_ns = CCP_QUEUE_BTIME_NONE };
	ccp_statx_birth(&sx, &f.btime_ns);
	int n = snprintf(text, sizeof(text), CCP_QUEUE_MARKER_FAILED);
	n += ccp_queue_marker_stamp(text + n, sizeof(text) - (size_t)n, &f);
	n += snprintf(text + n, sizeof(text) - (size_t)n,
		      CCP_QUEUE_MARKER_REASON "changed after its delivery (size 3 -> 4 bytes)\n");
	snprintf(bad, sizeof(bad), "%s/Bad", store);
	snprintf(quarantine, sizeof(quarantine), "%s/Quarantine", store);
	snprintf(delivered, sizeof(delivered), "%s/Delivered", store);
	CHECK(mkdir(store, 0700) == 0 && mkdir(delivered, 0700) == 0);
	snprintf(path, sizeof(path), "%s/m1", delivered);
	write_file(path, text, (size_t)n);
	struct ccp_spool_config sc = { .dir = spool, .pollers = 1,
				       .rescan_interval_ns = 1000000000ull, .failed_dir = bad,
				       .quarantine_dir = quarantine, .delivered_dir = delivered };
	atomic_store_explicit(&marker_opens, 0, memory_order_relaxed);
	atomic_store_explicit(&count_opens_of, "m1", memory_order_relaxed);
	struct ccp_spool *sp = ccp_spool_open(&sc, err, sizeof(err));
	atomic_store_explicit(&count_opens_of, NULL, memory_order_relaxed);
	CHECK(sp != NULL);
	ccp_spool_close(sp);
	CHECK_EQ_U64(atomic_load_explicit(&marker_opens, memory_order_relaxed), 1);
}

/* Without statx: ccp_statx() gives fstatat()'s fields and no birth time,
 * and a relay's run delivers every message, none to Bad. */
static void test_no_statx(const char *root)
{
	char po[600], path[900], err[600];
	setup(root, "-nostatx", po);
	deliver("m1", "a message");
	deliver("m2", "another message");
	snprintf(path, sizeof(path), "%s/new", spool);
	int nfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(nfd >= 0);
	struct statx real, stood_in;
	CHECK(ccp_statx(nfd, "m1", AT_SYMLINK_NOFOLLOW, &real) == 0);
	atomic_store_explicit(&no_statx, 1, memory_order_relaxed);
	CHECK(ccp_statx(nfd, "m1", AT_SYMLINK_NOFOLLOW, &stood_in) == 0);
	CHECK(ccp_statx(nfd, "m9", AT_SYMLINK_NOFOLLOW, &stood_in) != 0 && errno == ENOENT);
	CHECK(ccp_statx(nfd, "m1", AT_SYMLINK_NOFOLLOW, &stood_in) == 0);
	int rc = run_once(po, NULL, err, sizeof(err));
	atomic_store_explicit(&no_statx, 0, memory_order_relaxed);
	int64_t birth;
	CHECK(!ccp_statx_birth(&stood_in, &birth));
	CHECK(stood_in.stx_ino == real.stx_ino && stood_in.stx_size == real.stx_size &&
	      stood_in.stx_mode == real.stx_mode && stood_in.stx_nlink == real.stx_nlink &&
	      stood_in.stx_dev_major == real.stx_dev_major &&
	      stood_in.stx_dev_minor == real.stx_dev_minor &&
	      ccp_statx_ns(&stood_in.stx_mtime) == ccp_statx_ns(&real.stx_mtime) &&
	      ccp_statx_ns(&stood_in.stx_ctime) == ccp_statx_ns(&real.stx_ctime));
	close(nfd);
	CHECK_EQ_U64(rc, 0);
	CHECK_EQ_U64(run_st.delivered, 2);
	CHECK_EQ_U64(run_st.bad, 0);
	CHECK_EQ_U64(count_dir(path), 0);
}

/* ---- a move across file systems ------------------------------------- */

/* How a move across file systems is made to fail. */
enum move_failure {
	MOVE_OK,             /* it does not */
	MOVE_WRITE_FAILS,    /* the copy's write: a full disk */
	MOVE_SYNC_FAILS,     /* the sync of the destination folder */
	MOVE_REMOVAL_FAILS,  /* the source's removal (EPERM) */
	MOVE_SOURCE_GONE,    /* no source to move */
	MOVE_PLACE_FAILS,    /* the copy's rename over the name (EIO) */
};

/*
 * ccp_move_entry() of src/NAME into dst/ under ROOT/TAG, renames between
 * the two answering EXDEV, so that the move is a copy.  The source is a
 * file holding "the message moved" (a symbolic link to it, when LINK);
 * dst/NAME is, before, what OLD says: nothing (0), a file holding "an
 * older entry" (1), a directory (2).  FAIL says what fails.  A move that
 * fails leaves dst/NAME as it was and the source where it was; one that
 * succeeds leaves the source's copy in dst/NAME, replacing a file there,
 * as a rename does.  Either way nothing else is left in dst/, and dst/ is
 * synced after each change a crash must not take back: once with the
 * copy in place, and again once that is undone, or once what NAME held
 * was put back from aside (a file system without hard links, where it
 * is renamed aside before the copy takes its place).
 */
static void move_across(const char *root, const char *tag, bool link, int old,
			enum move_failure fail)
{
	static const char moved[] = "the message moved", older[] = "an older entry";
	char base[700], src[800], dst[800], path[900];
	snprintf(base, sizeof(base), "%s/xdev-%s", root, tag);
	snprintf(src, sizeof(src), "%s/from", base);
	snprintf(dst, sizeof(dst), "%s/into", base);
	CHECK(mkdir(base, 0700) == 0 && mkdir(src, 0700) == 0 && mkdir(dst, 0700) == 0);
	snprintf(path, sizeof(path), "%s/NAME", src);
	if (link)
		CHECK(symlink(moved, path) == 0);
	else if (fail != MOVE_SOURCE_GONE)
		write_file(path, moved, strlen(moved));
	snprintf(path, sizeof(path), "%s/NAME", dst);
	if (old == 1)
		write_file(path, older, strlen(older));
	else if (old == 2)
		CHECK(mkdir(path, 0700) == 0);
	int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(s >= 0 && d >= 0);
	struct stat was;
	CHECK(fstatat(d, "NAME", &was, AT_SYMLINK_NOFOLLOW) == 0 || old == 0);

	atomic_store_explicit(&exdev_renames, 1, memory_order_relaxed);
	if (fail == MOVE_WRITE_FAILS)
		atomic_store_explicit(&fail_writes_in, "/into/", memory_order_relaxed);
	else if (fail == MOVE_SYNC_FAILS)
		atomic_store(&fail_dirs, "/into");
	else if (fail == MOVE_REMOVAL_FAILS)
		atomic_store_explicit(&fail_unlink_in, "/from", memory_order_relaxed);
	else if (fail == MOVE_PLACE_FAILS)
		atomic_store_explicit(&fail_place_once, "NAME", memory_order_relaxed);
	atomic_store_explicit(&dir_syncs, 0, memory_order_relaxed);
	atomic_store_explicit(&count_syncs_in, "/into", memory_order_relaxed);
	check_held("NAME", "/xdev-");
	int rc = ccp_move_entry(s, "NAME", d, true), e = errno;
	unsigned unheld = atomic_load_explicit(&unlinks_unheld, memory_order_relaxed);
	check_held(NULL, NULL);
	atomic_store_explicit(&count_syncs_in, NULL, memory_order_relaxed);
	atomic_store_explicit(&fail_place_once, NULL, memory_order_relaxed);
	atomic_store_explicit(&fail_unlink_in, NULL, memory_order_relaxed);
	atomic_store(&fail_dirs, NULL);
	atomic_store_explicit(&fail_writes_in, NULL, memory_order_relaxed);
	atomic_store_explicit(&exdev_renames, 0, memory_order_relaxed);

	static const int want_errno[] = { [MOVE_WRITE_FAILS] = ENOSPC, [MOVE_SYNC_FAILS] = EIO,
					   [MOVE_REMOVAL_FAILS] = EPERM,
					   [MOVE_SOURCE_GONE] = ENOENT, [MOVE_PLACE_FAILS] = EIO };
	/* The syncs of dst/: the copy in place; and its undo.  A copy that
	 * never took the name changed nothing, but where what NAME held went
	 * aside by a rename first (no hard links), and came back. */
	bool renamed_aside = atomic_load_explicit(&no_links, memory_order_relaxed) && old == 1;
	unsigned want_syncs = fail == MOVE_SYNC_FAILS || fail == MOVE_REMOVAL_FAILS ? 2
			      : fail == MOVE_OK && old != 2				    ? 1
			      : fail == MOVE_PLACE_FAILS && renamed_aside		    ? 1
											    : 0;
	if (atomic_load_explicit(&dir_syncs, memory_order_relaxed) != want_syncs)
		fprintf(stderr, "move %s: %u syncs of its destination, not %u\n", tag,
			atomic_load_explicit(&dir_syncs, memory_order_relaxed), want_syncs);
	CHECK_EQ_U64(atomic_load_explicit(&dir_syncs, memory_order_relaxed), want_syncs);
	/* The source removed only while held open, a link too; and the copy
	 * taken back so. */
	if (unheld)
		fprintf(stderr, "move %s: %u removals by inode of an entry not held open\n", tag,
			unheld);
	CHECK_EQ_U64(unheld, 0);
	bool fails = fail != MOVE_OK || old == 2;
	if (rc != (fails ? -1 : 0) || (fails && e != (old == 2 ? EISDIR : want_errno[fail])))
		fprintf(stderr, "move %s: answered %d (%s)\n", tag, rc, strerror(e));
	CHECK_EQ_U64(rc, fails ? -1 : 0);
	if (fails) {
		CHECK_EQ_U64(e, old == 2 ? EISDIR : want_errno[fail]);
		/* The source where it was... */
		CHECK(fail == MOVE_SOURCE_GONE || entry_is(s, "NAME", link, moved));
		/* ...and the destination as it was: the same entry, untouched,
		 * and nothing besides. */
		struct stat now;
		bool there = fstatat(d, "NAME", &now, AT_SYMLINK_NOFOLLOW) == 0;
		bool kept = old == 0 ? !there
				     : there && now.st_ino == was.st_ino &&
					       now.st_mode == was.st_mode &&
					       (old == 2 || entry_is(d, "NAME", false, older));
		if (!kept)
			fprintf(stderr, "move %s: failed, and the destination's NAME %s\n", tag,
				there ? "is another entry now" : "is gone");
		CHECK(kept);
		CHECK_EQ_U64(count_all(dst), old != 0);
	} else {
		CHECK(faccessat(s, "NAME", F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT);
		CHECK(entry_is(d, "NAME", link, moved));
		CHECK_EQ_U64(count_all(dst), 1);
	}
	close(s);
	close(d);
	rm_tree(base);
}

/* Every case, on a file system with RENAME_EXCHANGE and RENAME_NOREPLACE
 * (SUFFIX "") and on one without either ("-noflags"), or, as main() sets
 * it, without RENAME_EXCHANGE and hard links ("-nolinks"). */
static void test_move_across(const char *root, const char *suffix)
{
	static const struct {
		const char *tag;
		bool link;
		int old;
		enum move_failure fail;
	} cases[] = {
		{ "ok", false, 0, MOVE_OK },
		{ "ok-over", false, 1, MOVE_OK },
		{ "link-ok-over", true, 1, MOVE_OK },
		{ "full", false, 1, MOVE_WRITE_FAILS },
		{ "sync", false, 1, MOVE_SYNC_FAILS },
		{ "sync-none", false, 0, MOVE_SYNC_FAILS },
		{ "link-sync", true, 1, MOVE_SYNC_FAILS },
		{ "stays", false, 1, MOVE_REMOVAL_FAILS },
		{ "link-stays", true, 1, MOVE_REMOVAL_FAILS },
		{ "gone", false, 1, MOVE_SOURCE_GONE },
		{ "place", false, 1, MOVE_PLACE_FAILS },
		{ "over-dir", false, 2, MOVE_OK },
	};
	char tag[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(tag, sizeof(tag), "%s%s", cases[i].tag, suffix);
		move_across(root, tag, cases[i].link, cases[i].old, cases[i].fail);
	}
}

int main(void)
{
	char *root = temp_dir();
	ccp_log_set_level(CCP_LOG_ERROR);
	test_stop_first(root);
	test_fsync_fails(root);
	test_store_write(root);
	test_markers_unread(root);
	test_resettled_not_counted(root);
	CHECK(logged(root, test_scan_read_fails,
		     "/new cannot be rescanned: Input/output error; tried again every"));
	CHECK(logged(root, requeue_unsynced,
		     "but the move cannot be synced: Input/output error; it may not survive a crash"));
	CHECK(logged(root, report_unsynced, "m1: its sent report's removal from "));
	test_report_backoffs(root);
	test_requeue_across_unsynced(root);
	test_requeue_term(root);
	test_requeue_long_name(root);
	test_put_back_without_noreplace(root);
	test_report_before_failed_marker(root);
	test_requeue_killed(root);
	test_partial_unreported(root);
	test_map_reload(root);
	test_import_not_started(root);
	test_import_gone(root);
	test_po_limits(root);
	test_report_queue_fails(root);
	test_rename_cut_short(root);
	test_rename_unlink_enoent(root);
	test_rename_unlink_fails(root);
	test_markers(root);
	CHECK(logged(root, open_with_failed_marker,
		     "1 messages that changed after their delivery are still in new/"));
	test_unlink_if_same(root);
	test_removed_held(root);
	test_no_statx(root);
	test_move_across(root, "");
	atomic_store_explicit(&no_rename_flags, 1, memory_order_relaxed);
	test_move_across(root, "-noflags");
	atomic_store_explicit(&no_rename_flags, 0, memory_order_relaxed);
	atomic_store_explicit(&no_exchange, 1, memory_order_relaxed);
	atomic_store_explicit(&no_links, 1, memory_order_relaxed);
	test_move_across(root, "-nolinks");
	atomic_store_explicit(&no_links, 0, memory_order_relaxed);
	atomic_store_explicit(&no_exchange, 0, memory_order_relaxed);
	rm_tree(root);
	free(root);
	puts("test_relay_run: ok");
	return 0;
}

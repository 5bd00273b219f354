/*
 * test_po_io: the post office when a system call fails, or must come before
 * another, seen through link-time wrappers (-Wl,--wrap) of openat, fsync,
 * unlinkat and ftruncate: a failed import names the file that failed;
 * recovery gets past a mailbox nobody may write, which it need not cut;
 * recovery's removals are synced before its journal goes, the journal's
 * removal after; a log that cannot be cut back is not called undone; a
 * mailbox read leaves po.lock free while it reads the store; init syncs
 * what it made before po.conf names it a post office; a recovery that
 * fails gives its errno; a log cut back after a failed sync is synced; a
 * failed listing of the log's segments is a failure; and a move across
 * file systems removes only the file it copied.
 */
#include "po_util.h"
#include "relay/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>

int __real_openat(int dirfd, const char *path, int flags, ...);
int __real_fsync(int fd);
int __real_unlinkat(int dirfd, const char *path, int flags);
int __real_ftruncate(int fd, off_t len);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_fsync(int fd);
int __wrap_unlinkat(int dirfd, const char *path, int flags);
int __wrap_ftruncate(int fd, off_t len);
struct dirent *__real_readdir(DIR *d);
struct dirent *__wrap_readdir(DIR *d);

/* Failures to inject: opening the file of this name for writing (EACCES,
 * as a file made read-only), syncing the file whose path ends so (EIO). */
static const char *deny_write, *fail_sync;

/* While set, reading a directory whose path ends so fails (EIO). */
static const char *fail_readdir;

struct dirent *__wrap_readdir(DIR *d)
{
	if (fail_readdir) {
		char path[PATH_MAX];
		fd_target(dirfd(d), path, sizeof(path));
		if (ends_with(path, fail_readdir)) {
			errno = EIO;
			return NULL;
		}
	}
	return __real_readdir(d);
}

/* While set, every ftruncate fails (EIO). */
static bool fail_truncate;

int __wrap_ftruncate(int fd, off_t len)
{
	if (fail_truncate) {
		errno = EIO;
		return -1;
	}
	return __real_ftruncate(fd, len);
}

/* While set, an open of a store file for reading records in
 * lock_free_at_store_read whether this po.lock was free at that moment. */
static const char *lock_probe;
static int lock_free_at_store_read = -1;

/* Whether nobody holds PATH's flock (a new descriptor, its own lock). */
static int probe_lock_free(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	int free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_now;
}

/* What happened, in order, one "sync PATH" or "unlink NAME" line each;
 * syncs run on several threads at once (sync_all). */
static pthread_mutex_t events_mu = PTHREAD_MUTEX_INITIALIZER;
static char events[16384];
static size_t events_len;

static void event(const char *what, const char *name)
{
	pthread_mutex_lock(&events_mu);
	int n = snprintf(events + events_len, sizeof(events) - events_len, "%s %s\n", what, name);
	CHECK(n > 0 && (size_t)n < sizeof(events) - events_len);
	events_len += (size_t)n;
	pthread_mutex_unlock(&events_mu);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	int mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, int); /* mode_t, promoted */
		va_end(ap);
	}
	if (deny_write && (flags & O_ACCMODE) != O_RDONLY && strcmp(path, deny_write) == 0) {
		errno = EACCES;
		return -1;
	}
	if (lock_probe && (flags & O_ACCMODE) == O_RDONLY && strstr(path, ".msgs"))
		lock_free_at_store_read = probe_lock_free(lock_probe);
	return __real_openat(dirfd, path, flags, mode);
}

/* Called once, then cleared, at the first fsync of a directory. */
static void (*on_dir_sync)(void);

int __wrap_fsync(int fd)
{
	struct stat fst;
	if (on_dir_sync && fstat(fd, &fst) == 0 && S_ISDIR(fst.st_mode)) {
		void (*hook)(void) = on_dir_sync;
		on_dir_sync = NULL;
		hook();
	}
	char path[PATH_MAX];
	fd_target(fd, path, sizeof(path));
	event("sync", path);
	if (ends_with(path, fail_sync)) {
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_unlinkat(int dirfd, const char *path, int flags)
{
	event("unlink", path);
	return __real_unlinkat(dirfd, path, flags);
}

/* Where LINE (a whole line of events) first happens at or after FROM, or
 * -1. */
static long event_at(const char *line, long from)
{
	char want[PATH_MAX + 16];
	snprintf(want, sizeof(want), "%s\n", line);
	for (const char *p = events + from; (p = strstr(p, want)) != NULL; p++)
		if (p == events || p[-1] == '\n')
			return (long)(p - events);
	return -1;
}

static char err[512];

static struct ccp_po *open_po(const char *dir, bool sync)
{
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = sync;
	o.env_fault = false;
	struct ccp_po *po = NULL;
	if (ccp_po_open(dir, &o, &po, err, sizeof(err)) != 0)
		fprintf(stderr, "open: %s\n", err);
	CHECK(po != NULL);
	return po;
}

static int import_to(struct ccp_po *po, const char *key, const char *rcpt,
		     struct ccp_po_result *res)
{
	const char *to[] = { rcpt, NULL };
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	msg_text(&b, key, "A at B", "6/2/98 8:39", to, "s", "text\r\n");
	int rc = ccp_po_import_buffer(po, b.data, b.len, "io.ccm", NULL, res);
	ccp_ccm_buf_free(&b);
	return rc;
}

static size_t file_len(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/*
 * An import undone by recovery removed the files it made, in mailboxes/
 * and store/: those directories are synced before the journal goes, else
 * a crash could keep a removed mailbox (its references into store octets
 * cut back) and lose the journal that said to remove it; and the
 * journal's removal is synced after.
 */
static void test_undo_syncs(const char *dir)
{
	char path[PATH_MAX], real[PATH_MAX], line[PATH_MAX + 16];
	struct ccp_po_result res;
	struct ccp_po *po = open_po(dir, false);
	CHECK(import_to(po, "k1", "Doe, John at HUBPO1", &res) == CCP_PO_OK);
	ccp_po_close(po);
	snprintf(path, sizeof(path), "%s/delivery.log", dir);
	size_t llen = file_len(path);
	snprintf(path, sizeof(path), "%s/import.journal", dir);
	char j[256];
	int n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog %zu %zu\nstore -1 00000002.msgs\n"
			 "mbox -1 new_at_po.mbx\nend\n", llen, llen + 40);
	write_file(path, j, (size_t)n);
	snprintf(path, sizeof(path), "%s/store/00000002.msgs", dir);
	write_file(path, "partial", 7);
	snprintf(path, sizeof(path), "%s/mailboxes/new_at_po.mbx", dir);
	write_file(path, "partial", 7);

	events_len = 0;
	events[0] = '\0';
	po = open_po(dir, true); /* recovers at open */
	ccp_po_close(po);
	CHECK(access(path, F_OK) != 0);
	CHECK(realpath(dir, real) != NULL);
	long mbox_gone = event_at("unlink new_at_po.mbx", 0);
	long store_gone = event_at("unlink 00000002.msgs", 0);
	snprintf(line, sizeof(line), "sync %s/mailboxes", real);
	long mbox_synced = event_at(line, mbox_gone < 0 ? 0 : mbox_gone);
	snprintf(line, sizeof(line), "sync %s/store", real);
	long store_synced = event_at(line, store_gone < 0 ? 0 : store_gone);
	long journal_gone = event_at("unlink import.journal", 0);
	snprintf(line, sizeof(line), "sync %s", real);
	long dir_synced = event_at(line, journal_gone < 0 ? 0 : journal_gone);
	if (mbox_gone < 0 || store_gone < 0 || journal_gone < 0 || mbox_synced < 0 ||
	    store_synced < 0 || journal_gone < mbox_synced || journal_gone < store_synced ||
	    dir_synced < 0) {
		fprintf(stderr, "recovery's calls, in order:\n%s", events);
		CHECK(0);
	}
}

/*
 * A mailbox nobody may write (made read-only): the import that fails on it
 * is undone and names it, and recovery gets past it, as it need not cut it
 * back; before, recovery opened it for writing and failed, and so did
 * every import after.  A file recovery must cut and cannot is named too.
 */
static void test_read_only_mailbox(const char *dir)
{
	char jpath[PATH_MAX], mpath[PATH_MAX], j[256];
	struct ccp_po_result res;
	struct ccp_po *po = open_po(dir, false);
	snprintf(jpath, sizeof(jpath), "%s/import.journal", dir);
	snprintf(mpath, sizeof(mpath), "%s/mailboxes/doe,_john_at_hubpo1.mbx", dir);
	size_t mlen = file_len(mpath);
	CHECK(mlen > 0);
	deny_write = "doe,_john_at_hubpo1.mbx";
	CHECK(import_to(po, "k2", "Doe, John at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	if (strstr(res.reason, "/mailboxes/doe,_john_at_hubpo1.mbx: import failed, undone: ") == NULL) {
		fprintf(stderr, "reason: %s\n", res.reason);
		CHECK(0);
	}
	CHECK(access(jpath, F_OK) != 0);
	CHECK(import_to(po, "k3", "Roe, Jane at HUBPO1", &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	CHECK_EQ_U64(file_len(mpath), mlen);

	/* A journal that says to cut that mailbox back, and it is longer. */
	int n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog 0 99999999\nmbox %zu %s\nend\n",
			 mlen - 1, deny_write);
	write_file(jpath, j, (size_t)n);
	CHECK(import_to(po, "k4", "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	if (strstr(res.reason, "/mailboxes/doe,_john_at_hubpo1.mbx: cannot undo an interrupted "
			       "import: ") == NULL) {
		fprintf(stderr, "reason: %s\n", res.reason);
		CHECK(0);
	}
	CHECK(unlink(jpath) == 0);
	deny_write = NULL;
	ccp_po_close(po);
}

/* A sync that fails: the import is undone and names the file. */
static void test_failed_sync_named(const char *dir)
{
	static const char *const files[] = { "/store/00000001.msgs",
					     "/mailboxes/roe,_jane_at_hubpo1.mbx", "/delivery.log" };
	char want[300], key[16];
	struct ccp_po_result res;
	struct ccp_po *po = open_po(dir, true);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fail_sync = files[i];
		snprintf(key, sizeof(key), "s%zu", i);
		CHECK(import_to(po, key, "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
		CHECK_EQ_U64(res.sys_errno, EIO);
		snprintf(want, sizeof(want), "%s: import failed", files[i]);
		if (strstr(res.reason, want) == NULL) {
			fprintf(stderr, "reason: %s\n", res.reason);
			CHECK(0);
		}
		fail_sync = NULL;
		/* Undone, or undone by the next import: delivered once now. */
		CHECK(import_to(po, key, "Roe, Jane at HUBPO1", &res) == CCP_PO_OK);
		CHECK_EQ_U64(res.delivered, 1);
	}
	ccp_po_close(po);
	struct ccp_po_stats st;
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	CHECK_EQ_U64(st.delivered, 2 + 3);
}

/* A post office made by init is on disk before po.conf names it one: its
 * directory synced before po.conf is written, again after the rename, and
 * the parent of a directory init made. */
static void test_init_syncs(const char *base)
{
	char dir[PATH_MAX], real[PATH_MAX + 16], parent[PATH_MAX], line[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/po-made", base);
	CHECK(realpath(base, parent) != NULL);
	snprintf(real, sizeof(real), "%s/po-made", parent);
	pthread_mutex_lock(&events_mu);
	events_len = 0;
	events[0] = '\0';
	pthread_mutex_unlock(&events_mu);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	snprintf(line, sizeof(line), "sync %s", real);
	long before = event_at(line, 0);
	snprintf(line, sizeof(line), "sync %s/po.conf.tmp", real);
	long conf = before < 0 ? -1 : event_at(line, before);
	snprintf(line, sizeof(line), "sync %s", real);
	long after = conf < 0 ? -1 : event_at(line, conf);
	snprintf(line, sizeof(line), "sync %s", parent);
	long up = after < 0 ? -1 : event_at(line, after);
	if (before < 0 || conf < 0 || after < 0 || up < 0) {
		fprintf(stderr, "events:\n%s", events);
		CHECK(0);
	}
}

/* The log's sync fails and it cannot be cut back either: recovery may
 * then keep the import, so the answer must not say "undone"; it stays a
 * failure, and the retry skips what the log holds. */
static void test_log_not_cut_back(const char *dir)
{
	struct ccp_po_result res;
	struct ccp_po *po = open_po(dir, true);
	fail_sync = "/delivery.log";
	fail_truncate = true;
	CHECK(import_to(po, "t1", "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	fail_sync = NULL;
	fail_truncate = false;
	if (strstr(res.reason, "undone") != NULL ||
	    strstr(res.reason, "could not be cut back, so the import may stand") == NULL) {
		fprintf(stderr, "reason: %s\n", res.reason);
		CHECK(0);
	}
	CHECK(import_to(po, "t1", "Roe, Jane at HUBPO1", &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered + res.skipped, 1);
	ccp_po_close(po);
	struct ccp_po_stats st;
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
}

/* A commit whose log sync fails cuts the log back, and syncs the cut:
 * recovery will find the log at its old length and remove the journal, so
 * an unsynced cut could come back after a power loss with nothing left to
 * undo it. */
static void test_cut_synced(const char *dir)
{
	struct ccp_po_result res;
	struct ccp_po *po = open_po(dir, true);
	pthread_mutex_lock(&events_mu);
	events_len = 0;
	events[0] = '\0';
	pthread_mutex_unlock(&events_mu);
	fail_sync = "/delivery.log";
	CHECK(import_to(po, "c1", "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	fail_sync = NULL;
	unsigned syncs = 0;
	for (const char *p = events; (p = strstr(p, "/delivery.log\n")) != NULL; p++)
		syncs++;
	CHECK_EQ_U64(syncs, 2); /* the commit's, which failed, then the cut's */
	CHECK(import_to(po, "c1", "Roe, Jane at HUBPO1", &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	ccp_po_close(po);
}

/* A listing of the log's rotated segments that fails is a failure, not
 * "no segments": `po stats` would count too little, and a rebuild forget
 * the pairs they hold. */
static void test_segments_unlisted(const char *dir)
{
	struct ccp_po_stats st;
	fail_readdir = "/po";
	int rc = ccp_po_stats(dir, &st, err, sizeof(err));
	fail_readdir = NULL;
	CHECK(rc != 0);
	if (strstr(err, "cannot list the log's segments: Input/output error") == NULL) {
		fprintf(stderr, "stats said: %s\n", err);
		CHECK(0);
	}
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
}

/* An import left half made (a crash after its mailboxes, its journal
 * left) is undone by the next import's recovery; when that cannot cut the
 * files back (the disk fails), the answer gives the errno, as a failed
 * commit's does: the disk's failure, not the batch's, so a relay postpones
 * instead of counting an attempt against the messages. */
static void test_recovery_errno(const char *dir)
{
	struct ccp_po_result res;
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.env_fault = false;
	o.fault.crash = CCP_PO_CRASH_MAILBOXES;
	struct ccp_po *po = NULL;
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	CHECK(import_to(po, "r1", "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	ccp_po_close(po);
	fail_truncate = true;
	po = open_po(dir, true);
	CHECK(import_to(po, "r2", "Roe, Jane at HUBPO1", &res) == CCP_PO_NOT_ACCESSIBLE);
	CHECK_EQ_U64(res.sys_errno, EIO);
	fail_truncate = false;
	CHECK(import_to(po, "r2", "Roe, Jane at HUBPO1", &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	ccp_po_close(po);
	struct ccp_po_stats st;
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
}

/* Reading a mailbox holds the lock only while it reads the mailbox: the
 * store's octets are read with po.lock free, so a running relay's imports
 * are not refused (4) for as long as a big mailbox takes. */
static void test_mailbox_read_unlocked(const char *dir)
{
	char lock[PATH_MAX];
	struct ccp_ccm_buf out;
	snprintf(lock, sizeof(lock), "%s/po.lock", dir);
	ccp_ccm_buf_init(&out);
	lock_probe = lock;
	lock_free_at_store_read = -1;
	CHECK(ccp_po_mailbox_read(dir, "roe,_jane_at_hubpo1.mbx", &out, err, sizeof(err)) == 0);
	lock_probe = NULL;
	CHECK(lock_free_at_store_read == 1);
	CHECK(out.len > 0 && strstr(out.data, "Roe, Jane at HUBPO1") != NULL);
	ccp_ccm_buf_free(&out);
}

/* ccp_move_entry() across file systems (a copy): should another file be
 * put under the name while the copy is made durable (a requeue), that file
 * stays; only the file copied may be removed.  /var/tmp and /dev/shm are
 * two file systems here; where they are one, the move is a rename and the
 * case does not arise. */
static char move_src[PATH_MAX];

static void put_another(void)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/NAME", move_src);
	CHECK(unlink(path) == 0);
	write_file(path, "message B\n", 10);
}

static void test_move_keeps_a_new_file(void)
{
	char dst[] = "/dev/shm/ccpump-move-XXXXXX", path[PATH_MAX + 8], buf[32];
	snprintf(move_src, sizeof(move_src), "/var/tmp/ccpump-move-XXXXXX");
	if (mkdtemp(move_src) == NULL || mkdtemp(dst) == NULL)
		return; /* no second file system to copy across */
	snprintf(path, sizeof(path), "%s/NAME", move_src);
	write_file(path, "message A\n", 10);
	int s = open(move_src, O_RDONLY | O_DIRECTORY), d = open(dst, O_RDONLY | O_DIRECTORY);
	CHECK(s >= 0 && d >= 0);
	struct stat a, b;
	CHECK(fstat(s, &a) == 0 && fstat(d, &b) == 0);
	if (a.st_dev != b.st_dev) {
		on_dir_sync = put_another;
		CHECK(ccp_move_entry(s, "NAME", d, true) == 0);
		on_dir_sync = NULL;
		int f = open(path, O_RDONLY);
		CHECK(f >= 0); /* message B stayed */
		ssize_t n = read(f, buf, sizeof(buf));
		close(f);
		CHECK(n == 10 && memcmp(buf, "message B\n", 10) == 0);
		snprintf(path, sizeof(path), "%s/NAME", dst);
		f = open(path, O_RDONLY);
		CHECK(f >= 0); /* message A moved */
		n = read(f, buf, sizeof(buf));
		close(f);
		CHECK(n == 10 && memcmp(buf, "message A\n", 10) == 0);
		unlink(path);
		snprintf(path, sizeof(path), "%s/NAME", move_src);
	}
	unlink(path);
	close(s);
	close(d);
	rmdir(move_src);
	rmdir(dst);
}

int main(void)
{
	char *base = temp_dir(), dir[600];
	test_init_syncs(base);
	test_move_keeps_a_new_file();
	snprintf(dir, sizeof(dir), "%s/po", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	test_undo_syncs(dir);
	test_read_only_mailbox(dir);
	test_failed_sync_named(dir);
	test_mailbox_read_unlocked(dir);
	test_log_not_cut_back(dir);
	test_recovery_errno(dir);
	test_cut_synced(dir);
	test_segments_unlisted(dir);
	rm_tree(base);
	free(base);
	puts("test_po_io: ok");
	return 0;
}

/*
 * fsutil.c: the relay's directory helpers.
 */
#define _GNU_SOURCE /* renameat2 */
#include "relay/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "ccpump/alloc.h"
#include "ccpump/fdio.h"
#include "ccpump/log.h"

static struct statx_timestamp statx_time(struct timespec t)
{
	return (struct statx_timestamp){ .tv_sec = t.tv_sec, .tv_nsec = (uint32_t)t.tv_nsec };
}

int ccp_statx(int dirfd, const char *name, int flags, struct statx *sx)
{
	if (statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_BTIME, sx) == 0)
		return 0;
	/* No statx at all: a kernel before 4.11 (ENOSYS, where libc does not
	 * stand in for it), or a sandbox whose seccomp filter predates it
	 * (Docker's before 18.04 answer EPERM).  Every spool file's stamp
	 * comes from here, so fstatat() stands in, with all but the birth
	 * time, as for a file system that keeps none. */
	if (errno != ENOSYS && errno != EPERM)
		return -1;
	struct stat st;
	if (fstatat(dirfd, name, &st, flags) != 0)
		return -1;
	*sx = (struct statx){
		.stx_mask = STATX_BASIC_STATS,
		.stx_blksize = (uint32_t)st.st_blksize,
		.stx_nlink = (uint32_t)st.st_nlink,
		.stx_uid = st.st_uid,
		.stx_gid = st.st_gid,
		.stx_mode = (uint16_t)st.st_mode,
		.stx_ino = st.st_ino,
		.stx_size = (uint64_t)st.st_size,
		.stx_blocks = (uint64_t)st.st_blocks,
		.stx_atime = statx_time(st.st_atim),
		.stx_ctime = statx_time(st.st_ctim),
		.stx_mtime = statx_time(st.st_mtim),
		.stx_rdev_major = major(st.st_rdev),
		.stx_rdev_minor = minor(st.st_rdev),
		.stx_dev_major = major(st.st_dev),
		.stx_dev_minor = minor(st.st_dev),
	};
	return 0;
}

int64_t ccp_statx_ns(const struct statx_timestamp *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

bool ccp_statx_birth(const struct statx *sx, int64_t *ns)
{
	if ((sx->stx_mask & STATX_BTIME) == 0)
		return false;
	*ns = ccp_statx_ns(&sx->stx_btime);
	return true;
}

bool ccp_machine_read_errno(int e)
{
	/* EWOULDBLOCK: the open (O_NONBLOCK) met another's lease on the
	 * file (Samba's oplocks, an NFS server's delegation): not the file's
	 * fault either. */
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == EIO || e == EWOULDBLOCK;
}

char *ccp_path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = ccp_malloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* Makes directory NAME of DIRFD if it is missing (0700) and opens it; one
 * made here is given OWNER's owner and group when OWNER is not NULL and
 * this process may give them (root).  PATH names it in ERR. */
static int dir_ensure_open_at(int dirfd, const char *name, const char *path,
			      const struct stat *owner, char *err, size_t errlen)
{
	bool made = mkdirat(dirfd, name, 0700) == 0;
	if (!made && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
		return -1;
	}
	/* Through the descriptor: should the name have been replaced since
	 * the mkdir (only the directory's owner can), what is given away is
	 * what is open, never a link's target. */
	if (made && owner != NULL && geteuid() == 0 &&
	    (owner->st_uid != geteuid() || owner->st_gid != getegid()) &&
	    fchown(fd, owner->st_uid, owner->st_gid) != 0) {
		snprintf(err, errlen, "cannot give %s to the owner of the directory it is in: %s",
			 path, strerror(errno));
		close(fd);
		unlinkat(dirfd, name, AT_REMOVEDIR);
		return -1;
	}
	return fd;
}

int ccp_dir_ensure_open(const char *path, char *err, size_t errlen)
{
	return dir_ensure_open_at(AT_FDCWD, path, path, NULL, err, errlen);
}

int ccp_dir_ensure_open_in(const char *parent, const char *name, char *err, size_t errlen)
{
	char *path = ccp_path_join(parent, name);
	struct stat st;
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
	if (pfd < 0 || fstat(pfd, &st) != 0)
		snprintf(err, errlen, "cannot open %s: %s", parent, strerror(errno));
	else
		fd = dir_ensure_open_at(pfd, name, path, &st, err, errlen);
	if (pfd >= 0)
		close(pfd);
	ccp_free(path);
	return fd;
}

int ccp_dir_open_in(const char *parent, const char *name)
{
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -1;
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(pfd);
	errno = fd < 0 && e == ELOOP ? ENOTDIR : e;
	return fd;
}

/*
 * A small file read whole: DIRFD/PATH (AT_FDCWD for a plain path), at most
 * CAP - 1 octets into BUF, which ends with a NUL even when nothing was
 * read.  Returns the octets read, or -1 with errno.  For /proc's and
 * /sys's one-line files and the like.
 */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap)
{
	buf[0] = '\0';
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = ccp_read_full(fd, buf, cap - 1);
	int e = errno;
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	errno = e;
	return n;
}

/* Processes whose descriptors are looked through for the holder, at
 * most: each costs a pass over its descriptors.  One past them goes
 * unnamed, and the relay refuses the spool without waiting, as where no
 * holder is found. */
#define FLOCK_CANDIDATES 64

/*
 * Whether process PID holds a flock on the file of ST through one of its
 * descriptors: one whose /proc/PID/fdinfo lists a FLOCK lock (the kernel
 * lists there the locks a descriptor's file holds for its process) and
 * that stat()s to ST's device and inode.  The fdinfo first: reading it
 * touches no file system, so only the few descriptors that hold a flock
 * are stat()ed, never one on a server that does not answer.  False where
 * PID's descriptors cannot be read (another user's, without root).
 */
static bool holds_flock_on(long pid, const struct stat *st)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fdinfo", pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	bool held = false;
	struct dirent *e;
	while (!held && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char buf[2048], kind[16];
		read_small(dirfd(d), e->d_name, buf, sizeof(buf));
		/* "lock:\t1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF" */
		bool flock_here = false;
		for (char *l = strstr(buf, "lock:"); l != NULL && !flock_here; l = strstr(l + 5, "lock:"))
			flock_here = sscanf(l, "lock: %*d: %15s", kind) == 1 && strcmp(kind, "FLOCK") == 0;
		if (!flock_here)
			continue;
		/* stat() follows the descriptor's link to its file. */
		char link[320];
		struct stat fst;
		snprintf(link, sizeof(link), "/proc/%ld/fd/%s", pid, e->d_name);
		held = stat(link, &fst) == 0 && fst.st_dev == st->st_dev && fst.st_ino == st->st_ino;
	}
	closedir(d);
	return held;
}

long ccp_flock_holder(const char *locks, int fd, char *comm, size_t cap)
{
	struct stat st;
	comm[0] = '\0';
	FILE *f = fstat(fd, &st) == 0 ? fopen(locks, "re") : NULL;
	if (f == NULL)
		return 0;
	char line[256], kind[16], arrow[4];
	long pid = 0, others[FLOCK_CANDIDATES];
	unsigned n_others = 0;
	while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
		unsigned maj, min;
		unsigned long long ino;
		long p;
		if (sscanf(line, "%*d: %3s", arrow) == 1 && strcmp(arrow, "->") == 0)
			continue;
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) !=
			    5 ||
		    strcmp(kind, "FLOCK") != 0 || p <= 0)
			continue;
		if (maj == major(st.st_dev) && min == minor(st.st_dev) &&
		    ino == (unsigned long long)st.st_ino)
			pid = p;
		else if (n_others < FLOCK_CANDIDATES) {
			unsigned i = 0;
			while (i < n_others && others[i] != p)
				i++;
			if (i == n_others)
				others[n_others++] = p; /* once a process, not once a lock */
		}
	}
	fclose(f);
	/* The list names a file by its super block's device, which is
	 * stat()'s on most file systems but not all: btrfs gives each
	 * subvolume a device number of its own, and overlayfs reports a
	 * layer's device (and inode) for some files.  Where no line matches,
	 * the holders' own descriptors tell. */
	for (unsigned i = 0; pid == 0 && i < n_others; i++)
		if (holds_flock_on(others[i], &st))
			pid = others[i];
	if (pid > 0) {
		char path[48];
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		read_small(AT_FDCWD, path, comm, cap);
		comm[strcspn(comm, "\n")] = '\0';
	}
	return pid;
}

bool ccp_hardlink_exposed(const char *sysctl, const struct stat *new_dir, uid_t euid, char *why,
			  size_t len)
{
	char v[8];
	if (euid != 0 || (new_dir->st_uid == 0 && !(new_dir->st_mode & (S_IWGRP | S_IWOTH))))
		return false;
	if (read_small(AT_FDCWD, sysctl, v, sizeof(v)) <= 0 || v[0] != '0')
		return false;
	snprintf(why, len, "running as root with fs.protected_hardlinks 0, and others than root may "
		 "write into it (owner uid %u, mode %04o): whoever may write it can hard-link into "
		 "it a file only root may read, and the relay would deliver it; set "
		 "fs.protected_hardlinks = 1 (sysctl), or run the relay as the spool's owner",
		 (unsigned)new_dir->st_uid, (unsigned)(new_dir->st_mode & 07777));
	return true;
}

/* Whether comma-separated OPTS holds the option WORD itself (not
 * "WORD=..." nor "noWORD"). */
static bool has_option(const char *opts, const char *word)
{
	size_t n = strlen(word);
	for (const char *o = opts; *o != '\0';) {
		size_t k = strcspn(o, ",");
		if (k == n && memcmp(o, word, n) == 0)
			return true;
		o += k + (o[k] == ',');
	}
	return false;
}

bool ccp_mount_discards(const char *mountinfo, dev_t dev, char *why, size_t len)
{
	FILE *f = fopen(mountinfo, "re");
	if (f == NULL)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		/* id parent major:minor root mount-point options [optional
		 * fields...] - fstype source super-options */
		unsigned maj, min;
		char point[512], opts[512];
		if (sscanf(line, "%*u %*u %u:%u %*s %511s %511s", &maj, &min, point, opts) != 4 ||
		    maj != major(dev) || min != minor(dev))
			continue;
		const char *sep = strstr(line, " - ");
		char fstype[64], source[256], super[512];
		if (sep == NULL || sscanf(sep + 3, "%63s %255s %511s", fstype, source, super) != 3)
			continue;
		if (!has_option(opts, "discard") && !has_option(super, "discard"))
			continue;
		snprintf(why, len, "%s %s mounted at %s with 'discard': each delivered message's "
			 "removal may wait for the device to discard its blocks, and bound the relay "
			 "(watch 'settling spool files' on the stats line); mount it without 'discard' "
			 "and trim periodically (fstrim.timer)", fstype, source, point);
		found = true;
	}
	free(line);
	fclose(f);
	return found;
}

int ccp_dir_lock(const char *dir, const char *name, const char *what, bool *foreign, char *err,
		 size_t errlen)
{
	if (foreign)
		*foreign = false;
	char *path = name ? ccp_path_join(dir, name) : ccp_strdup(dir);
	int fd = name ? open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)
		      : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: cannot open its lock %s: %s", what, dir, path,
			 strerror(errno));
		ccp_free(path);
		return -1;
	}
	ccp_free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t n = name ? pread(fd, pid, sizeof(pid) - 1, 0) : 0;
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		/* A directory's lock names no pid of its own: the kernel's list
		 * does, and the holder's name tells a relay from anyone else who
		 * could open the directory (the spool's, readable by others). */
		char comm[32] = "";
		long holder = e == EWOULDBLOCK && !pid[0]
				      ? ccp_flock_holder("/proc/locks", fd, comm, sizeof(comm))
				      : 0;
		/* ccpump, or ccpump-relay as a package may name it; a taker
		 * gone (no name) handed its descriptor on, which a relay never
		 * does. */
		bool relay = strncmp(comm, "ccpump", 6) == 0;
		if (foreign)
			*foreign = holder > 0 && !relay;
		if (holder > 0 && !comm[0])
			/* The lock outlives its taker where a child kept the
			 * descriptor (flock(1) handing it to its command). */
			snprintf(err, errlen, "%s %s is locked by another process (taken by pid %ld, "
				 "now gone): one relay per %s; whoever may read the directory can "
				 "hold its lock (make it mode 0711 or tighter)", what, dir, holder,
				 what);
		else if (holder > 0 && !relay)
			snprintf(err, errlen, "%s %s is locked by pid %ld (%s), not a ccpump relay: "
				 "whoever may read the directory can hold its lock (make it mode "
				 "0711 or tighter)", what, dir, holder, comm);
		else if (holder > 0)
			snprintf(err, errlen, "%s %s is in use by another ccpump relay (pid %ld): one "
				 "relay per %s", what, dir, holder, what);
		else if (e == EWOULDBLOCK && pid[0])
			snprintf(err, errlen, "%s %s is in use by another ccpump relay (pid %s): one "
				 "relay per %s", what, dir, pid, what);
		else if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s %s is in use by another ccpump relay: one relay per "
				 "%s", what, dir, what);
		else
			snprintf(err, errlen, "%s %s: cannot lock: %s", what, dir, strerror(e));
		close(fd);
		return -1;
	}
	if (name == NULL)
		return fd;
	char line[32];
	int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
		/* The lock holds all the same; only the pid in a refusal is lost. */
	}
	return fd;
}

/*
 * Who made a temporary name.  `ccpump queue --requeue` makes temporary
 * names in the directories a running relay makes its own in, and a relay
 * starting removes those of processes that are gone.  The pid alone cannot
 * say which: a pid is reused, and one from another pid namespace (a relay
 * in a container, a `queue` on the host, one store) names some other
 * process or none.  Nor can the namespace: every host's first pid
 * namespace has the same inode number, so on a store two hosts share (NFS)
 * the other host's pids look like this one's.  So a name carries its
 * maker's start time (clock ticks since boot, /proc/PID/stat), pid
 * namespace (the inode of /proc/self/ns/pid), boot (the first 32 bits of
 * /proc/sys/kernel/random/boot_id, new at every boot of every host) and
 * host (the first 32 bits of /etc/machine-id, the same at every boot),
 * each 0 where it cannot be read.
 */
struct tmp_owner {
	long pid;
	unsigned long long start, ns, boot, host;
};

/* The start time of process PID: 0, or -1 when /proc has no such process
 * (errno ENOENT) or cannot be read. */
static int proc_start_time(long pid, unsigned long long *out)
{
	char path[48], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	ssize_t n = read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0)
			errno = EIO;
		return -1;
	}
	/* Field 2, the command, may hold spaces and ')': the fields after it
	 * start after the last ')'.  The start time is field 22. */
	char *p = strrchr(buf, ')');
	for (int field = 2; p != NULL && field < 22; field++)
		p = strchr(p + 1, ' ');
	char *end;
	errno = 0;
	unsigned long long v = p ? strtoull(p + 1, &end, 10) : 0;
	if (p == NULL || end == p + 1 || errno != 0) {
		errno = EIO;
		return -1;
	}
	*out = v;
	return 0;
}

/* The first 32 bits of the id in file PATH (hex: a UUID
 * "xxxxxxxx-xxxx-...", or 32 hex digits), or 0 where it cannot be read. */
static unsigned long long id32_of(const char *path)
{
	char buf[64];
	if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 8)
		return 0;
	buf[8] = '\0';
	char *end;
	unsigned long long v = strtoull(buf, &end, 16);
	return end == buf + 8 ? v : 0;
}

static struct tmp_owner owner_now(void)
{
	struct tmp_owner o = { .pid = (long)getpid(),
			       .boot = id32_of("/proc/sys/kernel/random/boot_id"),
			       .host = id32_of("/etc/machine-id") };
	struct stat st;
	if (proc_start_time(o.pid, &o.start) != 0)
		o.start = 0;
	if (stat("/proc/self/ns/pid", &st) == 0)
		o.ns = (unsigned long long)st.st_ino;
	return o;
}

static struct tmp_owner cached_owner;
static void cache_owner(void)
{
	cached_owner = owner_now();
}

/* This process's identity: read once (the temporary names of a relay are
 * made at every delivery), and again in a child forked since. */
static struct tmp_owner self_owner(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, cache_owner);
	return cached_owner.pid == (long)getpid() ? cached_owner : owner_now();
}

void ccp_tmp_name(char *buf, size_t cap)
{
	static _Atomic unsigned long long seq;
	struct tmp_owner me = self_owner();
	int n = snprintf(buf, cap, CCP_TMP_PREFIX "%ld.%llu.%llu.%llx.%llx-%llu", me.pid, me.start,
			 me.ns, me.boot, me.host,
			 atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed));
	/* Cut short, two names could meet. */
	if (n < 0 || (size_t)n >= cap)
		ccp_panic("temporary name buffer of %zu octets too short", cap);
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names of D's entries but those SKIP (if not NULL) says to skip, and
 * dot names unless DOTS, into a new array of *N; D is closed. */
static char **collect_names(DIR *d, bool dots, bool (*skip)(const char *name), size_t *n)
{
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;
	*n = 0;
	while ((de = readdir(d)) != NULL) {
		if ((!dots && de->d_name[0] == '.') || (skip && skip(de->d_name)))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			names = ccp_realloc(names, cap * sizeof(*names));
		}
		names[(*n)++] = ccp_strdup(de->d_name);
	}
	closedir(d);
	return names;
}

char **ccp_dir_names(DIR *d, bool (*skip)(const char *name), size_t *n)
{
	char **names = collect_names(d, false, skip, n);
	if (*n > 1)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

void ccp_dir_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ccp_free(names[i]);
	ccp_free(names);
}

uint64_t ccp_dir_count_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;
	while (d && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int ccp_open_regular_at(int dirfd, const char *name, bool *not_regular)
{
	*not_regular = false;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		/* ELOOP: a symbolic link, which O_NOFOLLOW refuses. */
		*not_regular = errno == ELOOP;
		return -1;
	}
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	if (fstat(fd, &st) != 0 || flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		*not_regular = true;
		errno = EINVAL;
		return -1;
	}
	return fd;
}

void ccp_close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Removes DIRFD/NAME, what a write or a move that did not complete made,
 * leaving errno as the failure that stopped it. */
static void unlink_keeping_errno(int dirfd, const char *name)
{
	int e = errno;
	unlinkat(dirfd, name, 0);
	errno = e;
}

int ccp_tmp_finish(int fd, int dirfd, const char *tmp, const char *name, bool sync, int rc)
{
	if (rc == 0 && sync)
		rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	/* Renamed over any entry of that name; else TMP goes. */
	if (rc == 0)
		rc = renameat(dirfd, tmp, dirfd, name);
	if (rc != 0)
		unlink_keeping_errno(dirfd, tmp);
	return rc;
}

int ccp_store_write(int dirfd, const char *name, const char *data, size_t len, bool sync)
{
	char tmp[CCP_TMP_NAME_MAX];
	ccp_tmp_name(tmp, sizeof(tmp));
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (ccp_tmp_finish(fd, dirfd, tmp, name, sync, ccp_write_all(fd, data, len)) != 0)
		return -1;
	/* The new name too: a record is written before the spool file it
	 * speaks for is removed, and on another file system the removal can
	 * outlive a power loss that takes back a rename not synced.  Should
	 * that fail, the record is in place but not durable: the caller is
	 * told (-1), and the record stays (removing it would take the one it
	 * replaced with it). */
	return sync ? fsync(dirfd) : 0;
}

DIR *ccp_dir_reopen(int dirfd)
{
	/* A description of its own: a dup() would share, and leave at the end,
	 * the position a later scan of the same fd starts from. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (dir == NULL && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return dir;
}

/* Removes the entries of DIRFD whose names start with PREFIX, but those
 * KEEP (if not NULL) says to keep.  Returns how many were removed. */
static unsigned remove_prefixed(int dirfd, const char *prefix,
				bool (*keep)(int dirfd, const char *name))
{
	DIR *dir = ccp_dir_reopen(dirfd);
	struct dirent *de;
	unsigned n = 0;
	while (dir && (de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    !(keep && keep(dirfd, de->d_name)) && unlinkat(dirfd, de->d_name, 0) == 0)
			n++;
	if (dir)
		closedir(dir);
	return n;
}

unsigned ccp_dir_remove_prefixed(int dirfd, const char *prefix)
{
	return remove_prefixed(dirfd, prefix, NULL);
}

/* How long another pid namespace's temporary names are kept:
 * CCP_TMP_FOREIGN_KEEP_S, or CCPUMP_TMP_FOREIGN_KEEP_S seconds from the
 * environment (0: not at all; the tests use it, as may an operator who
 * knows no such process runs). */
static long long tmp_foreign_keep_s(void)
{
	const char *v = getenv("CCPUMP_TMP_FOREIGN_KEEP_S");
	char *end;
	errno = 0;
	long long s = v && *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : -1;
	return s >= 0 && errno == 0 && *end == '\0' ? s : CCP_TMP_FOREIGN_KEEP_S;
}

/* Whether process PID runs, by signal 0 (EPERM: as another user). */
static bool pid_runs(long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* When NAME in DIRFD last changed, of either kind: a name put aside by
 * rename (a requeue's records) keeps its old mtime, and its ctime is the
 * rename's.  -1 when it cannot be read. */
static time_t last_change(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	return st.st_ctime > st.st_mtime ? st.st_ctime : st.st_mtime;
}

/* Whether a name last changed at CHANGED (last_change(): -1, unknown),
 * made by a process that cannot be seen from here, is recent enough to be
 * in use still (tmp_foreign_keep_s()). */
static bool tmp_young(time_t changed)
{
	return changed >= 0 && time(NULL) - changed < tmp_foreign_keep_s();
}

/* When this host booted, on the clock file times are in. */
static time_t boot_time(void)
{
	struct timespec now, up;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_BOOTTIME, &up);
	return now.tv_sec - up.tv_sec;
}

/* Parses .start.ns[.boot[.host]]-number, what follows the pid in a
 * temporary name, into *o; false if it is not that.  A name without its
 * boot or host (made before they were in it) gets 0 for them. */
static bool parse_tmp_owner(const char *p, struct tmp_owner *o)
{
	int used = 0;
	if (sscanf(p, ".%llu.%llu%n", &o->start, &o->ns, &used) != 2 || used == 0)
		return false;
	const char *rest = p + used;
	unsigned long long *hex[] = { &o->boot, &o->host };
	for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
		*hex[i] = 0;
		if (*rest != '.')
			continue;
		char *end;
		*hex[i] = strtoull(rest + 1, &end, 16);
		if (end == rest + 1)
			return false;
		rest = end;
	}
	return *rest == '-';
}

/* Whether temporary name NAME in DIRFD belongs to another process that may
 * still be running: its file may be in use.  NAME is CCP_TMP_PREFIX, then
 * pid.start.ns.boot.host-number (ccp_tmp_name()), or one of the names of
 * earlier versions, pid.start.ns.boot-number, pid.start.ns-number and
 * pid-number (what they lack is not judged). */
static bool tmp_of_live_process(int dirfd, const char *name)
{
	const char *p = name + strlen(CCP_TMP_PREFIX);
	struct tmp_owner me = self_owner();
	char *end;
	errno = 0;
	long pid = strtol(p, &end, 10);
	if (end == p || errno != 0 || pid <= 0)
		return false;
	if (*end == '-')
		return pid != me.pid && pid_runs(pid);
	struct tmp_owner o = { .pid = pid };
	if (!parse_tmp_owner(end, &o))
		return false;
	if (o.boot != 0 && me.boot != 0 && o.boot != me.boot) {
		/* Made in another boot: an earlier one of this host, whose
		 * processes are all gone (a crash's names, cleaned up now rather
		 * than a day later), or one of another host sharing the store,
		 * whose processes cannot be seen from here: kept while young
		 * enough to be in use.  The host says which; where one is not
		 * known, a name last changed before this host booted is taken
		 * for its own earlier boot's. */
		time_t changed = last_change(dirfd, name);
		if (o.host != 0 && me.host != 0)
			return o.host != me.host && tmp_young(changed);
		return changed >= boot_time() && tmp_young(changed);
	}
	if (o.ns != 0 && me.ns != 0 && o.ns != me.ns) {
		/* Another pid namespace's process, which this one cannot see:
		 * its file is kept while it is young enough to be in use. */
		return tmp_young(last_change(dirfd, name));
	}
	if (o.pid == me.pid && o.start == me.start)
		return false; /* ours: this process is starting */
	unsigned long long start;
	if (o.start != 0 && proc_start_time(pid, &start) == 0)
		return start == o.start; /* the same pid may be another process */
	/* No /proc/PID to read: the process is gone, or hidden from us (no
	 * /proc mounted, hidepid): the signal test tells those apart. */
	return pid != me.pid && pid_runs(pid);
}

int ccp_unlink_if_same(int dirfd, const char *name, int held)
{
	struct stat was, now;
	/* Without the file held, its inode number may be another file's by
	 * now, and the comparison below would remove that one. */
	if (fstat(held, &was) != 0)
		ccp_panic("ccp_unlink_if_same(%s): descriptor %d is not open (%s): the file must "
			  "be held open for its inode number to name it", name, held, strerror(errno));
	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -1;
	if (now.st_dev != was.st_dev || now.st_ino != was.st_ino)
		return 0;
	return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
}

/* Whether OLD in OLDDIRFD and NEW_NAME in NEWDIRFD are names of one file. */
static bool same_file_names(int olddirfd, const char *old, int newdirfd, const char *new_name)
{
	struct stat o, n;
	return fstatat(olddirfd, old, &o, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstatat(newdirfd, new_name, &n, AT_SYMLINK_NOFOLLOW) == 0 &&
	       o.st_dev == n.st_dev && o.st_ino == n.st_ino;
}

int ccp_rename_noreplace(int olddirfd, const char *old, int newdirfd, const char *new_name)
{
	if (renameat2(olddirfd, old, newdirfd, new_name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (linkat(olddirfd, old, newdirfd, new_name, 0) != 0) {
		/* NEW already the same file: a move cut short between its link
		 * and its unlink (a crash).  It is finished here; else the two
		 * names would stay, two entries for one file. */
		int e = errno;
		if (e == EEXIST && same_file_names(olddirfd, old, newdirfd, new_name))
			return unlinkat(olddirfd, old, 0) == 0 ? 0 : -1;
		errno = e;
		return -1;
	}
	if (unlinkat(olddirfd, old, 0) == 0)
		return 0;
	int e = errno;
	/* OLD gone already: NEW is the file's one name, the move is done.  (An
	 * NFS client answers so when its REMOVE was retransmitted after the
	 * server carried it out.)  Removing NEW now would lose the file. */
	if (e == ENOENT)
		return 0;
	/* Left, the two names would be two entries (in new/, two messages):
	 * NEW goes, while OLD is still there and still the same file.  And
	 * the folder is synced after: the link may have reached the disk
	 * already (a journal commit in between), and a crash that kept it
	 * and lost its removal would leave the two names all the same.  A
	 * failure's path, so the sync costs nothing the moves pay. */
	if (same_file_names(olddirfd, old, newdirfd, new_name) &&
	    unlinkat(newdirfd, new_name, 0) == 0)
		fsync(newdirfd);
	errno = e;
	return -1;
}

void ccp_tmp_name_for(char *buf, size_t cap, const char *what)
{
	ccp_tmp_name(buf, cap);
	size_t n = strlen(buf), w = strlen(what);
	if (n + 1 + w <= NAME_MAX && n + 1 + w < cap) {
		buf[n] = '~';
		memcpy(buf + n + 1, what, w + 1);
	}
}

/* Whether NAME is not an aside name (ccp_tmp_name_for()). */
static bool not_aside(const char *name)
{
	const char *tilde = strchr(name, '~');
	return strncmp(name, CCP_TMP_PREFIX, strlen(CCP_TMP_PREFIX)) != 0 || !tilde || !tilde[1];
}

unsigned ccp_dir_stale_asides(int dirfd, bool (*fn)(void *arg, const char *aside, const char *what),
			      void *arg)
{
	/* The names first, then the renames: a directory renamed into while
	 * it is read may show an entry twice, or not at all. */
	DIR *dir = ccp_dir_reopen(dirfd);
	size_t n = 0;
	char **names = dir ? collect_names(dir, true, not_aside, &n) : NULL;
	unsigned back = 0;
	for (size_t i = 0; i < n; i++)
		if (!tmp_of_live_process(dirfd, names[i]) &&
		    fn(arg, names[i], strchr(names[i], '~') + 1))
			back++;
	ccp_dir_names_free(names, n);
	return back;
}

unsigned ccp_dir_remove_stale_tmp(int dirfd)
{
	return remove_prefixed(dirfd, CCP_TMP_PREFIX, tmp_of_live_process);
}

/* Past a run of at least one character IS accepts, or NULL for none. */
static const char *past_run(const char *p, int (*is)(int))
{
	const char *q = p;
	while (*q && is((unsigned char)*q))
		q++;
	return q > p ? q : NULL;
}

/* Whether NAME is a temporary name as ccp_tmp_name() makes it, or as an
 * earlier version did, whole: CCP_TMP_PREFIX, the pid, then .start.ns,
 * .start.ns.boot or .start.ns.boot.host (decimal, decimal, hex, hex) or
 * none of them, '-' and a number, and nothing after.  In a folder that is
 * not ccpump's (a Maildir's tmp/), a name that only begins so may be
 * another program's. */
static bool tmp_name_whole(const char *name)
{
	if (strncmp(name, CCP_TMP_PREFIX, strlen(CCP_TMP_PREFIX)) != 0)
		return false;
	const char *p = past_run(name + strlen(CCP_TMP_PREFIX), isdigit);
	int fields = 0;
	for (; p && *p == '.' && fields < 4; fields++)
		p = past_run(p + 1, fields < 2 ? isdigit : isxdigit);
	if (p == NULL || fields == 1 || *p != '-')
		return false;
	p = past_run(p + 1, isdigit);
	return p && *p == '\0';
}

/* Keeps what ccp_dir_remove_stale_own_tmp() must not remove: another
 * program's entry, or a live process's temporary name. */
static bool not_own_stale_tmp(int dirfd, const char *name)
{
	return !tmp_name_whole(name) || tmp_of_live_process(dirfd, name);
}

unsigned ccp_dir_remove_stale_own_tmp(int dirfd)
{
	return remove_prefixed(dirfd, CCP_TMP_PREFIX, not_own_stale_tmp);
}

/* The first SIZE octets of SRC into OUT (both at offset 0 on), the
 * ranges that hold data only (lseek()'s SEEK_DATA and SEEK_HOLE; a file
 * system without them has one range, the whole), OUT cut to SIZE at the
 * end for a last hole.  A file that shrank meanwhile ends the copy where
 * it ends.  0, or -1 with errno. */
static int copy_data(int src, int out, off_t size, char *buf, size_t cap)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(src, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* a hole to the end */
		if (data < 0)
			data = pos; /* no SEEK_DATA here: read it all */
		if (data >= size)
			break;
		off_t hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		if (lseek(out, data, SEEK_SET) < 0)
			return -1;
		for (pos = data; pos < hole;) {
			size_t want = (size_t)(hole - pos) < cap ? (size_t)(hole - pos) : cap;
			ssize_t n = ccp_pread_full(src, buf, want, pos);
			if (n < 0 || (n > 0 && ccp_write_all(out, buf, (size_t)n) != 0))
				return -1;
			if (n == 0) /* shrank under us */
				return ftruncate(out, pos);
			pos += n;
		}
	}
	return ftruncate(out, size);
}

int ccp_copy_file(int src, int dst_dirfd, const char *tmp, bool sync)
{
	struct stat st;
	if (fstat(src, &st) != 0)
		return -1;
	char buf[65536];
	int out = openat(dst_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -1;
	/* The octets the file had when it was looked at, and its holes kept
	 * as holes: a sparse file of a gigabyte costs its writer no block, and
	 * copied whole into the store (a message over the size limit, on its
	 * way to Bad) it filled the store's disk at every rescan that found it
	 * again; read to its end, one still being written would never end. */
	int rc = copy_data(src, out, st.st_size, buf, sizeof(buf));
	/* The copy keeps the file's owner and mode, as a rename would: a
	 * requeue run as root must not leave the relay, run as another user,
	 * a file of root's it cannot read.  The owner only where this process
	 * may give it (root); the mode after it (a change of owner may clear
	 * bits). */
	if (rc == 0 && geteuid() == 0 && (st.st_uid != geteuid() || st.st_gid != getegid()))
		rc = fchown(out, st.st_uid, st.st_gid);
	if (rc == 0)
		rc = fchmod(out, st.st_mode & 07777);
	/* The copy keeps the file's times: a message's age in the spool and in
	 * Bad is its modification time, the same as after a rename. */
	if (rc == 0)
		rc = futimens(out, (const struct timespec[]){ st.st_atim, st.st_mtim });
	if (rc == 0 && sync)
		rc = fsync(out);
	int e = errno;
	if (close(out) != 0 && rc == 0) {
		e = errno;
		rc = -1;
	}
	if (rc != 0) {
		unlinkat(dst_dirfd, tmp, 0);
		errno = e;
	}
	return rc;
}

/* After an undo in DIRFD, what the undo changed is synced when SYNC, as a
 * move's steps are; errno stays the failure the undo answers. */
static void sync_undo(int dirfd, bool sync)
{
	int e = errno;
	if (sync && fsync(dirfd) != 0) {
		/* Nothing more can be done: the move reports its own failure. */
	}
	errno = e;
}

/*
 * Puts the copy DIRFD/TMP of a move in place as NAME.  What NAME held is
 * not lost with it: should a later step of the move fail, it must be there
 * again as it was.  So an entry there is swapped with the copy in one step
 * (RENAME_EXCHANGE) and is then under the name TMP; where the file system
 * cannot swap, it gets a second name ASIDE by a link before the copy is
 * renamed over it, or, without hard links too, is renamed to ASIDE.  *KEPT says whether it is kept so, under ASIDE (CAP
 * octets, at least CCP_TMP_NAME_MAX), for place_undo() or its removal.
 * A directory under NAME is refused (EISDIR), as a rename over it is.
 * Returns 0, or -1 with errno and TMP and NAME as they were (an entry put
 * back synced when SYNC: sync_undo()).
 */
static int place_copy(int dirfd, const char *tmp, const char *name, char *aside, size_t cap,
		      bool *kept, bool sync)
{
	struct stat there;
	*kept = false;
	if (fstatat(dirfd, name, &there, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(there.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	/* An entry made under NAME between two steps sends us round again. */
	for (unsigned tries = 0; tries < 8; tries++) {
		if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0) {
			snprintf(aside, cap, "%s", tmp);
			*kept = true;
			return 0;
		}
		if (errno == EINVAL) {
			ccp_tmp_name(aside, cap);
			if (linkat(dirfd, name, dirfd, aside, 0) == 0) {
				if (renameat(dirfd, tmp, dirfd, name) == 0) {
					*kept = true;
					return 0;
				}
				unlink_keeping_errno(dirfd, aside);
				return -1;
			}
			/* No hard links either (FAT and exFAT have neither, nor
			 * some FUSE file systems): the entry itself goes aside by
			 * a rename, and the copy takes its name.  NAME is empty for
			 * that moment, which only a crash there makes last: the
			 * entry is then under ASIDE, which the next start removes,
			 * as after a crash once the copy is in place; the source
			 * is still in the spool.  Refused, the move would fail over
			 * every name already there, where a rename replaced it. */
			if (errno != ENOENT && renameat(dirfd, name, dirfd, aside) == 0) {
				if (renameat(dirfd, tmp, dirfd, name) == 0) {
					*kept = true;
					return 0;
				}
				/* Back, and for good: the rename aside may reach
				 * the disk before the put-back, and a crash in
				 * between would leave the entry under ASIDE,
				 * which the next start removes. */
				int e = errno;
				renameat(dirfd, aside, dirfd, name);
				errno = e;
				sync_undo(dirfd, sync);
				return -1;
			}
		}
		if (errno != ENOENT)
			return -1;
		/* Nothing under NAME: the copy goes in, but never over an entry
		 * made there since. */
		if (ccp_rename_noreplace(dirfd, tmp, dirfd, name) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* A move whose copy place_copy() put in place failed after all: what NAME
 * held goes back over the copy, or the copy (held open on COPY) goes.  With
 * SYNC the folder is synced after (sync_undo()), as the move synced it
 * after placing the copy: that sync may have made the copy's entry
 * durable, and a crash that kept it and lost the undo would leave the
 * copy under NAME (a second one of the message the source still holds)
 * and what NAME held under a temporary name, which the next start
 * removes. */
static void place_undo(int dirfd, const char *name, const char *aside, bool kept, int copy,
		       bool sync)
{
	int e = errno;
	if (kept)
		renameat(dirfd, aside, dirfd, name);
	else
		ccp_unlink_if_same(dirfd, name, copy);
	errno = e;
	sync_undo(dirfd, sync);
}

int ccp_move_entry_as(int src_dirfd, const char *name, int dst_dirfd, const char *dst_name,
		      bool sync)
{
	if (renameat(src_dirfd, name, dst_dirfd, dst_name) == 0)
		return 0;
	if (errno != EXDEV)
		return -1;
	struct stat st;
	if (fstatat(src_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	int rc, held = -1;
	char tmp[CCP_TMP_NAME_MAX], aside[CCP_TMP_NAME_MAX];
	bool kept = false;
	ccp_tmp_name(tmp, sizeof(tmp));
	if (S_ISLNK(st.st_mode)) {
		/* Held open (O_PATH: the link itself) until the source's
		 * removal below, as a file is, and read through that. */
		char target[PATH_MAX];
		held = openat(src_dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n = held >= 0 ? readlinkat(held, "", target, sizeof(target) - 1) : -1;
		if (n < 0) {
			int e = errno;
			ccp_close_fds(&held, 1);
			errno = e;
			return -1;
		}
		target[n] = '\0';
		rc = symlinkat(target, dst_dirfd, tmp);
	} else if (S_ISREG(st.st_mode)) {
		/* O_NONBLOCK: should it have become a fifo since the stat, the open
		 * must not wait for a writer. */
		int src = openat(src_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (src < 0)
			return -1;
		if (fstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(src);
			errno = EXDEV; /* no longer a file to copy */
			return -1;
		}
		rc = ccp_copy_file(src, dst_dirfd, tmp, sync);
		/* Open until the source's removal below: while it is, no new
		 * file can be given its inode number. */
		held = src;
	} else {
		errno = EXDEV;
		return -1;
	}
	/* Made under a temporary name, then put in place: it replaces an
	 * entry of that name, as a rename would, but only once the move is
	 * done.  Held open (O_PATH: a link too) until then, so that should it
	 * be taken back, no new file can have been given its inode number. */
	int copy_fd = rc == 0 ? openat(dst_dirfd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (rc == 0 && (copy_fd < 0 ||
			place_copy(dst_dirfd, tmp, dst_name, aside, sizeof(aside), &kept, sync) != 0)) {
		unlink_keeping_errno(dst_dirfd, tmp);
		rc = -1;
	} else if (rc == 0) {
		/* The copy's name must last before the source's goes: a crash
		 * between them then leaves both, never neither.  Then the
		 * source goes, if it is still the file copied: gone already is
		 * as good, and another file under the name now (one put back
		 * since: a requeue) is not ours and stays.  Should the source
		 * stay, so does the destination as it was (what the name held
		 * put back), and the move is reported as not made. */
		if ((sync && fsync(dst_dirfd) != 0) ||
		    ccp_unlink_if_same(src_dirfd, name, held) != 0) {
			place_undo(dst_dirfd, dst_name, aside, kept, copy_fd, sync);
			rc = -1;
		} else if (kept) {
			/* Replaced, as by a rename.  (A crash before this leaves it
			 * under a temporary name, which the next start removes.) */
			unlinkat(dst_dirfd, aside, 0);
		}
	}
	int e = errno;
	ccp_close_fds((const int[]){ held, copy_fd }, 2);
	errno = e;
	return rc == 0 ? 0 : -1;
}

int ccp_move_entry(int src_dirfd, const char *name, int dst_dirfd, bool sync)
{
	return ccp_move_entry_as(src_dirfd, name, dst_dirfd, name, sync);
}

/*
 * fsutil.h: the relay's directory helpers (internal to src/relay).
 */
#ifndef CCPUMP_RELAY_FSUTIL_H
#define CCPUMP_RELAY_FSUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* <sys/stat.h> defines these with _GNU_SOURCE only. */
struct statx;
struct statx_timestamp;

/*
 * statx() of DIRFD/NAME with FLAGS (AT_SYMLINK_NOFOLLOW; NAME "" with
 * AT_EMPTY_PATH: DIRFD's own file), asking for the basic fields and the
 * birth time.  Where statx() itself is refused (ENOSYS, or EPERM from a
 * seccomp filter older than it), fstatat()'s fields without a birth time.
 * Returns 0, or -1 with errno.
 */
int ccp_statx(int dirfd, const char *name, int flags, struct statx *sx);

/* A statx timestamp in nanoseconds since the epoch. */
int64_t ccp_statx_ns(const struct statx_timestamp *t);

/*
 * When the file of SX was made, into *NS: its birth time, where its file
 * system keeps one (ext4 with its usual 256-octet inodes, XFS, Btrfs,
 * tmpfs; not ext4 with 128-octet inodes, nor NFS).  What tells two files
 * apart that had one inode number in turn: ext4 gives a freed number to
 * the next file made, and a file's ctime moves with every link, rename
 * and chmod.  False where there is none (*NS untouched).
 */
bool ccp_statx_birth(const struct statx *sx, int64_t *ns);

/* Whether errno E, met opening or reading a spool file or a marker, is the
 * machine's, not the file's: out of descriptors or memory, an I/O error,
 * another's lease.  A retry can pass; a marker that cannot be read for it
 * may well be there and match.  (EACCES, EISDIR, ELOOP are the file's.) */
bool ccp_machine_read_errno(int e);

/* "a/b", allocated (ccp_free it). */
char *ccp_path_join(const char *a, const char *b);

/*
 * Makes directory path if it is missing (mode 0700) and opens it
 * (O_DIRECTORY | O_NOFOLLOW: a link in its place is refused).  Returns the
 * fd, or -1 with a one-line reason naming the path in err.
 */
int ccp_dir_ensure_open(const char *path, char *err, size_t errlen);

/*
 * The same for directory NAME in directory PARENT, made by an operator's
 * command (`ccpump queue`) in a store that a relay of another user runs
 * on: one it makes is given PARENT's owner and group where this process
 * may give them (root), as the relay would have made it; left as root's,
 * that relay could not open it.  Returns the fd, or -1 with a line naming
 * the path in err (a directory made and not given away is removed).
 */
int ccp_dir_ensure_open_in(const char *parent, const char *name, char *err, size_t errlen);

/*
 * Opens directory NAME in directory PARENT, NAME itself never through a
 * symbolic link (PARENT may be reached through links: an operator's
 * path): the spool's new/ and tmp/, which whoever may write the spool
 * could swap for a link to any directory, and root's command or relay
 * would then rename a message into it.  Returns the fd, or -1 with errno
 * (ENOTDIR for a link or anything else that is no directory).
 */
int ccp_dir_open_in(const char *parent, const char *name);

/*
 * The pid holding a flock() on FD's file, by the kernel's list of locks at
 * LOCKS ("/proc/locks": "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF";
 * a waiter's line has "->" after the number), and its command name into
 * COMM (CAP octets; "" when it is gone, its descriptor handed on): the pid,
 * or 0 when none is found (no /proc, the holder let go meanwhile, or the
 * file named otherwise than stat() names it and the holder's descriptors
 * not readable by this user).
 */
long ccp_flock_holder(const char *locks, int fd, char *comm, size_t cap);

/*
 * Whether a relay running as EUID could be made to deliver a file the
 * writers of its spool's new/ (NEW_DIR its stat) may not read: it runs as root, the
 * kernel lets any user hard-link a file it does not own (SYSCTL, the path
 * of fs.protected_hardlinks, reads 0), and someone other than root may
 * write into new/ (its owner is not root, or its group or others may
 * write).  Says so in WHY (LEN octets) when true.  False where SYSCTL
 * cannot be read.
 */
bool ccp_hardlink_exposed(const char *sysctl, const struct stat *new_dir, uid_t euid, char *why,
			  size_t len);

/*
 * Whether the file system of device DEV (a spool's st_dev) discards freed
 * blocks as each removal commits: a line of MOUNTINFO (the path of
 * /proc/self/mountinfo) with DEV's major:minor whose mount or file system
 * options hold "discard" itself ("discard=async", as Btrfs says it, gives
 * the blocks back later and is not it).  On such a mount every delivered
 * message's removal may wait for the device.  Says so in WHY (LEN octets),
 * naming the file system, its device and where it is mounted.  False where
 * MOUNTINFO cannot be read or holds no such line.
 */
bool ccp_mount_discards(const char *mountinfo, dev_t dev, char *why, size_t len);

/*
 * Takes the lock of directory DIR for this process's lifetime: an
 * exclusive flock on DIR/NAME, which then holds this process's pid, or,
 * with NAME NULL, on DIR itself (no file is made in it: for a directory
 * that belongs to someone else, such as an MTA's Maildir).  Returns the fd
 * (keep it open; closing it, or exiting, lets go), or -1 with a line
 * naming the directory, and the pid of the process that holds it where
 * known, in err.  WHAT names the directory in that line ("store").
 * *FOREIGN (when not NULL) says whether the holder is known to be no
 * ccpump relay: a process of another name, or one that took the lock and
 * is gone, its descriptor handed on (a relay hands on none).
 */
int ccp_dir_lock(const char *dir, const char *name, const char *what, bool *foreign, char *err,
		 size_t errlen);

/* Temporary names in the store: ".tmp-..."; a crash's are removed at start
 * (ccp_dir_remove_stale_tmp()).  Readers of the store skip dot names. */
#define CCP_TMP_PREFIX ".tmp-"

/* The room a temporary name needs, its NUL included. */
#define CCP_TMP_NAME_MAX 112

/* A temporary name from another pid namespace, or from another host's
 * boot (a store shared over NFS), is kept this long after its last change
 * (mtime or ctime): the process that made it cannot be seen from here.  CCPUMP_TMP_FOREIGN_KEEP_S in the environment overrides it. */
#define CCP_TMP_FOREIGN_KEEP_S (24 * 3600)

/* Writes a fresh temporary name into buf (CAP octets, at least
 * CCP_TMP_NAME_MAX): CCP_TMP_PREFIX, then this process's pid, start time,
 * pid namespace, boot and host, and a number unique in it. */
void ccp_tmp_name(char *buf, size_t cap);

/* The room an aside name needs (ccp_tmp_name_for()), its NUL included. */
#define CCP_ASIDE_NAME_MAX (CCP_TMP_NAME_MAX + 1 + 256)

/* A temporary name for entry WHAT put aside (buf: CAP octets, at least
 * CCP_ASIDE_NAME_MAX): ccp_tmp_name()'s, then '~' and WHAT, so that should
 * its maker die before it puts the entry back or removes it, a later
 * process can tell what it was (ccp_dir_stale_asides()).  A name too long
 * for that is a plain temporary name. */
void ccp_tmp_name_for(char *buf, size_t cap, const char *what);

/*
 * Calls FN(ARG, ASIDE, WHAT) for each aside name in DIRFD
 * (ccp_tmp_name_for()) whose maker no longer runs, WHAT the entry it put
 * aside; FN may rename it back.  Run before ccp_dir_remove_stale_tmp(),
 * which removes what is left.  Returns how many FN said it put back.
 */
unsigned ccp_dir_stale_asides(int dirfd, bool (*fn)(void *arg, const char *aside, const char *what),
			      void *arg);

/*
 * Ends a file written under the temporary name TMP in DIRFD through FD:
 * when RC is 0 it is synced (when SYNC), closed and renamed to NAME, over
 * any entry of that name; otherwise, or when one of those fails, it is
 * closed and removed.  Returns 0, or -1 with errno (RC's own failure's when
 * RC is -1).
 */
int ccp_tmp_finish(int fd, int dirfd, const char *tmp, const char *name, bool sync, int rc);

/*
 * Writes DIRFD/NAME whole or not at all: under a temporary name, synced
 * when SYNC, then renamed over NAME, so a reader (`ccpump queue`, the next
 * run) sees the old file or the new one, never a torn one, and a full disk
 * leaves nothing behind.  With SYNC the directory is synced after the
 * rename, so that the name is durable too.  Returns 0, or -1 with errno
 * (when only that last sync failed, NAME is in place but may not survive a
 * crash of the machine).
 */
int ccp_store_write(int dirfd, const char *name, const char *data, size_t len, bool sync);

/*
 * Copies the open regular file SRC into a new file DST_DIRFD/TMP (made
 * exclusively), synced when SYNC: the octets it has as the copy begins
 * (its size then: one still being written does not keep the copy going),
 * its holes kept as holes (a sparse file costs the copy no more blocks
 * than it costs its writer), its owner (where this process may give it),
 * mode and times kept.  Returns 0 with the
 * copy closed and in place, or -1 with errno and no copy left.
 */
int ccp_copy_file(int src, int dst_dirfd, const char *tmp, bool sync);

/*
 * The names in directory D (closed after), sorted, without dot names and
 * those SKIP (when not NULL) says to leave out: an array of *N strings, for
 * ccp_dir_names_free().  For walking a directory whose entries the walk
 * moves or removes, which readdir() is not bound to see consistently.
 */
char **ccp_dir_names(DIR *d, bool (*skip)(const char *name), size_t *n);
void ccp_dir_names_free(char **names, size_t n);

/* How many names directory DIR holds, dot names (and so CCP_TMP_PREFIX's
 * half-made records) left out: 0 when it cannot be read. */
uint64_t ccp_dir_count_names(const char *dir);

/* A directory stream over DIRFD's directory, reading from its start, with
 * an open file description of its own (closedir() it); NULL with errno. */
DIR *ccp_dir_reopen(int dirfd);

/*
 * Opens DIRFD/NAME to read, when it is a regular file: never follows a
 * symbolic link, and never blocks in the open, as opening a FIFO would
 * until someone wrote to it.  Returns the descriptor (blocking again, to
 * be read or handed to a program as its input); -1 with errno, and
 * *not_regular true when NAME is there but no regular file.
 */
int ccp_open_regular_at(int dirfd, const char *name, bool *not_regular);

/* Closes those of the N descriptors that are open (>= 0). */
void ccp_close_fds(const int *fds, size_t n);

/* Removes the entries of DIRFD whose names start with PREFIX; returns how
 * many. */
unsigned ccp_dir_remove_prefixed(int dirfd, const char *prefix);

/* Removes DIRFD/NAME only if it is still the file open on HELD (the same
 * device and inode): another put under the name since stays.  The device
 * and inode say which file it is only while the file is held open: once
 * it is gone, the file system gives its inode number to the next file
 * made (ext4 at once), which a stat taken earlier would take for it, and
 * a birth time, which would tell the two apart, is not kept everywhere
 * (ext4 with 128-octet inodes, NFS).  So the caller hands over the
 * descriptor it holds (O_PATH will do, a symbolic link's too) rather than
 * a stat; one that is not open aborts (ccp_panic()).  There is no
 * unlink-if-this-inode in the kernel, so a window of two system calls
 * remains between the look and the unlink.  Returns 0 when it was
 * removed, or when the name no longer leads to it (gone, or another file
 * there now); -1 with errno when it is still there and could not be
 * removed, or could not be looked at. */
int ccp_unlink_if_same(int dirfd, const char *name, int held);

/* Renames OLDDIRFD/OLD to NEWDIRFD/NEW unless NEW exists (EEXIST then).
 * Where the file system does not know RENAME_NOREPLACE (NFS, some FUSE),
 * by a link, which cannot replace either, and the old name's removal; if
 * that removal fails, the new link goes again and -1 is returned with the
 * removal's errno.  A NEW that is already OLD's file (such a move cut
 * short by a crash) is finished: OLD goes, and 0 is returned. */
int ccp_rename_noreplace(int olddirfd, const char *old, int newdirfd, const char *new_name);

/* Removes the temporary names (CCP_TMP_PREFIX) in DIRFD that no running
 * process can be using: those of this process (none exist at start-up)
 * and of processes that have exited; keeps another live process's, such
 * as a `ccpump queue --requeue` running beside the relay.  Returns how
 * many were removed. */
unsigned ccp_dir_remove_stale_tmp(int dirfd);

/*
 * The same for a folder that is not ccpump's alone, the spool's tmp/ (where
 * `queue --requeue` copies a message across file systems, and an MTA
 * writes its own): only names that are a temporary name of ccpump's whole
 * (ccp_tmp_name(), or an earlier version's form) go, and of those only
 * the ones no running process can be using, judged as above (a maker of
 * this host and pid namespace at once, by its pid and start time; one that
 * cannot be seen from here once it has not changed for
 * CCP_TMP_FOREIGN_KEEP_S).  Every other entry stays, whatever its age.
 * Returns how many were removed.
 */
unsigned ccp_dir_remove_stale_own_tmp(int dirfd);

/*
 * Moves entry NAME of directory SRC_DIRFD into directory DST_DIRFD, under
 * the same name.  A rename where one can do it.  Across file systems
 * (EXDEV: a spool and a store on two disks), a regular file is copied into
 * a temporary name in the destination (ccp_tmp_name()), synced when SYNC,
 * put in place, and only then removed from the source; a symbolic link is
 * made anew there, never followed.  Other kinds (directories, fifos,
 * sockets, devices) cannot be copied: EXDEV.  An entry of that name in the
 * destination is replaced, as a rename replaces it, but only once the move
 * is done: until then it is kept (swapped out with RENAME_EXCHANGE, or
 * given a second name by a link where the file system cannot swap, or
 * renamed aside where it has no hard links either), and a move that fails
 * puts it back.  Returns 0, or -1 with errno, the source
 * as it was and the destination as it was (a copy that failed is removed).
 */
int ccp_move_entry(int src_dirfd, const char *name, int dst_dirfd, bool sync);
/* The same, into DST_NAME in the destination. */
int ccp_move_entry_as(int src_dirfd, const char *name, int dst_dirfd, const char *dst_name,
		      bool sync);

#endif

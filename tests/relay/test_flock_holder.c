/*
 * test_flock_holder: ccp_flock_holder() (src/relay/fsutil.c), which names
 * the process holding a directory's flock when a relay is refused its
 * spool.  A child process holds the flock; then:
 *
 *   listed     the kernel's /proc/locks names it: found, with its name;
 *   renamed    a list that names the file by another device and inode, as
 *              /proc/locks does on btrfs subvolumes and overlayfs: found
 *              by the child's own descriptors (the one on the directory
 *              lists a FLOCK in its fdinfo);
 *   not held   a list whose only other holder is this process (the
 *              directory open, no lock on it) or a waiter's line: none;
 *   let go     once the child has exited: none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ccmail/po_util.h"
#include "check.h"
#include "relay/fsutil.h"

static char dir[] = "/tmp/test_flock_holder.XXXXXX";
static char locks[sizeof(dir) + 16];
static pid_t child;

/* A failed CHECK exits: the child, holding the lock, goes with it, and
 * does not keep ctest waiting on its output until the timeout. */
static void kill_child(void)
{
	if (child > 0)
		kill(child, SIGKILL);
}

/* A list of locks at `locks` holding LINE alone. */
static void fake_locks(const char *line)
{
	write_file(locks, line, strlen(line));
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(locks, sizeof(locks), "%s.locks", dir);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t parent = getpid();
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(1);
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause(); /* until the test's SIGKILL */
	}
	atexit(kill_child);
	close(ready[1]);
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	close(ready[0]);

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK);
	char comm[32], self_comm[32] = "", line[256];
	int cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	CHECK(cfd >= 0);
	ssize_t n = read(cfd, self_comm, sizeof(self_comm) - 1);
	close(cfd);
	CHECK(n > 0);
	self_comm[strcspn(self_comm, "\n")] = '\0';

	/* listed */
	CHECK_EQ_U64(ccp_flock_holder("/proc/locks", fd, comm, sizeof(comm)), child);
	CHECK_STREQ(comm, self_comm); /* the fork's name: this program's */

	/* renamed: neither device nor inode as stat() gives them; this
	 * process first, which has the directory open and holds no lock. */
	snprintf(line, sizeof(line),
		 "1: FLOCK  ADVISORY  WRITE %ld 00:00:1 0 EOF\n"
		 "2: FLOCK  ADVISORY  WRITE %ld 00:00:2 0 EOF\n",
		 (long)getpid(), (long)child);
	fake_locks(line);
	CHECK_EQ_U64(ccp_flock_holder(locks, fd, comm, sizeof(comm)), child);
	CHECK_STREQ(comm, self_comm);

	/* not held: this process alone; a waiter's line */
	snprintf(line, sizeof(line), "1: FLOCK  ADVISORY  WRITE %ld 00:00:1 0 EOF\n",
		 (long)getpid());
	fake_locks(line);
	CHECK_EQ_U64(ccp_flock_holder(locks, fd, comm, sizeof(comm)), 0);
	CHECK_STREQ(comm, "");
	snprintf(line, sizeof(line), "1: -> FLOCK  ADVISORY  WRITE %ld 00:00:2 0 EOF\n",
		 (long)child);
	fake_locks(line);
	CHECK_EQ_U64(ccp_flock_holder(locks, fd, comm, sizeof(comm)), 0);

	/* let go */
	pid_t gone = child;
	CHECK(kill(gone, SIGKILL) == 0);
	int status;
	CHECK(waitpid(gone, &status, 0) == gone);
	child = 0;
	CHECK(ccp_flock_holder("/proc/locks", fd, comm, sizeof(comm)) != gone);
	snprintf(line, sizeof(line), "1: FLOCK  ADVISORY  WRITE %ld 00:00:2 0 EOF\n", (long)gone);
	fake_locks(line);
	CHECK_EQ_U64(ccp_flock_holder(locks, fd, comm, sizeof(comm)), 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);

	close(fd);
	CHECK(unlink(locks) == 0);
	CHECK(rmdir(dir) == 0);
	printf("test_flock_holder: ok\n");
	return 0;
}

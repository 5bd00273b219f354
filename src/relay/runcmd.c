/*
 * runcmd.c: running the relay's external programs (runcmd.h).
 */
#include "relay/runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/relay.h"

/* After the timeout's SIGTERM, how long a program has to go before
 * SIGKILL. */
#define KILL_GRACE_NS 5000000000ull

enum waited {
	WAITED,    /* its status in *status */
	TIMED_OUT, /* still running at the deadline */
	LOST,      /* waitpid() failed (errno): its status is gone */
};

/* A descriptor that becomes readable when PID exits (pidfd_open(), Linux
 * 5.3), or -1 where there is none: then the waits below look every 10 ms.
 * PID is our unreaped child, so it cannot name another process yet.  The
 * kernel sets close-on-exec on it. */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* Sleeps until PID may have exited (PIDFD readable) or DEADLINE_NS.  The
 * callers look again either way, so an early return (a signal) is fine. */
static void await_exit(int pidfd, uint64_t deadline_ns)
{
	if (pidfd < 0) {
		/* An import takes seconds: a look every 10 ms is plenty. */
		ccp_sleep_ns(10000000u);
		return;
	}
	uint64_t now = ccp_now_ns();
	uint64_t ms = deadline_ns > now ? (deadline_ns - now + 999999u) / 1000000u : 0;
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

/* Waits for PID until DEADLINE_NS (0: none); PIDFD as open_pidfd() gave. */
static enum waited wait_child(pid_t pid, int pidfd, int *status, uint64_t deadline_ns)
{
	for (;;) {
		pid_t w = waitpid(pid, status, deadline_ns ? WNOHANG : 0);
		if (w == pid)
			return WAITED;
		if (w < 0 && errno != EINTR)
			return LOST;
		if (deadline_ns && ccp_now_ns() >= deadline_ns)
			return TIMED_OUT;
		if (w == 0)
			await_exit(pidfd, deadline_ns);
	}
}

/* Closes every descriptor from FIRST on, in a child between fork and
 * exec: system calls alone (close_range(2) since Linux 5.9, else one
 * close a descriptor up to the limit). */
static void close_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0u, 0u) == 0)
		return;
#endif
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
			   rl.rlim_cur < 1048576
		   ? (long)rl.rlim_cur
		   : 1048576;
	for (long fd = first; fd < max; fd++)
		close((int)fd);
}

/* Waits until PID has exited or DEADLINE_NS, without reaping it: while it
 * is a zombie its pid, which is its process group's id, cannot go to
 * another process.  True when it has exited, or was reaped by someone else
 * (SIGCHLD ignored: the kernel): no child of ours by that pid is left to
 * wait for, and its pidfd, readable from its exit on, would have the waits
 * below return at once, spinning until the deadline. */
static bool exited_unreaped(pid_t pid, int pidfd, uint64_t deadline_ns)
{
	for (;;) {
		siginfo_t info = { 0 };
		int rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
		if (rc == 0 && info.si_pid == pid)
			return true;
		if (rc != 0 && errno != EINTR)
			return true;
		if (ccp_now_ns() >= deadline_ns)
			return false;
		await_exit(pidfd, deadline_ns);
	}
}

int ccp_relay_init_if_pid1(void)
{
	if (getpid() != 1)
		return 0;
	/* Blocked before the fork and taken by sigwaitinfo(): PID 1 gets no
	 * signal whose action is the default, but a blocked one is queued. */
	static const int passed_on[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t set, was;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
		sigaddset(&set, passed_on[i]);
	sigaddset(&set, SIGCHLD);
	/* Not ignored: an ignored SIGCHLD would have the kernel reap the
	 * relay itself, its status lost. */
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_BLOCK, &set, &was);
	fflush(NULL); /* nothing buffered is written twice */
	pid_t relay = fork();
	if (relay <= 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &was, NULL);
		errno = e;
		return relay < 0 ? -1 : 1;
	}
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(relay, sig);
			continue;
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0)
			if (p == relay)
				_exit(WIFEXITED(status) ? WEXITSTATUS(status)
							: 128 + WTERMSIG(status));
	}
}

int ccp_run_cmd(const char *cmd, const char *arg, int stdin_fd, uint64_t timeout_ns,
		const char *limit, const char *what, char *why, size_t whylen)
{
	/* The shell reads CMD as a command line of its own (quotes,
	 * variables), ARG comes as "$1", one word whatever it holds, and the
	 * shell becomes the program (exec): the pid we wait for and stop is
	 * the program's, and we reap it ourselves. */
	size_t len = strlen(cmd);
	char *line = ccp_malloc(len + 16);
	memcpy(line, "exec ", 5);
	memcpy(line + 5, cmd, len);
	memcpy(line + 5 + len, " \"$1\"", 6);
	pid_t relay = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(why, whylen, "the %s could not be started: %s", what, strerror(e));
		ccp_free(line);
		errno = e;
		return CCP_RUN_NOT_STARTED;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only: the relay has threads. */
		setpgid(0, 0); /* its own group: a timeout ends its children too */
		/* It dies with the relay (SIGKILL when the thread that forked
		 * it, which waits for it, is gone: the relay killed).  Left
		 * running, it would import a batch whose spool files a
		 * restarted relay hands in again, at the same time.  The check
		 * after it covers a relay that died before the prctl(). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != relay)
			_exit(127);
		/* The signals a program expects, every one at its default: an
		 * ignored signal stays ignored across exec, and the relay
		 * ignores SIGPIPE for itself (a pipeline in the command would
		 * meet EPIPE where it expects to stop), and may have been
		 * started with others ignored (nohup, `cmd &` in a script, a
		 * supervisor); nothing blocked either. */
		/* By the system call: glibc's sigaction() refuses the two
		 * signals it keeps for its threads (32 and 33), which a starter
		 * may have left ignored all the same.  Handler SIG_DFL (0) and
		 * every other field 0 (no flags, an empty mask): the same
		 * struct in every layout of the kernel's, given room for the
		 * largest mask.  The mask's size is the kernel's signal set:
		 * (_NSIG - 1) / 8 octets, 8 (16 on MIPS), on 32-bit systems
		 * too, where a long is 4. */
		struct {
			void *handler;
			unsigned long flags;
			void *restorer;
			uint64_t mask[2];
		} dfl = { 0 };
		_Static_assert((_NSIG - 1) / 8 <= sizeof(dfl.mask), "room for the kernel's mask");
		for (int sig = 1; sig < _NSIG; sig++) {
			if (sig == SIGKILL || sig == SIGSTOP ||
			    syscall(SYS_rt_sigaction, sig, &dfl, NULL, (size_t)(_NSIG - 1) / 8) == 0)
				continue;
			/* Never on Linux; loudly if ever, not a program started
			 * with its signals as they happened to be. */
			static const char msg[] = "ccpump: cannot set the command's signals to "
						  "their defaults\n";
			ssize_t w = write(2, msg, sizeof(msg) - 1);
			(void)w;
			_exit(127);
		}
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Its input: the report, or nothing (never the relay's own
		 * input, a terminal, which a program could wait on). */
		int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0)
			_exit(127);
		/* Already 0 when the relay runs with its input closed: then
		 * dup2() would keep close-on-exec, so it is cleared instead. */
		if (in == 0 ? fcntl(0, F_SETFD, 0) < 0 : dup2(in, 0) < 0)
			_exit(127);
		/* Nothing past 0, 1 and 2: what the relay opens is close-on-exec,
		 * but not what it inherited (a cron job's `flock LOCK ccpump
		 * relay` hands it the lock), which a program's leftover child
		 * would hold after the relay is gone. */
		close_from(3);
		execl("/bin/sh", "sh", "-c", line, "sh", arg, (char *)NULL);
		_exit(127);
	}
	ccp_free(line);
	setpgid(pid, pid); /* also here, so the group exists before any kill */
	int status;
	uint64_t t0 = ccp_now_ns();
	int pidfd = timeout_ns ? open_pidfd(pid) : -1; /* without a timeout, waitpid() blocks */
	enum waited w = wait_child(pid, pidfd, &status, timeout_ns ? t0 + timeout_ns : 0);
	int lost_errno = errno;
	/* LOST: its status is gone (SIGCHLD ignored: the kernel reaped it;
	 * ccp_relay_run() sets it back to its default).  Not a timeout: the
	 * program is not stopped, nor its group signalled, which may be
	 * another's by now. */
	if (w == TIMED_OUT) {
		snprintf(why, whylen, "the %s ran past %s (%.1f s) and was stopped", what, limit,
			 (double)timeout_ns / 1e9);
		kill(-pid, SIGTERM);
		/* A program stopped (SIGSTOP, or SIGTTIN reading a terminal)
		 * acts on SIGTERM only once it runs again. */
		kill(-pid, SIGCONT);
		exited_unreaped(pid, pidfd, ccp_now_ns() + KILL_GRACE_NS);
		/* The whole group, even when its leader (the shell) has gone:
		 * a program that ignores SIGTERM may outlive its shell.  The
		 * leader is not reaped yet, so the group's id is still its
		 * own, never a process that took the pid since.  (Reaped by
		 * someone else, it is still the group's while any member
		 * lives; a process that took the pid since is in its parent's
		 * group, not one of that id.) */
		kill(-pid, SIGKILL);
		wait_child(pid, pidfd, &status, 0);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (w == LOST) {
		snprintf(why, whylen, "the %s's exit status was lost: %s", what,
			 strerror(lost_errno));
		return -1;
	}
	if (w == TIMED_OUT)
		return -1;
	if (!WIFEXITED(status)) {
		snprintf(why, whylen, "the %s was killed by signal %d", what, WTERMSIG(status));
		return -1;
	}
	/* The shell's answers for a program it could not find (127) or
	 * could not execute (126), and ours for a child that could not be
	 * set up (127). */
	if (WEXITSTATUS(status) == 127)
		snprintf(why, whylen, "the %s could not be run (status 127: not found)", what);
	else if (WEXITSTATUS(status) == 126)
		snprintf(why, whylen, "the %s could not be run (status 126: not executable)",
			 what);
	return WEXITSTATUS(status);
}

int ccp_import_cmd_run(const char *cmd, const char *path, uint64_t timeout_ns, char *why,
		       size_t whylen, int *sys_errno)
{
	*sys_errno = 0;
	int rc = ccp_run_cmd(cmd, path, -1, timeout_ns, "--import-timeout", "import command", why,
			     whylen);
	if (rc == CCP_RUN_NOT_STARTED) {
		*sys_errno = errno;
		return 1;
	}
	if (rc == 0 || rc == 1 || rc == 3 || rc == 4 || rc == 5)
		return rc;
	/* Not run: the program removed, renamed or made unexecutable while
	 * the relay runs (at its start it was there: cmd_relay.c), or a
	 * child that could not be set up.  The relay's fault, not the
	 * messages': counted as an attempt, a typo'd path would end every
	 * message in Bad once its retries ran out. */
	if (rc == 126 || rc == 127) {
		*sys_errno = rc == 127 ? ENOENT : EACCES;
		return 1;
	}
	/* Any other answer is taken as 1 (nothing imported, retry), and the
	 * log, the marker and, should retries end, Bad say what it was. */
	if (rc >= 0 && why[0] == '\0')
		snprintf(why, whylen, "the import command answered %d, taken as 1", rc);
	return 1;
}

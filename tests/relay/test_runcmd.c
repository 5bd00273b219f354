/*
 * test_runcmd: the relay's external programs (src/relay/runcmd.c), with
 * waitpid() and waitid() counted by the test's own wrappers (below).
 *
 *   status      a program's exit status comes back as it gave it; 126, 127
 *               and a signal are named in the reason;
 *   argument    the argument reaches the program as one word, quotes and
 *               spaces and all;
 *   timeout     a program past its timeout is stopped with its children
 *               (its process group), -1 and the reason;
 *   wakes       the relay waits for a program with a timeout by its exit,
 *               not by looking every few milliseconds: a program that
 *               runs half a second is looked for a handful of times, not
 *               fifty;
 *   dies with   a program whose relay is killed (SIGKILL) ends with it
 *   the relay   at once, not after it has run its course beside the
 *               relay started again;
 *   reaped      a program stopped at its timeout whose status someone else
 *   elsewhere   takes (here the kernel: SIGCHLD ignored) is not waited
 *               for through its grace period, nor with the CPU spinning
 *               on its pidfd, which stays readable.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "relay/runcmd.h"

static _Atomic unsigned waitpid_calls, waitid_calls;

pid_t waitpid(pid_t pid, int *status, int options)
{
	static pid_t (*real_waitpid)(pid_t, int *, int);
	if (real_waitpid == NULL)
		real_waitpid = (pid_t(*)(pid_t, int *, int))dlsym(RTLD_NEXT, "waitpid");
	atomic_fetch_add_explicit(&waitpid_calls, 1, memory_order_relaxed);
	return real_waitpid(pid, status, options);
}

int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	static int (*real_waitid)(idtype_t, id_t, siginfo_t *, int);
	if (real_waitid == NULL)
		real_waitid = (int (*)(idtype_t, id_t, siginfo_t *, int))dlsym(RTLD_NEXT, "waitid");
	atomic_fetch_add_explicit(&waitid_calls, 1, memory_order_relaxed);
	return real_waitid(idtype, id, info, options);
}

static int run(const char *cmd, const char *arg, double timeout_s, char *why, size_t whylen)
{
	why[0] = '\0';
	return ccp_run_cmd(cmd, arg, -1, (uint64_t)(timeout_s * 1e9), "--import-timeout",
			   "import command", why, whylen);
}

static void test_status(void)
{
	char why[256];
	int rc = run("sh -c 'exit 3' #", "x", 10, why, sizeof(why));
	CHECK_MSG(rc == 3, "exit 3: got %d", rc);
	rc = run("true", "x", 0, why, sizeof(why));
	CHECK_MSG(rc == 0, "true without a timeout: got %d", rc);
	rc = run("/nonexistent/importer", "x", 10, why, sizeof(why));
	CHECK_MSG(rc == 127 && strstr(why, "could not be run (status 127: not found)"),
	      "a missing program: got %d, '%s'", rc, why);
	rc = run("/dev/null", "x", 10, why, sizeof(why));
	CHECK_MSG(rc == 126 && strstr(why, "could not be run (status 126: not executable)"),
	      "a file that is no program: got %d, '%s'", rc, why);
	rc = run("kill -KILL $$ #", "x", 10, why, sizeof(why));
	CHECK_MSG(rc == -1 && strstr(why, "killed by signal 9"), "killed: got %d, '%s'", rc, why);
}

static void test_argument(void)
{
	char why[256], dir[] = "/tmp/test_runcmd.XXXXXX", cmd[512], got[256] = "";
	CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(cmd, sizeof(cmd), "printf %%s >%s/arg", dir);
	const char *arg = "a b \"c\" 'd' $HOME;e";
	int rc = run(cmd, arg, 10, why, sizeof(why));
	CHECK_MSG(rc == 0, "printf: got %d, '%s'", rc, why);
	char path[300];
	snprintf(path, sizeof(path), "%s/arg", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(got, 1, sizeof(got) - 1, f);
		got[n] = '\0';
		fclose(f);
	}
	CHECK_MSG(strcmp(got, arg) == 0, "the argument came as '%s', not '%s'", got, arg);
	unlink(path);
	rmdir(dir);
}

/* Whether process PID has ended: no /proc entry, or a zombie left for its
 * reaper (it runs nothing more either way). */
static bool process_ended(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "PID (COMM) S ...": the last ')' ends COMM. */
	const char *close = strrchr(buf, ')');
	return close != NULL && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

static void test_timeout(void)
{
	char why[256], dir[] = "/tmp/test_runcmd.XXXXXX", cmd[2048], path[300], pidpath[300];
	CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/child", dir);
	snprintf(pidpath, sizeof(pidpath), "%s/pid", dir);
	/* A child of the program that would outlive it: it writes its pid,
	 * which the program waits for, then its file 5 s later.  The group's
	 * SIGTERM at the timeout ends it too: once it has ended, its file is
	 * not there. */
	snprintf(cmd, sizeof(cmd),
		 "sh -c 'sh -c \"echo \\$\\$ >%s.tmp; mv %s.tmp %s; sleep 5; touch %s\" & "
		 "while [ ! -e %s ]; do sleep 0.01; done; sleep 30' #",
		 pidpath, pidpath, pidpath, path, pidpath);
	int rc = run(cmd, "x", 2, why, sizeof(why));
	CHECK_MSG(rc == -1 && strstr(why, "ran past --import-timeout (2.0 s)"),
		  "past its timeout: got %d, '%s'", rc, why);
	int pid = 0;
	FILE *f = fopen(pidpath, "r");
	if (f != NULL) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	CHECK_MSG(pid > 0, "the program's child did not start within the timeout");
	/* 10 s bounds a child that was not stopped: it writes its file and
	 * ends by then, and the check below fails. */
	for (unsigned k = 0; k < 1000 && !process_ended((pid_t)pid); k++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	CHECK_MSG(process_ended((pid_t)pid), "the program's child %d still runs", pid);
	CHECK_MSG(access(path, F_OK) != 0, "the program's child outlived the timeout");
	unlink(path);
	unlink(pidpath);
	rmdir(dir);
}

static void test_dies_with_relay(void)
{
	char dir[] = "/tmp/test_runcmd.XXXXXX", cmd[1024], pidpath[300];
	CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(pidpath, sizeof(pidpath), "%s/pid", dir);
	/* Orphans come to this process, which can then wait for the
	 * program and see how it ended. */
	CHECK_MSG(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "PR_SET_CHILD_SUBREAPER: %s",
		  strerror(errno));
	/* The "relay": a process that runs a program of 60 s and is killed
	 * while it waits for it.  The program is the shell that exec
	 * replaced (its pid, $$), then sleep. */
	snprintf(cmd, sizeof(cmd), "sh -c 'echo $$ >%s.tmp; mv %s.tmp %s; exec sleep 60' #",
		 pidpath, pidpath, pidpath);
	pid_t relay = fork();
	CHECK_MSG(relay >= 0, "fork: %s", strerror(errno));
	if (relay == 0) {
		char why[256];
		run(cmd, "x", 0, why, sizeof(why));
		_exit(0);
	}
	int pid = 0;
	for (unsigned k = 0; k < 1000 && pid == 0; k++) {
		FILE *f = fopen(pidpath, "r");
		if (f != NULL) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	CHECK_MSG(pid > 0, "the program did not start within 10 s");
	kill(relay, SIGKILL);
	int status;
	CHECK_MSG(waitpid(relay, &status, 0) == relay, "waitpid(relay): %s", strerror(errno));
	/* Now ours: it ends at once, or it runs its 60 s (a failure, not a
	 * hang: it is killed after 20). */
	pid_t got = 0;
	for (unsigned k = 0; k < 2000 && got == 0; k++) {
		got = waitpid((pid_t)pid, &status, WNOHANG);
		struct timespec ts = { 0, 10000000 };
		if (got == 0)
			nanosleep(&ts, NULL);
	}
	if (got == 0) {
		kill((pid_t)pid, SIGKILL);
		waitpid((pid_t)pid, &status, 0);
	}
	CHECK_MSG(got == (pid_t)pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the program %d outlived its relay (waitpid %d, status 0x%x)", pid, (int)got,
		  (unsigned)status);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	unlink(pidpath);
	rmdir(dir);
}

static void test_wakes(void)
{
	char why[256];
	atomic_store_explicit(&waitpid_calls, 0, memory_order_relaxed);
	int rc = run("sleep 0.5 #", "x", 600, why, sizeof(why));
	unsigned calls = atomic_load_explicit(&waitpid_calls, memory_order_relaxed);
	CHECK_MSG(rc == 0, "sleep 0.5: got %d, '%s'", rc, why);
	/* By its exit: one look before the wait, one after, and one more
	 * for each signal that cut the wait short (none here).  Looking
	 * every 10 ms would be about 50. */
	CHECK_MSG(calls <= 4, "waitpid() called %u times for a program of half a second", calls);
}

static void test_reaped_elsewhere(void)
{
	char why[256];
	/* The kernel reaps the program the moment it ends: its status is
	 * lost to us, and its pidfd is readable from then on. */
	signal(SIGCHLD, SIG_IGN);
	atomic_store_explicit(&waitid_calls, 0, memory_order_relaxed);
	int rc = run("sleep 30 #", "x", 0.2, why, sizeof(why));
	unsigned calls = atomic_load_explicit(&waitid_calls, memory_order_relaxed);
	signal(SIGCHLD, SIG_DFL);
	CHECK_MSG(rc == -1 && strstr(why, "ran past --import-timeout"),
	      "reaped elsewhere: got %d, '%s'", rc, why);
	/* It ends at SIGTERM and is gone: one look finds no child left (two
	 * or three if the look comes before the program has ended), where a
	 * wait on the readable pidfd for the 5 s grace looked thousands of
	 * times. */
	CHECK_MSG(calls <= 4, "waitid() called %u times for a program reaped elsewhere", calls);
}

int main(void)
{
	/* The relay sets SIGCHLD to its default too (its status is ours). */
	signal(SIGCHLD, SIG_DFL);
	test_status();
	test_argument();
	test_timeout();
	test_dies_with_relay();
	test_wakes();
	test_reaped_elsewhere();
	printf("test_runcmd: ok\n");
	return 0;
}

/*
 * test_relaystats: the relay's --stats-file (src/relay/relaystats.c).
 *
 *   escapes    a pause reason with quotes, backslashes and control
 *              characters is one JSON string;
 *   not UTF-8  octets of a reason that are not UTF-8 (a path's name in
 *              Latin-1, an overlong form, a surrogate, a sequence cut
 *              short) are written as U+FFFD, and every valid character
 *              as it is, so the file stays JSON;
 *   replaced   each write replaces the file whole: nothing of an earlier
 *              reason is left;
 *   leftovers  the temporary file of a relay killed in the middle of a
 *              write is removed by the next start's check of the file;
 *              a live process's temporary file, and any other name,
 *              stay; a write leaves no temporary file behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "relay/fsutil.h"
#include "relay/relaystats.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Makes DIR/NAME, an empty file. */
static void touch(const char *dir, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	close(fd);
}

static bool exists(const char *dir, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static unsigned entries(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	unsigned n = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The temporary name (ccp_tmp_name()) that a child process makes in DIR,
 * into NAME (CAP octets).  With HOLD (a pipe) the child stays alive until
 * the pipe's write end is closed (it waits for end of file); without, it
 * exits at once, and is reaped. */
static pid_t child_tmp(const char *dir, char *name, size_t cap, const int *hold)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (hold)
			close(hold[1]);
		char tmp[CCP_TMP_NAME_MAX];
		ccp_tmp_name(tmp, sizeof(tmp));
		touch(dir, tmp);
		size_t len = strlen(tmp);
		_exit(write(pfd[1], tmp, len) == (ssize_t)len && (!hold || read(hold[0], tmp, 1) == 0)
			      ? 0
			      : 1);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], name, cap - 1);
	close(pfd[0]);
	CHECK(n > 0);
	name[n] = '\0';
	if (!hold) {
		int status;
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
	return pid;
}

/* leftovers: see the head of this file. */
static void check_leftovers(const char *dir, const char *path)
{
	char dead[256], live[256];
	child_tmp(dir, dead, sizeof(dead), NULL);
	int hold[2];
	CHECK(pipe(hold) == 0);
	pid_t holder = child_tmp(dir, live, sizeof(live), hold);
	touch(dir, "stats.json.bak");
	char err[512];
	CHECK(ccp_relay_snap_file_check(path, err, sizeof(err)) == 0);
	CHECK(!exists(dir, dead));
	CHECK(exists(dir, live));
	CHECK(exists(dir, "stats.json.bak"));
	close(hold[0]);
	close(hold[1]);
	int status;
	CHECK(waitpid(holder, &status, 0) == holder && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, live);
	unlink(p);
	snprintf(p, sizeof(p), "%s/stats.json.bak", dir);
	unlink(p);
}

int main(void)
{
	char dir[] = "/tmp/test_relaystats.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[64];
	snprintf(path, sizeof(path), "%s/stats.json", dir);
	static struct ccp_relay_snap s;
	s.reports_waiting = -1;
	s.paused_ns = 2500000000ull;
	s.ss.settle_ns = 1234567ull;

	snprintf(s.pause_reason, sizeof(s.pause_reason), "a \"quoted\" C:\\path\tand\na line");
	ccp_relay_snap_write(path, &s, "paused");
	const char *got = slurp(path);
	CHECK(strstr(got, "\"pause_reason\": \"a \\\"quoted\\\" C:\\\\path\\u0009and\\u000aa line\"") !=
	      NULL);
	CHECK(strstr(got, "\"state\": \"paused\"") != NULL);
	CHECK(strstr(got, "\"reports_waiting\": null}") != NULL);
	CHECK(strstr(got, "\"settle_seconds\": 0.001235, ") != NULL);

	/* Valid: é (2), 李 (3), U+1F600 (4), U+10FFFF (4).  Not: Latin-1
	 * é, a stray continuation, overlong '/', a surrogate, past U+10FFFF,
	 * and é cut short by the end. */
	snprintf(s.pause_reason, sizeof(s.pause_reason), "%s",
		 "ok \xc3\xa9 \xe6\x9d\x8e \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf | bad \xe9 \x80 "
		 "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xc3");
	ccp_relay_snap_write(path, &s, "paused");
	got = slurp(path);
	const char *want = "\"pause_reason\": \"ok \xc3\xa9 \xe6\x9d\x8e \xf0\x9f\x98\x80 "
			   "\xf4\x8f\xbf\xbf | bad \\ufffd \\ufffd \\ufffd\\ufffd "
			   "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd \\ufffd\"";
	if (strstr(got, want) == NULL)
		fprintf(stderr, "stats file: %s\nwanted: %s\n", got, want);
	CHECK(strstr(got, want) != NULL);

	s.pause_reason[0] = '\0';
	ccp_relay_snap_write(path, &s, "running");
	got = slurp(path);
	CHECK(strstr(got, "\"pause_reason\": \"\"") != NULL);
	CHECK(strstr(got, "\"state\": \"running\"") != NULL);
	CHECK(strstr(got, "ufffd") == NULL && strstr(got, "quoted") == NULL);

	CHECK(entries(dir) == 1); /* the file alone: no write left its temporary */

	check_leftovers(dir, path);
	CHECK(entries(dir) == 1);

	unlink(path);
	rmdir(dir);
	puts("test_relaystats: ok");
	return 0;
}

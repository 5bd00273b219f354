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
 *              reason is left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
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

int main(void)
{
	char dir[] = "/tmp/test_relaystats.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[64];
	snprintf(path, sizeof(path), "%s/stats.json", dir);
	static struct ccp_relay_snap s;
	s.reports_waiting = -1;
	s.paused_ns = 2500000000ull;

	snprintf(s.pause_reason, sizeof(s.pause_reason), "a \"quoted\" C:\\path\tand\na line");
	ccp_relay_snap_write(path, &s, "paused");
	const char *got = slurp(path);
	CHECK(strstr(got, "\"pause_reason\": \"a \\\"quoted\\\" C:\\\\path\\u0009and\\u000aa line\"") !=
	      NULL);
	CHECK(strstr(got, "\"state\": \"paused\"") != NULL);
	CHECK(strstr(got, "\"reports_waiting\": null}") != NULL);

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

	unlink(path);
	rmdir(dir);
	puts("test_relaystats: ok");
	return 0;
}

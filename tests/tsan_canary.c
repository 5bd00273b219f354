/*
 * tsan_canary: a race that ThreadSanitizer must report under the options
 * and suppressions `make tsan` runs with (Makefile TSAN_OPTS, tests/tsan.supp).
 *
 * Those have TSan ignore what uninstrumented libraries (liburcu, GLib,
 * GMime, libc) do inside themselves.  This program checks that they hide
 * nothing of ours: one thread fills a buffer with memcpy, a libc call made
 * from instrumented code, while another reads it with no ordering between
 * them.  Built only in the TSan build; ctest passes it only if TSan's report
 * names the race.  (TSan's ignore_noninstrumented_modules=1 fails it: with
 * that flag even the memcpy our own code calls goes unchecked.)
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static char shared[64];
static volatile char sink;

static void *writer(void *arg)
{
	(void)arg;
	static const char text[sizeof(shared)] = "written without any ordering";
	memcpy(shared, text, sizeof(shared));
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(shared); i++)
		sink = shared[i];
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	if (pthread_create(&a, NULL, writer, NULL) != 0 ||
	    pthread_create(&b, NULL, reader, NULL) != 0) {
		perror("tsan_canary: pthread_create");
		return 1;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	/* Without a report this ends normally, and ctest fails the test: it
	 * passes only on TSan's "data race" line. */
	puts("tsan_canary: no race reported");
	return 0;
}

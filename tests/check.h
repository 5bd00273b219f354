/*
 * check.h: the assertions of ccpump's tests.
 *
 * A failed CHECK prints the file, line and expression and exits 1, so ctest
 * reports the test as failed with the reason on screen.  Every test also has
 * a ctest TIMEOUT: a deadlock fails fast instead of hanging CI.
 */
#ifndef CCPUMP_TESTS_CHECK_H
#define CCPUMP_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			exit(1);                                              \
		}                                                             \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                     \
	do {                                                                   \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);               \
		if (a_ != b_) {                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%" PRIu64 \
				" != %" PRIu64 ")\n", __FILE__, __LINE__, #a,   \
				#b, a_, b_);                                   \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_STREQ(a, b)                                                      \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {         \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                           \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* CHECK with a reason: the printf-style message after the condition says
 * what was seen, for checks whose expression alone would not. */
#define CHECK_MSG(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__,  \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* Runs FN(ARG) in a child process, its standard error caught into SAID
 * (CAP octets, NUL-ended), and returns the child's wait status: for the
 * checks that a broken rule aborts with file and line (ccp_panic()). */
static inline int check_child(void (*fn)(void *), void *arg, char *said, size_t cap)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		fn(arg);
		_exit(0); /* not reached if the rule holds */
	}
	close(fds[1]);
	size_t got = 0;
	ssize_t k;
	while (got < cap - 1 && (k = read(fds[0], said + got, cap - 1 - got)) > 0)
		got += (size_t)k;
	said[got] = '\0';
	close(fds[0]);
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

#endif

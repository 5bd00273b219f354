/*
 * main.c: ccpump's front end.  It picks the subcommand and nothing else.
 *
 * Built a second time with CCPUMP_CLI_BENCH_ONLY as `ccpump-bench`, which
 * knows only `bench`: it links the engine and the synthetic source and
 * nothing of GMime, so it can be linked statically and carried to a machine
 * without the packages (docs/performance.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "cli/commands.h"
#include "cli/opts.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "bench", ccp_cmd_bench, "measure the exactly-once pump under a synthetic load" },
#ifndef CCPUMP_CLI_BENCH_ONLY
	{ "convert", ccp_cmd_convert, "convert RFC 5322 messages to a cc:Mail Import file" },
	{ "import", ccp_cmd_import, "import .ccm files into a post office (IMPORT.EXE's exit codes)" },
	{ "po", ccp_cmd_po, "make a post office (po init) or count its deliveries (po stats)" },
	{ "relay", ccp_cmd_relay, "relay a Maildir spool into the post office, exactly once" },
	{ "queue", ccp_cmd_queue, "show what waits, is deferred or went to Bad, by age" },
	{ "demo", ccp_cmd_demo, "make a demo spool and relay it into a fresh post office" },
#endif
	{ NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ccpump COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; commands[i].name; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'ccpump COMMAND --help' lists a command's options and their defaults;\n"
		     "'ccpump --version' the version, and the libraries it was built with.\n");
}

/* The version, then what a bug report needs besides: the allocator this
 * process runs on (libc's in a sanitizer build), the libraries' versions
 * at build time. */
static void version(void)
{
	printf("ccpump %s\n", CCPUMP_VERSION);
	printf("  allocator  %s\n", ccp_alloc_name());
	printf("  liburcu    %s\n", CCPUMP_URCU_VERSION);
	printf("  ck         %s\n", CCPUMP_CK_VERSION);
#ifndef CCPUMP_CLI_BENCH_ONLY
	printf("  GMime      %s\n", CCPUMP_GMIME_VERSION);
#endif
}

/* A report cut short by a full disk or a closed pipe is not a success,
 * and is said whatever the command's own status: an import that exits 5
 * (some messages undeliverable) lost its summary too.  A status other than
 * 0 is the command's and stays.  WHO names the command. */
static int flushed(const char *who, int rc)
{
	bool ok = fflush(stdout) == 0;
	if (!ok || ferror(stdout)) {
		fprintf(stderr, "%s: standard output: write failed%s%s\n", who, ok ? "" : ": ",
			ok ? "" : strerror(errno));
		if (rc == 0)
			rc = 1;
	}
	return rc;
}

/* Descriptors 0, 1 and 2 open, on /dev/null where they were closed: a
 * program started with one closed (`2>&-`, a supervisor's habit) would
 * hand that number to the first file it opens, and its log lines or
 * reports would be written there (the relay's first is the store's lock,
 * whose pid `ccpump queue` reads). */
static void standard_fds_open(void)
{
	for (;;) {
		int fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			exit(EX_OSERR); /* no /dev/null, and perhaps nothing to say it on */
		if (fd > 2) {
			close(fd);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	standard_fds_open();
	if (argc < 2) {
		usage(stderr);
		return CCP_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return flushed("ccpump", 0);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		if (argc > 2) {
			ccp_opt_error("ccpump: %s takes no argument", argv[1]);
			return CCP_EXIT_USAGE;
		}
		version();
		return flushed("ccpump", 0);
	}
	for (size_t i = 0; commands[i].name; i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			char who[32];
			snprintf(who, sizeof(who), "ccpump %s", argv[1]);
			return flushed(who, commands[i].run(argc - 1, argv + 1));
		}
	ccp_opt_error("ccpump: unknown command '%s' (try 'ccpump --help')",
		ccp_opt_shown(argv[1]));
	return CCP_EXIT_USAGE;
}

/*
 * cmd_po.c: ccpump import (the stand-in for IMPORT.EXE) and ccpump po.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/po.h"
#include "cli/commands.h"
#include "cli/opts.h"

static void import_usage(FILE *f)
{
	fprintf(f,
		"usage: ccpump import --po DIR [OPTIONS] FILE.ccm...\n"
		"Imports cc:Mail Import files into the post office DIR, as IMPORT.EXE did.\n\n"
		"  -p, --po DIR        the post office (required; made by 'ccpump po init')\n"
		"      --no-sync       do not fsync (faster, not crash-safe; default: sync)\n"
		"      --fault SPEC    inject faults: rate=0..1,code=1|4,delay_ms=N,seed=N,\n"
		"                      crash=1..4 (stop as a crash would: 1 before the commit,\n"
		"                      2 after the journal, 3 after the store, 4 after the commit)\n"
		"                      (default: none, or CCPUMP_PO_FAULT from the environment)\n"
		"  -v, --verbose       one line per message: KEY delivered|duplicate|partial|\n"
		"                      undeliverable [reason] (default: one line per file)\n"
		"  -h, --help          this text\n"
		"Exit status (IMPORT's): 0 all imported; 1 post office not accessible or input\n"
		"unreadable; 3 not a post office; 4 locked by another import; 5 undeliverable\n"
		"messages (written to FILE.und beside the input with the reason); 2 bad usage.\n"
		"Files after one that answers 1, 3 or 4 are not imported.\n");
}

static void print_outcome(void *arg, const char *key, size_t key_len, enum ccp_po_outcome outcome,
			  const char *reason)
{
	static const char *const names[] = { "delivered", "duplicate", "partial", "undeliverable" };
	(void)arg;
	printf("  %.*s %s%s%s\n", (int)key_len, key, names[outcome], reason[0] ? " " : "", reason);
}

int ccp_cmd_import(int argc, char **argv)
{
	enum { O_NOSYNC = 256, O_FAULT };
	static const struct option lo[] = {
		{ "po", required_argument, NULL, 'p' },
		{ "no-sync", no_argument, NULL, O_NOSYNC },
		{ "fault", required_argument, NULL, O_FAULT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_po_opts o;
	const char *dir = NULL;
	bool verbose = false;
	char err[512];
	int c;

	ccp_po_opts_default(&o);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":p:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ccp_opt_dir("import", "--po", optarg, &dir))
				return CCP_EXIT_USAGE;
			break;
		case 'v': verbose = true; break;
		case O_NOSYNC: o.sync = false; break;
		case O_FAULT:
			if (ccp_po_fault_parse(optarg, &o.fault, err, sizeof(err)) != 0) {
				ccp_opt_error("ccpump import: --fault: %s", err);
				return CCP_EXIT_USAGE;
			}
			o.env_fault = false;
			break;
		case 'h': import_usage(stdout); return 0;
		default: ccp_opt_bad("import", c, argc, argv, lo); return CCP_EXIT_USAGE;
		}
	}
	if (!dir || optind >= argc) {
		ccp_opt_error("ccpump import: needs --po DIR and at least one FILE.ccm (try --help)");
		return CCP_EXIT_USAGE;
	}
	struct ccp_po *po;
	int rc = ccp_po_open(dir, &o, &po, err, sizeof(err));
	if (rc) {
		ccp_opt_error("ccpump import: %s", err);
		return rc;
	}
	int worst = 0;
	for (int i = optind; i < argc; i++) {
		struct ccp_po_result res;
		rc = ccp_po_import_file_report(po, argv[i], &res, verbose ? print_outcome : NULL,
					       NULL);
		if (rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE)
			printf("%s: %zu messages, %zu delivered, %zu skipped duplicates, "
			       "%zu undeliverable\n", argv[i], res.messages, res.delivered,
			       res.skipped, res.undeliverable);
		if (rc) {
			/* Which input, when the reason names only the post
			 * office's own file (a lock, a commit, a recovery). */
			if (strstr(res.reason, argv[i]) == NULL)
				ccp_opt_error("ccpump import: %s: %s", argv[i], res.reason);
			else
				ccp_opt_error("ccpump import: %s", res.reason);
			worst = rc;
		}
		if (rc == CCP_PO_NOT_ACCESSIBLE || rc == CCP_PO_LOCKED ||
		    rc == CCP_PO_MISCONFIGURED)
			break;
	}
	ccp_po_close(po);
	return worst;
}

static int po_init(int argc, char **argv)
{
	enum { O_AB = 256, O_KEEP, O_DEDUP, O_LOGSEG };
	static const struct option lo[] = {
		{ "po", required_argument, NULL, 'p' },
		{ "users", required_argument, NULL, 'u' },
		{ "addr-buffer", required_argument, NULL, O_AB },
		{ "keep-brackets", no_argument, NULL, O_KEEP },
		{ "dedup-window", required_argument, NULL, O_DEDUP },
		{ "log-segment", required_argument, NULL, O_LOGSEG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_po_init_opts o;
	const char *dir = NULL;
	char err[512];
	uint64_t v;
	int c;

	ccp_po_init_opts_default(&o);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":p:u:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ccp_opt_dir("po init", "--po", optarg, &dir))
				return CCP_EXIT_USAGE;
			break;
		case 'u': o.users = optarg; break;
		case O_AB:
			if (ccp_opt_u64("po init", "--addr-buffer", optarg, 64,
					CCP_CCM_ADDR_BUFFER_LARGE, &v) != 0)
				return CCP_EXIT_USAGE;
			o.addr_buffer = (size_t)v;
			break;
		case O_KEEP: o.import8 = false; break;
		case O_DEDUP:
			if (ccp_opt_u64("po init", "--dedup-window", optarg, CCP_PO_DEDUP_WINDOW_MIN,
					CCP_PO_DEDUP_WINDOW_MAX, &v) != 0)
				return CCP_EXIT_USAGE;
			o.dedup_window = (size_t)v;
			break;
		case O_LOGSEG:
			if (ccp_opt_u64("po init", "--log-segment", optarg, CCP_PO_LOG_SEGMENT_MIN,
					INT64_MAX, &v) != 0)
				return CCP_EXIT_USAGE;
			o.log_segment = (long long)v;
			break;
		case 'h':
			printf("usage: ccpump po init --po DIR [--users FILE] [--addr-buffer N] [--keep-brackets]\n"
			       "                      [--dedup-window N] [--log-segment OCTETS]\n"
			       "  -p, --po DIR          directory to make a post office (created if needed)\n"
			       "  -u, --users FILE      user directory: one cc:Mail address per line, as in\n"
			       "                        To: lines; unknown recipients are undeliverable\n"
			       "                        (default: none, every address is accepted)\n"
			       "      --addr-buffer N   Import's address buffer: 4096 (Import 8.2x and earlier,\n"
			       "                        the default) or up to 163840 (later versions)\n"
			       "      --keep-brackets   accept [ ] in Subject (default: refuse, as Import 8.3)\n"
			       "      --dedup-window N  delivered (message, recipient) pairs an import\n"
			       "                        remembers at least, to skip them if handed in\n"
			       "                        again; 32-43 octets each (default %u)\n"
			       "      --log-segment N   start a new delivery.log past N octets; the old\n"
			       "                        one is kept as delivery.log.NNNNNNNN (default %lld)\n",
			       CCP_PO_DEDUP_WINDOW, CCP_PO_LOG_SEGMENT);
			return 0;
		default: ccp_opt_bad("po init", c, argc, argv, lo); return CCP_EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		ccp_opt_error("ccpump po init: needs --po DIR and no other argument");
		return CCP_EXIT_USAGE;
	}
	int rc = ccp_po_init(dir, &o, err, sizeof(err));
	if (rc)
		ccp_opt_error("ccpump po init: %s", err);
	return rc;
}

static int po_stats(int argc, char **argv)
{
	enum { O_MEMORY = 0x100, O_TMP, O_JSON };
	static const struct option lo[] = {
		{ "po", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, O_JSON },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "tmp-dir", required_argument, NULL, O_TMP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	bool json = false;
	struct ccp_po_stats_opts so = { .memory = CCP_PO_STATS_MEMORY, .tmp_dir = NULL };
	uint64_t memory;
	char err[512];
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ccp_opt_dir("po stats", "--po", optarg, &dir))
				return CCP_EXIT_USAGE;
			break;
		case O_JSON: json = true; break;
		case O_MEMORY:
			if (ccp_opt_size("po stats", "--memory", optarg, 4096, (uint64_t)1 << 40,
					 &memory) != 0)
				return CCP_EXIT_USAGE;
			so.memory = (size_t)memory;
			break;
		case O_TMP: so.tmp_dir = optarg; break;
		case 'h':
			printf("usage: ccpump po stats --po DIR [--json] [--memory SIZE] [--tmp-dir DIR]\n"
			       "  -p, --po DIR         the post office\n"
			       "      --json           one JSON object (default: one 'name: value' a line)\n"
			       "      --memory SIZE    memory for counting distinct pairs and keys, in\n"
			       "                       octets or with K, M or G (128M); past it, sorted\n"
			       "                       runs go to temporary files\n"
			       "      --tmp-dir DIR    where those go (default $TMPDIR, else /tmp)\n");
			return 0;
		default: ccp_opt_bad("po stats", c, argc, argv, lo); return CCP_EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		ccp_opt_error("ccpump po stats: needs --po DIR and no other argument");
		return CCP_EXIT_USAGE;
	}
	struct ccp_po_stats st;
	int rc = ccp_po_stats_with(dir, &so, &st, err, sizeof(err));
	if (rc) {
		ccp_opt_error("ccpump po stats: %s", err);
		return rc;
	}
	if (json)
		printf("{\"mailboxes\": %llu, \"delivered\": %llu, \"distinct_keys\": %llu, "
		       "\"duplicate_deliveries\": %llu, \"skipped_duplicates\": %llu, "
		       "\"undeliverable\": %llu, \"dedup_window\": %llu, \"log_segments\": %llu, "
		       "\"spill_runs\": %llu}\n",
		       (unsigned long long)st.mailboxes, (unsigned long long)st.delivered,
		       (unsigned long long)st.distinct_keys,
		       (unsigned long long)st.duplicate_deliveries,
		       (unsigned long long)st.skipped_duplicates, (unsigned long long)st.undeliverable,
		       (unsigned long long)st.dedup_window, (unsigned long long)st.log_segments,
		       (unsigned long long)st.spill_runs);
	else
		printf("mailboxes: %llu\ndelivered: %llu\ndistinct keys: %llu\n"
		       "duplicate deliveries: %llu\nskipped duplicates: %llu\nundeliverable: %llu\n"
		       "dedup window: %llu pairs\nrotated log segments: %llu\n"
		       "counting runs on disk: %llu\n",
		       (unsigned long long)st.mailboxes, (unsigned long long)st.delivered,
		       (unsigned long long)st.distinct_keys,
		       (unsigned long long)st.duplicate_deliveries,
		       (unsigned long long)st.skipped_duplicates, (unsigned long long)st.undeliverable,
		       (unsigned long long)st.dedup_window, (unsigned long long)st.log_segments,
		       (unsigned long long)st.spill_runs);
	return 0;
}

static int po_show(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "po", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	char err[512], name[256];
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ccp_opt_dir("po show", "--po", optarg, &dir))
				return CCP_EXIT_USAGE;
			break;
		case 'h':
			printf("usage: ccpump po show --po DIR ADDRESS\n"
			       "Writes the mailbox of ADDRESS (as in To: lines) as one .ccm text, its\n"
			       "messages read from the message store in delivery order.\n"
			       "  -p, --po DIR   the post office\n");
			return 0;
		default: ccp_opt_bad("po show", c, argc, argv, lo); return CCP_EXIT_USAGE;
		}
	}
	if (!dir || optind + 1 != argc) {
		ccp_opt_error("ccpump po show: needs --po DIR and one ADDRESS");
		return CCP_EXIT_USAGE;
	}
	ccp_po_mailbox_name(argv[optind], strlen(argv[optind]), name, sizeof(name));
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	int rc = ccp_po_mailbox_read(dir, name, &b, err, sizeof(err));
	if (rc) {
		ccp_opt_error("ccpump po show: %s", err);
	} else if ((b.len && fwrite(b.data, 1, b.len, stdout) != b.len) || fflush(stdout) != 0) {
		ccp_opt_error("ccpump po show: standard output: write failed: %s", strerror(errno));
		clearerr(stdout); /* said, with its reason: main() need not say it again */
		rc = CCP_PO_NOT_ACCESSIBLE;
	}
	ccp_ccm_buf_free(&b);
	return rc;
}

int ccp_cmd_po(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "init") == 0)
		return po_init(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "stats") == 0)
		return po_stats(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return po_show(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: ccpump po init --po DIR [OPTIONS]    make a post office\n"
		       "       ccpump po stats --po DIR [OPTIONS]   count its deliveries\n"
		       "       ccpump po show --po DIR ADDRESS      write a mailbox as .ccm\n"
		       "'ccpump po COMMAND --help' lists a command's options with their defaults.\n");
		return 0;
	}
	ccp_opt_error("ccpump po: expected 'init', 'stats' or 'show' (try 'ccpump po --help')");
	return CCP_EXIT_USAGE;
}

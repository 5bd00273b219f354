/*
 * cmd_demo.c: `ccpump demo`, the main job of `make run`: a demo spool of
 * realistic messages relayed into a fresh post office, with the throughput
 * and the post office's exactly-once check.
 *
 * Exit status: 0 when every message is in the post office exactly once per
 * recipient (or in Bad with a reason) and the spool is empty; 3 otherwise;
 * 2 for a bad flag or an unusable directory.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/demo.h"
#include "ccpump/log.h"
#include "ccpump/po.h"
#include "ccpump/queue.h"
#include "ccpump/relay.h"
#include "cli/commands.h"
#include "cli/opts.h"

static volatile sig_atomic_t stopped;

/* SIGINT, SIGTERM: the relay stops taking messages and finishes the
 * batches in flight, as `ccpump relay` does; the rest stay in the spool. */
static void on_stop(int sig)
{
	(void)sig;
	stopped = 1;
	ccp_relay_request_stop();
}

int ccp_cmd_demo(int argc, char **argv)
{
	enum { O_DIR = 256, O_MESSAGES, O_NOSYNC, O_MAXBODY, O_GENONLY, O_LOGLEVEL, O_HELP };
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "messages", required_argument, NULL, O_MESSAGES },
		{ "no-sync", no_argument, NULL, O_NOSYNC },
		{ "max-body", required_argument, NULL, O_MAXBODY },
		{ "spool-only", no_argument, NULL, O_GENONLY },
		{ "log-level", required_argument, NULL, O_LOGLEVEL },
		{ "help", no_argument, NULL, O_HELP },
		CCP_PUMP_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_relay_config cfg;
	const char *dir = "ccpump-demo";
	uint64_t messages = 200000, max_body = 0;
	bool spool_only = false;
	const char *relay_flag = NULL; /* the last flag given for the relay's run */
	char err[600], spool[4096], store[4096], po[4096];

	ccp_relay_config_default(&cfg);
	cfg.stats_interval_ns = 5000000000ull;
	/* The relay's per-batch lines would bury the summary: warnings only,
	 * unless asked. */
	ccp_log_set_level(CCP_LOG_WARN);
	opterr = 0;
	optind = 0;
	for (;;) {
		int li = -1;
		int c = getopt_long(argc, argv, ":h", lo, &li);
		if (c == -1)
			break;
		int pr = ccp_opt_pump("demo", c, optarg, &cfg.pump);
		if (pr < 0)
			return CCP_EXIT_USAGE;
		if ((pr == 0 || c == O_NOSYNC || c == O_LOGLEVEL) && li >= 0)
			relay_flag = lo[li].name;
		if (pr == 0)
			continue;
		switch (c) {
		case O_DIR:
			if (ccp_opt_dir("demo", "--dir", optarg, &dir))
				return CCP_EXIT_USAGE;
			break;
		case O_MESSAGES:
			if (ccp_opt_u64("demo", "--messages", optarg, 1, 100000000, &messages))
				return CCP_EXIT_USAGE;
			break;
		case O_NOSYNC: cfg.sync = false; break;
		case O_MAXBODY:
			if (ccp_opt_u64("demo", "--max-body", optarg, 1, 1 << 20, &max_body))
				return CCP_EXIT_USAGE;
			break;
		case O_GENONLY: spool_only = true; break;
		case O_LOGLEVEL:
			if (ccp_opt_log_level("demo", optarg) != 0)
				return CCP_EXIT_USAGE;
			break;
		case 'h':
		case O_HELP:
			printf("usage: ccpump demo [--dir DIR] [--messages N] [--no-sync]\n"
			       "                   [--max-body BYTES] [--spool-only]\n"
			       "                   [--log-level LEVEL] [TUNING]\n"
			       "Makes a demo spool of N realistic messages (%llu) in DIR (%s, which must\n"
			       "not exist yet), relays it into a fresh post office with the relay's\n"
			       "defaults, and prints the throughput and the exactly-once check.\n"
			       "--max-body caps each message's text (under 1024: plain text only);\n"
			       "--spool-only makes DIR/spool and a post office DIR/po, and stops (the\n"
			       "relay's flags, --no-sync, --log-level and TUNING, are refused with it).\n"
			       "The relay's log goes to stderr at --log-level warning; info adds a\n"
			       "line per batch and a stats line every 5 s.\n"
			       "TUNING, the engine's flags, as for ccpump relay:\n",
			       (unsigned long long)messages, dir);
			ccp_opt_pump_help(stdout, &cfg.pump);
			return 0;
		default:
			ccp_opt_bad("demo", c, argc, argv, lo);
			return CCP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ccp_opt_error("ccpump demo: unexpected argument '%s' (the directory is --dir DIR)",
			ccp_opt_shown(argv[optind]));
		return CCP_EXIT_USAGE;
	}
	if (spool_only && relay_flag) {
		/* Dropped without a word, a script would believe it had set up
		 * a tuned or unsynced run. */
		ccp_opt_error("ccpump demo: --%s is for the relay's run, which --spool-only leaves "
			"out", relay_flag);
		return CCP_EXIT_USAGE;
	}
	/* The relay's own check, before minutes of writing a spool it would
	 * then refuse to relay. */
	if (!spool_only && ccp_relay_check_memory(&cfg, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	if (mkdir(dir, 0700) != 0) {
		ccp_opt_error("ccpump demo: cannot create %s: %s", dir,
			errno == EEXIST ? "it exists (give a new --dir)" : strerror(errno));
		return CCP_EXIT_USAGE;
	}
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(po, sizeof(po), "%s/po", dir);

	struct ccp_demo_stats ds;
	uint64_t t0 = ccp_now_ns();
	if (ccp_demo_spool(spool, 0, messages, 1998, (size_t)max_body, &ds, err, sizeof(err)) != 0 ||
	    ccp_demo_spool_sync(spool, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	printf("demo spool: %llu messages, %.1f MiB, %llu recipients, written and synced in %.1f s\n",
	       (unsigned long long)ds.messages, (double)ds.bytes / 1048576.0,
	       (unsigned long long)ds.recipients, (double)(ccp_now_ns() - t0) / 1e9);
	fflush(stdout);
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	if (ccp_po_init(po, &io, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	if (spool_only)
		return 0;
	cfg.spool = spool;
	cfg.store = store;
	cfg.po = po;
	cfg.once = true;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct ccp_relay_stats rs;
	t0 = ccp_now_ns();
	if (ccp_relay_run(&cfg, &rs, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	double secs = (double)(ccp_now_ns() - t0) / 1e9;
	/* Stopped if the signal came while the relay ran; one that comes
	 * while the post office is counted below stopped nothing. */
	bool cut = stopped;
	struct ccp_po_stats ps;
	if (ccp_po_stats(po, &ps, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	struct ccp_queue_report q;
	if (ccp_queue_scan(spool, store, &q, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump demo: %s", err);
		return CCP_EXIT_USAGE;
	}
	uint64_t left = q.waiting.count + q.deferred.count;
	/* Every message delivered once, in Bad, or (after a stop) still
	 * waiting: none twice, none lost; and once to each of its recipients,
	 * which with every message delivered is one delivery for each
	 * recipient the spool held (fewer with some in Bad or waiting). */
	bool whole = rs.bad == 0 && left == 0;
	bool once = ps.duplicate_deliveries == 0 && (left == 0 || cut) &&
		    ps.distinct_keys + rs.bad + left == ds.messages &&
		    (whole ? ps.delivered == ds.recipients : ps.delivered <= ds.recipients);
	printf("relay: %u pollers, %u dispatchers, batch %u, %s batches\n", cfg.pump.pollers,
	       cfg.pump.dispatchers, cfg.pump.batch, cfg.sync ? "durable (fsync)" : "unsynced");
	printf("  relayed            %10llu messages in %.2f s: %.0f msgs/s\n",
	       (unsigned long long)rs.delivered, secs, (double)rs.delivered / secs);
	printf("  imports            %10llu (%.1f messages each)\n", (unsigned long long)rs.imports,
	       rs.imports ? (double)rs.delivered / (double)rs.imports : 0.0);
	printf("  to Bad             %10llu\n", (unsigned long long)rs.bad);
	printf("  left in the spool  %10llu\n", (unsigned long long)left);
	if (cut && left)
		printf("  stopped early             yes (by a signal; what was left waits in %s)\n",
		       spool);
	else if (cut)
		printf("  stopped early             yes (by a signal; what it had taken was "
		       "delivered)\n");
	printf("  peak rss           %10.1f MiB\n", (double)ccp_peak_rss_bytes() / 1048576.0);
	printf("post office %s:\n", po);
	printf("  mailboxes          %10llu\n", (unsigned long long)ps.mailboxes);
	printf("  deliveries         %10llu   (%llu recipients in the spool)\n",
	       (unsigned long long)ps.delivered, (unsigned long long)ds.recipients);
	printf("  distinct messages  %10llu\n", (unsigned long long)ps.distinct_keys);
	printf("  duplicate deliveries %8llu\n", (unsigned long long)ps.duplicate_deliveries);
	printf("  exactly once       %10s\n", once ? "yes" : "NO");
	return once ? 0 : 3;
}

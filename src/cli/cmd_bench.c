/*
 * cmd_bench.c: `ccpump bench`, the pump under a synthetic load.
 *
 * Exit status: 0 when every message was delivered exactly once; 3 when any
 * was duplicated or lost (whatever the mode); 2 for a bad flag; 1 when the
 * machine could not give the run its check-off tables.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ccpump/synth.h"
#include "cli/commands.h"
#include "cli/opts.h"

#define EXIT_NO_RESOURCES 1
#define EXIT_NOT_EXACTLY_ONCE 3

static void usage(FILE *out, const struct ccp_synth_config *d)
{
	const struct ccp_pump_config *p = &d->pump;
	fprintf(out,
		"usage: ccpump bench [OPTIONS]\n"
		"Runs the exactly-once pump on a synthetic spool and a null sink that checks\n"
		"off every delivery.  Exit status 0: exactly once; 3: duplicates or losses;\n"
		"2: bad flag; 1: the machine refused the run (no memory for the check-off\n"
		"tables, no thread).\n\n"
		"  --mode lockfree|mutex|naive  claim by CAS, by one lock, or the 1998 race (%s)\n"
		"  --messages N         distinct messages (%llu; with --duration, an upper bound)\n"
		"  --duration SECONDS   notify for this long instead of a fixed count (off)\n"
		"  --dup-factor K       notifications per message, 1..64 (%u)\n"
		"  --payload BYTES      bytes carried and verified per message (%zu)\n"
		"  --rate N             messages per second to notify, 0 = unlimited (%llu)\n"
		"  --notes-per-poll N   notifications per poll (%u)\n"
		"  --json               print the report as one JSON object (off: a table)\n"
		"  --progress / --no-progress  live progress line (on when stderr is a terminal)\n"
		"  -h, --help           this text\n"
		"The engine's tuning flags:\n",
		ccp_claim_mode_name(p->mode), (unsigned long long)d->messages, d->dup_factor,
		d->payload, (unsigned long long)d->rate, p->notes_per_poll);
	ccp_opt_pump_help(out, p);
}

static void on_signal(int sig)
{
	(void)sig;
	ccp_synth_request_stop();
}

int ccp_cmd_bench(int argc, char **argv)
{
	enum { O_MODE = 256, O_MESSAGES, O_DURATION, O_DUP, O_PAYLOAD, O_RATE, O_NOTES, O_JSON,
	       O_PROGRESS, O_NO_PROGRESS, O_HELP };
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, O_MODE },
		{ "messages", required_argument, NULL, O_MESSAGES },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "dup-factor", required_argument, NULL, O_DUP },
		{ "payload", required_argument, NULL, O_PAYLOAD },
		{ "rate", required_argument, NULL, O_RATE },
		{ "notes-per-poll", required_argument, NULL, O_NOTES },
		{ "json", no_argument, NULL, O_JSON },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "no-progress", no_argument, NULL, O_NO_PROGRESS },
		{ "help", no_argument, NULL, O_HELP },
		CCP_PUMP_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_synth_config cfg;
	bool json = false, messages_given = false;
	int progress = -1;
	uint64_t v;
	char err[256];

	ccp_synth_config_default(&cfg);
	opterr = 0;
	optind = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":h", longopts, NULL);
		if (c == -1)
			break;
		int pr = ccp_opt_pump("bench", c, optarg, &cfg.pump);
		if (pr < 0)
			return CCP_EXIT_USAGE;
		if (pr == 0)
			continue;
		switch (c) {
		case O_MODE:
			if (ccp_claim_mode_parse(optarg, &cfg.pump.mode) != 0) {
				ccp_opt_error("ccpump bench: --mode: '%s' is not lockfree, mutex or naive",
					ccp_opt_shown(optarg));
				return CCP_EXIT_USAGE;
			}
			break;
		case O_MESSAGES:
			if (ccp_opt_u64("bench", "--messages", optarg, 1, 1ull << 34, &cfg.messages))
				return CCP_EXIT_USAGE;
			messages_given = true;
			break;
		case O_DURATION:
			if (ccp_opt_seconds("bench", "--duration", optarg, 0.001, 86400 * 7,
					    &cfg.duration_s))
				return CCP_EXIT_USAGE;
			break;
		case O_DUP:
			if (ccp_opt_unsigned("bench", "--dup-factor", optarg, 1, 64, &cfg.dup_factor))
				return CCP_EXIT_USAGE;
			break;
		case O_PAYLOAD:
			if (ccp_opt_u64("bench", "--payload", optarg, 0, 1 << 20, &v))
				return CCP_EXIT_USAGE;
			cfg.payload = (size_t)v;
			break;
		case O_RATE:
			if (ccp_opt_u64("bench", "--rate", optarg, 0, 1ull << 40, &cfg.rate))
				return CCP_EXIT_USAGE;
			break;
		case O_NOTES:
			if (ccp_opt_unsigned("bench", "--notes-per-poll", optarg, 1, 65536,
					     &cfg.pump.notes_per_poll))
				return CCP_EXIT_USAGE;
			break;
		case O_JSON: json = true; break;
		case O_PROGRESS: progress = 1; break;
		case O_NO_PROGRESS: progress = 0; break;
		case 'h':
		case O_HELP: usage(stdout, &cfg); return 0;
		default:
			ccp_opt_bad("bench", c, argc, argv, longopts);
			return CCP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ccp_opt_error("ccpump bench: unexpected argument '%s'",
			ccp_opt_shown(argv[optind]));
		return CCP_EXIT_USAGE;
	}
	if (cfg.duration_s > 0 && !messages_given)
		cfg.messages = 0; /* a duration run is bounded by time alone */
	cfg.progress = progress < 0 ? isatty(STDERR_FILENO) : progress;
	cfg.progress_out = stderr;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	static struct ccp_synth_report rep;
	int rc = ccp_synth_run(&cfg, &rep, err, sizeof(err));
	if (rc != 0) {
		ccp_opt_error("ccpump bench: %s", err);
		return rc == CCP_SYNTH_NO_RESOURCES ? EXIT_NO_RESOURCES : CCP_EXIT_USAGE;
	}
	if (json)
		ccp_synth_print_json(stdout, &rep);
	else
		ccp_synth_print_table(stdout, &rep);
	return ccp_synth_exactly_once(&rep) ? 0 : EXIT_NOT_EXACTLY_ONCE;
}

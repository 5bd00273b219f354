/*
 * cmd_queue.c: `ccpump queue --spool DIR --store DIR [--json] [--list N]`.
 */
#include <getopt.h>
#include <stdio.h>

#include "ccpump/queue.h"
#include "cli/commands.h"
#include "cli/opts.h"

int ccp_cmd_queue(int argc, char **argv)
{
	enum { O_SPOOL = 256, O_STORE, O_JSON, O_LIST, O_HELP };
	static const struct option lo[] = {
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "store", required_argument, NULL, O_STORE },
		{ "json", no_argument, NULL, O_JSON },
		{ "list", required_argument, NULL, O_LIST },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *spool = NULL, *store = NULL;
	unsigned list = 10;
	int json = 0;
	char err[600];
	opterr = 0;
	optind = 1;
	for (;;) {
		int c = getopt_long(argc, argv, "", lo, NULL);
		if (c == -1)
			break;
		switch (c) {
		case O_SPOOL: spool = optarg; break;
		case O_STORE: store = optarg; break;
		case O_JSON: json = 1; break;
		case O_LIST:
			if (ccp_opt_unsigned("queue", "--list", optarg, 0, 100000, &list))
				return CCP_EXIT_USAGE;
			break;
		case O_HELP:
			printf("usage: ccpump queue --spool DIR --store DIR [--json] [--list N]\n"
			       "What waits in the spool, what is deferred and what went to Bad, by age;\n"
			       "lists the first N deferred and bad messages with their reasons (10).\n");
			return 0;
		default:
			fprintf(stderr, "ccpump queue: unknown option or missing value '%s'\n",
				argv[optind - 1]);
			return CCP_EXIT_USAGE;
		}
	}
	if (!spool || !store) {
		fprintf(stderr, "ccpump queue: needs --spool DIR and --store DIR\n");
		return CCP_EXIT_USAGE;
	}
	struct ccp_queue_report rep;
	if (ccp_queue_scan(spool, store, &rep, err, sizeof(err)) != 0) {
		fprintf(stderr, "ccpump queue: %s\n", err);
		return CCP_EXIT_USAGE;
	}
	if (rep.spool_missing)
		fprintf(stderr, "ccpump queue: spool %s does not exist yet (ccpump relay makes it): "
			"nothing waiting\n", spool);
	if (rep.store_missing)
		fprintf(stderr, "ccpump queue: store %s does not exist yet (ccpump relay makes it "
			"on its first run): nothing deferred or bad\n", store);
	if (json)
		ccp_queue_print_json(stdout, &rep);
	else
		ccp_queue_print(stdout, store, &rep, list);
	return 0;
}

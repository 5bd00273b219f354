/*
 * cmd_queue.c: `ccpump queue --spool DIR --store DIR [--json] [--list N]`,
 * and the operator's actions: `--flush` (retry deferred messages now),
 * `--requeue NAME` / `--requeue-all` (Bad back into the spool),
 * `--delete NAME` / `--delete-all` (Bad's messages removed for good) and
 * `--resend-report NAME` (a report to its sender sent again).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"
#include "ccpump/queue.h"
#include "ccpump/queuectl.h"
#include "cli/commands.h"
#include "cli/opts.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ccpump queue --spool DIR --store DIR [--json | --list N]\n"
		"       ccpump queue --store DIR --flush\n"
		"       ccpump queue --spool DIR --store DIR (--requeue NAME ... | --requeue-all)\n"
		"       ccpump queue --store DIR (--delete NAME ... | --delete-all)\n"
		"       ccpump queue --store DIR --resend-report NAME ...\n"
		"What waits in the spool, what is deferred and what went to Bad, by age;\n"
		"lists the first N deferred and bad messages with their reasons (10).\n"
		"  --spool DIR      the spool (a Maildir: tmp/, new/, cur/)\n"
		"  --store DIR      the relay's store (Bad/, Deferred/, Delivered/, ...)\n"
		"  --json           one JSON object (default: a table)\n"
		"  --list N         list the first N deferred and bad messages (10); the\n"
		"                   table only, not with --json or an action\n"
		"  --flush          ask the relay running on the store to retry now (SIGUSR1):\n"
		"                   its deferred messages, a paused delivery, its reports\n"
		"                   to senders\n"
		"  --requeue NAME   move message NAME from Bad back into the spool's new/,\n"
		"                   its reason, report and attempts dropped (repeatable)\n"
		"  --requeue-all    the same for every message in Bad\n"
		"  --delete NAME    remove message NAME from Bad for good, with its reason\n"
		"                   and report, sent or still waiting (repeatable)\n"
		"  --delete-all     the same for every message in Bad\n"
		"  --resend-report NAME  queue the report on message NAME in Bad (or on one\n"
		"                   delivered in part, in Partial) to be sent again to its\n"
		"                   sender by the relay's --bounce-cmd (repeatable); a\n"
		"                   running relay with --bounce-cmd is asked to send it now\n");
}

/* The longest error line of an action (ccp_queue_requeue()'s). */
#define ERR_MAX 1200

struct requeue {
	const char *spool, *store;
	bool delete;
	unsigned done, failed;
};

/* Requeues (or deletes) message NAME of Bad, and counts it. */
static int requeue_one(void *arg, const char *name)
{
	struct requeue *q = arg;
	char err[ERR_MAX];
	int r = q->delete ? ccp_queue_delete(q->store, name, true, err, sizeof(err))
			  : ccp_queue_requeue(q->spool, q->store, name, true, err, sizeof(err));
	if (r == 0) {
		q->done++;
	} else {
		ccp_opt_error("ccpump queue: %s", err);
		q->failed++;
	}
	return 0;
}

/* Requeues (or deletes) the N messages NAMES, then with ALL every message
 * in Bad; the counts in Q. */
static void act_on(struct requeue *q, const char **names, unsigned n, bool all)
{
	char err[600];
	for (unsigned i = 0; i < n; i++)
		requeue_one(q, names[i]);
	if (all && ccp_queue_each_bad(q->store, requeue_one, q, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump queue: %s", err);
		q->failed++;
	}
}

int ccp_cmd_queue(int argc, char **argv)
{
	enum { O_SPOOL = 256, O_STORE, O_JSON, O_LIST, O_FLUSH, O_REQUEUE, O_REQUEUE_ALL, O_RESEND,
	       O_DELETE, O_DELETE_ALL, O_HELP };
	static const struct option lo[] = {
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "store", required_argument, NULL, O_STORE },
		{ "json", no_argument, NULL, O_JSON },
		{ "list", required_argument, NULL, O_LIST },
		{ "flush", no_argument, NULL, O_FLUSH },
		{ "requeue", required_argument, NULL, O_REQUEUE },
		{ "requeue-all", no_argument, NULL, O_REQUEUE_ALL },
		{ "resend-report", required_argument, NULL, O_RESEND },
		{ "delete", required_argument, NULL, O_DELETE },
		{ "delete-all", no_argument, NULL, O_DELETE_ALL },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *spool = NULL, *store = NULL;
	unsigned list = 10;
	int json = 0;
	bool flush = false, requeue_all = false, delete_all = false, list_given = false;
	const char **names = NULL, **resend = NULL, **deletes = NULL;
	unsigned nnames = 0, nresend = 0, ndeletes = 0;
	int rc = CCP_EXIT_USAGE;
	char err[600];
	opterr = 0;
	optind = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":h", lo, NULL);
		if (c == -1)
			break;
		switch (c) {
		case O_SPOOL:
			if (ccp_opt_dir("queue", "--spool", optarg, &spool))
				goto out;
			break;
		case O_STORE:
			if (ccp_opt_dir("queue", "--store", optarg, &store))
				goto out;
			break;
		case O_JSON: json = 1; break;
		case O_LIST:
			if (ccp_opt_unsigned("queue", "--list", optarg, 0, 100000, &list))
				goto out;
			list_given = true;
			break;
		case O_FLUSH: flush = true; break;
		case O_REQUEUE:
			names = ccp_realloc(names, (nnames + 1) * sizeof(*names));
			names[nnames++] = optarg;
			break;
		case O_REQUEUE_ALL: requeue_all = true; break;
		case O_DELETE:
			deletes = ccp_realloc(deletes, (ndeletes + 1) * sizeof(*deletes));
			deletes[ndeletes++] = optarg;
			break;
		case O_DELETE_ALL: delete_all = true; break;
		case O_RESEND:
			resend = ccp_realloc(resend, (nresend + 1) * sizeof(*resend));
			resend[nresend++] = optarg;
			break;
		case 'h':
		case O_HELP: usage(stdout); rc = 0; goto out;
		default:
			ccp_opt_bad("queue", c, argc, argv, lo);
			goto out;
		}
	}
	if (optind < argc) {
		snprintf(err, sizeof(err), "unexpected argument '%s'", argv[optind]);
		ccp_opt_error("ccpump queue: %s", err);
		goto out;
	}
	bool deleting = ndeletes || delete_all;
	if ((flush ? 1 : 0) + (nnames || requeue_all ? 1 : 0) + (json ? 1 : 0) +
		    (nresend ? 1 : 0) + (deleting ? 1 : 0) >
	    1) {
		ccp_opt_error("ccpump queue: --flush, --requeue, --delete, --resend-report and "
			"--json do not go together");
		goto out;
	}
	/* The listing is the table's: JSON has none, and an action prints
	 * none. */
	if (list_given && (json || flush || nnames || requeue_all || nresend || deleting)) {
		ccp_opt_error("ccpump queue: --list goes with the table only, not with --json, "
			"--flush, --requeue, --delete or --resend-report");
		goto out;
	}
	if (deleting) {
		if (!store) {
			ccp_opt_error("ccpump queue: --delete needs --store DIR");
			goto out;
		}
		struct requeue q = { .store = store, .delete = true };
		act_on(&q, deletes, ndeletes, delete_all);
		printf("%u messages deleted from %s/Bad%s\n", q.done, store,
		       q.failed ? "; some were not, or not all of their records (see above)" : "");
		rc = q.failed ? 1 : 0;
		goto out;
	}
	if (nresend) {
		if (!store) {
			ccp_opt_error("ccpump queue: --resend-report needs --store DIR");
			goto out;
		}
		unsigned done = 0;
		for (unsigned i = 0; i < nresend; i++) {
			if (ccp_queue_resend_report(store, resend[i], err, sizeof(err)) == 0)
				done++;
			else
				ccp_opt_error("ccpump queue: %s", err);
		}
		/* Only a relay that sends reports is asked to: the signal also
		 * has it retry its deferred messages at once (--flush). */
		pid_t pid;
		bool sends = ccp_queue_lock_sends_reports(store);
		if (done && sends && ccp_queue_flush(store, &pid, err, sizeof(err)) == 0)
			printf("%u reports queued; asked the relay on store %s (pid %ld) to send them "
			       "now\n", done, store, (long)pid);
		else if (done)
			printf("%u reports queued in %s/Bounce: a relay with --bounce-cmd sends them "
			       "(%s)\n", done, store,
			       sends ? err : "no relay running on this store sends reports");
		rc = done == nresend ? 0 : 1;
		goto out;
	}
	if (flush) {
		if (!store) {
			ccp_opt_error("ccpump queue: --flush needs --store DIR");
			goto out;
		}
		pid_t pid;
		int r = ccp_queue_flush(store, &pid, err, sizeof(err));
		if (r == 0)
			printf("asked the relay on store %s (pid %ld) to retry its deferred messages "
			       "now\n", store, (long)pid);
		else
			ccp_opt_error("ccpump queue: %s", err);
		rc = r == 0 ? 0 : 1;
		goto out;
	}
	if (!spool || !store) {
		ccp_opt_error("ccpump queue: needs --spool DIR and --store DIR");
		goto out;
	}
	if (nnames || requeue_all) {
		struct requeue q = { .spool = spool, .store = store };
		act_on(&q, names, nnames, requeue_all);
		printf("%u messages requeued from %s/Bad into %s/new%s\n", q.done, store, spool,
		       q.failed ? "; some were not (see above)" : "");
		rc = q.failed ? 1 : 0;
		goto out;
	}
	struct ccp_queue_report rep;
	if (ccp_queue_scan(spool, store, &rep, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump queue: %s", err);
		goto out;
	}
	if (rep.spool_missing)
		ccp_opt_error("ccpump queue: spool %s does not exist yet (ccpump relay makes it): "
			"nothing waiting", spool);
	if (rep.store_missing)
		ccp_opt_error("ccpump queue: store %s does not exist yet (ccpump relay makes it "
			"on its first run): nothing deferred or bad", store);
	if (json)
		ccp_queue_print_json(stdout, &rep);
	else
		ccp_queue_print(stdout, store, &rep, list);
	rc = 0;
out:
	ccp_free(names);
	ccp_free(resend);
	ccp_free(deletes);
	return rc;
}

/*
 * test_relay_run: the relay run in this process.
 *
 *   stop first  a stop asked for before the run is up (a SIGTERM while the
 *               relay starts) stops the run once it is up, not never; and
 *               the next run in the process starts afresh.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "relay_util.h"
#include "ccpump/log.h"
#include "ccpump/relay.h"

#define MESSAGES 8

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static struct ccp_relay_config run_cfg;
static struct ccp_relay_stats run_st;
static _Atomic int run_rc = -1;

static void *relay_thread(void *arg)
{
	(void)arg;
	char err[600];
	int rc = ccp_relay_run(&run_cfg, &run_st, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "relay: %s\n", err);
	atomic_store(&run_rc, rc);
	return NULL;
}

/* A running relay (not --once) on a fresh spool of MESSAGES messages
 * under ROOT, TAG naming its directories; returns the post office. */
static pthread_t start_relay(const char *root, const char *tag, char *po)
{
	setup(root, tag, po);
	for (int i = 0; i < MESSAGES; i++) {
		char key[32];
		snprintf(key, sizeof(key), "m%d", i);
		deliver(key, "a message");
	}
	ccp_relay_config_default(&run_cfg);
	run_cfg.spool = spool;
	run_cfg.store = store;
	run_cfg.po = po;
	run_cfg.stats_interval_ns = 0;
	run_cfg.pump.batch = 4;
	run_cfg.pump.dispatchers = 1; /* GMime is invisible to ThreadSanitizer */
	run_cfg.pump.retry_min_ns = 1000000; /* 1 ms */
	run_cfg.pump.retry_max_ns = 2000000; /* 2 ms */
	atomic_store(&run_rc, -1);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, relay_thread, NULL) == 0);
	return th;
}

static void test_stop_first(const char *root)
{
	char po[600];
	ccp_relay_request_stop();
	pthread_t th = start_relay(root, "-stop", po);
	/* A run that lost the stop would relay until asked again: 20 s
	 * (against a start-up of milliseconds) before it is. */
	for (unsigned w = 0; w < 2000 && atomic_load(&run_rc) < 0; w++)
		sleep_ms(10);
	bool stopped = atomic_load(&run_rc) >= 0;
	if (!stopped)
		ccp_relay_request_stop();
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(stopped);
	CHECK_EQ_U64(atomic_load(&run_rc), 0);
	/* The request ended with that run: the next relays the spool. */
	char err[600], path[800];
	run_cfg.once = true;
	CHECK(ccp_relay_run(&run_cfg, &run_st, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/new", spool);
	CHECK_EQ_U64(count_dir(path), 0);
}

int main(void)
{
	char *root = temp_dir();
	ccp_log_set_level(CCP_LOG_ERROR);
	test_stop_first(root);
	rm_tree(root);
	free(root);
	puts("test_relay_run: ok");
	return 0;
}

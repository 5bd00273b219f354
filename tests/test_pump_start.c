/*
 * test_pump_start: a pump whose threads cannot all be started (the machine
 * out of threads or memory) answers -errno from ccp_pump_start(), as
 * pump.h says, instead of aborting: the threads already started are
 * stopped and joined, what they took is delivered, and the pump can be
 * waited for and destroyed.  pthread_create() is the test's own (below):
 * it fails at the Nth call while the test arms it, as the machine's would
 * with EAGAIN.
 *
 *   a dispatcher   the first, or a later one, cannot start: no poller was
 *                  started, nothing was taken;
 *   a poller       a later poller cannot start: the pollers started took
 *                  messages, every one of them delivered once.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ccpump/pump.h"

/* The call that fails (1 = the next one); 0: none, the wrapper passes on. */
static _Atomic unsigned fail_at;
/* Before it fails, the wrapper waits (10 s at most) for the threads
 * already started to have taken this many keys, when it is set. */
static _Atomic unsigned *taken;
static unsigned taken_before_fail;

/* Under a sanitizer, its own pthread_create() (which ours replaces) must
 * still see every thread: called where it is there. */
extern int __interceptor_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *),
					void *) __attribute__((weak));

/* Exported (the build hides symbols by default): under a sanitizer it
 * takes the place of the sanitizer's own, which the shared libraries'
 * threads (liburcu's) must reach too. */
__attribute__((visibility("default"))) int pthread_create(pthread_t *tid,
							   const pthread_attr_t *attr,
							   void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	unsigned n = atomic_load(&fail_at);
	if (n != 0) {
		if (n == 1) {
			atomic_store(&fail_at, 0);
			for (unsigned i = 0; i < 10000 && taken && atomic_load(taken) < taken_before_fail;
			     i++) {
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
			}
			return EAGAIN;
		}
		atomic_store(&fail_at, n - 1);
	}
	if (__interceptor_pthread_create)
		return __interceptor_pthread_create(tid, attr, fn, arg);
	if (real == NULL)
		real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
				void *))dlsym(RTLD_NEXT, "pthread_create");
	return real(tid, attr, fn, arg);
}

#define KEYS 100000

struct load {
	_Atomic unsigned next;     /* the next key to notify */
	_Atomic unsigned delivered[KEYS];
	_Atomic unsigned acks;
};

static unsigned key_of(const struct ccp_msg *m)
{
	unsigned k = 0;
	CHECK(sscanf(m->key, "k%u", &k) == 1 && k < KEYS);
	return k;
}

/* Each poller takes the next keys in turn until none is left. */
static int load_poll(void *ctx, unsigned p, struct ccp_note *notes, unsigned max)
{
	struct load *l = ctx;
	static _Thread_local char keys[64][16];
	unsigned n = 0;
	(void)p;
	while (n < max && n < 64) {
		unsigned k = atomic_fetch_add(&l->next, 1);
		if (k >= KEYS)
			break;
		int len = snprintf(keys[n], sizeof(keys[n]), "k%u", k);
		notes[n].key = keys[n];
		notes[n].len = (uint32_t)len;
		n++;
	}
	return n ? (int)n : CCP_SOURCE_DONE;
}

static void load_ack(void *ctx, unsigned d, struct ccp_msg *m, enum ccp_msg_state outcome)
{
	struct load *l = ctx;
	(void)d;
	(void)m;
	CHECK(outcome == CCP_MSG_DELIVERED);
	atomic_fetch_add(&l->acks, 1);
}

static void load_deliver(void *ctx, unsigned d, struct ccp_msg *const *msgs, unsigned n,
			 enum ccp_verdict *v)
{
	struct load *l = ctx;
	(void)d;
	for (unsigned i = 0; i < n; i++) {
		atomic_fetch_add(&l->delivered[key_of(msgs[i])], 1);
		v[i] = CCP_VERDICT_DELIVERED;
	}
}

/* A pump of 3 pollers and 3 dispatchers whose FAIL-th thread (dispatchers
 * first, then pollers) cannot start. */
static void run(unsigned fail, const char *what)
{
	static struct load l;
	struct ccp_pump_config cfg;
	struct ccp_pump_stats st;
	char err[128];
	memset(&l, 0, sizeof(l));
	ccp_pump_config_default(&cfg);
	cfg.pollers = 3;
	cfg.dispatchers = 3;
	cfg.ring_size = 64;
	cfg.batch = 8;
	struct ccp_source_ops src = { .poll = load_poll, .ack = load_ack };
	struct ccp_sink_ops sink = { .deliver = load_deliver };
	struct ccp_pump *p = ccp_pump_create(&cfg, &src, &l, &sink, &l, err, sizeof(err));
	CHECK_MSG(p != NULL, "%s", err);
	/* A poller that cannot start fails once the others have taken some
	 * keys: they are stopped in the middle of the load. */
	taken = fail > 3 ? &l.next : NULL;
	taken_before_fail = 500;
	atomic_store(&fail_at, fail);
	int rc = ccp_pump_start(p);
	atomic_store(&fail_at, 0);
	CHECK_MSG(rc == -EAGAIN, "%s: ccp_pump_start() answered %d, not -EAGAIN", what, rc);
	CHECK(ccp_pump_done(p));
	ccp_pump_wait(p);
	ccp_pump_stats(p, &st);
	ccp_pump_destroy(p);
	/* What was taken was delivered once and acknowledged; nothing else. */
	unsigned delivered = 0;
	for (unsigned k = 0; k < KEYS; k++) {
		unsigned c = atomic_load(&l.delivered[k]);
		CHECK_MSG(c <= 1, "%s: k%u delivered %u times", what, k, c);
		delivered += c;
	}
	CHECK_EQ_U64(st.delivered, delivered);
	CHECK_EQ_U64(atomic_load(&l.acks), delivered);
	CHECK_EQ_U64(st.in_ring, 0);
	if (fail <= 3)
		CHECK_MSG(st.notifications == 0, "%s: %llu notifications with no poller", what,
			  (unsigned long long)st.notifications);
	else
		CHECK_MSG(delivered > 0 && delivered < KEYS, "%s: %u of %u delivered", what,
			  delivered, KEYS);
	printf("  %s cannot start: -EAGAIN, %u of the messages taken and delivered\n", what,
	       delivered);
}

int main(void)
{
	run(1, "the first dispatcher");
	run(3, "the third dispatcher");
	run(5, "the second poller");
	run(6, "the third poller");
	puts("test_pump_start: ok");
	return 0;
}

/*
 * The state word: every transition is one atomic operation with exactly one
 * winner, and an earlier attempt can never move a later one.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "ccpump/msg.h"

#define THREADS 8
#define ROUNDS 20000

static struct ccp_msg *rec;
static pthread_barrier_t start, done;
static _Atomic unsigned winners[ROUNDS];
static _Atomic unsigned requeue_winners[ROUNDS];

static void *racer(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&start);
		if (ccp_msg_claim(rec))
			atomic_fetch_add(&winners[r], 1);
		pthread_barrier_wait(&done);
		/* the main thread moved it to DEFERRED: race the requeue */
		pthread_barrier_wait(&start);
		if (ccp_msg_requeue(rec))
			atomic_fetch_add(&requeue_winners[r], 1);
		pthread_barrier_wait(&done);
	}
	return NULL;
}

int main(void)
{
	static union {
		struct ccp_msg m;
		char space[sizeof(struct ccp_msg) + 32];
	} u;
	rec = &u.m;
	memcpy(rec->key, "k", 2);
	rec->key_len = 1;

	/* Single-threaded walk through the diagram. */
	atomic_store(&rec->state, ccp_msg_word(CCP_MSG_NEW, 0));
	CHECK(ccp_msg_claim(rec));
	CHECK(!ccp_msg_claim(rec)); /* the loser knows */
	uint64_t w1 = ccp_msg_begin_dispatch(rec);
	CHECK(ccp_msg_word_state(w1) == CCP_MSG_DISPATCHING && ccp_msg_word_attempt(w1) == 1);
	CHECK(ccp_msg_finish(rec, w1, CCP_MSG_DEFERRED));
	CHECK(!ccp_msg_finish(rec, w1, CCP_MSG_DELIVERED)); /* stale word */
	CHECK(ccp_msg_requeue(rec));
	CHECK(!ccp_msg_requeue(rec));
	uint64_t w2 = ccp_msg_begin_dispatch(rec);
	CHECK_EQ_U64(ccp_msg_word_attempt(w2), 2);
	/* A holder of attempt 1 cannot settle attempt 2. */
	CHECK(!ccp_msg_finish(rec, w1, CCP_MSG_DELIVERED));
	CHECK(ccp_msg_finish(rec, w2, CCP_MSG_DELIVERED));
	CHECK(!ccp_msg_claim(rec)); /* terminal: a late notification loses */
	CHECK(!ccp_msg_requeue(rec));
	CHECK_STREQ(ccp_msg_state_name(CCP_MSG_DELIVERED), "delivered");

	/* Contention: exactly one claim and one requeue win per round. */
	pthread_t t[THREADS];
	pthread_barrier_init(&start, NULL, THREADS + 1);
	pthread_barrier_init(&done, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, racer, NULL);
	for (int r = 0; r < ROUNDS; r++) {
		atomic_store(&rec->state, ccp_msg_word(CCP_MSG_NEW, 0));
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		CHECK_EQ_U64(atomic_load(&winners[r]), 1);
		uint64_t w = ccp_msg_begin_dispatch(rec);
		CHECK(ccp_msg_finish(rec, w, CCP_MSG_DEFERRED));
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		CHECK_EQ_U64(atomic_load(&requeue_winners[r]), 1);
		CHECK(ccp_msg_load(rec) == ccp_msg_word(CCP_MSG_QUEUED, 2));
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	puts("test_msg: ok");
	return 0;
}

/*
 * The registry: one record per key under concurrent find-or-add, and
 * retirement that keeps a tombstone for as long as a reader that could
 * have seen the key before its acknowledgement is still looking.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ccpump/compiler.h"
#ifdef CCP_ASAN
#include <sanitizer/asan_interface.h>
#define RECORD_FREED(m) __asan_address_is_poisoned(m)
#endif

#include "check.h"
#include "ccpump/hash.h"
#include "ccpump/rcu.h"
#include "ccpump/registry.h"

#define THREADS 6
#define KEYS 20000

static struct ccp_registry *reg;
static struct ccp_msg *got[THREADS][KEYS];
static _Atomic unsigned adds;
static pthread_barrier_t go;

static unsigned key_of(unsigned i, char *buf)
{
	return (unsigned)snprintf(buf, 64, "1764288000.M%uP42.host", i);
}

static void *adder(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char key[64];
	rcu_register_thread();
	pthread_barrier_wait(&go);
	/* Each thread visits every key once, in its own order (the strides
	 * are primes, coprime to KEYS). */
	static const uint64_t stride[THREADS] = { 7919, 104729, 1299709, 15485863, 32452843,
						  49979687 };
	for (unsigned j = 0; j < KEYS; j++) {
		unsigned i = (unsigned)((j * stride[id] + id * 13u) % KEYS);
		unsigned len = key_of(i, key);
		bool added;
		ccp_rcu_read_lock();
		got[id][i] = ccp_registry_find_or_add(reg, key, len, ccp_hash_bytes(key, len), 8, 1,
						      NULL, NULL, &added);
		CHECK(got[id][i]->key_len == len && memcmp(got[id][i]->key, key, len) == 0);
		ccp_rcu_read_unlock();
		if (added)
			atomic_fetch_add(&adds, 1);
	}
	rcu_unregister_thread();
	return NULL;
}

static void test_find_or_add(void)
{
	pthread_t t[THREADS];
	reg = ccp_registry_create(16); /* small: the table must grow under load */
	pthread_barrier_init(&go, NULL, THREADS);
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, adder, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_U64(atomic_load(&adds), KEYS); /* exactly one add per key */
	for (unsigned i = 0; i < KEYS; i++)
		for (int k = 1; k < THREADS; k++)
			CHECK(got[k][i] == got[0][i]);
	CHECK_EQ_U64(ccp_registry_live(reg), KEYS);

	rcu_register_thread();
	char key[64];
	unsigned len = key_of(7, key);
	ccp_rcu_read_lock();
	CHECK(ccp_registry_find(reg, key, len, ccp_hash_bytes(key, len)) == got[0][7]);
	CHECK(ccp_registry_find(reg, "absent", 6, ccp_hash_bytes("absent", 6)) == NULL);
	/* user area is zeroed and aligned */
	unsigned char *u = ccp_msg_user(got[0][7]);
	CHECK(((uintptr_t)u & 15) == 0 && u[0] == 0 && u[7] == 0);
	ccp_rcu_read_unlock();
	ccp_registry_destroy(reg); /* frees what is left */
	rcu_unregister_thread();
}

/* ---- retirement and the late notification ---- */

static pthread_barrier_t phase;
static const char *late_key = "1764288000.M99P42.host";

static void *late_reader(void *arg)
{
	(void)arg;
	rcu_register_thread();
	ccp_rcu_read_lock();
	pthread_barrier_wait(&phase); /* 1: section open before the ack */
	pthread_barrier_wait(&phase); /* 2: main acked and retired */
	/* The observation made before the ack finds the tombstone, and its
	 * claim loses: no second delivery. */
	uint32_t len = (uint32_t)strlen(late_key);
	bool added;
	struct ccp_msg *m = ccp_registry_find_or_add(reg, late_key, len,
						     ccp_hash_bytes(late_key, len), 0, 2, NULL, NULL,
						     &added);
	CHECK(!added);
	CHECK(ccp_msg_word_state(ccp_msg_load(m)) == CCP_MSG_DELIVERED);
	CHECK(!ccp_msg_claim(m));
	ccp_rcu_read_unlock();
	rcu_unregister_thread();
	return NULL;
}

static void test_retire(void)
{
	pthread_t t;
	bool added;
	uint32_t len = (uint32_t)strlen(late_key);
	reg = ccp_registry_create(1024);
	rcu_register_thread();
	ccp_rcu_read_lock();
	struct ccp_msg *m = ccp_registry_find_or_add(reg, late_key, len,
						     ccp_hash_bytes(late_key, len), 0, 1, NULL, NULL,
						     &added);
	ccp_rcu_read_unlock();
	CHECK(added && ccp_msg_claim(m));
	uint64_t w = ccp_msg_begin_dispatch(m);
	CHECK(ccp_msg_finish(m, w, CCP_MSG_DELIVERED));

	pthread_barrier_init(&phase, NULL, 2);
	pthread_create(&t, NULL, late_reader, NULL);
	pthread_barrier_wait(&phase); /* 1 */
	static struct ccp_retire_list rl;
	rl.reg = reg;
	ccp_registry_retire(&rl, m);
	ccp_registry_retire_flush(&rl);
	/* The reader's section is still open, so grace period 1 cannot end
	 * and the record is still in the table, whatever the timing. */
	pthread_barrier_wait(&phase); /* 2 */
	pthread_join(t, NULL);
	ccp_registry_reclaim_wait(reg);
	ccp_rcu_read_lock();
	CHECK(ccp_registry_find(reg, late_key, len, ccp_hash_bytes(late_key, len)) == NULL);
	ccp_rcu_read_unlock();
	CHECK_EQ_U64(ccp_registry_freed(reg), 1);
	CHECK_EQ_U64(ccp_registry_live(reg), 0);
	ccp_registry_destroy(reg);
	rcu_unregister_thread();
}

/* Many records through the two-stage reclamation at once. */
static void test_retire_many(void)
{
	static struct ccp_retire_list rl;
	char key[64];
	reg = ccp_registry_create(64);
	rl.reg = reg;
	rcu_register_thread();
	for (unsigned i = 0; i < 5000; i++) {
		unsigned len = key_of(i, key);
		bool added;
		ccp_rcu_read_lock();
		struct ccp_msg *m = ccp_registry_find_or_add(reg, key, len, ccp_hash_bytes(key, len),
							     0, 1, NULL, NULL, &added);
		ccp_rcu_read_unlock();
		CHECK(added && ccp_msg_claim(m));
		uint64_t w = ccp_msg_begin_dispatch(m);
		CHECK(ccp_msg_finish(m, w, i % 3 ? CCP_MSG_DELIVERED : CCP_MSG_FAILED));
		ccp_registry_retire(&rl, m);
	}
	ccp_registry_retire_flush(&rl);
	ccp_registry_reclaim_wait(reg);
	CHECK_EQ_U64(ccp_registry_freed(reg), 5000);
	CHECK_EQ_U64(ccp_registry_live(reg), 0);
	ccp_registry_destroy(reg);
	rcu_unregister_thread();
}

/* Records made, claimed and settled by the calling thread, for retiring. */
static void settled_records(struct ccp_msg **out, unsigned n, unsigned first)
{
	char key[64];
	for (unsigned i = 0; i < n; i++) {
		unsigned len = key_of(first + i, key);
		bool added;
		ccp_rcu_read_lock();
		out[i] = ccp_registry_find_or_add(reg, key, len, ccp_hash_bytes(key, len), 0, 1,
						  NULL, NULL, &added);
		ccp_rcu_read_unlock();
		CHECK(added && ccp_msg_claim(out[i]));
		uint64_t w = ccp_msg_begin_dispatch(out[i]);
		CHECK(ccp_msg_finish(out[i], w, CCP_MSG_DELIVERED));
	}
}

#define LATER_BATCHES 8
static struct ccp_msg *mine[CCP_RETIRE_BATCH];
static struct ccp_msg *later[LATER_BATCHES][CCP_RETIRE_BATCH];

/* Flushes LATER_BATCHES full lists as soon as the main thread has flushed
 * its own, while it is on its way into ccp_registry_reclaim_wait(). */
static void *later_flusher(void *arg)
{
	(void)arg;
	static struct ccp_retire_list rl;
	rl.reg = reg;
	rcu_register_thread();
	pthread_barrier_wait(&phase);
	for (unsigned b = 0; b < LATER_BATCHES; b++)
		for (unsigned i = 0; i < CCP_RETIRE_BATCH; i++)
			ccp_registry_retire(&rl, later[b][i]); /* flushes at each 512 */
	rcu_unregister_thread();
	return NULL;
}

/* ccp_registry_reclaim_wait() returns only once the caller's own records
 * are freed, even when other threads flushed more right after them, into
 * the same round of the reclaimer: it waits for a count of frees, which
 * says so only if batches are freed in the order they were flushed.  The
 * ASan build checks each record's memory; every build checks the count. */
static void test_reclaim_wait_order(void)
{
	static struct ccp_retire_list rl;
	reg = ccp_registry_create(1024);
	rl.reg = reg;
	rcu_register_thread();
	uint64_t retired = 0;
	for (unsigned trial = 0; trial < 40; trial++) {
		pthread_t t;
		unsigned base = 100000 + trial * (LATER_BATCHES + 1) * CCP_RETIRE_BATCH;
		settled_records(mine, CCP_RETIRE_BATCH, base);
		for (unsigned b = 0; b < LATER_BATCHES; b++)
			settled_records(later[b], CCP_RETIRE_BATCH,
					base + (b + 1) * CCP_RETIRE_BATCH);
		pthread_barrier_init(&phase, NULL, 2);
		pthread_create(&t, NULL, later_flusher, NULL);
		for (unsigned i = 0; i < CCP_RETIRE_BATCH; i++)
			ccp_registry_retire(&rl, mine[i]); /* the 512th flushes */
		pthread_barrier_wait(&phase);
		ccp_registry_reclaim_wait(reg);
		retired += CCP_RETIRE_BATCH;
		CHECK(ccp_registry_freed(reg) >= retired);
#ifdef RECORD_FREED
		for (unsigned i = 0; i < CCP_RETIRE_BATCH; i++)
			CHECK(RECORD_FREED(mine[i]));
#endif
		pthread_join(t, NULL);
		ccp_registry_reclaim_wait(reg);
		retired += LATER_BATCHES * CCP_RETIRE_BATCH;
		CHECK_EQ_U64(ccp_registry_freed(reg), retired);
		pthread_barrier_destroy(&phase);
	}
	CHECK_EQ_U64(ccp_registry_live(reg), 0);
	ccp_registry_destroy(reg);
	rcu_unregister_thread();
}

/* The hash against a plain byte-at-a-time statement of its definition:
 * little-endian 8-byte words, the last 1-7 bytes zero-extended.  Every
 * length from 0 to 70 at every alignment, so the tail's overlapping load
 * is checked at each shift. */
static uint64_t hash_reference(const unsigned char *p, size_t len, uint64_t seed)
{
	const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
	__uint128_t s = (__uint128_t)seed * k1;
	uint64_t h = k0 ^ (uint64_t)s ^ (uint64_t)(s >> 64) ^ (uint64_t)len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = 0;
		for (unsigned b = 0; b < 8; b++)
			w |= (uint64_t)p[i + b] << (8 * b);
		h = ccp_hash_mix(h ^ w, k1);
	}
	if (i < len) {
		uint64_t w = 0;
		for (unsigned b = 0; i + b < len; b++)
			w |= (uint64_t)p[i + b] << (8 * b);
		h = ccp_hash_mix(h ^ w, k1 ^ (uint64_t)(len - i));
	}
	return ccp_hash_mix(h, k0 ^ k1);
}

static void test_hash(void)
{
	unsigned char buf[96];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37u + 11u);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 70; len++) {
			CHECK_EQ_U64(ccp_hash_bytes(buf + off, len), hash_reference(buf + off, len, 0));
			uint64_t s = 0x9e3779b97f4a7c15ull * (len + 1);
			CHECK_EQ_U64(ccp_hash_bytes_seeded(buf + off, len, s),
				     hash_reference(buf + off, len, s));
			/* Another seed is another function. */
			CHECK(ccp_hash_bytes_seeded(buf + off, len, s) != ccp_hash_bytes(buf + off, len));
		}
	/* A key and the same key one byte longer or with its last byte
	 * changed hash apart (the tail is not dropped). */
	char a[] = "1764288000.M123456P4242.bench";
	size_t n = strlen(a);
	uint64_t h = ccp_hash_bytes(a, n);
	CHECK(h != ccp_hash_bytes(a, n - 1));
	a[n - 1] = 'x';
	CHECK(h != ccp_hash_bytes(a, n));
}

int main(void)
{
	test_hash();
	test_find_or_add();
	test_retire();
	test_retire_many();
	test_reclaim_wait_order();
	puts("test_registry: ok");
	return 0;
}

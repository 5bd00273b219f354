/*
 * registry.c: the key -> record table and two-grace-period retirement.
 *
 * See include/ccpump/registry.h for the protocol.  Here: the lfht calls,
 * and the registry's reclaimer thread, which carries retired records
 * through
 *
 *   retire -> flush -> [GP 1] -> unlink all -> [GP 2] -> free all
 *
 * in rounds: each round waits for one grace period, frees what the previous
 * round unlinked (its GP 2) and unlinks what was flushed before the round
 * began (its GP 1).  liburcu's call_rcu worker would do the same with two
 * callbacks, but it sleeps 10 ms after every pass to gather callbacks, so a
 * tombstone lived 20-40 ms: at millions of messages a second that is
 * hundreds of thousands of dead records, a table and a working set several
 * times larger than the live one.  Our rounds run back to back while there
 * is work, at most one per CCP_RECLAIM_ROUND_NS, and sleep on an event
 * when there is none.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "ccpump/registry.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <urcu/wfcqueue.h>

#include "ccpump/alloc.h"
#include "ccpump/clock.h"
#include "ccpump/log.h"
#include "ccpump/rcu.h"
#include "ccpump/wait.h"

#ifdef CCPUMP_TSAN
char ccp_rcu_tsan_token;
#endif

/* The shortest round: batches what a busy pump retires in that time under
 * one grace period, and keeps the reclaimer's grace periods (each a pass
 * over every registered thread's read-side counter) to at most a thousand a
 * second. */
#define CCP_RECLAIM_ROUND_NS 1000000ull

struct ccp_registry {
	struct cds_lfht *ht;
	/* Flushed batches waiting for their first grace period: any thread
	 * enqueues (wait-free), the reclaimer splices them out. */
	struct cds_wfcq_head pending_head;
	struct cds_wfcq_tail pending_tail;
	/* Signalled on every flush and on destroy; the reclaimer sleeps on it. */
	struct ccp_event work;
	_Atomic int stop;
	pthread_t reclaimer;
	/* Statistics and the live-records bound: relaxed, except that
	 * ccp_registry_reclaim_wait() acquires `freed`. */
	_Atomic uint64_t added CCP_ALIGNED(CCP_CACHELINE);
	_Atomic uint64_t retired CCP_ALIGNED(CCP_CACHELINE);
	_Atomic uint64_t freed CCP_ALIGNED(CCP_CACHELINE);
};

struct retire_batch {
	struct cds_wfcq_node qnode;
	struct retire_batch *next; /* the reclaimer's own lists */
	unsigned n;
	struct ccp_msg *msgs[];
};

static void *reclaimer_main(void *arg);

struct ccp_registry *ccp_registry_create(size_t expected_live)
{
	struct ccp_registry *reg = ccp_aligned_alloc(CCP_CACHE_GUARD, sizeof(*reg));
	unsigned long floor = 1024;
	while (floor < expected_live && floor < (1ul << 24))
		floor <<= 1;
	/* Auto-resize with per-CPU split counters, so the table follows the
	 * live population (resizes run on the call_rcu worker).  Resizing on
	 * chain length alone (no CDS_LFHT_ACCOUNTING) saves a counter update
	 * per add and delete, but counts the tombstones still awaiting their
	 * grace period as chain length and keeps doubling: measured, it made
	 * lookups several times slower.
	 *
	 * The floor: cds_lfht grows only once it holds 8 nodes per bucket and
	 * shrinks back when it holds fewer than 1/8, so a table left to size
	 * itself sits at several nodes per bucket, and every lookup walks them
	 * (each a cache miss: lookups were the pump's largest cost).  Starting
	 * at, and never shrinking below, the expected population keeps chains
	 * at about one node for 16 bytes of bucket per expected record. */
	reg->ht = cds_lfht_new(floor, floor, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
			       NULL);
	if (reg->ht == NULL)
		ccp_panic("cds_lfht_new(%lu) failed", floor);
	atomic_init(&reg->added, 0);
	atomic_init(&reg->retired, 0);
	atomic_init(&reg->freed, 0);
	cds_wfcq_init(&reg->pending_head, &reg->pending_tail);
	ccp_event_init(&reg->work);
	atomic_init(&reg->stop, 0);
	int rc = pthread_create(&reg->reclaimer, NULL, reclaimer_main, reg);
	if (rc)
		ccp_panic("cannot start the registry's reclaimer: %s", strerror(rc));
	return reg;
}

/* What lookups and adds compare against: the key by pointer. */
struct probe {
	uint32_t len;
	const char *key;
};

static int probe_match(struct cds_lfht_node *node, const void *arg)
{
	const struct ccp_msg *m = caa_container_of(node, struct ccp_msg, node);
	CCP_TSAN_SUBSCRIBE(m);
	const struct probe *p = arg;
	return m->key_len == p->len && memcmp(m->key, p->key, p->len) == 0;
}

struct ccp_msg *ccp_registry_find(struct ccp_registry *reg, const char *key, uint32_t len,
				  uint64_t hash)
{
	struct cds_lfht_iter it;
	struct probe p = { .len = len, .key = key };
	cds_lfht_lookup(reg->ht, (unsigned long)hash, probe_match, &p, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct ccp_msg, node) : NULL;
}

static struct ccp_msg *msg_new(const char *key, uint32_t len, size_t user_size, uint64_t now_ns)
{
	size_t head = sizeof(struct ccp_msg) + len + 1;
	size_t size = ((head + 15) & ~(size_t)15) + user_size;
	struct ccp_msg *m = ccp_aligned_alloc(16, size);
	atomic_init(&m->state, ccp_msg_word(CCP_MSG_NEW, 0));
	cds_lfht_node_init(&m->node);
	m->first_seen_ns = now_ns;
	m->due_ns = 0;
	m->attempts_before = 0;
	m->age_before_s = 0;
	m->postponed = 0;
	m->retries_ended = 0;
	m->last_postponed = 0;
	m->user_size = (uint32_t)user_size;
	m->key_len = len;
	memcpy(m->key, key, len);
	m->key[len] = '\0';
	if (user_size)
		memset(ccp_msg_user(m), 0, user_size);
	return m;
}

struct ccp_msg *ccp_registry_find_or_add(struct ccp_registry *reg, const char *key, uint32_t len,
					 uint64_t hash, size_t user_size, uint64_t now_ns,
					 ccp_msg_init_fn init, void *init_ctx, bool *added)
{
	/* Look first: most notifications are for messages already known, and a
	 * lookup allocates nothing. */
	struct ccp_msg *m = ccp_registry_find(reg, key, len, hash);
	if (m != NULL) {
		*added = false;
		return m;
	}
	struct ccp_msg *fresh = msg_new(key, len, user_size, now_ns);
	if (init)
		init(init_ctx, fresh);
	/* Linking publishes the record (a release CAS inside cds_lfht). */
	CCP_TSAN_PUBLISH(fresh);
	struct probe p = { .len = len, .key = key };
	struct cds_lfht_node *got =
		cds_lfht_add_unique(reg->ht, (unsigned long)hash, probe_match, &p, &fresh->node);
	if (got != &fresh->node) {
		/* Lost the add race: the winner's record is the message's.  Ours
		 * was never visible to anyone, so it is freed at once. */
		ccp_free(fresh);
		*added = false;
		struct ccp_msg *winner = caa_container_of(got, struct ccp_msg, node);
		CCP_TSAN_SUBSCRIBE(winner);
		return winner;
	}
	atomic_fetch_add_explicit(&reg->added, 1, memory_order_relaxed);
	*added = true;
	return fresh;
}

uint64_t ccp_registry_live(const struct ccp_registry *reg)
{
	uint64_t a = atomic_load_explicit(&((struct ccp_registry *)reg)->added, memory_order_relaxed);
	uint64_t f = atomic_load_explicit(&((struct ccp_registry *)reg)->freed, memory_order_relaxed);
	return a > f ? a - f : 0;
}

uint64_t ccp_registry_freed(const struct ccp_registry *reg)
{
	return atomic_load_explicit(&((struct ccp_registry *)reg)->freed, memory_order_relaxed);
}

/* After grace period 2: no reader can hold any of these records. */
static void free_batches(struct ccp_registry *reg, struct retire_batch *b)
{
	while (b != NULL) {
		struct retire_batch *next = b->next;
		for (unsigned i = 0; i < b->n; i++)
			ccp_free(b->msgs[i]);
		/* Release: pairs with the acquire in ccp_registry_reclaim_wait(). */
		atomic_fetch_add_explicit(&reg->freed, b->n, memory_order_release);
		ccp_free(b);
		b = next;
	}
}

/* After grace period 1: every observation made before the acknowledgements
 * has finished its lookup, so no one can need these tombstones any more. */
static void unlink_batches(struct ccp_registry *reg, struct retire_batch *b)
{
	rcu_read_lock();
	for (; b != NULL; b = b->next)
		for (unsigned i = 0; i < b->n; i++)
			if (cds_lfht_del(reg->ht, &b->msgs[i]->node) != 0)
				ccp_panic("retired record '%s' was not in the registry",
					  b->msgs[i]->key);
	rcu_read_unlock();
}

/* Takes every flushed batch out of the pending queue, as a list in the
 * order they were flushed: the rounds free them in that order, which is
 * what lets ccp_registry_reclaim_wait() wait on a count of frees. */
static struct retire_batch *take_pending(struct ccp_registry *reg)
{
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	struct cds_wfcq_node *node, *next;
	struct retire_batch *list = NULL, **end = &list;

	cds_wfcq_init(&head, &tail);
	if (cds_wfcq_splice_blocking(&head, &tail, &reg->pending_head, &reg->pending_tail) ==
	    CDS_WFCQ_RET_SRC_EMPTY)
		return NULL;
	__cds_wfcq_for_each_blocking_safe(&head, &tail, node, next) {
		struct retire_batch *b = caa_container_of(node, struct retire_batch, qnode);
		/* The queue's exchange is inline assembly: pairs with the
		 * PUBLISH in ccp_registry_retire_flush(). */
		CCP_TSAN_SUBSCRIBE(b);
		*end = b;
		end = &b->next;
	}
	return list;
}

static void *reclaimer_main(void *arg)
{
	struct ccp_registry *reg = arg;
	struct retire_batch *unlinked = NULL; /* awaiting grace period 2 */

	pthread_setname_np(pthread_self(), "ccp-reclaim");
	rcu_register_thread();
	for (;;) {
		uint32_t snap = ccp_event_snapshot(&reg->work);
		/* Read before the take, not after: a flush that came between
		 * an empty take and a stop read after it (the last dispatcher's,
		 * then the destroy) was left queued, its batch never freed.
		 * Acquire: pairs with the release in ccp_registry_destroy();
		 * every flush happened before it, so the take below sees them
		 * all. */
		bool stopping = atomic_load_explicit(&reg->stop, memory_order_acquire);
		/* Everything taken here was flushed, so acknowledged, before the
		 * grace period below begins (step 1 before step 2). */
		struct retire_batch *fresh = take_pending(reg);
		if (fresh == NULL && unlinked == NULL) {
			if (stopping)
				break;
			unsigned idle = CCP_WAIT_BLOCK_YIELDS; /* sleep at once */
			ccp_wait_step(CCP_WAIT_BLOCK, &reg->work, snap, 0, &idle);
			continue;
		}
		uint64_t t0 = ccp_now_ns();
		synchronize_rcu();
		/* Every read section that began before the grace period has
		 * ended: pairs with the release in ccp_rcu_read_unlock(). */
		CCP_RCU_TSAN_ACQUIRE();
		free_batches(reg, unlinked);
		unlink_batches(reg, fresh);
		unlinked = fresh;
		uint64_t spent = ccp_now_ns() - t0;
		if (spent < CCP_RECLAIM_ROUND_NS) {
			ccp_sleep_ns(CCP_RECLAIM_ROUND_NS - spent);
		}
	}
	rcu_unregister_thread();
	return NULL;
}

void ccp_registry_retire_flush(struct ccp_retire_list *l)
{
	if (l->n == 0)
		return;
	struct ccp_registry *reg = l->reg;
	struct retire_batch *b = ccp_malloc(sizeof(*b) + l->n * sizeof(b->msgs[0]));
	cds_wfcq_node_init(&b->qnode);
	b->next = NULL;
	b->n = l->n;
	memcpy(b->msgs, l->msgs, l->n * sizeof(b->msgs[0]));
	l->n = 0;
	atomic_fetch_add_explicit(&reg->retired, b->n, memory_order_relaxed);
	/* The acknowledgements of every record in b happened before this
	 * enqueue, and the reclaimer's grace period starts after it takes b. */
	CCP_TSAN_PUBLISH(b);
	cds_wfcq_enqueue(&reg->pending_head, &reg->pending_tail, &b->qnode);
	ccp_event_signal(&reg->work, 1);
}

void ccp_registry_reclaim_wait(struct ccp_registry *reg)
{
	/* Every batch flushed before this call counted itself in `retired`
	 * before it was enqueued, and batches are freed in queue order: once
	 * `freed` reaches the count read here, every batch up to the caller's
	 * own has been freed, whatever was flushed after it. */
	uint64_t target = atomic_load_explicit(&reg->retired, memory_order_relaxed);
	/* Acquire: pairs with the release in free_batches(), so the caller is
	 * ordered after the frees it waited for. */
	while (atomic_load_explicit(&reg->freed, memory_order_acquire) < target) {
		ccp_sleep_ns(200000u);
	}
}

void ccp_registry_retire(struct ccp_retire_list *l, struct ccp_msg *m)
{
	enum ccp_msg_state s = ccp_msg_word_state(ccp_msg_load(m));
	if (ccp_unlikely(s != CCP_MSG_DELIVERED && s != CCP_MSG_FAILED))
		ccp_panic("retiring message '%s' in state %s", m->key, ccp_msg_state_name(s));
	l->msgs[l->n++] = m;
	if (l->n == CCP_RETIRE_BATCH)
		ccp_registry_retire_flush(l);
}

void ccp_registry_destroy(struct ccp_registry *reg)
{
	if (reg == NULL)
		return;
	/* The reclaimer drains what was flushed before it stops.  Release:
	 * pairs with the acquire in reclaimer_main(). */
	atomic_store_explicit(&reg->stop, 1, memory_order_release);
	ccp_event_signal(&reg->work, 1);
	int rc = pthread_join(reg->reclaimer, NULL);
	if (rc)
		ccp_panic("cannot join the registry's reclaimer: %s", strerror(rc));
	/* Table resizes run as call_rcu callbacks: let them finish. */
	ccp_rcu_barrier();
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct ccp_msg **left = NULL;
	size_t n = 0, cap = 0;
	/* Unlink first and free after the walk: the walk must not step on a
	 * record it already freed. */
	rcu_read_lock();
	cds_lfht_for_each(reg->ht, &it, node) {
		if (cds_lfht_del(reg->ht, node) != 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			left = ccp_realloc(left, cap * sizeof(*left));
		}
		left[n++] = caa_container_of(node, struct ccp_msg, node);
	}
	rcu_read_unlock();
	synchronize_rcu();
	for (size_t i = 0; i < n; i++)
		ccp_free(left[i]);
	ccp_free(left);
	atomic_fetch_add_explicit(&reg->freed, n, memory_order_relaxed);
	if (cds_lfht_destroy(reg->ht, NULL) != 0)
		ccp_panic("cds_lfht_destroy failed");
	ccp_free(reg);
}

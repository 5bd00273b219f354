/*
 * bench_ring: the project's ring against its peers, side by side in one run.
 *
 * HOW IT WORKS
 * A cell is (queue, producers:consumers, burst).  Each producer enqueues its
 * share of the items in bursts; an item is one word, its producer id in the
 * top bits and its sequence number below, plus one so it is never NULL.
 * Consumers dequeue in bursts of the same size and, for each item, check
 * that its sequence is above the last one they saw from that producer
 * (every queue here is FIFO per producer) and set its bit in their own
 * census bitmap.  When every producer is done, the last one enqueues one
 * pill per consumer; pills come after every item, so a consumer that sees
 * the pill count reach the number of consumers has nothing left to take.
 * After the run the queue is drained (anything still in it came after the
 * pills: a doubled pill or item) and the bitmaps are merged: every item
 * must be in exactly one, and there must be one pill per consumer, or the
 * run fails with a nonzero exit.
 *
 * Waiting is the harness's, the same for every queue: spin with a pause,
 * and yield after a while, so 4:4 on 2 cores still moves.  A cell's time
 * runs from releasing the threads to joining them.  Cells run interleaved:
 * repetition r of every queue before repetition r+1 of any, so a noisy
 * neighbour hurts all queues alike; the median of the repetitions is
 * reported.  The CSV and JSON are rewritten after each (ratio, burst)
 * group, and on SIGTERM or SIGINT, so a run cut short keeps what it did.
 *
 * Each run is a child process with a time limit (--run-limit).  With more
 * threads than CPUs, queues whose threads wait for each other in turn
 * (rte_ring's default mode, ck_ring's MPMC) can crawl.  At the limit the
 * child watches the threads' counts of items moved until they move (a
 * crawl) or stay still for QUIET_S seconds (a freeze), then stops the
 * threads, drains the queue and takes the census of what they moved: a
 * lost item (behind a slot claimed and never written, which the drain
 * cannot pass) is "LOST", a doubled one "FAIL"; with every item accounted
 * for, the cell is "stalled", with no figure, and is not run again (a
 * finding, not a failure).  Only a lost, doubled or reordered item fails
 * the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ck_ring.h>
#include <urcu/wfcqueue.h>

#include "ccpump/clock.h"
#include "ccpump/compiler.h"
#include "ccpump/hostprobe.h"
#include "ccpump/lockq.h"
#include "ccpump/ring.h"

#include "common.h"
#include "queues.h"

#define MAX_THREADS 256
#define MAX_BURST 1024
#define PROD_SHIFT 40
#define SEQ_MASK (((uint64_t)1 << PROD_SHIFT) - 1)
#define PILL ((uintptr_t)1 << 62)
#define SPINS_BEFORE_YIELD 256

/* ---- queue adapters ------------------------------------------------------ */

/* Cache-guard aligned memory; C11 wants the size a multiple of the
 * alignment. */
static void *guard_alloc(size_t size)
{
	return aligned_alloc(CCP_CACHE_GUARD,
			     (size + CCP_CACHE_GUARD - 1) & ~(size_t)(CCP_CACHE_GUARD - 1));
}

/* ccpump's ring. */
static struct bq *ours_create(const struct bq_shape *shape)
{
	return (struct bq *)ccp_ring_create(shape->capacity);
}
static void ours_destroy(struct bq *q)
{
	ccp_ring_destroy((struct ccp_ring *)q);
}
/* The same ring with its bursts' slot words moved one by one. */
static struct bq *words_create(const struct bq_shape *shape)
{
	return (struct bq *)ring_words_create(shape->capacity);
}
static unsigned ours_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	return ccp_ring_enqueue_burst_mpmc((struct ccp_ring *)q, (void *const *)w, n);
}
static unsigned ours_deq(struct bq *q, uintptr_t *w, unsigned n)
{
	return ccp_ring_dequeue_burst_mpmc((struct ccp_ring *)q, (void **)w, n);
}

/* ck_ring MPMC: no burst call, so a burst is a loop that stops at the first
 * refusal, as a caller of ck would write it.  Like rte_ring, it holds one
 * item fewer than its slots. */
struct ckq {
	struct ck_ring ring;
	ck_ring_buffer_t *buf;
};
static struct bq *ck_create(const struct bq_shape *shape)
{
	uint64_t capacity = shape->capacity;
	struct ckq *q = guard_alloc(sizeof(*q));
	if (!q)
		return NULL;
	q->buf = guard_alloc(capacity * sizeof(*q->buf));
	if (!q->buf) {
		free(q);
		return NULL;
	}
	ck_ring_init(&q->ring, (unsigned)capacity);
	return (struct bq *)q;
}
static void ck_destroy(struct bq *q)
{
	free(((struct ckq *)q)->buf);
	free(q);
}
static unsigned ck_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	struct ckq *c = (struct ckq *)q;
	unsigned i;
	for (i = 0; i < n; i++)
		if (!ck_ring_enqueue_mpmc(&c->ring, c->buf, (void *)w[i]))
			break;
	return i;
}
static unsigned ck_deq(struct bq *q, uintptr_t *w, unsigned n)
{
	struct ckq *c = (struct ckq *)q;
	unsigned i;
	for (i = 0; i < n; i++)
		if (!ck_ring_dequeue_mpmc(&c->ring, c->buf, &w[i]))
			break;
	return i;
}

/* liburcu wfcqueue: unbounded, intrusive.  Nodes are preallocated, one per
 * item and pill, so allocation is not measured.  Each producer has its own
 * slice of them: an item's node is found from the item itself (producer
 * times items per producer, plus its sequence), so no counter is shared
 * between producers, which the other queues do not pay for either.  The
 * pills' nodes follow the items'; only the last producer takes them.  A
 * burst enqueue is n wait-free enqueues and a burst dequeue is n dequeues
 * under one hold of the dequeue lock. */
struct wfnode {
	struct cds_wfcq_node node;
	uintptr_t word;
};
struct wfq {
	struct cds_wfcq_head head;
	char pad0[CCP_CACHE_GUARD];
	struct cds_wfcq_tail tail;
	char pad1[CCP_CACHE_GUARD];
	struct wfnode *nodes;
	uint64_t per_producer, n_items, n_nodes;
	_Atomic uint64_t next_pill; /* the pill sender's alone */
};
static struct bq *wf_create(const struct bq_shape *shape)
{
	struct wfq *q = guard_alloc(sizeof(*q));
	if (!q)
		return NULL;
	q->per_producer = shape->per_producer;
	q->n_items = shape->per_producer * shape->producers;
	q->n_nodes = q->n_items + shape->consumers;
	q->nodes = calloc(q->n_nodes, sizeof(*q->nodes));
	if (!q->nodes) {
		free(q);
		return NULL;
	}
	atomic_init(&q->next_pill, q->n_items);
	cds_wfcq_init(&q->head, &q->tail);
	return (struct bq *)q;
}
static void wf_destroy(struct bq *q)
{
	struct wfq *f = (struct wfq *)q;
	cds_wfcq_destroy(&f->head, &f->tail);
	free(f->nodes);
	free(f);
}
static unsigned wf_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	struct wfq *f = (struct wfq *)q;
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = (uint64_t)w[i], k;
		if (ccp_likely(v != PILL)) {
			v -= 1;
			k = (v >> PROD_SHIFT) * f->per_producer + (v & SEQ_MASK);
		} else {
			k = atomic_fetch_add_explicit(&f->next_pill, 1, memory_order_relaxed);
		}
		if (ccp_unlikely(k >= f->n_nodes)) {
			fprintf(stderr, "bench_ring: wfcqueue: no node for word %#" PRIx64 "\n",
				(uint64_t)w[i]);
			abort();
		}
		struct wfnode *nd = &f->nodes[k];
		cds_wfcq_node_init(&nd->node);
		nd->word = w[i];
		cds_wfcq_enqueue(&f->head, &f->tail, &nd->node);
	}
	return n;
}
static unsigned wf_deq(struct bq *q, uintptr_t *w, unsigned n)
{
	struct wfq *f = (struct wfq *)q;
	unsigned i;
	cds_wfcq_dequeue_lock(&f->head, &f->tail);
	for (i = 0; i < n; i++) {
		struct cds_wfcq_node *nd = __cds_wfcq_dequeue_blocking(&f->head, &f->tail);
		if (!nd)
			break;
		w[i] = CCP_CONTAINER_OF(nd, struct wfnode, node)->word;
	}
	cds_wfcq_dequeue_unlock(&f->head, &f->tail);
	return i;
}

/* ccpump's mutex ring, non-blocking calls so the harness waits for it as it
 * does for the others. */
static struct bq *lq_create(const struct bq_shape *shape)
{
	struct ccp_lockq *q = guard_alloc(sizeof(*q));
	if (q && ccp_lockq_init(q, shape->capacity) != 0) {
		free(q);
		return NULL;
	}
	return (struct bq *)q;
}
static void lq_destroy(struct bq *q)
{
	ccp_lockq_destroy((struct ccp_lockq *)q);
	free(q);
}
static unsigned lq_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	return ccp_lockq_enqueue_burst((struct ccp_lockq *)q, (void *const *)w, n, false, NULL);
}
static unsigned lq_deq(struct bq *q, uintptr_t *w, unsigned n)
{
	return ccp_lockq_dequeue_burst((struct ccp_lockq *)q, (void **)w, n, false, 0);
}

static const struct bq_ops ours_ops = { "ccp_ring", true, ours_create, ours_destroy,
					ours_enq, ours_deq };
static const struct bq_ops words_ops = { "ccp_ring_words", true, words_create, ours_destroy,
					 ours_enq, ours_deq };
static const struct bq_ops ck_ops = { "ck_ring", true, ck_create, ck_destroy, ck_enq, ck_deq };
static const struct bq_ops wf_ops = { "wfcqueue", true, wf_create, wf_destroy, wf_enq, wf_deq };
static const struct bq_ops lq_ops = { "ccp_lockq", true, lq_create, lq_destroy, lq_enq, lq_deq };

/* ---- test only: a ccp_ring broken on purpose (--inject-fault) ---------
 *
 * Proves that the harness fails a run that loses or doubles an item, in
 * each of the ways a real defect would show (bench/ring/smoke.sh runs
 * them).  Once per run, at half the items:
 *   hole  claims a slot (moves prod_pos) and never writes it, and says the
 *         item went in: consumers stop at the slot, as they must, and the
 *         run stops moving (census LOST)
 *   drop  says an item went in without enqueueing it (census LOST)
 *   pill  enqueues the first pill twice (census FAIL: doubled)
 *   twice enqueues an item a second time, after its burst (census FAIL:
 *         doubled)
 * Each run is its own child process, so the state below starts afresh. */
enum fault { FAULT_NONE, FAULT_HOLE, FAULT_DROP, FAULT_PILL, FAULT_TWICE };
static const char *const fault_names[] = { "none", "hole", "drop", "pill", "twice" };
static enum fault fault;
static uint64_t fault_at;
static _Atomic uint64_t fault_seen;
static _Atomic bool fault_done;

static struct bq *faulty_create(const struct bq_shape *shape)
{
	fault_at = shape->per_producer * shape->producers / 2;
	return ours_create(shape);
}
static bool fault_claim(void)
{
	return !atomic_exchange_explicit(&fault_done, true, memory_order_relaxed);
}
static unsigned faulty_enq(struct bq *q, const uintptr_t *w, unsigned n)
{
	if (atomic_load_explicit(&fault_done, memory_order_relaxed))
		return ours_enq(q, w, n);
	if (fault == FAULT_PILL) {
		if (w[0] != PILL)
			return ours_enq(q, w, n);
		unsigned k = ours_enq(q, w, 1);
		if (k == 1 && fault_claim())
			while (ours_enq(q, w, 1) == 0)
				sched_yield();
		return k;
	}
	if (w[0] == PILL ||
	    atomic_fetch_add_explicit(&fault_seen, n, memory_order_relaxed) + n <= fault_at)
		return ours_enq(q, w, n);
	if (!fault_claim())
		return ours_enq(q, w, n);
	if (fault == FAULT_DROP)
		return 1;
	if (fault == FAULT_TWICE) {
		/* The fault is claimed: it must happen now, full ring or not. */
		unsigned k;
		while ((k = ours_enq(q, w, n)) == 0)
			sched_yield();
		while (ours_enq(q, w, 1) == 0)
			sched_yield();
		return k;
	}
	/* FAULT_HOLE: the claim of __ccp_ring_enqueue_one() without its store. */
	struct ccp_ring *r = (struct ccp_ring *)q;
	for (;;) {
		uint64_t pos = atomic_load_explicit(&r->prod_pos, memory_order_acquire);
		uint64_t c = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
		if (pos + 1 - c <= r->capacity &&
		    atomic_compare_exchange_strong_explicit(&r->prod_pos, &pos, pos + 1,
							    memory_order_acquire,
							    memory_order_acquire))
			return 1;
		sched_yield();
	}
}
static char faulty_name[32];
static const struct bq_ops faulty_ops = { faulty_name, true, faulty_create, ours_destroy,
					  faulty_enq, ours_deq };

/* ---- one run ------------------------------------------------------------- */

/* Past the run limit, a queue that moves nothing for this long is stuck:
 * no thread is waiting for another to be scheduled, since a preempted
 * thread runs again within milliseconds. */
#define QUIET_S 2.0
#define WATCH_TICK_S 0.01
/* After a stuck verdict, how long the threads have to see the abort. */
#define ABORT_JOIN_S 1.0

/* The CPUs this process may run on (sched_getaffinity), in order. */
static int cpus[CPU_SETSIZE];
static int ncpus;

/*
 * Where the threads run.  PLACE_PAIRS puts producer i and consumer i on
 * one CPU, as an application places a stage beside its peer; at 1:1 that
 * is one CPU doing both sides by turns, so the cell measures the
 * instructions an item costs.  PLACE_SPLIT puts producers and consumers on
 * different CPUs (producer i on the (2i)-th, consumer i on the (2i+1)-th,
 * mod their count), as DPDK's ring_perf_autotest places its two cores: the
 * cell measures the hand-off between caches.
 */
enum placement { PLACE_NONE, PLACE_PAIRS, PLACE_SPLIT };

/* Each placement's name in ring.json, its flag, and the table's words. */
static const struct {
	const char *name, *flag, *words;
} placements[] = {
	[PLACE_NONE] = { "none", "", "not pinned" },
	[PLACE_PAIRS] = { "pairs", "--pin",
			  "pinned, producer i and consumer i on one CPU (--pin)" },
	[PLACE_SPLIT] = { "split", "--pin-split",
			  "pinned, producers and consumers on different CPUs (--pin-split)" },
};

/* The CPU of a thread: producer `id` when producer, else consumer `id`. */
static int placement_cpu(enum placement p, unsigned id, bool producer)
{
	unsigned k = p == PLACE_SPLIT ? 2 * id + (producer ? 0 : 1) : id;
	return cpus[k % (unsigned)ncpus];
}

struct run {
	const struct bq_ops *ops;
	struct bq *q;
	unsigned producers, consumers, burst;
	uint64_t per_producer;
	enum placement place;
	_Atomic unsigned ready;
	_Atomic bool go;
	_Atomic bool abort; /* stuck: threads waiting on the queue give up */
	_Atomic unsigned producers_done;
	_Atomic uint64_t pills_sent;
	_Atomic unsigned pills_seen;
	_Atomic uint64_t order_errors;
	_Atomic uint64_t doubles;
	uint64_t **census; /* one bitmap per consumer */
};

struct worker {
	/* Items a producer has enqueued, or words a consumer has dequeued:
	 * the watch's measure of progress, and the census's of what went in.
	 * Written by its thread alone, on a line of its own. */
	_Atomic uint64_t moved CCP_ALIGNED(CCP_CACHE_GUARD);
	struct run *run;
	unsigned id; /* producer id, or consumer index */
	int cpu;
	pthread_t tid;
	/* When its thread finished: the run's end is the last of these, not
	 * when the main thread saw the joins.  Written by the thread before it
	 * exits, read after the join. */
	double end_s;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


static void wait_start(struct worker *w)
{
	if (w->run->place != PLACE_NONE) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		int e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (e) {
			/* A run labelled pinned must be pinned: the parent stops. */
			fprintf(stderr, "bench_ring: %s: cannot pin a thread to CPU %d: %s\n",
				placements[w->run->place].flag, w->cpu,
				strerror(e));
			_exit(4);
		}
	}
	atomic_fetch_add_explicit(&w->run->ready, 1, memory_order_acq_rel);
	while (!atomic_load_explicit(&w->run->go, memory_order_acquire))
		ccp_cpu_relax();
}

/* The harness's wait, the same for every queue.  True when it yielded. */
static inline bool backoff(unsigned *spins)
{
	if (++*spins < SPINS_BEFORE_YIELD) {
		ccp_cpu_relax();
		return false;
	}
	*spins = 0;
	sched_yield();
	return true;
}

static inline void count_moved(_Atomic uint64_t *moved, uint64_t k)
{
	atomic_store_explicit(moved, atomic_load_explicit(moved, memory_order_relaxed) + k,
			      memory_order_relaxed);
}

/* False when the run was aborted while the queue was full. */
static bool enqueue_all(struct run *r, _Atomic uint64_t *moved, const uintptr_t *words,
			unsigned n)
{
	unsigned spins = 0;
	while (n > 0) {
		unsigned k = r->ops->enq(r->q, words, n);
		if (k == 0) {
			if (backoff(&spins) &&
			    atomic_load_explicit(&r->abort, memory_order_relaxed))
				return false;
			continue;
		}
		words += k;
		n -= k;
		spins = 0;
		count_moved(moved, k);
	}
	return true;
}

static void *producer_run(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	uintptr_t words[MAX_BURST];
	wait_start(w);
	uint64_t base = ((uint64_t)w->id << PROD_SHIFT) + 1;
	for (uint64_t s = 0; s < r->per_producer;) {
		unsigned n = r->burst;
		if (r->per_producer - s < n)
			n = (unsigned)(r->per_producer - s);
		for (unsigned i = 0; i < n; i++)
			words[i] = (uintptr_t)(base + s + i);
		if (!enqueue_all(r, &w->moved, words, n))
			return NULL;
		s += n;
	}
	/* The last producer out sends the pills: acq_rel orders every other
	 * producer's enqueues before them. */
	if (atomic_fetch_add_explicit(&r->producers_done, 1, memory_order_acq_rel) + 1 ==
	    r->producers) {
		for (unsigned i = 0; i < r->consumers; i++) {
			uintptr_t pill = PILL;
			if (!enqueue_all(r, &r->pills_sent, &pill, 1))
				return NULL;
		}
	}
	return NULL;
}

/* Checks one dequeued item into a census bitmap (the consumer's, or the
 * drain's): its producer's sequence must grow, and its bit be new. */
static inline void check_in(struct run *r, uint64_t *bits, uint64_t *last, uint64_t v,
			    uint64_t *order_errors, uint64_t *doubles)
{
	v -= 1;
	unsigned p = (unsigned)(v >> PROD_SHIFT);
	uint64_t seq = v & SEQ_MASK;
	if (ccp_unlikely(p >= r->producers || seq >= r->per_producer)) {
		++*order_errors;
		return;
	}
	if (r->ops->fifo && ccp_unlikely(seq + 1 <= last[p]))
		++*order_errors;
	last[p] = seq + 1;
	uint64_t idx = (uint64_t)p * r->per_producer + seq;
	uint64_t bit = (uint64_t)1 << (idx & 63);
	if (ccp_unlikely(bits[idx >> 6] & bit))
		++*doubles;
	bits[idx >> 6] |= bit;
}

static void *consumer_run(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	uintptr_t words[MAX_BURST];
	uint64_t last[MAX_THREADS] = { 0 }; /* last sequence + 1 per producer */
	uint64_t *bits = r->census[w->id];
	uint64_t order_errors = 0, doubles = 0;
	unsigned spins = 0;
	wait_start(w);
	for (;;) {
		unsigned n = r->ops->deq(r->q, words, r->burst);
		if (n == 0) {
			/* At least: pills past the count are doubles, left to
			 * the census. */
			if (atomic_load_explicit(&r->pills_seen, memory_order_acquire) >=
			    r->consumers)
				break;
			if (backoff(&spins) &&
			    atomic_load_explicit(&r->abort, memory_order_relaxed))
				break;
			continue;
		}
		spins = 0;
		unsigned pills = 0;
		for (unsigned i = 0; i < n; i++) {
			if (ccp_unlikely(words[i] == PILL))
				pills++;
			else
				check_in(r, bits, last, (uint64_t)words[i], &order_errors,
					 &doubles);
		}
		count_moved(&w->moved, n);
		if (pills)
			atomic_fetch_add_explicit(&r->pills_seen, pills, memory_order_acq_rel);
	}
	atomic_fetch_add_explicit(&r->order_errors, order_errors, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->doubles, doubles, memory_order_relaxed);
	return NULL;
}

/* Joins the threads from *joined on, in order, until one is still running
 * `for_s` seconds from now.  True when all are joined.  A try-join every
 * millisecond rather than pthread_clockjoin_np(): the deadline stays on
 * the monotonic clock, and ThreadSanitizer (clang 14) knows try-join but
 * not clockjoin, so the bench can be run under it. */
static bool join_until(struct worker *ws, unsigned nt, unsigned *joined, double for_s)
{
	double until = now_s() + for_s;
	while (*joined < nt) {
		if (pthread_tryjoin_np(ws[*joined].tid, NULL) == 0) {
			++*joined;
			continue;
		}
		if (now_s() >= until)
			break;
		ccp_sleep_ns(1000000u);
	}
	return *joined == nt;
}

struct outcome {
	double seconds;
	uint64_t items;
	uint64_t lost, doubled, misordered;
	bool ok;
	bool stalled; /* past the limit and moving: no figure */
	bool stuck;   /* past the limit and frozen: items lost (census LOST) */
	bool producers_finished; /* when stuck: every item and pill went in */
};

enum watch { W_FINISHED, W_MOVING, W_STUCK };

/* Past the run limit: the run finishes, moves (a crawl) or stops. */
static enum watch watch(struct run *r, struct worker *ws, unsigned nt, unsigned *joined)
{
	uint64_t last = UINT64_MAX;
	double quiet = 0, prev = now_s();
	for (;;) {
		uint64_t moved = atomic_load(&r->pills_sent);
		for (unsigned i = 0; i < nt; i++)
			moved += atomic_load_explicit(&ws[i].moved, memory_order_relaxed);
		if (last != UINT64_MAX && moved != last)
			return W_MOVING;
		last = moved;
		if (join_until(ws, nt, joined, WATCH_TICK_S))
			return W_FINISHED;
		double t = now_s();
		/* A late tick means this thread could not run either: that time
		 * says nothing of the queue. */
		if (t - prev < 25 * WATCH_TICK_S)
			quiet += t - prev;
		prev = t;
		if (quiet >= QUIET_S)
			return W_STUCK;
	}
}

/* The census over producer p's items: those it enqueued (`sent`) must each
 * be in one bitmap; none of its items may be in two. */
static void census_of(struct run *r, unsigned p, uint64_t sent, uint64_t *lost,
		      uint64_t *doubled)
{
	uint64_t lo = (uint64_t)p * r->per_producer, hi = lo + r->per_producer;
	uint64_t want_hi = lo + sent;
	if (lo == hi)
		return;
	for (uint64_t i = lo >> 6; i <= (hi - 1) >> 6; i++) {
		uint64_t any = 0, twice = 0;
		for (unsigned c = 0; c < r->consumers; c++) {
			twice |= any & r->census[c][i];
			any |= r->census[c][i];
		}
		/* The bits of word i inside [lo, hi) and [lo, want_hi). */
		uint64_t first = i << 6;
		uint64_t below_lo = lo > first ? ((uint64_t)1 << (lo - first)) - 1 : 0;
		uint64_t mine = ~below_lo;
		if (hi < first + 64)
			mine &= ((uint64_t)1 << (hi - first)) - 1;
		uint64_t want = 0;
		if (want_hi > first) {
			want = ~below_lo;
			if (want_hi < first + 64)
				want &= ((uint64_t)1 << (want_hi - first)) - 1;
		}
		*lost += (uint64_t)__builtin_popcountll(want & ~any);
		*doubled += (uint64_t)__builtin_popcountll(mine & twice);
	}
}

static void *producer_main(void *arg)
{
	void *ret = producer_run(arg);
	((struct worker *)arg)->end_s = now_s();
	return ret;
}

static void *consumer_main(void *arg)
{
	void *ret = consumer_run(arg);
	((struct worker *)arg)->end_s = now_s();
	return ret;
}

/*
 * Runs one cell once, in the calling (child) process; past limit_s, watches
 * (see watch()).  Returns -1 when the queue cannot be made.  Frees nothing
 * when a thread is still running: the child exits right after.
 */
static int run_once(const struct bq_ops *ops, unsigned np, unsigned nc, unsigned burst,
		    uint64_t items, uint64_t capacity, enum placement place, double limit_s,
		    struct outcome *out)
{
	unsigned nt = np + nc;
	struct run *r = calloc(1, sizeof(*r));
	struct worker *ws = guard_alloc(nt * sizeof(*ws));
	if (!r || !ws) {
		fprintf(stderr, "bench_ring: out of memory\n");
		exit(2);
	}
	memset(ws, 0, nt * sizeof(*ws));
	r->ops = ops;
	r->producers = np;
	r->consumers = nc;
	r->burst = burst;
	r->per_producer = items / np;
	r->place = place;
	uint64_t total = r->per_producer * np;
	struct bq_shape shape = { capacity, r->per_producer, np, nc };
	r->q = ops->create(&shape);
	if (!r->q) {
		free(ws);
		free(r);
		return -1;
	}
	size_t words = (size_t)(total + 63) / 64;
	r->census = calloc(nc, sizeof(*r->census));
	for (unsigned c = 0; c < nc; c++) {
		r->census[c] = calloc(words ? words : 1, sizeof(uint64_t));
		if (!r->census[c]) {
			fprintf(stderr, "bench_ring: out of memory for the census\n");
			exit(2);
		}
	}
	/* Each thread's CPU, when pinned: see enum placement. */
	for (unsigned i = 0; i < nt; i++) {
		ws[i].run = r;
		ws[i].id = i < np ? i : i - np;
		ws[i].cpu = placement_cpu(place, ws[i].id, i < np);
		int e = pthread_create(&ws[i].tid, NULL, i < np ? producer_main : consumer_main,
				       &ws[i]);
		if (e) {
			fprintf(stderr, "bench_ring: pthread_create: %s\n", strerror(e));
			exit(2);
		}
	}
	while (atomic_load_explicit(&r->ready, memory_order_acquire) < nt)
		sched_yield();
	double t0 = now_s();
	atomic_store_explicit(&r->go, true, memory_order_release);
	unsigned joined = 0;
	bool finished = join_until(ws, nt, &joined, limit_s);
	double t1 = t0;
	for (unsigned i = 0; finished && i < nt; i++)
		if (ws[i].end_s > t1)
			t1 = ws[i].end_s;
	memset(out, 0, sizeof(*out));
	out->seconds = finished ? t1 - t0 : now_s() - t0;
	out->items = total;
	if (!finished) {
		enum watch v = watch(r, ws, nt, &joined);
		out->stalled = true; /* past the limit: no figure */
		if (v != W_FINISHED) {
			/* Crawling or frozen: the threads are stopped, and what they
			 * moved is counted below, so that a crawl hides no lost or
			 * doubled item, and a freeze that was only the machine's
			 * (threads that got no CPU) is not taken for a loss: the
			 * census decides. */
			out->stuck = v == W_STUCK;
			out->producers_finished =
				atomic_load(&r->producers_done) == np &&
				atomic_load(&r->pills_sent) == nc;
			atomic_store(&r->abort, true);
			finished = join_until(ws, nt, &joined, ABORT_JOIN_S);
			if (!finished) {
				/* A thread still inside the queue (a peer's spin that
				 * does not see the abort): the queue cannot be read
				 * now, so nothing can be told; stalled. */
				out->stuck = false;
				out->ok = true;
				return 0;
			}
		}
	}

	/* Anything left in the queue came after the pills: a doubled pill or
	 * item (or, out of a FIFO queue, an item after the pills).  Not while
	 * a thread may still be inside the queue. */
	uint64_t pills = atomic_load(&r->pills_seen), late = 0, doubles = atomic_load(&r->doubles);
	uint64_t order_errors = atomic_load(&r->order_errors);
	if (finished) {
		uintptr_t buf[MAX_BURST];
		uint64_t *last = calloc(np, sizeof(*last));
		uint64_t *drained = calloc(words ? words : 1, sizeof(uint64_t));
		unsigned n;
		while (last && drained && (n = ops->deq(r->q, buf, MAX_BURST)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				if (buf[i] == PILL) {
					pills++;
					continue;
				}
				uint64_t v = (uint64_t)buf[i] - 1;
				uint64_t idx = (v >> PROD_SHIFT) * r->per_producer + (v & SEQ_MASK);
				bool seen = false;
				for (unsigned c = 0; c < nc && idx < total; c++)
					seen = seen || (r->census[c][idx >> 6] >> (idx & 63) & 1);
				if (seen) {
					doubles++;
					continue;
				}
				/* Left behind by consumers that were stopped (an
				 * aborted run) is not late. */
				if (r->ops->fifo && !atomic_load(&r->abort))
					late++;
				check_in(r, drained, last, (uint64_t)buf[i], &order_errors, &doubles);
			}
		}
		/* The drained items, in no consumer's bitmap, join the census. */
		for (size_t i = 0; drained && i < words; i++)
			r->census[0][i] |= drained[i];
		free(drained);
		free(last);
	}

	/* Census: every item a producer enqueued in exactly one bitmap, and one
	 * pill per consumer.  A stuck run counts what its producers had
	 * enqueued; threads not joined may still write, so its count is a
	 * snapshot. */
	uint64_t lost = 0, doubled = doubles;
	for (unsigned p = 0; p < np; p++)
		census_of(r, p, atomic_load(&ws[p].moved), &lost, &doubled);
	uint64_t sent = atomic_load(&r->pills_sent);
	if (pills > sent)
		doubled += pills - sent;
	else
		lost += sent - pills; /* pills that never reached a consumer */
	out->lost = lost;
	out->doubled = doubled;
	out->misordered = order_errors + late;
	out->ok = lost == 0 && doubled == 0 && out->misordered == 0;
	/* Frozen with every item and pill accounted for: the machine's
	 * stall, not the queue's loss. */
	if (out->ok)
		out->stuck = false;

	for (unsigned c = 0; c < nc; c++)
		free(r->census[c]);
	free(r->census);
	ops->destroy(r->q);
	free(ws);
	free(r);
	return 0;
}

/* Set by SIGTERM, SIGINT or SIGHUP: write what is done and stop. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

enum run_rc { RUN_OK = 0, RUN_NO_QUEUE = -1, RUN_NO_PIN = -2, RUN_STOPPED = -3 };

/*
 * Runs one cell once in a child process, which decides at the run limit
 * whether the queue crawls (stalled) or has stopped (stuck, LOST): see
 * watch().  A child can be left behind where a crawling thread cannot, so
 * the sweep goes on.  The child that gives no answer well past the limit
 * is killed and fails the cell.
 */
static enum run_rc run_isolated(const struct bq_ops *ops, unsigned np, unsigned nc,
				unsigned burst, uint64_t items, uint64_t capacity, enum placement place,
				double limit_s, struct outcome *out)
{
	int fds[2];
	if (pipe(fds) != 0) {
		perror("bench_ring: pipe");
		exit(2);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench_ring: fork");
		exit(2);
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fds[0]);
		struct outcome o;
		int rc = run_once(ops, np, nc, burst, items, capacity, place, limit_s, &o);
		if (rc != 0)
			_exit(3); /* no outcome: the parent reads the status */
		ssize_t w = write(fds[1], &o, sizeof(o));
		_exit(w == (ssize_t)sizeof(o) ? 0 : 5);
	}
	close(fds[1]);
	memset(out, 0, sizeof(*out));
	struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
	/* The child's answer is due within this much time in which the
	 * machine ran: waited for in slices of at most a second, where a
	 * slice that came back much later than asked (a paused or starved
	 * VM: the monotonic clock jumps on resume) does not count. */
	const double budget = limit_s + QUIET_S + ABORT_JOIN_S + 10;
	double spent = 0;
	/* The stop signals stay blocked but inside ppoll(), which unblocks
	 * them atomically: one that lands between the check of stop_signal
	 * and the wait ends the wait at once instead of after the run. */
	sigset_t stops, unblocked;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGHUP);
	sigprocmask(SIG_BLOCK, &stops, &unblocked);
	int ready = -1;
	errno = EINTR;
	while ((ready == 0 || (ready < 0 && errno == EINTR)) && !stop_signal) {
		double slice = budget - spent;
		if (slice <= 0) {
			ready = 0;
			break;
		}
		if (slice > 1)
			slice = 1;
		struct timespec ts = { .tv_sec = (time_t)slice };
		ts.tv_nsec = (long)((slice - (double)ts.tv_sec) * 1e9);
		double t = now_s();
		ready = ppoll(&pfd, 1, &ts, &unblocked);
		double took = now_s() - t;
		if (took < slice + 2)
			spent += took;
	}
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	enum run_rc rc = RUN_OK;
	int st = 0;
	if (stop_signal) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rc = RUN_STOPPED;
	} else if (ready == 1 && read(fds[0], out, sizeof(*out)) == (ssize_t)sizeof(*out)) {
		waitpid(pid, &st, 0);
	} else if (ready == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fprintf(stderr, "bench_ring: %s %u:%u burst %u: the run gave no answer %.0f s "
				"past its limit; killed\n",
			ops->name, np, nc, burst, QUIET_S + ABORT_JOIN_S + 10);
		out->ok = false;
	} else {
		/* No outcome: the queue could not be made (exit 3), a thread
		 * could not be pinned (4), or the run crashed, which fails the
		 * cell like a lost item. */
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
			rc = RUN_NO_QUEUE;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 4) {
			rc = RUN_NO_PIN;
		} else {
			fprintf(stderr, "bench_ring: %s %u:%u burst %u: the run crashed (status %d)\n",
				ops->name, np, nc, burst, st);
			out->ok = false;
		}
	}
	close(fds[0]);
	return rc;
}

/* ---- the sweep ------------------------------------------------------------ */

struct ratio {
	unsigned p, c;
};

struct cell {
	const struct bq_ops *ops;
	struct ratio ratio;
	unsigned burst;
	double *secs; /* one per repetition */
	unsigned done;
	bool ok;
	bool stalled; /* a run hit the time limit and was still moving; no figure */
	bool stuck;   /* a run hit the time limit and had stopped: LOST */
	bool producers_finished; /* when stuck: every item and pill had gone in */
	bool ran; /* something to report: a repetition, a stall or a failure */
	uint64_t items, lost, doubled, misordered;
};

/* ok, stalled, LOST (an item or pill never reached a consumer) or FAIL
 * (doubled, reordered, or the run crashed). */
static const char *census_word(const struct cell *c)
{
	if (!c->ok)
		return c->stuck || c->lost > 0 ? "LOST" : "FAIL";
	return c->stalled ? "stalled" : "ok";
}

struct figures {
	double mops, ns, mmin, mmax;
};

static struct figures figures_of(struct cell *c)
{
	struct figures f = { 0, 0, 0, 0 };
	if (c->done == 0 || c->stalled || c->items == 0)
		return f;
	double lo = 1e300, hi = 0;
	for (unsigned r = 0; r < c->done; r++) {
		if (c->secs[r] < lo)
			lo = c->secs[r];
		if (c->secs[r] > hi)
			hi = c->secs[r];
	}
	double med = median(c->secs, c->done), n = (double)c->items;
	f.mops = n / med / 1e6;
	f.ns = med * 1e9 / n;
	f.mmin = n / hi / 1e6;
	f.mmax = n / lo / 1e6;
	return f;
}

struct outputs {
	const char *csv, *json;
	uint64_t capacity, items;
	unsigned reps;
	enum placement place;
	/* The host's cache-line round trip before the sweep and after it
	 * (hostprobe.h): the figures of a sweep on a slow host say so. */
	struct ccp_host_probe host_before, host_after;
};

static FILE *open_tmp(const char *path, char *tmp, size_t size)
{
	snprintf(tmp, size, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "bench_ring: cannot write '%s': %s\n", tmp, strerror(errno));
		exit(2);
	}
	return f;
}

static void close_tmp(FILE *f, const char *tmp, const char *path)
{
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "bench_ring: cannot write '%s': %s\n", path, strerror(errno));
		exit(2);
	}
}

/* Writes the CSV and the JSON afresh (through a rename, so a reader or a
 * kill never sees half a file) with every cell that has run so far;
 * `complete` says whether the sweep ended. */
static void write_results(const struct outputs *o, struct cell *cells, unsigned ncells,
			  bool complete, bool all_ok)
{
	char tmp[4200];
	if (o->csv) {
		FILE *f = open_tmp(o->csv, tmp, sizeof(tmp));
		fprintf(f, "queue,producers,consumers,burst,items,reps,mops_median,"
			   "ns_per_item_median,mops_min,mops_max,census\n");
		for (unsigned i = 0; i < ncells; i++) {
			struct cell *c = &cells[i];
			if (!c->ran)
				continue;
			struct figures g = figures_of(c);
			fprintf(f, "%s,%u,%u,%u,%" PRIu64 ",%u,%.3f,%.3f,%.3f,%.3f,%s\n",
				c->ops->name, c->ratio.p, c->ratio.c, c->burst, c->items, c->done,
				g.mops, g.ns, g.mmin, g.mmax, census_word(c));
		}
		close_tmp(f, tmp, o->csv);
	}
	if (o->json) {
		FILE *f = open_tmp(o->json, tmp, sizeof(tmp));
		fprintf(f, "{\"benchmark\":\"ring\",\"capacity\":%" PRIu64 ",\"items\":%" PRIu64
			   ",\"reps\":%u,\"pin\":%s,\"placement\":\"%s\",\"cpus\":%d,"
			   "\"complete\":%s,\"cells\":[\n",
			o->capacity, o->items, o->reps, o->place != PLACE_NONE ? "true" : "false",
			placements[o->place].name, ncpus,
			complete ? "true" : "false");
		bool first = true;
		for (unsigned i = 0; i < ncells; i++) {
			struct cell *c = &cells[i];
			if (!c->ran)
				continue;
			struct figures g = figures_of(c);
			fprintf(f,
				"%s{\"queue\":\"%s\",\"producers\":%u,\"consumers\":%u,\"burst\":%u,"
				"\"items\":%" PRIu64 ",\"reps\":%u,\"mops_median\":%.3f,"
				"\"ns_per_item_median\":%.3f,\"mops_min\":%.3f,\"mops_max\":%.3f,"
				"\"lost\":%" PRIu64 ",\"doubled\":%" PRIu64 ",\"misordered\":%" PRIu64
				",\"census\":\"%s\"}",
				first ? "" : ",\n", c->ops->name, c->ratio.p, c->ratio.c, c->burst,
				c->items, c->done, g.mops, g.ns, g.mmin, g.mmax, c->lost, c->doubled,
				c->misordered, census_word(c));
			first = false;
		}
		fprintf(f, "\n],");
		ccp_host_probe_json(f, &o->host_before, &o->host_after);
		fprintf(f, ",\"census\":\"%s\"}\n", all_ok ? "ok" : "FAIL");
		close_tmp(f, tmp, o->json);
	}
}

static void print_round_trips(const struct outputs *o)
{
	printf("threads: %s\n", placements[o->place].words);
	printf("host round trip: ");
	const struct ccp_host_probe *h[2] = { &o->host_before, &o->host_after };
	for (int i = 0; i < 2; i++) {
		ccp_host_probe_print(stdout, h[i]);
		printf(i ? " after the sweep\n" : " before, ");
	}
}

static void print_table(struct cell *cells, unsigned ncells)
{
	printf("%-13s %5s %5s %12s %12s %12s %12s  %s\n", "queue", "P:C", "burst", "Mops/s",
	       "ns/item", "min Mops/s", "max Mops/s", "census");
	for (unsigned i = 0; i < ncells; i++) {
		struct cell *c = &cells[i];
		if (!c->ran)
			continue;
		struct figures g = figures_of(c);
		printf("%-13s %2u:%-2u %5u %12.2f %12.2f %12.2f %12.2f  %s\n", c->ops->name,
		       c->ratio.p, c->ratio.c, c->burst, g.mops, g.ns, g.mmin, g.mmax,
		       census_word(c));
	}
}

/* Adds one run's outcome to its cell; `measured` keeps its time. */
static void add_outcome(struct cell *c, const struct outcome *o, bool measured)
{
	if (measured || o->stalled || !o->ok)
		c->ran = true;
	if (o->stuck) {
		c->stuck = true;
		c->producers_finished = o->producers_finished;
	}
	if (o->stalled)
		c->stalled = true;
	if (!o->ok)
		c->ok = false;
	if (o->items == 0) /* crashed, or no answer: no census */
		return;
	c->lost += o->lost;
	c->doubled += o->doubled;
	c->misordered += o->misordered;
	if (measured && o->ok && !o->stalled)
		c->secs[c->done++] = o->seconds;
}

static const struct bq_ops *queue_by_name(const char *name, bool *known)
{
	*known = true;
	if (!strcmp(name, "ccp_ring") || !strcmp(name, "ours"))
		return fault != FAULT_NONE ? &faulty_ops : &ours_ops;
	if (!strcmp(name, "ccp_ring_words"))
		return &words_ops;
	if (!strcmp(name, "ck_ring") || !strcmp(name, "ck"))
		return &ck_ops;
	if (!strcmp(name, "wfcqueue") || !strcmp(name, "wfcq"))
		return &wf_ops;
	if (!strcmp(name, "ccp_lockq") || !strcmp(name, "lockq") || !strcmp(name, "mutex"))
		return &lq_ops;
	if (!strcmp(name, "rte_ring") || !strcmp(name, "rte"))
		return bq_rte_ops(0);
	if (!strcmp(name, "rte_ring_rts") || !strcmp(name, "rte_rts"))
		return bq_rte_ops(1);
	*known = false;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_ring [options] [RESULTS_DIR]\n"
		"  --queues LIST    ccp_ring,ck_ring,rte_ring,rte_ring_rts,wfcqueue,ccp_lockq\n"
		"                   (and on request ccp_ring_words: ccp_ring moving a\n"
		"                   burst's slot words one by one, as without AVX)\n"
		"  --threads LIST   producers:consumers pairs (1:1,2:2,4:4)\n"
		"  --bursts LIST    burst sizes, 1..%d (1,8,32,128)\n"
		"  --items N        items per cell and repetition (4000000)\n"
		"  --reps N         repetitions; the median is reported (5)\n"
		"  --capacity N     ring slots, a power of two (4096)\n"
		"  --warmup N       items of an unmeasured run before each cell (items/10)\n"
		"  --pin            pin producer i and consumer i to the i-th CPU this\n"
		"                   process may use (mod their count): at 1:1 one CPU does\n"
		"                   both sides by turns; exits 2 if it cannot\n"
		"  --pin-split      pin producers and consumers to different CPUs: producer\n"
		"                   i to the (2i)-th, consumer i to the (2i+1)-th (mod their\n"
		"                   count), as DPDK's ring_perf places two cores; needs two\n"
		"                   CPUs, exits 2 if it cannot pin\n"
		"  --quick          the short set: items 1000000, reps 3, run limit 3 s\n"
		"  --csv PATH       CSV output (RESULTS_DIR/ring.csv)\n"
		"  --json PATH      JSON output (RESULTS_DIR/ring.json)\n"
		"  --run-limit S    seconds before a run is stopped and judged by its census\n"
		"                   (after %.0f s more at most): clean, stalled; lost, LOST (30;\n"
		"                   --quick: 3)\n"
		"  --quiet          no table on stdout\n"
		"  --inject-fault F test only: ccp_ring, renamed ccp_ring+F, breaks once a\n"
		"                   run: hole, drop, pill or twice (bench/ring/smoke.sh)\n"
		"The CSV and JSON are rewritten after each (ratio, burst) group and on\n"
		"SIGTERM or SIGINT.  Exits 1 when any run loses, doubles or reorders an item\n"
		"(census LOST or FAIL), 2 on a usage or setup error.\n",
		MAX_BURST, QUIET_S);
}

static int parse_list(const char *s, unsigned *out, unsigned max_n, unsigned lo, unsigned hi)
{
	unsigned n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);
		if (*end || v < lo || v > hi || n == max_n) {
			free(copy);
			return -1;
		}
		out[n++] = (unsigned)v;
	}
	free(copy);
	return (int)n;
}

/* The CPUs this process may run on, as src/engine/pump.c finds them. */
static void find_cpus(void)
{
	cpu_set_t set;
	ncpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpus++] = c;
	if (ncpus == 0) {
		fprintf(stderr, "bench_ring: sched_getaffinity: %s\n", strerror(errno));
		exit(2);
	}
}

static void report_group(struct cell *cells, unsigned nq, double limit_s)
{
	for (unsigned k = 0; k < nq; k++) {
		struct cell *c = &cells[k];
		if (c->stalled && c->ok)
			fprintf(stderr,
				"bench_ring: %s %u:%u burst %u stalled: a run did not finish in "
				"%.0f s, still moving (%u threads on %d CPUs)\n",
				c->ops->name, c->ratio.p, c->ratio.c, c->burst, limit_s,
				c->ratio.p + c->ratio.c, ncpus);
		if (c->stuck)
			fprintf(stderr,
				"bench_ring: LOST %s %u:%u burst %u: a run stopped moving for %.0f s "
				"past its %.0f s limit, %s\n",
				c->ops->name, c->ratio.p, c->ratio.c, c->burst, QUIET_S, limit_s,
				c->producers_finished
					? "with every item and pill enqueued: consumers cannot reach them"
					: "its producers finding it full and its consumers empty");
		if (!c->ok)
			fprintf(stderr,
				"bench_ring: %s %s %u:%u burst %u: %" PRIu64 " lost, %" PRIu64
				" doubled, %" PRIu64 " out of order\n",
				census_word(c), c->ops->name, c->ratio.p, c->ratio.c, c->burst,
				c->lost, c->doubled, c->misordered);
	}
}

int main(int argc, char **argv)
{
	const char *queues = "ccp_ring,ck_ring,rte_ring,rte_ring_rts,wfcqueue,ccp_lockq";
	const char *threads = "1:1,2:2,4:4";
	const char *bursts_s = "1,8,32,128";
	uint64_t items = 4000000, capacity = 4096, warmup = UINT64_MAX;
	unsigned reps = 5;
	enum placement place = PLACE_NONE;
	bool quick = false, quiet = false;
	const char *csv_path = NULL, *json_path = NULL;
	bool items_given = false, reps_given = false, limit_given = false;
	double limit_s = 30;

	enum { O_QUEUES = 256, O_THREADS, O_BURSTS, O_ITEMS, O_REPS, O_CAP, O_WARM, O_PIN,
	       O_PIN_SPLIT, O_QUICK, O_CSV, O_JSON, O_QUIET, O_LIMIT, O_FAULT, O_HELP };
	static const struct option longopts[] = {
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "bursts", required_argument, NULL, O_BURSTS },
		{ "items", required_argument, NULL, O_ITEMS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "capacity", required_argument, NULL, O_CAP },
		{ "warmup", required_argument, NULL, O_WARM },
		{ "pin", no_argument, NULL, O_PIN },
		{ "pin-split", no_argument, NULL, O_PIN_SPLIT },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "csv", required_argument, NULL, O_CSV },
		{ "json", required_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "run-limit", required_argument, NULL, O_LIMIT },
		{ "inject-fault", required_argument, NULL, O_FAULT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	opterr = 0; /* one line of our own for a bad flag */
	for (;;) {
		int li = -1;
		int c = getopt_long(argc, argv, "", longopts, &li);
		if (c == -1)
			break;
		char *end = NULL;
		switch (c) {
		case O_QUEUES: queues = optarg; break;
		case O_THREADS: threads = optarg; break;
		case O_BURSTS: bursts_s = optarg; break;
		case O_ITEMS:
			items_given = true;
			if (!parse_count(optarg, 1, (1ull << PROD_SHIFT) - 1, &items))
				goto bad;
			break;
		case O_REPS: {
			uint64_t v;
			reps_given = true;
			if (!parse_count(optarg, 1, 1000, &v))
				goto bad;
			reps = (unsigned)v;
			break;
		}
		case O_CAP:
			if (!parse_count(optarg, 2, 1u << 30, &capacity) || (capacity & (capacity - 1)))
				goto bad;
			break;
		case O_WARM:
			if (!parse_count(optarg, 0, (1ull << PROD_SHIFT) - 1, &warmup))
				goto bad;
			break;
		case O_PIN: place = PLACE_PAIRS; break;
		case O_PIN_SPLIT: place = PLACE_SPLIT; break;
		case O_QUICK: quick = true; break;
		case O_CSV: csv_path = optarg; break;
		case O_JSON: json_path = optarg; break;
		case O_QUIET: quiet = true; break;
		case O_LIMIT:
			limit_s = strtod(optarg, &end);
			limit_given = true;
			/* strtod() takes signs, spaces, hex, inf and nan. */
			if (!is_digit(optarg[0]) || *end || !(limit_s > 0 && limit_s < 86400))
				goto bad;
			break;
		case O_FAULT:
			fault = FAULT_NONE; /* the last --inject-fault, checked on its own */
			for (unsigned f = FAULT_HOLE; f <= FAULT_TWICE; f++)
				if (!strcmp(optarg, fault_names[f]))
					fault = (enum fault)f;
			if (fault == FAULT_NONE)
				goto bad;
			snprintf(faulty_name, sizeof(faulty_name), "ccp_ring+%s", optarg);
			break;
		case O_HELP: usage(stdout); return 0;
		default:
			fprintf(stderr, "bench_ring: unknown option or missing value: %s "
					"(try --help)\n", argv[optind - 1]);
			return 2;
		bad:
			fprintf(stderr, "bench_ring: bad value '%s' for --%s\n", optarg,
				longopts[li].name);
			return 2;
		}
	}
	if (quick) {
		if (!items_given)
			items = 1000000;
		if (!reps_given)
			reps = 3;
		if (!limit_given)
			limit_s = 3;
	}
	if (warmup == UINT64_MAX)
		warmup = items / 10;
	find_cpus();
	if (place == PLACE_SPLIT && ncpus < 2) {
		fprintf(stderr, "bench_ring: --pin-split: this process may use one CPU only\n");
		return 2;
	}
	char pathbuf[2][4096];
	if (optind < argc) {
		const char *dir = argv[optind];
		if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "bench_ring: cannot make '%s': %s\n", dir, strerror(errno));
			return 2;
		}
		if (!csv_path) {
			snprintf(pathbuf[0], sizeof(pathbuf[0]), "%s/ring.csv", dir);
			csv_path = pathbuf[0];
		}
		if (!json_path) {
			snprintf(pathbuf[1], sizeof(pathbuf[1]), "%s/ring.json", dir);
			json_path = pathbuf[1];
		}
	}

	/* Bursts first: a bad one is named alone, before any queue is skipped. */
	unsigned bursts[32];
	int nb = parse_list(bursts_s, bursts, CCP_ARRAY_LEN(bursts), 1, MAX_BURST);
	if (nb <= 0) {
		fprintf(stderr, "bench_ring: bad --bursts '%s' (a list of 1..%d)\n", bursts_s,
			MAX_BURST);
		return 2;
	}
	/* Queues. */
	const struct bq_ops *qs[16];
	unsigned nq = 0;
	{
		char *copy = strdup(queues), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			bool known;
			const struct bq_ops *o = queue_by_name(t, &known);
			if (!known) {
				fprintf(stderr, "bench_ring: unknown queue '%s'\n", t);
				return 2;
			}
			if (!o) {
				fprintf(stderr, "bench_ring: %s skipped: built without DPDK "
						"(libdpdk not found by pkg-config, or a static or "
						"sanitizer build)\n", t);
				continue;
			}
			if (nq < CCP_ARRAY_LEN(qs))
				qs[nq++] = o;
		}
		free(copy);
	}
	/* Ratios. */
	struct ratio ratios[32];
	unsigned nr = 0;
	{
		char *copy = strdup(threads), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			unsigned p, c;
			char tail;
			if (sscanf(t, "%u:%u%c", &p, &c, &tail) != 2 || p < 1 || c < 1 ||
			    p > MAX_THREADS || c > MAX_THREADS || nr == CCP_ARRAY_LEN(ratios)) {
				fprintf(stderr, "bench_ring: bad --threads entry '%s' (P:C, 1..%d)\n",
					t, MAX_THREADS);
				return 2;
			}
			ratios[nr++] = (struct ratio){ p, c };
		}
		free(copy);
	}
	if (nq == 0 || nr == 0) {
		fprintf(stderr, "bench_ring: nothing to run (check --queues, --threads, --bursts)\n");
		return 2;
	}

	unsigned ncells = nq * nr * (unsigned)nb;
	struct cell *cells = calloc(ncells, sizeof(*cells));
	for (unsigned i = 0; i < ncells; i++) {
		cells[i].ops = qs[i % nq];
		cells[i].burst = bursts[(i / nq) % (unsigned)nb];
		cells[i].ratio = ratios[i / (nq * (unsigned)nb)];
		cells[i].secs = calloc(reps, sizeof(double));
		cells[i].ok = true;
		cells[i].items = items / cells[i].ratio.p * cells[i].ratio.p;
	}
	struct outputs outs = { .csv = csv_path, .json = json_path, .capacity = capacity,
				.items = items, .reps = reps, .place = place };
	ccp_host_probe_round_trip(&outs.host_before);

	/* A stop signal ends the sweep between runs, or kills the run under
	 * way; what is done is written. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* For each (ratio, burst): a warm-up run of every queue, then the
	 * repetitions interleaved across queues (ABAB...).  The warm-up is a
	 * child of its own, like every run: it does not warm the measured
	 * runs' memory, but finds a stalling or failing queue early and spares
	 * its repetitions. */
	bool all_ok = true;
	for (unsigned g = 0; g < ncells && !stop_signal; g += nq) {
		for (unsigned rep = 0; rep <= reps && !stop_signal; rep++) {
			bool measured = rep > 0;
			if (!measured && warmup == 0)
				continue;
			for (unsigned k = 0; k < nq && !stop_signal; k++) {
				struct cell *c = &cells[g + k];
				struct outcome o;
				/* A stalled or failed cell is not run again: one
				 * limit's wait says it. */
				if (c->stalled || !c->ok)
					continue;
				enum run_rc rc = run_isolated(c->ops, c->ratio.p, c->ratio.c, c->burst,
							      measured ? items : warmup, capacity, place,
							      limit_s, &o);
				if (rc == RUN_STOPPED)
					break;
				if (rc == RUN_NO_QUEUE) {
					fprintf(stderr, "bench_ring: %s: cannot create the queue\n",
						c->ops->name);
					return 2;
				}
				if (rc == RUN_NO_PIN)
					return 2;
				add_outcome(c, &o, measured);
			}
		}
		if (stop_signal)
			break;
		report_group(&cells[g], nq, limit_s);
		for (unsigned k = 0; k < nq; k++)
			all_ok = all_ok && cells[g + k].ok;
		write_results(&outs, cells, ncells, false, all_ok);
	}
	ccp_host_probe_round_trip(&outs.host_after);
	if (stop_signal) {
		for (unsigned i = 0; i < ncells; i++)
			all_ok = all_ok && cells[i].ok;
		write_results(&outs, cells, ncells, false, all_ok);
		fprintf(stderr, "bench_ring: stopped by signal %d; the cells done so far are "
				"written\n", (int)stop_signal);
		if (!quiet) {
			print_table(cells, ncells);
			print_round_trips(&outs);
		}
		return 128 + stop_signal;
	}
	write_results(&outs, cells, ncells, true, all_ok);
	if (!quiet) {
		print_table(cells, ncells);
		print_round_trips(&outs);
	}
	for (unsigned i = 0; i < ncells; i++)
		free(cells[i].secs);
	free(cells);
	return all_ok ? 0 : 1;
}

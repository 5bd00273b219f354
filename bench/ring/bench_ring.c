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
 * After the run the bitmaps are merged: every item must be in exactly one,
 * or the run fails with a nonzero exit.
 *
 * Waiting is the harness's, the same for every queue: spin with a pause,
 * and yield after a while, so 4:4 on 2 cores still moves.  A cell's time
 * runs from releasing the threads to joining them.  Cells run interleaved:
 * repetition r of every queue before repetition r+1 of any, so a noisy
 * neighbour hurts all queues alike; the median of the repetitions is
 * reported.
 *
 * Each run is a child process with a time limit (--run-limit).  With more
 * threads than CPUs, queues whose threads wait for each other in turn
 * (rte_ring's default mode, ck_ring's MPMC) can crawl: a cell that hits the
 * limit is reported as "stalled", with no figure, and is not run again.
 * A stall is a finding, not a failure; only a lost, doubled or reordered
 * item fails the run.
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

#include "ccpump/compiler.h"
#include "ccpump/lockq.h"
#include "ccpump/ring.h"

#include "queues.h"

#define MAX_THREADS 256
#define MAX_BURST 1024
#define PROD_SHIFT 40
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
static struct bq *ours_create(uint64_t capacity, uint64_t items)
{
	(void)items;
	return (struct bq *)ccp_ring_create(capacity);
}
static void ours_destroy(struct bq *q)
{
	ccp_ring_destroy((struct ccp_ring *)q);
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
 * refusal, as a caller of ck would write it. */
struct ckq {
	struct ck_ring ring;
	ck_ring_buffer_t *buf;
};
static struct bq *ck_create(uint64_t capacity, uint64_t items)
{
	(void)items;
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
 * item (and pill), and handed out by a shared counter, so allocation is not
 * measured; a burst enqueue is n wait-free enqueues and a burst dequeue is n
 * dequeues under one hold of the dequeue lock. */
struct wfnode {
	struct cds_wfcq_node node;
	uintptr_t word;
};
struct wfq {
	struct cds_wfcq_head head;
	char pad0[CCP_CACHE_GUARD];
	struct cds_wfcq_tail tail;
	char pad1[CCP_CACHE_GUARD];
	_Atomic uint64_t next_node;
	char pad2[CCP_CACHE_GUARD];
	struct wfnode *nodes;
	uint64_t n_nodes;
};
static struct bq *wf_create(uint64_t capacity, uint64_t items)
{
	(void)capacity;
	struct wfq *q = guard_alloc(sizeof(*q));
	if (!q)
		return NULL;
	q->nodes = calloc(items, sizeof(*q->nodes));
	if (!q->nodes) {
		free(q);
		return NULL;
	}
	q->n_nodes = items;
	atomic_init(&q->next_node, 0);
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
	/* One fetch-add per burst hands this producer n private nodes. */
	uint64_t first = atomic_fetch_add_explicit(&f->next_node, n, memory_order_relaxed);
	if (first + n > f->n_nodes) {
		fprintf(stderr, "bench_ring: wfcqueue node pool exhausted\n");
		abort();
	}
	for (unsigned i = 0; i < n; i++) {
		struct wfnode *nd = &f->nodes[first + i];
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
static struct bq *lq_create(uint64_t capacity, uint64_t items)
{
	(void)items;
	struct ccp_lockq *q = guard_alloc(sizeof(*q));
	if (q && ccp_lockq_init(q, capacity) != 0) {
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
static const struct bq_ops ck_ops = { "ck_ring", true, ck_create, ck_destroy, ck_enq, ck_deq };
static const struct bq_ops wf_ops = { "wfcqueue", true, wf_create, wf_destroy, wf_enq, wf_deq };
static const struct bq_ops lq_ops = { "ccp_lockq", true, lq_create, lq_destroy, lq_enq, lq_deq };

/* ---- one run ------------------------------------------------------------- */

struct run {
	const struct bq_ops *ops;
	struct bq *q;
	unsigned producers, consumers, burst;
	uint64_t per_producer;
	bool pin;
	long ncpu;
	_Atomic unsigned ready;
	_Atomic bool go;
	_Atomic unsigned producers_done;
	_Atomic unsigned pills_seen;
	_Atomic uint64_t order_errors;
	_Atomic uint64_t doubles;
	uint64_t **census; /* one bitmap per consumer */
};

struct worker {
	struct run *run;
	unsigned id; /* producer id, or consumer index */
	unsigned cpu;
	pthread_t tid;
};

static void pin_to(unsigned cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void wait_start(struct worker *w)
{
	if (w->run->pin)
		pin_to(w->cpu);
	atomic_fetch_add_explicit(&w->run->ready, 1, memory_order_acq_rel);
	while (!atomic_load_explicit(&w->run->go, memory_order_acquire))
		ccp_cpu_relax();
}

/* The harness's wait, the same for every queue. */
static inline void backoff(unsigned *spins)
{
	if (++*spins < SPINS_BEFORE_YIELD) {
		ccp_cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static void enqueue_all(struct run *r, const uintptr_t *words, unsigned n)
{
	unsigned spins = 0;
	while (n > 0) {
		unsigned k = r->ops->enq(r->q, words, n);
		words += k;
		n -= k;
		if (k == 0)
			backoff(&spins);
		else
			spins = 0;
	}
}

static void *producer_main(void *arg)
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
		enqueue_all(r, words, n);
		s += n;
	}
	/* The last producer out sends the pills: acq_rel orders every other
	 * producer's enqueues before them. */
	if (atomic_fetch_add_explicit(&r->producers_done, 1, memory_order_acq_rel) + 1 ==
	    r->producers) {
		for (unsigned i = 0; i < r->consumers; i++) {
			uintptr_t pill = PILL;
			enqueue_all(r, &pill, 1);
		}
	}
	return NULL;
}

static void *consumer_main(void *arg)
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
			if (atomic_load_explicit(&r->pills_seen, memory_order_acquire) ==
			    r->consumers)
				break;
			backoff(&spins);
			continue;
		}
		spins = 0;
		unsigned pills = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = (uint64_t)words[i];
			if (ccp_unlikely(v == PILL)) {
				pills++;
				continue;
			}
			v -= 1;
			unsigned p = (unsigned)(v >> PROD_SHIFT);
			uint64_t seq = v & (((uint64_t)1 << PROD_SHIFT) - 1);
			if (ccp_unlikely(p >= r->producers || seq >= r->per_producer)) {
				order_errors++;
				continue;
			}
			if (r->ops->fifo && ccp_unlikely(seq + 1 <= last[p]))
				order_errors++;
			last[p] = seq + 1;
			uint64_t idx = (uint64_t)p * r->per_producer + seq;
			uint64_t bit = (uint64_t)1 << (idx & 63);
			if (ccp_unlikely(bits[idx >> 6] & bit))
				doubles++;
			bits[idx >> 6] |= bit;
		}
		if (pills)
			atomic_fetch_add_explicit(&r->pills_seen, pills, memory_order_acq_rel);
	}
	atomic_fetch_add_explicit(&r->order_errors, order_errors, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->doubles, doubles, memory_order_relaxed);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct outcome {
	double seconds;
	uint64_t items;
	uint64_t lost, doubled, misordered;
	bool ok;
	bool stalled; /* killed at the run time limit */
};

/* Runs one cell once.  Returns -1 when the queue cannot be made. */
static int run_once(const struct bq_ops *ops, unsigned np, unsigned nc, unsigned burst,
		    uint64_t items, uint64_t capacity, bool pin, struct outcome *out)
{
	struct run *r = calloc(1, sizeof(*r));
	struct worker *ws = calloc(np + nc, sizeof(*ws));
	if (!r || !ws) {
		fprintf(stderr, "bench_ring: out of memory\n");
		exit(2);
	}
	r->ops = ops;
	r->producers = np;
	r->consumers = nc;
	r->burst = burst;
	r->per_producer = items / np;
	r->pin = pin;
	r->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (r->ncpu < 1)
		r->ncpu = 1;
	uint64_t total = r->per_producer * np;
	r->q = ops->create(capacity, total + nc);
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
	/* Producer i and consumer i share CPU i (mod the CPU count): a pair
	 * per core, as an application would place a stage and its peer. */
	for (unsigned i = 0; i < np + nc; i++) {
		ws[i].run = r;
		ws[i].id = i < np ? i : i - np;
		ws[i].cpu = (unsigned)((i < np ? i : i - np) % (unsigned long)r->ncpu);
		int e = pthread_create(&ws[i].tid, NULL, i < np ? producer_main : consumer_main,
				       &ws[i]);
		if (e) {
			fprintf(stderr, "bench_ring: pthread_create: %s\n", strerror(e));
			exit(2);
		}
	}
	while (atomic_load_explicit(&r->ready, memory_order_acquire) < np + nc)
		sched_yield();
	double t0 = now_s();
	atomic_store_explicit(&r->go, true, memory_order_release);
	for (unsigned i = 0; i < np + nc; i++)
		pthread_join(ws[i].tid, NULL);
	double t1 = now_s();

	/* Census: every item in exactly one consumer's bitmap. */
	uint64_t lost = 0, doubled = atomic_load(&r->doubles);
	for (size_t i = 0; i < words; i++) {
		uint64_t any = 0, twice = 0;
		for (unsigned c = 0; c < nc; c++) {
			twice |= any & r->census[c][i];
			any |= r->census[c][i];
		}
		uint64_t want = ~(uint64_t)0;
		if (i == words - 1 && total % 64)
			want = ((uint64_t)1 << (total % 64)) - 1;
		lost += (uint64_t)__builtin_popcountll(want & ~any);
		doubled += (uint64_t)__builtin_popcountll(twice);
	}
	out->seconds = t1 - t0;
	out->items = total;
	out->lost = lost;
	out->doubled = doubled;
	out->misordered = atomic_load(&r->order_errors);
	out->ok = lost == 0 && doubled == 0 && out->misordered == 0;

	for (unsigned c = 0; c < nc; c++)
		free(r->census[c]);
	free(r->census);
	ops->destroy(r->q);
	free(ws);
	free(r);
	return 0;
}

/*
 * Runs one cell once in a child process, killed after limit_s seconds.
 * Queues whose producers (or consumers) wait for each other in turn, as
 * rte_ring's default mode and ck_ring's MPMC calls do, can crawl for
 * minutes when there are more threads than CPUs: each item waits for the
 * right preempted thread to be scheduled again.  A child can be killed
 * where such a thread cannot, so the sweep goes on and reports the cell as
 * stalled.  Returns -1 when the queue cannot be made.
 */
static int run_isolated(const struct bq_ops *ops, unsigned np, unsigned nc, unsigned burst,
			uint64_t items, uint64_t capacity, bool pin, double limit_s,
			struct outcome *out)
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
		close(fds[0]);
		struct outcome o = { 0 };
		int rc = run_once(ops, np, nc, burst, items, capacity, pin, &o);
		if (rc != 0)
			_exit(3); /* no outcome: the parent reads the status */
		ssize_t w = write(fds[1], &o, sizeof(o));
		_exit(rc == 0 && w == (ssize_t)sizeof(o) ? 0 : 3);
	}
	close(fds[1]);
	struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
	int ready = poll(&pfd, 1, (int)(limit_s * 1000));
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (ready == 1 && read(fds[0], out, sizeof(*out)) == (ssize_t)sizeof(*out)) {
		int st;
		waitpid(pid, &st, 0);
	} else if (ready == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		out->stalled = true;
		out->ok = true; /* nothing was seen lost or doubled; too slow to tell */
	} else {
		/* No outcome: the queue could not be made (exit 3), or the run
		 * crashed, which fails the cell like a lost item. */
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
			rc = -1;
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
	bool stalled; /* a run hit the time limit; no figure */
	uint64_t items, lost, doubled, misordered;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const struct bq_ops *queue_by_name(const char *name, bool *known)
{
	*known = true;
	if (!strcmp(name, "ccp_ring") || !strcmp(name, "ours"))
		return &ours_ops;
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
		"  --threads LIST   producers:consumers pairs (1:1,2:2,4:4)\n"
		"  --bursts LIST    burst sizes, 1..%d (1,8,32,128)\n"
		"  --items N        items per cell and repetition (4000000)\n"
		"  --reps N         repetitions; the median is reported (5)\n"
		"  --capacity N     ring slots, a power of two (4096)\n"
		"  --warmup N       items of an unmeasured run before each cell (items/10)\n"
		"  --pin            pin producer i and consumer i to CPU i mod CPUs\n"
		"  --quick          the short set: items 1000000, reps 3, run limit 3 s\n"
		"  --csv PATH       CSV output (RESULTS_DIR/ring.csv)\n"
		"  --json PATH      JSON output (RESULTS_DIR/ring.json)\n"
		"  --run-limit S    seconds before a run is killed and its cell marked\n"
		"                   stalled (30; --quick: 3)\n"
		"  --quiet          no table on stdout\n"
		"Exits 1 when any run loses, doubles or reorders an item.\n",
		MAX_BURST);
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

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "bench_ring: cannot write '%s': %s\n", path, strerror(errno));
		exit(2);
	}
	return f;
}

int main(int argc, char **argv)
{
	const char *queues = "ccp_ring,ck_ring,rte_ring,rte_ring_rts,wfcqueue,ccp_lockq";
	const char *threads = "1:1,2:2,4:4";
	const char *bursts_s = "1,8,32,128";
	uint64_t items = 4000000, capacity = 4096, warmup = UINT64_MAX;
	unsigned reps = 5;
	bool pin = false, quick = false, quiet = false;
	const char *csv_path = NULL, *json_path = NULL;
	bool items_given = false, reps_given = false, limit_given = false;
	double limit_s = 30;

	enum { O_QUEUES = 256, O_THREADS, O_BURSTS, O_ITEMS, O_REPS, O_CAP, O_WARM, O_PIN,
	       O_QUICK, O_CSV, O_JSON, O_QUIET, O_LIMIT, O_HELP };
	static const struct option longopts[] = {
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "bursts", required_argument, NULL, O_BURSTS },
		{ "items", required_argument, NULL, O_ITEMS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "capacity", required_argument, NULL, O_CAP },
		{ "warmup", required_argument, NULL, O_WARM },
		{ "pin", no_argument, NULL, O_PIN },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "csv", required_argument, NULL, O_CSV },
		{ "json", required_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "run-limit", required_argument, NULL, O_LIMIT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	for (;;) {
		int c = getopt_long(argc, argv, "", longopts, NULL);
		if (c == -1)
			break;
		char *end = NULL;
		switch (c) {
		case O_QUEUES: queues = optarg; break;
		case O_THREADS: threads = optarg; break;
		case O_BURSTS: bursts_s = optarg; break;
		case O_ITEMS:
			items = strtoull(optarg, &end, 10);
			items_given = true;
			if (*end || items < 1 || items >= (1ull << PROD_SHIFT))
				goto bad;
			break;
		case O_REPS:
			reps = (unsigned)strtoul(optarg, &end, 10);
			reps_given = true;
			if (*end || reps < 1 || reps > 1000)
				goto bad;
			break;
		case O_CAP:
			capacity = strtoull(optarg, &end, 10);
			if (*end || capacity < 2 || capacity > (1u << 30) || (capacity & (capacity - 1)))
				goto bad;
			break;
		case O_WARM:
			warmup = strtoull(optarg, &end, 10);
			if (*end)
				goto bad;
			break;
		case O_PIN: pin = true; break;
		case O_QUICK: quick = true; break;
		case O_CSV: csv_path = optarg; break;
		case O_JSON: json_path = optarg; break;
		case O_QUIET: quiet = true; break;
		case O_LIMIT:
			limit_s = strtod(optarg, &end);
			limit_given = true;
			if (*end || !(limit_s > 0 && limit_s < 86400))
				goto bad;
			break;
		case O_HELP: usage(stdout); return 0;
		default:
			fprintf(stderr, "bench_ring: unknown option or missing value (try --help)\n");
			return 2;
		bad:
			fprintf(stderr, "bench_ring: bad value '%s' for %s\n", optarg,
				argv[optind - 1]);
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
	unsigned bursts[32];
	int nb = parse_list(bursts_s, bursts, CCP_ARRAY_LEN(bursts), 1, MAX_BURST);
	if (nb <= 0 || nq == 0 || nr == 0) {
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
	}

	/* For each (ratio, burst): warm every queue, then interleave the
	 * repetitions across queues (ABAB...). */
	bool all_ok = true;
	for (unsigned g = 0; g < ncells; g += nq) {
		for (unsigned k = 0; k < nq; k++) {
			struct cell *c = &cells[g + k];
			struct outcome o;
			if (warmup > 0 &&
			    run_isolated(c->ops, c->ratio.p, c->ratio.c, c->burst, warmup, capacity,
					 pin, limit_s, &o) == 0) {
				c->ok = c->ok && o.ok;
				c->stalled = o.stalled;
			}
		}
		for (unsigned rep = 0; rep < reps; rep++) {
			for (unsigned k = 0; k < nq; k++) {
				struct cell *c = &cells[g + k];
				struct outcome o;
				/* A stalled cell is not run again: one limit's wait says it. */
				if (c->stalled)
					continue;
				if (run_isolated(c->ops, c->ratio.p, c->ratio.c, c->burst, items,
						 capacity, pin, limit_s, &o) != 0) {
					fprintf(stderr, "bench_ring: %s: cannot create the queue\n",
						c->ops->name);
					return 2;
				}
				if (o.stalled) {
					c->stalled = true;
					continue;
				}
				if (o.items == 0) { /* crashed: no time to keep */
					c->ok = false;
					continue;
				}
				c->secs[c->done++] = o.seconds;
				c->items = o.items;
				c->lost += o.lost;
				c->doubled += o.doubled;
				c->misordered += o.misordered;
				if (!o.ok)
					c->ok = false;
			}
		}
		for (unsigned k = 0; k < nq; k++) {
			struct cell *c = &cells[g + k];
			if (c->stalled)
				fprintf(stderr,
					"bench_ring: %s %u:%u burst %u stalled: a run did not finish in "
					"%.0f s (%u threads on %ld CPUs)\n",
					c->ops->name, c->ratio.p, c->ratio.c, c->burst, limit_s,
					c->ratio.p + c->ratio.c, sysconf(_SC_NPROCESSORS_ONLN));
		}
		for (unsigned k = 0; k < nq; k++) {
			struct cell *c = &cells[g + k];
			if (!c->ok) {
				all_ok = false;
				fprintf(stderr,
					"bench_ring: FAIL %s %u:%u burst %u: %" PRIu64 " lost, %" PRIu64
					" doubled, %" PRIu64 " out of order\n",
					c->ops->name, c->ratio.p, c->ratio.c, c->burst, c->lost,
					c->doubled, c->misordered);
			}
		}
	}

	FILE *csv = csv_path ? open_out(csv_path) : NULL;
	FILE *js = json_path ? open_out(json_path) : NULL;
	if (csv)
		fprintf(csv, "queue,producers,consumers,burst,items,reps,mops_median,"
			     "ns_per_item_median,mops_min,mops_max,census\n");
	if (js)
		fprintf(js, "{\"benchmark\":\"ring\",\"capacity\":%" PRIu64 ",\"items\":%" PRIu64
			    ",\"reps\":%u,\"pin\":%s,\"cpus\":%ld,\"cells\":[\n",
			capacity, items, reps, pin ? "true" : "false",
			sysconf(_SC_NPROCESSORS_ONLN));
	if (!quiet)
		printf("%-13s %5s %5s %12s %12s %12s %12s  %s\n", "queue", "P:C", "burst",
		       "Mops/s", "ns/item", "min Mops/s", "max Mops/s", "census");
	for (unsigned i = 0; i < ncells; i++) {
		struct cell *c = &cells[i];
		double lo = 1e300, hi = 0;
		for (unsigned r = 0; r < c->done; r++) {
			if (c->secs[r] < lo)
				lo = c->secs[r];
			if (c->secs[r] > hi)
				hi = c->secs[r];
		}
		double mops = 0, ns = 0, mmin = 0, mmax = 0;
		if (c->done > 0 && !c->stalled) {
			double med = median(c->secs, c->done), n = (double)c->items;
			mops = n / med / 1e6;
			ns = med * 1e9 / n;
			mmin = n / hi / 1e6;
			mmax = n / lo / 1e6;
		}
		const char *census = !c->ok ? "FAIL" : c->stalled ? "stalled" : "ok";
		if (!quiet)
			printf("%-13s %2u:%-2u %5u %12.2f %12.2f %12.2f %12.2f  %s\n", c->ops->name,
			       c->ratio.p, c->ratio.c, c->burst, mops, ns, mmin, mmax, census);
		if (csv)
			fprintf(csv, "%s,%u,%u,%u,%" PRIu64 ",%u,%.3f,%.3f,%.3f,%.3f,%s\n",
				c->ops->name, c->ratio.p, c->ratio.c, c->burst, c->items, c->done,
				mops, ns, mmin, mmax, census);
		if (js)
			fprintf(js,
				"%s{\"queue\":\"%s\",\"producers\":%u,\"consumers\":%u,\"burst\":%u,"
				"\"items\":%" PRIu64 ",\"reps\":%u,\"mops_median\":%.3f,"
				"\"ns_per_item_median\":%.3f,\"mops_min\":%.3f,\"mops_max\":%.3f,"
				"\"lost\":%" PRIu64 ",\"doubled\":%" PRIu64 ",\"misordered\":%" PRIu64
				",\"census\":\"%s\"}",
				i ? ",\n" : "", c->ops->name, c->ratio.p, c->ratio.c, c->burst,
				c->items, c->done, mops, ns, mmin, mmax, c->lost, c->doubled,
				c->misordered, census);
		free(c->secs);
	}
	if (js) {
		fprintf(js, "\n],\"census\":\"%s\"}\n", all_ok ? "ok" : "FAIL");
		fclose(js);
	}
	if (csv)
		fclose(csv);
	free(cells);
	return all_ok ? 0 : 1;
}

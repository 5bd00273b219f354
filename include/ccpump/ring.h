/*
 * ring.h: a bounded lock-free MPMC ring of pointers, with burst operations.
 *
 * HOW IT WORKS
 * The ring is an array of 2^k slots of one 64-bit word each.  Producers and
 * consumers each own one free-running 64-bit position counter, on cache
 * lines of their own.  Position p lives in slot p & mask; its lap is
 * p / capacity.  A slot's word is the pointer stored at its position with
 * bit 63, the "tag", set to the low bit of that position's lap:
 *
 *     producer of p - capacity      producer of p        producer of p + capacity
 *     -----> [tag L-1 | obj'] ----------> [tag L | obj] ----------> [tag L+1 | obj'']
 *                  ^ consumer of p waits here until the tag is L's
 *
 * A consumer reads before it claims.  A burst dequeue reads cons_pos, takes
 * the objects of the next slots whose tag is their position's lap (stopping
 * at the first that still holds the previous lap's word), then claims that
 * many positions with one compare-and-swap on cons_pos.  When the CAS
 * succeeds the consumer is done with those slots: it never touches them
 * again.  So a producer needs no word from the slots, only cons_pos: every
 * position below cons_pos has been read, so positions up to cons_pos - 1 +
 * capacity may be stored.  A burst enqueue reads prod_pos and cons_pos,
 * claims up to that bound with one CAS on prod_pos, then stores each word
 * with a store-release, last slot first, so a consumer waiting at the first
 * slot finds the whole burst when it finds that one.
 *
 * Per item each side moves one 8-byte word: 8 items to a cache line, as in
 * DPDK's rte_ring, where a {sequence, pointer} slot (this ring's earlier
 * design, after Vyukov) fits 4 and is written by both sides.  Only the
 * producer writes a slot; the consumer only reads it, as in rte_ring.
 *
 * No thread ever waits for another thread of its own side: rte_ring's
 * producers spin until earlier producers move the shared tail, so one
 * preempted producer stalls them all (the "lock-waiter preemption" of
 * DPDK's RTS ring).  Here each slot is published on its own; a producer
 * preempted between its CAS and its stores only delays consumers at its own
 * slots (they see "empty" there instead of spinning), and producers a lap
 * later, which see the ring full.  A consumer holds nothing after its CAS,
 * so a preempted consumer delays nobody.  The caller's wait strategy
 * decides what to do.
 *
 * WHY ONE BIT OF LAP IS ENOUGH (no ABA, not just "in practice")
 * Take a consumer that loaded cons_pos == c and reads the slot of position
 * q, c <= q < c + capacity, lap L.  Lower bound: the consumer of
 * q - capacity (if any) moved cons_pos past it with a release CAS after
 * reading the lap L-1 word; every write of cons_pos is a CAS, so that CAS
 * heads a release sequence our acquire load of c synchronizes with, and our
 * read sees the lap L-1 word or a later one.  Upper bound: the producer of
 * q + capacity stores the lap L+1 word only after an acquire load of
 * cons_pos (its own, or another producer's through cons_seen: CACHED BOUND)
 * saw a value above q, written by the CAS of q's consumer or later; a read
 * that sees that word (acquire, pairing with its release store) makes the
 * CAS visible, so our own CAS from c fails, or our reload of cons_pos
 * differs from c.  So whenever we act on a read (our CAS succeeds, or a
 * reload confirms c) the word was lap L-1's or lap L's, and the tag tells
 * them apart.  A producer reads no slot: its bound comes from cons_pos
 * alone.  Positions are 64 bits and do not wrap in practice (2^64 items at
 * 10^9 a second is 584 years); even their wrap would keep the tags
 * consistent, since a capacity divides 2^64.
 *
 * THE POINTER RULE
 * Bit 63 is the tag, so an enqueued pointer must have bit 63 clear; NULL
 * is allowed.  Every x86-64 user-space pointer has it clear (user
 * addresses are below 2^47, or 2^56 with 5-level paging, and Intel's LAM
 * keeps bit 63 for the kernel half); so does any integer below 2^63 cast to
 * a pointer.  A pointer that breaks the rule, such as a top-byte-tagged
 * pointer on AArch64 (HWASan, MTE) whose tag sets bit 63, makes the enqueue
 * abort with file, line and the pointer (ccp_panic) before it is stored
 * (a single pointer before its slot is claimed; in a burst, the slots
 * after it may hold theirs by then): a bad pointer is a bug in the caller,
 * never a corrupted ring, and the process ends.
 *
 * ORDER
 * Items of one producer are dequeued in the order it enqueued them (its
 * positions increase, and consumers take positions in increasing order);
 * each burst, on either side, is a run of consecutive positions.
 *
 * WHICH CALLS MAY RUN AT ONCE
 *                       enqueue_*   dequeue_*   count   init/destroy
 *   enqueue_*            yes         yes         yes     no
 *   dequeue_*            yes         yes         yes     no
 *   count                yes         yes         yes     no
 *
 * PROGRESS
 * Neither side loops on another thread's progress: a failed CAS, or a
 * position that moved under a reader, means some other thread made
 * progress (lock-free in that sense).  A producer stopped between its CAS
 * and its stores makes its slots unreadable until it runs again: consumers
 * behind it report a short burst or empty.  The ring is therefore safe
 * under preemption and with SCHED_FIFO threads, which rte_ring's default
 * mode is not.
 *
 * CACHED BOUND
 * A producer needs a value of cons_pos only to bound its claim, and any
 * value cons_pos has had is a safe bound, since it only grows.  So the
 * producers keep the last one they read in cons_seen, on their own cache
 * line, and read cons_pos itself (a line the consumers write at every
 * dequeue) only when cons_seen says the burst might not fit.  When the ring
 * is not near full, an enqueue then touches no line a consumer writes but
 * the slots.  cons_seen may lag, or even step back when two producers store
 * it at once; either only makes a producer look at cons_pos sooner.  The
 * ordering carries through it: a producer's acquire load of cons_pos
 * (A1) synchronizes with the consumers' CAS (R2), its release store of the
 * value to cons_seen (R3) with another producer's acquire load of cons_seen
 * (A4), so whoever bounds its claim by a value also happens after the
 * consumers' reads below it, as if it had loaded cons_pos itself.
 *
 * MEMORY ORDERING
 * An enqueue of x happens-before the dequeue that returns x (release R1 on
 * the slot word pairs with acquire A2).  A consumer's read of a slot
 * happens-before a producer's reuse of it (the consumers' release CAS R2
 * pairs with the producers' acquire A1 of cons_pos, directly or through
 * cons_seen: R3 pairs with A4).  The loads of
 * cons_pos by consumers (A3) are acquire for the lower bound above.
 * On x86-64 every one of these is a plain load or store, or the CAS's
 * lock cmpxchg.
 *
 * WIDE COPIES (x86-64)
 * A burst's slot words are moved two at a time where the processor
 * promises that an aligned 16-byte MOVDQA is one access: Intel's SDM (vol.
 * 3A, 9.1.1) and AMD's APM (vol. 2, 7.3.2) guarantee it on every processor
 * that has AVX, which ccp_ring_create() asks CPUID for (`wide`).  Each
 * 8-byte half is then read or written whole, as the word loads and stores
 * above are, and x86's ordering (loads not reordered with loads, stores not
 * with stores) gives every such access the acquire or release the
 * algorithm asks of it.  So nothing in the argument above changes: a
 * producer still stores last slot first, and the burst's first slot with
 * its own store-release (R1) last; a consumer still reads the first slot
 * with its own acquire load (A2) before the others.  The pair moves are
 * inline assembly, so the compiler neither splits, repeats nor folds them
 * (C11 has no 16-byte access to two atomic words), with compiler fences
 * around each side's pair loop, so that it keeps them where the orderings
 * above put their words: after a consumer's acquire of the first slot and
 * before its claim, after a producer's claim and the caller's writes to
 * its objects and before the first slot's store-release.  Why: rte_ring
 * copies a burst with plain moves and nothing else, while each word here
 * is tagged or untagged and checked on its way, an operation or two more a
 * word and side; done word by word, a burst of 32 cost this ring 11% more
 * than rte_ring's own in one thread.  In pairs
 * each of those operations covers two words (docs/performance.md, the
 * ring's figures).  ThreadSanitizer cannot see inside assembly, so its
 * build takes the word-by-word path, the same algorithm in C11 atomics;
 * so does any other architecture, and an x86-64 without AVX.
 * AddressSanitizer's build moves the pairs with the intrinsics, which
 * compile to the same instruction and which it checks.
 */
#ifndef CCPUMP_RING_H
#define CCPUMP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"

/* Whether bursts may move slot words in pairs (WIDE COPIES). */
#if defined(__x86_64__) && defined(__SSE2__) && !defined(CCP_TSAN)
#define CCP_RING_WIDE 1
#include <emmintrin.h>
#else
#define CCP_RING_WIDE 0
#endif

/* Bit 63 of a slot word: the low bit of the lap it is for. */
#define CCP_RING_TAG ((uint64_t)1 << 63)

struct ccp_ring {
	/* Read-mostly: written once by create. */
	uint64_t mask;
	uint64_t capacity;
	_Atomic uint64_t *slots;
	uint64_t lap_shift; /* 63 - log2(capacity): p << lap_shift has lap(p)'s low bit at 63 */
	/* Bursts move slot words in pairs (WIDE COPIES): CCP_RING_WIDE and
	 * the processor has AVX. */
	uint64_t wide;
	char pad0[CCP_CACHE_GUARD - 5 * sizeof(uint64_t)];
	/* Producer position: written by producers only. */
	_Atomic uint64_t prod_pos CCP_ALIGNED(CCP_CACHE_GUARD);
	/* A value cons_pos had, on the producers' own line (see CACHED
	 * BOUND): written and read by producers only. */
	_Atomic uint64_t cons_seen;
	char pad1[CCP_CACHE_GUARD - 2 * sizeof(uint64_t)];
	/* Consumer position: written by consumers only. */
	_Atomic uint64_t cons_pos CCP_ALIGNED(CCP_CACHE_GUARD);
	char pad2[CCP_CACHE_GUARD - sizeof(uint64_t)];
};

_Static_assert(offsetof(struct ccp_ring, prod_pos) % CCP_CACHE_GUARD == 0,
	       "producer position must start its own cache line pair");
_Static_assert(offsetof(struct ccp_ring, cons_pos) % CCP_CACHE_GUARD == 0,
	       "consumer position must start its own cache line pair");
_Static_assert(offsetof(struct ccp_ring, cons_pos) - offsetof(struct ccp_ring, prod_pos) >=
		       CCP_CACHE_GUARD,
	       "producer and consumer positions must not share a line");
_Static_assert(sizeof(void *) <= sizeof(uint64_t), "a pointer must fit a slot word");

/*
 * Makes a ring of `capacity` slots, a power of two from 2 to 2^30.
 * Returns NULL (errno EINVAL) for any other capacity.  Not thread-safe.
 */
CCP_EXPORT struct ccp_ring *ccp_ring_create(size_t capacity);
/* Frees the ring.  The caller owns the pointers still inside. */
CCP_EXPORT void ccp_ring_destroy(struct ccp_ring *r);

/* The tag of position p: bit 63 of the words its producer stores. */
static inline uint64_t __ccp_ring_tag(const struct ccp_ring *r, uint64_t p)
{
	return (p << r->lap_shift) & CCP_RING_TAG;
}

#if CCP_RING_WIDE
/* Two slot words from s, 16-byte aligned, in one access (WIDE COPIES). */
static inline __m128i __ccp_ring_load2(const _Atomic uint64_t *s)
{
#if defined(CCP_ASAN)
	return _mm_load_si128((const __m128i *)(const void *)s);
#else
	__m128i v;
	__asm__ __volatile__("movdqa %1, %0"
			     : "=x"(v)
			     : "m"(*(const __m128i *)(const void *)s));
	return v;
#endif
}

/* Two slot words into s, 16-byte aligned, in one access. */
static inline void __ccp_ring_store2(_Atomic uint64_t *s, __m128i v)
{
#if defined(CCP_ASAN)
	_mm_store_si128((__m128i *)(void *)s, v);
#else
	__asm__ __volatile__("movdqa %1, %0"
			     : "=m"(*(__m128i *)(void *)s)
			     : "x"(v));
#endif
}
#endif

/*
 * How many of the n slots from s on hold words of tag `tag` (one lap's),
 * taking their objects into objs: the count ends at the first word of the
 * other tag, which is still the previous lap's.  `wide`: the words after
 * the first may be read in pairs (WIDE COPIES).
 */
static inline __attribute__((always_inline)) unsigned
__ccp_ring_take(const _Atomic uint64_t *s, unsigned n, uint64_t tag, void **objs, bool wide)
{
	/* A2: pairs with R1: the producer has stored its object. */
	uint64_t x = atomic_load_explicit(&s[0], memory_order_acquire) ^ tag;
	if ((int64_t)x < 0)
		return 0; /* the usual empty: look no further than one line */
	objs[0] = (void *)(uintptr_t)x;
	/* The rest without a branch per slot: a word of the wrong tag sets
	 * bit 63 of x, so of `any`; only then look for the first one. */
	uint64_t any = 0;
	size_t i = 1;
#if CCP_RING_WIDE
	if (wide && n >= 6) {
		__m128i t = _mm_set1_epi64x((long long)tag), seen = _mm_setzero_si128();
		/* A word alone first where the pairs would start off 16 bytes. */
		if ((uintptr_t)(s + i) & 15) {
			x = atomic_load_explicit(&s[i], memory_order_acquire) ^ tag; /* A2 */
			objs[i++] = (void *)(uintptr_t)x;
			any = x;
		}
		/* The pair loads are assembly, which C11's orderings do not
		 * reach: compiler fences keep them after the acquire loads
		 * above (A2) and before the claim's CAS (R2). */
		atomic_signal_fence(memory_order_seq_cst);
		for (; i + 4 <= n; i += 4) {
			/* A2, two words at a time (WIDE COPIES). */
			__m128i v0 = _mm_xor_si128(__ccp_ring_load2(s + i), t);
			__m128i v1 = _mm_xor_si128(__ccp_ring_load2(s + i + 2), t);
			_mm_storeu_si128((__m128i *)(void *)(objs + i), v0);
			_mm_storeu_si128((__m128i *)(void *)(objs + i + 2), v1);
			seen = _mm_or_si128(seen, _mm_or_si128(v0, v1));
		}
		atomic_signal_fence(memory_order_seq_cst);
		/* Bit 63 of either half: a word of the other tag. */
		if (_mm_movemask_pd(_mm_castsi128_pd(seen)))
			any |= CCP_RING_TAG;
	}
#else
	(void)wide;
#endif
	/* Four at a time: the loop's own instructions were half of it. */
	for (; i + 4 <= n; i += 4) {
		uint64_t x0 = atomic_load_explicit(&s[i], memory_order_acquire) ^ tag; /* A2 */
		uint64_t x1 = atomic_load_explicit(&s[i + 1], memory_order_acquire) ^ tag;
		uint64_t x2 = atomic_load_explicit(&s[i + 2], memory_order_acquire) ^ tag;
		uint64_t x3 = atomic_load_explicit(&s[i + 3], memory_order_acquire) ^ tag;
		objs[i] = (void *)(uintptr_t)x0;
		objs[i + 1] = (void *)(uintptr_t)x1;
		objs[i + 2] = (void *)(uintptr_t)x2;
		objs[i + 3] = (void *)(uintptr_t)x3;
		any |= x0 | x1 | x2 | x3;
	}
	for (; i < n; i++) {
		x = atomic_load_explicit(&s[i], memory_order_acquire) ^ tag; /* A2 */
		objs[i] = (void *)(uintptr_t)x;
		any |= x;
	}
	if (ccp_likely((int64_t)any >= 0))
		return n;
	unsigned m = 1;
	while ((int64_t)(uintptr_t)objs[m] >= 0)
		m++;
	return m;
}

/* The pointer rule broken: names the pointer and the check, and aborts. */
CCP_EXPORT _Noreturn void __ccp_ring_bad_pointer(const void *obj, const char *file, int line);

/*
 * Stores n objects with tag `tag` into the slots from s on, last to first,
 * so a consumer waiting at the first slot finds the whole run published
 * when that slot is, and takes it in one burst rather than in pieces while
 * it is being written.  `wide`: the words after the first may be stored in
 * pairs (WIDE COPIES).
 */
static inline __attribute__((always_inline)) void
__ccp_ring_put(_Atomic uint64_t *s, unsigned n, uint64_t tag, void *const *objs, bool wide)
{
	size_t i = n;
#if CCP_RING_WIDE
	if (wide && n >= 6) {
		__m128i t = _mm_set1_epi64x((long long)tag);
		/* A word alone first where the pairs would end off 16 bytes;
		 * checked before it is stored, as below. */
		if ((uintptr_t)(s + i) & 15) {
			uint64_t obj = (uint64_t)(uintptr_t)objs[i - 1];
			if (ccp_unlikely(obj & CCP_RING_TAG))
				__ccp_ring_bad_pointer(objs[i - 1], __FILE__, __LINE__);
			/* R1: publishes obj; pairs with A2. */
			atomic_store_explicit(&s[i - 1], obj | tag, memory_order_release);
			i--;
		}
		/* The pair stores are assembly, which C11's orderings do not
		 * reach: compiler fences keep the caller's writes to its
		 * objects before them (R1's release, which x86 gives each
		 * store) and them before the first slot's store-release. */
		atomic_signal_fence(memory_order_seq_cst);
		/* Down to slot 1 at most: slot 0 is stored last, by the loops
		 * below, with its own store-release. */
		for (; i >= 5; i -= 4) {
			__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(objs + i - 2));
			__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(objs + i - 4));
			/* Checked before any of the four is stored. */
			if (ccp_unlikely(_mm_movemask_pd(_mm_castsi128_pd(_mm_or_si128(v0, v1)))))
				break; /* the loops below name the pointer */
			/* R1, two words at a time (WIDE COPIES). */
			__ccp_ring_store2(s + i - 2, _mm_or_si128(v1, t));
			__ccp_ring_store2(s + i - 4, _mm_or_si128(v0, t));
		}
		atomic_signal_fence(memory_order_seq_cst);
	}
#else
	(void)wide;
#endif
	/* Four at a time, checked before any of the four is stored. */
	for (; i >= 4; i -= 4) {
		uint64_t o3 = (uint64_t)(uintptr_t)objs[i - 1], o2 = (uint64_t)(uintptr_t)objs[i - 2];
		uint64_t o1 = (uint64_t)(uintptr_t)objs[i - 3], o0 = (uint64_t)(uintptr_t)objs[i - 4];
		if (ccp_unlikely((o0 | o1 | o2 | o3) & CCP_RING_TAG))
			break; /* the loop below names the pointer */
		/* R1: publishes each; pairs with A2. */
		atomic_store_explicit(&s[i - 1], o3 | tag, memory_order_release);
		atomic_store_explicit(&s[i - 2], o2 | tag, memory_order_release);
		atomic_store_explicit(&s[i - 3], o1 | tag, memory_order_release);
		atomic_store_explicit(&s[i - 4], o0 | tag, memory_order_release);
	}
	while (i-- > 0) {
		uint64_t obj = (uint64_t)(uintptr_t)objs[i];
		if (ccp_unlikely(obj & CCP_RING_TAG))
			__ccp_ring_bad_pointer(objs[i], __FILE__, __LINE__);
		/* R1: publishes obj; pairs with A2. */
		atomic_store_explicit(&s[i], obj | tag, memory_order_release);
	}
}

/*
 * The bound's slow half, when cons_seen says n might not fit at pos: reads
 * cons_pos itself, keeps a newer value in cons_seen and in *c, and returns
 * how many of the n fit (0: full, as of these loads).
 */
static inline unsigned __ccp_ring_room(struct ccp_ring *r, uint64_t pos, uint64_t *c,
				       unsigned n)
{
	uint64_t cap = r->mask + 1;
	/* A1: pairs with R2, the consumers' CAS. */
	uint64_t now = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
	if (now != *c) {
		*c = now;
		/* R3: publishes the value with A1's ordering; pairs with A4. */
		atomic_store_explicit(&r->cons_seen, now, memory_order_release);
	}
	int64_t used = (int64_t)(pos - now);
	/* used < 0: pos is stale (consumers passed it), and the CAS will
	 * fail; claiming up to capacity keeps the bound. */
	uint64_t free = used < 0 ? cap : used >= (int64_t)cap ? 0 : cap - (uint64_t)used;
	return n < free ? n : (unsigned)free;
}

/*
 * One pointer: the burst enqueue with n = 1, without the two-run split and
 * the loop over slots.  A caller moving items one at a time pays two
 * compare-and-swaps per item on either ring; the setup of a burst (the
 * split, the loop) was most of the rest, and this path skips it
 * (docs/performance-history.md).  The orderings are the burst's: A0, A4,
 * then A1 and R3 in __ccp_ring_room(), R1.
 */
static inline bool __ccp_ring_enqueue_one(struct ccp_ring *r, void *obj)
{
	uint64_t w = (uint64_t)(uintptr_t)obj;
	/* Before the claim: a broken rule leaves no claimed, unwritten slot. */
	if (ccp_unlikely(w & CCP_RING_TAG))
		__ccp_ring_bad_pointer(obj, __FILE__, __LINE__);
	uint64_t cap = r->mask + 1;
	uint64_t pos = atomic_load_explicit(&r->prod_pos, memory_order_acquire); /* A0 */
	uint64_t c = atomic_load_explicit(&r->cons_seen, memory_order_acquire);   /* A4 */
	do {
		if (ccp_unlikely(pos + 1 - c > cap) && __ccp_ring_room(r, pos, &c, 1) == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&r->prod_pos, &pos, pos + 1,
							 memory_order_acquire,
							 memory_order_acquire));
	/* R1: publishes obj; pairs with A2. */
	atomic_store_explicit(&r->slots[pos & r->mask], w | __ccp_ring_tag(r, pos),
			      memory_order_release);
	return true;
}

/* The burst of n >= 2 (n == 1 works too), out of line: see
 * ccp_ring_enqueue_burst_mpmc(). */
static CCP_NOINLINE unsigned __ccp_ring_enqueue_burst(struct ccp_ring *r, void *const *objs,
						      unsigned n)
{
	uint64_t cap = r->mask + 1;
	/* A0: acquire keeps the loads of the bound (A4, A1) after this one. */
	uint64_t pos = atomic_load_explicit(&r->prod_pos, memory_order_acquire);
	/* A4: pairs with R3: a value of cons_pos, read by some producer, with
	 * the ordering its A1 had (CACHED BOUND). */
	uint64_t c = atomic_load_explicit(&r->cons_seen, memory_order_acquire);
	unsigned m;
	do {
		/* Every position below c has been read by its consumer, so
		 * positions up to c - 1 + capacity may be stored.  That bound,
		 * pos + m <= c + capacity, is all the safety a producer needs;
		 * the CAS makes the positions its own.  A branch, not
		 * arithmetic, on c: the branch predicts "room". */
		m = n;
		if (ccp_unlikely(pos + n - c > cap)) {
			m = __ccp_ring_room(r, pos, &c, n);
			if (m == 0)
				return 0; /* full, as of these two loads */
		}
		/* Acquire on failure re-reads pos as A0 does; no release is
		 * needed, since the hand-off to consumers is ordered by the
		 * slot words (R1), not by prod_pos. */
	} while (!atomic_compare_exchange_weak_explicit(&r->prod_pos, &pos, pos + m,
							 memory_order_acquire,
							 memory_order_acquire));
	/* The burst in at most two runs of slots, one per lap: from pos's
	 * index to the end of the array, then from slot 0.  The second run
	 * is stored first, so the burst's first slot is its last store. */
	uint64_t idx = pos & r->mask, tag = __ccp_ring_tag(r, pos);
	unsigned k = m < cap - idx ? m : (unsigned)(cap - idx);
	bool wide = r->wide;
	if (k < m)
		__ccp_ring_put(r->slots, m - k, tag ^ CCP_RING_TAG, objs + k, wide);
	__ccp_ring_put(r->slots + idx, k, tag, objs, wide);
	return m;
}

/*
 * Enqueues up to n pointers from objs, in order, as one burst.  Returns how
 * many were enqueued: 0 when the ring is full.  Each pointer must have bit
 * 63 clear (THE POINTER RULE); one that does not aborts the process.
 * Lock-free; any number of producers and consumers may run at once.
 *
 * One pointer takes the inline path; a burst calls out.  Inlined together,
 * the burst's unrolled loops made the compiler save six registers on
 * entry for one item too, which cost one pointer a tenth of its time
 * (docs/performance-history.md); a call per burst costs a fraction of a
 * slot.
 */
static inline unsigned ccp_ring_enqueue_burst_mpmc(struct ccp_ring *r, void *const *objs,
						   unsigned n)
{
	if (n == 1)
		return __ccp_ring_enqueue_one(r, objs[0]);
	return __ccp_ring_enqueue_burst(r, objs, n);
}

/* One pointer: the burst dequeue with n = 1 (see __ccp_ring_enqueue_one()).
 * The orderings are the burst's: A3, A2, R2. */
static inline bool __ccp_ring_dequeue_one(struct ccp_ring *r, void **obj)
{
	const _Atomic uint64_t *slots = r->slots;
	uint64_t mask = r->mask, shift = r->lap_shift;
	uint64_t pos = atomic_load_explicit(&r->cons_pos, memory_order_acquire); /* A3 */
	for (;;) {
		/* A2: pairs with R1. */
		uint64_t x = atomic_load_explicit(&slots[pos & mask], memory_order_acquire) ^
			     ((pos << shift) & CCP_RING_TAG);
		if ((int64_t)x < 0) {
			/* Not published at pos: empty if cons_pos has not moved. */
			uint64_t now = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
			if (now == pos)
				return false;
			pos = now;
			continue;
		}
		/* R2: pairs with A1, as in the burst dequeue. */
		if (atomic_compare_exchange_weak_explicit(&r->cons_pos, &pos, pos + 1,
							  memory_order_acq_rel, memory_order_acquire)) {
			*obj = (void *)(uintptr_t)x;
			return true;
		}
	}
}

/* The burst dequeue, out of line (see ccp_ring_enqueue_burst_mpmc()). */
static CCP_NOINLINE unsigned __ccp_ring_dequeue_burst(struct ccp_ring *r, void **objs, unsigned n)
{
	/* Read-only since create: loaded once, not after every acquire. */
	const _Atomic uint64_t *slots = r->slots;
	uint64_t mask = r->mask, shift = r->lap_shift;
	bool wide = r->wide;
	if (n > mask + 1)
		n = (unsigned)(mask + 1); /* a lap further is never ready */
	if (n == 0)
		return 0; /* the scan below reads a first slot */
	/* A3: acquire; synchronizes with the release CAS of whoever last
	 * claimed on cons_pos, which gives the lower bound on the slot words
	 * read below (see WHY ONE BIT OF LAP IS ENOUGH). */
	uint64_t pos = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
	for (;;) {
		/* Take the objects first, claim them after: once the CAS
		 * succeeds we are done with the slots, which is what lets
		 * producers go by cons_pos alone. */
		uint64_t idx = pos & mask, tag = (pos << shift) & CCP_RING_TAG;
		unsigned k = n < mask + 1 - idx ? n : (unsigned)(mask + 1 - idx);
		unsigned m = __ccp_ring_take(slots + idx, k, tag, objs, wide);
		if (m == k && k < n)
			m += __ccp_ring_take(slots, n - k, tag ^ CCP_RING_TAG, objs + k, wide);
		if (m == 0) {
			/* Not published at pos.  If cons_pos has not moved, the
			 * read was within the bounds: the ring was empty there
			 * (or its producer not done).  Otherwise our view was
			 * stale: retry. */
			uint64_t now = atomic_load_explicit(&r->cons_pos, memory_order_acquire); /* A3 */
			if (now == pos)
				return 0;
			pos = now;
			continue;
		}
		/* R2: release; our reads of the slots happen-before a
		 * producer's reuse of them (pairs with A1), and heads the
		 * release sequence A3 pairs with.  Acquire on failure re-reads
		 * the position as A3 does. */
		if (atomic_compare_exchange_weak_explicit(&r->cons_pos, &pos, pos + m,
							  memory_order_acq_rel, memory_order_acquire))
			return m;
	}
}

/*
 * Dequeues up to n pointers into objs, oldest first.  Returns how many, k:
 * 0 when the ring is empty (or its next item is still being published).
 * objs[k..n-1] may be overwritten.  Lock-free; any number of producers and
 * consumers may run at once.
 */
static inline unsigned ccp_ring_dequeue_burst_mpmc(struct ccp_ring *r, void **objs, unsigned n)
{
	if (n == 1)
		return __ccp_ring_dequeue_one(r, objs);
	return __ccp_ring_dequeue_burst(r, objs, n);
}

static inline bool ccp_ring_enqueue_mpmc(struct ccp_ring *r, void *obj)
{
	return __ccp_ring_enqueue_one(r, obj);
}

static inline bool ccp_ring_dequeue_mpmc(struct ccp_ring *r, void **obj)
{
	return __ccp_ring_dequeue_one(r, obj);
}

/*
 * Items claimed by producers and not yet claimed by consumers: exact when
 * the ring is quiet, a snapshot otherwise.  Thread-safe.
 */
static inline uint64_t ccp_ring_count(const struct ccp_ring *r)
{
	uint64_t c = atomic_load_explicit(&r->cons_pos, memory_order_acquire);
	uint64_t p = atomic_load_explicit(&r->prod_pos, memory_order_acquire);
	/* Modular, as every other use of the positions: across their wrap
	 * p < c with items inside.  Negative: consumers passed the p loaded
	 * first (a snapshot). */
	uint64_t d = p - c;
	return (int64_t)d > 0 ? d : 0;
}

static inline uint64_t ccp_ring_capacity(const struct ccp_ring *r)
{
	return r->capacity;
}

#endif /* CCPUMP_RING_H */

/*
 * ring.c: creating and destroying rings (the operations are inline in
 * include/ccpump/ring.h, where the algorithm is described).
 */
#include "ccpump/ring.h"

#include <errno.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"

struct ccp_ring *ccp_ring_create(size_t capacity)
{
	if (capacity < 2 || capacity > ((size_t)1 << 30) || (capacity & (capacity - 1))) {
		errno = EINVAL;
		return NULL;
	}
	struct ccp_ring *r = ccp_aligned_alloc(CCP_CACHE_GUARD, sizeof(*r));
	r->mask = capacity - 1;
	r->capacity = capacity;
	r->lap_shift = 63 - (uint64_t)__builtin_ctzll(capacity);
	/* 16-byte accesses are single accesses where AVX is (WIDE COPIES). */
#if CCP_RING_WIDE
	r->wide = __builtin_cpu_supports("avx") != 0;
#else
	r->wide = 0;
#endif
	r->slots = ccp_aligned_alloc(CCP_CACHE_GUARD, capacity * sizeof(r->slots[0]));
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&r->slots[i], CCP_RING_TAG); /* lap -1's: not yet lap 0's */
	atomic_init(&r->prod_pos, 0);
	atomic_init(&r->cons_pos, 0);
	atomic_init(&r->cons_seen, 0);
	return r;
}

void ccp_ring_destroy(struct ccp_ring *r)
{
	if (r == NULL)
		return;
	ccp_free(r->slots);
	ccp_free(r);
}

void __ccp_ring_bad_pointer(const void *obj, const char *file, int line)
{
	ccp_panic_at(file, line, "ccp_ring_enqueue_burst_mpmc",
		     "pointer %p has bit 63 set, where the ring keeps its lap tag (the pointer "
		     "rule in ring.h)", obj);
}

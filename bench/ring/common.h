/*
 * common.h: what the ring benchmarks (bench_ring.c, ring_loop.c) share: the
 * counts their flags take, the median of their repetitions, and ccpump's
 * ring with its bursts' slot words one by one.
 */
#ifndef CCPUMP_BENCH_RING_COMMON_H
#define CCPUMP_BENCH_RING_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccpump/ring.h"

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A flag's count: plain decimal digits (strtoull() would take "-5" as a
 * huge number, and spaces and signs before it), within [LO, HI]. */
static inline bool parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (!is_digit(s[0]))
		return false;
	errno = 0;
	uint64_t v = strtoull(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of V[0..N), N >= 1, which it sorts: V[0] and V[N - 1] are
 * then the least and the most. */
static inline double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ccpump's ring with its bursts' slot words moved one by one (ring.h, WIDE
 * COPIES), as on a processor without AVX: the pairs measured against their
 * absence in one run and one binary.  NULL when the ring cannot be made. */
static inline struct ccp_ring *ring_words_create(unsigned capacity)
{
	struct ccp_ring *r = ccp_ring_create(capacity);
	if (r != NULL)
		r->wide = 0;
	return r;
}

#endif /* CCPUMP_BENCH_RING_COMMON_H */

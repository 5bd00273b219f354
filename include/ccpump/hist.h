/*
 * hist.h: a log-linear latency histogram (HdrHistogram's idea, made small).
 *
 * Values are nanoseconds.  Each power of two is cut into 16 sub-buckets, so a
 * recorded value is reported within 1/16 (6.25%) of itself, from 1 ns to 2^63.
 * A histogram belongs to one thread; merge them when the threads are done.
 * Not thread-safe: record from one thread at a time.
 */
#ifndef CCPUMP_HIST_H
#define CCPUMP_HIST_H

#include <stdint.h>

#include "ccpump/compiler.h"

#define CCP_HIST_SUB_BITS 4
#define CCP_HIST_SUB (1u << CCP_HIST_SUB_BITS)
#define CCP_HIST_BUCKETS (64u * CCP_HIST_SUB)

struct ccp_hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[CCP_HIST_BUCKETS];
};

static inline unsigned ccp_hist_index(uint64_t v)
{
	if (v < CCP_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (msb - CCP_HIST_SUB_BITS)) & (CCP_HIST_SUB - 1);
	return (msb - CCP_HIST_SUB_BITS + 1) * CCP_HIST_SUB + sub;
}

static inline void ccp_hist_record(struct ccp_hist *h, uint64_t v)
{
	h->bucket[ccp_hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

CCP_EXPORT void ccp_hist_reset(struct ccp_hist *h);
CCP_EXPORT void ccp_hist_merge(struct ccp_hist *into, const struct ccp_hist *from);
/* The value at quantile q (0..1): the upper edge of its bucket, capped at max. */
CCP_EXPORT uint64_t ccp_hist_quantile(const struct ccp_hist *h, double q);

#endif /* CCPUMP_HIST_H */

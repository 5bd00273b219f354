/*
 * hist.c: merging and reading the log-linear histogram.
 */
#include "ccpump/hist.h"

#include <string.h>

void ccp_hist_reset(struct ccp_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void ccp_hist_merge(struct ccp_hist *into, const struct ccp_hist *from)
{
	for (unsigned i = 0; i < CCP_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

/* Largest value that falls into bucket i. */
static uint64_t bucket_upper(unsigned i)
{
	if (i < CCP_HIST_SUB)
		return i;
	unsigned group = i / CCP_HIST_SUB;        /* >= 1 */
	unsigned sub = i % CCP_HIST_SUB;
	unsigned msb = group + CCP_HIST_SUB_BITS - 1;
	unsigned shift = msb - CCP_HIST_SUB_BITS;
	uint64_t lo = ((uint64_t)(CCP_HIST_SUB | sub)) << shift;
	return lo + ((uint64_t)1 << shift) - 1;
}

uint64_t ccp_hist_quantile(const struct ccp_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		return h->max;
	/* Nearest rank: the ceil(q * count)-th smallest sample (1-based), as
	 * HdrHistogram takes it.  The floor, taken 0-based, was one sample
	 * higher whenever q * count is whole: with 1,000 samples and one
	 * outlier, p99.9 was the outlier. */
	double exact = q * (double)h->count;
	uint64_t rank = (uint64_t)exact;
	if ((double)rank < exact)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < CCP_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = bucket_upper(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* The histogram reports quantiles within its 1/16 resolution. */
#include "check.h"
#include "ccpump/hist.h"

static struct ccp_hist h, g;

int main(void)
{
	ccp_hist_reset(&h);
	CHECK_EQ_U64(ccp_hist_quantile(&h, 0.5), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		ccp_hist_record(&h, v);
	CHECK_EQ_U64(h.count, 100000);
	CHECK_EQ_U64(h.max, 100000);
	uint64_t p50 = ccp_hist_quantile(&h, 0.5);
	CHECK(p50 >= 50000 && p50 <= 50000 + 50000 / 16 + 1);
	uint64_t p99 = ccp_hist_quantile(&h, 0.99);
	CHECK(p99 >= 99000 && p99 <= 100000);
	CHECK_EQ_U64(ccp_hist_quantile(&h, 1.0), 100000);
	/* Small values are exact. */
	ccp_hist_reset(&g);
	for (int i = 0; i < 10; i++)
		ccp_hist_record(&g, 7);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 0.5), 7);
	/* Merging adds counts and keeps the larger max. */
	ccp_hist_merge(&g, &h);
	CHECK_EQ_U64(g.count, 100010);
	CHECK_EQ_U64(g.max, 100000);
	/* Nearest rank, ceil(q * count): of 1..10 the median is 5, p90 9;
	 * of 999 samples of 3 and one of 5 s, p99.9 is 3, not the outlier. */
	ccp_hist_reset(&g);
	for (uint64_t v = 1; v <= 10; v++)
		ccp_hist_record(&g, v);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 0.5), 5);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 0.9), 9);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 0.0), 1);
	ccp_hist_reset(&g);
	for (int i = 0; i < 999; i++)
		ccp_hist_record(&g, 3);
	ccp_hist_record(&g, 5000000000ull);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 0.999), 3);
	CHECK_EQ_U64(ccp_hist_quantile(&g, 1.0), 5000000000ull);
	/* Every index is in range, up to the largest value. */
	CHECK(ccp_hist_index(UINT64_MAX) < CCP_HIST_BUCKETS);
	puts("test_hist: ok");
	return 0;
}

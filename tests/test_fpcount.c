/*
 * Distinct fingerprints in bounded memory: the same count with and without
 * spilling, for every bound from the smallest table up; the table never
 * larger than the bound; repeats within and across runs counted once; at
 * most 64 runs open, however many generations were written; a run cut
 * short reported; and a
 * temporary directory that cannot be written reported, naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ccpump/fpcount.h"

static struct ccp_fp fp_num(unsigned long i)
{
	char k[64];
	int n = snprintf(k, sizeof(k), "1795882167.M%luP4242.relay\trecipient %lu", i, i % 5);
	return ccp_fp_of(k, (size_t)n);
}

/* Adds `adds` fingerprints drawn from `pool` distinct ones, in a scrambled
 * order with repeats far apart and close together, under MEMORY octets.
 * Returns the distinct count; *runs gets the runs written. */
static uint64_t count_with(size_t memory, unsigned long pool, unsigned long adds, size_t *runs)
{
	struct ccp_fpcount c;
	char err[256];
	ccp_fpcount_init(&c, memory, NULL);
	uint64_t x = 88172645463325252ull;
	for (unsigned long i = 0; i < adds; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Half the time the previous few, else anywhere in the pool. */
		unsigned long k = (x & 1) ? (i % pool) : (unsigned long)((x >> 1) % pool);
		CHECK(ccp_fpcount_add(&c, fp_num(k), err, sizeof(err)) == 0);
		/* At most 64 runs open: more are merged into one. */
		CHECK(c.nruns <= 64);
		/* The table, with the half-size one it grew from, stays
		 * within the bound. */
		CHECK(ccp_fpset_bytes(&c.set) / 2 * 3 <= (memory < CCP_FPCOUNT_MIN_MEMORY
							    ? CCP_FPCOUNT_MIN_MEMORY
							    : memory));
	}
	/* Every member of the pool, once more, at the end: all are present. */
	for (unsigned long k = 0; k < pool; k++)
		CHECK(ccp_fpcount_add(&c, fp_num(k), err, sizeof(err)) == 0);
	uint64_t d = 0;
	*runs = ccp_fpcount_runs(&c);
	CHECK(ccp_fpcount_finish(&c, &d, err, sizeof(err)) == 0);
	ccp_fpcount_free(&c);
	return d;
}

static void test_counts(void)
{
	const unsigned long pool = 20000, adds = 60000;
	size_t runs = 0;
	/* Unbounded enough: one set, no run. */
	CHECK_EQ_U64(count_with((size_t)64 << 20, pool, adds, &runs), pool);
	CHECK_EQ_U64(runs, 0);
	/* Every bound down to the smallest table: the same count, from runs. */
	size_t last_runs = 0;
	for (size_t memory = 256 * 1024; memory >= 16; memory /= 4) {
		CHECK_EQ_U64(count_with(memory, pool, adds, &runs), pool);
		CHECK(runs > 0);
		CHECK(runs >= last_runs); /* less memory, more runs */
		last_runs = runs;
	}
	/* At the smallest bound there were more generations than runs kept
	 * open, so the open runs were merged on the way. */
	CHECK(runs > 64);
	/* A single fingerprint, and none. */
	CHECK_EQ_U64(count_with(16, 1, 1000, &runs), 1);
	struct ccp_fpcount c;
	uint64_t d = 99;
	char err[256];
	ccp_fpcount_init(&c, 16, NULL);
	CHECK(ccp_fpcount_finish(&c, &d, err, sizeof(err)) == 0);
	CHECK_EQ_U64(d, 0);
	ccp_fpcount_free(&c);
}

/* Fingerprints that differ only in their second half are different. */
static void test_second_half(void)
{
	struct ccp_fpcount c;
	char err[256];
	uint64_t d = 0;
	ccp_fpcount_init(&c, 16, NULL);
	for (unsigned round = 0; round < 3; round++)
		for (uint64_t i = 0; i < 500; i++) {
			struct ccp_fp f = { 42, (i << 1) | 1 };
			CHECK(ccp_fpcount_add(&c, f, err, sizeof(err)) == 0);
		}
	CHECK(ccp_fpcount_runs(&c) > 0);
	CHECK(ccp_fpcount_finish(&c, &d, err, sizeof(err)) == 0);
	CHECK_EQ_U64(d, 500);
	ccp_fpcount_free(&c);
}

static void test_bad_tmp_dir(void)
{
	struct ccp_fpcount c;
	char err[256] = "";
	ccp_fpcount_init(&c, 16, "/nonexistent/ccpump-tmp");
	int rc = 0;
	for (unsigned long i = 0; i < 1000 && rc == 0; i++)
		rc = ccp_fpcount_add(&c, fp_num(i), err, sizeof(err));
	CHECK(rc == -1);
	CHECK(strstr(err, "/nonexistent/ccpump-tmp") != NULL);
	CHECK(strstr(err, "temporary file") != NULL);
	ccp_fpcount_free(&c);
}

/* A run cut short (its length no multiple of a fingerprint) fails the
 * count with a reason, and nothing is read past what is there. */
static void cut_short(size_t memory, unsigned long adds, off_t keep)
{
	struct ccp_fpcount c;
	char err[256] = "";
	uint64_t d = 0;
	ccp_fpcount_init(&c, memory, NULL);
	for (unsigned long i = 0; i < adds; i++)
		CHECK(ccp_fpcount_add(&c, fp_num(i), err, sizeof(err)) == 0);
	CHECK(c.nruns >= 1);
	CHECK(ftruncate(c.runs[0], keep) == 0);
	CHECK(ccp_fpcount_finish(&c, &d, err, sizeof(err)) == -1);
	CHECK(strstr(err, "cannot read back") != NULL);
	ccp_fpcount_free(&c);
}

static void test_run_cut_short(void)
{
	cut_short(16, 500, 16 * 10 + 5);        /* in the first read of the merge */
	cut_short(64 * 1024, 8000, 768 * 16 - 11); /* in a later one (runs of 768) */
}

int main(void)
{
	test_counts();
	test_second_half();
	test_bad_tmp_dir();
	test_run_cut_short();
	/* A bound near SIZE_MAX: the table's size is worked out without
	 * overflow (the product wrapped to 0, and the init never returned). */
	struct ccp_fpcount big;
	ccp_fpcount_init(&big, SIZE_MAX, NULL);
	ccp_fpcount_free(&big);
	puts("test_fpcount: ok");
	return 0;
}

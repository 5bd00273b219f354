/*
 * flags.h: the number parsing the ring benchmarks' flags share
 * (bench_ring.c, ring_loop.c).
 */
#ifndef CCPUMP_BENCH_FLAGS_H
#define CCPUMP_BENCH_FLAGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif /* CCPUMP_BENCH_FLAGS_H */

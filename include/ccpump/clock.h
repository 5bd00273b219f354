/*
 * clock.h: monotonic time in nanoseconds, and sleeping for some.
 */
#ifndef CCPUMP_CLOCK_H
#define CCPUMP_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC through the vDSO: about 20 ns, no system call. */
static inline uint64_t ccp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps about NS nanoseconds (a signal may cut it short: callers re-check
 * what they wait for). */
static inline void ccp_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	nanosleep(&ts, NULL);
}

#endif /* CCPUMP_CLOCK_H */

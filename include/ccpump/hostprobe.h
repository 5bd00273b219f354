/*
 * hostprobe.h: how long this machine takes to move a cache line from one
 * CPU to another and back, measured in a few milliseconds.
 *
 * A lock-free pump is a stream of such moves (a record claimed on one CPU
 * and dispatched on another, a ring's slots written by one side and read
 * by the other), so its rate follows this figure closely.  On a virtual
 * machine it is not a constant: it changes when the host moves the vCPUs
 * to cores further apart or fills their shared caches, and with it every
 * figure of `ccpump bench`.  The bench measures it before and after each
 * run and reports both, so that a run made while the host was slow can be
 * told from a slower pump.
 */
#ifndef CCPUMP_HOSTPROBE_H
#define CCPUMP_HOSTPROBE_H

#include <stdbool.h>
#include <stdio.h>

#include "ccpump/compiler.h"

struct ccp_host_probe {
	bool measured;        /* false: fewer than two CPUs, or they would not pin */
	unsigned cpu_a, cpu_b; /* the first two CPUs the process may run on */
	double round_trip_ns; /* the median of the probe's rounds */
};

/*
 * Measures the round trip: two threads, pinned to the first two CPUs the
 * process may run on, hand one cache line back and forth, in rounds of 256
 * round trips, for at most 64 rounds or 50 ms, whichever ends first.  Sets
 * out->measured to false, and returns false, where there are fewer than two
 * such CPUs, the threads cannot be started or pinned, or not one round
 * finished in time (the other thread never ran).  Call it while the machine
 * is otherwise idle, as the figure it gives is what two idle CPUs achieve.
 */
CCP_EXPORT bool ccp_host_probe_round_trip(struct ccp_host_probe *out);

/* Writes "host_round_trip_ns":{"before":N,"after":N} to OUT, null for a
 * side not measured: the key both benchmarks' JSON reports carry. */
CCP_EXPORT void ccp_host_probe_json(FILE *out, const struct ccp_host_probe *before,
				    const struct ccp_host_probe *after);

/* Writes one side as the benchmarks' tables show it: "N ns", or "-" when
 * it was not measured. */
CCP_EXPORT void ccp_host_probe_print(FILE *out, const struct ccp_host_probe *h);

#endif /* CCPUMP_HOSTPROBE_H */

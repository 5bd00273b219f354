/*
 * ccp_host_probe_round_trip: a figure from two distinct CPUs the caller may
 * run on, or an honest "not measured" where it has only one.
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>

#include "check.h"
#include "ccpump/hostprobe.h"

int main(void)
{
	cpu_set_t all;
	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	unsigned first = CPU_SETSIZE, n = (unsigned)CPU_COUNT(&all);
	for (unsigned c = 0; c < CPU_SETSIZE && first == CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			first = c;

	struct ccp_host_probe h;
	if (n >= 2) {
		/* A loaded machine (ctest -j) may not run both threads at once
		 * within the probe's 50 ms: then it says "not measured", and
		 * is asked again.  Three figures are wanted out of at most a
		 * hundred tries. */
		int got = 0;
		for (int tries = 0; got < 3 && tries < 100; tries++) {
			if (!ccp_host_probe_round_trip(&h)) {
				CHECK(!h.measured && h.round_trip_ns == 0);
				continue;
			}
			got++;
			CHECK(h.measured);
			CHECK_MSG(isfinite(h.round_trip_ns) && h.round_trip_ns > 0,
				  "round trip %f ns", h.round_trip_ns);
			CHECK(h.cpu_a != h.cpu_b);
			CHECK(h.cpu_a == first);
			CHECK(CPU_ISSET(h.cpu_a, &all) && CPU_ISSET(h.cpu_b, &all));
		}
		CHECK_MSG(got == 3, "%d figures in 100 tries", got);
	} else {
		printf("one CPU: only the unmeasured case is checked\n");
	}

	/* From the second allowed CPU on, where there are three: the probe
	 * follows the caller's mask, not the machine's CPU numbers. */
	if (n >= 3) {
		cpu_set_t rest = all;
		CPU_CLR(first, &rest);
		CHECK(sched_setaffinity(0, sizeof(rest), &rest) == 0);
		for (int tries = 0; tries < 100 && !ccp_host_probe_round_trip(&h); tries++)
			;
		CHECK(h.measured);
		CHECK(h.cpu_a != first && h.cpu_b != first);
		CHECK(CPU_ISSET(h.cpu_a, &rest) && CPU_ISSET(h.cpu_b, &rest));
	}

	/* One CPU: nothing to hand a line to; no figure, and no hang. */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	h.measured = true;
	h.round_trip_ns = 1;
	CHECK(!ccp_host_probe_round_trip(&h));
	CHECK(!h.measured);
	CHECK(h.round_trip_ns == 0);
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
	printf("ok\n");
	return 0;
}

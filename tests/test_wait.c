/*
 * A blocking wait with a deadline sleeps no later than the deadline.
 * ck_ec sleeps in growing steps (1, 8, 64, 512 ms) and did not cut them
 * at the caller's deadline: a wait asked for 100 ms slept 512, and a
 * retry due then came half a second late.  The clock and the futex here
 * are the test's own, so no time passes: each sleep is recorded and the
 * clock moved to where it would have ended.
 */
#include <time.h>

#include "check.h"
#include "ccpump/wait.h"

static struct timespec fake_now;
static struct timespec sleeps[64];
static unsigned nsleeps;

static int fake_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	*out = fake_now;
	return 0;
}

static void fake_wait32(const struct ck_ec_wait_state *st, const uint32_t *addr, uint32_t expected,
			const struct timespec *step_end)
{
	(void)st;
	(void)addr;
	(void)expected;
	CHECK(step_end != NULL);
	CHECK(nsleeps < 64);
	sleeps[nsleeps++] = *step_end;
	fake_now = *step_end; /* nobody signals: the sleep runs to its end */
}

static void fake_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	(void)addr;
}

/* The steps of ccp_ec_mode_mp, on the test's clock. */
static const struct ck_ec_ops fake_ops = {
	.gettime = fake_gettime,
	.wait32 = fake_wait32,
	.wake32 = fake_wake32,
	.busy_loop_iter = 0,
	.initial_wait_ns = CCP_WAIT_FIRST_STEP_NS,
	.wait_scale_factor = CCP_WAIT_STEP_SCALE,
	.wait_shift_count = 0,
};
static const struct ck_ec_mode fake_mode = { .ops = &fake_ops, .single_producer = false };

static uint64_t ns_of(struct timespec t)
{
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
				  .tv_nsec = (long)(ns % 1000000000u) };
}

int main(void)
{
	static struct ccp_event e;
	ccp_event_init(&e);
	/* Waits of every length around the steps' ends: none sleeps past
	 * its deadline, and each ends by a timeout at the deadline itself. */
	static const uint64_t asked_ms[] = { 1, 5, 9, 50, 73, 100, 200, 585, 600, 999, 1500 };
	for (size_t i = 0; i < sizeof(asked_ms) / sizeof(asked_ms[0]); i++) {
		uint64_t start = 1000000000000ull, deadline = start + asked_ms[i] * 1000000u;
		fake_now = ts_of(start);
		nsleeps = 0;
		struct timespec d = ts_of(deadline);
		int rc = ccp_event_wait_until(&e, &fake_mode, ccp_event_snapshot(&e), &d);
		CHECK_EQ_U64(rc, (uint64_t)-1);
		CHECK(nsleeps > 0);
		for (unsigned k = 0; k < nsleeps; k++)
			CHECK_MSG(ns_of(sleeps[k]) <= deadline,
				  "asked %llu ms: sleep %u ends %llu ns past the deadline",
				  (unsigned long long)asked_ms[i], k,
				  (unsigned long long)(ns_of(sleeps[k]) - deadline));
		CHECK_EQ_U64(ns_of(fake_now), deadline);
	}
	/* A moved event returns at once, without a sleep. */
	uint32_t snap = ccp_event_snapshot(&e);
	ccp_event_signal(&e, 1);
	nsleeps = 0;
	struct timespec d = ts_of(ns_of(fake_now) + 100000000u);
	CHECK_EQ_U64(ccp_event_wait_until(&e, &fake_mode, snap, &d), 0);
	CHECK_EQ_U64(nsleeps, 0);
	puts("test_wait: ok");
	return 0;
}

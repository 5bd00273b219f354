/*
 * wait.c: the wait strategies, and the futex hooks ck_ec needs.
 */
#include "ccpump/wait.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

/* Sleeps while *addr == expected, until the absolute monotonic deadline.
 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is what
 * ck_ec hands us; spurious returns are allowed by ck_ec's contract. */
static void ec_wait32(const struct ck_ec_wait_state *st, const uint32_t *addr, uint32_t expected,
		      const struct timespec *deadline)
{
	(void)st;
	syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, deadline, NULL,
		FUTEX_BITSET_MATCH_ANY);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
}

static const struct ck_ec_ops ccp_ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wake32 = ec_wake32,
	/* A short spin before the futex.  ck_ec's default of 100 pauses
	 * kept idle dispatchers on a CPU the pollers needed: on 2 cores
	 * `ccpump bench` moved 4 to 12% more with 10
	 * (docs/performance-history.md).
	 * Waits that end within the spin are rare here; a waker that comes
	 * later finds the sleeper by ck_ec's waiter flag either way. */
	.busy_loop_iter = 10,
	/* After the spin, sleep in growing steps from 1 ms; past one second
	 * ck_ec sleeps without a deadline until woken. */
	.initial_wait_ns = CCP_WAIT_FIRST_STEP_NS,
	.wait_scale_factor = CCP_WAIT_STEP_SCALE,
	.wait_shift_count = 0,
};

const struct ck_ec_mode ccp_ec_mode_mp = { .ops = &ccp_ec_ops, .single_producer = false };

/* ck_ec's steps (1, 8, 64, 512 ms) are not cut at the caller's deadline:
 * a wait asked for 100 ms slept 512, and a retry due then came half a
 * second late.  Called before each step's sleep, this ends the step at
 * the deadline (state->data) when that comes first. */
static int ec_cut_at_deadline(const struct ck_ec_wait_state *state, struct timespec *step_end)
{
	const struct timespec *deadline = state->data;
	if (deadline->tv_sec < step_end->tv_sec ||
	    (deadline->tv_sec == step_end->tv_sec && deadline->tv_nsec < step_end->tv_nsec))
		*step_end = *deadline;
	return 0;
}

const char *ccp_wait_name(enum ccp_wait_kind k)
{
	switch (k) {
	case CCP_WAIT_SPIN: return "spin";
	case CCP_WAIT_YIELD: return "yield";
	case CCP_WAIT_BLOCK: return "block";
	}
	return "?";
}

int ccp_wait_parse(const char *s, enum ccp_wait_kind *out)
{
	static const enum ccp_wait_kind all[] = { CCP_WAIT_SPIN, CCP_WAIT_YIELD, CCP_WAIT_BLOCK };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, ccp_wait_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

int ccp_event_wait_until(struct ccp_event *e, const struct ck_ec_mode *mode, uint32_t snapshot,
			 const struct timespec *deadline)
{
	/* The predicate reads the deadline through the wait state's data. */
	return ck_ec32_wait_pred(&e->ec, mode, snapshot, ec_cut_at_deadline, (void *)deadline,
				 deadline);
}

void ccp_wait_step(enum ccp_wait_kind k, struct ccp_event *e, uint32_t snapshot,
		   uint64_t deadline_ns, unsigned *idle)
{
	switch (k) {
	case CCP_WAIT_SPIN:
		for (int i = 0; i < 64; i++)
			ccp_cpu_relax();
		return;
	case CCP_WAIT_YIELD:
		sched_yield();
		return;
	case CCP_WAIT_BLOCK:
		if (*idle < CCP_WAIT_BLOCK_YIELDS) {
			(*idle)++;
			sched_yield();
			return;
		}
		if (deadline_ns) {
			struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
					       .tv_nsec = (long)(deadline_ns % 1000000000u) };
			ccp_event_wait_until(e, &ccp_ec_mode_mp, snapshot, &ts);
		} else {
			ck_ec32_wait(&e->ec, &ccp_ec_mode_mp, snapshot, NULL);
		}
		return;
	}
}

/*
 * test_gate: the relay's delivery gate (src/relay/gate.h): open, paused
 * with one probe at a time, resumed by a probe that reached the import
 * (not by a batch let through before the pause),
 * and held for good, probe due or not, once the relay is stopping.
 */
#include <stdatomic.h>

#include "check.h"
#include "relay/gate.h"

int main(void)
{
	static _Atomic int stop;
	struct ccp_gate g;
	/* Retries from 1 ns: a probe is due as soon as the pause begins. */
	ccp_gate_init(&g, 1, 1, &stop);
	CHECK(ccp_gate_pass(&g) == CCP_GATE_OPEN);
	CHECK(ccp_gate_pass(&g) == CCP_GATE_OPEN); /* another dispatcher's batch */
	/* A failure of the relay's own pauses deliveries. */
	CHECK(!ccp_gate_report(&g, CCP_GATE_OPEN, "store full", false));
	CHECK(ccp_gate_try_now(&g) > 0);
	/* The other batch, let through before the pause, reaches the import
	 * during it: that proves nothing of the outage, deliveries stay
	 * paused (resumed, the next batch would pause them again with the
	 * backoff started afresh). */
	CHECK(!ccp_gate_report(&g, CCP_GATE_OPEN, "", true));
	CHECK(ccp_gate_try_now(&g) > 0);
	/* One probe at a time: this dispatcher tries, and it fails again. */
	CHECK(ccp_gate_pass(&g) == CCP_GATE_PROBE);
	CHECK(!ccp_gate_report(&g, CCP_GATE_PROBE, "store full", false));
	/* Stopping while paused, with a probe due: held, not tried (a probe
	 * is an import of up to --import-timeout on the way out). */
	atomic_store(&stop, 1);
	CHECK(ccp_gate_pass(&g) == CCP_GATE_HELD);
	atomic_store(&stop, 0);
	/* A probe that reaches the import resumes deliveries. */
	CHECK(ccp_gate_pass(&g) == CCP_GATE_PROBE);
	CHECK(ccp_gate_report(&g, CCP_GATE_PROBE, "", true));
	CHECK(ccp_gate_pass(&g) == CCP_GATE_OPEN);
	CHECK(ccp_gate_try_now(&g) == 0);
	ccp_gate_destroy(&g);
	puts("test_gate: ok");
	return 0;
}

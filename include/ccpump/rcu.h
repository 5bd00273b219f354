/*
 * rcu.h: ccpump's use of liburcu (the mb flavour).
 *
 * Every thread that touches the registry registers with RCU.  Pollers look
 * records up inside read-side critical sections; retired records are freed
 * only after grace periods (registry.h).  Threads may block outside read
 * sections without telling anyone: no flavour that needs quiescent-state
 * reports (QSBR).
 *
 * Why mb and not memb, liburcu's default: memb's read side has no fence,
 * so its synchronize_rcu() makes one with membarrier(), an IPI to every CPU
 * running a thread of the process, at every grace period: on a virtual
 * machine each is a trap to the hypervisor, and the pump's reclaimer waits
 * for up to a thousand grace periods a second.  mb's read side pays two
 * full fences a read section instead, and a poller holds one section for a
 * whole poll (up to notes_per_poll notifications); its grace periods need
 * no IPI.  On 2 vCPUs, 26 interleaved runs a build, the lock-free bench
 * moved 2.8% more with mb for 5.4% less CPU, mutex mode the same
 * (docs/performance.md, item 8).  CMakeLists.txt defines RCU_MB for every
 * file, so that all of them map to one flavour.
 *
 * ThreadSanitizer cannot see the ordering a grace period provides: to it, a
 * free after synchronize_rcu() races with a reader that finished long
 * before.  In TSan builds ccp_rcu_read_unlock() releases, and the registry's
 * reclaimer acquires after each grace period, one token: exactly the
 * happens-before edge that RCU guarantees (every read section that could
 * see a record ends before it is freed), and nothing more is hidden.
 *
 * Likewise TSan cannot see the publication of a record by the hash table's
 * inline-assembly compare-and-swap (rcu_assign_pointer semantics) nor its
 * pairing dependency-ordered load in a lookup (rcu_dereference), nor the
 * hand-off of a retired batch through liburcu's wait-free queue.  The
 * registry releases an object before it publishes it that way and acquires
 * it where it is taken: CCP_TSAN_PUBLISH / CCP_TSAN_SUBSCRIBE.
 */
#ifndef CCPUMP_RCU_H
#define CCPUMP_RCU_H

#ifndef RCU_MB
#error "ccpump is built with liburcu's mb flavour: RCU_MB (CMakeLists.txt)"
#endif
#include <urcu.h>

#include "ccpump/compiler.h"

#ifdef CCPUMP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char ccp_rcu_tsan_token;
#define CCP_RCU_TSAN_RELEASE() __tsan_release(&ccp_rcu_tsan_token)
#define CCP_RCU_TSAN_ACQUIRE() __tsan_acquire(&ccp_rcu_tsan_token)
#define CCP_TSAN_PUBLISH(p) __tsan_release((void *)(p))
#define CCP_TSAN_SUBSCRIBE(p) __tsan_acquire((void *)(p))
#else
#define CCP_TSAN_PUBLISH(p) ((void)0)
#define CCP_TSAN_SUBSCRIBE(p) ((void)0)
#define CCP_RCU_TSAN_RELEASE() ((void)0)
#define CCP_RCU_TSAN_ACQUIRE() ((void)0)
#endif

static inline void ccp_rcu_read_lock(void)
{
	rcu_read_lock();
}

static inline void ccp_rcu_read_unlock(void)
{
	CCP_RCU_TSAN_RELEASE();
	rcu_read_unlock();
}

/* rcu_barrier(): every call_rcu() callback queued before it has run (the
 * hash table's resizes run as such callbacks). */
static inline void ccp_rcu_barrier(void)
{
	rcu_barrier();
}

#endif /* CCPUMP_RCU_H */

/*
 * rcu.h: ccpump's use of liburcu (the memb flavour).
 *
 * Every thread that touches the registry registers with RCU.  Pollers look
 * records up inside read-side critical sections; retired records are freed
 * only after grace periods (registry.h).  The memb flavour's read side is a
 * few instructions when sys_membarrier is available, and needs no periodic
 * quiescent-state reports (QSBR would), so threads may block outside read
 * sections without telling anyone.
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

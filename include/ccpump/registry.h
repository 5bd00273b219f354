/*
 * registry.h: key -> record, one record per live message.
 *
 * Every poller that sees a notification for a key must find the same
 * record, or two records could each win their own claim.  The registry is
 * liburcu's lock-free resizable hash table (cds_lfht): lookups run inside
 * RCU read-side critical sections without locks, and cds_lfht_add_unique()
 * makes "find or add" atomic: of two pollers adding the same key, one adds,
 * the other is handed the winner's record.
 *
 * RETIRING A RECORD (the late-notification problem)
 * A delivered record must eventually be freed, but a notification observed
 * before the delivery may still be on its way through a poller.  If the
 * record vanished first, that poller would add a fresh NEW record and
 * deliver the message a second time.  Retirement therefore waits twice:
 *
 *   1. the owner acknowledges the outcome to the source (the spool file is
 *      unlinked): from now on no new observation of the key can be made;
 *   2. the record stays in the table as a tombstone (DELIVERED or FAILED:
 *      every claim on it fails) for one grace period, which ends only after
 *      every read-side section that began before it, and so every
 *      observation made before step 1, has finished with its lookup;
 *   3. the record is unlinked from the table; after a second grace period
 *      no reader can still hold a pointer to it, and it is freed.
 *
 * Pollers must make their observation (read the notification) and their
 * lookup inside one read-side section; sources must not report a key whose
 * acknowledgement completed before the poll began.  Retirement is batched
 * and runs on the registry's own reclaimer thread, in rounds of one grace
 * period each: a round frees what the round before unlinked and unlinks
 * what was flushed before it began (registry.c says why not call_rcu).
 *
 * WHICH CALLS MAY RUN AT ONCE
 *   find, find_or_add: any threads, inside ccp_rcu_read_lock().
 *   retire: any thread that owns the record (it holds it in a terminal
 *           state), each with its own ccp_retire_list.
 *   reclaim_wait: any registered thread, outside a read-side section.
 *   create, destroy: alone (destroy after every thread stopped).  create
 *           starts the reclaimer thread; destroy drains and joins it.
 */
#ifndef CCPUMP_REGISTRY_H
#define CCPUMP_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"
#include "ccpump/msg.h"

struct ccp_registry;

/* Creates a registry sized for about `expected_live` records: it grows past
 * that when needed and never shrinks below it. */
CCP_EXPORT struct ccp_registry *ccp_registry_create(size_t expected_live);

/*
 * Waits for pending retirements (rcu_barrier), frees every record still in
 * the table, and the registry.  Call only when no other thread uses it.
 * The calling thread must be registered with RCU.
 */
CCP_EXPORT void ccp_registry_destroy(struct ccp_registry *reg);

/*
 * Finds the record of key (len bytes, hash from ccp_hash_bytes()).  Call
 * inside ccp_rcu_read_lock(); the pointer is valid until the section ends.
 * Returns NULL if absent.  Wait-free for readers (lock-free under resize).
 */
CCP_EXPORT struct ccp_msg *ccp_registry_find(struct ccp_registry *reg, const char *key,
					     uint32_t len, uint64_t hash);

/* Fills a new record's user area before anyone else can see the record. */
typedef void (*ccp_msg_init_fn)(void *ctx, struct ccp_msg *m);

/*
 * Finds the record of key, or adds a NEW one whose user area is user_size
 * bytes (zeroed, then passed to init if not NULL) and whose first_seen_ns
 * is now_ns.  *added tells which.  init runs before the record is linked,
 * so whoever finds the record sees its user area complete.  Of any number
 * of racing callers with the same key exactly one adds; all get the same
 * record.  Call inside ccp_rcu_read_lock().  Lock-free.
 */
CCP_EXPORT struct ccp_msg *ccp_registry_find_or_add(struct ccp_registry *reg, const char *key,
						    uint32_t len, uint64_t hash,
						    size_t user_size, uint64_t now_ns,
						    ccp_msg_init_fn init, void *init_ctx,
						    bool *added);

/* Records added and not yet freed (a relaxed snapshot). */
CCP_EXPORT uint64_t ccp_registry_live(const struct ccp_registry *reg);
/* Records freed so far. */
CCP_EXPORT uint64_t ccp_registry_freed(const struct ccp_registry *reg);

#define CCP_RETIRE_BATCH 512

/* A thread's pending retirements; zero it, then set reg. */
struct ccp_retire_list {
	struct ccp_registry *reg;
	unsigned n;
	struct ccp_msg *msgs[CCP_RETIRE_BATCH];
};

/*
 * Hands a record in a terminal state (DELIVERED or FAILED), whose outcome
 * was already acknowledged to the source, to the reclamation described
 * above.  Aborts if the record is not terminal.  Flushes when full (the
 * pump's dispatchers also flush when idle, and after a batch once a
 * millisecond has passed since their last flush).
 * The calling thread must be registered with RCU.
 */
CCP_EXPORT void ccp_registry_retire(struct ccp_retire_list *l, struct ccp_msg *m);
/* Starts reclamation of everything pending in l (call before a thread exits
 * or goes idle, so tombstones do not linger).  Wait-free: it hands one
 * batch to the registry's reclaimer thread. */
CCP_EXPORT void ccp_registry_retire_flush(struct ccp_retire_list *l);

/* Returns once every record flushed before the call has been freed.  Call
 * outside any read-side section (it waits for grace periods). */
CCP_EXPORT void ccp_registry_reclaim_wait(struct ccp_registry *reg);

#endif /* CCPUMP_REGISTRY_H */

/*
 * queuectl.h: an operator's actions on a relay's queue (`ccpump queue
 * --flush`, `--requeue`), as Postfix's `postqueue -f` and `postsuper -r`.
 *
 * flush:   asks the relay running on a store to retry its deferred
 *          messages now (SIGUSR1 to it), and to try a paused delivery at
 *          once, for when what failed has been mended.
 * requeue: moves a message from STORE/Bad back into SPOOL/new, where the
 *          relay finds it as new mail: its reason, its non-delivery report
 *          and any Deferred/ marker go, so its attempts start again.
 * resend:  queues a message's report to its sender to be sent again.
 * Both are safe while a relay runs.
 */
#ifndef CCPUMP_QUEUECTL_H
#define CCPUMP_QUEUECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ccpump/compiler.h"

/*
 * Signals the relay that holds STORE's lock (STORE/relay.lock) with
 * SIGUSR1.  The pid in the lock file is trusted only if that process has
 * the lock file open, so a stale pid (a relay killed with kill -9) is
 * never signalled.  Returns 0 with *pid set; 1 when no relay runs on the
 * store; -1 when it cannot tell or cannot signal.  Both with a line in err.
 */
CCP_EXPORT int ccp_queue_flush(const char *store, pid_t *pid, char *err, size_t errlen);

/*
 * Moves STORE/Bad/NAME back into SPOOL/new/NAME (a rename, or across file
 * systems a copy through SPOOL/tmp, synced when SYNC, linked into new/),
 * never over an entry already there, and removes NAME.reason, NAME.ndr and
 * STORE/Deferred/NAME.  Refuses a spool file that changed after its
 * delivery (CCP_SPOOL_CHANGED_AFTER): the post office would skip it as a
 * duplicate.  On failure the message and its records stay in Bad as they
 * were.  Returns 0, or -1 with a line naming NAME in err.
 */
CCP_EXPORT int ccp_queue_requeue(const char *spool, const char *store, const char *name,
				 bool sync, char *err, size_t errlen);

/*
 * Removes message STORE/Bad/NAME for good, with its records (NAME.reason,
 * NAME.ndr), its report if it still waits in STORE/Bounce, and any
 * STORE/Deferred/NAME marker; the message first, so that no failure
 * leaves it without its reason.  When SYNC, each directory is synced
 * after it, before the return: Bounce and Deferred where something was
 * removed from them, then Bad (a crash between leaves no report queued on
 * a message that is gone).
 * Returns 0; -1 with a line naming NAME in err when it is not a message
 * in Bad or cannot be removed (nothing removed), or when something after
 * the message could not be (the message is gone).
 */
CCP_EXPORT int ccp_queue_delete(const char *store, const char *name, bool sync, char *err,
				size_t errlen);

/*
 * Queues the report on message NAME, STORE/Bad/NAME.ndr (or, for a message
 * delivered in part, STORE/Partial/NAME.ndr), to be sent again by a relay
 * with --bounce-cmd: a link STORE/Bounce/NAME, as the relay
 * makes (over an older one).  A missing STORE/Bounce is made, and run as
 * root, given the store's owner and group: the relay's user must open it.
 * A report without a To (no return path was found for it) is refused.
 * Returns 0, or -1 with a line naming NAME.
 */
CCP_EXPORT int ccp_queue_resend_report(const char *store, const char *name, char *err,
				       size_t errlen);

/*
 * Calls fn for each message in STORE/Bad (not its .reason and .ndr
 * records), in name order, until fn returns non-zero (returned).
 * Returns 0 when Bad does not exist; -1 with a line in err when it cannot
 * be read.
 */
CCP_EXPORT int ccp_queue_each_bad(const char *store, int (*fn)(void *arg, const char *name),
				  void *arg, char *err, size_t errlen);

#endif /* CCPUMP_QUEUECTL_H */

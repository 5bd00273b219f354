/*
 * bouncer.h: sending the reports on messages that went to Bad or were
 * delivered in part, on a thread of their own (internal to src/relay).
 *
 * A report to send is queued as a hard link to Bad/NAME.ndr (or
 * Partial/NAME.ndr) named NAME in STORE/Bounce/: the queue is on disk, so a
 * stop or a crash leaves what was not sent for the next run.  The bouncer
 * thread runs --bounce-cmd ADDRESS (the report's To) with each report on its
 * standard input, and removes the link once the command answered.  A
 * temporary failure (75, EX_TEMPFAIL, or a program that could not run or ran
 * too long) keeps it queued: the next pass over the queue comes after
 * --retry-min, doubling to --retry-max while passes fail.  Any other answer
 * is final, and the report stays in Bad (or Partial) only.  Dispatchers never
 * wait for a sendmail.
 *
 * Delivery of a report is at least once: a crash after the command and
 * before the link's removal sends that report again.
 */
#ifndef CCPUMP_RELAY_BOUNCER_H
#define CCPUMP_RELAY_BOUNCER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ccp_bouncer;

/*
 * Starts the bouncer on the queue directory DIRFD (STORE/Bounce, named DIR
 * in log lines), running CMD.  What an earlier run left queued is sent
 * first.  STOP_NOW, when not NULL, is a flag a signal handler may set (the
 * relay's stop request): once it is, a pass ends after the command in
 * progress, a drain's too (ccp_bouncer_stop()).  Returns NULL with a line
 * in err when its thread cannot start.
 */
struct ccp_bouncer *ccp_bouncer_start(const char *cmd, const char *dir, int dirfd,
				      uint64_t retry_min_ns, uint64_t retry_max_ns, bool sync,
				      const _Atomic int *stop_now, char *err, size_t errlen);

/*
 * The queue's one write: a link QUEUE_FD/KEY to the report DIR_FD/NDR_NAME
 * (DIR_FD: Bad or Partial), over an older one of that name, the directory
 * synced when SYNC.  For the relay and for `ccpump queue --resend-report`.
 * Returns 0, or -1 with errno, the link then not there (one made but not
 * synced is removed: queued without the caller knowing, it would be sent).
 */
int ccp_bounce_queue_link(int dir_fd, const char *ndr_name, int queue_fd, const char *key,
			  bool sync);

/*
 * Queues the report DIR_FD/NDR_NAME on message KEY for sending (a link
 * named KEY; one already there, an older report on the same name, is
 * replaced).  Any thread.  Returns 0, or -1 with errno (the report then
 * stays in DIR_FD only; the caller logs it).
 */
int ccp_bouncer_queue(struct ccp_bouncer *b, int dir_fd, const char *ndr_name, const char *key);

/* A pass over the queue now, whatever the backoff (`queue --flush`): a
 * report linked into the queue by hand goes out too.  Any thread. */
void ccp_bouncer_flush(struct ccp_bouncer *b);

/*
 * Stops the bouncer and frees it.  With DRAIN, each report still queued
 * is tried once more first (`--once`), unless STOP_NOW is or becomes set;
 * otherwise it stops after the command in progress, if any, leaving the
 * rest queued.
 */
void ccp_bouncer_stop(struct ccp_bouncer *b, bool drain);

#endif

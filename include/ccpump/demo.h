/*
 * demo.h: a demo spool of realistic messages, for `make run` and for
 * relay benchmarks.
 *
 * Messages of varied kinds and sizes (plain text in ASCII, Latin-1 and
 * UTF-8; multipart with binary attachments; HTML only; 1 to 5 recipients
 * among 60 people), written into DIR/tmp and renamed into DIR/new as an MTA
 * delivers into a Maildir.  Deterministic for a given seed.
 */
#ifndef CCPUMP_DEMO_H
#define CCPUMP_DEMO_H

#include <stdint.h>

#include "ccpump/compiler.h"

struct ccp_demo_stats {
	uint64_t messages, bytes, recipients;
};

/*
 * Writes COUNT messages numbered from FIRST into the Maildir DIR (created
 * with tmp/, new/ and cur/ if missing).  Sizes: mostly 1 to 10 KB, with a
 * tail of attachments up to 60 KB; max_body (0 = no cap) caps the text and
 * the attachment of each message, and under 1 KB only plain text is made.
 * Returns 0, or -1 with a reason in err.
 */
CCP_EXPORT int ccp_demo_spool(const char *dir, uint64_t first, uint64_t count, uint64_t seed,
			      size_t max_body, struct ccp_demo_stats *st, char *err, size_t errlen);

/*
 * Writes the spool in DIR to disk (syncfs of its file system): an MTA
 * fsyncs each message it delivers into a Maildir, so a spool the relay
 * finds is on disk, its blocks allocated.  A demo spool relayed while its
 * files are still dirty in the page cache would flatter the relay, whose
 * removals would then free blocks never written.  Returns 0, or -1 with
 * err naming DIR.
 */
CCP_EXPORT int ccp_demo_spool_sync(const char *dir, char *err, size_t errlen);

#endif /* CCPUMP_DEMO_H */

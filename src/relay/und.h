/*
 * und.h: reading the .und file an import program leaves beside a batch
 * that answered 5 (internal to src/relay).
 *
 * IMPORT appends each undeliverable message to NAME.und: a line
 * "Undeliverable: REASON", then the message's octets as the .ccm held them
 * ("Message:", its size line, that many octets; docs/ccmail-format.md).
 * The relay learns from it which messages of the batch were not imported.
 * The messages' text is anyone's, so an entry is delimited by the size
 * line alone, never by what a line of text says.
 */
#ifndef CCPUMP_RELAY_UND_H
#define CCPUMP_RELAY_UND_H

#include <stddef.h>

/* The first entry's start in [p, end): P after any blank lines. */
const char *ccp_und_first(const char *p, const char *end);

/*
 * The entry at P (before END).  Sets REASON and REASON_LEN to the text
 * after "Undeliverable: " up to its line's end, MSG and MSG_LEN to the
 * message's octets (from its "Message:" line through its size), and
 * returns where the next entry starts (END after the last).  NULL when P
 * holds no entry in that form, or the message's size does not end it
 * where the next entry or the file begins.  Never reads outside
 * [p, end).
 */
const char *ccp_und_entry(const char *p, const char *end, const char **reason,
			  size_t *reason_len, const char **msg, size_t *msg_len);

#endif /* CCPUMP_RELAY_UND_H */

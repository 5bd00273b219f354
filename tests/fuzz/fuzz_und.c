/*
 * fuzz_und: the entries of an import's .und file (relay/und.h), on any
 * octets.  Checked: every span it returns lies inside the input; a reason
 * holds no line end; a message starts with its "Message:" line; each entry
 * moves forward, so a walk over any file ends; and the entry found after a
 * message is where that message's size said it ends.
 */
#include <stdint.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/log.h"
#include "relay/und.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *start = (const char *)data, *end = start + size;
	const char *p = ccp_und_first(start, end);
	if (p < start || p > end)
		ccp_panic("the first entry outside the input");
	while (p < end) {
		const char *reason, *msg;
		size_t reason_len, msg_len;
		const char *next = ccp_und_entry(p, end, &reason, &reason_len, &msg, &msg_len);
		if (!next)
			break;
		if (next <= p || next > end)
			ccp_panic("an entry that does not move forward");
		if (reason < p || reason + reason_len > msg || memchr(reason, '\n', reason_len) ||
		    memchr(reason, '\r', reason_len))
			ccp_panic("a reason outside its line");
		if (msg < p || msg + msg_len > next || msg_len < strlen("Message:") ||
		    memcmp(msg, "Message:", strlen("Message:")) != 0)
			ccp_panic("a message span that is not one");
		for (const char *q = msg + msg_len; q < next; q++)
			if (*q != '\r' && *q != '\n')
				ccp_panic("octets between a message's end and the next entry");
		/* What the relay does with the span: read it as one message. */
		struct ccp_ccm_reader r;
		struct ccp_ccm_msg m;
		ccp_ccm_msg_init(&m);
		ccp_ccm_reader_init(&r, msg, msg_len, "fuzz.und");
		if (ccp_ccm_reader_next(&r, &m) > 0)
			(void)ccp_ccm_msg_ext(&m, "X-Spool-Id");
		ccp_ccm_msg_free(&m);
		p = next;
	}
	return 0;
}

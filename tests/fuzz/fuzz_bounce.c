/*
 * fuzz_bounce: the return path of any header (relay/bounce.h), and the
 * report made from it.  The input: one octet, the length of a spool file
 * name taken from the octets after it (any octet but '/' and NUL, as a
 * file name holds), then the message.  Checked: an address found is one a
 * program may be handed (ccp_bounce_address_usable()); the report's header
 * block is well-formed whatever the name, the reason and the message hold:
 * lines end in LF, no CR, no NUL, no folded line, so nothing from the
 * outside can add a field (a Bcc, say) to the report; the block ends, and
 * the To field holds the address found.  The whole report, the quoted
 * header's lines included, holds no NUL and no CR (one line end, LF), and
 * no line past 998 octets.  Both kinds of
 * report (undelivered, delivered in part) are made, by the name's first
 * octet.
 */
#define _GNU_SOURCE /* memmem() */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/log.h"
#include "relay/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t klen = data[0] % 64;
	if (klen > size - 1)
		klen = size - 1;
	char key[64];
	for (size_t i = 0; i < klen; i++)
		key[i] = data[1 + i] == '/' || data[1 + i] == 0 ? '_' : (char)data[1 + i];
	key[klen] = '\0';
	const char *msg = (const char *)data + 1 + klen;
	size_t len = size - 1 - klen;

	char addr[320], to_field[400];
	const char *field = NULL;
	enum ccp_bounce_to kind = ccp_bounce_recipient(msg, len, addr, sizeof(addr), &field);
	if (kind == CCP_BOUNCE_TO_ADDR && (!ccp_bounce_address_usable(addr) || field == NULL))
		ccp_panic("an unusable address '%s' was found", addr);
	if (kind == CCP_BOUNCE_TO_NULL && (field == NULL || strcmp(field, "Return-Path") != 0))
		ccp_panic("a null return path outside Return-Path");
	if (kind == CCP_BOUNCE_TO_AUTO && field == NULL)
		ccp_panic("an automatic message without the field that says so");

	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	/* Both kinds of report, by the name's first octet. */
	enum ccp_bounce_kind rk = klen && (key[0] & 1) ? CCP_BOUNCE_PARTIAL : CCP_BOUNCE_UNDELIVERED;
	ccp_bounce_format(&b, rk, "MAILER-DAEMON@relay.example",
			  kind == CCP_BOUNCE_TO_ADDR ? addr : NULL, key, key, msg, len);
	const char *r = (const char *)b.data;
	/* A report is never answered with a report: whatever the message
	 * held, ours says Auto-Submitted. */
	char again[320];
	const char *f2;
	if (ccp_bounce_recipient(r, b.len, again, sizeof(again), &f2) == CCP_BOUNCE_TO_ADDR)
		ccp_panic("a report would be answered with a report, to %s", again);
	size_t end = 0;
	while (end + 1 < b.len && memcmp(r + end, "\n\n", 2) != 0)
		end++;
	if (end + 1 >= b.len)
		ccp_panic("the report's header block does not end");
	for (size_t i = 0; i <= end; i++) {
		if (r[i] == 0)
			ccp_panic("a NUL in the report's header at %zu", i);
		if (r[i] == '\r')
			ccp_panic("a CR in the report's header at %zu", i);
		if (i > 0 && r[i - 1] == '\n' && (r[i] == ' ' || r[i] == '\t'))
			ccp_panic("a folded line in the report's header at %zu", i);
	}
	/* The body too, the quoted header included: text a mail server
	 * takes, no NUL, no CR, no line past SMTP's 998 octets. */
	if (memchr(r, '\0', b.len) != NULL)
		ccp_panic("a NUL in the report at %zu", (size_t)((const char *)memchr(r, 0, b.len) - r));
	if (memchr(r, '\r', b.len) != NULL)
		ccp_panic("a CR in the report at %zu", (size_t)((const char *)memchr(r, '\r', b.len) - r));
	for (size_t i = 0, line = 0; i < b.len; i++, line++) {
		if (r[i] == '\n')
			line = (size_t)-1;
		else if (line >= 998)
			ccp_panic("a report line past 998 octets, at %zu", i);
	}
	if (kind == CCP_BOUNCE_TO_ADDR) {
		int n = snprintf(to_field, sizeof(to_field), "\nTo: <%s>\n", addr);
		if (memmem(r, end + 1, to_field, (size_t)n) == NULL)
			ccp_panic("the report's To is not <%s>", addr);
	} else if (memmem(r, end, "\nTo:", 4) != NULL) {
		ccp_panic("a report with no address has a To field");
	}
	ccp_ccm_buf_free(&b);
	return 0;
}

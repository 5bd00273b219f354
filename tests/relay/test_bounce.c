/*
 * test_bounce: the reports to senders (src/relay/bounce.c).
 *
 *   report      a delivery or disposition report (Content-Type:
 *               multipart/report) is never answered with another, even
 *               without its null Return-Path (a spool fed by a script);
 *               one in another part's type is; a Return-Path with
 *               blanks before its colon (obsolete syntax) is read; a
 *               header no empty line ends stops at the body's first
 *               line; a name in raw ISO-2022-JP hides no sender; a
 *               comment before Auto-Submitted's keyword hides it not;
 *   quoted      the quoted header of the message reported on comes out
 *               as text a mail server takes: no NUL, no bare CR, no
 *               escape sequence, no octet of no UTF-8 character (each
 *               written \xHH), TABs kept, and a line past 998 octets
 *               continued on the next, indented, its text all there;
 *               so is a spool name of 8-bit octets in the body.
 */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "ccpump/ccm.h"
#include "relay/bounce.h"

static enum ccp_bounce_to recipient(const char *hdr, char *addr, const char **field)
{
	return ccp_bounce_recipient(hdr, strlen(hdr), addr, 320, field);
}

static void test_report(void)
{
	char addr[320];
	const char *field;
	const char *dsn = "From: postmaster@remote.example\r\nTo: nobody@example.org\r\n"
			  "Content-Type: Multipart/Report; report-type=delivery-status;\r\n"
			  "\tboundary=\"b\"\r\n\r\n--b\r\n";
	CHECK_EQ_U64(recipient(dsn, addr, &field), CCP_BOUNCE_TO_AUTO);
	CHECK_STREQ(field, "Content-Type");
	const char *mdn = "From: alice@remote.example\r\nContent-Type: multipart/report "
			  "(read receipt); report-type=disposition-notification\r\n\r\n";
	CHECK_EQ_U64(recipient(mdn, addr, &field), CCP_BOUNCE_TO_AUTO);
	const char *mixed = "From: bob@remote.example\r\nContent-Type: multipart/reports\r\n"
			    "X-Type: multipart/report\r\n\r\n";
	CHECK_EQ_U64(recipient(mixed, addr, &field), CCP_BOUNCE_TO_ADDR);
	CHECK_STREQ(addr, "bob@remote.example");
	CHECK_STREQ(field, "From");
	/* Blanks before the colon, as RFC 5322's obsolete syntax allows: a
	 * null return path is still one. */
	CHECK_EQ_U64(recipient("Return-Path : <>\r\nFrom: c@remote.example\r\n\r\n", addr,
			       &field),
		     CCP_BOUNCE_TO_NULL);
	CHECK_EQ_U64(recipient("Return-Pathx: <>\r\nFrom: c@remote.example\r\n\r\n", addr,
			       &field),
		     CCP_BOUNCE_TO_ADDR);
	/* A header that no empty line ends stops at the body's first line,
	 * as the converter reads it: a quoted From in the body is not the
	 * sender's. */
	CHECK_EQ_U64(recipient("To: b@example.org\r\nSubject: fwd\r\n---- Forwarded ----\r\n"
			       "From: d@remote.example\r\n", addr, &field),
		     CCP_BOUNCE_TO_NONE);
	CHECK_EQ_U64(recipient("Sender: e@remote.example\r\nSubject: s\r\n \r\n"
			       "From: d@remote.example\r\n", addr, &field),
		     CCP_BOUNCE_TO_ADDR);
	CHECK_STREQ(addr, "e@remote.example");
	/* A name in raw ISO-2022-JP: the '(' of its closing "ESC ( B" opens
	 * no comment, and its double-byte run's '"' (JIS 0x2422) no quoted
	 * string; the sender was not found. */
	CHECK_EQ_U64(recipient("From: \x1b$B$\"$3\x1b(B <taro@remote.example>\r\n\r\n", addr,
			       &field),
		     CCP_BOUNCE_TO_ADDR);
	CHECK_STREQ(addr, "taro@remote.example");
	CHECK_EQ_U64(recipient("From: taro@remote.example (\x1b$B$3\x1b(B)\r\n\r\n", addr,
			       &field),
		     CCP_BOUNCE_TO_ADDR);
	CHECK_STREQ(addr, "taro@remote.example");
	/* Comments before the keyword, as RFC 3834 allows: still an
	 * automatic reply, still a report; an open one hides no keyword. */
	CHECK_EQ_U64(recipient("From: v@remote.example\r\nAuto-Submitted: (vacation \\) (x)) "
			       "auto-replied\r\n\r\n", addr, &field),
		     CCP_BOUNCE_TO_AUTO);
	CHECK_EQ_U64(recipient("From: v@remote.example\r\nContent-Type: (c) multipart/report; "
			       "report-type=delivery-status\r\n\r\n", addr, &field),
		     CCP_BOUNCE_TO_AUTO);
	CHECK_EQ_U64(recipient("From: v@remote.example\r\nAuto-Submitted: (open auto-replied\r\n"
			       "\r\n", addr, &field),
		     CCP_BOUNCE_TO_ADDR);
}

/* Every line of the report B under SMTP's 998 octets. */
static void check_line_lengths(const struct ccp_ccm_buf *b)
{
	const char *r = b->data;
	for (const char *line = r; line < r + b->len;) {
		const char *nl = memchr(line, '\n', (size_t)(r + b->len - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(r + b->len - line);
		CHECK_MSG(len <= 998, "a report line of %zu octets", len);
		line += len + 1;
	}
}

/* The lines of the report's body after the line MARK, each checked. */
static void test_quoted(void)
{
	char hdr[4096];
	char longv[1501];
	memset(longv, 'v', 1500);
	longv[1500] = '\0';
	memcpy(longv + 700, "MIDDLE", 6);
	int n = snprintf(hdr, sizeof(hdr),
			 "Return-Path: <s@example.org>\r\nSubject: caf\xe9 \x1b[31mred\r\n"
			 "X-Nul: a%cb\rY\r\nX-Long: %s\r\nReceived: from x\r\n\tby y\r\n"
			 "X-Utf8: J\xc3\xbcrgen\r\n\r\nbody\r\n",
			 0, longv);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	ccp_bounce_format(&b, CCP_BOUNCE_UNDELIVERED, "MAILER-DAEMON@relay.example", "s@example.org",
			  "m1", "unknown recipient", hdr, (size_t)n);
	const char *r = b.data;
	const char *q = strstr(r, "--- The header of your message ---\n");
	CHECK(q != NULL);
	CHECK(memchr(r, '\0', b.len) == NULL && memchr(r, '\r', b.len) == NULL &&
	      memchr(r, '\x1b', b.len) == NULL);
	check_line_lengths(&b);
	CHECK(strstr(q, "Subject: caf\\xe9 \\x1b[31mred\n") != NULL);
	CHECK(strstr(q, "X-Nul: a\\x00b\\x0dY\n") != NULL);
	CHECK(strstr(q, "Received: from x\n\tby y\n") != NULL);
	CHECK(strstr(q, "X-Utf8: J\xc3\xbcrgen\n") != NULL);
	/* The long line: all of it, in pieces, each continued indented. */
	const char *lv = strstr(q, "X-Long: ");
	CHECK(lv != NULL && strstr(lv, "MIDDLE") != NULL);
	size_t vs = 0;
	const char *p = lv + 8;
	for (; *p && *p != 'R'; p++)
		vs += *p == 'v';
	CHECK_EQ_U64(vs, 1494);
	CHECK(strstr(lv, "\n    v") != NULL);
	ccp_ccm_buf_free(&b);

	/* A line under 900 octets stays one line, wherever its blanks are. */
	char mid[708];
	memset(mid, 'm', sizeof(mid) - 1);
	mid[sizeof(mid) - 1] = '\0';
	mid[640] = ' ';
	n = snprintf(hdr, sizeof(hdr), "X-Mid: %s\r\n\r\n", mid);
	ccp_ccm_buf_init(&b);
	ccp_bounce_format(&b, CCP_BOUNCE_UNDELIVERED, "MAILER-DAEMON@relay.example", NULL, "m2",
			  "r", hdr, (size_t)n);
	char want[800];
	snprintf(want, sizeof(want), "\nX-Mid: %s\n", mid);
	CHECK(strstr(b.data, want) != NULL);
	ccp_ccm_buf_free(&b);

	/* A spool name of 255 8-bit octets, each written \xHH, and a reason
	 * that quotes it: folded as the quoted header is, not one line of a
	 * thousand octets. */
	char key[256], reason[600];
	memset(key, 0xff, 255);
	key[255] = '\0';
	snprintf(reason, sizeof(reason), "%s: refused: empty or missing From", key);
	ccp_ccm_buf_init(&b);
	ccp_bounce_format(&b, CCP_BOUNCE_UNDELIVERED, "MAILER-DAEMON@relay.example", "s@example.org",
			  key, reason, "From: s@example.org\r\n\r\n", 23);
	check_line_lengths(&b);
	CHECK(strstr(b.data, "(spool file \\xff") != NULL);
	ccp_ccm_buf_free(&b);
}

int main(void)
{
	test_report();
	test_quoted();
	printf("test_bounce: ok\n");
	return 0;
}

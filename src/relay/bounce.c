/*
 * bounce.c: the non-delivery report and its recipient (bounce.h).
 */
#include "relay/bounce.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netdb.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/headers.h"
#include "ccpump/log.h"

/* The header block's length (ccp_headers_block_len()), looked for in the
 * first CCP_BOUNCE_HEADER_MAX octets.  0 when the message starts with the
 * empty line: it has no header, and what follows is its body, where no
 * report address or quoted header may come from. */
static size_t header_len(const char *h, size_t len)
{
	return ccp_headers_block_len(h, len > CCP_BOUNCE_HEADER_MAX ? CCP_BOUNCE_HEADER_MAX : len);
}

/*
 * The first field NAME of the block H[0..len), unfolded (a line break and
 * the blank that continues the field become one space; CR and LF dropped)
 * into OUT, NUL-terminated and cut to CAP.  False when there is none.
 */
static bool field_value(const char *h, size_t len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name), i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		/* The name, then blanks before the colon, as RFC 5322's
		 * obsolete syntax allows and older mailers wrote
		 * ("Return-Path : <>"). */
		size_t colon = i + nlen;
		while (colon < eol && (h[colon] == ' ' || h[colon] == '\t'))
			colon++;
		if (eol - i > nlen && colon < eol && h[colon] == ':' &&
		    strncasecmp(h + i, name, nlen) == 0) {
			size_t o = 0;
			for (size_t k = colon + 1; k < len && o + 1 < cap; k++) {
				if (h[k] == '\r')
					continue;
				if (h[k] == '\n') {
					if (k + 1 < len && (h[k + 1] == ' ' || h[k + 1] == '\t'))
						continue; /* a fold: its blank follows */
					break;
				}
				out[o++] = h[k];
			}
			out[o] = '\0';
			return true;
		}
		i = eol + 1;
	}
	return false;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Past the escape sequence at P (ESC, its intermediate octets, its final
 * one), and, where it shifts to a double-byte set (ESC $ ...: raw
 * ISO-2022-JP, as Japanese mailers wrote names outside encoded words),
 * past the run up to the next escape too: that run's 7-bit octets are
 * halves of characters, not '"', '(' or '<', and the "ESC ( B" after it
 * opens no comment. */
static char *past_escape(char *p)
{
	for (;;) {
		bool wide = p[1] == '$';
		p++;
		while (*p >= 0x20 && *p <= 0x2f)
			p++;
		if (*p >= 0x30 && *p <= 0x7e)
			p++;
		if (!wide)
			return p;
		/* The run to the next escape, and that escape (a loop: a
		 * header of escapes alone must not nest calls). */
		char *e = strchr(p, '\x1b');
		if (e == NULL)
			return p + strlen(p);
		p = e;
	}
}

/*
 * From a From or Sender value: the first mailbox's address.  Quoted strings
 * and comments are skipped over, and so are ISO-2022-JP's escapes and
 * double-byte runs (past_escape()); the address is what is inside the
 * first angle brackets outside them, or, without any, the value up to a
 * comma with its comments removed.  In place; returns the address.
 */
static char *mailbox_addr(char *v)
{
	char *w = v;
	int depth = 0;
	bool quoted = false;
	for (char *p = v; *p; p++) {
		if (*p == '\x1b') {
			p = past_escape(p) - 1;
			continue;
		}
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = false;
			continue;
		}
		if (depth) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			continue;
		}
		if (*p == '"') {
			quoted = true;
		} else if (*p == '(') {
			depth = 1;
		} else if (*p == '<') {
			char *end = strchr(p + 1, '>');
			if (end == NULL)
				return v + strlen(v); /* broken: no address */
			*end = '\0';
			return trim(p + 1);
		} else if (*p == ',') {
			break;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return trim(v);
}

bool ccp_bounce_address_usable(const char *a)
{
	const char *at = strrchr(a, '@');
	if (a[0] == '-' || at == NULL || at == a || at[1] == '\0' || strlen(a) > 254)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[]\\\",;:", *p) != NULL)
			return false;
	return true;
}

/* Whether the field NAME of the block H[0..len) holds the keyword KW (its
 * value's first word past any comments, matched without case; parameters
 * after ';' and later comments are not read). */
static bool field_is(const char *h, size_t len, const char *name, const char *kw)
{
	char v[128];
	if (!field_value(h, len, name, v, sizeof(v)))
		return false;
	const char *t = trim(v);
	/* Comments before the keyword (RFC 3834 allows "(vacation)
	 * auto-replied"), each with its nested comments and quoted pairs. */
	while (*t == '(') {
		int depth = 0;
		for (; *t; t++) {
			if (*t == '\\' && t[1])
				t++;
			else if (*t == '(')
				depth++;
			else if (*t == ')' && --depth == 0)
				break;
		}
		if (*t == '\0')
			return false; /* a comment left open: no keyword */
		t = trim((char *)t + 1);
	}
	size_t n = strlen(kw);
	return strncasecmp(t, kw, n) == 0 &&
	       (t[n] == '\0' || t[n] == ';' || t[n] == ' ' || t[n] == '\t' || t[n] == '(');
}

/* Whether ADDR is a mail system's own: a local part of MAILER-DAEMON,
 * which no one reads and which may answer a report with one of its own. */
static bool mailer_daemon(const char *addr)
{
	static const char md[] = "mailer-daemon@";
	return strncasecmp(addr, md, sizeof(md) - 1) == 0;
}

enum ccp_bounce_to ccp_bounce_recipient(const char *hdr, size_t len, char *addr, size_t cap,
					const char **field)
{
	static const char *const fields[] = { "Return-Path", "Sender", "From" };
	/* A whole field: a display name or comment may run long, and a value
	 * cut inside it leaves no address to find. */
	char v[8192];
	size_t hlen = header_len(hdr, len);
	*field = NULL;
	/* An automatic reply (RFC 3834), which reports (ours included),
	 * vacation replies and other responders say they are; and a report
	 * (RFC 6522: a delivery status notification, RFC 3464, or a
	 * disposition notification), which is never answered with another,
	 * even without its null Return-Path (a spool fed by procmail or a
	 * script). */
	if (field_is(hdr, hlen, "Auto-Submitted", "auto-replied")) {
		*field = "Auto-Submitted";
		return CCP_BOUNCE_TO_AUTO;
	}
	if (field_is(hdr, hlen, "Content-Type", "multipart/report")) {
		*field = "Content-Type";
		return CCP_BOUNCE_TO_AUTO;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!field_value(hdr, hlen, fields[i], v, sizeof(v)))
			continue;
		*field = fields[i];
		char *a;
		if (i == 0) {
			/* path = "<" [ addr-spec ] ">" (RFC 5321); some MTAs
			 * leave the brackets out. */
			a = trim(v);
			if (a[0] == '<') {
				char *end = strchr(a, '>');
				if (end)
					*end = '\0';
				a = trim(a + 1);
			}
			if (a[0] == '\0')
				return CCP_BOUNCE_TO_NULL;
		} else {
			a = mailbox_addr(v);
		}
		if (!ccp_bounce_address_usable(a) || strlen(a) >= cap)
			return CCP_BOUNCE_TO_NONE;
		strcpy(addr, a);
		return mailer_daemon(a) ? CCP_BOUNCE_TO_AUTO : CCP_BOUNCE_TO_ADDR;
	}
	return CCP_BOUNCE_TO_NONE;
}

/* The longest line of a quoted header in a report: under SMTP's 998
 * octets (RFC 5321), with room for the continuation's indent. */
#define QUOTED_LINE_MAX 900

/* The octets of the escaped text E that a piece of at most MAX octets may
 * end after: whole characters and whole \xHH escapes, at its last space
 * or tab where there is one in its last third. */
static size_t piece_end(const char *e, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)e;
	size_t i = 0, cut = 0, blank = 0;
	if (len <= max)
		return len;
	while (i < len) {
		size_t k = 1;
		if (u[i] == '\\' && i + 3 < len && u[i + 1] == 'x' && isxdigit(u[i + 2]) &&
		    isxdigit(u[i + 3]))
			k = 4;
		else if (u[i] >= 0xf0)
			k = 4;
		else if (u[i] >= 0xe0)
			k = 3;
		else if (u[i] >= 0xc0)
			k = 2;
		if (k > len - i)
			k = len - i; /* "\\x" or a lead octet of the text itself, at its end */
		if (i + k > max)
			break;
		i += k;
		cut = i;
		if (u[i - 1] == ' ' || u[i - 1] == '\t')
			blank = i;
	}
	return blank > max - max / 3 ? blank : cut ? cut : (len < max ? len : max);
}

/* One line of a header H[0..len) (its line end dropped), quoted: every
 * control but TAB (a NUL, a bare CR, an escape sequence) and every octet
 * of no UTF-8 character (a Latin-1 subject) written \xHH, as the log
 * writes them, since the report is text/plain in UTF-8 and a receiving
 * server may refuse a NUL; and a line longer than QUOTED_LINE_MAX
 * continued on the next, indented, as a folded field. */
static void add_quoted_line(struct ccp_ccm_buf *b, const char *h, size_t len)
{
	char *esc = ccp_malloc(4 * len + 1);
	size_t n = 0;
	for (size_t from = 0; from <= len;) {
		const char *tab = memchr(h + from, '\t', len - from);
		size_t to = tab ? (size_t)(tab - h) : len;
		n += ccp_escape_controls(esc + n, 4 * len + 1 - n, h + from, to - from);
		if (!tab)
			break;
		esc[n++] = '\t';
		esc[n] = '\0';
		from = to + 1;
	}
	for (size_t at = 0; at < n || n == 0;) {
		size_t k = piece_end(esc + at, n - at, QUOTED_LINE_MAX);
		if (at)
			ccp_ccm_buf_adds(b, "\n    ");
		ccp_ccm_buf_add(b, esc + at, k);
		at += k;
		if (n == 0)
			break;
	}
	ccp_free(esc);
}

/* The header H[0..len) quoted line by line in the report's line ends: the
 * CRs before each LF, and at its end, dropped, so a header the spool
 * holds in CRLF reads as the lines around it. */
static void add_local(struct ccp_ccm_buf *b, const char *h, size_t len)
{
	size_t from = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && h[i] != '\n')
			continue;
		size_t e = i;
		while (e > from && h[e - 1] == '\r')
			e--;
		if (from)
			ccp_ccm_buf_adds(b, "\n");
		add_quoted_line(b, h + from, e - from);
		from = i + 1;
	}
}

void ccp_bounce_format(struct ccp_ccm_buf *b, enum ccp_bounce_kind kind, const char *from,
		       const char *to, const char *key, const char *reason, const char *hdr,
		       size_t len)
{
	static _Atomic unsigned long seq;
	time_t now = time(NULL);
	struct tm tm;
	char date[64];
	gmtime_r(&now, &tm);
	/* RFC 5322 day and month names are English whatever the locale. */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	const char *domain = strrchr(from, '@') ? strrchr(from, '@') + 1 : "localhost";
	ccp_ccm_buf_printf(b, "From: Mail Delivery System <%s>\n", from);
	if (to)
		ccp_ccm_buf_printf(b, "To: <%s>\n", to);
	ccp_ccm_buf_printf(b, "Date: %s\nMessage-ID: <ccpump-ndr.%lld.%ld.%lu@%s>\n", date,
			   (long long)now, (long)getpid(),
			   atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed), domain);
	/* The key is a file name, any octets but '/' and NUL: in a header it
	 * goes as its spool id (%XX-escaped), so it cannot break the line. */
	ccp_ccm_buf_adds(b, kind == CCP_BOUNCE_PARTIAL
				    ? "Subject: Undeliverable to some recipients on cc:Mail: "
				    : "Subject: Undeliverable to cc:Mail: ");
	ccp_ccm_spool_id_add(b, key, strlen(key));
	char msgid[512];
	size_t hlen = len ? header_len(hdr, len) : 0;
	if (hlen && field_value(hdr, hlen, "Message-ID", msgid, sizeof(msgid))) {
		char *id = trim(msgid);
		bool ok = id[0] == '<' && id[strlen(id) - 1] == '>';
		for (char *p = id; ok && *p; p++)
			ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
		if (ok)
			ccp_ccm_buf_printf(b, "\nIn-Reply-To: %s\nReferences: %s", id, id);
	}
	ccp_ccm_buf_adds(b, "\nAuto-Submitted: auto-replied\n"
			    "MIME-Version: 1.0\n"
			    "Content-Type: text/plain; charset=utf-8\n"
			    "Content-Transfer-Encoding: 8bit\n\n"
			    "Your message (spool file ");
	/* Folded as a quoted header line is: a name of 8-bit octets, each
	 * written \xHH, ran past SMTP's 998 octets in one line. */
	add_quoted_line(b, key, strlen(key));
	ccp_ccm_buf_adds(b, kind == CCP_BOUNCE_PARTIAL
				    ? ") was delivered to the cc:Mail post office\n"
				      "for its other recipients, but not for the ones named below.\n"
				      "It will not be retried for them.\n\nReason: "
				    : ") could not be delivered to the cc:Mail\n"
				      "post office, and will not be retried.\n\nReason: ");
	add_quoted_line(b, reason, strlen(reason));
	ccp_ccm_buf_adds(b, "\n");
	if (hlen) {
		ccp_ccm_buf_adds(b, "\n--- The header of your message ---\n");
		add_local(b, hdr, hlen);
		ccp_ccm_buf_adds(b, "\n");
	}
}

void ccp_bounce_default_from(char *out, size_t cap)
{
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	/* The host's full name where its resolver (/etc/hosts) knows one. */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME }, *ai = NULL;
	if (strchr(host, '.') == NULL && getaddrinfo(host, NULL, &hints, &ai) == 0 && ai &&
	    ai->ai_canonname && strchr(ai->ai_canonname, '.') &&
	    strlen(ai->ai_canonname) < sizeof(host))
		strcpy(host, ai->ai_canonname);
	if (ai)
		freeaddrinfo(ai);
	snprintf(out, cap, "MAILER-DAEMON@%s", host);
}

bool ccp_bounce_report_to(int fd, char *addr, size_t cap)
{
	char head[CCP_BOUNCE_HEADER_MAX + 1];
	ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
	if (n < 0)
		return false; /* errno says why */
	errno = 0;
	if (n == 0)
		return false;
	head[n] = '\0';
	/* The header block only: it ends at the first empty line (in CRLF in
	 * the reports of earlier versions, which may still wait in Bad). */
	for (char *line = head;
	     line && *line && line[0] != '\n' && !(line[0] == '\r' && line[1] == '\n');
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "To: <", 5) != 0)
			continue;
		char *end = strchr(line + 5, '>');
		size_t len = end ? (size_t)(end - line - 5) : 0;
		if (len == 0 || len >= cap)
			return false;
		memcpy(addr, line + 5, len);
		addr[len] = '\0';
		return ccp_bounce_address_usable(addr);
	}
	return false;
}

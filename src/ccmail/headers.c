/*
 * headers.c: an RFC 5322 header block split into field spans (headers.h).
 *
 * One pass over the block with memchr for line ends; nothing is copied.  The
 * rules are GMime's parser's (gmime-parser.c, step_headers) restricted to
 * the unambiguous case, so that the converter's light path reads each field
 * exactly as the full parse would.
 */
#include "ccpump/headers.h"

#include <string.h>

static inline bool name_octet(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != ':';
}

size_t ccp_headers_scan(const char *data, size_t len, struct ccp_header_field *f, size_t max,
			size_t *body)
{
	const char *p = data, *end = data + len;
	size_t n = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return 0; /* no empty line before the end */
		if (p[0] == '\n' || (p[0] == '\r' && p + 1 == eol)) {
			if (n == 0 || memchr(data, '\0', (size_t)(p - data)))
				return 0;
			*body = (size_t)(eol + 1 - data);
			return n;
		}
		if (p[0] == ' ' || p[0] == '\t') {
			if (n == 0)
				return 0; /* a continuation with nothing to continue */
			f[n - 1].raw_len = (size_t)(eol + 1 - f[n - 1].raw);
		} else {
			const char *q = p;
			while (q < eol && name_octet((unsigned char)*q))
				q++;
			if (q == p || q == eol || *q != ':' || n == max)
				return 0;
			f[n].name = p;
			f[n].name_len = (size_t)(q - p);
			f[n].raw = q + 1;
			f[n].raw_len = (size_t)(eol - q);
			n++;
		}
		p = eol + 1;
	}
	return 0;
}

static inline unsigned char ascii_lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch | 0x20) : ch;
}

/* ASCII only, as GMime's g_ascii_strcasecmp: no locale can change a match. */
bool ccp_header_is(const struct ccp_header_field *f, const char *name)
{
	size_t i = 0;
	for (; i < f->name_len && name[i]; i++)
		if (ascii_lower((unsigned char)f->name[i]) != ascii_lower((unsigned char)name[i]))
			return false;
	return i == f->name_len && name[i] == '\0';
}

/* Whether the line [P, EOL) (EOL at its LF) holds
 * nothing but blanks and CRs, at least one. */
static bool blank_line(const char *p, const char *eol)
{
	if (p == eol)
		return false;
	for (; p < eol; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

/* Whether the line [P, EOL) is a field: a name, blanks, ':' (the blanks
 * are RFC 5322's obsolete syntax, "Subject : x"). */
static bool field_line(const char *p, const char *eol)
{
	const char *q = p;
	while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && *q != ':')
		q++;
	if (q == p)
		return false;
	while (q < eol && (*q == ' ' || *q == '\t'))
		q++;
	return q < eol && *q == ':';
}

bool ccp_headers_field_line(const char *line, size_t len)
{
	return field_line(line, line + len);
}

void ccp_headers_block(const char *data, size_t len, struct ccp_header_block *b)
{
	const char *p = data, *end = data + len;
	/* Only after a first field are other lines the body's: before one,
	 * GMime's rule, an mbox "From " line being no body. */
	bool fields = false;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		/* A last line without its LF ends nothing: a file cut short
		 * in its header is read as GMime reads it. */
		if (!eol)
			break;
		const char *next = eol + 1;
		b->len = (size_t)(p - data);
		if (p == eol || (p[0] == '\r' && p + 1 == eol)) {
			b->body = (size_t)(next - data);
			b->end = CCP_HEADER_END_EMPTY;
			return;
		}
		/* Blanks after a CR: the empty line meant, its CR doubled.  A
		 * line of blanks that starts with SP or HT is a fold, as in
		 * Postfix (a field that follows it is still one). */
		if (fields && p[0] == '\r' && blank_line(p, eol)) {
			b->body = (size_t)(next - data);
			b->end = CCP_HEADER_END_BLANKS;
			return;
		}
		if (p == data)
			fields = field_line(p, eol);
		else if (fields && p[0] != ' ' && p[0] != '\t' && !field_line(p, eol)) {
			b->body = b->len;
			b->end = CCP_HEADER_END_TEXT;
			return;
		}
		p = next;
	}
	b->len = b->body = len;
	b->end = CCP_HEADER_END_NONE;
}

size_t ccp_headers_block_len(const char *data, size_t len)
{
	struct ccp_header_block b;
	ccp_headers_block(data, len, &b);
	return b.len;
}

/*
 * und.c: the entries of an import's .und file (und.h).
 */
#include "relay/und.h"

#include <stdbool.h>
#include <string.h>

#define UND_LINE "Undeliverable: "

/* Whether P (before END) begins with S. */
static bool starts(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* Past the line end (CRLF or LF) at Q, or NULL when Q is not at one. */
static const char *line_end(const char *q, const char *end)
{
	if (q < end && *q == '\r')
		q++;
	return q < end && *q == '\n' ? q + 1 : NULL;
}

const char *ccp_und_first(const char *p, const char *end)
{
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	return p;
}

const char *ccp_und_entry(const char *p, const char *end, const char **reason,
			  size_t *reason_len, const char **msg, size_t *msg_len)
{
	if (!starts(p, end, UND_LINE))
		return NULL;
	const char *q = p + strlen(UND_LINE);
	*reason = q;
	while (q < end && *q != '\r' && *q != '\n')
		q++;
	*reason_len = (size_t)(q - *reason);
	if ((q = line_end(q, end)) == NULL)
		return NULL;
	*msg = q;
	/* "Message:", blanks, the line's end. */
	if (!starts(q, end, "Message:"))
		return NULL;
	q += strlen("Message:");
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((q = line_end(q, end)) == NULL)
		return NULL;
	/* The size line: octets after it to the message's end.  Twelve digits
	 * at most: no .und reaches a terabyte, and the sum cannot wrap. */
	size_t size = 0;
	const char *digits = q;
	while (q < end && *q >= '0' && *q <= '9' && q - digits < 12)
		size = size * 10 + (size_t)(*q++ - '0');
	if (q == digits || (q = line_end(q, end)) == NULL || size > (size_t)(end - q))
		return NULL;
	q += size;
	*msg_len = (size_t)(q - *msg);
	const char *next = ccp_und_first(q, end);
	return next == end || starts(next, end, UND_LINE) ? next : NULL;
}

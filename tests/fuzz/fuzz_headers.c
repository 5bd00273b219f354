/*
 * fuzz_headers: the header scanner (headers.h) against a plain restatement
 * of its rules, octet by octet, on any input: the same decision, the same
 * field spans, the same body offset; and the limit on fields honoured.
 * And where ccp_headers_block() ends a block, against its own restatement:
 * the same length, body offset and kind of end, a block the scanner takes
 * ending at its empty line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/headers.h"
#include "ccpump/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 4096

struct ref_field {
	size_t name, name_len, raw, raw_len; /* offsets */
};

/* The rules of headers.h, one line at a time, by offsets. */
static size_t reference(const uint8_t *d, size_t len, struct ref_field *f, size_t *body)
{
	size_t n = 0, at = 0;
	for (;;) {
		size_t eol = at;
		while (eol < len && d[eol] != '\n')
			eol++;
		if (eol == len)
			return 0; /* no empty line */
		size_t line = eol - at; /* without the LF */
		if (line == 0 || (line == 1 && d[at] == '\r')) {
			if (n == 0)
				return 0;
			for (size_t i = 0; i < at; i++)
				if (d[i] == 0)
					return 0;
			*body = eol + 1;
			return n;
		}
		if (d[at] == ' ' || d[at] == '\t') {
			if (n == 0)
				return 0;
			f[n - 1].raw_len = eol + 1 - f[n - 1].raw;
		} else {
			size_t k = at;
			while (k < eol && d[k] >= 0x21 && d[k] <= 0x7e && d[k] != ':')
				k++;
			if (k == at || k == eol || d[k] != ':' || n == MAXF)
				return 0;
			f[n] = (struct ref_field){ at, k - at, k + 1, eol - k };
			n++;
		}
		at = eol + 1;
	}
}

/* Whether [A, B) is a field line: octets but SP, HT, CR and ':', blanks,
 * then ':'. */
static bool ref_field_line(const uint8_t *d, size_t a, size_t b)
{
	size_t k = a;
	while (k < b && d[k] != ' ' && d[k] != '\t' && d[k] != '\r' && d[k] != ':')
		k++;
	if (k == a)
		return false;
	while (k < b && (d[k] == ' ' || d[k] == '\t'))
		k++;
	return k < b && d[k] == ':';
}

/* ccp_headers_block()'s rules, one line at a time, by offsets. */
static void ref_block(const uint8_t *d, size_t len, struct ccp_header_block *b)
{
	bool fields = false;
	for (size_t at = 0; at < len;) {
		size_t eol = at;
		while (eol < len && d[eol] != '\n')
			eol++;
		if (eol == len)
			break;
		size_t line = eol - at;
		bool blanks = line > 0;
		for (size_t i = at; i < eol; i++)
			blanks &= d[i] == ' ' || d[i] == '\t' || d[i] == '\r';
		if (line == 0 || (line == 1 && d[at] == '\r')) {
			*b = (struct ccp_header_block){ at, eol + 1, CCP_HEADER_END_EMPTY };
			return;
		}
		if (fields && blanks && d[at] == '\r') {
			*b = (struct ccp_header_block){ at, eol + 1, CCP_HEADER_END_BLANKS };
			return;
		}
		if (at == 0) {
			fields = ref_field_line(d, at, eol);
		} else if (fields && d[at] != ' ' && d[at] != '\t' && !ref_field_line(d, at, eol)) {
			*b = (struct ccp_header_block){ at, at, CCP_HEADER_END_TEXT };
			return;
		}
		at = eol + 1;
	}
	*b = (struct ccp_header_block){ len, len, CCP_HEADER_END_NONE };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ccp_header_block hb, rb;
	ccp_headers_block((const char *)data, size, &hb);
	ref_block(data, size, &rb);
	CCP_ASSERT(hb.len == rb.len && hb.body == rb.body && hb.end == rb.end);
	CCP_ASSERT(hb.len <= hb.body && hb.body <= size);
	CCP_ASSERT(ccp_headers_block_len((const char *)data, size) == hb.len);

	static struct ccp_header_field got[MAXF];
	static struct ref_field want[MAXF];
	const char *d = (const char *)data;
	size_t body = 0, rbody = 0;
	size_t n = ccp_headers_scan(d, size, got, MAXF, &body);
	size_t rn = reference(data, size, want, &rbody);
	CCP_ASSERT(n == rn);
	if (n == 0)
		return 0;
	CCP_ASSERT(body == rbody && body <= size);
	/* A block the scanner takes ends at its empty line. */
	CCP_ASSERT(hb.end == CCP_HEADER_END_EMPTY && hb.body == body);
	for (size_t i = 0; i < n; i++) {
		CCP_ASSERT(got[i].name == d + want[i].name && got[i].name_len == want[i].name_len);
		CCP_ASSERT(got[i].raw == d + want[i].raw && got[i].raw_len == want[i].raw_len);
		CCP_ASSERT(got[i].raw[got[i].raw_len - 1] == '\n');
		CCP_ASSERT(ccp_header_is(&got[i], "") == false);
	}
	/* Fewer slots than fields: declined; enough: the same answer. */
	static struct ccp_header_field few[MAXF];
	size_t b2 = 0;
	CCP_ASSERT(ccp_headers_scan(d, size, few, n - 1, &b2) == 0);
	CCP_ASSERT(ccp_headers_scan(d, size, few, n, &b2) == n && b2 == body);
	return 0;
}

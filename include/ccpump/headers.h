/*
 * headers.h: the header block of an RFC 5322 message, split into fields
 * without copying or decoding anything.
 *
 * This scanner serves the converter's light path (convert.c): a single-part
 * or multipart (mixed, alternative, related) message whose header blocks
 * (the message's and each part's) are plain is converted from these spans
 * and GMime's value parsers, without building GMime's object tree.  It therefore
 * accepts only what GMime's own parser reads the same way, and declines the
 * rest, which then takes the full parse:
 *
 *   - every line ends in LF (CRLF is a line whose last octet before the LF
 *     is CR); the block ends at the first empty line ("\n" or "\r\n");
 *   - a field starts with a name of printable ASCII octets other than ':'
 *     (0x21-0x7E), followed at once by ':'; a line beginning with SP or HT
 *     continues the field before it (folding);
 *   - no NUL octet anywhere in the block.
 *
 * Declined: a first line that is not a field (an mbox "From " line, a
 * continuation), a name with spaces or control or 8-bit octets, a block
 * that runs to the end of the data with no empty line, more fields than the
 * caller's array holds.
 */
#ifndef CCPUMP_HEADERS_H
#define CCPUMP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "ccpump/compiler.h"

/* One field: spans into the scanned data, nothing copied. */
struct ccp_header_field {
	const char *name; /* the field name, without the ':' */
	size_t name_len;
	/* Everything after the ':' through the LF ending the field's last line:
	 * leading space, folds and line ends kept, as GMime's raw value. */
	const char *raw;
	size_t raw_len;
};

/*
 * Splits the header block at the start of DATA (LEN octets) into at most MAX
 * fields, in order.  Returns the number of fields (at least 1), with *BODY set
 * to the offset of the first octet after the empty line; or 0 when the block
 * is not one the scanner accepts (above), with F and *BODY unspecified.
 */
CCP_EXPORT size_t ccp_headers_scan(const char *data, size_t len, struct ccp_header_field *f,
				   size_t max, size_t *body);

/* How a header block ends (ccp_headers_block()). */
enum ccp_header_end {
	CCP_HEADER_END_EMPTY,  /* at an empty line ("\n" or "\r\n"), as RFC 5322 has it */
	CCP_HEADER_END_BLANKS, /* at a line of a CR and blanks alone: the empty
				* line its writer meant, its CR doubled (CR CR
				* LF, text-mode line ends written twice) */
	CCP_HEADER_END_TEXT,   /* at a line that is neither a field nor a fold: the
				* body's first line, with no empty line before it */
	CCP_HEADER_END_NONE,   /* at the end of the data */
};

struct ccp_header_block {
	size_t len;  /* through the LF that ends its last field (0: none) */
	size_t body; /* offset of the body's first octet */
	enum ccp_header_end end;
};

/*
 * Finds the end of the header block at the start of DATA (LEN octets) by its
 * lines alone (any block, not only those ccp_headers_scan() accepts), the
 * way MTAs read it (Postfix's cleanup, Sendmail's collect, Exim's receive):
 * after a first line that is a field (a name of octets other than SP, HT,
 * CR, LF and ':', blanks, then ':'), each line is a field, a fold (it starts
 * with SP or HT), or the end of the block: the empty line, a CR and blanks
 * alone (CR CR LF), or any other line, which is then the body's first.
 * GMime's parser reads every line up to an empty one as header, so a
 * message whose writer left out the empty line, or wrote it as CR CR LF,
 * lost its whole body there without a word.
 * A block whose first line is not a field (an mbox "From " line, a fold)
 * runs to the first empty line, as GMime reads it.
 */
CCP_EXPORT void ccp_headers_block(const char *data, size_t len, struct ccp_header_block *b);

/* Whether the line of LEN octets at LINE (without its line end) is a field
 * by ccp_headers_block()'s rule: a name, blanks, ':'. */
CCP_EXPORT bool ccp_headers_field_line(const char *line, size_t len);

/* The header block's length (ccp_headers_block()): 0 when DATA starts with
 * the empty line; LEN when nothing ends the block. */
CCP_EXPORT size_t ccp_headers_block_len(const char *data, size_t len);

/* Whether field F is named NAME (ASCII, case-insensitive). */
CCP_EXPORT bool ccp_header_is(const struct ccp_header_field *f, const char *name);

#endif /* CCPUMP_HEADERS_H */

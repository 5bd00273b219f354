/*
 * codepage.h: text into and out of the post office's code page.
 *
 * cc:Mail post offices stored 8-bit text in an OEM code page: CP437 in the US
 * (the default) or CP850 internationally (PMDF's charset8 ibm850; KB Q247018).
 * Conversion goes through iconv; a character the code page cannot hold
 * becomes '?', as the connector did.  Pure ASCII takes a copy-only fast path.
 *
 * A ccp_codepage holds iconv handles and is not thread-safe: give each thread
 * (each converter context) its own.
 */
#ifndef CCPUMP_CODEPAGE_H
#define CCPUMP_CODEPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/ccm.h"
#include "ccpump/compiler.h"

enum ccp_codepage_id { CCP_CP437 = 437, CCP_CP850 = 850 };

struct ccp_codepage;

/* Parses "437", "cp437", "CP850", "ibm850"...  Returns false if unknown. */
CCP_EXPORT bool ccp_codepage_parse(const char *name, enum ccp_codepage_id *id);
/* Opens the handles.  Returns NULL (errno set) if iconv lacks the code page. */
CCP_EXPORT struct ccp_codepage *ccp_codepage_open(enum ccp_codepage_id id);
CCP_EXPORT void ccp_codepage_close(struct ccp_codepage *cp);
CCP_EXPORT enum ccp_codepage_id ccp_codepage_id(const struct ccp_codepage *cp);

/*
 * Appends IN (LEN octets of text in CHARSET, an iconv name; NULL means UTF-8)
 * to OUT in the code page.  Unmappable characters and invalid input become
 * '?'; an unknown CHARSET is read as UTF-8.  Returns the number of '?'
 * substitutions.
 */
CCP_EXPORT size_t ccp_codepage_from(struct ccp_codepage *cp, const char *charset,
				    const char *in, size_t len, struct ccp_ccm_buf *out);
/*
 * As ccp_codepage_from(), for text a person reads on one line (names, the
 * Subject, file names), where what shows nothing must not show as '?': a
 * format character (Unicode's Cf: U+200B ZERO WIDTH SPACE, U+200D ZERO
 * WIDTH JOINER, U+FEFF as a byte order mark, the bidi controls...) is
 * dropped, CP850's soft hyphen too; a space separator the code page lacks
 * (Unicode's Zs: U+2009 THIN SPACE, U+202F NARROW NO-BREAK SPACE, U+3000
 * IDEOGRAPHIC SPACE...), and a line break (LINE and PARAGRAPH
 * SEPARATOR), is a plain space, while NO-BREAK SPACE, which CP437 and
 * CP850 have, stays itself.  A C1 control is Windows-1252's character
 * (ccp_codepage_c1_as_1252(): NEXT LINE an ellipsis, U+0092 an
 * apostrophe), as the header that holds it meant.  None is a
 * substitution.  An address is not such text: without the character it
 * would be another address.
 */
CCP_EXPORT size_t ccp_codepage_text(struct ccp_codepage *cp, const char *charset,
				    const char *in, size_t len, struct ccp_ccm_buf *out);
/*
 * As ccp_codepage_text(), for a body, whose lines it may break: a line
 * break the code page lacks is what ccp_codepage_line_break() has for it,
 * where ccp_codepage_text(), for one line, has a space for each.  None is
 * a substitution.
 */
CCP_EXPORT size_t ccp_codepage_body(struct ccp_codepage *cp, const char *charset,
				    const char *in, size_t len, struct ccp_ccm_buf *out);
/*
 * What a body has for U, a character that breaks a line and that CP437 and
 * CP850 lack: a line end (LF) for NEXT LINE (U+0085) and LINE SEPARATOR
 * (U+2028), an empty line (LF LF) for PARAGRAPH SEPARATOR (U+2029); NULL
 * for any other character.
 */
CCP_EXPORT const char *ccp_codepage_line_break(uint32_t u);
/*
 * The character Windows-1252 has at octet U, for U a C1 control
 * (U+0080-U+009F): U+2026 HORIZONTAL ELLIPSIS for U+0085, U+2019 RIGHT
 * SINGLE QUOTATION MARK for U+0092...; U itself for the five octets
 * Windows-1252 leaves unassigned and for any other U.  A C1 control in
 * mail is an octet of Windows-1252 read as ISO-8859-1: no message means
 * the control.
 */
CCP_EXPORT uint32_t ccp_codepage_c1_as_1252(uint32_t u);
/*
 * Appends IN (LEN octets of text in CHARSET, an iconv name; NULL means
 * UTF-8) to OUT in UTF-8, as ccp_codepage_from() reads it on its way to
 * the code page: an octet CHARSET leaves undefined (0x81 in Windows-1252)
 * becomes '?', and an unknown CHARSET is read as UTF-8, copied as it is.
 * For text to work on in Unicode first (HTML, whose entities name
 * characters of any charset).  Returns the number of '?' substitutions.
 */
CCP_EXPORT size_t ccp_codepage_utf8(struct ccp_codepage *cp, const char *charset,
				    const char *in, size_t len, struct ccp_ccm_buf *out);
/*
 * Whether text in CHARSET (an iconv name; NULL means UTF-8) has each plain
 * ASCII octet (TAB, LF, CR, space to '~') as that character, alone and in
 * a run: then work on its octets that looks for spaces, line ends and
 * quote marks (format=flowed) reads it right.  False for UTF-16 and
 * UTF-32, EBCDIC and UTF-7; true for ISO-2022-JP, whose escapes are no
 * plain ASCII, and for a charset iconv does not know (read as UTF-8).
 * Asked of iconv once per charset, as the conversions do.
 */
CCP_EXPORT bool ccp_codepage_ascii_is_itself(struct ccp_codepage *cp, const char *charset);
/* Appends IN (code page octets) to OUT as UTF-8.  Every CP437/850 octet maps. */
CCP_EXPORT void ccp_codepage_to_utf8(struct ccp_codepage *cp, const char *in, size_t len,
				     struct ccp_ccm_buf *out);

#endif /* CCPUMP_CODEPAGE_H */

/*
 * codepage_body.h: the code page's entry for body text, which the cc:Mail
 * layer alone calls (the converter), beside include/ccpump/codepage.h.
 */
#ifndef CCPUMP_CODEPAGE_BODY_H
#define CCPUMP_CODEPAGE_BODY_H

#include "ccpump/codepage.h"

/*
 * As ccp_codepage_text(), for a body, whose lines it may break: a LINE
 * SEPARATOR (U+2028) the code page lacks is a line end (LF) and a
 * PARAGRAPH SEPARATOR (U+2029) an empty line (LF LF), where
 * ccp_codepage_text(), for a header line, has a space for each.  Neither
 * is a substitution.
 */
size_t ccp_codepage_body(struct ccp_codepage *cp, const char *charset, const char *in,
			 size_t len, struct ccp_ccm_buf *out);

#endif /* CCPUMP_CODEPAGE_BODY_H */

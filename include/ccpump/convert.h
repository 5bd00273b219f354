/*
 * convert.h: RFC 5322/MIME messages into cc:Mail Import messages.
 *
 * Messages are parsed once each, and every part is visited once.  A
 * single-part message, or a multipart/mixed, /alternative or /related one
 * (with such multiparts inside, three levels in all), with plain header
 * blocks takes the light path: its fields are read from spans of the input
 * (headers.h) by GMime's value parsers, and no object tree is built.
 * Anything else (other multiparts, deeper nesting, embedded messages,
 * headers the scanner declines) gets GMime's full parse.  Both give the
 * same octets (fuzz_convert checks it on every input).
 * A converter context (struct ccp_convert) owns its iconv handles, its GMime
 * parser and its scratch buffers, and is reused from message to message:
 * make one per thread.  Contexts on different threads may convert at the
 * same time; one context must not be used by two threads at once.  The only
 * global state is GMime's one-time initialisation, which ccp_convert_new()
 * performs exactly once (pthread_once) however many threads race to it.
 *
 * Address rules (docs/ccmail-format.md §4):
 *   native user (domain listed as native, or an explicit user mapping):
 *       Last, First at PO
 *   anyone else (foreign):
 *       "Display; Name" [SMTP:user@domain] at SITE
 *   a display name with no letter or digit in the code page ("???") counts
 *   as none: the local part names a native user, the address a foreign one;
 *   a native address whose local part has none either is written as foreign;
 *   a native name (display name, or local part) the code page shows only in
 *   part ("Lee, ?") names no user, and counts as none in the same way
 *   format characters (Unicode's Cf: U+200D, U+00AD, U+FEFF, bidi
 *   controls...) show nothing and are dropped from names, the Subject, file
 *   names and body text (not from the address in [SMTP:...]); a space the
 *   code page lacks (Unicode's Zs: U+2009, U+202F, U+3000...) is ' ' there,
 *   and so is NO-BREAK SPACE, which it has, in a native name
 *   NEXT LINE, LINE and PARAGRAPH SEPARATOR (U+0085, U+2028, U+2029) break
 *   a body's lines (the last leaves an empty line; in HTML the spaces
 *   around them go, as around <br>) and are ' ' in names, Subject, file
 *   names
 *   typographic punctuation the code page lacks is its ASCII there: curly
 *   quotes ' and ", dashes '-', the ellipsis "...", bullets '*', the euro
 *   "EUR" (not counted as substitutions; an address keeps them as '?')
 *   the domain in [SMTP:...] is in its ASCII form (IDNA): xn--bcher-kva.example
 *   commas in display names become ';', square brackets become '(' ')'
 *   (Import 8.x rejects brackets in addresses and subjects, KB Q232687,
 *   Q234350).  The brackets of "[SMTP:...]" are the connector's own syntax
 *   and stay.
 */
#ifndef CCPUMP_CONVERT_H
#define CCPUMP_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ccpump/ccm.h"
#include "ccpump/codepage.h"
#include "ccpump/compiler.h"

/* Why a message was refused.  Each comes with a one-line reason naming the
 * input (ccp_convert_error()). */
enum ccp_convert_status {
	CCP_CONVERT_OK = 0,
	CCP_CONVERT_ERR_IO,          /* the input file could not be read */
	CCP_CONVERT_ERR_PARSE,       /* not an RFC 5322 message */
	CCP_CONVERT_ERR_NO_FROM,     /* empty or missing From (KB Q192594) */
	CCP_CONVERT_ERR_NO_RCPT,     /* no To, Cc, Bcc or envelope recipient */
	CCP_CONVERT_ERR_HEADER_FULL, /* address lines over the buffer: "Header Buffer Full" */
};

/* Address rules: native domains and explicit user names. */
struct ccp_convert_map;

CCP_EXPORT struct ccp_convert_map *ccp_convert_map_new(void);
CCP_EXPORT void ccp_convert_map_free(struct ccp_convert_map *map);
/* Addresses @DOMAIN (case-insensitive) are cc:Mail users of post office PO.
 * An internationalized domain matches in either spelling, as given here and
 * as mail writes it: bücher.example or xn--bcher-kva.example (IDNA). */
CCP_EXPORT void ccp_convert_map_add_native(struct ccp_convert_map *map, const char *domain,
					   const char *po);
/* ADDR (user@domain, case-insensitive, the domain in either spelling as
 * above, a quoted local part as its unquoted one: "jane.roe" is
 * jane.roe) is the cc:Mail user CCNAME (written as given, e.g.
 * "Doe, John at HUBPO1"). */
CCP_EXPORT void ccp_convert_map_add_user(struct ccp_convert_map *map, const char *addr,
					 const char *ccname);
/* How many native domains and users MAP holds (a key given twice counts
 * once: its first line is the one used). */
CCP_EXPORT size_t ccp_convert_map_natives(const struct ccp_convert_map *map);
CCP_EXPORT size_t ccp_convert_map_users(const struct ccp_convert_map *map);
/*
 * Reads a mapping file into MAP.  Lines (# starts a comment):
 *   native DOMAIN PO
 *   user ADDR CC:MAIL NAME...
 *   site SITE                    (sets *site if site is not NULL)
 * Returns 0, or -1 with a one-line reason "FILE: line N: ..." in ERR.
 * The site string is allocated (ccp_free it).
 */
CCP_EXPORT int ccp_convert_map_load(struct ccp_convert_map *map, const char *path,
				    char **site, char *err, size_t errcap);

struct ccp_convert_opts {
	const char *site;              /* "at SITE" of foreign addresses ("EXSITE") */
	enum ccp_codepage_id codepage; /* CP437 */
	size_t addr_buffer;            /* CCP_CCM_ADDR_BUFFER_SMALL (4 KB) */
	bool long_names;               /* keep long attachment names (false: 8.3) */
	bool spool_id;                 /* write "X-Spool-Id: key" (true) */
	bool v8_attachments;           /* no date stamp after file names (false) */
	bool import8;                  /* map [ ] for Import 8.x (true) */
	bool html_as_file;             /* HTML-only mail as BODY.HTM, not as text (false) */
	bool full_parse;               /* GMime's full parse for every message (false) */
	/* Name a native user by the local part alone (alice.smith@DOMAIN is
	 * "Smith, Alice at PO" whatever display name the sender wrote), not
	 * by the display name first (false).  The display name is the
	 * sender's, from the sender's address book: "Jones, Bob"
	 * <alice.smith@DOMAIN> would deliver Alice's mail to Bob Jones. */
	bool native_by_address;
	const struct ccp_convert_map *map; /* may be NULL; must outlive the context */
	/*
	 * The header field in which the MTA that delivered the message wrote
	 * the envelope recipients it delivered this copy for (Postfix's
	 * X-Original-To or Delivered-To; NULL: none, the default).  Where
	 * its top-most occurrence names a mailbox, those mailboxes are the
	 * recipients written, and no other: each as To or Cc where the
	 * header names it so, else as Bcc (a Bcc the header no longer shows,
	 * a list's member).  An MTA that writes a copy per recipient would
	 * otherwise have each copy delivered to every recipient of the
	 * header, and one that writes a single copy leaves a Bcc recipient
	 * out.  A message without it goes by its header
	 * (ccp_convert_stats.envelope_missing).  Must outlive the context.
	 */
	const char *envelope_field;
};

/* Fills O with the defaults shown above. */
CCP_EXPORT void ccp_convert_opts_default(struct ccp_convert_opts *o);

struct ccp_convert;

/* A context for one thread.  Returns NULL (errno set) when iconv lacks the
 * code page.  Thread-safe: any thread may create contexts at any time. */
CCP_EXPORT struct ccp_convert *ccp_convert_new(const struct ccp_convert_opts *o);
CCP_EXPORT void ccp_convert_free(struct ccp_convert *c);
/* The context's code page handles (codepage.h), for text of the post
 * office's to be read back; the context's thread only. */
CCP_EXPORT struct ccp_codepage *ccp_convert_codepage(struct ccp_convert *c);

struct ccp_convert_input {
	const char *data; /* the RFC 5322 message */
	size_t len;
	const char *name; /* names the input in refusals (a path) */
	const char *key;  /* the message key for X-Spool-Id; NULL: none */
	/* Envelope recipients (addr-specs); those missing from To/Cc/Bcc are
	 * written as Bcc, as the connector did for DL members (KB Q243184),
	 * each mailbox once however often it is listed.  Compared in any
	 * case, an internationalized domain in either spelling (bücher.example
	 * is xn--bcher-kva.example), a quoted local part as its unquoted one
	 * ("jane.roe"@x.example is jane.roe@x.example).  A NULL entry is
	 * skipped. */
	const char *const *envelope;
	size_t nenvelope;
	time_t now; /* the Date when the message has none (0: time(NULL)) */
};

/*
 * Converts one message and appends its .ccm form to OUT.
 * Returns CCP_CONVERT_OK, or a refusal (OUT unchanged) whose reason
 * ccp_convert_error() gives until the next call on this context.
 */
CCP_EXPORT enum ccp_convert_status ccp_convert_message(struct ccp_convert *c,
						       const struct ccp_convert_input *in,
						       struct ccp_ccm_buf *out);
/* Reads PATH and converts it; the key is KEY or, when NULL, PATH's base name. */
CCP_EXPORT enum ccp_convert_status ccp_convert_file(struct ccp_convert *c, const char *path,
						    const char *key, struct ccp_ccm_buf *out);
/* The last refusal: one line "NAME: refused: reason; what to do". */
CCP_EXPORT const char *ccp_convert_error(const struct ccp_convert *c);
CCP_EXPORT const char *ccp_convert_status_name(enum ccp_convert_status s);

/* Counts of the last successful conversion, for tests and logs. */
struct ccp_convert_stats {
	size_t substitutions; /* characters written as '?' */
	size_t text_items, file_items;
	bool body_as_file; /* the body went as UNNAMED.TXT (over 20 KB) */
	bool light_parse;  /* converted by the light path, without GMime's tree */
	/* opts.envelope_field is set and the message has no such field with
	 * a mailbox in it: its header's recipients were written. */
	bool envelope_missing;
};
CCP_EXPORT void ccp_convert_last_stats(const struct ccp_convert *c, struct ccp_convert_stats *s);

/*
 * Releases GMime's global state at process exit, after every context is
 * freed (leak checkers otherwise report GMime's one-time tables).  Not
 * thread-safe; optional.
 */
CCP_EXPORT void ccp_convert_shutdown(void);

#endif /* CCPUMP_CONVERT_H */

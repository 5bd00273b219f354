/*
 * codepage.c: iconv into and out of CP437/CP850, '?' for what cannot map.
 *
 * glibc's iconv stops with EILSEQ at a character the target lacks; we write
 * '?' and skip that one UTF-8 sequence, then go on.  Other source charsets go
 * to UTF-8 first and then to the code page: skipping "one character" is only
 * well defined in UTF-8, and a stateful charset (ISO-2022-JP) must never have
 * its shift state reset in the middle of a run.  Handles for other source
 * charsets are kept in a small per-object cache, because a relay meets the
 * same few charsets (us-ascii, utf-8, iso-8859-1, windows-1252) over and over;
 * each is asked once, when opened, whether ASCII is itself in its charset, so
 * that ASCII text skips iconv where that is safe (not in EBCDIC's cp037).
 *
 * Text a person reads (ccp_codepage_text(), and ccp_codepage_body() for
 * bodies) loses its format characters here, its spaces the code page lacks
 * are plain spaces, its line breaks (NEXT LINE, line and paragraph
 * separators) are line breaks in a body and the separators spaces in a
 * header line, where a C1 control (NEXT LINE among them) is Windows-1252's
 * character, at the one place every string and body passes: iconv stops at each (the
 * code pages have no such character but CP850's soft hyphen, dropped
 * afterwards), so the ASCII fast path and runs of mappable text cost
 * nothing more.
 */
#include "ccpump/codepage.h"

#include <errno.h>
#include <glib.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"

#define CP_CACHE 6
/* The window UTF-8 goes into iconv in after a character it stops at
 * (run_iconv()). */
#define WINDOW_MIN 64

/* What a conversion is for: an address, where every character counts and
 * one the code page lacks is a '?'; text of a header line (a name, the
 * Subject, a file name); or a body. */
enum cp_mode { CP_ADDR, CP_LINE, CP_BODY };

struct cp_handle {
	char charset[40];
	iconv_t cd; /* (iconv_t)-1: iconv does not know this charset */
	bool ascii_is_itself; /* ascii_maps_to_itself(cd), asked once at open */
	unsigned long used;
};

struct ccp_codepage {
	enum ccp_codepage_id id;
	iconv_t from_utf8, to_utf8;
	struct cp_handle cache[CP_CACHE];
	unsigned long tick;
	struct ccp_ccm_buf mid; /* the UTF-8 stage of other charsets */
	/* The code page's octets that are format characters (CP850's soft
	 * hyphen, 0xF0; CP437 has none), which text drops: iconv maps them,
	 * so they are not met where it stops. */
	char format_octets[8];
	size_t nformat;
};

/* Whether U, a character, is a format character (Unicode's general
 * category Cf: U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+00AD
 * SOFT HYPHEN, U+FEFF as a byte order mark, the bidi controls...): it
 * shows nothing, so text reads the same without it. */
static bool is_format(gunichar u)
{
	return g_unichar_type(u) == G_UNICODE_FORMAT;
}

bool ccp_codepage_parse(const char *name, enum ccp_codepage_id *id)
{
	const char *n = name;
	if (strncasecmp(n, "cp", 2) == 0)
		n += 2;
	else if (strncasecmp(n, "ibm", 3) == 0)
		n += 3;
	if (strcmp(n, "437") == 0)
		*id = CCP_CP437;
	else if (strcmp(n, "850") == 0)
		*id = CCP_CP850;
	else
		return false;
	return true;
}

static const char *iconv_name(enum ccp_codepage_id id)
{
	return id == CCP_CP850 ? "CP850" : "CP437";
}

struct ccp_codepage *ccp_codepage_open(enum ccp_codepage_id id)
{
	iconv_t f = iconv_open(iconv_name(id), "UTF-8");
	if (f == (iconv_t)-1)
		return NULL;
	iconv_t t = iconv_open("UTF-8", iconv_name(id));
	if (t == (iconv_t)-1) {
		iconv_close(f);
		return NULL;
	}
	struct ccp_codepage *cp = ccp_calloc(1, sizeof(*cp));
	cp->id = id;
	cp->from_utf8 = f;
	cp->to_utf8 = t;
	for (int i = 0; i < CP_CACHE; i++)
		cp->cache[i].cd = (iconv_t)-1;
	ccp_ccm_buf_init(&cp->mid);
	for (unsigned o = 0x80; o < 0x100; o++) {
		char oct = (char)o, u8[8];
		char *ip = &oct, *op = u8;
		size_t il = 1, ol = sizeof(u8);
		if (iconv(t, &ip, &il, &op, &ol) != (size_t)-1 && op > u8 &&
		    is_format(g_utf8_get_char_validated(u8, op - u8)) &&
		    cp->nformat < sizeof(cp->format_octets))
			cp->format_octets[cp->nformat++] = oct;
	}
	iconv(t, NULL, NULL, NULL, NULL);
	return cp;
}

void ccp_codepage_close(struct ccp_codepage *cp)
{
	if (!cp)
		return;
	iconv_close(cp->from_utf8);
	iconv_close(cp->to_utf8);
	for (int i = 0; i < CP_CACHE; i++)
		if (cp->cache[i].charset[0] && cp->cache[i].cd != (iconv_t)-1)
			iconv_close(cp->cache[i].cd);
	ccp_ccm_buf_free(&cp->mid);
	ccp_free(cp);
}

enum ccp_codepage_id ccp_codepage_id(const struct ccp_codepage *cp)
{
	return cp->id;
}

static bool is_utf8(const char *cs)
{
	return cs == NULL || strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

/* Charsets known by name to be ASCII in every octet below 0x80.  "cp" is
 * not among them: cp037, cp500, cp1047, cp1140... are EBCDIC, where 0x40 is
 * a space and 0x4B a '.'.  Any other name is asked of iconv instead
 * (ascii_maps_to_itself()). */
static bool surely_ascii_compatible(const char *cs)
{
	static const char *const prefixes[] = { "utf-8", "utf8", "us-ascii", "ascii",
						"iso-8859", "iso8859", "windows-", "koi8",
						"ansi_x3.4" };
	if (cs == NULL)
		return true;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncasecmp(cs, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* The octets of plain ASCII text: TAB, LF, CR and space to '~'.  Not the
 * other controls: ESC, SO and SI shift ISO-2022-JP and its kind, whose
 * ASCII is otherwise itself. */
static bool plain_ascii_octet(unsigned char c)
{
	return (c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\n' || c == '\r';
}

/* Whether CD (a charset to UTF-8) turns every plain ASCII octet, all in one
 * run, into itself: then plain ASCII text in that charset may be copied as
 * it is.  EBCDIC fails, and so do UTF-7 ('+' shifts) and UTF-16. */
static bool ascii_maps_to_itself(iconv_t cd)
{
	char probe[128], utf8[4 * sizeof(probe)];
	size_t n = 0;
	for (unsigned c = 0; c < 0x80; c++)
		if (plain_ascii_octet((unsigned char)c))
			probe[n++] = (char)c;
	char *ip = probe, *op = utf8;
	size_t il = n, ol = sizeof(utf8);
	iconv(cd, NULL, NULL, NULL, NULL);
	bool same = iconv(cd, &ip, &il, &op, &ol) == 0 &&
		    iconv(cd, NULL, NULL, &op, &ol) == 0 && (size_t)(op - utf8) == n &&
		    memcmp(utf8, probe, n) == 0;
	iconv(cd, NULL, NULL, NULL, NULL);
	return same;
}

/* The handle CHARSET -> UTF-8 from the cache, opened (and probed) on a
 * miss; NULL when iconv does not know CHARSET. */
static const struct cp_handle *handle_for(struct ccp_codepage *cp, const char *charset)
{
	if (strlen(charset) >= sizeof(cp->cache[0].charset))
		return NULL;
	struct cp_handle *victim = &cp->cache[0];
	for (int i = 0; i < CP_CACHE; i++) {
		struct cp_handle *h = &cp->cache[i];
		if (h->charset[0] && strcasecmp(h->charset, charset) == 0) {
			h->used = ++cp->tick;
			return h->cd == (iconv_t)-1 ? NULL : h;
		}
		if (h->used < victim->used)
			victim = h;
	}
	if (victim->charset[0] && victim->cd != (iconv_t)-1)
		iconv_close(victim->cd);
	strcpy(victim->charset, charset);
	victim->cd = iconv_open("UTF-8", charset);
	victim->used = ++cp->tick;
	if (victim->cd == (iconv_t)-1)
		return NULL;
	victim->ascii_is_itself = ascii_maps_to_itself(victim->cd);
	return victim;
}

/* Length of the UTF-8 sequence that starts with octet c (1 for a stray one). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc2)
		return 2;
	return 1;
}

/* The one list of the characters that break a line, for stand_in() and
 * for the converter, which trims the separators from file names as
 * spaces: two lists would drift apart. */
const char *ccp_codepage_line_break(uint32_t u)
{
	switch (u) {
	case 0x85:   /* NEXT LINE: a control character, but a line end */
	case 0x2028: /* LINE SEPARATOR, all of Unicode's Zl */
		return "\n";
	case 0x2029: /* PARAGRAPH SEPARATOR, all of Zp */
		return "\n\n";
	default:
		return NULL;
	}
}

uint32_t ccp_codepage_c1_as_1252(uint32_t u)
{
	static const uint16_t cp1252[32] = {
		0x20ac, 0x81,   0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
		0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,   0x017d, 0x8f,
		0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
		0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d,   0x017e, 0x0178,
	};
	return u >= 0x80 && u <= 0x9f ? cp1252[u - 0x80] : u;
}

/*
 * The ASCII a reader takes for typographic character U, or NULL: curly
 * quotes, dashes, the ellipsis, bullets, and the letters and signs of
 * Windows-1252 that CP437 and CP850 lack.  Nearly every message from a
 * Windows mailer has them, and each was a '?' ("don?t", "1990?2000"),
 * which reads as damage; as glibc's //TRANSLIT does, "'", "-" and "..."
 * say what was meant.  Nothing is lost that a reader of the code page
 * could have seen.
 */
static const char *ascii_stand_in(gunichar u)
{
	switch (u) {
	case 0x2018: case 0x2019: case 0x201a: case 0x201b: case 0x2032: case 0x2035:
		return "'";
	case 0x201c: case 0x201d: case 0x201e: case 0x201f: case 0x2033: case 0x2036:
		return "\"";
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
	case 0x2212:
		return "-";
	case 0x2026: return "...";
	case 0x2022: case 0x2023: case 0x2043: case 0x25e6: return "*";
	case 0x2039: return "<";
	case 0x203a: return ">";
	case 0x20ac: return "EUR";
	case 0x2122: return "(TM)";
	case 0x02c6: return "^";
	case 0x02dc: return "~";
	case 0x0152: return "OE";
	case 0x0153: return "oe";
	case 0x0160: return "S";
	case 0x0161: return "s";
	case 0x017d: return "Z";
	case 0x017e: return "z";
	case 0x0178: return "Y";
	default: return NULL;
	}
}

/*
 * What text (MODE CP_LINE or CP_BODY) has for character U (or (gunichar)-1
 * or -2, not UTF-8) the code page lacks, or NULL for a '?': nothing for a
 * format character, a space for a space separator (Unicode's Zs: U+2002
 * EN SPACE, U+2009 THIN SPACE, U+202F NARROW NO-BREAK SPACE, U+3000
 * IDEOGRAPHIC SPACE...).  A line break (ccp_codepage_line_break(): NEXT
 * LINE, LINE and PARAGRAPH SEPARATOR) is one in a body, as the text shows
 * it; a header line has room for none, and a space parts the words there
 * as the separators did, while NEXT LINE, a C1 control, is Windows-1252's
 * ellipsis there (below).  NEXT LINE (U+0085) is a control character
 * (Cc), not a separator, by its type, and was a '?' for that: but Unicode
 * makes it a line end (UAX #14's class NL), as EBCDIC's NL and ISO 6429's
 * NEL were.  Typographic punctuation is its ASCII (ascii_stand_in()).
 */
static const char *stand_in(gunichar u, enum cp_mode mode)
{
	/* One line of text is a header's: a C1 control there is an octet of
	 * Windows-1252 that an encoded word labelled ISO-8859-1
	 * (=?iso-8859-1?Q?It=92s_done=85?=), or an 8-bit header read as
	 * ISO-8859-1, made a control, as Windows mailers label their text.
	 * GMime decodes the label as written, and "It?s done " was shown for
	 * "It's done...".  A body labelled so is read as Windows-1252
	 * already (the converter's part_charset()), and a control in a body
	 * came as one. */
	if (mode == CP_LINE && u >= 0x80 && u <= 0x9f) {
		gunichar w = ccp_codepage_c1_as_1252(u);
		return w == u ? NULL : ascii_stand_in(w);
	}
	const char *brk = ccp_codepage_line_break(u);
	if (brk)
		return mode == CP_BODY ? brk : " ";
	const char *ascii = ascii_stand_in(u);
	if (ascii)
		return ascii;
	switch (u < 0x110000 ? g_unichar_type(u) : G_UNICODE_UNASSIGNED) {
	case G_UNICODE_FORMAT:
		return "";
	case G_UNICODE_SPACE_SEPARATOR:
		return " ";
	default:
		return NULL;
	}
}

/* For a C1 control U in one line of text (MODE CP_LINE; stand_in()):
 * Windows-1252's character at that octet, appended to OUT in the code page
 * by CD where the code page has it and no ASCII stands in for it (U+0083
 * is U+0192 ƒ, CP437's 0x9F).  Returns whether it did. */
static bool c1_in_code_page(iconv_t cd, gunichar u, enum cp_mode mode, struct ccp_ccm_buf *out)
{
	if (mode != CP_LINE || u < 0x80 || u > 0x9f)
		return false;
	gunichar w = ccp_codepage_c1_as_1252(u);
	if (w == u)
		return false;
	char u8[8];
	char *wp = u8;
	size_t wl = (size_t)g_unichar_to_utf8(w, u8);
	ccp_ccm_buf_reserve(out, 16);
	char *op = out->data + out->len;
	size_t ol = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, NULL, NULL);
	if (iconv(cd, &wp, &wl, &op, &ol) == (size_t)-1)
		return false;
	out->len = (size_t)(op - out->data);
	return true;
}

/* Appends IN, converted by CD, to OUT; a character CD cannot carry
 * becomes '?' (counted), or, in text (MODE) from UTF-8, what stand_in()
 * has for it when it has something, not counted: nothing was lost that
 * showed.  A space the code page has (NO-BREAK SPACE, 0xFF in CP437 and
 * CP850) never stops iconv, and stays itself. */
static size_t run_iconv(iconv_t cd, bool src_utf8, enum cp_mode mode, const char *in,
			size_t len, struct ccp_ccm_buf *out)
{
	size_t subst = 0;
	char *ip = (char *)in;
	size_t il = len;
	/* glibc's iconv, stopped by a character the code page lacks, converts
	 * again what it had read ahead to UCS-4 (up to 8,160 characters) to
	 * find where it stopped: some 16 us a stop, 5 s for a megabyte of
	 * Chinese.  So after a stop, UTF-8 goes in windows of WINDOW_MIN
	 * octets, doubled each time one converts whole: a character the code
	 * page lacks costs a short window, and text it has is soon back to
	 * one call.  Other charsets are never cut: a window could end inside
	 * a shift sequence. */
	size_t win = SIZE_MAX;

	iconv(cd, NULL, NULL, NULL, NULL);
	while (il > 0) {
		size_t wl = il;
		if (src_utf8 && win < il) {
			/* Before a character, not inside one, which would stop
			 * iconv as a bad one does: back over up to three
			 * continuation octets.  A fourth is no character's. */
			wl = win;
			for (int k = 0; k < 3 && ((unsigned char)ip[wl] & 0xc0) == 0x80; k++)
				wl--;
			if (((unsigned char)ip[wl] & 0xc0) == 0x80)
				wl = win;
		}
		ccp_ccm_buf_reserve(out, wl * 2 + 16);
		char *op = out->data + out->len;
		size_t ol = out->cap - out->len - 1, left = wl;
		size_t r = iconv(cd, &ip, &left, &op, &ol);
		il -= wl - left;
		out->len = (size_t)(op - out->data);
		if (r != (size_t)-1) {
			win = win <= SIZE_MAX / 2 ? win * 2 : SIZE_MAX;
			continue;
		}
		if (errno == E2BIG)
			continue;
		win = WINDOW_MIN;
		/* EILSEQ or EINVAL: one character we cannot carry. */
		if (mode != CP_ADDR && src_utf8) {
			/* (gunichar)-1 and -2: not UTF-8, or cut short. */
			gunichar u = g_utf8_get_char_validated(ip, (gssize)il);
			const char *put = stand_in(u, mode);
			if (put || c1_in_code_page(cd, u, mode, out)) {
				if (put)
					ccp_ccm_buf_adds(out, put);
				size_t l = (size_t)(g_utf8_next_char(ip) - ip);
				ip += l;
				il -= l;
				iconv(cd, NULL, NULL, NULL, NULL);
				continue;
			}
		}
		ccp_ccm_buf_addc(out, '?');
		subst++;
		if (!src_utf8) {
			/* Invalid input in another charset: skip one octet and
			 * keep the shift state. */
			ip++;
			il--;
			continue;
		}
		size_t skip = utf8_len((unsigned char)*ip);
		if (skip > il)
			skip = il;
		/* Do not swallow ASCII that follows a truncated sequence. */
		for (size_t k = 1; k < skip; k++)
			if (((unsigned char)ip[k] & 0xc0) != 0x80) {
				skip = k;
				break;
			}
		ip += skip;
		il -= skip;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush any shift state. */
	ccp_ccm_buf_reserve(out, 16);
	char *op = out->data + out->len;
	size_t ol = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, &op, &ol);
	out->len = (size_t)(op - out->data);
	out->data[out->len] = '\0';
	return subst;
}

/* Whether IN has no octet above 0x7F: 8 octets at a time, the rest one by
 * one. */
static bool all_below_0x80(const char *in, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, in + i, 8);
		if (w & 0x8080808080808080ull)
			return false;
	}
	while (i < len && (unsigned char)in[i] < 0x80)
		i++;
	return i == len;
}

/* Whether IN is of plain_ascii_octet()s alone: what the probe vouches
 * for. */
static bool all_plain_ascii(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!plain_ascii_octet((unsigned char)in[i]))
			return false;
	return true;
}

/* Drops from OUT, from octet FROM on, the code page's format characters
 * (CP850's soft hyphen): iconv maps them, and they show there, a hyphen
 * in the middle of a word.  memchr() finds that there are none. */
static void drop_format_octets(const struct ccp_codepage *cp, struct ccp_ccm_buf *out,
			       size_t from)
{
	char *first = NULL;
	for (size_t i = 0; i < cp->nformat; i++) {
		char *p = memchr(out->data + from, cp->format_octets[i], out->len - from);
		if (p && (!first || p < first))
			first = p;
	}
	if (!first)
		return;
	char *d = first;
	for (const char *s = first; s < out->data + out->len; s++)
		if (!memchr(cp->format_octets, *s, cp->nformat))
			*d++ = *s;
	out->len = (size_t)(d - out->data);
	out->data[out->len] = '\0';
}

/* IN, of CHARSET, into the code page: ccp_codepage_from(),
 * ccp_codepage_text() or ccp_codepage_body(), as MODE says. */
static size_t convert(struct ccp_codepage *cp, const char *charset, enum cp_mode mode,
		      const char *in, size_t len, struct ccp_ccm_buf *out)
{
	/* Text that reads the same in CHARSET and in the code page (both
	 * ASCII there) is copied as it is.  ASCII has no format character. */
	if (surely_ascii_compatible(charset) && all_below_0x80(in, len)) {
		ccp_ccm_buf_add(out, in, len);
		return 0;
	}
	const struct cp_handle *h = is_utf8(charset) ? NULL : handle_for(cp, charset);
	if (h && h->ascii_is_itself && all_plain_ascii(in, len)) {
		ccp_ccm_buf_add(out, in, len);
		return 0;
	}
	size_t start = out->len, bad = 0;
	if (h == NULL) { /* UTF-8, or an unknown charset read as UTF-8 */
		bad = run_iconv(cp->from_utf8, true, mode, in, len, out);
	} else {
		ccp_ccm_buf_reset(&cp->mid);
		bad = run_iconv(h->cd, false, CP_ADDR, in, len, &cp->mid);
		bad += run_iconv(cp->from_utf8, true, mode, cp->mid.data, cp->mid.len, out);
	}
	if (mode != CP_ADDR && cp->nformat)
		drop_format_octets(cp, out, start);
	return bad;
}

size_t ccp_codepage_from(struct ccp_codepage *cp, const char *charset, const char *in,
			 size_t len, struct ccp_ccm_buf *out)
{
	return convert(cp, charset, CP_ADDR, in, len, out);
}

size_t ccp_codepage_text(struct ccp_codepage *cp, const char *charset, const char *in,
			 size_t len, struct ccp_ccm_buf *out)
{
	return convert(cp, charset, CP_LINE, in, len, out);
}

size_t ccp_codepage_body(struct ccp_codepage *cp, const char *charset, const char *in,
			 size_t len, struct ccp_ccm_buf *out)
{
	return convert(cp, charset, CP_BODY, in, len, out);
}

bool ccp_codepage_ascii_is_itself(struct ccp_codepage *cp, const char *charset)
{
	if (surely_ascii_compatible(charset) || is_utf8(charset))
		return true;
	const struct cp_handle *h = handle_for(cp, charset);
	return h == NULL || h->ascii_is_itself;
}

size_t ccp_codepage_utf8(struct ccp_codepage *cp, const char *charset, const char *in,
			 size_t len, struct ccp_ccm_buf *out)
{
	const struct cp_handle *h = is_utf8(charset) ? NULL : handle_for(cp, charset);
	if (h == NULL || (h->ascii_is_itself && all_plain_ascii(in, len))) {
		ccp_ccm_buf_add(out, in, len);
		return 0;
	}
	return run_iconv(h->cd, false, CP_ADDR, in, len, out);
}

void ccp_codepage_to_utf8(struct ccp_codepage *cp, const char *in, size_t len,
			  struct ccp_ccm_buf *out)
{
	size_t subst = run_iconv(cp->to_utf8, false, CP_ADDR, in, len, out);
	(void)subst; /* CP437 and CP850 map all 256 octets */
}

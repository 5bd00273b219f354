/*
 * test_light: the converter's light path for single-part messages and for
 * multipart mixed, alternative and related ones.
 *
 * 1. The header scanner (headers.h): field spans, folds, line ends, the body
 *    offset, and every block it must decline.
 * 2. The light path against GMime's full parse: each message below, and every
 *    file of tests/data, converts to the same octets (or the same refusal)
 *    with and without --full-parse; and the path taken is the one expected,
 *    so the light path is neither dead nor taken where it must not be.
 * argv[1] is tests/data.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ccpump/ccm.h"
#include "ccpump/convert.h"
#include "ccpump/headers.h"

static bool span_is(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static size_t scan(const char *text, struct ccp_header_field *f, size_t max, size_t *body)
{
	return ccp_headers_scan(text, strlen(text), f, max, body);
}

static void test_scanner(void)
{
	struct ccp_header_field f[8];
	size_t body = 0;

	const char *a = "From: a@b.example\r\nSubject: one\r\n two\r\n\tthree\r\nX-Y:\r\n\r\nbody\r\n";
	CHECK_EQ_U64(scan(a, f, 8, &body), 3);
	CHECK(span_is(f[0].name, f[0].name_len, "From"));
	CHECK(span_is(f[0].raw, f[0].raw_len, " a@b.example\r\n"));
	CHECK(span_is(f[1].name, f[1].name_len, "Subject"));
	CHECK(span_is(f[1].raw, f[1].raw_len, " one\r\n two\r\n\tthree\r\n"));
	CHECK(span_is(f[2].name, f[2].name_len, "X-Y"));
	CHECK(span_is(f[2].raw, f[2].raw_len, "\r\n"));
	CHECK(span_is(a + body, strlen(a) - body, "body\r\n"));
	CHECK(ccp_header_is(&f[1], "subject") && ccp_header_is(&f[1], "SUBJECT"));
	CHECK(!ccp_header_is(&f[1], "Subjec") && !ccp_header_is(&f[1], "Subjects"));

	/* LF line ends; an empty body; a lone CR inside a value is kept. */
	const char *b = "To: x@y\nSubject: a\rb\n\n";
	CHECK_EQ_U64(scan(b, f, 8, &body), 2);
	CHECK(span_is(f[1].raw, f[1].raw_len, " a\rb\n"));
	CHECK_EQ_U64(body, strlen(b));

	/* Declined. */
	static const char *const no[] = {
		"",                                       /* nothing */
		"\r\nbody\r\n",                           /* no field */
		"From a@b Sat Nov 28 12:00:00 2026\nTo: x@y\n\n", /* mbox From line */
		" To: x@y\n\n",                           /* continuation first */
		"Subject : x\n\n",                        /* space before the colon */
		"Sub ject: x\n\n",                        /* space in the name */
		":x\n\n",                                 /* empty name */
		"To: x@y\nnot a field\n\n",               /* a line that is no field */
		"To: x@y\n",                              /* no empty line */
		"To: x@y\nSubject: s",                    /* cut short */
		"To: x@y\r\n\r\r\nbody\r\n",                /* CR CR LF ends no block */
		"T\xc3\xb6: x@y\n\n",                     /* 8-bit name */
		"T\x01o: x@y\n\n",                        /* control octet in the name */
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (scan(no[i], f, 8, &body) != 0)
			fprintf(stderr, "scanner accepted case %zu\n", i);
		CHECK_EQ_U64(scan(no[i], f, 8, &body), 0);
	}
	/* A NUL in the block; more fields than the array holds. */
	const char nul[] = "To: x\0y\n\nbody";
	CHECK_EQ_U64(ccp_headers_scan(nul, sizeof(nul) - 1, f, 8, &body), 0);
	CHECK_EQ_U64(scan("A: 1\nB: 2\nC: 3\n\n", f, 2, &body), 0);
	CHECK_EQ_U64(scan("A: 1\nB: 2\nC: 3\n\n", f, 3, &body), 3);
	/* A NUL in the body is the body's business. */
	const char nulbody[] = "To: x@y\n\nab\0cd";
	CHECK_EQ_U64(ccp_headers_scan(nulbody, sizeof(nulbody) - 1, f, 8, &body), 1);
	CHECK_EQ_U64(body, 9);
}

/* Where ccp_headers_block() ends a block, and how. */
static void test_block_end(void)
{
	static const struct {
		const char *text;
		size_t len, body;
		enum ccp_header_end end;
	} cases[] = {
		{ "To: x\r\nSubject: s\r\n\r\nbody\r\n", 19, 21, CCP_HEADER_END_EMPTY },
		{ "\r\nbody\r\n", 0, 2, CCP_HEADER_END_EMPTY },
		{ "\nbody\n", 0, 1, CCP_HEADER_END_EMPTY },
		/* The empty line written with a doubled CR; a line of blanks
		 * is a fold, and the text after it the body's. */
		{ "To: x\r\r\n\r\r\nbody\r\r\n", 8, 11, CCP_HEADER_END_BLANKS },
		{ "To: x\r\n\r \r\nbody\r\n", 7, 11, CCP_HEADER_END_BLANKS },
		{ "To: x\r\n  \r\nbody\r\n", 11, 11, CCP_HEADER_END_TEXT },
		{ "To: x\n\t\nSubject: s\n\nbody\n", 19, 20, CCP_HEADER_END_EMPTY },
		/* No empty line: the first line that is no field is the body's. */
		{ "To: x\nSubject: s\nHello Bob,\nbye\n", 17, 17, CCP_HEADER_END_TEXT },
		{ "To: x\nX Y: z\n\nb\n", 6, 6, CCP_HEADER_END_TEXT },
		{ "To: x,\ny@z\nSubject: s\n\nb\n", 7, 7, CCP_HEADER_END_TEXT },
		/* Fields (a blank before the colon too) and folds are the block's. */
		{ "Subject : s\n folded\nTo:\n\nb\n", 24, 25, CCP_HEADER_END_EMPTY },
		/* Nothing ends it; a last line without its LF ends nothing. */
		{ "To: x\nSubject: s\n", 17, 17, CCP_HEADER_END_NONE },
		{ "To: x\nSubject: s\nMI", 19, 19, CCP_HEADER_END_NONE },
		{ "To: x\n  ", 8, 8, CCP_HEADER_END_NONE },
		/* A first line that is no field: GMime's rule, to the empty line. */
		{ "From a@b Sat Nov 28 12:00:00 2026\nTo: x\n \nb\n\nc\n", 44, 45,
		  CCP_HEADER_END_EMPTY },
		{ " To: x\nnot a field\n", 19, 19, CCP_HEADER_END_NONE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ccp_header_block b;
		size_t n = strlen(cases[i].text);
		ccp_headers_block(cases[i].text, n, &b);
		CHECK_MSG(b.len == cases[i].len && b.body == cases[i].body && b.end == cases[i].end,
			  "case %zu: len %zu body %zu end %d", i, b.len, b.body, (int)b.end);
		CHECK_EQ_U64(ccp_headers_block_len(cases[i].text, n), cases[i].len);
	}
}

static struct ccp_convert *light, *full;
static struct ccp_ccm_buf out_light, out_full;
static size_t n_light, n_full;

/* Converts DATA both ways; everything must agree.  Returns the status and
 * sets *took_light to the path the light context took (OK only). */
static enum ccp_convert_status both(const char *data, size_t len, const char *name,
				    bool *took_light)
{
	const char *env[] = { "env@ccmail.example.com" };
	struct ccp_convert_input in = { .data = data, .len = len, .name = name, .key = "k1",
					.envelope = env, .nenvelope = len & 1, .now = 86400 };
	ccp_ccm_buf_reset(&out_light);
	ccp_ccm_buf_reset(&out_full);
	enum ccp_convert_status sl = ccp_convert_message(light, &in, &out_light);
	enum ccp_convert_status sf = ccp_convert_message(full, &in, &out_full);
	if (sl != sf || out_light.len != out_full.len ||
	    (out_light.len && memcmp(out_light.data, out_full.data, out_light.len) != 0))
		fprintf(stderr, "%s: light and full parse differ (status %d/%d, %zu/%zu octets)\n",
			name, sl, sf, out_light.len, out_full.len);
	CHECK_EQ_U64(sl, sf);
	CHECK_EQ_U64(out_light.len, out_full.len);
	CHECK(out_light.len == 0 || memcmp(out_light.data, out_full.data, out_light.len) == 0);
	*took_light = false;
	if (sl != CCP_CONVERT_OK) {
		CHECK(strcmp(ccp_convert_error(light), ccp_convert_error(full)) == 0);
		return sl;
	}
	struct ccp_convert_stats a, b;
	ccp_convert_last_stats(light, &a);
	ccp_convert_last_stats(full, &b);
	CHECK(!b.light_parse);
	CHECK_EQ_U64(a.substitutions, b.substitutions);
	CHECK_EQ_U64(a.text_items, b.text_items);
	CHECK_EQ_U64(a.file_items, b.file_items);
	CHECK(a.body_as_file == b.body_as_file);
	*took_light = a.light_parse;
	if (a.light_parse)
		n_light++;
	else
		n_full++;
	return sl;
}

struct want {
	const char *what, *text;
	enum ccp_convert_status st;
	bool light; /* the path expected when it converts */
};

#define HDR "From: Ann Lee <ann@example.org>\r\nTo: bob@ccmail.example.com\r\n"

static const struct want cases[] = {
	{ "plain CRLF", HDR "Subject: hi\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\n"
	  "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n", CCP_CONVERT_OK, true },
	{ "LF only", "From: a@example.org\nTo: b@example.org\nSubject: lf\n\nline\nline\n",
	  CCP_CONVERT_OK, true },
	{ "no Content-Type, no body", HDR "\r\n", CCP_CONVERT_OK, true },
	{ "quoted-printable latin-1", HDR "Content-Type: text/plain; charset=iso-8859-1\r\n"
	  "Content-Transfer-Encoding: Quoted-Printable\r\n\r\nCaf=E9 cr=E8me, a soft=\r\n"
	  " break=3D and =\r\n", CCP_CONVERT_OK, true },
	{ "base64 UTF-8", HDR "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\nQ2Fmw6kg4oKsIDEwCmxpbmUgdHdvCg==\r\n",
	  CCP_CONVERT_OK, true },
	{ "broken base64", HDR "Content-Transfer-Encoding: base64\r\n\r\nQ2Fm!!w6k=g4oK\r\n=\r\n",
	  CCP_CONVERT_OK, true },
	{ "folded encoded subject", HDR "Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n =?ISO-8859-1?B?"
	  "6XTp?= [x]\r\n\tend\r\n\r\nb\r\n", CCP_CONVERT_OK, true },
	{ "8-bit subject", HDR "Subject: caf\xc3\xa9 \xe2\x82\xac\r\n\r\nb\r\n", CCP_CONVERT_OK,
	  true },
	{ "repeated Subject: the last wins", HDR "Subject: first\r\nSubject: second\r\n\r\nb\r\n",
	  CCP_CONVERT_OK, true },
	{ "repeated To: GMime joins the lists", HDR "To: carl@example.net, dora@example.net\r\n"
	  "\r\nb\r\n", CCP_CONVERT_OK, false },
	{ "Cc, Bcc and a group", "From: a@example.org\r\nTo: undisclosed-recipients:;\r\n"
	  "Cc: Team: x@example.org, \"Lee, Y\" <y@ccmail.example.com>;\r\n"
	  "Bcc: z@example.org\r\n\r\nb\r\n", CCP_CONVERT_OK, true },
	{ "unreadable Date", HDR "Date: the day after tomorrow\r\n\r\nb\r\n", CCP_CONVERT_OK, true },
	{ "two Dates", HDR "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nDate: junk\r\n\r\nb\r\n",
	  CCP_CONVERT_OK, true },
	{ "HTML only", HDR "Content-Type: text/html; charset=utf-8\r\n\r\n<p>A &amp; B&nbsp;"
	  "<br>caf&eacute;</p>\r\n", CCP_CONVERT_OK, true },
	{ "a PDF, named in Content-Type", HDR "Content-Type: application/pdf; name=\"Q3 report.pdf\""
	  "\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n", CCP_CONVERT_OK, true },
	{ "an attachment by disposition, RFC 2231 name", HDR "Content-Type: text/plain\r\n"
	  "Content-Disposition: attachment;\r\n filename*=UTF-8''na%C3%AFve%20notes.txt\r\n\r\n"
	  "notes\r\n", CCP_CONVERT_OK, true },
	{ "inline text with a name", HDR "Content-Type: text/plain; name=a.txt\r\n\r\nx\r\n",
	  CCP_CONVERT_OK, true },
	{ "unknown transfer encoding", HDR "Content-Transfer-Encoding: x-weird\r\n\r\n=41\r\n",
	  CCP_CONVERT_OK, true },
	{ "Content-Type without a subtype", HDR "Content-Type: text\r\n\r\nx\r\n", CCP_CONVERT_OK,
	  true },
	{ "Content-Type 'multipart' without a subtype", HDR "Content-Type: multipart\r\n\r\nx\r\n",
	  CCP_CONVERT_OK, false },
	{ "a comment in an address field", "From: ann@example.org (Ann)\r\nTo: b@example.org\r\n\r\n"
	  "b\r\n", CCP_CONVERT_OK, false },
	{ "an unclosed comment in To", "From: a@example.org\r\nTo: b@example.org, (c\r\n\r\nb\r\n",
	  CCP_CONVERT_OK, false },
	{ "repeated Content-Type", HDR "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n"
	  "<b>x</b>\r\n", CCP_CONVERT_OK, false },
	{ "repeated transfer encoding", HDR "Content-Transfer-Encoding: base64\r\n"
	  "Content-Transfer-Encoding: 7bit\r\n\r\nQUJD\r\n", CCP_CONVERT_OK, false },
	{ "a comment in Content-Type", HDR "Content-Type: (c) text/plain\r\n\r\nx\r\n",
	  CCP_CONVERT_OK, false },
	{ "multipart", HDR "Content-Type: Multipart/Mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\none\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart, LF only", "From: a@example.org\nTo: b@example.org\nContent-Type: "
	  "multipart/mixed; boundary=\"=_b\"\n\n--=_b\nContent-Type: text/plain\n\nline\n"
	  "\n--=_b--\n", CCP_CONVERT_OK, true },
	{ "multipart: preamble, epilogue with boundary lines", HDR "Content-Type: multipart/mixed;"
	  " boundary=b\r\n\r\nThis is a MIME message.\r\n--bb\r\n--b\r\n\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\nbody\r\n--b--\r\nepilogue\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\nnot a part\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: text and a base64 attachment", HDR "Subject: report\r\nContent-Type: "
	  "multipart/mixed; boundary=\"=_b\"\r\n\r\n--=_b\r\nContent-Type: text/plain; "
	  "charset=utf-8\r\n\r\nSee the caf\xc3\xa9 figures.\r\n\r\n--=_b\r\n"
	  "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
	  "filename=\"draft network 1004.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "PwTzXFihJZz+nKMxYOJ4/iCl6TIIv7XML512qqKXYN36FywQtG9xAFa91vtIWoG7ucW/8Zxtie04\r\n"
	  "Xn9HBEJzzyDV5qAyFxXggt2q6sWvNJ32\r\n--=_b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: boundary lines with trailing white space", HDR "Content-Type: multipart/mixed;"
	  " boundary=b\r\n\r\n--b \t\r\nContent-Type: text/plain\r\n\r\none\r\n--b--  \r\n",
	  CCP_CONVERT_OK, true },
	{ "multipart: a line that only starts like the boundary", HDR "Content-Type: "
	  "multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
	  "--bx is not it\r\n--b-- neither\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: a boundary of specials", HDR "Content-Type: multipart/mixed; "
	  "boundary=\"'()+_,-./:=? b\"\r\n\r\n--'()+_,-./:=? b\r\nContent-Type: text/plain\r\n"
	  "\r\nx\r\n--'()+_,-./:=? b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: a part without header fields", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\r\n\r\nbare\r\n--b\n\nbare LF\n--b--\r\n", CCP_CONVERT_OK,
	  true },
	{ "multipart: a part of nothing at all", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
	  CCP_CONVERT_OK, false },
	{ "multipart: no closing boundary", HDR "Content-Type: multipart/mixed; boundary=b\r\n"
	  "\r\n--b\r\nContent-Type: text/plain\r\n\r\nunended\r\n", CCP_CONVERT_OK, false },
	{ "multipart: closed before it opens", HDR "Content-Type: multipart/mixed; boundary=b\r\n"
	  "\r\n--b--\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
	  CCP_CONVERT_OK, false },
	{ "multipart: closing boundary without a line end", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
	  CCP_CONVERT_OK, true },
	{ "multipart: an empty part", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Type: text/plain\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
	  "second\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: two text parts, HTML, quoted-printable", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n"
	  "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
	  "quoted-printable\r\n\r\ncr=E8me=\r\n br=FBl=E9e\r\n--b\r\nContent-Type: text/html"
	  "\r\n\r\n<p>a&amp;b</p>\r\n--b\r\nContent-Type: text/html\r\nContent-Disposition: "
	  "attachment\r\n\r\n<p>as a file</p>\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: a part's own From is not the message's", HDR "Content-Type: multipart/mixed;"
	  " boundary=b\r\n\r\n--b\r\nFrom: (not an address\r\nContent-Type: text/plain\r\n"
	  "\r\nx\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: LF content, CRLF boundary lines (GMime takes back two octets)", HDR
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
	  "\r\nab\ncd\n--b\r\nContent-Type: text/plain\r\n\r\nef\n--b--\r\n", CCP_CONVERT_OK,
	  true },
	{ "multipart: CRLF content, LF boundary lines", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\nContent-Type: text/plain\r\n\r\nab\r\ncd\r\n--b--\n",
	  CCP_CONVERT_OK, true },
	/* A bare LF before a CRLF boundary line: GMime's two octets back
	 * were more than the part had, and the light path declined; both
	 * now read it with the CR the boundary line has (the boundary's
	 * line ends mended), an empty part. */
	{ "multipart: one octet of content before a CRLF boundary line", HDR "Content-Type: "
	  "multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\n"
	  "--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: nested", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Type: "
	  "text/plain\r\n\r\nalt\r\n--c--\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: alternatives and an attachment, as mailers send them", HDR "Subject: "
	  "figures\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"_004_out\""
	  "\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--_004_out\r\n"
	  "Content-Type: multipart/alternative; boundary=\"_000_in\"\r\n\r\n--_000_in\r\n"
	  "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64"
	  "\r\n\r\nSGVsbG8sIHdvcmxkLg==\r\n\r\n--_000_in\r\nContent-Type: text/html; charset="
	  "\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Hello, =\r\n"
	  "world.</p>\r\n\r\n--_000_in--\r\n\r\n--_004_out\r\nContent-Type: application/pdf;"
	  " name=\"q3.pdf\"\r\nContent-Disposition: attachment; filename=\"q3.pdf\"; size=9\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\r\n--_004_out--\r\n",
	  CCP_CONVERT_OK, true },
	{ "multipart: an inner epilogue, and boundaries that prefix each other", HDR
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/"
	  "mixed; boundary=bb\r\n\r\ninner preamble\r\n--bb\r\nContent-Type: text/plain\r\n"
	  "\r\none\r\n--bb--\r\ninner epilogue\r\n--b\r\nContent-Type: multipart/alternative;"
	  " boundary=\"b b\"\r\n\r\n--b b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n"
	  "--b b--\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: the inner one ended by the outer boundary", HDR "Content-Type: "
	  "multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; "
	  "boundary=c\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nunclosed\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\nnext\r\n--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart: three deep", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed;"
	  " boundary=d\r\n\r\n--d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--d--\r\n"
	  "--c--\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart: four deep", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed;"
	  " boundary=d\r\n\r\n--d\r\nContent-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n"
	  "Content-Type: text/plain\r\n\r\ndeeper\r\n--e--\r\n--d--\r\n--c--\r\n--b--\r\n",
	  CCP_CONVERT_OK, false },
	{ "multipart: inline images and an attachment, three levels", HDR "Content-Type: "
	  "multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/related; "
	  "boundary=r; type=\"multipart/alternative\"\r\n\r\n--r\r\nContent-Type: "
	  "multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n"
	  "See the logo.\r\n--a\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo\">\r\n"
	  "--a--\r\n--r\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo>\r\n"
	  "Content-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64"
	  "\r\n\r\niVBORw0KGgo=\r\n--r--\r\n--m\r\nContent-Type: application/pdf; name=a.pdf\r\n"
	  "Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "JVBERi0xLjQK\r\n--m--\r\n", CCP_CONVERT_OK, true },
	{ "multipart/alternative of plain text and related HTML", HDR "Content-Type: "
	  "multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n"
	  "plain\r\n--a\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\n"
	  "Content-Type: text/html\r\n\r\n<p>h</p>\r\n--r\r\nContent-Type: image/gif\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n--r--\r\n--a--\r\n",
	  CCP_CONVERT_OK, true },
	{ "multipart/digest (its parts default to messages)", HDR "Content-Type: multipart/digest; "
	  "boundary=b\r\n\r\n--b\r\n\r\nFrom: c@example.org\r\nSubject: inner\r\n\r\nbody\r\n"
	  "--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart/signed", HDR "Content-Type: multipart/signed; boundary=b; protocol=\""
	  "application/pgp-signature\"; micalg=pgp-sha256\r\n\r\n--b\r\nContent-Type: text/plain"
	  "\r\n\r\nsigned text\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\n"
	  "-----BEGIN PGP SIGNATURE-----\r\nx\r\n-----END PGP SIGNATURE-----\r\n--b--\r\n",
	  CCP_CONVERT_OK, false },
	{ "multipart: an inner multipart/related", HDR "Content-Type: multipart/alternative; "
	  "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\n"
	  "Content-Type: multipart/related; boundary=c\r\n\r\n--c\r\nContent-Type: text/html"
	  "\r\n\r\n<p>h</p>\r\n--c--\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart/alternative: no text leaf, a multipart the last", HDR "Content-Type: "
	  "multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/enriched\r\n\r\n"
	  "x\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: "
	  "text/html\r\n\r\n<p>in mixed</p>\r\n--c\r\nContent-Type: image/png; name=a.png\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--c--\r\n--b--\r\n",
	  CCP_CONVERT_OK, true },
	{ "multipart: an embedded message", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.org\r\n\r\ninner\r\n"
	  "--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart: a uuencoded part", HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.txt\r\n#86)C\r\n"
	  "`\r\nend\r\n--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart/alternative", HDR "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	  "--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html"
	  "\r\n\r\n<b>html</b>\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart/alternative: HTML first, plain text picked", HDR "Content-Type: "
	  "multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n"
	  "<b>html</b>\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\nQ2Fmw6k=\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart/alternative: the plain text is an attachment, HTML picked", HDR
	  "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: "
	  "text/plain\r\nContent-Disposition: attachment\r\n\r\nplain\r\n--b\r\n"
	  "Content-Type: text/html\r\n\r\n<i>html</i>\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart/alternative: no text, the last picked", HDR "Content-Type: "
	  "multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/enriched\r\n"
	  "\r\n<bold>x</bold>\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n", CCP_CONVERT_OK,
	  true },
	{ "multipart/alternative without a type in the first part", HDR "Content-Type: "
	  "multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 7bit\r\n"
	  "\r\nimplicit plain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n--b--\r\n",
	  CCP_CONVERT_OK, true },
	{ "multipart/related", HDR "Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: text/html\r\n\r\n<p>h</p>\r\n--b--\r\n", CCP_CONVERT_OK, true },
	{ "multipart with a transfer encoding", HDR "Content-Type: multipart/mixed; boundary=b\r\n"
	  "Content-Transfer-Encoding: 7bit\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx"
	  "\r\n--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart without a boundary", HDR "Content-Type: multipart/mixed\r\n\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n", CCP_CONVERT_OK, false },
	{ "multipart: the boundary as the last line", HDR "Content-Type: multipart/mixed; "
	  "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b",
	  CCP_CONVERT_OK, false },
	{ "an embedded message", HDR "Content-Type: message/rfc822\r\n\r\nFrom: c@example.org\r\n"
	  "Subject: inner\r\n\r\ninner body\r\n", CCP_CONVERT_OK, false },
	{ "uuencode", HDR "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.txt\r\n"
	  "#86)C\r\n`\r\nend\r\n", CCP_CONVERT_OK, false },
	{ "an mbox From line", "From ann@example.org Sat Nov 28 10:00:00 2026\r\n" HDR "\r\nb\r\n",
	  CCP_CONVERT_OK, false },
	{ "a space before a colon", HDR "Subject : spaced\r\n\r\nb\r\n", CCP_CONVERT_OK, false },
	{ "no empty line", HDR "Subject: headers only\r\n", CCP_CONVERT_OK, false },
	{ "no From", "To: b@example.org\r\nSubject: x\r\n\r\nb\r\n", CCP_CONVERT_ERR_NO_FROM, true },
	{ "empty From", "From:\r\nTo: b@example.org\r\n\r\nb\r\n", CCP_CONVERT_ERR_NO_FROM, true },
	{ "no recipient", "From: a@example.org\r\nSubject: x\r\n\r\nb\r\n", CCP_CONVERT_ERR_NO_RCPT,
	  true },
	{ "not a message", "just some text\r\nwithout fields\r\n", CCP_CONVERT_ERR_PARSE, false },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct want *w = &cases[i];
		bool took;
		enum ccp_convert_status st = both(w->text, strlen(w->text), w->what, &took);
		if (st != w->st)
			fprintf(stderr, "%s: status %d, want %d\n", w->what, st, w->st);
		CHECK_EQ_U64(st, w->st);
		if (st == CCP_CONVERT_OK && took != w->light)
			fprintf(stderr, "%s: took the %s path\n", w->what, took ? "light" : "full");
		CHECK(st != CCP_CONVERT_OK || took == w->light);
	}
}

/* A line that starts like a boundary and runs past GMime's 4 KiB scan
 * buffer: GMime takes it for the boundary on the part it holds, though the
 * whole line ends in "x"; the light path must decline it, not disagree. */
static void test_long_boundary_line(void)
{
	static const char head[] = HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
				   "Content-Type: text/plain\r\n\r\nbefore\r\n--b";
	static const char tail[] = "x\r\nafter\r\n--b--\r\n";
	size_t pad = 5000, n = sizeof(head) - 1 + pad + sizeof(tail) - 1;
	char *m = malloc(n);
	CHECK(m != NULL);
	memcpy(m, head, sizeof(head) - 1);
	memset(m + sizeof(head) - 1, ' ', pad);
	memcpy(m + sizeof(head) - 1 + pad, tail, sizeof(tail) - 1);
	bool took;
	CHECK_EQ_U64(both(m, n, "a long boundary-like line", &took), CCP_CONVERT_OK);
	CHECK(!took);
	free(m);
}

/* Every file of tests/data and tests/data/gen, both ways. */
static void test_files(const char *datadir, const char *sub)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s%s", datadir, sub);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".eml") != 0)
			continue;
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL);
		char *buf = malloc(1 << 22);
		size_t len = fread(buf, 1, 1 << 22, f);
		fclose(f);
		bool took;
		both(buf, len, path, &took);
		if (len > 1)
			both(buf, len - 1, path, &took); /* the other envelope setting */
		free(buf);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	setenv("TZ", "UTC", 1);
	tzset();
	test_scanner();
	test_block_end();

	struct ccp_convert_map *map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.map = map;
	light = ccp_convert_new(&o);
	o.full_parse = true;
	full = ccp_convert_new(&o);
	CHECK(light && full);
	ccp_ccm_buf_init(&out_light);
	ccp_ccm_buf_init(&out_full);

	test_cases();
	test_long_boundary_line();
	test_files(argv[1], "");
	test_files(argv[1], "/gen");
	printf("light path: %zu converted light, %zu full, all equal\n", n_light, n_full);
	CHECK(n_light >= 40 && n_full >= 20);

	ccp_ccm_buf_free(&out_light);
	ccp_ccm_buf_free(&out_full);
	ccp_convert_free(light);
	ccp_convert_free(full);
	ccp_convert_map_free(map);
	ccp_convert_shutdown();
	puts("test_light: ok");
	return 0;
}

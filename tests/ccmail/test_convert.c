#define _GNU_SOURCE /* memmem */
/*
 * test_convert: RFC 5322/MIME -> cc:Mail, read back with the strict reader.
 * Addresses, subjects in several charsets, the 20 KB text limit, the address
 * buffer, attachments (binary, long names, many, nested), HTML-only mail, and
 * a corpus of broken messages that must each convert or be refused with a
 * reason, never crash.  argv[1] is tests/data.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ccpump/alloc.h"
#include "ccpump/ccm.h"
#include "ccpump/convert.h"
/* The converter itself, for test_name_suffixes(): the ~N of 8.3 names past
 * a million is reached only by a message of a million parts (60 MB, 14 s
 * in an optimized build), or by starting file_name()'s search there.  The
 * library's convert.o is then not linked: this file defines its symbols. */
#include "ccmail/convert.c"

static const char *datadir;
static struct ccp_ccm_buf out, u8;
static struct ccp_ccm_msg m;

static bool eq(const void *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static bool contains(const void *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* The start of a multipart/mixed test message: its header, a text part
 * "hi", and the boundary before the part that follows. */
#define MIXED_HI                                                                \
	"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"     \
	"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"              \
	"Content-Type: text/plain\r\n\r\nhi\r\n--B\r\n"

/* Converts a string; on success reads the result back into m (exactly one
 * message, no size warnings). */
static enum ccp_convert_status conv(struct ccp_convert *c, const char *text, const char *key)
{
	ccp_ccm_buf_reset(&out);
	struct ccp_convert_input in = { .data = text, .len = strlen(text), .name = "t.eml",
					.key = key, .now = 86400 * 365 };
	enum ccp_convert_status st = ccp_convert_message(c, &in, &out);
	if (st == CCP_CONVERT_OK) {
		struct ccp_ccm_reader r;
		ccp_ccm_reader_init(&r, out.data, out.len, "out.ccm");
		CHECK(ccp_ccm_reader_next(&r, &m) == 1);
		CHECK_EQ_U64(m.warnings, 0);
		struct ccp_ccm_msg m2;
		ccp_ccm_msg_init(&m2);
		CHECK(ccp_ccm_reader_next(&r, &m2) == 0);
		ccp_ccm_msg_free(&m2);
	} else {
		CHECK(ccp_convert_error(c)[0] != '\0');
		CHECK(strstr(ccp_convert_error(c), "t.eml: refused: ") != NULL);
		CHECK_EQ_U64(out.len, 0);
	}
	return st;
}

/* Converts TEXT with C and checks that it is from FROM and to the N
 * addresses WANT, as written. */
static void conv_addrs(struct ccp_convert *c, const char *text, const char *from,
		       const char *const *want, size_t n)
{
	CHECK(conv(c, text, NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, from));
	CHECK_EQ_U64(m.nrcpt, n);
	for (size_t i = 0; i < n; i++)
		CHECK(eq(m.rcpt[i].addr, m.rcpt[i].addr_len, want[i]));
}

/* Converts TEXT with C and the N envelope recipients ENV into m. */
static void conv_envelope(struct ccp_convert *c, const char *text, const char *const *env,
			  size_t n)
{
	struct ccp_convert_input in = { .data = text, .len = strlen(text), .name = "env",
					.envelope = env, .nenvelope = n };
	ccp_ccm_buf_reset(&out);
	CHECK(ccp_convert_message(c, &in, &out) == CCP_CONVERT_OK);
	struct ccp_ccm_reader r;
	ccp_ccm_reader_init(&r, out.data, out.len, "o");
	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
}

/* Checks that m is from FROM, to RCPT0 first, about SUBJECT, as written. */
static void check_head(const char *from, const char *rcpt0, const char *subject)
{
	CHECK(eq(m.from, m.from_len, from));
	CHECK(m.nrcpt > 0 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, rcpt0));
	CHECK(eq(m.subject, m.subject_len, subject));
}

/* A message of header HEAD and one part, TYPE and BODY: its first item
 * is WANT and SUBST characters were '?' (CP names the code page in the
 * message of a failure). */
struct body_case {
	const char *type, *body, *want;
	size_t subst;
};

static void check_body_case(struct ccp_convert *c, const char *head, const struct body_case *k,
			    int cp)
{
	char text[1024];
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n%s", head,
		 k->type, k->body);
	CHECK(conv(c, text, "body case") == CCP_CONVERT_OK);
	if (!eq(m.item[0].data, m.item[0].len, k->want))
		fprintf(stderr, "CP%d, '%s': got '%.*s'\n", cp, k->body, (int)m.item[0].len,
			(const char *)m.item[0].data);
	CHECK(eq(m.item[0].data, m.item[0].len, k->want));
	struct ccp_convert_stats st;
	ccp_convert_last_stats(c, &st);
	CHECK_EQ_U64(st.substitutions, k->subst);
}

/* Converts with C a message with one attachment, named PREFIX, N times
 * UNIT and SUFFIX (RFC 2231: UTF-8, percent-encoded), into m. */
static void conv_named(struct ccp_convert *c, const char *prefix, const char *unit, int n,
		       const char *suffix)
{
	struct ccp_ccm_buf msg;
	ccp_ccm_buf_init(&msg);
	ccp_ccm_buf_printf(&msg, "%sContent-Type: application/octet-stream\r\n"
			   "Content-Disposition: attachment; filename*=utf-8''%s", MIXED_HI, prefix);
	for (int i = 0; i < n; i++)
		ccp_ccm_buf_adds(&msg, unit);
	ccp_ccm_buf_printf(&msg, "%s\r\n\r\nx\r\n--B--\r\n", suffix);
	CHECK(conv(c, msg.data, "named") == CCP_CONVERT_OK);
	ccp_ccm_buf_free(&msg);
}

static char *slurp(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fprintf(stderr, "cannot open %s\n", path);
	CHECK(f != NULL);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static enum ccp_convert_status conv_file(struct ccp_convert *c, const char *name)
{
	size_t len;
	char *text = slurp(name, &len);
	ccp_ccm_buf_reset(&out);
	struct ccp_convert_input in = { .data = text, .len = len, .name = name, .key = name };
	enum ccp_convert_status st = ccp_convert_message(c, &in, &out);
	if (st == CCP_CONVERT_OK) {
		struct ccp_ccm_reader r;
		ccp_ccm_reader_init(&r, out.data, out.len, name);
		CHECK(ccp_ccm_reader_next(&r, &m) == 1);
		CHECK_EQ_U64(m.warnings, 0);
	} else {
		CHECK(strstr(ccp_convert_error(c), name) != NULL);
	}
	free(text);
	return st;
}

static struct ccp_convert *make(struct ccp_convert_opts *o, struct ccp_convert_map *map)
{
	o->map = map;
	struct ccp_convert *c = ccp_convert_new(o);
	CHECK(c != NULL);
	return c;
}

static size_t count_kind(enum ccp_ccm_item_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < m.nitem; i++)
		n += m.item[i].kind == k;
	return n;
}

/* Checks that the last conversion's recipient lines are WANT (N of them);
 * WHAT names the case in a failure. */
static void check_rcpts(const char *what, const char *const *want, size_t n)
{
	CHECK_MSG(m.nrcpt == n, "%s: %zu recipients, not %zu", what, m.nrcpt, n);
	for (size_t i = 0; i < m.nrcpt && i < n; i++)
		CHECK_MSG(eq(m.rcpt[i].addr, m.rcpt[i].addr_len, want[i]),
			  "%s: recipient %zu is '%.*s'", what, i, (int)m.rcpt[i].addr_len,
			  m.rcpt[i].addr);
}

/* Converts with C a message with N attachments, the i-th named
 * NAMES[i][0] (RFC 2231: UTF-8, percent-encoded), and checks that its File
 * item is named NAMES[i][1], as written. */
static void conv_names(struct ccp_convert *c, const char *const (*names)[2], size_t n)
{
	struct ccp_ccm_buf msg;
	ccp_ccm_buf_init(&msg);
	ccp_ccm_buf_adds(&msg, MIXED_HI);
	for (size_t i = 0; i < n; i++)
		ccp_ccm_buf_printf(&msg, "%sContent-Type: application/octet-stream;"
				   " name*=utf-8''%s\r\n\r\nx\r\n",
				   i ? "--B\r\n" : "", names[i][0]);
	ccp_ccm_buf_adds(&msg, "--B--\r\n");
	CHECK(conv(c, msg.data, "names") == CCP_CONVERT_OK);
	CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), n);
	for (size_t i = 0; i < n; i++) {
		if (!eq(m.item[i + 1].title, m.item[i + 1].title_len, names[i][1]))
			fprintf(stderr, "%s: got '%.*s'\n", names[i][0], (int)m.item[i + 1].title_len,
				m.item[i + 1].title);
		CHECK(eq(m.item[i + 1].title, m.item[i + 1].title_len, names[i][1]));
	}
	ccp_ccm_buf_free(&msg);
}

static void test_addresses(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.site = "EXSITE";
	struct ccp_convert *c = make(&o, map);

	CHECK(conv_file(c, "mixed.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, "\"Smith; Sally\" [SMTP:sally@exchange.example.com] at EXSITE"));
	CHECK_EQ_U64(m.nrcpt, 3);
	CHECK(m.rcpt[0].kind == CCP_CCM_TO && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Doe, John at HUBPO1"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len, "\"Test User\" [SMTP:user@internet.example] at EXSITE"));
	CHECK(m.rcpt[2].kind == CCP_CCM_CC && eq(m.rcpt[2].addr, m.rcpt[2].addr_len, "Admin at HUBPO1"));
	/* Subject: RFC 2047 decoded, é in CP437 is 0x82, € is not in it and
	 * reads as EUR, [ ] -> ( ). */
	CHECK(eq(m.subject, m.subject_len, "Caf\x82 (draft) EUR"));
	const struct ccp_ccm_ext *x = ccp_ccm_msg_ext(&m, "X-Spool-Id");
	CHECK(x && eq(x->value, x->value_len, "mixed.eml"));
	CHECK_EQ_U64(m.nitem, 2);
	CHECK(m.item[0].kind == CCP_CCM_ITEM_TEXT);
	CHECK(eq(m.item[0].data, m.item[0].len, "Caf\x82 is open.\r\nBye\r\n"));
	CHECK(m.item[1].kind == CCP_CCM_ITEM_FILE);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "QUARTE~1.XLS"));
	/* A display name of spaces alone, Unicode ones too, is none: the
	 * native name comes from the local part, the foreign one is the
	 * address ("?" before: an em space has no place in CP437). */
	CHECK(conv(c, "From: =?utf-8?q?=E2=80=83?= <jane.roe@ccmail.example.com>\r\n"
		      "To: =?utf-8?q?=C2=A0_?= <x@foreign.example>\r\n\r\nhi\r\n", NULL) ==
	      CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, "Roe, Jane at HUBPO1"));
	CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
		 "\"x@foreign.example\" [SMTP:x@foreign.example] at EXSITE"));
	CHECK(m.item[1].stamp_len > 0);
	CHECK(eq(m.item[1].data, m.item[1].len, "\x00\x01\x02\x03\x04\x05") ||
	      (m.item[1].len == 6 && memcmp(m.item[1].data, "\x00\x01\x02\x03\x04\x05", 6) == 0));

	/* A display name that has no letter or digit once in the code page
	 * names no one ("? at HUBPO1", "??? at HUBPO1" before): format
	 * characters alone (U+200D ZERO WIDTH JOINER, U+2060 WORD JOINER,
	 * U+00AD SOFT HYPHEN) and a name all in CJK count as none, so the
	 * local part names the user, and with no local part either the
	 * address is written as foreign.  A name the code page can show is
	 * kept: é and ü are 0x82 and 0x81 in CP437.  The light path and the
	 * full parse agree. */
	{
		static const char text[] =
			"From: =?utf-8?q?=E2=80=8D?= <bob@ccmail.example.com>\r\n"
			"To: =?utf-8?b?5p2O5bCP6b6Z?= <bruce.lee@ccmail.example.com>,\r\n"
			" =?utf-8?q?Jos=C3=A9_M=C3=BCller?= <jm@ccmail.example.com>,\r\n"
			" =?utf-8?q?=E2=81=A0?= <ann@ccmail.example.com>,\r\n"
			" =?utf-8?b?5p2O5bCP6b6Z?= <\"\"@ccmail.example.com>,\r\n"
			" =?utf-8?q?=E2=80=8D?= <x@foreign.example>\r\n"
			"Cc: =?utf-8?q?=C2=AD?= <al@ccmail.example.com>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"Lee, Bruce at HUBPO1",
			"M\x81ller, Jos\x82 at HUBPO1",
			"Ann at HUBPO1",
			"\"''@ccmail.example.com\" [SMTP:''@ccmail.example.com] at EXSITE",
			"\"x@foreign.example\" [SMTP:x@foreign.example] at EXSITE",
			"Al at HUBPO1", /* the Cc */
		};
		CHECK(conv(c, text, "unshown") == CCP_CONVERT_OK);
		CHECK(eq(m.from, m.from_len, "Bob at HUBPO1"));
		CHECK_EQ_U64(m.nrcpt, CCP_ARRAY_LEN(want));
		for (size_t i = 0; i < CCP_ARRAY_LEN(want); i++)
			CHECK(eq(m.rcpt[i].addr, m.rcpt[i].addr_len, want[i]));
		CHECK(m.rcpt[5].kind == CCP_CCM_CC);
		struct ccp_convert_stats st;
		ccp_convert_last_stats(c, &st);
		CHECK(st.light_parse);
		struct ccp_ccm_buf light;
		ccp_ccm_buf_init(&light);
		ccp_ccm_buf_add(&light, out.data, out.len);
		o.full_parse = true;
		struct ccp_convert *full = make(&o, map);
		CHECK(conv(full, text, "unshown") == CCP_CONVERT_OK);
		ccp_convert_last_stats(full, &st);
		CHECK(!st.light_parse);
		CHECK(out.len == light.len && memcmp(out.data, light.data, out.len) == 0);
		ccp_convert_free(full);
		o.full_parse = false;
		ccp_ccm_buf_free(&light);
	}

	/* A foreign display name is judged as a native one: with no letter
	 * or digit in the code page (all CJK, punctuation alone) it counts as
	 * none and the address stands for it, where it was written "???"
	 * before; a name the code page shows in part keeps its '?', which
	 * say that something is missing.  The '?' counted are those written. */
	{
		static const char text[] =
			"From: =?utf-8?b?5p2O5bCP6b6Z?= <bruce@foreign.example>\r\n"
			"To: =?utf-8?q?Jos=C3=A9_=E6=9D=8E?= <jl@foreign.example>,\r\n"
			" \"--\" <dash@foreign.example>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"\"Jos\x82 ?\" [SMTP:jl@foreign.example] at EXSITE",
			"\"dash@foreign.example\" [SMTP:dash@foreign.example] at EXSITE",
		};
		conv_addrs(c, text,
			   "\"bruce@foreign.example\" [SMTP:bruce@foreign.example] at EXSITE",
			   want, CCP_ARRAY_LEN(want));
		struct ccp_convert_stats st;
		ccp_convert_last_stats(c, &st);
		CHECK_EQ_U64(st.substitutions, 1);
	}

	/* So is a local part that stands for a native name: all in
	 * characters the code page lacks (an SMTPUTF8 address) it named the
	 * user "?" ("? at HUBPO1"); it is written as a foreign address now,
	 * the address as far as the code page shows it.  A local part the code
	 * page shows (ö is 0x94), and a display name, still name the user. */
	{
		static const char text[] =
			"From: \xe6\x9d\x8e@ccmail.example.com\r\n"
			"To: j\xc3\xb6rg@ccmail.example.com, -@ccmail.example.com,\r\n"
			" Bruce Lee <\xe6\x9d\x8e\xe5\xb0\x8f@ccmail.example.com>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"J\x94rg at HUBPO1",
			"\"-@ccmail.example.com\" [SMTP:-@ccmail.example.com] at EXSITE",
			"Lee, Bruce at HUBPO1",
		};
		conv_addrs(c, text,
			   "\"?@ccmail.example.com\" [SMTP:?@ccmail.example.com] at EXSITE",
			   want, CCP_ARRAY_LEN(want));
	}

	/* A native name the code page shows only in part names no user: a
	 * cc:Mail name is a mailbox of the post office.  "小龙 Lee" was
	 * "Lee, ?? at HUBPO1" and "José 李" "?, José at HUBPO1"; now, as a name
	 * it shows nothing of, such a display name counts as none and the
	 * local part names the user.  A local part shown in part names none
	 * either ("J\x94rg? at HUBPO1" before), and with no name to give the
	 * address is written as foreign, whose display name keeps its '?'.
	 * The '?' counted are those written.  Both parses agree. */
	{
		static const char text[] =
			"From: a@example.org\r\n"
			"To: =?utf-8?q?=E5=B0=8F=E9=BE=99_Lee?= <bruce.lee@ccmail.example.com>,\r\n"
			" =?utf-8?q?Jos=C3=A9_=E6=9D=8E?= <jl@ccmail.example.com>,\r\n"
			" =?utf-8?q?=E6=9D=8E_Bruce?= <\xe6\x9d\x8e@ccmail.example.com>,\r\n"
			" j\xc3\xb6rg\xe6\x9d\x8e@ccmail.example.com,\r\n"
			" =?utf-8?q?Jos=C3=A9_M=C3=BCller?= <jm@ccmail.example.com>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"Lee, Bruce at HUBPO1",
			"Jl at HUBPO1",
			"\"? Bruce\" [SMTP:?@ccmail.example.com] at EXSITE",
			"\"j\x94rg?@ccmail.example.com\" [SMTP:j\x94rg?@ccmail.example.com] at EXSITE",
			"M\x81ller, Jos\x82 at HUBPO1",
		};
		for (int full = 0; full < 2; full++) {
			struct ccp_convert_opts of = o;
			of.full_parse = full;
			struct ccp_convert *f = make(&of, map);
			conv_addrs(f, text, "\"a@example.org\" [SMTP:a@example.org] at EXSITE", want,
				   CCP_ARRAY_LEN(want));
			struct ccp_convert_stats st;
			ccp_convert_last_stats(f, &st);
			CHECK_EQ_U64(st.substitutions, 4);
			ccp_convert_free(f);
		}
	}

	/* Format characters (Unicode's Cf) show nothing and are dropped
	 * before the code page, not made '?' ("Bob?" before): U+200D ZERO
	 * WIDTH JOINER, U+00AD SOFT HYPHEN, the bidi controls U+202A-U+202E
	 * and U+2066-U+2069, U+FEFF, U+200B in names and in the Subject.  The
	 * address itself keeps what it has: without it, it is another
	 * address.  CP850 has the soft hyphen (0xF0), no letter of a name:
	 * dropped there too. */
	{
		static const char text[] =
			"From: =?utf-8?q?Bob=E2=80=8D?= <bob@foreign.example>\r\n"
			"To: =?utf-8?q?Al=C2=ADice_=E2=80=AARoe=E2=80=AC?=\r\n"
			" <ar@ccmail.example.com>,\r\n"
			" =?utf-8?q?=E2=81=A6Ann=E2=81=A9_=EF=BB=BFLee=E2=80=AE?=\r\n"
			" <al@ccmail.example.com>,\r\n"
			" =?utf-8?q?=E2=80=8D?= <z\xe2\x80\x8d@foreign.example>\r\n"
			"Subject: =?utf-8?q?hi=E2=80=8Bthere?=\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"Roe, Alice at HUBPO1",
			"Lee, Ann at HUBPO1",
			"\"z?@foreign.example\" [SMTP:z?@foreign.example] at EXSITE",
		};
		conv_addrs(c, text, "\"Bob\" [SMTP:bob@foreign.example] at EXSITE", want,
			   CCP_ARRAY_LEN(want));
		CHECK(eq(m.subject, m.subject_len, "hithere"));
		struct ccp_convert_opts o850 = o;
		o850.codepage = CCP_CP850;
		struct ccp_convert *c850 = make(&o850, map);
		conv_addrs(c850, text, "\"Bob\" [SMTP:bob@foreign.example] at EXSITE", want,
			   CCP_ARRAY_LEN(want));
		ccp_convert_free(c850);
	}

	/* A NO-BREAK SPACE (U+00A0, 0xFF in CP437 and CP850) in a native
	 * display name parts its words as a space does: "Ann<U+00A0>Lee" was
	 * the one word "Ann\xffLee at HUBPO1".  So does U+202F NARROW NO-BREAK
	 * SPACE, which the code page lacks.  At the end of a name it is
	 * trimmed as a space is, and a name with a comma, kept, has plain
	 * spaces.  A foreign display name keeps it: it shows as a space. */
	{
		static const char text[] =
			"From: =?utf-8?q?Ann=C2=A0Lee?= <al@ccmail.example.com>\r\n"
			"To: =?utf-8?q?Mary=C2=A0Ann_Lee=C2=A0?= <ml@ccmail.example.com>,\r\n"
			" =?utf-8?q?Bo=E2=80=AFKim?= <bk@ccmail.example.com>,\r\n"
			" =?utf-8?q?Doe,=C2=A0John?= <jd@ccmail.example.com>,\r\n"
			" =?utf-8?q?Ann=C2=A0Lee?= <al@foreign.example>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"Lee, Mary Ann at HUBPO1",
			"Kim, Bo at HUBPO1",
			"Doe, John at HUBPO1",
			"\"Ann\xffLee\" [SMTP:al@foreign.example] at EXSITE",
		};
		conv_addrs(c, text, "Lee, Ann at HUBPO1", want, CCP_ARRAY_LEN(want));
		struct ccp_convert_opts o850 = o;
		o850.codepage = CCP_CP850;
		struct ccp_convert *c850 = make(&o850, map);
		conv_addrs(c850, text, "Lee, Ann at HUBPO1", want, CCP_ARRAY_LEN(want));
		ccp_convert_free(c850);
	}

	/* An internationalized domain is written in [SMTP:...] in its ASCII
	 * form (IDNA), which a reply through the SMTP gateway can reach: in
	 * the code page bücher was "b\x81cher" and 例え "??".  The name shown
	 * keeps the characters the code page has.  A local part beyond ASCII
	 * has no ASCII form and stays; so does a domain with a format
	 * character (IDNA drops it: another domain) and a domain literal. */
	{
		static const char text[] =
			"From: user@b\xc3\xbc" "cher.example\r\n"
			"To: Bob <bob@\xe4\xbe\x8b\xe3\x81\x88.example>,\r\n"
			" \xe6\x9d\x8e@\xe4\xbe\x8b\xe3\x81\x88.example,\r\n"
			" z@a\xe2\x80\x8d" "b.example, u@[b\xc3\xbc],\r\n"
			" Ann <ann@xn--bcher-kva.example>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"\"Bob\" [SMTP:bob@xn--r8jz45g.example] at EXSITE",
			"\"?@??.example\" [SMTP:?@xn--r8jz45g.example] at EXSITE",
			"\"z@a?b.example\" [SMTP:z@a?b.example] at EXSITE",
			"\"u@(b\x81)\" [SMTP:u@(b\x81)] at EXSITE",
			"\"Ann\" [SMTP:ann@xn--bcher-kva.example] at EXSITE",
		};
		conv_addrs(c, text,
			   "\"user@b\x81" "cher.example\" [SMTP:user@xn--bcher-kva.example] at EXSITE",
			   want, CCP_ARRAY_LEN(want));
	}

	/* A quoted local part names the same mailbox: "jane.roe"@ is
	 * jane.roe@, for a native name and for the user map. */
	{
		static const char text[] = "From: \"jane.roe\"@ccmail.example.com\r\n"
					   "To: \"john.doe\"@ccmail.example.com, \"boss\"@example.org\r\n"
					   "Subject: q\r\n\r\nhi\r\n";
		static const char *const want[] = { "Doe, John at HUBPO1", "Boss, The at HUB" };
		conv_addrs(c, text, "Roe, Jane at HUBPO1", want, CCP_ARRAY_LEN(want));
	}

	/* A foreign address's local part quoted for nothing is written bare:
	 * its quotes can only be ' in the line, and 'jane.roe'@x.example is
	 * another address.  So is one whose dots alone want the quotes (two
	 * in a row, one at an end: Japanese carriers' mailboxes, written bare
	 * by their owners), quoted or not: unquoted, GMime dropped it.  One
	 * that needs its quotes ("john smith") keeps them as ' as before. */
	{
		static const char text[] = "From: \"jane.roe\"@x.example\r\n"
					   "To: \"john smith\"@y.example, \"a..b\"@z.example, "
					   "\"a.b\"@z.example, taro.@docomo.example, Taro <t..y@"
					   "au.example>\r\nSubject: q\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"\"'john smith'@y.example\" [SMTP:'john_smith'@y.example] at EXSITE",
			"\"a..b@z.example\" [SMTP:a..b@z.example] at EXSITE",
			"\"a.b@z.example\" [SMTP:a.b@z.example] at EXSITE",
			"\"taro.@docomo.example\" [SMTP:taro.@docomo.example] at EXSITE",
			"\"Taro\" [SMTP:t..y@au.example] at EXSITE",
		};
		conv_addrs(c, text, "\"jane.roe@x.example\" [SMTP:jane.roe@x.example] at EXSITE",
			   want, CCP_ARRAY_LEN(want));
	}

	/* An empty or blank quoted local part at a native domain names no
	 * user: without a display name it is written as a foreign address,
	 * not as " at HUBPO1" with no name before it.  A display name still
	 * names it natively. */
	CHECK(conv(c, "From: <\"\"@ccmail.example.com>\r\n"
		      "To: <\"\"@ccmail.example.com>, \" \"@ccmail.example.com\r\n"
		      "Cc: John Doe <\"\"@ccmail.example.com>\r\n\r\nhi\r\n",
		   "empty-local") == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len,
		 "\"''@ccmail.example.com\" [SMTP:''@ccmail.example.com] at EXSITE"));
	CHECK_EQ_U64(m.nrcpt, 3);
	CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
		 "\"''@ccmail.example.com\" [SMTP:''@ccmail.example.com] at EXSITE"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
		 "\"' '@ccmail.example.com\" [SMTP:'_'@ccmail.example.com] at EXSITE"));
	CHECK(m.rcpt[2].kind == CCP_CCM_CC &&
	      eq(m.rcpt[2].addr, m.rcpt[2].addr_len, "Doe, John at HUBPO1"));

	/* A spool file named with a space, a line break and UTF-8: its id
	 * carries the name exactly (not through the code page), and the line
	 * stays one header line. */
	{
		static const char text[] = "From: a@example.org\r\nTo: b@example.org\r\n\r\nhi\r\n";
		struct ccp_convert_input in = { .data = text, .len = sizeof(text) - 1,
						.name = "odd", .key = "a b\nMessage:\ncaf\xc3\xa9" };
		ccp_ccm_buf_reset(&out);
		CHECK(ccp_convert_message(c, &in, &out) == CCP_CONVERT_OK);
		CHECK(strstr(out.data, "X-Spool-Id: a%20b%0AMessage:%0Acaf%C3%A9\r\n") != NULL);
		struct ccp_ccm_reader r;
		ccp_ccm_reader_init(&r, out.data, out.len, "odd.ccm");
		CHECK(ccp_ccm_reader_next(&r, &m) == 1);
		x = ccp_ccm_msg_ext(&m, "X-Spool-Id");
		CHECK(x && ccp_ccm_spool_id_is(x->value, x->value_len, in.key, strlen(in.key)));
		CHECK(ccp_ccm_reader_next(&r, &m) == 0); /* one message, no injected second */
	}
	/* Explicit user mapping wins; a native user without display name. */
	CHECK(conv(c, "From: jane.roe@ccmail.example.com\r\nTo: boss@example.org\r\n"
		      "Cc: weird@example.org\r\n\r\nx\r\n", NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, "Roe, Jane at HUBPO1"));
	CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Boss, The at HUB"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len, "\"weird@example.org\" [SMTP:weird@example.org] at EXSITE"));
	CHECK(ccp_ccm_msg_ext(&m, "X-Spool-Id") == NULL); /* no key given */
	ccp_convert_free(c);

	/* Strict Lotus output: no extension line even with a key. */
	o.spool_id = false;
	c = make(&o, map);
	CHECK(conv(c, "From: a@x.org\r\nTo: b@y.org\r\nSubject: [x]\r\n\r\nhi\r\n", "K1") == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.next, 0);
	CHECK(eq(m.subject, m.subject_len, "(x)"));
	ccp_convert_free(c);
	o.spool_id = true;
	o.import8 = false;
	c = make(&o, map);
	CHECK(conv(c, "From: a@x.org\r\nTo: b@y.org\r\nSubject: [x]\r\n\r\nhi\r\n", "K1") == CCP_CONVERT_OK);
	CHECK(eq(m.subject, m.subject_len, "[x]"));
	CHECK(eq(m.ext[0].value, m.ext[0].value_len, "K1"));
	ccp_convert_free(c);
}

/* Adjacent base64 encoded words of one charset, the first padded (a long
 * subject, name or file name split as mailers split them): GMime joins
 * their texts before decoding and stopped at the padding, so all of the
 * second word was lost.  Each is read whole, in a Subject, a display name
 * and an attachment's file name (its parameter's name in any case), on
 * the light path and the full one. */
static void test_split_words(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: =?UTF-8?B?QW5uYSBM?= =?UTF-8?B?ZWU=?= <a@example.org>\r\n"
		"To: =?utf-8?b?Qm9i?= =?UTF-8?B?IEpvbmVz?= <b@example.org>\r\n"
		"Subject: =?UTF-8?B?UsOpdW5pb24gZHUgY29taXTDqSBkZSBkaXJlY3Rpb24=?=\r\n"
		" =?UTF-8?B?IC0gb3JkcmUgZHUgam91cg==?=\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
		"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
		" FILENAME=\"=?UTF-8?B?UmVwb3J0IFE=?= =?UTF-8?B?My5wZGY=?=\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.long_names = true;
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, "split") == CCP_CONVERT_OK);
		CHECK_MSG(eq(m.subject, m.subject_len,
			     "R\x82union du comit\x82 de direction - ordre du jour"),
			  "%s: subject '%.*s'", full ? "full" : "light", (int)m.subject_len, m.subject);
		CHECK_MSG(eq(m.from, m.from_len, "\"Anna Lee\" [SMTP:a@example.org] at EXSITE"),
			  "%s: from '%.*s'", full ? "full" : "light", (int)m.from_len, m.from);
		CHECK(m.nrcpt == 1 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
					 "\"Bob Jones\" [SMTP:b@example.org] at EXSITE"));
		CHECK(m.nitem == 2 && m.item[1].kind == CCP_CCM_ITEM_FILE);
		CHECK_MSG(eq(m.item[1].title, m.item[1].title_len, "Report Q3.pdf"),
			  "%s: file '%.*s'", full ? "full" : "light", (int)m.item[1].title_len,
			  m.item[1].title);
		/* A '"' inside an encoded word of a file name is the name's
		 * ('_' in a long name): the value decoded as a whole first,
		 * it ended the quoted value, and the name was "c". */
		CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
			      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
			      "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
			      "Content-Type: application/pdf\r\nContent-Disposition: attachment;"
			      " filename=\"=?utf-8?Q?c=22d.pdf?=\"\r\n\r\nPDF\r\n--b\r\n"
			      "Content-Type: application/pdf; name=\"=?utf-8?Q?Q3_=22final=22.pdf?=\""
			      "\r\n\r\nPDF2\r\n--b--\r\n",
			   "quote in a word") == CCP_CONVERT_OK);
		CHECK_MSG(m.nitem == 3 && eq(m.item[1].title, m.item[1].title_len, "c_d.pdf") &&
				  eq(m.item[2].title, m.item[2].title_len, "Q3 _final_.pdf"),
			  "%s: %zu items, '%.*s'", full ? "full" : "light", m.nitem,
			  m.nitem > 1 ? (int)m.item[1].title_len : 0, m.nitem > 1 ? m.item[1].title : "");
		/* A character split between a padded word and the next
		 * ("caf\xC3", "\xA9 au lait"): the words' octets decoded as
		 * one, "café", not two halves each a '?'. */
		CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nSubject: "
			      "=?UTF-8?B?Y2Fmww==?=\r\n =?utf-8?b?qSBhdSBsYWl0?=\r\n\r\nhi\r\n",
			   "split char") == CCP_CONVERT_OK);
		CHECK_MSG(eq(m.subject, m.subject_len, "caf\x82 au lait"), "%s: subject '%.*s'",
			  full ? "full" : "light", (int)m.subject_len, m.subject);
		ccp_convert_free(c);
	}
}

/* An alternative not picked keeps its attachments: Apple Mail's inline
 * PDF sits in the HTML alternative (text/plain beside multipart/mixed of
 * HTML, the PDF, HTML), and with the plain text picked it was dropped
 * without a word.  A resource of the HTML (a part with a Content-ID in a
 * multipart/related: Outlook's signature logo) is not an attachment and
 * stays out; one without a Content-ID there is kept.  Both paths. */
static void test_alternative_attachments(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
		"--a\r\nContent-Type: text/plain\r\n\r\nHere is the contract.\r\n"
		"--a\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
		"--m\r\nContent-Type: text/html\r\n\r\n<p>Here is</p>\r\n"
		"--m\r\nContent-Type: application/pdf; name=contract.pdf\r\n"
		"Content-Disposition: inline; filename=contract.pdf\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
		"--m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n"
		"--r\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo\">\r\n"
		"--r\r\nContent-Type: image/png; name=logo.png\r\nContent-ID: <logo>\r\n"
		"Content-Disposition: inline; filename=logo.png\r\n\r\nPNG\r\n"
		"--r\r\nContent-Type: text/csv\r\n"
		"Content-Disposition: attachment; filename=totals.csv\r\n\r\na,b\r\n"
		"--r--\r\n--m--\r\n--a--\r\n";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, "apple") == CCP_CONVERT_OK);
		CHECK_MSG(m.nitem == 3, "%s: %zu items", full ? "full" : "light", m.nitem);
		CHECK(m.item[0].kind == CCP_CCM_ITEM_TEXT);
		CHECK(m.item[1].kind == CCP_CCM_ITEM_FILE &&
		      eq(m.item[1].title, m.item[1].title_len, "CONTRACT.PDF"));
		CHECK(m.item[2].kind == CCP_CCM_ITEM_FILE &&
		      eq(m.item[2].title, m.item[2].title_len, "TOTALS.CSV"));
		struct ccp_convert_stats st;
		ccp_convert_last_stats(c, &st);
		CHECK(st.light_parse == !full);
		/* An attachment every alternative carries is one File item. */
		CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
			      "Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
			      "--a\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
			      "--m\r\nContent-Type: text/plain\r\n\r\nplain\r\n--m\r\n"
			      "Content-Type: application/pdf\r\n"
			      "Content-Disposition: attachment; filename=r.pdf\r\n\r\nPDF\r\n"
			      "--m--\r\n--a\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n"
			      "--n\r\nContent-Type: text/html\r\n\r\n<p>rich</p>\r\n--n\r\n"
			      "Content-Type: application/pdf\r\n"
			      "Content-Disposition: attachment; filename=r.pdf\r\n\r\nPDF\r\n"
			      "--n--\r\n--a--\r\n",
			   "twice") == CCP_CONVERT_OK);
		CHECK_MSG(count_kind(CCP_CCM_ITEM_FILE) == 1, "%s: %zu files",
			  full ? "full" : "light", count_kind(CCP_CCM_ITEM_FILE));
		ccp_convert_free(c);
	}
}

/* A NUL in the header block ended the field it was in ("Subject:
 * before\0after" was "before"): it is read as a space, on both paths; a
 * NUL in the body is the body's. */
static void test_nul_in_header(struct ccp_convert_map *map)
{
	static const char text[] = "From: a@example.org\r\nTo: b@example.org\r\n"
				   "Subject: before\0after\r\n\r\nhi\0there\r\n";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		struct ccp_convert_input in = { .data = text, .len = sizeof(text) - 1, .name = "nul" };
		ccp_ccm_buf_reset(&out);
		CHECK(ccp_convert_message(c, &in, &out) == CCP_CONVERT_OK);
		struct ccp_ccm_reader r;
		ccp_ccm_reader_init(&r, out.data, out.len, "o");
		CHECK(ccp_ccm_reader_next(&r, &m) == 1);
		CHECK_MSG(eq(m.subject, m.subject_len, "before after"), "%s: '%.*s'",
			  full ? "full" : "light", (int)m.subject_len, m.subject);
		CHECK(m.nitem >= 1 && m.item[0].len > 3 && memchr(m.item[0].data, 'h', 1) &&
		      contains(m.item[0].data, m.item[0].len, "there"));
		/* In a part's header block too, at any depth: the file name
		 * was "quarterly", its extension lost, and a NUL in a nested
		 * multipart's boundary parameter lost its parts.  A NUL in a
		 * part's content is the content's. */
		static const char parts[] =
			"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\n"
			"Content-Type: text/plain\r\n\r\nbody\r\n--o\r\n"
			"Content-Type: multipart/mixed; boundary=\"in\0ner\"\r\n\r\n--in ner\r\n"
			"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
			" filename=\"quarterly\0report.pdf\"\r\n\r\nPDF\0DATA\r\n--in ner--\r\n"
			"--o--\r\n";
		struct ccp_convert_input pin = { .data = parts, .len = sizeof(parts) - 1,
						 .name = "nul parts" };
		ccp_ccm_buf_reset(&out);
		CHECK(ccp_convert_message(c, &pin, &out) == CCP_CONVERT_OK);
		ccp_ccm_reader_init(&r, out.data, out.len, "o");
		CHECK(ccp_ccm_reader_next(&r, &m) == 1);
		CHECK_MSG(m.nitem == 2 && eq(m.item[1].title, m.item[1].title_len, "QUARTE~1.PDF") &&
				  m.item[1].len == 8 && memcmp(m.item[1].data, "PDF\0DATA", 8) == 0,
			  "%s: %zu items, the second '%.*s'", full ? "full" : "light", m.nitem,
			  m.nitem > 1 ? (int)m.item[1].title_len : 0, m.nitem > 1 ? m.item[1].title : "");
		ccp_convert_free(c);
	}
}

/* A header block that no empty line ends (a script's mail, a line of
 * blanks or CR CR LF where the empty line should be): GMime read the whole
 * message as header and the body was lost without a word.  The body is
 * what an MTA takes for it, on both paths, and it is all there. */
static void test_header_block_end(struct ccp_convert_map *map)
{
	static const struct {
		const char *text, *subject, *body;
	} cases[] = {
		{ "From: a@example.org\r\nTo: b@example.org\r\nSubject: blanks\r\n  \r\n"
		  "Hello Bob,\r\nbye\r\n", "blanks", "Hello Bob,\r\nbye\r\n" },
		{ "From: a@example.org\nTo: b@example.org\nSubject: tab\n\t\nHello Bob,\n",
		  "tab", "Hello Bob,\r\n" },
		{ "From: a@example.org\r\r\nTo: b@example.org\r\r\nSubject: cr cr lf\r\r\n"
		  "\r\r\nHello Bob,\r\r\n", "cr cr lf", "Hello Bob," },
		{ "From: a@example.org\nTo: b@example.org\nSubject: none\nHello Bob,\n"
		  "Note: a line like a field\n\nbye\n", "none",
		  "Hello Bob,\r\nNote: a line like a field\r\n\r\nbye\r\n" },
		{ "From: a@example.org\r\nSubject: text\r\nTo: b@example.org\r\nDear all: hi\r\n",
		  "text", "Dear all: hi\r\n" },
		/* A line of blanks is a fold, as in Postfix: a field after it
		 * is still one. */
		{ "From: a@example.org\r\nSubject: fold\r\n  \r\nTo: b@example.org\r\n\r\n"
		  "Hello\r\n", "fold", "Hello\r\n" },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			CHECK(conv(c, cases[i].text, NULL) == CCP_CONVERT_OK);
			CHECK_MSG(eq(m.subject, m.subject_len, cases[i].subject), "%s: '%.*s'",
				  cases[i].subject, (int)m.subject_len, m.subject);
			CHECK_EQ_U64(m.nrcpt, 1);
			CHECK(m.nitem == 1 && m.item[0].kind == CCP_CCM_ITEM_TEXT);
			size_t bl = strlen(cases[i].body);
			CHECK_MSG(m.item[0].len >= bl && memcmp(m.item[0].data, cases[i].body, bl) == 0,
				  "%s (%s): '%.*s'", cases[i].subject, full ? "full" : "light",
				  (int)m.item[0].len, m.item[0].data);
		}
		ccp_convert_free(c);
	}
}

/* The same in a part: GMime read a part's lines up to its first empty line
 * or boundary as its header, and a part whose content followed its header
 * at once (a script's multipart, an embedded message whose header was cut
 * from its body) lost all of it.  Its content is there, on both paths (the
 * light one takes the full parse for such a part). */
static void test_part_header_end(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: a@example.org\r\nTo: b@example.org\r\nSubject: parts\r\n"
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain\r\nHello Bob,\r\nNote: bye\r\n"
		"--B\r\nContent-Type: text/plain; name=a.txt\r\n  \r\nfile text\r\n"
		"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.org\r\n"
		"Subject: inner\r\nInner body\r\n--B--\r\n";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, NULL) == CCP_CONVERT_OK);
		CHECK_MSG(m.nitem == 3, "%s: %zu items", full ? "full" : "light", m.nitem);
		if (m.nitem == 3) {
			CHECK(m.item[0].kind == CCP_CCM_ITEM_TEXT &&
			      eq(m.item[0].data, m.item[0].len, "Hello Bob,\r\nNote: bye\r\n"));
			CHECK(m.item[1].kind == CCP_CCM_ITEM_FILE &&
			      eq(m.item[1].title, m.item[1].title_len, "A.TXT") &&
			      eq(m.item[1].data, m.item[1].len, "file text"));
			CHECK(m.item[2].kind == CCP_CCM_ITEM_FILE &&
			      contains(m.item[2].data, m.item[2].len, "Subject: inner\r\n\r\n"
								      "Inner body"));
		}
		ccp_convert_free(c);
	}
}

/* A multipart with no part at all (no boundary parameter, or one its body
 * never uses: MIME built by hand) arrived empty: GMime keeps its body as
 * the prologue, which was dropped.  It is the text now, on both paths. */
static void test_multipart_without_parts(struct ccp_convert_map *map)
{
	static const struct {
		const char *type, *body, *text;
	} cases[] = {
		{ "multipart/mixed", "--b1\r\nContent-Type: text/plain\r\n\r\nHello body\r\n--b1--\r\n",
		  "--b1\r\nContent-Type: text/plain\r\n\r\nHello body\r\n--b1--\r\n" },
		{ "multipart/mixed; boundary=b1", "Hello body, no boundary\r\n",
		  "Hello body, no boundary\r\n" },
		{ "multipart/alternative; boundary=b1", "caf\xc3\xa9\r\n", "caf\x82\r\n" },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(cases); i++) {
			char text[512];
			snprintf(text, sizeof(text),
				 "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
				 "Content-Type: %s\r\n\r\n%s", cases[i].type, cases[i].body);
			CHECK(conv(c, text, NULL) == CCP_CONVERT_OK);
			CHECK_MSG(m.nitem == 1 && m.item[0].kind == CCP_CCM_ITEM_TEXT &&
					  eq(m.item[0].data, m.item[0].len, cases[i].text),
				  "%s (%s): %zu items, '%.*s'", cases[i].type, full ? "full" : "light",
				  m.nitem, m.nitem ? (int)m.item[0].len : 0,
				  m.nitem ? (const char *)m.item[0].data : "");
		}
		ccp_convert_free(c);
	}
}

/* A ';' between addresses (Outlook's, a web form's) is the ',' it stands
 * for: GMime's list parse stopped at it, and every recipient after it was
 * dropped without a word.  One in a quoted display name, a comment or an
 * angle-addr is text, and one that closes a group ends the group; two To
 * fields are both read.  So are other marks GMime misread (brackets, a
 * lone quote, an open comment, a ':' in an encoded word).  On the light
 * path and the full one alike. */
static void test_semicolons(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: s@example.org\r\nTo: bob@example.org; carol@example.org\r\n"
		"Cc: team: d@example.org, e@example.org;, \"x;y\" <f@example.org>;\r\n"
		" g@example.org (a;b)\r\nTo: h@example.org\r\nSubject: s\r\n\r\nhi\r\n";
	static const char *const want[] = { "bob", "carol", "h", "d", "e", "x;y", "a;b" };
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, "semicolons") == CCP_CONVERT_OK);
		CHECK_MSG(m.nrcpt == CCP_ARRAY_LEN(want), "%s: %zu recipients",
			  full ? "full" : "light", m.nrcpt);
		for (size_t i = 0; i < m.nrcpt; i++) {
			char line[128];
			snprintf(line, sizeof(line), "\"%s%s\"", want[i],
				 strchr(want[i], ';') ? "" : "@example.org");
			CHECK_MSG(m.rcpt[i].addr_len > strlen(line) &&
					  memcmp(m.rcpt[i].addr, line, strlen(line)) == 0 &&
					  m.rcpt[i].kind == (i < 3 ? CCP_CCM_TO : CCP_CCM_CC),
				  "%s: recipient %zu is '%.*s'", full ? "full" : "light", i,
				  (int)m.rcpt[i].addr_len, m.rcpt[i].addr);
		}
		/* Brackets in a display name (a gateway's "[EXT]" tag) are
		 * its text: GMime dropped the whole mailbox.  After an '@'
		 * they are a domain literal still. */
		CHECK(conv(c, "From: s@example.org\r\nTo: [EXT] Bob <bob@example.org>, "
			      "Ann [HR] <ann@example.org>; carol@[192.0.2.1]\r\n\r\nhi\r\n",
			   "brackets") == CCP_CONVERT_OK);
		CHECK_EQ_U64(m.nrcpt, 3);
		CHECK(m.nrcpt == 3 &&
		      eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
			 "\"(EXT) Bob\" [SMTP:bob@example.org] at EXSITE") &&
		      eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
			 "\"Ann (HR)\" [SMTP:ann@example.org] at EXSITE") &&
		      memcmp(m.rcpt[2].addr, "\"carol@", 7) == 0);
		/* A '"' that no other closes is a mark in a name: the ';'
		 * after it still parts the addresses. */
		CHECK(conv(c, "From: s@example.org\r\nTo: Bob O\"Neil <bob@example.org>; "
			      "carol@example.org\r\n\r\nhi\r\n", "lone quote") == CCP_CONVERT_OK);
		CHECK_MSG(m.nrcpt == 2 && memcmp(m.rcpt[1].addr, "\"carol@example.org\"", 19) == 0,
			  "%s: %zu recipients", full ? "full" : "light", m.nrcpt);
		/* A '"' inside a word opens no quoted string: taken for one, it
		 * paired with the next name's opening '"', and bob went into
		 * carol's display name. */
		CHECK(conv(c, "From: s@example.org\r\nTo: Bob O\"Neil <bob@example.org>, "
			      "\"Carol Jones\" <carol@example.org>, \"Dan\" <dan@example.org>\r\n"
			      "\r\nhi\r\n", "quote in a word") == CCP_CONVERT_OK);
		static const char *const in_word[] = {
			"\"Bob ONeil\" [SMTP:bob@example.org] at EXSITE",
			"\"Carol Jones\" [SMTP:carol@example.org] at EXSITE",
			"\"Dan\" [SMTP:dan@example.org] at EXSITE",
		};
		CHECK_EQ_U64(m.nrcpt, 3);
		for (size_t i = 0; i < m.nrcpt && i < 3; i++)
			CHECK_MSG(eq(m.rcpt[i].addr, m.rcpt[i].addr_len, in_word[i]),
				  "%s: recipient %zu is '%.*s'", full ? "full" : "light", i,
				  (int)m.rcpt[i].addr_len, m.rcpt[i].addr);
		/* A comment left open is closed at the field's end. */
		CHECK(conv(c, "From: s@example.org\r\nTo: bob@example.org (Bob\r\n\r\nhi\r\n",
			   "open comment") == CCP_CONVERT_OK);
		CHECK(m.nrcpt == 1 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
					 "\"Bob\" [SMTP:bob@example.org] at EXSITE"));
		/* Closed before the next mailbox, not at the end, which took
		 * carol (and dan, deeper) into bob's name. */
		CHECK(conv(c, "From: s@example.org\r\nTo: bob@example.org (Bob (x, carol@example.org;"
			      " dan@example.org\r\n\r\nhi\r\n", "open comment, more") == CCP_CONVERT_OK);
		CHECK_MSG(m.nrcpt == 3 &&
				  eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
				     "\"Bob (x)\" [SMTP:bob@example.org] at EXSITE") &&
				  eq(m.rcpt[2].addr, m.rcpt[2].addr_len,
				     "\"dan@example.org\" [SMTP:dan@example.org] at EXSITE"),
			  "%s: %zu recipients, the first '%.*s'", full ? "full" : "light", m.nrcpt,
			  m.nrcpt ? (int)m.rcpt[0].addr_len : 0, m.nrcpt ? m.rcpt[0].addr : "");
		/* A ':' raw in a Q encoded word is the name's, not a group's:
		 * GMime took "=?UTF-8?Q?Re:" for a group and the name was
		 * "_Bob?=". */
		CHECK(conv(c, "From: s@example.org\r\nTo: =?UTF-8?Q?Re:_Bob?= <bob@example.org>, "
			      "carol@example.org\r\nCc: Team: =?utf-8?q?x:y?= <x@example.org>;\r\n"
			      "\r\nhi\r\n", "colon in a word") == CCP_CONVERT_OK);
		static const char *const words[] = {
			"\"Re: Bob\" [SMTP:bob@example.org] at EXSITE",
			"\"carol@example.org\" [SMTP:carol@example.org] at EXSITE",
			"\"x:y\" [SMTP:x@example.org] at EXSITE",
		};
		check_rcpts(full ? "colon in a word, full" : "colon in a word, light", words,
			    CCP_ARRAY_LEN(words));
		/* A phrase and a bare address, either way round (a script's,
		 * a web form's): GMime found no mailbox and dropped it.  Two
		 * bare addresses a blank apart stay two. */
		CHECK(conv(c, "From: s@example.org\r\nTo: Bob Smith bob@example.org, \"Lee, Ann\" "
			      "ann@example.org (HR), carol@example.org Carol Roe, d@example.org "
			      "e@example.org, Team: Fay f@example.org;\r\n\r\nhi\r\n",
			   "phrase and bare address") == CCP_CONVERT_OK);
		static const char *const bare[] = {
			"\"Bob Smith\" [SMTP:bob@example.org] at EXSITE",
			"\"Lee; Ann\" [SMTP:ann@example.org] at EXSITE",
			"\"Carol Roe\" [SMTP:carol@example.org] at EXSITE",
			"\"d@example.org\" [SMTP:d@example.org] at EXSITE",
			"\"e@example.org\" [SMTP:e@example.org] at EXSITE",
			"\"Fay\" [SMTP:f@example.org] at EXSITE",
		};
		check_rcpts(full ? "phrase and bare address, full" : "phrase and bare address, light",
			    bare, CCP_ARRAY_LEN(bare));
		/* A ':' after a bare address (a script that lost the line end
		 * between To and Subject) is text, not a group's name: the
		 * mailbox was split into bob and a recipient "hello", and a ';'
		 * after it was taken for the group's end, dropping carol. */
		CHECK(conv(c, "From: s@example.org\r\nTo: bob@example.org Subject: hello; "
			      "carol@example.org \"A: b\" c, dan@example.org: d, Ops: "
			      "e@example.org;, f@example.org: Ann <ann@example.org>\r\n\r\nhi\r\n",
			   "colon after a bare address") == CCP_CONVERT_OK);
		static const char *const colon[] = {
			"\"Subject: hello\" [SMTP:bob@example.org] at EXSITE",
			"\"A: b c\" [SMTP:carol@example.org] at EXSITE",
			"\"d\" [SMTP:dan@example.org] at EXSITE",
			"\"e@example.org\" [SMTP:e@example.org] at EXSITE",
			/* An angle-addr after the ':' is a mailbox of its own:
			 * both stay, as before. */
			"\"f@example.org\" [SMTP:f@example.org] at EXSITE",
			"\"Ann\" [SMTP:ann@example.org] at EXSITE",
		};
		check_rcpts(full ? "colon after a bare address, full"
				 : "colon after a bare address, light",
			    colon, CCP_ARRAY_LEN(colon));
		/* Raw ISO-2022-JP outside any encoded word, as Japanese mailers
		 * wrote names and subjects: its "ESC ( B" opened a comment and
		 * every mailbox after it was lost, and the Subject showed the
		 * escapes' letters.  (JIS X 0208's Greek: alpha and pi, which
		 * CP437 has.)  And a control character in a bare phrase lost
		 * its mailbox; in a name it is white space. */
		CHECK(conv(c, "From: s@example.org\r\nTo: \x1b$B&A&P\x1b(B <bob@example.org>, "
			      "Carol\x7f <carol@example.org>, dan@example.org Dan\x01\r\n"
			      "Subject: \x1b$B&A&P\x1b(B hello\r\n\r\nhi\r\n",
			   "raw ISO-2022-JP") == CCP_CONVERT_OK);
		static const char *const jis[] = {
			"\"\xe0\xe3\" [SMTP:bob@example.org] at EXSITE",
			"\"Carol\" [SMTP:carol@example.org] at EXSITE",
			"\"Dan\" [SMTP:dan@example.org] at EXSITE",
		};
		check_rcpts(full ? "raw ISO-2022-JP, full" : "raw ISO-2022-JP, light", jis,
			    CCP_ARRAY_LEN(jis));
		CHECK_MSG(eq(m.subject, m.subject_len, "\xe0\xe3 hello"), "%s: subject %.*s",
			  full ? "full" : "light", (int)m.subject_len, m.subject);
		ccp_convert_free(c);
	}
}

/* --envelope-field: where the MTA wrote the recipients it delivered this
 * copy for, they alone are written: a header recipient not among them
 * (another copy's, or another domain's) is left out, a Bcc recipient the
 * header no longer shows is a Bcc line, and each keeps the kind the header
 * gives it.  The top-most field counts (the last MTA's).  A message
 * without it, or with none that names a mailbox, goes by its header, and
 * says so in its stats.  Both parses alike. */
static void test_envelope_field(struct ccp_convert_map *map)
{
	static const char head[] =
		"From: s@example.org\r\n"
		"To: \"Lee, Pat\" <plee@ccmail.example.com>, bob@ext.example\r\n"
		"Cc: ann@ccmail.example.com, dave@ext.example\r\n";
	static const struct {
		const char *fields; /* before the header above */
		size_t n;
		enum ccp_ccm_rcpt_kind kind[2];
		const char *addr[2];
		bool missing;
	} cases[] = {
		{ "X-Original-To: ann@ccmail.example.com\r\n", 1, { CCP_CCM_CC },
		  { "Ann at HUBPO1" }, false },
		{ "X-Original-To: carol@ccmail.example.com\r\n", 1, { CCP_CCM_BCC },
		  { "Carol at HUBPO1" }, false },
		{ "X-Original-To: ANN@ccmail.example.com, <plee@CCMAIL.example.com>\r\n", 2,
		  { CCP_CCM_TO, CCP_CCM_CC }, { "Lee, Pat at HUBPO1", "Ann at HUBPO1" }, false },
		{ "X-Original-To: plee@ccmail.example.com\r\nX-Original-To: relay@hub.example\r\n", 1,
		  { CCP_CCM_TO }, { "Lee, Pat at HUBPO1" }, false },
		{ "", 4, { CCP_CCM_TO, CCP_CCM_TO }, { "Lee, Pat at HUBPO1" }, true },
		{ "X-Original-To: \r\n", 4, { CCP_CCM_TO, CCP_CCM_TO }, { "Lee, Pat at HUBPO1" }, true },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.envelope_field = "x-original-to";
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(cases); i++) {
			char text[1024];
			snprintf(text, sizeof(text), "%s%sSubject: s\r\n\r\nhi\r\n", cases[i].fields,
				 head);
			CHECK(conv(c, text, "envelope-field") == CCP_CONVERT_OK);
			CHECK_MSG(m.nrcpt == cases[i].n, "case %zu (%s): %zu recipients", i,
				  full ? "full" : "light", m.nrcpt);
			for (size_t k = 0; k < m.nrcpt && k < 2 && cases[i].addr[k]; k++)
				CHECK_MSG(m.rcpt[k].kind == cases[i].kind[k] &&
						  eq(m.rcpt[k].addr, m.rcpt[k].addr_len, cases[i].addr[k]),
					  "case %zu (%s): recipient %zu is '%.*s'", i,
					  full ? "full" : "light", k, (int)m.rcpt[k].addr_len,
					  m.rcpt[k].addr);
			struct ccp_convert_stats st;
			ccp_convert_last_stats(c, &st);
			CHECK(st.envelope_missing == cases[i].missing);
			CHECK(st.light_parse == !full);
		}
		ccp_convert_free(c);
	}
	/* Without the option the field is an ordinary one: the header's four. */
	o.envelope_field = NULL;
	o.full_parse = false;
	struct ccp_convert *c = make(&o, map);
	char text[1024];
	snprintf(text, sizeof(text), "%s%sSubject: s\r\n\r\nhi\r\n", cases[0].fields, head);
	CHECK(conv(c, text, "no-envelope-field") == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nrcpt, 4);
	ccp_convert_free(c);
}

static void test_envelope_and_date(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	size_t len;
	char *text = slurp("envelope.eml", &len);
	const char *env[] = { "team@example.org", "pat.lee@ccmail.example.com" };
	struct ccp_convert_input in = { .data = text, .len = len, .name = "envelope.eml",
					.envelope = env, .nenvelope = 2 };
	ccp_ccm_buf_reset(&out);
	CHECK(ccp_convert_message(c, &in, &out) == CCP_CONVERT_OK);
	struct ccp_ccm_reader r;
	ccp_ccm_reader_init(&r, out.data, out.len, "o");
	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
	CHECK_EQ_U64(m.nrcpt, 2);
	CHECK(m.rcpt[1].kind == CCP_CCM_BCC && eq(m.rcpt[1].addr, m.rcpt[1].addr_len, "Lee, Pat at HUBPO1"));
	/* 23:59 -0500 is 04:59 UTC the next day (TZ=UTC in this test). */
	CHECK(eq(m.date, m.date_len, "1/1/26 4:59"));
	/* UTF-8 body into CP437: Ø has no place in CP437, ü is 0x81. */
	CHECK(eq(m.item[0].data, m.item[0].len, "?rsted met M\x81ller.\r\n"));

	/* An envelope recipient already in To/Cc/Bcc is not added again,
	 * whichever spelling of an internationalized domain each has: GMime
	 * hands over To's domains decoded (bücher.example), and an envelope's
	 * user@xn--bcher-kva.example was a Bcc of its own, the same mailbox
	 * twice.  Case does not matter, in the domain or (as before) in the
	 * local part.  A recipient the header lacks is still a Bcc. */
	{
		static const char hdr[] =
			"From: a@example.org\r\nTo: user@b\xc3\xbc" "cher.example, bob@example.org\r\n"
			"Cc: ann@xn--bcher-kva.example\r\nBcc: dora@XN--BCHER-KVA.example\r\n\r\nhi\r\n";
		const char *spelt[] = { "user@xn--bcher-kva.example", "ANN@B\xc3\x9c" "CHER.example",
					"Bob@Example.ORG", "dora@b\xc3\xbc" "cher.example",
					"carl@xn--bcher-kva.example" };
		conv_envelope(c, hdr, spelt, CCP_ARRAY_LEN(spelt));
		CHECK_EQ_U64(m.nrcpt, 5);
		CHECK(m.rcpt[4].kind == CCP_CCM_BCC &&
		      eq(m.rcpt[4].addr, m.rcpt[4].addr_len,
			 "\"carl@b\x81" "cher.example\" [SMTP:carl@xn--bcher-kva.example] at EXSITE"));
	}
	/* Each mailbox of the envelope is one Bcc, however often the envelope
	 * names it (two aliases expanded to one address): as given, in

	 * another case, or with the other spelling of its domain.  Each line
	 * was a delivery of its own.  A mailbox To and Cc both name is one
	 * line, To's (each was a line of its own, and IMPORT delivers every
	 * line), and gets nothing more from the envelope. */
	{
		static const char hdr[] = "From: a@example.org\r\nTo: bob@example.org\r\n"
					  "Cc: Bob@EXAMPLE.org\r\n\r\nhi\r\n";
		const char *twice[] = { "carl@example.org", "bob@example.org", "carl@example.org",
					"CARL@Example.Org", "dora@xn--bcher-kva.example",
					("Dora@B\xc3\x9c" "CHER.example"), "BOB@example.org" };
		static const char *const want[] = {
			"\"bob@example.org\" [SMTP:bob@example.org] at EXSITE",
			"\"carl@example.org\" [SMTP:carl@example.org] at EXSITE",
			("\"dora@b\x81" "cher.example\" [SMTP:dora@xn--bcher-kva.example] at EXSITE"),
		};
		conv_envelope(c, hdr, twice, CCP_ARRAY_LEN(twice));
		CHECK_EQ_U64(m.nrcpt, CCP_ARRAY_LEN(want));
		for (size_t i = 0; i < m.nrcpt && i < CCP_ARRAY_LEN(want); i++) {
			CHECK(m.rcpt[i].kind == (i == 0 ? CCP_CCM_TO : CCP_CCM_BCC));
			CHECK(eq(m.rcpt[i].addr, m.rcpt[i].addr_len, want[i]));
		}
	}
	/* One address under two display names (a reply to all writes the
	 * bare address and the named one) is one mailbox: one line, the
	 * first.  Compared as lines ("bob@..." [SMTP:...] and "Bob Jones"
	 * [SMTP:...]), each was a copy of its own. */
	{
		static const char hdr[] = "From: a@example.org\r\nTo: bob@example.org\r\n"
					  "Cc: Bob Jones <bob@example.org>, \"Bob J.\" "
					  "<BOB@Example.org>, carol@example.org\r\n\r\nhi\r\n";
		conv_envelope(c, hdr, NULL, 0);
		CHECK_EQ_U64(m.nrcpt, 2);
		CHECK(m.rcpt[0].kind == CCP_CCM_TO &&
		      eq(m.rcpt[0].addr, m.rcpt[0].addr_len,
			 "\"bob@example.org\" [SMTP:bob@example.org] at EXSITE"));
		CHECK(m.rcpt[1].kind == CCP_CCM_CC &&
		      eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
			 "\"carol@example.org\" [SMTP:carol@example.org] at EXSITE"));
	}
	/* A quoted local part names the mailbox its unquoted form does, as
	 * the user map takes it: "jane.roe"@x.example of To is the envelope's
	 * jane.roe@x.example, in any case, and "do\ra" is dora.  Compared as
	 * written, each was a Bcc of its own. */
	{
		static const char hdr[] = "From: a@example.org\r\nTo: \"jane.roe\"@x.example\r\n"
					  "\r\nhi\r\n";
		/* A NULL entry (a caller's list with a hole) is skipped. */
		const char *quoted[] = { "jane.roe@x.example", "\"JANE.roe\"@x.example", NULL,
					 "dora@x.example", "\"do\\ra\"@X.example" };
		conv_envelope(c, hdr, quoted, CCP_ARRAY_LEN(quoted));
		CHECK_EQ_U64(m.nrcpt, 2);
		CHECK(m.rcpt[1].kind == CCP_CCM_BCC &&
		      eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
			 "\"dora@x.example\" [SMTP:dora@x.example] at EXSITE"));
	}
	ccp_convert_free(c);

	/* Two addresses that name one cc:Mail user make one recipient line,
	 * the first: IMPORT delivers every line, so each was a copy of its
	 * own in the user's mailbox.  Two SMTP addresses the user map gives
	 * one user (in another case and spacing too); a native display name
	 * and a native local part naming the same user; and envelope
	 * addresses the header lacks that map to users already there. */
	{
		struct ccp_convert_map *two = ccp_convert_map_new();
		ccp_convert_map_add_native(two, "ccmail.example.com", "HUBPO1");
		ccp_convert_map_add_user(two, "boss@example.org", "Boss, The at HUB");
		ccp_convert_map_add_user(two, "the.boss@example.org", "Boss, The at HUB");
		ccp_convert_map_add_user(two, "chief@example.org", "boss,   the at hub");
		c = make(&o, two);
		static const char hdr[] =
			"From: a@example.org\r\n"
			"To: \"Lee, Pat\" <plee@ccmail.example.com>, boss@example.org\r\n"
			"Cc: pat.lee@ccmail.example.com, the.boss@example.org, "
			"ann@ccmail.example.com\r\n"
			"Bcc: \"LEE,  pat\" <p@ccmail.example.com>\r\n\r\nhi\r\n";
		const char *aliases[] = { "chief@example.org", "Pat.Lee@ccmail.example.com",
					  "carl@example.org" };
		static const struct {
			enum ccp_ccm_rcpt_kind kind;
			const char *addr;
		} want[] = {
			{ CCP_CCM_TO, "Lee, Pat at HUBPO1" },
			{ CCP_CCM_TO, "Boss, The at HUB" },
			{ CCP_CCM_CC, "Ann at HUBPO1" },
			{ CCP_CCM_BCC, "\"carl@example.org\" [SMTP:carl@example.org] at EXSITE" },
		};
		conv_envelope(c, hdr, aliases, CCP_ARRAY_LEN(aliases));
		CHECK_EQ_U64(m.nrcpt, CCP_ARRAY_LEN(want));
		for (size_t i = 0; i < m.nrcpt && i < CCP_ARRAY_LEN(want); i++)
			CHECK_MSG(m.rcpt[i].kind == want[i].kind &&
					  eq(m.rcpt[i].addr, m.rcpt[i].addr_len, want[i].addr),
				  "recipient %zu is '%.*s'", i, (int)m.rcpt[i].addr_len,
				  m.rcpt[i].addr);
		ccp_convert_free(c);
		ccp_convert_map_free(two);
	}

	/* native_by_address (--native-names address): a native user is named
	 * by the local part alone, whatever display name the sender wrote:
	 * "Jones, Bob" <alice.smith@...> is Alice's mail, not Bob Jones's,
	 * and two display names at one native address are one line.  A
	 * display name still names nobody at a foreign address, and the map's
	 * user line still wins.  Both parses. */
	{
		static const char named[] =
			"From: \"Jones, Bob\" <alice.smith@ccmail.example.com>\r\n"
			"To: Carol King <dave.lee@ccmail.example.com>, \"Lee, Dave\" "
			"<dave.lee@ccmail.example.com>, Eve <eve@foreign.example>, "
			"Big Boss <boss@example.org>\r\n\r\nhi\r\n";
		static const char *const want[] = {
			"Lee, Dave at HUBPO1",
			"\"Eve\" [SMTP:eve@foreign.example] at EXSITE",
			"Boss, The at HUB",
		};
		struct ccp_convert_map *nm = ccp_convert_map_new();
		ccp_convert_map_add_native(nm, "ccmail.example.com", "HUBPO1");
		ccp_convert_map_add_user(nm, "boss@example.org", "Boss, The at HUB");
		for (int full_parse = 0; full_parse <= 1; full_parse++) {
			o.full_parse = full_parse;
			o.native_by_address = true;
			c = make(&o, nm);
			CHECK(conv(c, named, NULL) == CCP_CONVERT_OK);
			CHECK(eq(m.from, m.from_len, "Smith, Alice at HUBPO1"));
			check_rcpts("native by address", want, CCP_ARRAY_LEN(want));
			ccp_convert_free(c);
			/* The default names them by the display names: the
			 * sender's "Jones, Bob" picks the user. */
			o.native_by_address = false;
			c = make(&o, nm);
			CHECK(conv(c, named, NULL) == CCP_CONVERT_OK);
			CHECK(eq(m.from, m.from_len, "Jones, Bob at HUBPO1"));
			CHECK_EQ_U64(m.nrcpt, 4);
			CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "King, Carol at HUBPO1"));
			ccp_convert_free(c);
		}
		o.full_parse = false;
		ccp_convert_map_free(nm);
	}

	/* The two-digit year reads back as 1970-2069: a date outside that
	 * (12/31/69 would be 2069) takes the conversion time, as a message
	 * without a Date does. */
	c = make(&o, map);
	CHECK(conv(c, "From: a@x.org\r\nTo: b@y.org\r\nDate: Wed, 31 Dec 1969 23:00:00 +0000\r\n"
		      "\r\nhi\r\n", NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.date, m.date_len, "1/1/71 0:00")); /* conv()'s now: 365 days past 1970 */
	CHECK(conv(c, "From: a@x.org\r\nTo: b@y.org\r\nDate: Fri, 1 Jan 2072 10:00:00 +0000\r\n"
		      "\r\nhi\r\n", NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.date, m.date_len, "1/1/71 0:00"));
	CHECK(conv(c, "From: a@x.org\r\nTo: b@y.org\r\nDate: Sat, 31 Dec 2069 23:59:00 +0000\r\n"
		      "\r\nhi\r\n", NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.date, m.date_len, "12/31/69 23:59"));
	ccp_convert_free(c);

	/* CP850 has Ø (0x9D). */
	o.codepage = CCP_CP850;
	c = make(&o, map);
	ccp_ccm_buf_reset(&out);
	CHECK(ccp_convert_message(c, &in, &out) == CCP_CONVERT_OK);
	CHECK(contains(out.data, out.len, "\x9drsted met M\x81ller.\r\n"));
	ccp_convert_free(c);
	free(text);
}

static void test_limits(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);

	CHECK(conv(c, "To: b@y.org\r\n\r\nhi\r\n", NULL) == CCP_CONVERT_ERR_NO_FROM);
	CHECK(strstr(ccp_convert_error(c), "Q192594") != NULL);
	CHECK(conv(c, "From: \r\nTo: b@y.org\r\n\r\nhi\r\n", NULL) == CCP_CONVERT_ERR_NO_FROM);
	CHECK(conv(c, "From: <>\r\nTo: b@y.org\r\n\r\nhi\r\n", NULL) == CCP_CONVERT_ERR_NO_FROM);
	CHECK(conv(c, "From: a@x.org\r\n\r\nhi\r\n", NULL) == CCP_CONVERT_ERR_NO_RCPT);

	/* MIME nested deeper than the converter follows (64 levels): refused,
	 * not converted without the content down there.  63 levels convert
	 * whole. */
	for (int levels = 63; levels <= 70; levels += 7) {
		struct ccp_ccm_buf deep;
		ccp_ccm_buf_init(&deep);
		ccp_ccm_buf_adds(&deep, "From: a@x.org\r\nTo: b@y.org\r\nMIME-Version: 1.0\r\n");
		char line[96];
		for (int i = 0; i < levels; i++) {
			snprintf(line, sizeof(line),
				 "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
			ccp_ccm_buf_adds(&deep, line);
		}
		ccp_ccm_buf_adds(&deep, "Content-Type: text/plain\r\n\r\nDEEP TEXT\r\n");
		for (int i = levels - 1; i >= 0; i--) {
			snprintf(line, sizeof(line), "--b%d--\r\n", i);
			ccp_ccm_buf_adds(&deep, line);
		}
		if (levels == 63) {
			CHECK(conv(c, deep.data, "deep") == CCP_CONVERT_OK);
			CHECK_EQ_U64(m.nitem, 1);
			CHECK(eq(m.item[0].data, m.item[0].len, "DEEP TEXT\r\n"));
		} else {
			CHECK(conv(c, deep.data, "deep") == CCP_CONVERT_ERR_PARSE);
			CHECK(strstr(ccp_convert_error(c), "nested more than 64 levels deep") != NULL);
		}
		ccp_ccm_buf_free(&deep);
	}

	/* The address buffer: find the recipient count where it overflows,
	 * and check the boundary octet by octet. */
	struct ccp_ccm_buf t;
	ccp_ccm_buf_init(&t);
	ccp_ccm_buf_adds(&t, "From: a@x.org\r\nTo: ");
	size_t n = 0;
	for (; n < 200; n++)
		ccp_ccm_buf_printf(&t, "%su%03zu@y.org", n ? ", " : "", n);
	ccp_ccm_buf_adds(&t, "\r\n\r\nhi\r\n");
	CHECK(conv(c, t.data, NULL) == CCP_CONVERT_ERR_HEADER_FULL);
	CHECK(strstr(ccp_convert_error(c), "Header Buffer Full") != NULL);
	CHECK(strstr(ccp_convert_error(c), "or allow 163840 octets") != NULL);
	/* From line: 6 + 45 + 2; each To line: 4 + 50 + 2 = 56 octets. */
	size_t from_line = 6 + strlen("\"a@x.org\" [SMTP:a@x.org] at EXSITE") + 2;
	size_t to_line = 4 + strlen("\"u000@y.org\" [SMTP:u000@y.org] at EXSITE") + 2;
	size_t fit = (4096 - from_line) / to_line; /* recipients that fit */
	ccp_ccm_buf_reset(&t);
	ccp_ccm_buf_adds(&t, "From: a@x.org\r\nTo: ");
	for (size_t i = 0; i < fit; i++)
		ccp_ccm_buf_printf(&t, "%su%03zu@y.org", i ? ", " : "", i);
	ccp_ccm_buf_adds(&t, "\r\n\r\nhi\r\n");
	CHECK(conv(c, t.data, NULL) == CCP_CONVERT_OK);
	CHECK_EQ_U64(ccp_ccm_addr_bytes(&m), from_line + fit * to_line);
	CHECK(ccp_ccm_addr_bytes(&m) <= 4096 && ccp_ccm_addr_bytes(&m) + to_line > 4096);
	ccp_ccm_buf_reset(&t);
	ccp_ccm_buf_adds(&t, "From: a@x.org\r\nTo: ");
	for (size_t i = 0; i <= fit; i++)
		ccp_ccm_buf_printf(&t, "%su%03zu@y.org", i ? ", " : "", i);
	ccp_ccm_buf_adds(&t, "\r\n\r\nhi\r\n");
	CHECK(conv(c, t.data, NULL) == CCP_CONVERT_ERR_HEADER_FULL);
	ccp_convert_free(c);
	/* The same message fits the 160 KB buffer of later Import versions. */
	o.addr_buffer = CCP_CCM_ADDR_BUFFER_LARGE;
	c = make(&o, map);
	CHECK(conv(c, t.data, NULL) == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nrcpt, fit + 1);
	/* Over that buffer, there is no larger one to advise. */
	ccp_ccm_buf_reset(&t);
	ccp_ccm_buf_adds(&t, "From: a@x.org\r\nTo: ");
	for (size_t i = 0; i < 4000; i++)
		ccp_ccm_buf_printf(&t, "%su%04zu@y.org", i ? ", " : "", i);
	ccp_ccm_buf_adds(&t, "\r\n\r\nhi\r\n");
	CHECK(conv(c, t.data, NULL) == CCP_CONVERT_ERR_HEADER_FULL);
	CHECK(strstr(ccp_convert_error(c), "split the recipients") != NULL);
	CHECK(strstr(ccp_convert_error(c), "163840") != NULL); /* the buffer's size */
	CHECK(strstr(ccp_convert_error(c), "allow") == NULL);
	ccp_ccm_buf_free(&t);

	/* A body over 20 KB goes as UNNAMED.TXT; 20480 octets still fit. */
	struct ccp_convert_stats st;
	CHECK(conv_file(c, "gen/long-body.eml") == CCP_CONVERT_OK);
	ccp_convert_last_stats(c, &st);
	CHECK(st.body_as_file);
	CHECK_EQ_U64(m.nitem, 2);
	CHECK(m.item[1].kind == CCP_CCM_ITEM_FILE && eq(m.item[1].title, m.item[1].title_len, "UNNAMED.TXT"));
	CHECK_EQ_U64(m.item[1].len, 600 * 57);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	ccp_ccm_buf_adds(&b, "From: a@x.org\r\nTo: b@y.org\r\n\r\n");
	for (int i = 0; i < 20480 / 64; i++)
		ccp_ccm_buf_printf(&b, "%062d\r\n", i);
	CHECK(conv(c, b.data, NULL) == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nitem, 1);
	CHECK_EQ_U64(m.item[0].len, 20480);
	ccp_ccm_buf_adds(&b, "x\r\n");
	CHECK(conv(c, b.data, NULL) == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nitem, 2);
	CHECK_EQ_U64(m.item[1].len, 20483);
	/* Two such parts: two files of their own names, each note naming its
	 * own; with long names too (the text must survive the naming). */
	for (int pass = 0; pass < 2; pass++) {
		ccp_ccm_buf_reset(&b);
		ccp_ccm_buf_adds(&b, "From: a@x.org\r\nTo: b@y.org\r\nMIME-Version: 1.0\r\n"
				     "Content-Type: multipart/mixed; boundary=B\r\n\r\n");
		for (int part = 0; part < 2; part++) {
			ccp_ccm_buf_adds(&b, "--B\r\nContent-Type: text/plain\r\n\r\n");
			for (int i = 0; i < 400; i++)
				ccp_ccm_buf_printf(&b, "%c%061d\r\n", 'a' + part, i);
		}
		ccp_ccm_buf_adds(&b, "--B--\r\n");
		CHECK(conv(c, b.data, NULL) == CCP_CONVERT_OK);
		CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 2);
		const struct ccp_ccm_item *f1 = NULL, *f2 = NULL;
		for (size_t i = 0; i < m.nitem; i++)
			if (m.item[i].kind == CCP_CCM_ITEM_FILE)
				*(f1 ? &f2 : &f1) = &m.item[i];
		CHECK(eq(f1->title, f1->title_len, "UNNAMED.TXT"));
		CHECK(!eq(f2->title, f2->title_len, "UNNAMED.TXT"));
		CHECK(f1->len == 400 * 64 && f1->data[0] == 'a');
		CHECK(f2->len == 400 * 64 && f2->data[0] == 'b');
		char want[64];
		snprintf(want, sizeof(want), "attached file %.*s.", (int)f2->title_len, f2->title);
		CHECK(contains(m.item[2].data, m.item[2].len, want) ||
		      contains(m.item[1].data, m.item[1].len, want) ||
		      contains(m.item[0].data, m.item[0].len, want));
		ccp_convert_free(c);
		o.long_names = true;
		c = make(&o, map);
	}
	ccp_ccm_buf_free(&b);
	ccp_convert_free(c);
}

static void test_charsets(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	struct ccp_convert_stats st;

	CHECK(conv_file(c, "gen/charset-01-iso-8859-1.eml") == CCP_CONVERT_OK);
	/* "Café crème, à bientôt. Grüße" in CP437. */
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "Caf\x82 cr\x8ame, \x85 bient\x93t. Gr\x81\xe1" "e\r\n"));
	CHECK(eq(m.subject, m.subject_len, "Caf\x82 cr\x8ame, \x85 bient\x93t. Gr\x81\xe1" "e"));
	CHECK(conv_file(c, "gen/charset-05-windows-1252.eml") == CCP_CONVERT_OK);
	ccp_convert_last_stats(c, &st);
	/* The quotes, the dash and € have no CP437 place: they read as their
	 * ASCII, and nothing is counted as lost. */
	CHECK(eq(m.item[0].data, m.item[0].len, "\"Quoted\" - dash EUR5 \x82t\x82\r\n"));
	CHECK_EQ_U64(st.substitutions, 0);
	/* Cyrillic and Japanese have no CP437 place at all: '?' each. */
	CHECK(conv_file(c, "gen/charset-03-koi8-r.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "??????, ???\r\n"));
	CHECK(conv_file(c, "gen/charset-00-iso-2022-jp.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "????????\r\n"));
	CHECK(conv_file(c, "gen/unknown-charset.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "caf?\r\n"));
	/* EBCDIC (cp037): its octets below 0x80 are punctuation of other
	 * places (0x4D '(', 0x5E ';', 0x7A ':', 0x60 '-', 0x5D ')', 0x40 ' ',
	 * 0x5A '!', 0x7D an apostrophe, 0x4B '.'), so a body of them alone is
	 * converted, not copied as if ASCII.  Twice: the second time the
	 * cached handle answers. */
	static const char ebcdic[] = "From: a@example.org\r\nTo: b@example.org\r\n"
				     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=cp037\r\n\r\n"
				     "\x4d\x5e\x7a\x60\x5d\x40\x5a\x5a\x40\x7d\x4b\x4b\x4b\x7d";
	CHECK(conv(c, ebcdic, "ebcdic") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "(;:-) !! '...'\r\n"));
	/* cp850 and cp1252 have ASCII below 0x80: copied as it is, and an
	 * octet above still converts (e-acute: 0x82 in CP437). */
	CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: text/plain; charset=cp850\r\n\r\nPlain\tASCII, as is.\r\n",
		   "cp850") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "Plain\tASCII, as is.\r\n"));
	CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: text/plain; charset=cp1252\r\n\r\n{[(ASCII)]} ~ \\ |\r\n",
		   "cp1252") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "{[(ASCII)]} ~ \\ |\r\n"));
	CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: text/plain; charset=cp1252\r\n\r\ncaf\xe9\r\n",
		   "cp1252-e") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "caf\x82\r\n"));
	CHECK(conv(c, ebcdic, "ebcdic") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "(;:-) !! '...'\r\n"));
	ccp_convert_last_stats(c, &st);
	CHECK_EQ_U64(st.substitutions, 0);

	/* A part said to be US-ASCII (by name, or by having no charset: RFC
	 * 2045's default) that holds octets past 0x7F: read as UTF-8 when it is
	 * valid UTF-8, else as Windows-1252, as mail readers do, where each
	 * such octet was a '?' ("caf??" for UTF-8's é).  Plain text and HTML
	 * alike, through either parse; a part that is ASCII indeed is as it
	 * was.  In CP437: é 0x82, è 0x8A, ü 0x81, ß 0xE1, ï 0x8B. */
	{
		static const struct {
			const char *type, *body, *want;
		} mislabelled[] = {
			{ "text/plain; charset=us-ascii", "caf\xc3\xa9 cr\xc3\xa8me, Gr\xc3\xbc\xc3\x9f" "e",
			  "caf\x82 cr\x8ame, Gr\x81\xe1" "e\r\n" },
			{ "text/plain", "caf\xc3\xa9 cr\xc3\xa8me", "caf\x82 cr\x8ame\r\n" },
			{ "text/plain; charset=US-ASCII", "na\xefve caf\xe9", "na\x8bve caf\x82\r\n" },
			{ "text/plain", "na\xefve caf\xe9", "na\x8bve caf\x82\r\n" },
			{ "text/html; charset=us-ascii", "<p>caf\xc3\xa9 &#233;t\xc3\xa9</p>",
			  "caf\x82 \x82t\x82\r\n" },
			{ "text/html; charset=ascii", "<p>na\xefve caf\xe9</p>", "na\x8bve caf\x82\r\n" },
			{ "text/html", "<p>na\xefve caf\xe9</p>", "na\x8bve caf\x82\r\n" },
			{ "text/plain; charset=us-ascii", "plain ASCII", "plain ASCII\r\n" },
		};
		for (size_t i = 0; i < CCP_ARRAY_LEN(mislabelled); i++) {
			char text[512];
			snprintf(text, sizeof(text), "From: a@example.org\r\nTo: b@example.org\r\n"
				 "MIME-Version: 1.0\r\nContent-Type: %s\r\n"
				 "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
				 mislabelled[i].type, mislabelled[i].body);
			for (int full = 0; full < 2; full++) {
				o.full_parse = full;
				struct ccp_convert *f = make(&o, map);
				CHECK(conv(f, text, "mislabelled") == CCP_CONVERT_OK);
				if (!eq(m.item[0].data, m.item[0].len, mislabelled[i].want))
					fprintf(stderr, "case %zu: got '%.*s'\n", i, (int)m.item[0].len,
						(const char *)m.item[0].data);
				CHECK(eq(m.item[0].data, m.item[0].len, mislabelled[i].want));
				ccp_convert_last_stats(f, &st);
				CHECK_EQ_U64(st.substitutions, 0);
				ccp_convert_free(f);
			}
		}
		o.full_parse = false;
	}

	/* Text the code page lacks among text it has: after a '?' the UTF-8
	 * goes to iconv in short windows, each cut before a character, never
	 * inside one (a cut 'é' would be a '?' of its own).  Runs of e-acute
	 * (0x82) longer than a window, at every offset, after a snowman
	 * (U+2603), an emoji or a CJK character, some with a ZWSP (dropped). */
	{
		static const char *const lacks[] = { "\xe2\x98\x83", "\xf0\x9f\x98\x80", "\xe5\x9b\x9b" };
		struct ccp_ccm_buf msg, want;
		ccp_ccm_buf_init(&msg);
		ccp_ccm_buf_init(&want);
		ccp_ccm_buf_adds(&msg, "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
				       "Content-Type: text/plain; charset=utf-8\r\n\r\n");
		size_t subst = 0;
		for (int i = 0; i < 600; i++) {
			ccp_ccm_buf_adds(&msg, lacks[i % 3]);
			ccp_ccm_buf_addc(&want, '?');
			subst++;
			if (i % 4 == 0)
				ccp_ccm_buf_adds(&msg, "\xe2\x80\x8b");
			for (int k = 0; k < i % 7; k++) {
				ccp_ccm_buf_addc(&msg, 'a');
				ccp_ccm_buf_addc(&want, 'a');
			}
			for (int k = 0; k < 30 + i % 50; k++) {
				ccp_ccm_buf_adds(&msg, "\xc3\xa9");
				ccp_ccm_buf_addc(&want, '\x82');
			}
		}
		ccp_ccm_buf_adds(&want, "\r\n");
		CHECK(conv(c, msg.data, "dense") == CCP_CONVERT_OK);
		const struct ccp_ccm_item *t = &m.item[m.nitem - 1]; /* a Text item, or UNNAMED.TXT */
		CHECK(eq(t->data, t->len, want.data));
		ccp_convert_last_stats(c, &st);
		CHECK_EQ_U64(st.substitutions, subst);
		ccp_ccm_buf_free(&msg);
		ccp_ccm_buf_free(&want);
	}
	ccp_convert_free(c);
}

/* A body's line ends become CRLF whatever they were (LF, CR, CRLF; CR CR LF
 * is two), and HTML is rendered as text: tags as line breaks, entities
 * decoded, white space collapsed except in <pre>. */
static void test_text_rendering(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	const char *head = "From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\n"
			   "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n";
	char text[1024];
	snprintf(text, sizeof(text), "%sContent-Type: text/plain\r\n\r\n"
		 "one\ntwo\r\nthree\rfour\r\r\nfive\n\nsix", head);
	CHECK(conv(c, text, "k1") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "one\r\ntwo\r\nthree\r\nfour\r\n\r\nfive\r\n\r\nsix\r\n"));
	snprintf(text, sizeof(text), "%sContent-Type: text/plain\r\n\r\nno line end at all", head);
	CHECK(conv(c, text, "k2") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "no line end at all\r\n"));
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		 "<html><body><p>Hello &amp; welcome,\r\n   dear   friend</p>"
		 "<p>a&lt;b &#233; &bogus; x</p><pre>keep  two\r\n  spaces</pre>"
		 "<div>end</div></body></html>\r\n", head);
	CHECK(conv(c, text, "k3") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "Hello & welcome, dear friend\r\n\r\na<b \x82 &bogus; x\r\n\r\n"
		 "keep  two\r\n  spaces\r\nend\r\n"));
	/* A numeric entity in HTML of another charset is its character too
	 * (é: CP437 0x82), as the charset's own octets are. */
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: text/html; "
		 "charset=iso-8859-1\r\n\r\n<p>Caf&#233; \xe9t&#xE9;</p>", head);
	CHECK(conv(c, text, "k5") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len, "Caf\x82 \x82t\x82\r\n"));
	/* Named entities: Latin-1's and the typographic ones, by their case
	 * (e-acute 0x82, E-acute 0x90, the pound 0x9C in CP437; the euro and
	 * the dash have no place there and read as EUR and -); an unknown
	 * name, or one without its ';', stays as written. */
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: text/html; "
		 "charset=utf-8\r\n\r\n<p>&eacute;t&eacute; caf&Eacute; &pound;5 &euro;5 "
		 "&mdash; &foo; &eacute</p>", head);
	CHECK(conv(c, text, "k6") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "\x82t\x82 caf\x90 \x9c" "5 EUR5 - &foo; &eacute\r\n"));
	/* A '<' that starts no tag is text: what follows it is kept. */
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
		 "<p>Orders of qty < 5 ship free.\r\nThe deadline is Friday.</p><p>1<2, 3 <= 4</p>",
		 head);
	CHECK(conv(c, text, "k4") == CCP_CONVERT_OK);
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "Orders of qty < 5 ship free. The deadline is Friday.\r\n\r\n1<2, 3 <= 4\r\n"));
	ccp_convert_free(c);
	/* An empty HTML part in a charset other than UTF-8, first in a fresh
	 * context (whose buffer for decoded parts holds nothing yet): no
	 * text, and no call into GLib with no string (a GLib critical, fatal
	 * in this test: main()). */
	c = make(&o, map);
	snprintf(text, sizeof(text), "%sMIME-Version: 1.0\r\nContent-Type: text/html; "
		 "charset=iso-8859-1\r\n\r\n", head);
	CHECK(conv(c, text, "k7") == CCP_CONVERT_OK);
	ccp_convert_free(c);

	/* Format characters (Unicode's Cf) show nothing, in a body as in a
	 * name: a byte order mark (U+FEFF) that starts a text from Windows,
	 * zero-width characters (U+200B, U+200D, U+2060), a bidi mark
	 * (U+200F) and soft hyphens are dropped, not made '?' ("?Hello?
	 * world" before), and no '?' is counted for them; the euro sign,
	 * which the code page lacks, reads as EUR.  In plain
	 * text and HTML (&#8203;, &shy;), from UTF-8 and from windows-1252
	 * (whose soft hyphen is 0xAD), in CP437 and in CP850, which has the
	 * soft hyphen (0xF0) and would show it as a hyphen inside a word. */
	static const struct body_case unshown[] = {
		{ "text/plain; charset=utf-8",
		  "\xef\xbb\xbfHello\xe2\x80\x8b world\xe2\x80\x8d, caf\xc3\xa9\xe2\x81\xa0 \xe2\x82\xac" "5",
		  "Hello world, caf\x82 EUR5\r\n", 0 },
		{ "text/plain; charset=utf-8", "Al\xc2\xadice \xe2\x80\x8fRoe", "Alice Roe\r\n", 0 },
		{ "text/html; charset=utf-8", "\xef\xbb\xbf<p>a&#8203;b&shy;c \xe2\x80\x8d" "d</p>",
		  "abc d\r\n", 0 },
		{ "text/plain; charset=windows-1252", "Al\xadice caf\xe9", "Alice caf\x82\r\n", 0 },
	};
	for (int cp = 0; cp < 2; cp++) {
		o.codepage = cp ? CCP_CP850 : CCP_CP437;
		c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(unshown); i++)
			check_body_case(c, head, &unshown[i], cp ? 850 : 437);
		ccp_convert_free(c);
	}

	/* A space the code page lacks (Unicode's Zs: U+2002 EN SPACE, U+2003
	 * EM SPACE, U+2009 THIN SPACE, U+200A HAIR SPACE, U+202F NARROW
	 * NO-BREAK SPACE, U+205F, U+3000 IDEOGRAPHIC SPACE; &thinsp; and
	 * &emsp; in HTML) is a plain space, in names, the Subject and the
	 * body, and no '?' ("10?km" before): "Ann<U+202F>Lee" is two names,
	 * Lee, Ann.  NO-BREAK SPACE is 0xFF in CP437 and CP850, and stays. */
	static const char spaced[] =
		"From: =?utf-8?q?Ann=E2=80=AFLee?= <al@ccmail.example.com>\r\n"
		"To: =?utf-8?q?Jos=C3=A9=E2=80=89M=C3=BCller?= <jm@foreign.example>\r\n"
		"Subject: =?utf-8?q?10=E2=80=AFkm=E3=80=80run=C2=A0x?=\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		"a\xe2\x80\x82" "b\xe2\x80\x83" "c\xe2\x80\x89" "d\xe2\x80\x8a" "e\xe2\x80\xaf"
		"f\xe2\x81\x9f" "g\xe3\x80\x80h\xc2\xa0i\r\n"
		"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		"<p>1&thinsp;000&emsp;m&nbsp;\xc2\xa0x</p>\r\n--B--\r\n";
	for (int cp = 0; cp < 2; cp++) {
		o.codepage = cp ? CCP_CP850 : CCP_CP437;
		c = make(&o, map);
		CHECK(conv(c, spaced, "spaced") == CCP_CONVERT_OK);
		check_head("Lee, Ann at HUBPO1",
			   "\"Jos\x82 M\x81ller\" [SMTP:jm@foreign.example] at EXSITE",
			   "10 km run\xffx");
		CHECK_EQ_U64(m.nitem, 2);
		CHECK(eq(m.item[0].data, m.item[0].len, "a b c d e f g h\xffi\r\n"));
		CHECK(eq(m.item[1].data, m.item[1].len, "1 000 m \xffx\r\n"));
		struct ccp_convert_stats st;
		ccp_convert_last_stats(c, &st);
		CHECK_EQ_U64(st.substitutions, 0);
		ccp_convert_free(c);
	}
}

/* Converts TEXT, whose header and last part are test_separators()' own,
 * in CP437 and CP850, with 8.3 and long file names, and checks that its
 * first NBODY items are BODY and that it has no '?'. */
static void check_breaks(struct ccp_convert_map *map, const char *text, size_t nbody,
			 const char *body)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int cp = 0; cp < 2; cp++) {
		o.codepage = cp ? CCP_CP850 : CCP_CP437;
		for (int ln = 0; ln < 2; ln++) {
			o.long_names = ln;
			struct ccp_convert *c = make(&o, map);
			CHECK(conv(c, text, "separators") == CCP_CONVERT_OK);
			check_head("Lee, Ann at HUBPO1",
				   "\"Jos\x82 M\x81ller\" [SMTP:jm@foreign.example] at EXSITE",
				   "x y z");
			CHECK_EQ_U64(m.nitem, nbody + 1);
			for (size_t i = 0; i < nbody; i++) {
				if (!eq(m.item[i].data, m.item[i].len, body))
					fprintf(stderr, "item %zu: got '%.*s'\n", i, (int)m.item[i].len,
						(const char *)m.item[i].data);
				CHECK(eq(m.item[i].data, m.item[i].len, body));
			}
			CHECK(eq(m.item[nbody].title, m.item[nbody].title_len,
				 ln ? "re port.pdf" : "REPORT~1.PDF"));
			struct ccp_convert_stats st;
			ccp_convert_last_stats(c, &st);
			CHECK_EQ_U64(st.substitutions, 0);
			ccp_convert_free(c);
		}
	}
}

/* LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029), which the code
 * page lacks, were each a '?'.  In a body they break the line, the second
 * with an empty line after it: in plain text and in HTML (&#8233; too),
 * from UTF-8, UTF-16 and GB18030.  A header line has room for neither: in
 * the Subject, a display name (where a space parts the names as the break
 * did: Lee, Ann) and a file name each is a space, and one that ends a file
 * name is dropped as a space there is.  No '?' is counted.  NEXT LINE
 * (U+0085), a control character by its type, was a '?' everywhere, and is
 * a line end in a body as LINE SEPARATOR is, in plain text and in HTML.
 * (Octet 0x85 under an ISO-8859-1 label is Windows-1252's ellipsis, and
 * so is U+0085 in a header: test_latin1_as_1252().) */
static void test_separators(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: =?utf-8?q?Ann=E2=80=A8Lee?= <al@ccmail.example.com>\r\n"
		"To: =?utf-8?q?Jos=C3=A9=E2=80=A9M=C3=BCller?= <jm@foreign.example>\r\n"
		"Subject: =?utf-8?q?x=E2=80=A8y=E2=80=A9z?=\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		"one\xe2\x80\xa8two\xe2\x80\xa9three\r\n"
		"--B\r\nContent-Type: text/plain; charset=utf-16le\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nbwBuAGUAKCB0AHcAbwApIHQAaAByAGUAZQA=\r\n"
		"--B\r\nContent-Type: text/plain; charset=gb18030\r\n\r\n"
		"one\x81\x36\xa6\x35two\x81\x36\xa6\x36three\r\n"
		"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		"<p>one\xe2\x80\xa8two&#8233;three</p>\r\n"
		"--B\r\nContent-Type: application/pdf;\r\n"
		" name*=utf-8''re%E2%80%A8port.pdf%E2%80%A9\r\n\r\nx\r\n--B--\r\n";
	check_breaks(map, text, 4, "one\r\ntwo\r\n\r\nthree\r\n");
	static const char nel[] =
		"From: Ann Lee <al@ccmail.example.com>\r\n"
		"To: =?utf-8?q?Jos=C3=A9_M=C3=BCller?= <jm@foreign.example>\r\n"
		"Subject: x y z\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\xc2\x85two\r\n"
		"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>one\xc2\x85two</p>\r\n"
		"--B\r\nContent-Type: application/pdf;\r\n"
		" name*=utf-8''re%20port.pdf\r\n\r\nx\r\n--B--\r\n";
	check_breaks(map, nel, 2, "one\r\ntwo\r\n");
}

/* HTML's rendering drops the white space at the end and at the start of
 * a line, so "a <br> b" is "a", "b".  A line break written as a
 * character (U+2028, U+2029, NEXT LINE; &#8232; and the like) broke the
 * line but kept its spaces, one at
 * the end of a line and one at the start of the next: it takes them as
 * <br> does.  Inside <pre> spaces are text and stay, and plain text keeps
 * them as written. */
/* HTML-only mail is mostly tables and links: cells come apart ("Total
 * 100.00", not "Total100.00"), a link's target follows its text where the
 * text does not say it ("here <https://...>", entities decoded; a mailto:
 * its address), but not an anchor in the page; the title, which a page
 * does not show, is left out. */
static void test_html_links_cells(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/html\r\n\r\n<html><head><title>Invoice 4711</title></head>"
		"<body><p>Reset your password <a href=\"https://example.org/r?t=a&amp;u=1\">here"
		"</a>.</p><p>See <a href='https://example.org/x'>https://example.org/x</a> or "
		"<a HREF=\"mailto:help@example.org?subject=hi\">write us</a>, <a href=\"#top\">"
		"top</a>, <a data-href=\"x\" href=http://e.org/y>y</a>, <a onclick=\"location.href="
		"'https://t.example/c'\" href=\"https://bank.example/r\">bank</a>, see <a "
		"href=\"http://x.example/\"><img src=\"cid:i\"></a> now</p><table><tr><th>Item"
		"</th><th>Sum</th></tr><tr><td>Total</td><td>100.00</td></tr></table></body>"
		"</html>";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	CHECK(conv(c, text, "html") == CCP_CONVERT_OK);
	const char *want = "Reset your password here <https://example.org/r?t=a&u=1>.\r\n\r\n"
			   "See https://example.org/x or write us <help@example.org>, top, y "
			   "<http://e.org/y>, bank <https://bank.example/r>, see <http://x.example/> "
			   "now\r\n\r\nItem Sum\r\nTotal 100.00\r\n";
	CHECK_MSG(eq(m.item[0].data, m.item[0].len, want), "got '%.*s'", (int)m.item[0].len,
		  (const char *)m.item[0].data);

	/* An image's alt text is the image's words, "[...]", its white space
	 * collapsed and entities decoded: a linked image (a button) says what
	 * its link is for.  An empty alt (decoration) and no alt say nothing.
	 * An image map's area is a link: its alt, then its target. */
	static const char images[] =
		"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/html\r\n\r\n<p><img src=\"cid:logo\" alt=\"ACME\n  Corp\">"
		"</p><p>Your invoice: <a href=\"https://acme.example/inv\"><img src=x "
		"alt='Download &amp; pay'></a> today<img src=\"https://t.example/p.gif\" "
		"alt=\"\" width=1><img src=y alt=\"  \"><img src=z>.</p><map><area "
		"href=\"https://acme.example/help\" alt=Help><area href=\"https://acme.example/"
		"faq\"></map>";
	CHECK(conv(c, images, "images") == CCP_CONVERT_OK);
	want = "[ACME Corp]\r\n\r\nYour invoice: [Download & pay] <https://acme.example/inv> "
	       "today.\r\n\r\n[Help] <https://acme.example/help> <https://acme.example/faq>\r\n";
	CHECK_MSG(eq(m.item[0].data, m.item[0].len, want), "got '%.*s'", (int)m.item[0].len,
		  (const char *)m.item[0].data);

	/* A '>' in a quoted attribute value is the value's (one in a quote
	 * never closed ends the tag still).  HTML 4's named entities, the
	 * format characters marketing mail pads its preview with among
	 * them, and &amp; without its ';' where no letter follows. */
	static const char marks[] =
		"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/html\r\n\r\n<p><a href=\"https://e.example/\" title=\"go > now\">"
		"click</a> <img alt='a > b' src=x> a&zwnj;&nbsp;&zwnj;b&lrm;c &alpha;&le;&infin; "
		"AT&amp T &ampx <b class=\"x>y</p>";
	CHECK(conv(c, marks, "marks") == CCP_CONVERT_OK);
	want = "click <https://e.example/> [a > b] a bc \xe0\xf3\xec AT& T &ampx y\r\n";
	CHECK_MSG(eq(m.item[0].data, m.item[0].len, want), "got '%.*s'", (int)m.item[0].len,
		  (const char *)m.item[0].data);
	ccp_convert_free(c);
}

/* A base64 encoded word without its padding ("=?utf-8?B?Y2Fmw6k?=", from a
 * few encoders) lost its last character (the Subject was "caf"); one that
 * ends a run of words GMime joins is padded too.  Both paths. */
static void test_unpadded_words(struct ccp_convert_map *map)
{
	static const char *const subjects[] = {
		"=?utf-8?B?Y2Fmw6k?=", "=?utf-8?B?Y2Fm?= =?utf-8?B?w6k?=", "=?UTF-8?b?Y2Fmw6k?=",
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(subjects); i++) {
			char text[256];
			snprintf(text, sizeof(text),
				 "From: =?utf-8?B?w6k?= <x@foreign.example>\r\nTo: b@example.org\r\n"
				 "Subject: %s\r\n\r\nhi\r\n", subjects[i]);
			CHECK(conv(c, text, NULL) == CCP_CONVERT_OK);
			CHECK_MSG(eq(m.subject, m.subject_len, "caf\x82"), "%s: '%.*s'", subjects[i],
				  (int)m.subject_len, m.subject);
			CHECK(eq(m.from, m.from_len, "\"\x82\" [SMTP:x@foreign.example] at EXSITE"));
		}
		ccp_convert_free(c);
	}
}

static void test_html_breaks(struct ccp_convert_map *map)
{
	static const struct {
		const char *type, *body, *want;
	} cases[] = {
		{ "text/html; charset=utf-8", "<p>a <br> b</p>", "a\r\nb\r\n" },
		{ "text/html; charset=utf-8",
		  "<p>a \xe2\x80\xa8 b  \xe2\x80\xa9\r\n c \xc2\x85\td</p>",
		  "a\r\nb\r\n\r\nc\r\nd\r\n" },
		{ "text/html; charset=utf-8", "<p>a &#8232; b &#x2029; c &eacute; d</p>",
		  "a\r\nb\r\n\r\nc \x82 d\r\n" },
		{ "text/html; charset=utf-8",
		  "<p>a\xe2\x80\xa8\xe2\x80\xa8 b\xe2\x80\xa8" "c \xe2\x80\xa8</p><p>d</p>",
		  "a\r\n\r\nb\r\nc\r\n\r\nd\r\n" },
		{ "text/html; charset=utf-8", "<pre>a \xe2\x80\xa8 b</pre>", "a \r\n b\r\n" },
		{ "text/plain; charset=utf-8", "a \xe2\x80\xa8 b \xc2\x85 c", "a \r\n b \r\n c\r\n" },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	char text[512];
	for (size_t i = 0; i < CCP_ARRAY_LEN(cases); i++) {
		snprintf(text, sizeof(text), "From: a@example.org\r\nTo: b@example.org\r\n"
			 "MIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n%s",
			 cases[i].type, cases[i].body);
		CHECK(conv(c, text, "breaks") == CCP_CONVERT_OK);
		if (!eq(m.item[0].data, m.item[0].len, cases[i].want))
			fprintf(stderr, "case %zu: got '%.*s'\n", i, (int)m.item[0].len,
				(const char *)m.item[0].data);
		CHECK(eq(m.item[0].data, m.item[0].len, cases[i].want));
	}
	ccp_convert_free(c);
}

/* format=flowed (RFC 3676): the soft breaks a mailer made at 72 columns
 * joined, DelSp's space dropped, the stuffing space off, a paragraph's
 * quote marks written once; "-- " and a change of quote depth end a
 * paragraph; format=fixed text and the other charsets' as they were.  Both
 * parses. */
static void test_format_flowed(struct ccp_convert_map *map)
{
	static const struct {
		const char *type, *cte, *body, *want;
	} cases[] = {
		{ "text/plain; charset=utf-8; format=flowed", "8bit",
		  "A paragraph the sender's mailer \r\nwrapped at its width, \r\nthree times.\r\n"
		  "\r\n> Quoted and \r\n> wrapped.\r\n>> Deeper \r\n>> still.\r\n>\r\n"
		  " From a stuffed line.\r\n  Two spaces.\r\n-- \r\nSig \r\nname\r\n",
		  "A paragraph the sender's mailer wrapped at its width, three times.\r\n\r\n"
		  "> Quoted and wrapped.\r\n>> Deeper still.\r\n>\r\nFrom a stuffed line.\r\n"
		  " Two spaces.\r\n-- \r\nSig name\r\n" },
		{ "text/plain; charset=\"utf-8\"; format=\"Flowed\"; DelSp=\"Yes\"", "7bit",
		  /* A soft break before an empty line: that line is the
		   * paragraph's last, no blank line after it. */
		  "Japa \r\nnese in \r\n\r\nparts.\n", "Japanese in\r\nparts.\r\n" },
		{ "text/plain; charset=iso-8859-1; format=flowed", "quoted-printable",
		  "caf=E9 au =\r\n\r\nlait, =\r\nsvp\r\n", "caf\x82 au lait, svp\r\n" },
		{ "text/plain; charset=utf-8; format=flowed", "8bit", "> a \r\nb \r\n",
		  "> a \r\nb \r\n" },
		/* A soft break just before "-- ": the separator starts its own
		 * line, not the end of the paragraph before it. */
		{ "text/plain; charset=utf-8; format=flowed", "8bit",
		  "See you \r\ntomorrow. \r\n-- \r\nBob\r\n", "See you tomorrow. \r\n-- \r\nBob\r\n" },
		{ "text/plain; charset=utf-8; format=fixed", "8bit", "a \r\n b\r\n",
		  "a \r\n b\r\n" },
		/* UTF-16 and UTF-7 as sent: a space is two octets in the one,
		 * and in the other DelSp's space may end a shifted run. */
		{ "text/plain; charset=utf-16; format=flowed", "base64",
		  "//5hACAADQAKAGIADQAKAA==\r\n", "a \r\nb\r\n" },
		{ "text/plain; charset=utf-7; format=flowed; delsp=yes", "7bit",
		  "caf+AOk \r\nau lait\r\n", "caf\x82 \r\nau lait\r\n" },
		{ "text/plain; charset=utf-8", "8bit", "a \r\n b\r\n", "a \r\n b\r\n" },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	char text[1024];
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(cases); i++) {
			snprintf(text, sizeof(text),
				 "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
				 "Content-Type: %s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s",
				 cases[i].type, cases[i].cte, cases[i].body);
			CHECK(conv(c, text, "flowed") == CCP_CONVERT_OK);
			CHECK_MSG(m.nitem == 1 && eq(m.item[0].data, m.item[0].len, cases[i].want),
				  "case %zu, %s parse: '%.*s'", i, full ? "full" : "light",
				  (int)m.item[0].len, (const char *)m.item[0].data);
		}
		ccp_convert_free(c);
	}
}

/* Line ends that differ between a boundary line and the line before it
 * (a part built by a script with LF in a message of CR LF, and the
 * opposite): the line end before the boundary line is the boundary's, and
 * the content keeps every octet of its own.  GMime took two octets back
 * before a boundary line ending in CR LF, whatever came before it: a bare
 * LF there cost the content its last octet ("line2" was "line", the
 * attachment's F), and before an LF-ended boundary line a CR LF left its
 * CR in the content.  A multipart nested in a part is mended by its own
 * boundary.  Both parses. */
static void test_boundary_line_ends(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"out\"\r\n\r\n"
		"--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n"
		"--in\r\nContent-Type: text/plain\r\n\r\nline1\nline2\n--in--\r\n"
		"--out\r\nContent-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\nABCDEF\n"
		"--out\nContent-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename=\"b.bin\"\r\n\r\nXYZ\r\n--out--\n";
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int full = 0; full < 2; full++) {
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, "boundary line ends") == CCP_CONVERT_OK);
		CHECK_MSG(m.nitem == 3, "%s parse: %zu items", full ? "full" : "light", m.nitem);
		CHECK_MSG(eq(m.item[0].data, m.item[0].len, "line1\r\nline2\r\n"), "%s: '%.*s'",
			  full ? "full" : "light", (int)m.item[0].len, (const char *)m.item[0].data);
		CHECK_MSG(eq(m.item[1].data, m.item[1].len, "ABCDEF"), "%s: '%.*s'",
			  full ? "full" : "light", (int)m.item[1].len, (const char *)m.item[1].data);
		CHECK_MSG(eq(m.item[2].data, m.item[2].len, "XYZ"), "%s: '%.*s'",
			  full ? "full" : "light", (int)m.item[2].len, (const char *)m.item[2].data);
		ccp_convert_free(c);
	}
}

/* A part labelled ISO-8859-1 is read as Windows-1252, as mail readers
 * read the label: Windows mailers wrote their quotes, dashes and ellipsis
 * under it, and read as ISO-8859-1 they were C1 controls: '?', or for
 * 0x85 (NEXT LINE) a line broken in the middle of "wait...".  HTML's
 * numeric references to 128-159 are Windows-1252's too (&#133; an
 * ellipsis, &#131; the florin, which CP437 and CP850 have at 0x9F).  The
 * ellipsis, quotes and dashes the code pages lack read as their ASCII.
 * So do a header's: GMime decodes an encoded word labelled ISO-8859-1 as
 * ISO-8859-1, and =?iso-8859-1?Q?It=92s_done=85?= was "It?s done " (the
 * ellipsis a NEXT LINE, a space in one line).  A C1 control in a header
 * is never meant (a UTF-8 one is Windows-1252 read as ISO-8859-1 on its
 * way to UTF-8), so every one is Windows-1252's character there, in a
 * name, the Subject and a file name; the five octets Windows-1252 lacks
 * stay '?'. */
static void test_latin1_as_1252(struct ccp_convert_map *map)
{
	static const struct body_case cases[] = {
		{ "text/plain; charset=iso-8859-1", "wait\x85 now \x83 caf\xe9", "wait... now \x9f caf\x82\r\n", 0 },
		{ "text/plain; charset=latin1", "wait\x85 \x93q\x94 \x83", "wait... \"q\" \x9f\r\n", 0 },
		{ "text/html; charset=iso-8859-1", "<p>a \x85 b\x83</p>", "a ... b\x9f\r\n", 0 },
		{ "text/html; charset=utf-8", "<p>&#131; &#133; &#x83; &#150;</p>", "\x9f ... \x9f -\r\n", 0 },
		/* An octet Windows-1252 leaves unassigned (0x81) is a '?', and
		 * the page's entities are still its characters (each a '?',
		 * and not counted, before); so are they in a charset iconv does
		 * not know, read as UTF-8, and in a part without a charset that
		 * is no UTF-8, read as Windows-1252. */
		{ "text/html; charset=iso-8859-1",
		  "<p>caf\xe9 &eacute; &mdash; &#8364; &hellip; &#233; \x81</p>",
		  "caf\x82 \x82 - EUR ... \x82 ?\r\n", 1 },
		{ "text/html; charset=x-no-such-charset", "<p>caf\xc3\xa9 &eacute; &euro;</p>",
		  "caf\x82 \x82 EUR\r\n", 0 },
		{ "text/html", "<p>caf\xe9 &eacute;\x81 &mdash;</p>", "caf\x82 \x82? -\r\n", 1 },
	};
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	for (int cp = 0; cp < 2; cp++) {
		o.codepage = cp ? CCP_CP850 : CCP_CP437;
		struct ccp_convert *c = make(&o, map);
		for (size_t i = 0; i < CCP_ARRAY_LEN(cases); i++)
			check_body_case(c, "From: a@example.org\r\nTo: b@example.org\r\n", &cases[i],
					cp ? 850 : 437);
		/* In one-line text too: a foreign name (whose '"' the line
		 * makes '), the Subject. */
		CHECK(conv(c, "From: =?utf-8?q?Ann_=E2=80=9CAl=E2=80=9D_Lee?= <al@foreign.example>\r\n"
			      "To: b@example.org\r\n"
			      "Subject: =?utf-8?q?don=E2=80=99t_=E2=80=93_stop=E2=80=A6_=E2=82=AC5?=\r\n"
			      "\r\nhi\r\n", "typographic") == CCP_CONVERT_OK);
		CHECK(eq(m.from, m.from_len,
			 "\"Ann 'Al' Lee\" [SMTP:al@foreign.example] at EXSITE"));
		CHECK(eq(m.subject, m.subject_len, "don't - stop... EUR5"));
		CHECK(conv(c, "From: =?iso-8859-1?Q?=93Ren=E9=94_Roe?= <rr@foreign.example>\r\n"
			      "To: =?ISO-8859-1?Q?Ann=85Lee?= <al@ccmail.example.com>\r\n"
			      "Subject: =?iso-8859-1?Q?It=92s_done=85?= =?utf-8?q?_=C2=96_ok=C2=81?=\r\n"
			      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
			      "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
			      "--B\r\nContent-Type: application/pdf;\r\n"
			      " name*=iso-8859-1''it%92s%85\r\n\r\nx\r\n--B--\r\n",
			      "latin1-header") == CCP_CONVERT_OK);
		CHECK(eq(m.from, m.from_len,
			 "\"'Ren\x82' Roe\" [SMTP:rr@foreign.example] at EXSITE"));
		CHECK(m.nrcpt == 1 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Ann...Lee at HUBPO1"));
		CHECK(eq(m.subject, m.subject_len, "It's done... - ok?"));
		CHECK(m.nitem == 2 && m.item[1].kind == CCP_CCM_ITEM_FILE);
		struct ccp_convert_stats st;
		ccp_convert_last_stats(c, &st);
		CHECK_EQ_U64(st.substitutions, 1);
		/* One the code page has, with no ASCII for it: the florin
		 * (0x83), CP437's 0x9F; it was a '?'. */
		CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\n"
			      "Subject: =?iso-8859-1?Q?price_=83_5?=\r\n\r\nhi\r\n",
			      "florin") == CCP_CONVERT_OK);
		CHECK(eq(m.subject, m.subject_len, "price \x9f 5"));
		ccp_convert_free(c);
	}
	/* A long file name has them too; an ellipsis that ends it goes, as
	 * the dots it is written as would (Windows drops them: "it's..." is
	 * "it's" there), whether NEXT LINE or U+2026. */
	o.long_names = true;
	struct ccp_convert *c = make(&o, map);
	CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\n"
		      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		      "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
		      "--B\r\nContent-Type: application/pdf;\r\n"
		      " name*=iso-8859-1''it%92s%85\r\n\r\nx\r\n--B--\r\n",
		      "latin1-name") == CCP_CONVERT_OK);
	CHECK(m.nitem == 2 && eq(m.item[1].title, m.item[1].title_len, "it's"));
	CHECK(conv(c, "From: a@example.org\r\nTo: b@example.org\r\n"
		      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		      "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
		      "--B\r\nContent-Type: application/pdf;\r\n"
		      " name*=utf-8''a%E2%80%A6b%E2%80%A6%20%E2%80%A6\r\n\r\nx\r\n--B--\r\n",
		      "ellipsis-name") == CCP_CONVERT_OK);
	CHECK(m.nitem == 2 && eq(m.item[1].title, m.item[1].title_len, "a...b"));
	ccp_convert_free(c);
}

static void test_attachments(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);

	CHECK(conv_file(c, "gen/attach-binary.eml") == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nitem, 2);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "AVERYL~1.DAT"));
	CHECK_EQ_U64(m.item[1].len, 2048);
	for (size_t i = 0; i < 2048; i++)
		CHECK(m.item[1].data[i] == (uint8_t)i);

	CHECK(conv_file(c, "gen/attach-many.eml") == CCP_CONVERT_OK);
	CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 60);
	/* 8.3 names, all different. */
	for (size_t i = 1; i < m.nitem; i++) {
		CHECK(m.item[i].title_len <= 12);
		for (size_t k = 1; k < i; k++)
			CHECK(!(m.item[i].title_len == m.item[k].title_len &&
				memcmp(m.item[i].title, m.item[k].title, m.item[i].title_len) == 0));
	}

	/* 8,000 attachments of one name (a message of about 0.9 MB): each gets
	 * a name of its own, the ~N counting on from the last one given.  A
	 * count from ~1 against a scan of every item took minutes here. */
	{
		struct ccp_ccm_buf big;
		ccp_ccm_buf_init(&big);
		ccp_ccm_buf_adds(&big, "From: a@example.org\r\nTo: b@example.org\r\nSubject: many\r\n"
				       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n"
				       "\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
		for (int i = 0; i < 8000; i++)
			ccp_ccm_buf_adds(&big, "--B\r\nContent-Type: text/plain\r\nContent-Disposition: "
					       "attachment; filename=A.TXT\r\n\r\nx\r\n");
		ccp_ccm_buf_adds(&big, "--B--\r\n");
		CHECK(conv(c, big.data, "many") == CCP_CONVERT_OK);
		CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 8000);
		CHECK(eq(m.item[1].title, m.item[1].title_len, "A.TXT"));
		CHECK(eq(m.item[2].title, m.item[2].title_len, "A~2.TXT"));
		CHECK(eq(m.item[8000].title, m.item[8000].title_len, "A~8000.TXT"));
		ccp_ccm_buf_free(&big);
	}

	/* 20,000 attachments whose names differ past their fifth character
	 * and lose one (abcde<3 characters>q.bin, 1.7 MB): each 8.3 base is
	 * its own, but the names made of them share ABCDEx~N, ABCDE~NN...
	 * Counted from ~1 for each new base, every name looked at all those
	 * taken before it: 200 million lookups, 40 s.  Each name is now a
	 * few lookups, and the names are the ones the count from ~1 gave. */
	{
		static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		struct ccp_ccm_buf big;
		ccp_ccm_buf_init(&big);
		ccp_ccm_buf_adds(&big, "From: a@example.org\r\nTo: b@example.org\r\nSubject: bases\r\n"
				       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n"
				       "\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
		const size_t n = 20000;
		for (size_t i = 0; i < n; i++)
			ccp_ccm_buf_printf(&big, "--B\r\nContent-Type: application/octet-stream\r\n"
					   "Content-Disposition: attachment; filename=abcde%c%c%cq.bin\r\n"
					   "\r\nx\r\n", al[i / 36 / 36 % 36], al[i / 36 % 36], al[i % 36]);
		ccp_ccm_buf_adds(&big, "--B--\r\n");
		size_t lookups = c->name_lookups;
		CHECK(conv(c, big.data, "bases") == CCP_CONVERT_OK);
		lookups = c->name_lookups - lookups;
		if (lookups > 4 * n)
			fprintf(stderr, "%zu file names looked up for %zu\n", lookups, n);
		CHECK(lookups <= 4 * n);
		CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), n);
		/* Each the first free name of its base's ~N: ABCDEA~1 to ~9
		 * (abcdeaaaq to abcdeaaiq), then ABCDE~10 to ~99, ABCD~100 on. */
		static const struct { size_t item; const char *name; } want[] = {
			{ 1, "ABCDEA~1.BIN" },   { 9, "ABCDEA~9.BIN" },    { 10, "ABCDE~10.BIN" },
			{ 37, "ABCDE~37.BIN" },  { 99, "ABCDE~99.BIN" },   { 100, "ABCD~100.BIN" },
			{ 999, "ABCD~999.BIN" }, { 1000, "ABC~1000.BIN" }, { n, "AB~19865.BIN" },
		};
		for (size_t i = 0; i < CCP_ARRAY_LEN(want); i++) {
			const struct ccp_ccm_item *it = &m.item[want[i].item];
			if (!eq(it->title, it->title_len, want[i].name))
				fprintf(stderr, "item %zu: got %.*s, want %s\n", want[i].item,
					(int)it->title_len, it->title, want[i].name);
			CHECK(eq(it->title, it->title_len, want[i].name));
		}
		char (*names)[16] = calloc(n, sizeof(*names));
		CHECK(names != NULL);
		for (size_t i = 1; i < m.nitem; i++) {
			CHECK(m.item[i].title_len == 12);
			memcpy(names[i - 1], m.item[i].title, m.item[i].title_len);
		}
		qsort(names, n, sizeof(*names), (int (*)(const void *, const void *))strcmp);
		for (size_t i = 1; i < n; i++)
			CHECK(strcmp(names[i - 1], names[i]) != 0);
		free(names);
		ccp_ccm_buf_free(&big);
	}

	/* A name that lost nothing skips ~1 (ABCDEF~2 follows ABCDEF), which
	 * is left to a lossy base of the same prefix. */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: text/plain; name=abcdef.txt\r\n\r\n1\r\n--B\r\n"
		      "Content-Type: text/plain; name=abcdef.txt\r\n\r\n2\r\n--B\r\n"
		      "Content-Type: text/plain; name=abcdefgh+.txt\r\n\r\n3\r\n--B\r\n"
		      "Content-Type: text/plain; name=abcdefxy+.txt\r\n\r\n4\r\n--B--\r\n",
		   "skip1") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "ABCDEF.TXT"));
	CHECK(eq(m.item[2].title, m.item[2].title_len, "ABCDEF~2.TXT"));
	CHECK(eq(m.item[3].title, m.item[3].title_len, "ABCDEF~1.TXT"));
	CHECK(eq(m.item[4].title, m.item[4].title_len, "ABCDEF~3.TXT"));

	/* 100,001 attachments of one name and one without (5 MB): past
	 * ~99999 the suffix takes more of the base, and an unnamed file past
	 * number 99,999 is still 8.3.  There were 100,000 names of one base,
	 * then a panic: one crafted message ended the relay. */
	{
		struct ccp_ccm_buf big;
		ccp_ccm_buf_init(&big);
		ccp_ccm_buf_adds(&big, "From: a@example.org\r\nTo: b@example.org\r\nSubject: more\r\n"
				       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n"
				       "\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
		for (int i = 0; i < 100001; i++)
			ccp_ccm_buf_adds(&big, "--B\r\nContent-Type: text/plain\r\nContent-Disposition: "
					       "attachment; filename=A.TXT\r\n\r\nx\r\n");
		ccp_ccm_buf_adds(&big, "--B\r\nContent-Type: application/octet-stream\r\n\r\ny\r\n"
				       "--B--\r\n");
		CHECK(conv(c, big.data, "more") == CCP_CONVERT_OK);
		CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 100002);
		CHECK(eq(m.item[100000].title, m.item[100000].title_len, "A~100000.TXT"));
		CHECK(eq(m.item[100001].title, m.item[100001].title_len, "A~100001.TXT"));
		CHECK(eq(m.item[100002].title, m.item[100002].title_len, "ATT00002.BIN"));
		/* All 8.3, all different. */
		char (*names)[16] = calloc(100002, sizeof(*names));
		CHECK(names != NULL);
		for (size_t i = 1; i < m.nitem; i++) {
			CHECK(m.item[i].title_len <= 12);
			memcpy(names[i - 1], m.item[i].title, m.item[i].title_len);
		}
		qsort(names, 100002, sizeof(*names), (int (*)(const void *, const void *))strcmp);
		for (size_t i = 1; i < 100002; i++)
			CHECK(strcmp(names[i - 1], names[i]) != 0);
		free(names);
		ccp_ccm_buf_free(&big);
	}

	/* A DOS device name is no file name on the clients that detach the
	 * item (CON.TXT is the console): it takes a ~N.  A name all in
	 * another script keeps its extension. */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: text/plain; name=con.txt\r\n\r\nc\r\n--B\r\n"
		      "Content-Type: application/octet-stream; name=nul\r\n\r\nn\r\n--B\r\n"
		      "Content-Type: application/octet-stream; name=lpt1.dat\r\n\r\nl\r\n--B\r\n"
		      "Content-Type: application/octet-stream; name=com10.dat\r\n\r\nk\r\n--B\r\n"
		      "Content-Type: application/octet-stream;\r\n name*=utf-8''%D0%BE%D1%82%D1%87%D0%B5%D1%82.xlsx\r\n"
		      "\r\nx\r\n--B--\r\n",
		   "dos") == CCP_CONVERT_OK);
	CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 5);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "CON~1.TXT"));
	CHECK(eq(m.item[2].title, m.item[2].title_len, "NUL~1"));
	CHECK(eq(m.item[3].title, m.item[3].title_len, "LPT1~1.DAT"));
	CHECK(eq(m.item[4].title, m.item[4].title_len, "COM10.DAT"));
	CHECK(eq(m.item[5].title, m.item[5].title_len, "ATT00005.XLS"));
	/* A format character in a file name shows nothing: dropped, the name
	 * is whole (REPORT~1.PDF before). */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: application/pdf; name*=utf-8''re%E2%80%8Bport.pdf\r\n"
		      "\r\nx\r\n--B--\r\n",
		   "zwsp") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "REPORT.PDF"));
	/* A name's dots and spaces at the end are none to Windows: without
	 * them "report.pdf." is REPORT.PDF (REPORT~1, without its extension,
	 * before) and "memo.txt " MEMO.TXT (MEMO~1.TXT). */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: application/pdf; name=\"report.pdf.\"\r\n\r\nx\r\n--B\r\n"
		      "Content-Type: text/plain; name=\"memo.txt \"\r\n\r\ny\r\n--B--\r\n",
		   "dot83") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "REPORT.PDF"));
	CHECK(eq(m.item[2].title, m.item[2].title_len, "MEMO.TXT"));
	/* An empty file name is none: a text part with filename="" (or
	 * name="") is the message's text, not an attachment ATT00001.TXT
	 * that left it without any.  Both parses. */
	for (int full = 0; full < 2; full++) {
		struct ccp_convert_opts fo;
		ccp_convert_opts_default(&fo);
		fo.full_parse = full;
		struct ccp_convert *f = make(&fo, map);
		CHECK(conv(f, "From: a@x.org\r\nTo: b@y.org\r\nContent-Type: text/plain; "
			      "charset=utf-8\r\nContent-Disposition: inline; filename=\"\"\r\n\r\n"
			      "Hello body\r\n", "empty name") == CCP_CONVERT_OK);
		CHECK(m.nitem == 1 && m.item[0].kind == CCP_CCM_ITEM_TEXT &&
		      eq(m.item[0].data, m.item[0].len, "Hello body\r\n"));
		CHECK(conv(f, MIXED_HI "Content-Type: text/plain; name=\"\"\r\n\r\nmore\r\n--B--\r\n",
			   "empty name mixed") == CCP_CONVERT_OK);
		CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 0);
		/* Unnamed parts of the types mail carries every day are named
		 * for their type: an invitation .ICS, a delivery report's
		 * parts .TXT, not .BIN. */
		CHECK(conv(f, MIXED_HI "Content-Type: text/calendar; method=REQUEST\r\n"
			      "Content-Disposition: attachment\r\n\r\nBEGIN:VCALENDAR\r\n--B\r\n"
			      "Content-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--B\r\n"
			      "Content-Type: text/rfc822-headers\r\n\r\nSubject: x\r\n--B--\r\n",
			   "types") == CCP_CONVERT_OK);
		CHECK(m.nitem == 4 && eq(m.item[1].title, m.item[1].title_len, "ATT00001.ICS") &&
		      eq(m.item[2].title, m.item[2].title_len, "ATT00002.TXT") &&
		      eq(m.item[3].title, m.item[3].title_len, "ATT00003.TXT"));
		ccp_convert_free(f);
	}
	/* Windows's console devices are devices too. */
	CHECK(conv(c, MIXED_HI "Content-Type: text/plain; name=conin$.txt\r\n\r\nx\r\n--B--\r\n",
		   "conin") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "CONIN$~1.TXT"));

	CHECK(conv_file(c, "gen/nested.eml") == CCP_CONVERT_OK);
	/* plain (not the HTML alternative), the PNG, the embedded message. */
	CHECK_EQ_U64(m.nitem, 3);
	CHECK(eq(m.item[0].data, m.item[0].len, "plain version\r\n"));
	CHECK(eq(m.item[1].title, m.item[1].title_len, "ATT00001.PNG"));
	CHECK(eq(m.item[2].title, m.item[2].title_len, "MESSAGE.EML"));
	CHECK(contains(m.item[2].data, m.item[2].len, "inner body"));
	/* The embedded message as it was sent, CRLF line ends: written with
	 * GMime's default, LF, it was one long line in Notepad. */
	CHECK(contains(m.item[2].data, m.item[2].len, "From: inner@example.org\r\n"));
	CHECK(!contains(m.item[2].data, m.item[2].len, "org\n"));
	/* An embedded message named by its type (a delivery report's
	 * "message/rfc822; name=..."): that name, as any part's, not
	 * MESSAGE.EML. */
	CHECK(conv(c, MIXED_HI "Content-Type: message/rfc822; name=\"Original message.eml\"\r\n"
		      "Content-Disposition: attachment\r\n\r\nFrom: i@example.org\r\n\r\nhi\r\n"
		      "--B--\r\n", "named message") == CCP_CONVERT_OK);
	CHECK_MSG(m.nitem == 2 && eq(m.item[1].title, m.item[1].title_len, "ORIGIN~1.EML"),
		  "%zu items, the second '%.*s'", m.nitem, m.nitem == 2 ? (int)m.item[1].title_len : 0,
		  m.nitem == 2 ? m.item[1].title : "");

	CHECK(conv_file(c, "gen/html-only.eml") == CCP_CONVERT_OK);
	CHECK_EQ_U64(m.nitem, 1);
	CHECK(eq(m.item[0].data, m.item[0].len,
		 "Title\r\n\r\nFirst & second <para>!\r\n\r\n* one\r\n* two\r\n"));
	/* A multipart/alternative whose plain part carries a file name: that
	 * part would be a File item, so the text comes from the HTML, and the
	 * message keeps its text.  Both paths pick the same. */
	for (int full = 0; full < 2; full++) {
		struct ccp_convert_opts fo = o;
		fo.full_parse = full;
		struct ccp_convert *fc = make(&fo, map);
		CHECK(conv(fc, "From: a@x.org\r\nTo: b@y.org\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n"
			       "Content-Type: text/plain\r\nContent-Disposition: inline; filename=x.txt\r\n"
			       "\r\nplain\r\n--B\r\nContent-Type: text/html\r\n\r\n<b>rich</b>\r\n--B--\r\n",
			   "alt") == CCP_CONVERT_OK);
		CHECK_EQ_U64(m.nitem, 1);
		CHECK(m.item[0].kind == CCP_CCM_ITEM_TEXT);
		CHECK(eq(m.item[0].data, m.item[0].len, "rich\r\n"));
		/* Outlook's meeting request: the invitation is an alternative
		 * beside text and HTML, and so may be an attachment.  Neither
		 * is a rendering of the text: both are kept. */
		CHECK(conv(fc, "From: a@x.org\r\nTo: b@y.org\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n"
			       "Content-Type: text/plain\r\n\r\nMeeting\r\n--B\r\n"
			       "Content-Type: text/html\r\n\r\n<p>Meeting</p>\r\n--B\r\n"
			       "Content-Type: text/calendar; method=REQUEST\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n"
			       "QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n--B\r\n"
			       "Content-Type: application/pdf\r\n"
			       "Content-Disposition: attachment; filename=r.pdf\r\n\r\n%PDF\r\n--B--\r\n",
			   "invitation") == CCP_CONVERT_OK);
		CHECK_MSG(m.nitem == 3, "%s: %zu items", full ? "full" : "light", m.nitem);
		CHECK(m.nitem == 3 && eq(m.item[0].data, m.item[0].len, "Meeting\r\n") &&
		      eq(m.item[1].title, m.item[1].title_len, "ATT00001.ICS") &&
		      eq(m.item[1].data, m.item[1].len, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") &&
		      eq(m.item[2].title, m.item[2].title_len, "R.PDF"));
		ccp_convert_free(fc);
	}
	/* Groups are expanded (an empty one adds nobody); an RFC 2231 file
	 * name is decoded and made 8.3. */
	CHECK(conv_file(c, "group-rfc2231.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, "Lee, Pat at HUBPO1"));
	CHECK_EQ_U64(m.nrcpt, 2);
	CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "\"Ann Smith\" [SMTP:ann@example.org] at EXSITE"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len, "Bob at HUBPO1"));
	CHECK(eq(m.subject, m.subject_len, "Bericht \x81" "ber Q3"));
	CHECK(eq(m.date, m.date_len, "3/13/26 8:05")); /* 09:05 +0100 in UTC */
	CHECK(eq(m.item[1].title, m.item[1].title_len, "BERICH~1.PDF"));
	CHECK(eq(m.item[1].stamp, m.item[1].stamp_len, "3/13/26 8:05AM"));
	CHECK(eq(m.item[1].data, m.item[1].len, "%PDF-1.4\n"));
	ccp_convert_free(c);

	o.long_names = true;
	o.v8_attachments = true;
	o.html_as_file = true;
	c = make(&o, map);
	CHECK(conv_file(c, "group-rfc2231.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "Bericht \x81" "ber Q3.pdf")); /* ü: CP437 0x81 */
	CHECK(conv_file(c, "gen/attach-binary.eml") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "a very long attachment name with spaces.data"));
	CHECK_EQ_U64(m.item[1].stamp_len, 0);
	CHECK(conv_file(c, "gen/html-only.eml") == CCP_CONVERT_OK);
	CHECK(m.item[0].kind == CCP_CCM_ITEM_FILE && eq(m.item[0].title, m.item[0].title_len, "BODY.HTM"));
	/* A DEL in a long name is a control character like the others: the
	 * code page would make it a space, and a name of spaces reads back
	 * as none (the import refused the message). */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: application/octet-stream\r\n"
		      "Content-Disposition: attachment; filename*=utf-8''%7F\r\n\r\nx\r\n--B--\r\n",
		   "del") == CCP_CONVERT_OK);
	CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 1);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "_"));
	/* Nor does a long name keep its format characters ("re?port.pdf"
	 * before). */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: application/pdf; name*=utf-8''re%E2%80%8Bport%C2%AD.pdf\r\n"
		      "\r\nx\r\n--B--\r\n",
		   "zwsp") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "report.pdf"));
	/* A long name keeps no DOS device name either, whatever its case
	 * and extensions (the console, the printer, the bit bucket where the
	 * client detaches it): an underscore follows the device's name.
	 * Windows reads "lpt1 .txt" as LPT1 (and so "lpt2<U+3000>.txt" as
	 * LPT2: the code page writes U+3000 as a space), COM² as COM2, and
	 * knows CONOUT$; com0, com10 and console are files.  A name so made that is taken already
	 * is made 8.3, as any taken long name is. */
	{
		static const char *const names[][2] = {
			{ "con.txt", "con_.txt" },      { "PRN", "PRN_" },
			{ "aux.doc", "aux_.doc" },      { "Nul.tar.gz", "Nul_.tar.gz" },
			{ "COM9", "COM9_" },            { "lpt1 .txt", "lpt1_ .txt" },
			{ "com%C2%B2.txt", "com\xfd_.txt" }, /* ²: CP437 0xFD */
			{ "conout$.log", "conout$_.log" }, { "com0.txt", "com0.txt" },
			{ "com10.txt", "com10.txt" },   { "console.txt", "console.txt" },
			{ "con_.txt", "CON_~2.TXT" },   { "lpt2%E3%80%80.txt", "lpt2_ .txt" },
			{ "con%E2%80%89.log", "con_ .log" },
		};
		conv_names(c, names, CCP_ARRAY_LEN(names));
	}
	/* A device as the code page writes the name: an ellipsis (U+2026, or
	 * NEXT LINE, Windows-1252's at 0x85) is three dots there, and
	 * "con...txt" is the console ("con...txt" before). */
	{
		static const char *const names[][2] = {
			{ "con%E2%80%A6txt", "con_...txt" },
			{ "aux%C2%85doc", "aux_...doc" },
			{ "nul%E2%80%A6", "nul_" },
		};
		conv_names(c, names, CCP_ARRAY_LEN(names));
	}
	/* Nor does a long name start with a space, a Unicode one (U+3000,
	 * U+2003) that the code page writes as a plain space either: the
	 * reader takes " report.txt" for "report.txt", which is taken, and
	 * two attachments were one file when detached. */
	{
		static const char *const names[][2] = {
			{ "report.txt", "report.txt" },
			{ "%E3%80%80report.txt", "REPORT~1.TXT" },
			{ "%E2%80%83memo.txt", "memo.txt" },
		};
		conv_names(c, names, CCP_ARRAY_LEN(names));
	}
	/* Windows drops the dots and spaces that end a file name: a long name
	 * written with them could not be opened, "report.pdf." and
	 * "report.pdf" overwrote each other, and "..." named nothing.  They
	 * are dropped here, Unicode spaces too (the code page makes U+3000 a
	 * space), but not NO-BREAK SPACE, 0xFF in the code page, which
	 * Windows keeps; a name of nothing else is as one without a name
	 * (ATTnnnnn.EXT), and a device name is judged without them. */
	{
		static const char *const names[][2] = {
			{ "report.pdf.", "report.pdf" },
			{ "report.pdf", "REPORT~2.PDF" }, /* taken by the one before */
			{ "notes . .", "notes" },
			{ "ideo%E3%80%80", "ideo" },
			{ "nbsp%C2%A0", "nbsp\xff" },
			{ "dots.%E2%80%AF.", "dots" },
			{ "...", "ATT00007.BIN" },
			{ ". .", "ATT00008.BIN" },
			{ "con.", "con_" },
		};
		conv_names(c, names, CCP_ARRAY_LEN(names));
	}
	/* A name cut to 200 octets, without an extension to keep, ends where
	 * the cut falls: not in the dot it fell after. */
	conv_named(c, "", "x", 199, ".%E2%80%94no extension at all%E2%80%94");
	CHECK_EQ_U64(m.item[1].title_len, 199);
	CHECK(m.item[1].title[198] == 'x');
	/* Two long names that are one in the code page (the same name twice,
	 * or names of characters it lacks, both "_.txt": the code page's '?'
	 * is no character of a Windows name): the second is made 8.3 rather
	 * than written twice, which a detach would overwrite. */
	CHECK(conv(c, MIXED_HI
		      "Content-Type: text/plain; name*=utf-8''caf%C3%A9.txt\r\n\r\n1\r\n--B\r\n"
		      "Content-Type: text/plain; name*=utf-8''caf%C3%A9.txt\r\n\r\n2\r\n--B\r\n"
		      "Content-Type: text/plain; name*=utf-8''%E2%98%83.txt\r\n\r\n3\r\n--B\r\n"
		      "Content-Type: text/plain; name*=utf-8''%E2%98%82.txt\r\n\r\n4\r\n--B--\r\n",
		   "dup") == CCP_CONVERT_OK);
	CHECK_EQ_U64(count_kind(CCP_CCM_ITEM_FILE), 4);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "caf\x82.txt")); /* é: CP437 0x82 */
	CHECK(eq(m.item[2].title, m.item[2].title_len, "CAF~1.TXT"));
	CHECK(eq(m.item[3].title, m.item[3].title_len, "_.txt"));
	CHECK(eq(m.item[4].title, m.item[4].title_len, "ATT00004.TXT"));
	/* What Windows refuses in a name: made '_'. */
	CHECK(conv(c, MIXED_HI "Content-Type: text/plain; name=\"a*b?c<d>e|f.txt\"\r\n\r\n1\r\n"
			       "--B--\r\n",
		   "windows") == CCP_CONVERT_OK);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "a_b_c_d_e_f.txt"));
	/* A long name is cut to 200 octets as written, in the code page,
	 * its extension kept: 250 e-acute (500 octets of UTF-8) and .pdf
	 * give 196 of them and .pdf, and 150 (300 octets of UTF-8, 150 in
	 * the code page) are not cut at all (98 of them before, cut in
	 * UTF-8). */
	conv_named(c, "", "%C3%A9", 250, ".pdf");
	CHECK_EQ_U64(m.item[1].title_len, 196 + 4);
	for (size_t i = 0; i < 196; i++)
		CHECK((uint8_t)m.item[1].title[i] == 0x82); /* e-acute in CP437 */
	CHECK(memcmp(m.item[1].title + 196, ".pdf", 4) == 0);
	conv_named(c, "", "%C3%A9", 150, ".pdf");
	CHECK_EQ_U64(m.item[1].title_len, 150 + 4);
	/* A character the code page writes longer than its UTF-8 (U+2122,
	 * 3 octets, as "(TM)") does not take a name past 200 octets (264
	 * before). */
	conv_named(c, "", "%E2%84%A2", 70, ".pdf");
	CHECK_EQ_U64(m.item[1].title_len, 200);
	CHECK(memcmp(m.item[1].title, "(TM)(TM)", 8) == 0);
	CHECK(memcmp(m.item[1].title + 196, ".pdf", 4) == 0);
	/* A device name's underscore is within the 200 octets too. */
	conv_named(c, "con.", "x", 250, "");
	CHECK_EQ_U64(m.item[1].title_len, 200);
	CHECK(memcmp(m.item[1].title, "con_.xxx", 8) == 0);
	ccp_convert_free(c);
}

/* The ~N past a million and up to ~9999999: file_name() with its search
 * started where a million files of one name would have left it.  The
 * suffix was cut to seven octets: ~1000000 to ~1000009 all came out as
 * ~100000, and the next free name was ~1000010's "~100001". */
/* What real mailers write as a name: Outlook's address for a contact with
 * no name, and its single quotes; a name folded with a TAB; a sub-address
 * (+tag).  Each named "Lee, Pat at HUBPO1", a user the post office has,
 * where they were "pat.lee@ccmail.example.com at HUBPO1", "Lee', 'Pat at
 * HUBPO1", "Pat   Lee at HUBPO1" and "Lee+news, Pat at HUBPO1", users
 * nobody has (IMPORT refuses the message).  A user line names its
 * address's tagged forms too; a foreign address keeps its tag.  And of two
 * Subject fields both parses take the last, its padded words unjoined.
 * Both parses, the same lines. */
static void test_display_forms(struct ccp_convert_map *map)
{
	static const char text[] =
		"From: \"pat.lee@ccmail.example.com\" <pat.lee@ccmail.example.com>\r\n"
		"To: 'Pat Lee' <pat.lee@ccmail.example.com>, \"'Roe, Jo'\" <jo@ccmail.example.com>,"
		"\r\n Pat\r\n\tLee <pat.lee@ccmail.example.com>, pat.lee+news@ccmail.example.com,"
		"\r\n Ann\r\n\tFoe <ann@foreign.example>, boss+x@example.org, <+x@ccmail.example.com>,"
		"\r\n Bob <bob+lists@foreign.example>\r\n"
		"Subject: plain first\r\n"
		"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTQ==?=\r\n =?UTF-8?B?w7xuY2hlbiB1bmQgQmVybGlu?=\r\n"
		"\r\nhi\r\n";
	static const char *const want[] = {
		"Lee, Pat at HUBPO1",
		"Roe, Jo at HUBPO1",
		"\"Ann Foe\" [SMTP:ann@foreign.example] at EXSITE",
		"Boss, The at HUB",
		"+x at HUBPO1",
		"\"Bob\" [SMTP:bob+lists@foreign.example] at EXSITE",
	};
	for (int full = 0; full <= 1; full++) {
		struct ccp_convert_opts o;
		ccp_convert_opts_default(&o);
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, text, "forms") == CCP_CONVERT_OK);
		CHECK_MSG(eq(m.from, m.from_len, "Lee, Pat at HUBPO1"), "from '%.*s'",
			  (int)m.from_len, m.from);
		check_rcpts(full ? "forms, full" : "forms, light", want, CCP_ARRAY_LEN(want));
		CHECK_MSG(eq(m.subject, m.subject_len, "Gr\x81\xe1" "e aus M\x81nchen und Berlin"),
			  "full %d: subject '%.*s'", full, (int)m.subject_len, m.subject);
		ccp_convert_free(c);
	}
}

/* A resent message (mutt's bounce, a redirect) is for its top-most resent
 * block's Resent-To, Resent-Cc and Resent-Bcc, not for the To of its first
 * sending: Jo, whom it was resent to, was left out and Pat, who had it
 * already, got it again.  An earlier block below is history; a block that
 * names no recipients leaves the message's own.  Both parses. */
static void test_resent(struct ccp_convert_map *map)
{
	static const char resent[] =
		"Received: from a by b; Tue, 2 Dec 2025 09:00:01 +0000\r\n"
		"Resent-From: Pat Lee <pat.lee@ccmail.example.com>\r\n"
		"Resent-To: Jo Roe <jo.roe@ccmail.example.com>\r\n"
		"Resent-Cc: ann@foreign.example\r\n"
		"Resent-Bcc: Bob Ray <bob.ray@ccmail.example.com>\r\n"
		"Resent-Date: Tue, 2 Dec 2025 09:00:00 +0000\r\n"
		"Received: from c by d; Mon, 1 Dec 2025 10:00:01 +0000\r\n"
		"Resent-To: old@foreign.example\r\n"
		"Resent-Date: Mon, 1 Dec 2025 12:00:00 +0000\r\n"
		"From: alice@ext.example\r\nTo: Pat Lee <pat.lee@ccmail.example.com>\r\n"
		"Cc: carl@foreign.example\r\nSubject: report\r\n\r\nhi\r\n";
	static const char unnamed[] =
		"Resent-From: Pat Lee <pat.lee@ccmail.example.com>\r\n"
		"Resent-Date: Tue, 2 Dec 2025 09:00:00 +0000\r\n"
		"From: alice@ext.example\r\nTo: Pat Lee <pat.lee@ccmail.example.com>\r\n"
		"Subject: report\r\n\r\nhi\r\n";
	for (int full = 0; full <= 1; full++) {
		struct ccp_convert_opts o;
		ccp_convert_opts_default(&o);
		o.full_parse = full;
		struct ccp_convert *c = make(&o, map);
		CHECK(conv(c, resent, "resent") == CCP_CONVERT_OK);
		CHECK_EQ_U64(m.nrcpt, 3);
		CHECK(m.nrcpt == 3 && m.rcpt[0].kind == CCP_CCM_TO &&
		      eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Roe, Jo at HUBPO1"));
		CHECK(m.nrcpt == 3 && m.rcpt[1].kind == CCP_CCM_CC &&
		      eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
			 "\"ann@foreign.example\" [SMTP:ann@foreign.example] at EXSITE"));
		CHECK(m.nrcpt == 3 && m.rcpt[2].kind == CCP_CCM_BCC &&
		      eq(m.rcpt[2].addr, m.rcpt[2].addr_len, "Ray, Bob at HUBPO1"));
		CHECK(eq(m.from, m.from_len,
			 "\"alice@ext.example\" [SMTP:alice@ext.example] at EXSITE"));
		CHECK(conv(c, unnamed, "unnamed") == CCP_CONVERT_OK);
		CHECK(m.nrcpt == 1 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Lee, Pat at HUBPO1"));
		ccp_convert_free(c);
	}
}

static void test_name_suffixes(void)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, NULL);
	static const struct {
		unsigned from;
		const char *names[4];
	} runs[] = {
		{ 999997, { "A~999998.TXT", "A~999999.TXT", "~1000000.TXT", "~1000001.TXT" } },
		{ 1000008, { "~1000009.TXT", "~1000010.TXT", "~1000011.TXT", "~1000012.TXT" } },
		/* The last of the ~N, then the F names. */
		{ 9999997, { "~9999998.TXT", "~9999999.TXT", "F0000000.TXT", "F0000001.TXT" } },
	};
	for (size_t r = 0; r < CCP_ARRAY_LEN(runs); r++) {
		/* A.TXT and every ~N below from + 1 taken, as far as the hints
		 * of each width of ~N tell. */
		ccp_fpset_add(&c->file_names, name_fp("A.TXT", 5));
		for (unsigned sl = 2; sl <= 8; sl++)
			*suffix_hint(c, "A", sl < 8 ? 1 : 0, "TXT", 3, sl) = runs[r].from + 1;
		for (size_t i = 0; i < 4; i++) {
			size_t len;
			const char *name = file_name(c, "A.TXT", NULL, &len);
			if (!eq(name, len, runs[r].names[i]))
				fprintf(stderr, "got %.*s, want %s\n", (int)len, name,
					runs[r].names[i]);
			CHECK(eq(name, len, runs[r].names[i]));
			/* Taken, as add_file() marks it. */
			ccp_fpset_add(&c->file_names, name_fp(name, len));
		}
	}
	ccp_convert_free(c);
}

/* Every file of the generated corpus converts or is refused with a reason. */
static void test_corpus(struct ccp_convert_map *map)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/gen", datadir);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *e;
	int ok = 0, refused = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char name[600];
		snprintf(name, sizeof(name), "gen/%s", e->d_name);
		if (conv_file(c, name) == CCP_CONVERT_OK)
			ok++;
		else
			refused++;
	}
	closedir(d);
	CHECK(ok >= 30);
	CHECK(refused >= 4); /* no-from, empty-from, no-rcpt, garbage, empty... */
	/* The specific refusals. */
	CHECK(conv_file(c, "gen/no-from.eml") == CCP_CONVERT_ERR_NO_FROM);
	CHECK(conv_file(c, "gen/empty-from.eml") == CCP_CONVERT_ERR_NO_FROM);
	CHECK(conv_file(c, "gen/no-rcpt.eml") == CCP_CONVERT_ERR_NO_RCPT);
	CHECK(conv_file(c, "gen/empty.eml") != CCP_CONVERT_OK);
	ccp_convert_free(c);
	printf("corpus: %d converted, %d refused\n", ok, refused);
}

/* Writes TEXT to a new temporary file; returns its path (free it). */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/ccpump-map-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* The map file (--map): comments, blanks, CRLF, a site, native domains and
 * user names; a line of any length read whole; a bad line named by its
 * number. */
static void test_map_file(void)
{
	/* A comment of 1,023 octets before "user ...": read in 1,024-octet
	 * pieces, its tail would be a mapping of its own. */
	char *long_comment = malloc(4096);
	memset(long_comment, 'x', 1023);
	long_comment[0] = '#';
	strcpy(long_comment + 1023, "user evil@example.org Evil at HUB\n");
	struct ccp_ccm_buf text;
	ccp_ccm_buf_init(&text);
	ccp_ccm_buf_adds(&text, "# mapping for the tests\n\nsite   HQSITE\r\n"
				"native ccmail.example.com HUBPO1   # trailing comment\n");
	ccp_ccm_buf_adds(&text, long_comment);
	ccp_ccm_buf_adds(&text, "user\tboss@example.org\tBoss, The at HUB\n");
	/* A key given again, in another case or spelling, keeps its first
	 * line, as when the lines were scanned in order. */
	ccp_ccm_buf_adds(&text, "user BOSS@Example.ORG Other, An at HUB\n"
				"native CCMAIL.example.com OTHERPO\n");
	ccp_ccm_buf_add(&text, "", 1);
	char *path = temp_file(text.data);
	struct ccp_convert_map *map = ccp_convert_map_new();
	char *site = NULL, err[512] = "";
	CHECK(ccp_convert_map_load(map, path, &site, err, sizeof(err)) == 0);
	CHECK(site && strcmp(site, "HQSITE") == 0);
	CHECK_EQ_U64(ccp_convert_map_natives(map), 1);
	CHECK_EQ_U64(ccp_convert_map_users(map), 1);
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.site = site;
	struct ccp_convert *c = make(&o, map);
	CHECK(conv(c, "From: jane.roe@ccmail.example.com\r\nTo: boss@example.org\r\n"
		      "Cc: evil@example.org\r\n\r\nx\r\n", NULL) == CCP_CONVERT_OK);
	CHECK(eq(m.from, m.from_len, "Roe, Jane at HUBPO1"));
	CHECK(eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Boss, The at HUB"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
		 "\"evil@example.org\" [SMTP:evil@example.org] at HQSITE"));
	ccp_convert_free(c);
	ccp_convert_map_free(map);
	ccp_free(site);
	unlink(path);
	free(path);

	/* A post office's user list: the one the mail names is found among
	 * thousands, in any case; one the map lacks is foreign. */
	map = ccp_convert_map_new();
	for (int i = 0; i < 5000; i++) {
		char a[64], n[64];
		snprintf(a, sizeof(a), "user%d@example.org", i);
		snprintf(n, sizeof(n), "User, No%d at HUB", i);
		ccp_convert_map_add_user(map, a, n);
	}
	CHECK_EQ_U64(ccp_convert_map_users(map), 5000);
	ccp_convert_opts_default(&o);
	c = make(&o, map);
	CHECK(conv(c, "From: a@x.example\r\nTo: USER4321@Example.Org, user5000@example.org\r\n\r\nx\r\n",
		   NULL) == CCP_CONVERT_OK);
	CHECK(m.nrcpt == 2 && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "User, No4321 at HUB"));
	CHECK(eq(m.rcpt[1].addr, m.rcpt[1].addr_len,
		 "\"user5000@example.org\" [SMTP:user5000@example.org] at EXSITE"));
	ccp_convert_free(c);
	ccp_convert_map_free(map);

	/* Line 3 is not a mapping: refused, with the file and the line. */
	path = temp_file("site S\nnative ok.example PO\nnative lonely.example\n");
	map = ccp_convert_map_new();
	CHECK(ccp_convert_map_load(map, path, NULL, err, sizeof(err)) == -1);
	char want[512];
	snprintf(want, sizeof(want), "%s: line 3: expected 'native DOMAIN PO'", path);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	ccp_convert_map_free(map);
	unlink(path);
	map = ccp_convert_map_new();
	CHECK(ccp_convert_map_load(map, path, NULL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "cannot open") != NULL && strncmp(err, path, strlen(path)) == 0);
	ccp_convert_map_free(map);
	free(path);
	free(long_comment);
	ccp_ccm_buf_free(&text);
}

/* A domain has two spellings, Unicode and IDNA's ASCII (bücher.example
 * and xn--bcher-kva.example), and GMime hands over the Unicode one
 * whichever the mail wrote (but for an XN-- in upper case, which it
 * leaves).  A native domain or a user named in the map in either spelling,
 * in any case, matches mail in either: compared as written,
 * "native xn--bcher-kva.example" missed ann@bücher.example, which was
 * written as a foreign address, and "user boss@münchen.example" missed
 * boss@XN--MNCHEN-3YA.example. */
static void test_domain_spellings(void)
{
	char *path = temp_file("native xn--bcher-kva.example BPO\n"
			       "native M\xc3\xbcnchen.example MPO\n"
			       "user Chef@XN--BCHER-KVA.EXAMPLE Chef, Der at BPO\n"
			       "user boss@m\xc3\xbcnchen.example Boss, Die at MPO\n"
			       "user \"eve.lee\"@x.example Lee, Eve at HUB\n");
	struct ccp_convert_map *map = ccp_convert_map_new();
	char err[512] = "";
	CHECK(ccp_convert_map_load(map, path, NULL, err, sizeof(err)) == 0);
	unlink(path);
	free(path);
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	struct ccp_convert *c = make(&o, map);
	static const char text[] =
		"From: Ann Lee <ann@b\xc3\xbc" "cher.example>\r\n"
		"To: bob@xn--mnchen-3ya.example, Carl <carl@B\xc3\x9c" "CHER.example>,\r\n"
		" chef@b\xc3\xbc" "cher.example, boss@XN--MNCHEN-3YA.example,\r\n"
		" Boss@xn--mnchen-3ya.example, dora@xn--bcher-kva.example,\r\n"
		" Eve.Lee@x.example, \"eve.lee\"@x.example\r\n\r\nhi\r\n";
	static const char *const want[] = {
		/* The user map was case-insensitive, and is: Boss@ is boss@, one
		 * user, named once (a line of its own would be a second copy;
		 * a miss, a foreign line). */
		"Bob at MPO", "Carl at BPO", "Chef, Der at BPO", "Boss, Die at MPO",
		"Dora at BPO",
		/* A user line's quoted local part is its unquoted one, as mail's
		 * is: written as given, the line matched no mail.  Both
		 * addresses are Eve, named once. */
		"Lee, Eve at HUB",
	};
	conv_addrs(c, text, "Lee, Ann at BPO", want, CCP_ARRAY_LEN(want));
	ccp_convert_free(c);
	ccp_convert_map_free(map);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	datadir = argv[1];
	/* A GLib critical is a call made against GLib's or GMime's contract:
	 * a failure here, not a line on stderr. */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
	setenv("TZ", "UTC", 1);
	tzset();
	ccp_ccm_buf_init(&out);
	ccp_ccm_buf_init(&u8);
	ccp_ccm_msg_init(&m);
	struct ccp_convert_map *map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	ccp_convert_map_add_user(map, "boss@example.org", "Boss, The at HUB");

	test_addresses(map);
	test_envelope_and_date(map);
	test_envelope_field(map);
	test_limits(map);
	test_charsets(map);
	test_text_rendering(map);
	test_separators(map);
	test_html_breaks(map);
	test_format_flowed(map);
	test_boundary_line_ends(map);
	test_html_links_cells(map);
	test_latin1_as_1252(map);
	test_attachments(map);
	test_semicolons(map);
	test_split_words(map);
	test_alternative_attachments(map);
	test_nul_in_header(map);
	test_header_block_end(map);
	test_part_header_end(map);
	test_multipart_without_parts(map);
	test_unpadded_words(map);
	test_display_forms(map);
	test_resent(map);
	test_name_suffixes();
	test_corpus(map);
	test_map_file();
	test_domain_spellings();

	ccp_convert_map_free(map);
	ccp_ccm_msg_free(&m);
	ccp_ccm_buf_free(&out);
	ccp_ccm_buf_free(&u8);
	ccp_convert_shutdown();
	puts("test_convert: ok");
	return 0;
}

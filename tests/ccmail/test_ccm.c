/*
 * test_ccm: the .ccm writer computes every size exactly (checked against a
 * file whose counts were worked out by hand), the reader reads back what the
 * writer wrote, falls back to keyword scanning when sizes lie, reports what
 * it cannot parse with a line number, and survives every truncation.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ccpump/ccm.h"

/* docs/ccmail-format.md §5: 441 octets, counts computed by hand:
 * "Lunch at noon?\r\n" = 16; Contents = 12 ("Text item:\r\n") + 4 ("16\r\n")
 * + 16 = 32; Message = 30 + 19 + 25 + 16 + 11 + 4 + 32 = 137. */
static const char hand[] =
	"Message:\r\n274\r\n"
	"From: Smith, Sally at EXSITE\r\n"
	"Date: 6/2/98 8:39\r\n"
	"To: Admin at HUBPO1\r\n"
	"To: Doe, John at HUBPO1\r\n"
	"Cc: Grewal, Jeff at HUB\r\n"
	"Subject: Q3 figures\r\n"
	"Contents:\r\n117\r\n"
	"Text item:\r\n39\r\n"
	"The Q3 figures are attached.\r\n\r\nSally\r\n"
	"File item: Q3.TXT 6/2/98 8:38AM\r\n25\r\n"
	"Region,Total\r\nNorth,100\r\n"
	"Message:\r\n137\r\n"
	"From: Smith, Sally at EXSITE\r\n"
	"Date: 6/2/98 8:40\r\n"
	"To: Doe, John at HUBPO1\r\n"
	"Subject: Lunch\r\n"
	"Contents:\r\n32\r\n"
	"Text item:\r\n16\r\n"
	"Lunch at noon?\r\n";

#define S(x) x, strlen(x)

static void build_hand(struct ccp_ccm_buf *out)
{
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	m.from = "Smith, Sally at EXSITE";
	m.from_len = strlen(m.from);
	m.date = "6/2/98 8:39";
	m.date_len = strlen(m.date);
	ccp_ccm_msg_add_rcpt(&m, CCP_CCM_TO, S("Admin at HUBPO1"));
	ccp_ccm_msg_add_rcpt(&m, CCP_CCM_TO, S("Doe, John at HUBPO1"));
	ccp_ccm_msg_add_rcpt(&m, CCP_CCM_CC, S("Grewal, Jeff at HUB"));
	m.subject = "Q3 figures";
	m.subject_len = strlen(m.subject);
	struct ccp_ccm_item *it = ccp_ccm_msg_add_item(&m, CCP_CCM_ITEM_TEXT);
	it->data = (const uint8_t *)"The Q3 figures are attached.\r\n\r\nSally\r\n";
	it->len = 39;
	it = ccp_ccm_msg_add_item(&m, CCP_CCM_ITEM_FILE);
	it->title = "Q3.TXT";
	it->title_len = 6;
	it->stamp = "6/2/98 8:38AM";
	it->stamp_len = strlen(it->stamp);
	it->data = (const uint8_t *)"Region,Total\r\nNorth,100\r\n";
	it->len = 25;
	CHECK(ccp_ccm_write(out, &m) == 0);

	ccp_ccm_msg_clear(&m);
	m.from = "Smith, Sally at EXSITE";
	m.from_len = strlen(m.from);
	m.date = "6/2/98 8:40";
	m.date_len = strlen(m.date);
	ccp_ccm_msg_add_rcpt(&m, CCP_CCM_TO, S("Doe, John at HUBPO1"));
	m.subject = "Lunch";
	m.subject_len = 5;
	it = ccp_ccm_msg_add_item(&m, CCP_CCM_ITEM_TEXT);
	it->data = (const uint8_t *)"Lunch at noon?\r\n";
	it->len = 16;
	CHECK(ccp_ccm_write(out, &m) == 0);
	ccp_ccm_msg_free(&m);
}

static bool eq(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static void test_writer_hand_counts(void)
{
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	build_hand(&b);
	CHECK_EQ_U64(b.len, 441);
	CHECK_EQ_U64(sizeof(hand) - 1, 441);
	CHECK(memcmp(b.data, hand, b.len) == 0);

	/* A CR or LF inside a header value would forge a line: refused. */
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	m.from = "Evil\r\nTo: x";
	m.from_len = strlen(m.from);
	m.date = "1/1/99 0:00";
	m.date_len = 11;
	size_t before = b.len;
	CHECK(ccp_ccm_write(&b, &m) < 0);
	CHECK_EQ_U64(b.len, before);
	ccp_ccm_msg_free(&m);
	ccp_ccm_buf_free(&b);
}

static void test_reader_roundtrip(void)
{
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	char *copy = malloc(sizeof(hand) - 1); /* exact size: ASan sees overreads */
	memcpy(copy, hand, sizeof(hand) - 1);
	ccp_ccm_reader_init(&r, copy, sizeof(hand) - 1, "hand.ccm");

	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
	CHECK_EQ_U64(m.warnings, 0);
	CHECK_EQ_U64(m.line, 1);
	CHECK(eq(m.from, m.from_len, "Smith, Sally at EXSITE"));
	CHECK(eq(m.date, m.date_len, "6/2/98 8:39"));
	CHECK_EQ_U64(m.nrcpt, 3);
	CHECK(m.rcpt[0].kind == CCP_CCM_TO && eq(m.rcpt[0].addr, m.rcpt[0].addr_len, "Admin at HUBPO1"));
	CHECK(m.rcpt[2].kind == CCP_CCM_CC && eq(m.rcpt[2].addr, m.rcpt[2].addr_len, "Grewal, Jeff at HUB"));
	CHECK(eq(m.subject, m.subject_len, "Q3 figures"));
	CHECK_EQ_U64(m.nitem, 2);
	CHECK(m.item[0].kind == CCP_CCM_ITEM_TEXT && m.item[0].len == 39);
	CHECK(m.item[1].kind == CCP_CCM_ITEM_FILE);
	CHECK(eq(m.item[1].title, m.item[1].title_len, "Q3.TXT"));
	CHECK(eq(m.item[1].stamp, m.item[1].stamp_len, "6/2/98 8:38AM"));
	CHECK(eq((const char *)m.item[1].data, m.item[1].len, "Region,Total\r\nNorth,100\r\n"));
	CHECK_EQ_U64(m.raw_len, 441 - (10 + 5 + 137)); /* second: "Message:" + "137" + 137 */

	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
	CHECK_EQ_U64(m.line, 20);
	CHECK(eq(m.subject, m.subject_len, "Lunch"));
	CHECK(eq((const char *)m.item[0].data, m.item[0].len, "Lunch at noon?\r\n"));
	CHECK(ccp_ccm_reader_next(&r, &m) == 0);
	free(copy);
	ccp_ccm_msg_free(&m);
}

static int read_all(const char *text, int *ok, int *bad, unsigned *warn, char *err, size_t errcap)
{
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	size_t n = strlen(text);
	char *copy = malloc(n ? n : 1);
	memcpy(copy, text, n);
	ccp_ccm_msg_init(&m);
	ccp_ccm_reader_init(&r, copy, n, "t.ccm");
	*ok = *bad = 0;
	*warn = 0;
	int rc, guard = 0;
	while ((rc = ccp_ccm_reader_next(&r, &m)) != 0) {
		CHECK(++guard < 10000);
		if (rc > 0) {
			(*ok)++;
			*warn += m.warnings;
			/* What a message holds lies within its own octets. */
			for (size_t i = 0; i < m.nitem; i++)
				CHECK((const char *)m.item[i].data >= m.raw &&
				      (const char *)m.item[i].data + m.item[i].len <= m.raw + m.raw_len);
		} else {
			(*bad)++;
			if (err && err[0] == '\0')
				snprintf(err, errcap, "%s", r.error);
		}
	}
	free(copy);
	ccp_ccm_msg_free(&m);
	return 0;
}

static void test_reader_fallbacks(void)
{
	int ok, bad;
	unsigned warn;
	char err[512];

	/* Wrong text size: keyword scanning recovers the text, with a warning. */
	const char *lie = "Message:\r\n999\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\n"
			  "To: B at P\r\nContents:\r\n1\r\nText item:\r\n3\r\nhello\r\n"
			  "Message:\r\n\r\nFrom: C at P\r\nDate: 1/2/03 4:06\r\nTo: B at P\r\n"
			  "Contents:\r\n   \r\nText item: note\r\n\r\nbye\r\n";
	err[0] = '\0';
	read_all(lie, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 2);
	CHECK_EQ_U64(bad, 0);
	CHECK(warn >= 3);

	/* Missing Contents: refused with its line, and the next message still read. */
	const char *noc = "Message:\r\n\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\nTo: B at P\r\n"
			  "Text item:\r\n\r\nhi\r\n"
			  "Message:\r\n\r\nFrom: C at P\r\nDate: 1/2/03 4:06\r\nTo: B at P\r\n"
			  "Contents:\r\n\r\nText item:\r\n\r\nbye\r\n";
	err[0] = '\0';
	read_all(noc, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 1);
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "t.ccm: line 6:") != NULL);
	CHECK(strstr(err, "Contents") != NULL);

	/* A File item whose size does not fit cannot be scanned: refused. */
	const char *badfile = "Message:\r\n\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\nTo: B at P\r\n"
			      "Contents:\r\n\r\nFile item: X.BIN\r\n500\r\n\x01\x02\r\n";
	err[0] = '\0';
	read_all(badfile, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 0);
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "line 8: File item size") != NULL);

	/* Junk before the first message, a header line without a colon. */
	err[0] = '\0';
	read_all("hello\r\nworld\r\n", &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 0);
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "line 1: expected 'Message:'") != NULL);
	err[0] = '\0';
	read_all("Message:\r\n\r\nFrom A\r\n", &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "line 3: not a header line") != NULL);
	/* Missing From. */
	err[0] = '\0';
	read_all("Message:\r\n\r\nDate: 1/2/03 4:05\r\nTo: B\r\nContents:\r\n\r\n", &ok, &bad,
		 &warn, err, sizeof(err));
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "no From") != NULL);
	/* A stray CR inside a line, or a value on "Contents:", would not
	 * survive being written back: refused. */
	err[0] = '\0';
	read_all("Message:\r\n\r\nFrom: A\rB\r\nDate: 1/2/03 4:05\r\nContents:\r\n\r\n", &ok, &bad,
		 &warn, err, sizeof(err));
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "line 3: stray CR") != NULL);
	err[0] = '\0';
	read_all("Message:\r\n\r\nFrom: A\r\nDate: 1/2/03 4:05\r\nContents: x\r\nContents:\r\n\r\n",
		 &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(bad, 1);
	CHECK(strstr(err, "line 5: 'Contents:' takes no value") != NULL);
	/* The writer refuses extension names the reader would take for others. */
	struct ccp_ccm_msg w;
	struct ccp_ccm_buf wb;
	ccp_ccm_msg_init(&w);
	ccp_ccm_buf_init(&wb);
	w.from = "A";
	w.from_len = 1;
	w.date = "1/2/03 4:05";
	w.date_len = 11;
	ccp_ccm_msg_add_ext(&w, "Contents", "", 0);
	CHECK(ccp_ccm_write(&wb, &w) < 0);
	ccp_ccm_msg_clear(&w);
	w.from = "A";
	w.from_len = 1;
	w.date = "1/2/03 4:05";
	w.date_len = 11;
	ccp_ccm_msg_add_ext(&w, "X-Spool-Id", "k", 1);
	CHECK(ccp_ccm_write(&wb, &w) == 0);
	ccp_ccm_msg_free(&w);
	ccp_ccm_buf_free(&wb);
	/* A long input name gives way to the reason, which is kept whole. */
	{
		char name[700];
		memset(name, 'd', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		memcpy(name + sizeof(name) - 9, "/END.ccm", 9);
		char text[] = "Message:\r\n\r\nFrom A\r\n";
		struct ccp_ccm_reader r;
		struct ccp_ccm_msg mm;
		ccp_ccm_msg_init(&mm);
		ccp_ccm_reader_init(&r, text, strlen(text), name);
		CHECK(ccp_ccm_reader_next(&r, &mm) < 0);
		const char *tail = "/END.ccm: line 3: not a header line (expected 'Name: value')";
		size_t len = strlen(r.error);
		CHECK_MSG(strncmp(r.error, "...ddd", 6) == 0 && len == sizeof(r.error) - 1 &&
				  strcmp(r.error + len - strlen(tail), tail) == 0,
			  "%s", r.error);
		/* A short one is whole. */
		ccp_ccm_reader_init(&r, text, strlen(text), "short.ccm");
		CHECK(ccp_ccm_reader_next(&r, &mm) < 0);
		CHECK_STREQ(r.error, "short.ccm: line 3: not a header line (expected 'Name: value')");
		ccp_ccm_msg_free(&mm);
	}
	/* Empty input: no messages, no errors. */
	read_all("", &ok, &bad, &warn, NULL, 0);
	CHECK_EQ_U64(ok + bad, 0);
}

/* One message of exact sizes with one item (a File item when FILE) of
 * DATA, appended to OUT. */
static void exact_msg(char *out, size_t cap, const char *key, bool file, const char *data)
{
	char hdr[256], items[256], body[600];
	snprintf(hdr, sizeof(hdr), "From: A at X\r\nDate: 6/2/98 8:39\r\nTo: B at HUB\r\n"
		 "X-Spool-Id: %s\r\n", key);
	snprintf(items, sizeof(items), "%s\r\n%zu\r\n%s", file ? "File item: Q3.TXT" : "Text item:",
		 strlen(data), data);
	snprintf(body, sizeof(body), "%sContents:\r\n%zu\r\n%s", hdr, strlen(items), items);
	size_t n = strlen(out);
	snprintf(out + n, cap - n, "Message:\r\n%zu\r\n%s", strlen(body), body);
}

/* A message whose size runs past its own end onto a later "Message:"
 * line: the message in between was skipped with the first one's
 * refusal, neither delivered nor reported.  Both are read, the first with
 * a warning for its size. */
static void test_size_past_next_message(void)
{
	char two[2048] = "", lie[2048];
	exact_msg(two, sizeof(two), "k1", false, "hello\r\n");
	size_t first = strlen(two);
	exact_msg(two, sizeof(two), "k2", false, "bye\r\n");
	exact_msg(two, sizeof(two), "k3", false, "later\r\n");
	/* k1's size: its own body, plus k2 whole, landing on k3. */
	const char *body = strstr(two, "\r\n") + 2;
	body = strstr(body, "\r\n") + 2;
	const char *k3 = strstr(two + first, "Message:\r\n");
	k3 = strstr(k3 + 1, "Message:\r\n");
	CHECK(k3 != NULL);
	snprintf(lie, sizeof(lie), "Message:\r\n%zu\r\n%s", (size_t)(k3 - body), body);
	int ok, bad;
	unsigned warn;
	char err[512] = "";
	read_all(lie, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 3);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(warn, 1);
	CHECK_MSG(err[0] == '\0', "refused: %s", err);
}

/* The grammar's *blank-line after each message: blank lines (spaces and
 * tabs allowed) between messages and at the end of the input are no
 * part of either message's items, whose sizes land before them; the same
 * when a message's size counts them. */
static void test_blank_lines_after_messages(void)
{
	const char *data = "Region,Total\r\nNorth,100\r\n";
	for (int file = 0; file <= 1; file++) {
		char text[4096] = "";
		exact_msg(text, sizeof(text), "k1", file, data);
		strcat(text, "\r\n \t\r\n");
		exact_msg(text, sizeof(text), "k2", file, data);
		strcat(text, "\r\n");
		struct ccp_ccm_reader r;
		struct ccp_ccm_msg m;
		ccp_ccm_msg_init(&m);
		ccp_ccm_reader_init(&r, text, strlen(text), "blank.ccm");
		for (int i = 0; i < 2; i++) {
			int rc = ccp_ccm_reader_next(&r, &m);
			if (rc < 0)
				fprintf(stderr, "%s\n", r.error);
			CHECK(rc == 1);
			CHECK_EQ_U64(m.warnings, 0);
			CHECK_EQ_U64(m.nitem, 1);
			CHECK(m.item[0].kind == (file ? CCP_CCM_ITEM_FILE : CCP_CCM_ITEM_TEXT));
			CHECK(m.item[0].len == strlen(data) &&
			      memcmp(m.item[0].data, data, strlen(data)) == 0);
		}
		CHECK(ccp_ccm_reader_next(&r, &m) == 0);
		ccp_ccm_msg_free(&m);
	}
	/* A message size that counts the blank line after its item. */
	char text[4096] = "", one[2048] = "";
	exact_msg(one, sizeof(one), "k3", true, data);
	const char *body = strstr(one, "\r\n") + 2;
	body = strstr(body, "\r\n") + 2;
	snprintf(text, sizeof(text), "Message:\r\n%zu\r\n%s\r\n", strlen(body) + 2, body);
	int ok, bad;
	unsigned warn;
	char err[512] = "";
	read_all(text, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 1);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(warn, 0);

	/* A message whose size ends inside an item's size line ("16", its
	 * CRLF after the end): the size line is read to the message's end,
	 * not on into what follows, so the item is found empty (a warning)
	 * and its "size" never counted from past the message.  Read on into
	 * the CRLF, the item's data began past the message's end, and the
	 * reader then looked 16 octets further still: past the input. */
	const char *cut = "Message:\r\n60\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\n"
			  "Contents:\r\n\r\nText item:\r\n16\r\n\r\n";
	err[0] = '\0';
	read_all(cut, &ok, &bad, &warn, err, sizeof(err));
	CHECK_EQ_U64(ok, 1);
	CHECK_EQ_U64(bad, 0);
	CHECK(warn >= 1);
}

/* Every prefix of a valid file is read without a crash or an overread, and
 * every message the reader accepts from it is a prefix-consistent one. */
static void test_truncations(void)
{
	size_t n = sizeof(hand) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		char *copy = malloc(cut ? cut : 1);
		memcpy(copy, hand, cut);
		struct ccp_ccm_reader r;
		struct ccp_ccm_msg m;
		ccp_ccm_msg_init(&m);
		ccp_ccm_reader_init(&r, copy, cut, "cut.ccm");
		int rc, count = 0;
		size_t consumed = 0;
		while ((rc = ccp_ccm_reader_next(&r, &m)) != 0) {
			CHECK(++count < 100);
			consumed += m.raw_len;
			CHECK(m.raw >= copy && m.raw + m.raw_len <= copy + cut);
		}
		CHECK(consumed <= cut);
		ccp_ccm_msg_free(&m);
		free(copy);
	}
}

static void test_dates(void)
{
	struct tm tm;
	char buf[32];
	CHECK(ccp_ccm_parse_date(S("6/2/98 8:39"), &tm));
	CHECK_EQ_U64(tm.tm_year, 98);
	CHECK_EQ_U64(tm.tm_mon, 5);
	CHECK_EQ_U64(tm.tm_mday, 2);
	CHECK_EQ_U64(tm.tm_hour, 8);
	CHECK_EQ_U64(tm.tm_min, 39);
	CHECK_EQ_U64(ccp_ccm_format_date(buf, sizeof(buf), &tm), 11);
	CHECK_STREQ(buf, "6/2/98 8:39");
	CHECK(ccp_ccm_parse_date(S("12/31/26 23:59"), &tm));
	CHECK_EQ_U64(tm.tm_year, 126); /* two-digit years below 70 are 20xx */
	ccp_ccm_format_stamp(buf, sizeof(buf), &tm);
	CHECK_STREQ(buf, "12/31/26 11:59PM");
	CHECK(ccp_ccm_parse_date(S("12/31/26 11:59PM"), &tm));
	CHECK_EQ_U64(tm.tm_hour, 23);
	CHECK(ccp_ccm_parse_date(S("1/1/00 12:05AM"), &tm));
	CHECK_EQ_U64(tm.tm_hour, 0);
	CHECK(ccp_ccm_parse_date(S("2/29/00 1:00"), &tm));
	CHECK(!ccp_ccm_parse_date(S("2/29/01 1:00"), &tm));
	CHECK(!ccp_ccm_parse_date(S("13/1/98 8:39"), &tm));
	CHECK(!ccp_ccm_parse_date(S("6/31/98 8:39"), &tm));
	CHECK(!ccp_ccm_parse_date(S("6/2/98 24:00"), &tm));
	CHECK(!ccp_ccm_parse_date(S("6/2/98 8:7"), &tm));
	CHECK(!ccp_ccm_parse_date(S("Tue, 2 Jun 1998 08:39"), &tm));
	CHECK(!ccp_ccm_parse_date(S("6/2/98"), &tm));
	CHECK(!ccp_ccm_parse_date(S(""), &tm));
}

/* An aligned buffer stays aligned, and keeps its octets, as it grows and
 * after a free (the relay's O_DIRECT batches rely on both). */
static void test_aligned_buffer(void)
{
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init_aligned(&b, 4096);
	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < 100000; i++) {
			char c = (char)('a' + i % 26);
			ccp_ccm_buf_add(&b, &c, 1);
			CHECK(((uintptr_t)b.data & 4095) == 0);
		}
		CHECK_EQ_U64(b.len, 100000);
		CHECK(b.data[b.len] == '\0');
		for (unsigned i = 0; i < 100000; i++)
			CHECK(b.data[i] == (char)('a' + i % 26));
		ccp_ccm_buf_free(&b);
		CHECK(b.data == NULL && b.align == 4096);
	}
}

/* Spool ids: a Maildir name as it is; anything else escaped, never two
 * names to one id. */
static void test_spool_ids(void)
{
	static const struct { const char *name; size_t len; const char *id; } cases[] = {
		{ "1764288000.M0P1.demo", 20, "1764288000.M0P1.demo" },
		{ "1234.M5P6Q7.host\\057a:2,S", 25, "1234.M5P6Q7.host\\057a:2,S" },
		{ "x y", 3, "x%20y" },
		{ "x\ny", 3, "x%0Ay" },
		{ "caf\xc3\xa9", 5, "caf%C3%A9" },
		{ "bad\xff", 4, "bad%FF" },
		{ "100%", 4, "100%25" },
		{ "del\x7f", 4, "del%7F" },
		{ "trail ", 6, "trail%20" },
		{ "", 0, "" },
	};
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ccp_ccm_buf_reset(&b);
		ccp_ccm_spool_id_add(&b, cases[i].name, cases[i].len);
		CHECK_EQ_U64(b.len, strlen(cases[i].id));
		CHECK(memcmp(b.data, cases[i].id, b.len) == 0);
		CHECK(ccp_ccm_spool_id_is(b.data, b.len, cases[i].name, cases[i].len));
		/* No other case's name has this id (they are all distinct). */
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
			if (k != i)
				CHECK(!ccp_ccm_spool_id_is(b.data, b.len, cases[k].name, cases[k].len));
		/* Cut short, or one octet more: not the id. */
		if (b.len)
			CHECK(!ccp_ccm_spool_id_is(b.data, b.len - 1, cases[i].name, cases[i].len));
		CHECK(!ccp_ccm_spool_id_is(cases[i].id, strlen(cases[i].id) + 1, cases[i].name,
					   cases[i].len));
	}
	/* The name itself is not the id of one that needs escapes, and a
	 * lower-case escape is not the id. */
	CHECK(!ccp_ccm_spool_id_is("x y", 3, "x y", 3));
	CHECK(!ccp_ccm_spool_id_is("caf%c3%a9", 9, "caf\xc3\xa9", 5));
	CHECK(!ccp_ccm_spool_id_is("x%2", 3, "x ", 2));
	ccp_ccm_buf_free(&b);
}

/* A Subject's own leading spaces are its text: read after the one space of
 * "Subject: ", and written back, so a stored copy keeps them.  Other
 * values lose their leading spaces (a From here), and "Subject:" with no
 * space is read too. */
static void test_subject_spaces(void)
{
	static const char in[] = "Message:\r\n\r\nFrom:   A at P\r\nDate: 1/2/03 4:05\r\n"
				 "To: B at P\r\nSubject:    three\r\nContents:\r\n\r\n"
				 "Message:\r\n\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\n"
				 "To: B at P\r\nSubject:none\r\nContents:\r\n\r\n";
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	struct ccp_ccm_buf out;
	ccp_ccm_msg_init(&m);
	ccp_ccm_buf_init(&out);
	ccp_ccm_reader_init(&r, in, sizeof(in) - 1, "s.ccm");
	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
	CHECK(eq(m.subject, m.subject_len, "   three"));
	CHECK(eq(m.from, m.from_len, "A at P"));
	CHECK(ccp_ccm_write(&out, &m) == 0);
	static const char line[] = "\r\nSubject:    three\r\n";
	CHECK(memmem(out.data, out.len, line, sizeof(line) - 1) != NULL);
	CHECK(ccp_ccm_reader_next(&r, &m) == 1);
	CHECK(eq(m.subject, m.subject_len, "none"));
	ccp_ccm_buf_free(&out);
	ccp_ccm_msg_free(&m);
}

int main(void)
{
	test_subject_spaces();
	test_spool_ids();
	test_aligned_buffer();
	test_writer_hand_counts();
	test_reader_roundtrip();
	test_reader_fallbacks();
	test_blank_lines_after_messages();
	test_size_past_next_message();
	test_truncations();
	test_dates();
	puts("test_ccm: ok");
	return 0;
}

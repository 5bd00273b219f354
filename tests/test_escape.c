/* ccp_escape_controls(): what a name from outside may hold, shown on one
 * line that moves no cursor and shows its characters in their order. */
#include "check.h"
#include "ccpump/log.h"

/* SRC (LEN octets) escaped into a buffer of CAP octets must read WANT. */
static void expect(const char *src, size_t len, size_t cap, const char *want)
{
	char out[256];
	CHECK(cap <= sizeof(out));
	size_t n = ccp_escape_controls(out, cap, src, len);
	if (strcmp(out, want) != 0 || n != strlen(want)) {
		fprintf(stderr, "escaped %zu octets into %zu: got \"%s\" (%zu), want \"%s\"\n",
			len, cap, out, n, want);
		exit(1);
	}
}
#define EXPECT(lit, want) expect(lit, sizeof(lit) - 1, 256, want)

int main(void)
{
	/* Plain text and well-formed UTF-8 pass whole. */
	EXPECT("1764288000.M1P2.host", "1764288000.M1P2.host");
	EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7");
	/* C0 controls and DEL. */
	EXPECT("a\nb\033[31m\x7f", "a\\x0ab\\x1b[31m\\x7f");
	EXPECT("a\0b", "a\\x00b");
	/* C1 controls in UTF-8: U+009B (CSI), U+0085 (NEL). */
	EXPECT("x\xc2\x9b" "31mx\xc2\x85y", "x\\xc2\\x9b31mx\\xc2\\x85y");
	/* U+00A0 is the first character past them: kept. */
	EXPECT("\xc2\xa0", "\xc2\xa0");
	/* Bidirectional overrides and isolates, marks, separators. */
	EXPECT("ab\xe2\x80\xaetxt.exe", "ab\\xe2\\x80\\xaetxt.exe");
	EXPECT("\xe2\x81\xa6x\xe2\x81\xa9", "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9");
	EXPECT("\xe2\x80\x8f\xd8\x9c\xe2\x80\xa8", "\\xe2\\x80\\x8f\\xd8\\x9c\\xe2\\x80\\xa8");
	/* U+2027 and U+202F, either side of a range: kept. */
	EXPECT("\xe2\x80\xa7\xe2\x80\xaf", "\xe2\x80\xa7\xe2\x80\xaf");
	/* Octets of no well-formed sequence, each escaped alone: a raw 0x9B
	 * (CSI to an 8-bit terminal), Latin-1 text, a stray continuation, an
	 * overlong '/', a surrogate, past U+10FFFF, a sequence cut short. */
	EXPECT("\x9b" "31m", "\\x9b31m");
	EXPECT("caf\xe9", "caf\\xe9");
	EXPECT("\x80" "a", "\\x80a");
	EXPECT("\xc0\xaf", "\\xc0\\xaf");
	EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80");
	EXPECT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	EXPECT("\xe2\x82" "a", "\\xe2\\x82a");
	expect("\xe2\x82\xac", 2, 256, "\\xe2\\x82"); /* the third octet not given */
	/* The room: nothing is cut in the middle of a character or escape. */
	expect("ab\xe2\x82\xac", 5, 5, "ab");
	expect("ab\xe2\x82\xac", 5, 6, "ab\xe2\x82\xac");
	expect("a\n", 2, 5, "a");
	expect("a\n", 2, 6, "a\\x0a");
	expect("a\xc2\x9b", 3, 9, "a");
	expect("a\xc2\x9b", 3, 10, "a\\xc2\\x9b");
	char one[1] = { 'x' };
	CHECK(ccp_escape_controls(one, 1, "abc", 3) == 0 && one[0] == '\0');
	CHECK(ccp_escape_controls(one, 0, "abc", 3) == 0 && one[0] == '\0');
	puts("test_escape: ok");
	return 0;
}

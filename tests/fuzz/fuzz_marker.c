/*
 * fuzz_marker: a STORE/Delivered/ marker's text (queue.h), on any octets.
 * The marker is what keeps a delivered message whose spool file could not
 * be removed from being imported again, so its reading decides exactly
 * once: a text must be taken for the file it was written for, and for no
 * other.  The input is the marker's contents as ccp_queue_marker_read()
 * reads them (cut at the first NUL, at most CCP_QUEUE_MARKER_MAX - 1
 * octets).
 *
 * Checked against a plain restatement of the format, line by line:
 *
 *   ["failed\n"] ["dev " ANY "\n"] "ino " U64 "\n" "size " U64 "\n"
 *   "mtime_ns " I64 "\n" ["btime_ns " I64 "\n"] [REASON]
 *
 * each number written as the writer writes it (decimal, no sign but a
 * minus, no leading zero, in range; a birth time never INT64_MIN, which
 * stands for none), and REASON ("reason " and the rest) only after
 * "failed".  For a text of that form and its own stamp F: F itself is
 * DELIVERED (SENT_TO_BAD when failed, with the reason line's text up to
 * its newline, cut to the buffer); F with another size or mtime is
 * DELIVERED_CHANGED with the marker's stamp in WAS (SENT_TO_BAD when
 * failed); another inode, or both birth times known and different, is
 * STALE; a birth time on one side only does not matter.  Any other text is
 * STALE for every stamp, the one its numbers would give included.  A
 * reason never holds a newline and always ends inside its buffer.
 *
 * The same octets are read as a STORE/Deferred/ marker too, which a
 * restarted relay reads back for the attempts and age earlier runs spent
 * (ccp_queue_deferred_parse()), against a restatement by lines: the
 * first line "attempt" and a count (a larger one than
 * CCP_QUEUE_ATTEMPTS_MAX reads as that), or it is not a marker; the first
 * later "first" line a positive number in range, or none; the first later
 * "reason" line the reason.  And a marker written from the input (its
 * octets the reason, the count and time taken from them) reads back as
 * written: the reason up to its first newline, cut to the buffer at a
 * character, the text ending in its newline inside the buffer.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/log.h"
#include "ccpump/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of the digits from P to END (at least one, nothing else), as
 * both restatements read a number; a value past MAX is MAX, *OVER set. */
static bool digits_value(const char *p, const char *end, uint64_t max, uint64_t *v, bool *over)
{
	*v = 0;
	*over = false;
	if (p == end)
		return false;
	for (const char *q = p; q < end; q++) {
		if (*q < '0' || *q > '9')
			return false;
		/* Exact in 128 bits: no wrap to hide a large count. */
		unsigned __int128 w = (unsigned __int128)*v * 10 + (unsigned)(*q - '0');
		if (*over || w > max)
			*over = true;
		else
			*v = (uint64_t)w;
	}
	if (*over)
		*v = max;
	return true;
}

/* A decimal number as the writer prints it, at P up to a newline: no
 * sign but a minus where SIGNED, no leading zero, no "-0", in range of
 * uint64_t or int64_t.  Returns the octets after the newline, or NULL. */
static const char *number_line(const char *p, bool is_signed, uint64_t *u, int64_t *s)
{
	bool neg = is_signed && *p == '-';
	const char *d = p + neg, *e = strchr(d, '\n');
	uint64_t max = !is_signed ? UINT64_MAX : neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, v;
	bool over;
	if (e == NULL || !digits_value(d, e, max, &v, &over) || over || (e - d > 1 && *d == '0') ||
	    (neg && v == 0))
		return NULL;
	if (u)
		*u = v;
	if (s)
		*s = neg ? (int64_t)(0 - v) : (int64_t)v; /* two's complement, INT64_MIN included */
	return e + 1;
}

static const char *field(const char *p, const char *name)
{
	size_t n = strlen(name);
	return strncmp(p, name, n) == 0 ? p + n : NULL;
}

struct form {
	bool failed, has_reason;
	struct ccp_queue_stamp st;
	const char *reason; /* after "reason ", up to its newline or the end */
	size_t reason_len;
};

/* The restatement: true when TEXT has the form above, with *F filled. */
static bool restate(const char *text, struct form *f)
{
	memset(f, 0, sizeof(*f));
	f->st.btime_ns = CCP_QUEUE_BTIME_NONE;
	const char *p = text, *q;
	if ((q = field(p, "failed\n")) != NULL) {
		f->failed = true;
		p = q;
	}
	if ((q = field(p, "dev ")) != NULL) {
		const char *nl = strchr(q, '\n');
		p = nl ? nl + 1 : q + strlen(q);
	}
	if ((q = field(p, "ino ")) == NULL || (p = number_line(q, false, &f->st.ino, NULL)) == NULL)
		return false;
	if ((q = field(p, "size ")) == NULL || (p = number_line(q, false, &f->st.size, NULL)) == NULL)
		return false;
	if ((q = field(p, "mtime_ns ")) == NULL ||
	    (p = number_line(q, true, NULL, &f->st.mtime_ns)) == NULL)
		return false;
	if ((q = field(p, "btime_ns ")) != NULL) {
		int64_t b;
		const char *after = number_line(q, true, NULL, &b);
		if (after == NULL || b == CCP_QUEUE_BTIME_NONE)
			return false;
		f->st.btime_ns = b;
		p = after;
	}
	if (*p == '\0')
		return true;
	if (!f->failed || (q = field(p, "reason ")) == NULL)
		return false;
	f->has_reason = true;
	f->reason = q;
	f->reason_len = strcspn(q, "\n");
	return true;
}

static const char *verdict_name(enum ccp_queue_marker v)
{
	switch (v) {
	case CCP_QUEUE_MARKER_NONE: return "none";
	case CCP_QUEUE_MARKER_DELIVERED: return "delivered";
	case CCP_QUEUE_MARKER_DELIVERED_CHANGED: return "delivered, changed";
	case CCP_QUEUE_MARKER_SENT_TO_BAD: return "sent to Bad";
	case CCP_QUEUE_MARKER_STALE: return "stale";
	case CCP_QUEUE_MARKER_UNREADABLE: return "unreadable";
	}
	return "?";
}

static bool same_stamp(const struct ccp_queue_stamp *a, const struct ccp_queue_stamp *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->btime_ns == b->btime_ns;
}

/* Parses TEXT for stamp F with a reason buffer of CAP octets, checks the
 * reason's bounds, and returns the verdict (WAS, REASON filled). */
static enum ccp_queue_marker parse(const char *text, const struct ccp_queue_stamp *f,
				   struct ccp_queue_stamp *was, char *reason, size_t cap)
{
	/* Octets past the buffer's end are a canary: the reason must not
	 * reach them. */
	memset(reason, 'Z', CCP_QUEUE_MARKER_MAX + 1);
	memset(was, 0xa5, sizeof(*was));
	enum ccp_queue_marker v = ccp_queue_marker_parse(text, f, was, reason, cap);
	if (memchr(reason, '\0', cap) == NULL || reason[cap] != 'Z')
		ccp_panic("a reason that does not end inside its %zu-octet buffer", cap);
	if (strchr(reason, '\n'))
		ccp_panic("a reason with a newline");
	return v;
}

static void expect(const char *text, const struct ccp_queue_stamp *f, size_t cap,
		   enum ccp_queue_marker want, const struct form *form, const char *what)
{
	char reason[CCP_QUEUE_MARKER_MAX + 1];
	struct ccp_queue_stamp was;
	enum ccp_queue_marker v = parse(text, f, &was, reason, cap);
	if (v != want)
		ccp_panic("%s: %s, not %s, for the marker \"%s\"", what, verdict_name(v),
			  verdict_name(want), text);
	if (v == CCP_QUEUE_MARKER_DELIVERED_CHANGED && !same_stamp(&was, &form->st))
		ccp_panic("%s: the stamp it was is not the marker's", what);
	if (v == CCP_QUEUE_MARKER_SENT_TO_BAD) {
		size_t n = form->has_reason ? form->reason_len : 0;
		if (n > cap - 1)
			n = cap - 1;
		if (strlen(reason) != n || memcmp(reason, form->reason ? form->reason : "", n) != 0)
			ccp_panic("%s: the reason \"%s\" is not the marker's", what, reason);
	} else if (reason[0] != '\0') {
		ccp_panic("%s: a reason given with %s", what, verdict_name(v));
	}
}

static void check_deferred_read(const char *text)
{
	/* The restatement, line by line. */
	bool ours = false, have_first = false, have_reason = false;
	unsigned attempt = 0;
	int64_t first = 0;
	const char *reason = NULL;
	size_t reason_len = 0;
	const char *line = text;
	for (unsigned i = 0;; i++) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		uint64_t v;
		bool over;
		if (i == 0) {
			if (strncmp(line, "attempt ", 8) != 0 ||
			    !digits_value(line + 8, end, CCP_QUEUE_ATTEMPTS_MAX, &v, &over))
				break;
			ours = true;
			attempt = (unsigned)v;
		} else if (!have_first && strncmp(line, "first ", 6) == 0) {
			have_first = true;
			if (digits_value(line + 6, end, INT64_MAX, &v, &over) && !over)
				first = (int64_t)v;
		} else if (!have_reason && strncmp(line, "reason ", 7) == 0) {
			have_reason = true;
			reason = line + 7;
			reason_len = (size_t)(end - reason);
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	struct ccp_queue_deferred d;
	memset(&d, 0xa5, sizeof(d));
	bool got = ccp_queue_deferred_parse(text, &d);
	if (got != ours)
		ccp_panic("deferred: \"%s\" read as %s", text, got ? "a marker" : "not one");
	if (!got)
		return;
	if (d.attempt != attempt || d.first != first)
		ccp_panic("deferred: \"%s\": attempt %u first %" PRId64 ", not %u and %" PRId64,
			  text, d.attempt, d.first, attempt, first);
	if (d.reason != reason || (reason && d.reason_len != reason_len))
		ccp_panic("deferred: \"%s\": not its reason line", text);
}

static void check_deferred_write(const char *text, size_t size, const uint8_t *data)
{
	/* The count and time from the input's first octets, the reason the
	 * text itself (any octets up to its NUL). */
	uint32_t a = 0;
	int64_t first = 0;
	memcpy(&a, data, size < sizeof(a) ? size : sizeof(a));
	if (size > sizeof(a))
		memcpy(&first, data + sizeof(a),
		       size - sizeof(a) < sizeof(first) ? size - sizeof(a) : sizeof(first));
	char buf[CCP_QUEUE_DEFERRED_MAX + 1];
	size_t caps[] = { CCP_QUEUE_DEFERRED_MAX, 128 };
	for (size_t c = 0; c < 2; c++) {
		size_t cap = caps[c];
		buf[cap] = 'Z'; /* a canary past the buffer */
		size_t n = ccp_queue_deferred_text(buf, cap, a, first, c ? "75" : "none", text);
		if (n >= cap || buf[cap] != 'Z' || strlen(buf) != n || buf[n - 1] != '\n')
			ccp_panic("deferred: a written marker not ended in its buffer");
		struct ccp_queue_deferred d;
		if (!ccp_queue_deferred_parse(buf, &d))
			ccp_panic("deferred: a written marker not read as one: \"%s\"", buf);
		unsigned want_a = a > CCP_QUEUE_ATTEMPTS_MAX ? CCP_QUEUE_ATTEMPTS_MAX : a;
		if (d.attempt != want_a || d.first != (first > 0 ? first : 0))
			ccp_panic("deferred: written attempt %u first %" PRId64
				  ", read back %u and %" PRId64, a, first, d.attempt, d.first);
		size_t line = strcspn(text, "\n");
		if (d.reason == NULL || d.reason_len > line ||
		    memcmp(d.reason, text, d.reason_len) != 0)
			ccp_panic("deferred: the reason read back is not the one written");
		/* Whole where it fits; else cut to the room, or up to three
		 * octets short of it, before a UTF-8 lead octet, so as not to
		 * split a character. */
		size_t room = cap - (size_t)(d.reason - buf) - 2, k = d.reason_len;
		if (line <= room ? k != line
				 : k > room || k + 3 < room ||
					   (k < room && (unsigned char)text[k] < 0xc0))
			ccp_panic("deferred: a reason of %zu octets written as %zu in a room of %zu",
				  line, k, room);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[CCP_QUEUE_MARKER_MAX];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	/* A buffer as large as the marker, and one that cuts a reason short. */
	size_t caps[] = { CCP_QUEUE_MARKER_MAX, 1 + (size % 16) };

	check_deferred_read(text);
	check_deferred_write(text, size, data);

	struct form form;
	if (!restate(text, &form)) {
		/* No stamp is its file: not the zero one, and not the one the
		 * numbers after "ino", "size" and "mtime_ns" would give read
		 * leniently. */
		struct ccp_queue_stamp f = { .btime_ns = CCP_QUEUE_BTIME_NONE };
		const char *p;
		for (int i = 0; i < 2; i++) {
			if (i == 1) {
				if ((p = strstr(text, "ino ")) != NULL)
					f.ino = strtoull(p + 4, NULL, 10);
				if ((p = strstr(text, "size ")) != NULL)
					f.size = strtoull(p + 5, NULL, 10);
				if ((p = strstr(text, "mtime_ns ")) != NULL)
					f.mtime_ns = strtoll(p + 9, NULL, 10);
			}
			for (size_t c = 0; c < 2; c++)
				expect(text, &f, caps[c], CCP_QUEUE_MARKER_STALE, &form,
				       "a text not of the form");
		}
		return 0;
	}
	enum ccp_queue_marker same = form.failed ? CCP_QUEUE_MARKER_SENT_TO_BAD
						 : CCP_QUEUE_MARKER_DELIVERED;
	enum ccp_queue_marker moved = form.failed ? CCP_QUEUE_MARKER_SENT_TO_BAD
						  : CCP_QUEUE_MARKER_DELIVERED_CHANGED;
	for (size_t c = 0; c < 2; c++) {
		struct ccp_queue_stamp f = form.st;
		expect(text, &f, caps[c], same, &form, "its own file");
		f.size++;
		expect(text, &f, caps[c], moved, &form, "its file grown");
		f = form.st;
		f.mtime_ns ^= 1;
		expect(text, &f, caps[c], moved, &form, "its file touched");
		f = form.st;
		f.ino++;
		expect(text, &f, caps[c], CCP_QUEUE_MARKER_STALE, &form, "another inode");
		f = form.st;
		if (form.st.btime_ns != CCP_QUEUE_BTIME_NONE) {
			/* Another birth time, never INT64_MIN (none). */
			f.btime_ns += f.btime_ns == INT64_MAX ? -1 : 1;
			expect(text, &f, caps[c], CCP_QUEUE_MARKER_STALE, &form,
			       "the inode's number given to a newer file");
			f.btime_ns = CCP_QUEUE_BTIME_NONE;
			expect(text, &f, caps[c], same, &form, "a file system without birth times");
		} else {
			f.btime_ns = 1764288000000000000;
			expect(text, &f, caps[c], same, &form, "a marker without a birth time");
		}
	}
	/* The writer's stamp for F reads back as F (the text's own stamp
	 * lines, written again, are what it holds after its "dev" line). */
	char again[160];
	int w = ccp_queue_marker_stamp(again, sizeof(again), &form.st);
	if (w <= 0 || (size_t)w >= sizeof(again) || strstr(text, again) == NULL)
		ccp_panic("the stamp written again is not in the marker \"%s\"", text);
	return 0;
}

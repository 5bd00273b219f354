/*
 * ccm.c: the cc:Mail Import file writer and its strict streaming reader.
 *
 * HOW SIZES WORK (docs/ccmail-format.md §3).  With /ITEMSIZE every
 * "Message:", "Contents:" and item keyword line is followed by a decimal size
 * line.  An item's size counts the octets after its size line up to the next
 * keyword line (for text, every CRLF included); Contents counts all items,
 * their keyword and size lines included; Message counts everything after its
 * own size line to the end of the message.  The writer computes them in one
 * pass over lengths before it writes a byte.
 *
 * The reader trusts a size only when the jump lands where the grammar says a
 * new element starts (end of input, a "Message:" line, an "x item:" line);
 * otherwise it falls back to keyword scanning and counts a warning.  Binary
 * File items cannot be scanned, so a bad size there fails the message.  Every
 * access is bounded by r->end; the fuzz target (tests/fuzz) holds us to that.
 */
#include "ccpump/ccm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"

/* ---- buffer ---------------------------------------------------------------- */

void ccp_ccm_buf_init(struct ccp_ccm_buf *b)
{
	b->data = NULL;
	b->len = b->cap = b->align = 0;
}

void ccp_ccm_buf_init_aligned(struct ccp_ccm_buf *b, size_t align)
{
	CCP_ASSERT(align && (align & (align - 1)) == 0);
	ccp_ccm_buf_init(b);
	b->align = align;
}

void ccp_ccm_buf_free(struct ccp_ccm_buf *b)
{
	size_t align = b->align;
	ccp_free(b->data);
	ccp_ccm_buf_init(b);
	b->align = align;
}

void ccp_ccm_buf_reserve(struct ccp_ccm_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	CCP_ASSERT(need > b->len); /* no wrap-around */
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (b->align) {
		char *d = ccp_aligned_alloc(b->align, cap);
		if (b->data)
			memcpy(d, b->data, b->len + 1);
		ccp_free(b->data);
		b->data = d;
	} else {
		b->data = ccp_realloc(b->data, cap);
	}
	b->cap = cap;
}

void ccp_ccm_buf_add(struct ccp_ccm_buf *b, const void *p, size_t n)
{
	ccp_ccm_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void ccp_ccm_buf_adds(struct ccp_ccm_buf *b, const char *s)
{
	ccp_ccm_buf_add(b, s, strlen(s));
}

void ccp_ccm_buf_printf(struct ccp_ccm_buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	CCP_ASSERT(n >= 0);
	if ((size_t)n < sizeof(tmp)) {
		ccp_ccm_buf_add(b, tmp, (size_t)n);
		return;
	}
	ccp_ccm_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int ccp_ccm_buf_read_fd(struct ccp_ccm_buf *b, int fd)
{
	char tmp[65536];
	ssize_t r;
	while ((r = read(fd, tmp, sizeof(tmp))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ccp_ccm_buf_add(b, tmp, (size_t)r);
	}
	return 0;
}

int ccp_ccm_buf_read_at(struct ccp_ccm_buf *b, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int rc = ccp_ccm_buf_read_fd(b, fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* ---- message ----------------------------------------------------------------- */

void ccp_ccm_msg_init(struct ccp_ccm_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void ccp_ccm_msg_clear(struct ccp_ccm_msg *m)
{
	struct ccp_ccm_rcpt *rcpt = m->rcpt;
	struct ccp_ccm_ext *ext = m->ext;
	struct ccp_ccm_item *item = m->item;
	size_t rc = m->rcpt_cap, ec = m->ext_cap, ic = m->item_cap;

	memset(m, 0, sizeof(*m));
	m->rcpt = rcpt;
	m->rcpt_cap = rc;
	m->ext = ext;
	m->ext_cap = ec;
	m->item = item;
	m->item_cap = ic;
}

void ccp_ccm_msg_free(struct ccp_ccm_msg *m)
{
	ccp_free(m->rcpt);
	ccp_free(m->ext);
	ccp_free(m->item);
	memset(m, 0, sizeof(*m));
}

static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 8;
	return ccp_realloc(arr, *cap * elem);
}

void ccp_ccm_msg_add_rcpt(struct ccp_ccm_msg *m, enum ccp_ccm_rcpt_kind kind,
			  const char *addr, size_t len)
{
	m->rcpt = grow(m->rcpt, &m->rcpt_cap, m->nrcpt, sizeof(*m->rcpt));
	m->rcpt[m->nrcpt++] = (struct ccp_ccm_rcpt){ kind, addr, len };
}

size_t ccp_ccm_rcpt_norm(char *out, const char *s, size_t n)
{
	size_t len = 0;
	bool sp = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t') {
			sp = len > 0;
			continue;
		}
		if (sp)
			out[len++] = ' ';
		sp = false;
		out[len++] = (char)((unsigned)(c - 'A') < 26u ? c + ('a' - 'A') : c);
	}
	return len;
}

void ccp_ccm_msg_add_ext(struct ccp_ccm_msg *m, const char *name, const char *value,
			 size_t value_len)
{
	m->ext = grow(m->ext, &m->ext_cap, m->next, sizeof(*m->ext));
	m->ext[m->next++] = (struct ccp_ccm_ext){ name, strlen(name), value, value_len };
}

/* Octets a spool id carries as they are (ccm.h). */
static inline bool spool_id_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '%';
}

static const char HEX[] = "0123456789ABCDEF";

void ccp_ccm_spool_id_add(struct ccp_ccm_buf *out, const char *name, size_t len)
{
	ccp_ccm_buf_reserve(out, 3 * len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (spool_id_plain(c)) {
			out->data[out->len++] = (char)c;
		} else {
			out->data[out->len++] = '%';
			out->data[out->len++] = HEX[c >> 4];
			out->data[out->len++] = HEX[c & 15];
		}
	}
	out->data[out->len] = '\0';
}

bool ccp_ccm_spool_id_is(const char *id, size_t id_len, const char *name, size_t name_len)
{
	size_t j = 0;
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (spool_id_plain(c)) {
			if (j >= id_len || id[j] != (char)c)
				return false;
			j++;
		} else {
			if (id_len - j < 3 || id[j] != '%' || id[j + 1] != HEX[c >> 4] ||
			    id[j + 2] != HEX[c & 15])
				return false;
			j += 3;
		}
	}
	return j == id_len;
}

struct ccp_ccm_item *ccp_ccm_msg_add_item(struct ccp_ccm_msg *m, enum ccp_ccm_item_kind kind)
{
	m->item = grow(m->item, &m->item_cap, m->nitem, sizeof(*m->item));
	struct ccp_ccm_item *it = &m->item[m->nitem++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->title = it->stamp = "";
	return it;
}

const struct ccp_ccm_ext *ccp_ccm_msg_ext(const struct ccp_ccm_msg *m, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < m->next; i++)
		if (m->ext[i].name_len == n && strncasecmp(m->ext[i].name, name, n) == 0)
			return &m->ext[i];
	return NULL;
}

static const char *const rcpt_kw[] = { "To: ", "Cc: ", "Bcc: " };

size_t ccp_ccm_addr_bytes(const struct ccp_ccm_msg *m)
{
	size_t n = 6 + m->from_len + 2;
	for (size_t i = 0; i < m->nrcpt; i++)
		n += strlen(rcpt_kw[m->rcpt[i].kind]) + m->rcpt[i].addr_len + 2;
	return n;
}

/* ---- writer ------------------------------------------------------------------ */

static size_t ndigits(size_t v)
{
	size_t n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static bool has_crlf(const char *s, size_t n)
{
	return n && (memchr(s, '\r', n) || memchr(s, '\n', n));
}

/* The keyword line of an item, without its CRLF, into b (or only its length). */
static size_t item_line(const struct ccp_ccm_item *it, struct ccp_ccm_buf *b)
{
	size_t n;
	switch (it->kind) {
	case CCP_CCM_ITEM_TEXT:
		n = 10 + (it->title_len ? 1 + it->title_len : 0);
		if (b) {
			ccp_ccm_buf_add(b, "Text item:", 10);
			if (it->title_len) {
				ccp_ccm_buf_addc(b, ' ');
				ccp_ccm_buf_add(b, it->title, it->title_len);
			}
		}
		return n;
	case CCP_CCM_ITEM_FILE:
		n = 11 + it->title_len + (it->stamp_len ? 1 + it->stamp_len : 0);
		if (b) {
			ccp_ccm_buf_add(b, "File item: ", 11);
			ccp_ccm_buf_add(b, it->title, it->title_len);
			if (it->stamp_len) {
				ccp_ccm_buf_addc(b, ' ');
				ccp_ccm_buf_add(b, it->stamp, it->stamp_len);
			}
		}
		return n;
	case CCP_CCM_ITEM_OTHER:
		n = it->keyword_len + 6 + (it->title_len ? 1 + it->title_len : 0);
		if (b) {
			ccp_ccm_buf_add(b, it->keyword, it->keyword_len);
			ccp_ccm_buf_add(b, " item:", 6);
			if (it->title_len) {
				ccp_ccm_buf_addc(b, ' ');
				ccp_ccm_buf_add(b, it->title, it->title_len);
			}
		}
		return n;
	}
	ccp_panic("bad item kind %d", (int)it->kind);
}

static void add_line(struct ccp_ccm_buf *b, const char *kw, const char *v, size_t n)
{
	ccp_ccm_buf_adds(b, kw);
	ccp_ccm_buf_add(b, v, n);
	ccp_ccm_buf_add(b, "\r\n", 2);
}

static void add_size(struct ccp_ccm_buf *b, size_t v)
{
	ccp_ccm_buf_printf(b, "%zu\r\n", v);
}

static bool name_is(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* Names an extension line may not take: the reader would read them as
 * the lines they name. */
static const char *const reserved[] = { "From", "Date", "To", "Cc", "Bcc", "Subject",
					"Contents", "Message" };

static int check_msg(const struct ccp_ccm_msg *m)
{
	if (m->from == NULL || m->date == NULL || has_crlf(m->from, m->from_len) ||
	    has_crlf(m->date, m->date_len) ||
	    (m->subject && has_crlf(m->subject, m->subject_len)))
		return -EINVAL;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (has_crlf(m->rcpt[i].addr, m->rcpt[i].addr_len))
			return -EINVAL;
	for (size_t i = 0; i < m->next; i++) {
		const struct ccp_ccm_ext *e = &m->ext[i];
		for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (name_is(e->name, e->name_len, reserved[k]))
				return -EINVAL;
		if (e->name_len == 0 || memchr(e->name, ':', e->name_len) ||
		    memchr(e->name, ' ', e->name_len) || memchr(e->name, '\t', e->name_len) ||
		    has_crlf(e->name, e->name_len) ||
		    has_crlf(e->value, e->value_len))
			return -EINVAL;
	}
	for (size_t i = 0; i < m->nitem; i++) {
		const struct ccp_ccm_item *it = &m->item[i];
		if (has_crlf(it->title, it->title_len) || has_crlf(it->stamp, it->stamp_len) ||
		    (it->kind == CCP_CCM_ITEM_FILE && it->title_len == 0) ||
		    (it->kind == CCP_CCM_ITEM_OTHER && it->keyword_len == 0))
			return -EINVAL;
	}
	return 0;
}

int ccp_ccm_write(struct ccp_ccm_buf *out, const struct ccp_ccm_msg *m)
{
	if (check_msg(m) != 0)
		return -EINVAL;

	/* Pass 1: lengths only. */
	size_t contents = 0;
	for (size_t i = 0; i < m->nitem; i++) {
		const struct ccp_ccm_item *it = &m->item[i];
		contents += item_line(it, NULL) + 2 + ndigits(it->len) + 2 + it->len;
	}
	size_t body = ccp_ccm_addr_bytes(m) + 6 + m->date_len + 2;
	if (m->subject)
		body += 9 + m->subject_len + 2;
	for (size_t i = 0; i < m->next; i++)
		body += m->ext[i].name_len + 2 + m->ext[i].value_len + 2;
	body += 11 + ndigits(contents) + 2 + contents;

	/* Pass 2: the octets. */
	size_t start = out->len;
	ccp_ccm_buf_reserve(out, 10 + ndigits(body) + 2 + body);
	ccp_ccm_buf_add(out, "Message:\r\n", 10);
	add_size(out, body);
	size_t body_start = out->len;
	add_line(out, "From: ", m->from, m->from_len);
	add_line(out, "Date: ", m->date, m->date_len);
	for (size_t i = 0; i < m->nrcpt; i++)
		add_line(out, rcpt_kw[m->rcpt[i].kind], m->rcpt[i].addr, m->rcpt[i].addr_len);
	if (m->subject)
		add_line(out, "Subject: ", m->subject, m->subject_len);
	for (size_t i = 0; i < m->next; i++) {
		ccp_ccm_buf_add(out, m->ext[i].name, m->ext[i].name_len);
		add_line(out, ": ", m->ext[i].value, m->ext[i].value_len);
	}
	ccp_ccm_buf_add(out, "Contents:\r\n", 11);
	add_size(out, contents);
	for (size_t i = 0; i < m->nitem; i++) {
		const struct ccp_ccm_item *it = &m->item[i];
		item_line(it, out);
		ccp_ccm_buf_add(out, "\r\n", 2);
		add_size(out, it->len);
		ccp_ccm_buf_add(out, it->data, it->len);
	}
	/* The two passes must agree, or every size we wrote is a lie. */
	CCP_ASSERT(out->len - body_start == body);
	(void)start;
	return 0;
}

/* ---- dates ------------------------------------------------------------------- */

size_t ccp_ccm_format_date(char *buf, size_t cap, const struct tm *tm)
{
	int n = snprintf(buf, cap, "%d/%d/%02d %d:%02d", tm->tm_mon + 1, tm->tm_mday,
			 ((tm->tm_year % 100) + 100) % 100, tm->tm_hour, tm->tm_min);
	CCP_ASSERT(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

size_t ccp_ccm_format_stamp(char *buf, size_t cap, const struct tm *tm)
{
	int h = tm->tm_hour % 12;
	int n = snprintf(buf, cap, "%d/%d/%02d %d:%02d%s", tm->tm_mon + 1, tm->tm_mday,
			 ((tm->tm_year % 100) + 100) % 100, h ? h : 12, tm->tm_min,
			 tm->tm_hour < 12 ? "AM" : "PM");
	CCP_ASSERT(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* Reads 1..max digits at *p (bounded by end) into *v. */
static bool digits(const char **p, const char *end, int max, int *v, int *count)
{
	int n = 0, x = 0;
	while (*p < end && n < max && isdigit((unsigned char)**p)) {
		x = x * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*v = x;
	if (count)
		*count = n;
	return n > 0 && !(*p < end && isdigit((unsigned char)**p));
}

bool ccp_ccm_parse_date(const char *s, size_t len, struct tm *tm)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s, *end = s + len;
	int mon, day, year, hour, min, ny, nm;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!digits(&p, end, 2, &mon, NULL) || p >= end || *p++ != '/' ||
	    !digits(&p, end, 2, &day, NULL) || p >= end || *p++ != '/' ||
	    !digits(&p, end, 4, &year, &ny) || (ny != 2 && ny != 4))
		return false;
	if (p >= end || *p != ' ')
		return false;
	while (p < end && *p == ' ')
		p++;
	if (!digits(&p, end, 2, &hour, NULL) || p >= end || *p++ != ':' ||
	    !digits(&p, end, 2, &min, &nm) || nm != 2)
		return false;
	if (end - p == 2 && (p[1] == 'M' || p[1] == 'm') && strchr("AaPp", p[0])) {
		if (hour < 1 || hour > 12)
			return false;
		hour = hour % 12 + ((p[0] == 'P' || p[0] == 'p') ? 12 : 0);
		p += 2;
	}
	if (p != end)
		return false;
	if (ny == 2)
		year += year < 70 ? 2000 : 1900;
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59)
		return false;
	if (mon == 2 && day == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return false;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = year - 1900;
	tm->tm_mon = mon - 1;
	tm->tm_mday = day;
	tm->tm_hour = hour;
	tm->tm_min = min;
	tm->tm_isdst = -1;
	return true;
}

/* ---- reader ------------------------------------------------------------------ */

void ccp_ccm_reader_init(struct ccp_ccm_reader *r, const void *data, size_t len,
			 const char *name)
{
	memset(r, 0, sizeof(*r));
	r->data = r->p = data;
	r->end = r->data + len;
	r->name = name ? name : "(input)";
	r->line = 1;
}

/* The line at p: returns the start of the next line; *ce is where its
 * content ends (before CR LF). */
static const char *next_line(const char *p, const char *end, const char **ce)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	if (e > p && e[-1] == '\r')
		e--;
	*ce = e;
	return nl ? nl + 1 : end;
}

/* Does the line at p consist of WORD (case-insensitive) and nothing else? */
static bool line_is(const char *p, const char *end, const char *word)
{
	CCP_ASSERT(p <= end); /* else end - p below is a huge length */
	size_t n = strlen(word);
	if ((size_t)(end - p) < n || strncasecmp(p, word, n) != 0)
		return false;
	p += n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end || *p == '\r' || *p == '\n';
}

static bool kw_message(const char *p, const char *end)
{
	return line_is(p, end, "Message:");
}

/* "<letters> item:" at p; *kwlen gets the length of the letters. */
static bool kw_item(const char *p, const char *end, size_t *kwlen)
{
	CCP_ASSERT(p <= end);
	const char *q = p;
	while (q < end && isalpha((unsigned char)*q))
		q++;
	if (q == p || (size_t)(end - q) < 6 || strncasecmp(q, " item:", 6) != 0)
		return false;
	if (kwlen)
		*kwlen = (size_t)(q - p);
	return true;
}

/* Past the blank lines (nothing but spaces and tabs) from p on: the
 * grammar's *blank-line, which may follow any message. */
static const char *past_blank_lines(const char *p, const char *end)
{
	while (p < end) {
		const char *ce, *next = next_line(p, end, &ce), *s = p;
		while (s < ce && (*s == ' ' || *s == '\t'))
			s++;
		if (s != ce)
			break;
		p = next;
	}
	return p;
}

/* Does a message end at p: only blank lines before the end of the input,
 * or before the next "Message:" line? */
static bool message_ends_at(const char *p, const char *end)
{
	p = past_blank_lines(p, end);
	return p == end || kw_message(p, end);
}

static void advance_to(struct ccp_ccm_reader *r, const char *q)
{
	CCP_ASSERT(q >= r->p && q <= r->end);
	for (const char *s = r->p; s < q;) {
		const char *nl = memchr(s, '\n', (size_t)(q - s));
		if (!nl)
			break;
		r->line++;
		s = nl + 1;
	}
	r->p = q;
}

enum size_state { SIZE_OK, SIZE_BLANK, SIZE_ABSENT };

/* Reads a size line at r->p, within LIMIT (the end of the input, or of
 * the message where its own size is known: a line that runs past it is
 * cut there, never read into the next message).  Consumes it unless it is
 * ABSENT. */
static enum size_state read_size(struct ccp_ccm_reader *r, const char *limit, size_t *v)
{
	if (r->p >= limit)
		return SIZE_ABSENT;
	const char *ce, *next = next_line(r->p, limit, &ce), *s = r->p;
	size_t x = 0;
	int n = 0;

	while (s < ce && (*s == ' ' || *s == '\t'))
		s++;
	const char *d = s;
	while (s < ce && isdigit((unsigned char)*s)) {
		if (x > (SIZE_MAX - 9) / 10)
			x = SIZE_MAX; /* saturate: it will not fit anyway */
		else
			x = x * 10 + (size_t)(*s - '0');
		s++;
		n++;
	}
	while (s < ce && (*s == ' ' || *s == '\t'))
		s++;
	if (s != ce)
		return SIZE_ABSENT; /* not a size line: a file without /ITEMSIZE */
	advance_to(r, next);
	if (s == d || n == 0)
		return SIZE_BLANK; /* spaces where the size belongs (KB Q287056) */
	*v = x;
	return SIZE_OK;
}

/* "NAME: line N: reason" into r->error.  The reason is kept whole: where
 * the three do not fit, the name gives way, its start cut and marked
 * "...", since a long path cut the reason, the part that says what is
 * wrong, in the log, the .und file and the sender's report. */
__attribute__((format(printf, 3, 4)))
static int fail(struct ccp_ccm_reader *r, unsigned line, const char *fmt, ...)
{
	char why[256], at[32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(at, sizeof(at), ": line %u: ", line);
	size_t name = strlen(r->name), atlen = strlen(at), whylen = strlen(why);
	size_t room = sizeof(r->error) - 1 - atlen - whylen; /* why and at leave room */
	char *e = r->error;
	if (name > room) {
		memcpy(e, "...", 3);
		e += 3;
		memcpy(e, r->name + name - (room - 3), room - 3);
		e += room - 3;
	} else {
		memcpy(e, r->name, name);
		e += name;
	}
	memcpy(e, at, atlen);
	memcpy(e + atlen, why, whylen + 1);
	r->error_line = line;
	return -1;
}

/* Splits "NAME M/D/YY H:MMAM" into name and stamp (the stamp is optional). */
static void split_stamp(struct ccp_ccm_item *it, const char *s, const char *e)
{
	struct tm tm;
	it->title = s;
	it->title_len = (size_t)(e - s);
	/* The stamp is the last two space-separated words, when they parse. */
	const char *sp2 = NULL, *sp1 = NULL;
	for (const char *q = e; q > s; q--) {
		if (q[-1] == ' ') {
			if (!sp2)
				sp2 = q - 1;
			else {
				sp1 = q - 1;
				break;
			}
		}
	}
	if (sp1 && sp1 > s && ccp_ccm_parse_date(sp1 + 1, (size_t)(e - sp1 - 1), &tm)) {
		it->title_len = (size_t)(sp1 - s);
		it->stamp = sp1 + 1;
		it->stamp_len = (size_t)(e - sp1 - 1);
	}
}

/*
 * One message from r->p, a "Message:" line.  With trust_size its size,
 * when it lands at the end or on a "Message:" line, bounds the message
 * (*msg_end); without, the size is read and passed over, and the message
 * runs to the next "Message:" line, as when the size is bad.
 */
static int parse_message(struct ccp_ccm_reader *r, struct ccp_ccm_msg *m, const char **msg_end,
			 bool trust_size)
{
	const char *ce, *next;
	size_t v = 0;
	unsigned mline = r->line;

	*msg_end = NULL;
	advance_to(r, next_line(r->p, r->end, &ce)); /* "Message:" */
	if (read_size(r, r->end, &v) == SIZE_OK) {
		const char *body = r->p;
		if (trust_size && v <= (size_t)(r->end - body) && message_ends_at(body + v, r->end))
			*msg_end = body + v;
		else
			m->warnings++;
	}
	const char *limit = *msg_end ? *msg_end : r->end;

	/* Header lines up to "Contents:". */
	bool contents = false;
	while (r->p < limit) {
		unsigned ln = r->line;
		next = next_line(r->p, limit, &ce);
		if (line_is(r->p, ce, "Contents:")) {
			advance_to(r, next);
			contents = true;
			break;
		}
		if (kw_message(r->p, ce) || kw_item(r->p, ce, NULL))
			break;
		if (memchr(r->p, '\r', (size_t)(ce - r->p)))
			return fail(r, ln, "stray CR inside a header line");
		const char *colon = memchr(r->p, ':', (size_t)(ce - r->p));
		if (!colon || colon == r->p || memchr(r->p, ' ', (size_t)(colon - r->p)) ||
		    memchr(r->p, '\t', (size_t)(colon - r->p)))
			return fail(r, ln, "not a header line (expected 'Name: value')");
		const char *name = r->p, *val = colon + 1;
		size_t nlen = (size_t)(colon - r->p);
		/* The Subject is text a person reads: after the one space of
		 * "Subject: " its spaces are its own, and a stored copy keeps
		 * them.  Other values are addresses, a date and identifiers
		 * (X-Spool-Id: the message's key), read without leading spaces,
		 * as every earlier reading of a hand-written file took them. */
		if (name_is(name, nlen, "Subject"))
			val += val < ce && *val == ' ';
		else
			while (val < ce && *val == ' ')
				val++;
		size_t vlen = (size_t)(ce - val);
		if (name_is(name, nlen, "From")) {
			if (m->from)
				return fail(r, ln, "second From line");
			m->from = val;
			m->from_len = vlen;
		} else if (name_is(name, nlen, "Date")) {
			if (m->date)
				return fail(r, ln, "second Date line");
			m->date = val;
			m->date_len = vlen;
		} else if (name_is(name, nlen, "To")) {
			ccp_ccm_msg_add_rcpt(m, CCP_CCM_TO, val, vlen);
		} else if (name_is(name, nlen, "Cc")) {
			ccp_ccm_msg_add_rcpt(m, CCP_CCM_CC, val, vlen);
		} else if (name_is(name, nlen, "Bcc")) {
			ccp_ccm_msg_add_rcpt(m, CCP_CCM_BCC, val, vlen);
		} else if (name_is(name, nlen, "Subject")) {
			if (m->subject)
				return fail(r, ln, "second Subject line");
			m->subject = val;
			m->subject_len = vlen;
		} else if (name_is(name, nlen, "Contents") || name_is(name, nlen, "Message")) {
			return fail(r, ln, "'%.*s:' takes no value", (int)nlen, name);
		} else {
			m->ext = grow(m->ext, &m->ext_cap, m->next, sizeof(*m->ext));
			m->ext[m->next++] = (struct ccp_ccm_ext){ name, nlen, val, vlen };
		}
		advance_to(r, next);
	}
	if (!contents)
		return fail(r, r->line, "no 'Contents:' line (it is mandatory, KB Q234745)");
	if (!m->from)
		return fail(r, mline, "message has no From line");
	if (!m->date)
		return fail(r, mline, "message has no Date line");

	size_t csize = 0;
	bool csize_ok = read_size(r, limit, &csize) == SIZE_OK;
	const char *items = r->p, *items_end = NULL;

	while (r->p < limit) {
		unsigned ln = r->line;
		size_t kwlen = 0;
		/* The items end where blank lines alone stand before the
		 * message's end (or the next message, its size unknown): left to
		 * ccp_ccm_reader_next(), or passed when the size counts them. */
		const char *after = past_blank_lines(r->p, limit);
		if (after == limit || (!*msg_end && kw_message(after, limit))) {
			items_end = r->p;
			if (*msg_end)
				advance_to(r, after);
			break;
		}
		next = next_line(r->p, limit, &ce);
		if (!kw_item(r->p, ce, &kwlen))
			return fail(r, ln, "expected an item ('Text item:', 'File item:')");
		if (memchr(r->p, '\r', (size_t)(ce - r->p)))
			return fail(r, ln, "stray CR inside an item line");
		const char *rest = r->p + kwlen + 6;
		while (rest < ce && *rest == ' ')
			rest++;
		struct ccp_ccm_item *it;
		if (name_is(r->p, kwlen, "Text")) {
			it = ccp_ccm_msg_add_item(m, CCP_CCM_ITEM_TEXT);
			it->title = rest;
			it->title_len = (size_t)(ce - rest);
		} else if (name_is(r->p, kwlen, "File")) {
			it = ccp_ccm_msg_add_item(m, CCP_CCM_ITEM_FILE);
			split_stamp(it, rest, ce);
			if (it->title_len == 0)
				return fail(r, ln, "File item without a file name");
		} else {
			it = ccp_ccm_msg_add_item(m, CCP_CCM_ITEM_OTHER);
			it->keyword = r->p;
			it->keyword_len = kwlen;
			it->title = rest;
			it->title_len = (size_t)(ce - rest);
		}
		advance_to(r, next);
		enum size_state st = read_size(r, limit, &v);
		const char *data = r->p, *land = NULL;
		if (st == SIZE_OK && v <= (size_t)(limit - data)) {
			/* Binary data need not end in CRLF: the size ends it, and
			 * the next keyword follows at once. */
			const char *q = data + v;
			if (kw_item(q, limit, NULL) || message_ends_at(q, limit))
				land = q;
		}
		if (!land) {
			if (it->kind != CCP_CCM_ITEM_TEXT)
				return fail(r, ln, "%s item size %s does not fit; binary data "
					    "cannot be scanned for the next keyword",
					    it->kind == CCP_CCM_ITEM_FILE ? "File" : "other",
					    st == SIZE_OK ? "line" : "missing");
			/* Keyword scan: the text runs to the next keyword line. */
			m->warnings++;
			const char *q = data;
			while (q < limit && !kw_item(q, limit, NULL) &&
			       !(!*msg_end && kw_message(q, limit)))
				q = next_line(q, limit, &ce);
			land = q;
		}
		it->data = (const uint8_t *)data;
		it->len = (size_t)(land - data);
		advance_to(r, land);
		if (land > data && land[-1] != '\n' && land < limit)
			r->line++; /* the keyword after unterminated data starts a line */
	}
	if (!items_end)
		items_end = r->p;
	if (csize_ok && csize != (size_t)(items_end - items))
		m->warnings++;
	if (*msg_end && r->p != *msg_end)
		return fail(r, r->line, "message ends before its size says");
	return 0;
}

int ccp_ccm_reader_next(struct ccp_ccm_reader *r, struct ccp_ccm_msg *m)
{
	const char *ce, *msg_end = NULL;

	ccp_ccm_msg_clear(m);
	r->error[0] = '\0';
	/* Blank lines between messages carry nothing. */
	advance_to(r, past_blank_lines(r->p, r->end));
	if (r->p == r->end)
		return 0;

	const char *start = r->p;
	m->line = r->line;
	int rc;
	if (!kw_message(r->p, r->end))
		rc = fail(r, r->line, "expected 'Message:'");
	else
		rc = parse_message(r, m, &msg_end, true);
	if (rc < 0 && msg_end && r->p < msg_end && kw_message(r->p, r->end)) {
		/* The parse stopped at a "Message:" line before the end its size
		 * gave: the size took in the next message (or more), which
		 * skipping to that end would lose without a word.  Read this one
		 * again as if its size were bad, to the next "Message:" line. */
		r->p = start;
		r->line = m->line;
		ccp_ccm_msg_clear(m);
		r->error[0] = '\0';
		rc = parse_message(r, m, &msg_end, false);
	}
	if (rc < 0) {
		/* Resynchronise: at the message's end when its size was good,
		 * else at the next "Message:" line. */
		if (msg_end && msg_end >= r->p) {
			advance_to(r, msg_end);
		} else {
			if (r->p == start)
				advance_to(r, next_line(r->p, r->end, &ce));
			while (r->p < r->end && !kw_message(r->p, r->end))
				advance_to(r, next_line(r->p, r->end, &ce));
		}
	}
	m->raw = start;
	m->raw_len = (size_t)(r->p - start);
	return rc < 0 ? -1 : 1;
}

/*
 * log.c: line-at-a-time logging and the panic path.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave (POSIX makes writes of up
 * to PIPE_BUF bytes to a pipe atomic; regular files opened O_APPEND behave the
 * same in practice on Linux).
 */
#include "ccpump/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Relaxed: the level and fd are tuning knobs, not synchronisation. */
static _Atomic int log_level = CCP_LOG_INFO;
static _Atomic int log_fd = 2;

static const char *const level_names[] = { "debug", "info", "warning", "error" };

/* The length of the well-formed UTF-8 sequence at S (at most LEN octets)
 * and its code point in *CP; 0 for an octet that starts none (a stray
 * continuation, an overlong form, a surrogate, past U+10FFFF, cut short). */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (n == 0 || n > len || c > 0xf4)
		return 0;
	uint32_t v = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (v < least[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Characters that are well-formed but act on a terminal or on the order
 * of what is shown: C1 controls (U+009B is a CSI to some terminals), the
 * line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates, which can show a name reversed or a line's
 * parts in another order. */
static bool unsafe_char(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t ccp_escape_controls(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		size_t k = 1;
		bool plain = s[i] >= 0x20 && s[i] != 0x7f;
		if (s[i] >= 0x80) {
			uint32_t cp = 0;
			k = utf8_sequence(s + i, len - i, &cp);
			plain = k > 0 && !unsafe_char(cp);
			if (k == 0)
				k = 1; /* the octet alone, escaped; go on from the next */
		}
		if (n + (plain ? k : 4 * k) >= cap)
			break;
		for (size_t j = 0; j < k; j++) {
			if (plain)
				dst[n++] = (char)s[i + j];
			else
				n += (size_t)snprintf(dst + n, 5, "\\x%02x", s[i + j]);
		}
		i += k;
	}
	dst[n] = '\0';
	return n;
}

int ccp_errf(char *err, size_t cap, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void ccp_log_set_level(enum ccp_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

int ccp_log_level_parse(const char *word, enum ccp_log_level *out)
{
	for (int i = CCP_LOG_DEBUG; i <= CCP_LOG_ERROR; i++) {
		if (strcmp(word, level_names[i]) == 0) {
			*out = (enum ccp_log_level)i;
			return 0;
		}
	}
	if (strcmp(word, "warn") == 0) {
		*out = CCP_LOG_WARN;
		return 0;
	}
	return -1;
}

int ccp_log_set_fd(int fd)
{
	return atomic_exchange_explicit(&log_fd, fd, memory_order_relaxed);
}

__attribute__((format(printf, 3, 0)))
static void log_line(const char *tag, const char *where, const char *fmt, va_list ap)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03ldZ ccpump[%ld] %s: %s",
			      ts.tv_nsec / 1000000, (long)getpid(), tag, where);
	if (n < sizeof(buf)) {
		/* One event, one line: a control character in what is logged (a
		 * spool file may be named "a\nfake line") is written as an escape,
		 * so no name can forge or split a line. */
		char msg[1024];
		int m = vsnprintf(msg, sizeof(msg), fmt, ap);
		size_t len = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
		/* One octet kept for the newline. */
		n += ccp_escape_controls(buf + n, sizeof(buf) - n - 1, msg, len);
	}
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* Again when a signal interrupted it (a full pipe to a logger at a
	 * stop): a line is under PIPE_BUF, so a write is all of it or none. */
	ssize_t w;
	do
		w = write(atomic_load_explicit(&log_fd, memory_order_relaxed), buf, n);
	while (w < 0 && errno == EINTR);
	(void)w; /* nowhere left to report a failed log write */
}

void ccp_log(enum ccp_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	log_line(level_names[level], "", fmt, ap);
	va_end(ap);
}

void ccp_panic_at(const char *file, int line, const char *func, const char *fmt, ...)
{
	char where[512];
	va_list ap;

	snprintf(where, sizeof(where), "at %s:%d in %s(): ", file, line, func);
	va_start(ap, fmt);
	log_line("panic", where, fmt, ap);
	va_end(ap);
	abort();
}

/*
 * log.h: one line per event, and loud aborts for broken invariants.
 *
 * Recoverable errors are returned to callers and reach the user as one line
 * that names the input.  A broken invariant is a bug: CCP_ASSERT and
 * ccp_panic() print file, line and function, then abort(), as Postfix's
 * msg_panic() and liburcu's urcu_die() do.
 */
#ifndef CCPUMP_LOG_H
#define CCPUMP_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "ccpump/compiler.h"

enum ccp_log_level { CCP_LOG_DEBUG, CCP_LOG_INFO, CCP_LOG_WARN, CCP_LOG_ERROR };

/* Thread-safe (one write(2) per line).  Lines below the threshold are dropped. */
CCP_EXPORT void ccp_log(enum ccp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
CCP_EXPORT void ccp_log_set_level(enum ccp_log_level level);
/* "debug", "info", "warning" or "error" (also "warn") into *out: 0, or -1
 * for any other word. */
CCP_EXPORT int ccp_log_level_parse(const char *word, enum ccp_log_level *out);
/* Sends log lines to fd (default 2).  Returns the previous fd. */
CCP_EXPORT int ccp_log_set_fd(int fd);

/*
 * Copies SRC[0..len) into DST (CAP octets, NUL-terminated) with each
 * octet of a control character written as \xHH, so that text from outside
 * (a spool file's name) stays on one line, moves no terminal's cursor and
 * shows its characters in their order: the C0 controls and DEL; the C1
 * controls (U+0080 to U+009F, in UTF-8); the line and paragraph separators
 * and the bidirectional formatting characters (U+061C, U+200E, U+200F,
 * U+202A to U+202E, U+2066 to U+2069); and every octet that is not part of
 * well-formed UTF-8 (in an 8-bit terminal 0x9B is a CSI).  Other UTF-8
 * characters are copied whole.  Stops before what would not fit whole.
 * Returns the octets written, NUL not counted.  The log escapes every line
 * so; `ccpump queue` its listings.
 */
CCP_EXPORT size_t ccp_escape_controls(char *dst, size_t cap, const char *src, size_t len);

/* The one-line reason of a recoverable error, into ERR (CAP octets; nothing
 * when ERR is NULL or CAP 0).  Returns -1, for `return ccp_errf(...)`. */
CCP_EXPORT int ccp_errf(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

CCP_EXPORT _Noreturn void ccp_panic_at(const char *file, int line, const char *func,
				       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define ccp_panic(...) ccp_panic_at(__FILE__, __LINE__, __func__, __VA_ARGS__)

/* Always on, also in release builds: these guard the exactly-once contract. */
#define CCP_ASSERT(cond)                                                     \
	do {                                                                 \
		if (ccp_unlikely(!(cond)))                                   \
			ccp_panic("assertion failed: %s", #cond);            \
	} while (0)

#endif /* CCPUMP_LOG_H */

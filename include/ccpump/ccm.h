/*
 * ccm.h: cc:Mail Import files (.ccm): a writer and a strict streaming reader.
 *
 * The format is the one IMPORT.EXE read with /ITEMSIZE (docs/ccmail-format.md
 * has the grammar and a worked example):
 *
 *   Message:\r\n <size>\r\n            size: octets after this line to the end
 *   From: ...\r\n Date: M/D/YY H:MM\r\n
 *   To:|Cc:|Bcc: <one address>\r\n ...  one recipient per line
 *   Subject: ...\r\n  X-Name: value\r\n   extension lines (X-Spool-Id: key)
 *   Contents:\r\n <size>\r\n           size: octets of all items
 *   Text item:[ title]\r\n <size>\r\n <CRLF text>
 *   File item: NAME[ M/D/YY H:MMAM]\r\n <size>\r\n <raw octets>
 *
 * Text is bytes in the post office's code page; this module never transcodes
 * (convert.h and codepage.h do).  Nothing here keeps global state: every call
 * is thread-safe on distinct objects; an object belongs to one thread at a time.
 */
#ifndef CCPUMP_CCM_H
#define CCPUMP_CCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ccpump/compiler.h"

/* cc:Mail's limits (KB Q156063 §2.6.15, Q166499, Q266711). */
#define CCP_CCM_TEXT_ITEM_MAX 20480u     /* a text item holds at most 20 KB */
#define CCP_CCM_ADDR_BUFFER_SMALL 4096u  /* Import/Export 8.2x and earlier */
#define CCP_CCM_ADDR_BUFFER_LARGE 163840u /* later versions (160 KB) */

/* A growable byte buffer; always NUL-terminated after its len bytes. */
struct ccp_ccm_buf {
	char *data;
	size_t len, cap;
	size_t align; /* data's alignment when not 0 (ccp_ccm_buf_init_aligned) */
};

CCP_EXPORT void ccp_ccm_buf_init(struct ccp_ccm_buf *b);
/* A buffer whose data is always ALIGN-aligned (a power of two), for
 * O_DIRECT writes.  Growing it copies instead of reallocating in place. */
CCP_EXPORT void ccp_ccm_buf_init_aligned(struct ccp_ccm_buf *b, size_t align);
CCP_EXPORT void ccp_ccm_buf_free(struct ccp_ccm_buf *b);
CCP_EXPORT void ccp_ccm_buf_reserve(struct ccp_ccm_buf *b, size_t extra);
CCP_EXPORT void ccp_ccm_buf_add(struct ccp_ccm_buf *b, const void *p, size_t n);
CCP_EXPORT void ccp_ccm_buf_adds(struct ccp_ccm_buf *b, const char *s);
CCP_EXPORT void ccp_ccm_buf_printf(struct ccp_ccm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends what is left to read of FD, to its end.  Returns 0, or -1 with
 * errno (what was read before the error stays appended). */
CCP_EXPORT int ccp_ccm_buf_read_fd(struct ccp_ccm_buf *b, int fd);
/* Appends the whole of DIRFD/NAME (not followed if a link).  Returns 0, or
 * -1 with errno. */
CCP_EXPORT int ccp_ccm_buf_read_at(struct ccp_ccm_buf *b, int dirfd, const char *name);
/* One character: inline, since writers add most text a character at a time;
 * the buffer grows only on the rare slow path. */
static inline void ccp_ccm_buf_addc(struct ccp_ccm_buf *b, char c)
{
	if (ccp_unlikely(b->len + 2 > b->cap))
		ccp_ccm_buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

static inline void ccp_ccm_buf_reset(struct ccp_ccm_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

enum ccp_ccm_rcpt_kind { CCP_CCM_TO, CCP_CCM_CC, CCP_CCM_BCC };

struct ccp_ccm_rcpt {
	enum ccp_ccm_rcpt_kind kind;
	const char *addr; /* one address, no CR or LF */
	size_t addr_len;
};

struct ccp_ccm_ext {
	const char *name; /* without the colon, e.g. "X-Spool-Id" */
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum ccp_ccm_item_kind { CCP_CCM_ITEM_TEXT, CCP_CCM_ITEM_FILE, CCP_CCM_ITEM_OTHER };

struct ccp_ccm_item {
	enum ccp_ccm_item_kind kind;
	/* OTHER items: the keyword before " item:" (e.g. "Fax"); else NULL. */
	const char *keyword;
	size_t keyword_len;
	/* Text: the optional title; File: the file name (may hold spaces with
	 * long names).  Empty when absent. */
	const char *title;
	size_t title_len;
	/* File items: the " M/D/YY H:MMAM" stamp without its leading space, or
	 * empty (Version 8 Attachment Format). */
	const char *stamp;
	size_t stamp_len;
	const uint8_t *data;
	size_t len;
};

/*
 * One message.  Every pointer refers either to the reader's input (reader)
 * or to the caller's memory (writer); the struct owns nothing but its arrays.
 */
struct ccp_ccm_msg {
	const char *from;
	size_t from_len;
	const char *date; /* "M/D/YY H:MM" */
	size_t date_len;
	const char *subject; /* NULL: no Subject line */
	size_t subject_len;
	struct ccp_ccm_rcpt *rcpt;
	size_t nrcpt, rcpt_cap;
	struct ccp_ccm_ext *ext;
	size_t next, ext_cap;
	struct ccp_ccm_item *item;
	size_t nitem, item_cap;
	/* Reader only: the raw octets of the message, from its "Message:" line
	 * to its end, and the line number of that "Message:" line (1-based). */
	const char *raw;
	size_t raw_len;
	unsigned line;
	unsigned warnings; /* size lines that did not fit (keyword scan used) */
};

CCP_EXPORT void ccp_ccm_msg_init(struct ccp_ccm_msg *m);
CCP_EXPORT void ccp_ccm_msg_clear(struct ccp_ccm_msg *m); /* keeps the arrays */
CCP_EXPORT void ccp_ccm_msg_free(struct ccp_ccm_msg *m);
CCP_EXPORT void ccp_ccm_msg_add_rcpt(struct ccp_ccm_msg *m, enum ccp_ccm_rcpt_kind kind,
				     const char *addr, size_t len);
/*
 * A recipient as the post office compares it: trimmed, runs of blanks made
 * one space, ASCII letters folded (cc:Mail names are unique without regard
 * to case, KB Q237588), so "Lee,  Bruce" and "lee, bruce" are one mailbox.
 * Writes at most n octets to out (out may not overlap s) and returns how
 * many.  The post office indexes its deliveries by it, and the converter
 * writes each mailbox once by it.
 */
CCP_EXPORT size_t ccp_ccm_rcpt_norm(char *out, const char *s, size_t n);
CCP_EXPORT void ccp_ccm_msg_add_ext(struct ccp_ccm_msg *m, const char *name,
				    const char *value, size_t value_len);
/* Appends an item and returns it zeroed but for kind, for the caller to fill. */
CCP_EXPORT struct ccp_ccm_item *ccp_ccm_msg_add_item(struct ccp_ccm_msg *m,
						      enum ccp_ccm_item_kind kind);
/* The value of extension line NAME (case-insensitive), or NULL. */
CCP_EXPORT const struct ccp_ccm_ext *ccp_ccm_msg_ext(const struct ccp_ccm_msg *m,
						      const char *name);

/*
 * The spool id: how X-Spool-Id carries a message's key, a spool file's
 * name.  A name may hold any octet but '/' and NUL; a header line holds
 * printable ASCII, and the post office keys its deliveries by the id.  So
 * every octet outside 0x21..0x7e (control characters, space, anything not
 * ASCII) and '%' is written %XX, upper-case hex.  A name a Maildir writer
 * makes (printable ASCII without '%') is its own id, and two names never
 * share one: the post office's key stays one per file, and the relay finds
 * the file again from the id an import reports.
 */
/* Appends the spool id of NAME[0..len) to OUT. */
CCP_EXPORT void ccp_ccm_spool_id_add(struct ccp_ccm_buf *out, const char *name, size_t len);
/* Whether ID[0..id_len) is the spool id of NAME[0..name_len). */
CCP_EXPORT bool ccp_ccm_spool_id_is(const char *id, size_t id_len, const char *name,
				    size_t name_len);

/*
 * The octets the address lines take: "From: " + addr + CRLF and the same for
 * every To/Cc/Bcc line.  This is what the connector's address buffer
 * (4 KB or 160 KB) must hold.
 */
CCP_EXPORT size_t ccp_ccm_addr_bytes(const struct ccp_ccm_msg *m);

/*
 * Appends message M to OUT with every size line computed exactly.
 * Returns 0, or -EINVAL when a header value holds CR or LF or the message has
 * no From or Date (OUT is then unchanged).  Thread-safe on distinct buffers.
 */
CCP_EXPORT int ccp_ccm_write(struct ccp_ccm_buf *out, const struct ccp_ccm_msg *m);

/* Dates as cc:Mail writes them: "M/D/YY H:MM" (24 h) and the file-item stamp
 * "M/D/YY H:MMAM".  Return the length written (buf of at least 24 bytes). */
CCP_EXPORT size_t ccp_ccm_format_date(char *buf, size_t cap, const struct tm *tm);
CCP_EXPORT size_t ccp_ccm_format_stamp(char *buf, size_t cap, const struct tm *tm);
/* Parses "M/D/YY H:MM" (two-digit years below 70 are 20xx, as Transend did);
 * also accepts a trailing AM/PM.  Returns true and fills TM (tm_isdst -1). */
CCP_EXPORT bool ccp_ccm_parse_date(const char *s, size_t len, struct tm *tm);

/*
 * The streaming reader: it walks a buffer (a mapped file) one message at a
 * time and keeps nothing of earlier messages, so memory does not grow with
 * the file.  It checks every size line and jumps by it only when the jump
 * lands on a keyword line or the end; otherwise it falls back to keyword
 * scanning (a warning).  A binary File item whose size does not fit cannot be
 * scanned and fails its message.  It never reads outside [data, data+len).
 */
struct ccp_ccm_reader {
	const char *data, *end, *p;
	const char *name; /* the input's name, for messages */
	unsigned line;    /* line number of p */
	char error[512];  /* the last error: "NAME: line N: reason", the reason
			     whole (a long NAME is cut at its start, "...") */
	unsigned error_line;
};

CCP_EXPORT void ccp_ccm_reader_init(struct ccp_ccm_reader *r, const void *data, size_t len,
				    const char *name);
/*
 * Reads the next message into M (cleared first).
 * Returns 1 with M filled; 0 at the end of the input; -1 when the message
 * starting at r->error_line could not be parsed: r->error says why, M->raw
 * and M->line cover its octets, and the next call continues after it (at the
 * next "Message:" line), so one bad message never hides the others.
 */
CCP_EXPORT int ccp_ccm_reader_next(struct ccp_ccm_reader *r, struct ccp_ccm_msg *m);

#endif /* CCPUMP_CCM_H */

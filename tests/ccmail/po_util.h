/* Helpers shared by the post office tests: temporary directories and files,
 * and the path a descriptor is open on. */
#ifndef CCPUMP_TESTS_PO_UTIL_H
#define CCPUMP_TESTS_PO_UTIL_H

#define _GNU_SOURCE
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "check.h"
#include "ccpump/ccm.h"
#include "ccpump/po.h"

static inline int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static inline void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *temp_dir(void)
{
	const char *t = getenv("TMPDIR");
	char buf[512];
	snprintf(buf, sizeof(buf), "%s/ccpump-test-XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(buf) != NULL);
	return strdup(buf);
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

static inline char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	b[n] = '\0';
	*len = (size_t)n;
	return b;
}

/* The path FD is open on, into BUF (CAP octets; "" if it cannot be read):
 * a deleted file's reads "PATH (deleted)". */
static inline void fd_target(int fd, char *buf, size_t cap)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* Whether S ends with SUFFIX (false when SUFFIX is NULL). */
static inline bool ends_with(const char *s, const char *suffix)
{
	size_t sl = strlen(s), fl = suffix ? strlen(suffix) : 0;
	return suffix && sl >= fl && strcmp(s + sl - fl, suffix) == 0;
}

/* How often NEEDLE occurs in the LEN octets at TEXT (NULL when LEN is 0),
 * overlapping occurrences each counted. */
static inline unsigned count_in(const char *text, size_t len, const char *needle)
{
	unsigned n = 0;
	for (const char *p = text; p && (p = memmem(p, len - (size_t)(p - text), needle,
						     strlen(needle)));
	     p++)
		n++;
	return n;
}

/* The mailbox of ADDR in the post office DIR, read through its references
 * to the store (a .ccm text, malloc'd), or NULL when it cannot be read. */
static inline char *read_mailbox(const char *dir, const char *addr, size_t *len)
{
	char mb[256], err[512];
	struct ccp_ccm_buf b;
	ccp_po_mailbox_name(addr, strlen(addr), mb, sizeof(mb));
	ccp_ccm_buf_init(&b);
	if (ccp_po_mailbox_read(dir, mb, &b, err, sizeof(err)) != 0) {
		ccp_ccm_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	char *s = malloc(b.len + 1);
	memcpy(s, b.data ? b.data : "", b.len);
	s[b.len] = '\0';
	ccp_ccm_buf_free(&b);
	return s;
}

/* Appends one message with a single Text item to B. */
static inline void msg_text(struct ccp_ccm_buf *b, const char *key, const char *from, const char *date,
		     const char *const *rcpt, const char *subject, const char *text)
{
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	m.from = from;
	m.from_len = strlen(from);
	m.date = date;
	m.date_len = strlen(date);
	for (; *rcpt; rcpt++)
		ccp_ccm_msg_add_rcpt(&m, CCP_CCM_TO, *rcpt, strlen(*rcpt));
	if (subject) {
		m.subject = subject;
		m.subject_len = strlen(subject);
	}
	if (key)
		ccp_ccm_msg_add_ext(&m, "X-Spool-Id", key, strlen(key));
	struct ccp_ccm_item *it = ccp_ccm_msg_add_item(&m, CCP_CCM_ITEM_TEXT);
	it->data = (const uint8_t *)text;
	it->len = strlen(text);
	CHECK(ccp_ccm_write(b, &m) == 0);
	ccp_ccm_msg_free(&m);
}

#endif

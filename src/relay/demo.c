/*
 * demo.c: the demo spool (include/ccpump/demo.h).
 */
#define _GNU_SOURCE
#include "ccpump/demo.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/ccm.h"

static const char *const first_names[] = { "Sally", "John", "Maria", "Ahmed", "Li", "Olga",
	"Pierre", "Kenji", "Ana", "Tom", "Grace", "Ravi" };
static const char *const last_names[] = { "Smith", "Doe", "Garcia", "Khan", "Wei" };
static const char *const domains[] = { "ccmail.example.com", "exchange.example.com",
	"partner.example.net" };
static const char *const words[] = { "quarterly", "report", "meeting", "budget", "draft",
	"review", "schedule", "customer", "proposal", "status", "update", "invoice", "travel",
	"office", "network", "backup", "release", "contract", "minutes", "agenda" };

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void person(struct ccp_ccm_buf *b, uint64_t id)
{
	const char *f = first_names[id % 12], *l = last_names[(id / 12) % 5];
	ccp_ccm_buf_printf(b, "\"%s, %s\" <%c.%s%llu@%s>", l, f, f[0] | 0x20, l,
			   (unsigned long long)(id % 60), domains[id % 3]);
}

static void text(struct ccp_ccm_buf *b, uint64_t *s, size_t bytes)
{
	size_t col = 0, start = b->len;
	while (b->len - start < bytes) {
		const char *w = words[rnd(s) % 20];
		ccp_ccm_buf_adds(b, w);
		col += strlen(w);
		if (col > 64) {
			ccp_ccm_buf_adds(b, ".\r\n");
			col = 0;
		} else {
			ccp_ccm_buf_addc(b, ' ');
			col++;
		}
	}
	ccp_ccm_buf_adds(b, "\r\n");
}

static void base64_block(struct ccp_ccm_buf *b, uint64_t *s, size_t bytes)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t chars = (bytes + 2) / 3 * 4;
	for (size_t i = 0; i < chars; i++) {
		ccp_ccm_buf_addc(b, a[rnd(s) & 63]);
		if (i % 76 == 75)
			ccp_ccm_buf_adds(b, "\r\n");
	}
	ccp_ccm_buf_adds(b, "\r\n");
}

static void message(struct ccp_ccm_buf *b, uint64_t n, uint64_t *s, size_t max_body,
		    uint64_t *rcpts)
{
	unsigned kind = (unsigned)(rnd(s) % 100);
	unsigned nr = 1 + (unsigned)(rnd(s) % 5);
	size_t body = 700 + (size_t)(rnd(s) % 9000);
	if (max_body && body > max_body)
		body = max_body;
	if (max_body && max_body < 1024)
		kind %= 60; /* small: plain text only */
	ccp_ccm_buf_reset(b);
	ccp_ccm_buf_adds(b, "From: ");
	person(b, rnd(s));
	ccp_ccm_buf_adds(b, "\r\nTo: ");
	uint64_t base = rnd(s);
	for (unsigned i = 0; i < nr; i++) {
		if (i)
			ccp_ccm_buf_adds(b, ",\r\n ");
		person(b, base + 7 * i); /* distinct people: ids differ mod 60 */
	}
	*rcpts += nr;
	ccp_ccm_buf_printf(b, "\r\nDate: Sat, 28 Nov 2026 %02u:%02u:%02u +0000\r\n",
			   (unsigned)(n / 3600 % 24), (unsigned)(n / 60 % 60), (unsigned)(n % 60));
	ccp_ccm_buf_printf(b, "Message-ID: <%llu.demo@ccpump.example>\r\n", (unsigned long long)n);
	if (kind < 10)
		ccp_ccm_buf_printf(b, "Subject: =?UTF-8?Q?Caf=C3=A9_%s_=E2=82=AC_%llu?=\r\n",
				   words[n % 20], (unsigned long long)n);
	else
		ccp_ccm_buf_printf(b, "Subject: %s %s %llu\r\n", words[n % 20],
				   words[(n / 20) % 20], (unsigned long long)n);
	ccp_ccm_buf_adds(b, "MIME-Version: 1.0\r\n");
	if (kind < 60) { /* plain text */
		ccp_ccm_buf_printf(b, "Content-Type: text/plain; charset=%s\r\n\r\n",
				   kind < 20 ? "iso-8859-1" : "us-ascii");
		text(b, s, body);
		if (kind < 20) /* Latin-1 octets, as the label says */
			ccp_ccm_buf_adds(b, "Caf\xe9 cr\xe8me, \xa3 12.\r\n");
	} else if (kind < 85) { /* text and an attachment */
		ccp_ccm_buf_adds(b, "Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n"
				    "--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
		text(b, s, body / 2);
		ccp_ccm_buf_adds(b, "Caf\xc3\xa9 \xe2\x82\xac 12.\r\n");
		ccp_ccm_buf_printf(b, "--=_b\r\nContent-Type: application/octet-stream\r\n"
				      "Content-Disposition: attachment; filename=\"%s %s %llu.xlsx\"\r\n"
				      "Content-Transfer-Encoding: base64\r\n\r\n",
				   words[n % 20], words[(n / 3) % 20], (unsigned long long)n);
		size_t att = kind < 80 ? 1000 + rnd(s) % 6000 : 20000 + rnd(s) % 25000;
		base64_block(b, s, max_body && att > max_body ? max_body : att);
		ccp_ccm_buf_adds(b, "--=_b--\r\n");
	} else { /* HTML only */
		ccp_ccm_buf_adds(b, "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>");
		text(b, s, body);
		ccp_ccm_buf_adds(b, "Caf\xc3\xa9 \xe2\x82\xac 12.\r\n");
		ccp_ccm_buf_adds(b, "</p><ul><li>one</li><li>two</li></ul></body></html>\r\n");
	}
}

int ccp_demo_spool(const char *dir, uint64_t first, uint64_t count, uint64_t seed,
		   size_t max_body, struct ccp_demo_stats *st, char *err, size_t errlen)
{
	char path[4096], to[4096];
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	memset(st, 0, sizeof(*st));
	for (uint64_t n = first; n < first + count; n++) {
		uint64_t s = (seed + n) * 0x9e3779b97f4a7c15ull | 1;
		message(&b, n, &s, max_body, &st->recipients);
		snprintf(path, sizeof(path), "%s/tmp/1764288000.M%lluP1.demo", dir,
			 (unsigned long long)n);
		snprintf(to, sizeof(to), "%s/new/1764288000.M%lluP1.demo", dir, (unsigned long long)n);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		bool ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
		if (fd >= 0 && close(fd) != 0)
			ok = false;
		if (!ok || rename(path, to) != 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			ccp_ccm_buf_free(&b);
			return -1;
		}
		st->messages++;
		st->bytes += b.len;
	}
	ccp_ccm_buf_free(&b);
	return 0;
}

int ccp_demo_spool_sync(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) != 0) {
		snprintf(err, errlen, "cannot sync %s to disk: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

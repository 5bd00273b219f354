/*
 * fpcount.c: distinct fingerprints in bounded memory (fpcount.h).
 *
 * A run is the set's fingerprints, compacted to the front of its own table
 * and sorted there, so a spill needs no memory beyond the table.  The runs
 * are merged with a binary heap of one reader per run.
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "ccpump/fpcount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/fdio.h"
#include "ccpump/log.h"

/* Runs kept open at most: at this many, they are merged into one, so the
 * descriptors (and a merge's buffers) stay bounded however long the
 * stream. */
#define MAX_RUNS 64u
/* A run reader's buffer, in fingerprints: 4 KiB to 1 MiB. */
#define READ_MIN 256u
#define READ_MAX 65536u

void ccp_fpcount_init(struct ccp_fpcount *c, size_t memory, const char *tmp_dir)
{
	memset(c, 0, sizeof(*c));
	ccp_fpset_init(&c->set);
	if (memory < CCP_FPCOUNT_MIN_MEMORY)
		memory = CCP_FPCOUNT_MIN_MEMORY;
	c->memory = memory;
	/* The largest table that fits the bound together with the half-size
	 * table it grows from, and what it holds before the set would grow
	 * past it (fpset grows at three quarters full). */
	size_t cap = 64;
	/* cap * 3 * 16 <= memory, divided rather than multiplied: a bound
	 * near SIZE_MAX wrapped the product to 0 and the loop never ended. */
	while (cap <= memory / (3 * sizeof(struct ccp_fp)))
		cap *= 2;
	c->max_in_set = cap / 4 * 3;
	if (!tmp_dir || !*tmp_dir) {
		tmp_dir = getenv("TMPDIR");
		if (!tmp_dir || !*tmp_dir)
			tmp_dir = "/tmp";
	}
	size_t n = strlen(tmp_dir) + 1;
	c->tmp_dir = ccp_malloc(n);
	memcpy(c->tmp_dir, tmp_dir, n);
}

static int fp_cmp(const void *x, const void *y)
{
	const struct ccp_fp *a = x, *b = y;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return a->b < b->b ? -1 : a->b > b->b;
}

static bool fp_eq(struct ccp_fp x, struct ccp_fp y)
{
	return x.a == y.a && x.b == y.b;
}

/* An unlinked file in the temporary directory: O_TMPFILE where the file
 * system has it, else a named file unlinked at once. */
static int tmp_open(const struct ccp_fpcount *c, char *err, size_t cap)
{
	int fd = open(c->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		size_t n = strlen(c->tmp_dir) + 32;
		char *path = ccp_malloc(n);
		snprintf(path, n, "%s/ccpump-count-XXXXXX", c->tmp_dir);
		fd = mkostemp(path, O_CLOEXEC);
		int e = errno;
		if (fd >= 0)
			unlink(path);
		ccp_free(path);
		errno = e;
	}
	if (fd < 0)
		return ccp_errf(err, cap, "%s: cannot make a temporary file for counting: %s",
				c->tmp_dir, strerror(errno));
	return fd;
}

static int compact_runs(struct ccp_fpcount *c, char *err, size_t cap);

/* The one-line reasons of a failed run, with errno's text. */
static int write_failed(const struct ccp_fpcount *c, char *err, size_t cap)
{
	return ccp_errf(err, cap, "%s: cannot write a temporary file for counting: %s",
			c->tmp_dir, strerror(errno));
}

static int read_failed(const struct ccp_fpcount *c, char *err, size_t cap)
{
	return ccp_errf(err, cap, "%s: cannot read back a temporary file for counting: %s",
			c->tmp_dir, strerror(errno));
}

/* Writes the set as a sorted run and empties it. */
static int spill(struct ccp_fpcount *c, char *err, size_t cap)
{
	struct ccp_fpset *s = &c->set;
	size_t k = 0;
	for (size_t i = 0; i < s->cap; i++)
		if (s->tab[i].b)
			s->tab[k++] = s->tab[i];
	CCP_ASSERT(k == s->n);
	qsort(s->tab, k, sizeof(*s->tab), fp_cmp);
	int fd = tmp_open(c, err, cap);
	if (fd < 0)
		return -1;
	if (ccp_write_all(fd, s->tab, k * sizeof(*s->tab)) != 0) {
		write_failed(c, err, cap);
		close(fd);
		return -1;
	}
	if (c->nruns == c->runs_cap) {
		c->runs_cap = c->runs_cap ? 2 * c->runs_cap : 16;
		c->runs = ccp_realloc(c->runs, c->runs_cap * sizeof(*c->runs));
	}
	c->runs[c->nruns++] = fd;
	c->spilled++;
	ccp_fpset_clear(s); /* the table was reordered: all of it is zeroed */
	return c->nruns == MAX_RUNS ? compact_runs(c, err, cap) : 0;
}

int ccp_fpcount_add(struct ccp_fpcount *c, struct ccp_fp f, char *err, size_t cap)
{
	if (c->set.n == c->max_in_set) {
		/* Full as the bound allows: a fingerprint it has needs no room;
		 * any other starts a new generation. */
		if (ccp_fpset_has(&c->set, f))
			return 0;
		if (spill(c, err, cap) != 0)
			return -1;
	}
	ccp_fpset_add(&c->set, f);
	return 0;
}

struct reader {
	int fd;
	struct ccp_fp *buf;
	size_t n, i; /* fingerprints in buf, and the next one */
};

/* Refills R; returns 1 with a fingerprint at r->buf[r->i], 0 at the end,
 * -1 on an error (errno; EIO for a run cut short). */
static int refill(struct reader *r, size_t want)
{
	ssize_t k = ccp_read_full(r->fd, r->buf, want * sizeof(*r->buf));
	if (k < 0)
		return -1;
	size_t got = (size_t)k;
	if (got % sizeof(*r->buf)) {
		errno = EIO;
		return -1;
	}
	r->n = got / sizeof(*r->buf);
	r->i = 0;
	return r->n > 0;
}

static bool reader_less(const struct reader *x, const struct reader *y)
{
	return fp_cmp(&x->buf[x->i], &y->buf[y->i]) < 0;
}

static void sift_down(struct reader **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && reader_less(h[l], h[m]))
			m = l;
		if (l + 1 < n && reader_less(h[l + 1], h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct reader *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Merges all runs (each sorted, without repeats of its own): counts the
 * distinct fingerprints into *distinct, and when OUT >= 0 also writes them,
 * sorted, to OUT. */
static int merge(struct ccp_fpcount *c, int out, uint64_t *distinct, char *err, size_t cap)
{
	size_t per = c->memory / sizeof(struct ccp_fp) / (c->nruns + (out >= 0));
	per = per < READ_MIN ? READ_MIN : per > READ_MAX ? READ_MAX : per;
	struct reader *rs = ccp_calloc(c->nruns, sizeof(*rs));
	struct reader **heap = ccp_calloc(c->nruns, sizeof(*heap));
	struct ccp_fp *obuf = out >= 0 ? ccp_malloc(per * sizeof(*obuf)) : NULL;
	size_t nh = 0, on = 0;
	int rc = 0;
	for (size_t i = 0; i < c->nruns && rc == 0; i++) {
		rs[i].fd = c->runs[i];
		rs[i].buf = ccp_malloc(per * sizeof(struct ccp_fp));
		int got = lseek(rs[i].fd, 0, SEEK_SET) == 0 ? refill(&rs[i], per) : -1;
		if (got < 0)
			rc = read_failed(c, err, cap);
		else if (got > 0)
			heap[nh++] = &rs[i];
	}
	for (size_t i = nh / 2; i-- > 0;)
		sift_down(heap, nh, i);
	uint64_t count = 0;
	struct ccp_fp last = { 0, 0 }; /* never a fingerprint: b has bit 0 set */
	while (rc == 0 && nh > 0) {
		struct reader *r = heap[0];
		struct ccp_fp f = r->buf[r->i++];
		if (!fp_eq(f, last)) {
			count++;
			last = f;
			if (obuf) {
				obuf[on++] = f;
				if (on == per) {
					if (ccp_write_all(out, obuf, on * sizeof(*obuf)) != 0)
						rc = write_failed(c, err, cap);
					on = 0;
				}
			}
		}
		int more = r->i < r->n ? 1 : refill(r, per);
		if (more < 0) {
			rc = read_failed(c, err, cap);
			break;
		}
		if (more == 0)
			heap[0] = heap[--nh];
		sift_down(heap, nh, 0);
	}
	if (rc == 0 && obuf && on && ccp_write_all(out, obuf, on * sizeof(*obuf)) != 0)
		rc = write_failed(c, err, cap);
	for (size_t i = 0; i < c->nruns; i++)
		ccp_free(rs[i].buf);
	ccp_free(rs);
	ccp_free(heap);
	ccp_free(obuf);
	if (rc == 0)
		*distinct = count;
	return rc;
}

/* Merges every run into one new run, closing the old ones.  The set is
 * empty here; its table is freed so that the merge's buffers take its
 * place within the bound (it grows again as it fills). */
static int compact_runs(struct ccp_fpcount *c, char *err, size_t cap)
{
	ccp_fpset_free(&c->set);
	ccp_fpset_init(&c->set);
	int fd = tmp_open(c, err, cap);
	if (fd < 0)
		return -1;
	uint64_t n;
	if (merge(c, fd, &n, err, cap) != 0) {
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < c->nruns; i++)
		close(c->runs[i]);
	c->runs[0] = fd;
	c->nruns = 1;
	c->merged++;
	return 0;
}

int ccp_fpcount_finish(struct ccp_fpcount *c, uint64_t *distinct, char *err, size_t cap)
{
	if (c->nruns == 0) {
		*distinct = c->set.n;
		return 0;
	}
	if (c->set.n && spill(c, err, cap) != 0)
		return -1;
	ccp_fpset_free(&c->set); /* the merge's buffers take its place */
	return merge(c, -1, distinct, err, cap);
}

void ccp_fpcount_free(struct ccp_fpcount *c)
{
	ccp_fpset_free(&c->set);
	for (size_t i = 0; i < c->nruns; i++)
		close(c->runs[i]);
	ccp_free(c->runs);
	ccp_free(c->tmp_dir);
	memset(c, 0, sizeof(*c));
}

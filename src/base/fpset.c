/*
 * fpset.c: open-addressing sets of 128-bit fingerprints (fpset.h).
 *
 * Linear probing over 16-octet slots, kept at most three quarters full, so
 * a lookup reads one or two cache lines.  Nothing is ever removed from a
 * set's table (a window drops a whole generation at once), so probing
 * needs no tombstones; a map's removal shifts the entries after it back.
 */
#include "ccpump/fpset.h"

#include <string.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"

/* The smallest power-of-two table that holds n at 3/4 load. */
static size_t cap_for(size_t n)
{
	size_t cap = 64;
	while (cap / 4 * 3 < n)
		cap *= 2;
	return cap;
}

static struct ccp_fp *slot(const struct ccp_fp *tab, size_t cap, struct ccp_fp f)
{
	size_t mask = cap - 1;
	for (size_t i = (size_t)f.a & mask;; i = (i + 1) & mask) {
		const struct ccp_fp *e = &tab[i];
		if (e->b == 0 || (e->a == f.a && e->b == f.b))
			return (struct ccp_fp *)e;
	}
}

void ccp_fpset_init(struct ccp_fpset *s)
{
	memset(s, 0, sizeof(*s));
}

void ccp_fpset_init_bounded(struct ccp_fpset *s, size_t max_n)
{
	CCP_ASSERT(max_n >= 1);
	memset(s, 0, sizeof(*s));
	s->max_n = max_n;
}

bool ccp_fpset_has(const struct ccp_fpset *s, struct ccp_fp f)
{
	return s->cap && slot(s->tab, s->cap, f)->b != 0;
}

static void grow(struct ccp_fpset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct ccp_fp *tab = ccp_calloc(cap, sizeof(*tab));
	for (size_t i = 0; i < s->cap; i++)
		if (s->tab[i].b)
			*slot(tab, cap, s->tab[i]) = s->tab[i];
	ccp_free(s->tab);
	s->tab = tab;
	s->cap = cap;
}

bool ccp_fpset_add(struct ccp_fpset *s, struct ccp_fp f)
{
	CCP_ASSERT(f.b & 1u);
	/* A bounded set stops growing at the table that holds max_n. */
	if ((s->n + 1) > s->cap / 4 * 3 && (s->max_n == 0 || s->cap < cap_for(s->max_n)))
		grow(s);
	struct ccp_fp *e = slot(s->tab, s->cap, f);
	if (e->b)
		return false;
	if (s->max_n && s->n == s->max_n)
		ccp_panic("fingerprint set sized for %zu is full", s->max_n);
	*e = f;
	s->n++;
	return true;
}

void ccp_fpset_clear(struct ccp_fpset *s)
{
	if (s->tab)
		memset(s->tab, 0, s->cap * sizeof(*s->tab));
	s->n = 0;
}

void ccp_fpset_free(struct ccp_fpset *s)
{
	ccp_free(s->tab);
	memset(s, 0, sizeof(*s));
}

size_t ccp_fpset_bytes(const struct ccp_fpset *s)
{
	return s->cap * sizeof(*s->tab);
}

void ccp_fpwindow_init(struct ccp_fpwindow *w, size_t span)
{
	CCP_ASSERT(span >= 1);
	ccp_fpset_init_bounded(&w->gen[0], span);
	ccp_fpset_init_bounded(&w->gen[1], span);
	w->span = span;
	w->cur = 0;
}

bool ccp_fpwindow_has(const struct ccp_fpwindow *w, struct ccp_fp f)
{
	return ccp_fpset_has(&w->gen[w->cur], f) || ccp_fpset_has(&w->gen[w->cur ^ 1u], f);
}

bool ccp_fpwindow_add(struct ccp_fpwindow *w, struct ccp_fp f)
{
	/* In the older generation: remembered, but added again now it is
	 * the newest, and goes into the newer one too; else it would go at
	 * the next swap, with fewer than SPAN added after it (a pair the log
	 * holds twice, delivered again once it had left the window). */
	bool old = ccp_fpset_has(&w->gen[w->cur ^ 1u], f);
	if (w->gen[w->cur].n == w->span) {
		if (ccp_fpset_has(&w->gen[w->cur], f))
			return false;
		/* The newer generation is full: the older one goes, holding
		 * only fingerprints older than the SPAN in the newer. */
		w->cur ^= 1u;
		ccp_fpset_clear(&w->gen[w->cur]);
	}
	/* Not full, the newer one is probed once: adding finds F or its slot. */
	return ccp_fpset_add(&w->gen[w->cur], f) && !old;
}

void ccp_fpwindow_clear(struct ccp_fpwindow *w)
{
	ccp_fpset_clear(&w->gen[0]);
	ccp_fpset_clear(&w->gen[1]);
	w->cur = 0;
}

void ccp_fpwindow_free(struct ccp_fpwindow *w)
{
	ccp_fpset_free(&w->gen[0]);
	ccp_fpset_free(&w->gen[1]);
}

size_t ccp_fpwindow_count(const struct ccp_fpwindow *w)
{
	return w->gen[0].n + w->gen[1].n;
}

size_t ccp_fpwindow_bytes(const struct ccp_fpwindow *w)
{
	return ccp_fpset_bytes(&w->gen[0]) + ccp_fpset_bytes(&w->gen[1]);
}

/* ---- ccp_fpmap -------------------------------------------------------- */

void ccp_fpmap_init(struct ccp_fpmap *m, size_t value_size)
{
	CCP_ASSERT(value_size >= 1);
	memset(m, 0, sizeof(*m));
	m->vsize = value_size;
}

void ccp_fpmap_free(struct ccp_fpmap *m)
{
	ccp_free(m->keys);
	ccp_free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = 0;
}

static inline void *map_val(const struct ccp_fpmap *m, size_t i)
{
	return m->vals + i * m->vsize;
}

/* The slot of F, or of the empty slot where it would go. */
static size_t map_slot(const struct ccp_fpmap *m, struct ccp_fp f)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)f.a & mask;
	while (m->keys[i].b != 0 && (m->keys[i].a != f.a || m->keys[i].b != f.b))
		i = (i + 1) & mask;
	return i;
}

void *ccp_fpmap_get(const struct ccp_fpmap *m, struct ccp_fp f)
{
	if (m->n == 0)
		return NULL;
	size_t i = map_slot(m, f);
	return m->keys[i].b ? map_val(m, i) : NULL;
}

static void map_grow(struct ccp_fpmap *m)
{
	struct ccp_fpmap bigger = *m;
	bigger.cap = m->cap ? 2 * m->cap : 16;
	bigger.keys = ccp_calloc(bigger.cap, sizeof(*bigger.keys));
	bigger.vals = ccp_calloc(bigger.cap, m->vsize);
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i].b) {
			size_t j = map_slot(&bigger, m->keys[i]);
			bigger.keys[j] = m->keys[i];
			memcpy(map_val(&bigger, j), map_val(m, i), m->vsize);
		}
	ccp_free(m->keys);
	ccp_free(m->vals);
	*m = bigger;
}

void *ccp_fpmap_put(struct ccp_fpmap *m, struct ccp_fp f)
{
	CCP_ASSERT(f.b & 1u); /* from ccp_fp_of(): never an empty slot's */
	if (2 * (m->n + 1) > m->cap)
		map_grow(m);
	size_t i = map_slot(m, f);
	if (m->keys[i].b == 0) {
		m->keys[i] = f;
		memset(map_val(m, i), 0, m->vsize);
		m->n++;
	}
	return map_val(m, i);
}

bool ccp_fpmap_del(struct ccp_fpmap *m, struct ccp_fp f)
{
	if (m->n == 0)
		return false;
	size_t mask = m->cap - 1, i = map_slot(m, f);
	if (m->keys[i].b == 0)
		return false;
	/* Backward shift: move back each later entry of the run whose home
	 * slot is not in (i, j], so no lookup meets a hole before its key. */
	for (size_t j = (i + 1) & mask; m->keys[j].b != 0; j = (j + 1) & mask) {
		size_t home = (size_t)m->keys[j].a & mask;
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		m->keys[i] = m->keys[j];
		memcpy(map_val(m, i), map_val(m, j), m->vsize);
		i = j;
	}
	m->keys[i].a = m->keys[i].b = 0;
	m->n--;
	return true;
}

/*
 * fpset.h: sets of 128-bit fingerprints of byte strings, and a window of
 * the most recent ones in bounded memory.
 *
 * The post office remembers every (message, recipient) pair it delivered,
 * so that an import handed to it again skips what it already has.  Keeping
 * the strings cost about 200 octets a pair and grew without end.  A
 * fingerprint is 16 octets in an open-addressing table: two seeded 64-bit
 * hashes of the string (hash.h), one bit forced to 1 to tell a used slot
 * from an empty one.  Two different strings share a fingerprint with a
 * probability near 2^-127 per pair of strings: over 10^9 pairs about
 * 10^-20, far below the disk's own silent error rate.
 *
 * ccp_fpset grows as it fills (for one pass over a whole log: `po stats`).
 * ccp_fpwindow keeps two generations of at most SPAN fingerprints each,
 * and when the newer is full, the older is emptied and becomes the newer.
 * So each fingerprint is remembered while at least SPAN later ones are
 * added (counted from its last add), and at most 2 * SPAN.  Its tables grow with what they hold up to
 * the size of SPAN, then no further: memory follows the history, bounded
 * by the span (a table sized for the span at once was touched all over by
 * a short history, a page per fingerprint).
 *
 * Not thread-safe: the owner serialises (the post office's mutex).
 */
#ifndef CCPUMP_FPSET_H
#define CCPUMP_FPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"
#include "ccpump/hash.h"

struct ccp_fp {
	uint64_t a; /* picks the slot */
	uint64_t b; /* bit 0 always 1: an empty slot is all zero */
};

static inline struct ccp_fp ccp_fp_of(const void *data, size_t len)
{
	struct ccp_fp f = { ccp_hash_bytes_seeded(data, len, 0x6a09e667f3bcc908ull),
			    ccp_hash_bytes_seeded(data, len, 0xbb67ae8584caa73bull) | 1u };
	return f;
}

struct ccp_fpset {
	struct ccp_fp *tab;
	size_t cap; /* a power of two, or 0 before the first add */
	size_t n;
	size_t max_n; /* bounded sets: the most it may hold; 0: unbounded */
};

/* An empty set that grows as needed. */
CCP_EXPORT void ccp_fpset_init(struct ccp_fpset *s);
/* An empty set that grows up to room for MAX_N fingerprints and no further
 * (adding past MAX_N is a broken invariant and aborts). */
CCP_EXPORT void ccp_fpset_init_bounded(struct ccp_fpset *s, size_t max_n);
CCP_EXPORT bool ccp_fpset_has(const struct ccp_fpset *s, struct ccp_fp f);
/* Adds F; false if it was there already. */
CCP_EXPORT bool ccp_fpset_add(struct ccp_fpset *s, struct ccp_fp f);
/* Empties the set, keeping its table. */
CCP_EXPORT void ccp_fpset_clear(struct ccp_fpset *s);
CCP_EXPORT void ccp_fpset_free(struct ccp_fpset *s);
/* Octets the table takes. */
CCP_EXPORT size_t ccp_fpset_bytes(const struct ccp_fpset *s);

struct ccp_fpwindow {
	struct ccp_fpset gen[2];
	size_t span;
	unsigned cur; /* gen[cur] takes new fingerprints */
};

/* SPAN >= 1. */
CCP_EXPORT void ccp_fpwindow_init(struct ccp_fpwindow *w, size_t span);
CCP_EXPORT bool ccp_fpwindow_has(const struct ccp_fpwindow *w, struct ccp_fp f);
/* Adds F, as the newest: false if it was remembered already.  One that
 * was is remembered afresh, from this add on. */
CCP_EXPORT bool ccp_fpwindow_add(struct ccp_fpwindow *w, struct ccp_fp f);
/* Forgets everything (the log it mirrors was cut back). */
CCP_EXPORT void ccp_fpwindow_clear(struct ccp_fpwindow *w);
CCP_EXPORT void ccp_fpwindow_free(struct ccp_fpwindow *w);
/* Fingerprints remembered now, between SPAN and 2 * SPAN once SPAN have
 * been added (one added again while the older generation held it counts
 * twice until that generation goes). */
CCP_EXPORT size_t ccp_fpwindow_count(const struct ccp_fpwindow *w);
/* Octets the two tables take now (they grow with what they hold, up to
 * room for SPAN each). */
CCP_EXPORT size_t ccp_fpwindow_bytes(const struct ccp_fpwindow *w);

/*
 * A map from fingerprints to values of one fixed size, with removal: for a
 * few entries that may become many (the relay's withheld messages), where
 * a list searched at every new record would slow every message down.
 * Linear probing at most half full; a removal shifts the entries after it
 * back (no tombstones), so lookups stay short however many come and go.
 * Not thread-safe.
 */
struct ccp_fpmap {
	struct ccp_fp *keys; /* b == 0: an empty slot */
	unsigned char *vals; /* cap values of vsize octets, beside their keys */
	size_t vsize, cap, n;
};

CCP_EXPORT void ccp_fpmap_init(struct ccp_fpmap *m, size_t value_size);
CCP_EXPORT void ccp_fpmap_free(struct ccp_fpmap *m);
/* F's value, or NULL.  Valid until the next put or del. */
CCP_EXPORT void *ccp_fpmap_get(const struct ccp_fpmap *m, struct ccp_fp f);
/* F's value, added zeroed if F was absent.  Valid until the next put or
 * del. */
CCP_EXPORT void *ccp_fpmap_put(struct ccp_fpmap *m, struct ccp_fp f);
/* Removes F; false if it was absent. */
CCP_EXPORT bool ccp_fpmap_del(struct ccp_fpmap *m, struct ccp_fp f);
static inline size_t ccp_fpmap_count(const struct ccp_fpmap *m)
{
	return m->n;
}

#endif /* CCPUMP_FPSET_H */

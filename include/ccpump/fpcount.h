/*
 * fpcount.h: how many distinct fingerprints a stream holds, in bounded
 * memory.
 *
 * `po stats` counts the distinct (message, recipient) pairs and keys of a
 * post office's whole history.  A set of every fingerprint (fpset.h) takes
 * about 40 octets a pair at its load factor and grows without end: several
 * gigabytes for a post office of a hundred million deliveries.  A counter
 * here keeps an fpset only up to its memory bound.  When the set is as full
 * as the bound allows, its fingerprints are sorted in place and written to
 * an unlinked temporary file (a "run": sorted, each fingerprint once), and
 * the set starts again empty.  At the end, with no run written, the count
 * is the set's size, exactly as an unbounded set gives it; otherwise the
 * last set becomes a run too, and one merge of all the runs counts each
 * fingerprint once.  At 64 open runs the runs are merged into one, so the
 * open files stay few however long the stream.
 *
 * Memory: the set's table, at most the bound (also while it grows, when the
 * old table and the new are both held); in the merge, a read buffer
 * per run, together at most the bound (and at least 4 KiB a run).  Disk: 16
 * octets per fingerprint per run it lands in, released at close (the files
 * are unlinked from the start, so nothing is left behind by a crash).
 *
 * Not thread-safe: one owner.
 */
#ifndef CCPUMP_FPCOUNT_H
#define CCPUMP_FPCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"
#include "ccpump/fpset.h"

/* The smallest bound: a table of 64 fingerprints while it grows from 32
 * (both tables are held then). */
#define CCP_FPCOUNT_MIN_MEMORY ((size_t)96 * sizeof(struct ccp_fp))

struct ccp_fpcount {
	struct ccp_fpset set; /* the current generation */
	size_t max_in_set;    /* the set never holds more (its table stays within memory) */
	size_t memory;
	char *tmp_dir;
	int *runs; /* file descriptors of the runs open, at most 64 */
	size_t nruns, runs_cap;
	size_t spilled; /* generations written as runs */
	size_t merged;  /* times the open runs were merged into one */
};

/*
 * A counter that keeps at most MEMORY octets of fingerprints in memory (at
 * least CCP_FPCOUNT_MIN_MEMORY is used), writing runs to TMP_DIR (NULL:
 * $TMPDIR, else /tmp).
 */
CCP_EXPORT void ccp_fpcount_init(struct ccp_fpcount *c, size_t memory, const char *tmp_dir);

/* Adds F.  Returns 0, or -1 with a one-line reason in ERR when a run cannot
 * be written (the count is then unusable). */
CCP_EXPORT int ccp_fpcount_add(struct ccp_fpcount *c, struct ccp_fp f, char *err, size_t errcap);

/* The number of distinct fingerprints added.  Call once, after the last add;
 * returns 0, or -1 with a reason in ERR. */
CCP_EXPORT int ccp_fpcount_finish(struct ccp_fpcount *c, uint64_t *distinct, char *err,
				  size_t errcap);

/* Generations written as runs so far (0: everything fit in memory). */
static inline size_t ccp_fpcount_runs(const struct ccp_fpcount *c)
{
	return c->spilled;
}

/* Frees the set and closes (so deletes) the runs. */
CCP_EXPORT void ccp_fpcount_free(struct ccp_fpcount *c);

#endif /* CCPUMP_FPCOUNT_H */

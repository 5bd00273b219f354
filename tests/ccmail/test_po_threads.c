/*
 * test_po_threads: dispatcher threads import through one shared handle while
 * a second handle (as another process would) competes for the lock.  Every
 * thread offers the same keys in its own order, so most offers are
 * duplicates: in the end each (key, recipient) pair is delivered exactly
 * once, the counts add up, and every mailbox holds each of its messages once.
 */
#include "po_util.h"

#include <pthread.h>

#include "ccpump/ccm.h"
#include "ccpump/po.h"

#define THREADS 4
#define KEYS 120
#define BATCH 5
#define RCPTS 3

static const char *dir;
static struct ccp_po *shared;
static size_t delivered[THREADS + 1], skipped[THREADS + 1], locked_seen;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;

static void batch_file(struct ccp_ccm_buf *b, const unsigned *keys, size_t n)
{
	static const char *const rc[RCPTS + 1] = { "Doe, John at HUBPO1", "Roe, Jane at HUBPO1",
					       "\"Ext; User\" [SMTP:u@x.org] at EXSITE", NULL };
	ccp_ccm_buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		char key[32], text[64];
		snprintf(key, sizeof(key), "Msg%04X", keys[i]);
		snprintf(text, sizeof(text), "message %u\r\n", keys[i]);
		msg_text(b, key, "Smith, Sally at EXSITE", "6/2/98 8:39", rc, NULL, text);
	}
}

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	unsigned keys[KEYS];
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	for (unsigned i = 0; i < KEYS; i++)
		keys[i] = i;
	/* Each thread its own order (a fixed shuffle per id). */
	uint64_t x = 0x9e3779b97f4a7c15ull * (id + 1);
	for (unsigned i = KEYS - 1; i > 0; i--) {
		x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
		unsigned j = (unsigned)((x * 2685821657736338717ull) % (i + 1));
		unsigned t = keys[i];
		keys[i] = keys[j];
		keys[j] = t;
	}
	struct ccp_po *po = shared;
	char err[512];
	if (id == THREADS) { /* the "other process": its own handle */
		struct ccp_po_opts o;
		ccp_po_opts_default(&o);
		o.sync = false;
		o.env_fault = false;
		CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	}
	for (unsigned i = 0; i < KEYS; i += BATCH) {
		batch_file(&b, keys + i, BATCH);
		struct ccp_po_result res;
		int rc;
		/* Locked answers are retried, as the pump retries IMPORT. */
		while ((rc = ccp_po_import_buffer(po, b.data, b.len, "batch.ccm", NULL, &res)) ==
		       CCP_PO_LOCKED) {
			pthread_mutex_lock(&count_mu);
			locked_seen++;
			pthread_mutex_unlock(&count_mu);
			usleep(100);
		}
		CHECK(rc == CCP_PO_OK);
		CHECK_EQ_U64(res.messages, BATCH);
		CHECK_EQ_U64(res.delivered + res.skipped, BATCH * RCPTS);
		delivered[id] += res.delivered;
		skipped[id] += res.skipped;
	}
	if (po != shared)
		ccp_po_close(po);
	ccp_ccm_buf_free(&b);
	return NULL;
}

int main(void)
{
	char *base = temp_dir(), err[512], path[700];
	snprintf(path, sizeof(path), "%s/po", base);
	dir = path;
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false;
	o.env_fault = false;
	CHECK(ccp_po_open(dir, &o, &shared, err, sizeof(err)) == 0);

	pthread_t t[THREADS + 1];
	for (uintptr_t i = 0; i <= THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	size_t d = 0, s = 0;
	for (int i = 0; i <= THREADS; i++) {
		CHECK(pthread_join(t[i], NULL) == 0);
		d += delivered[i];
		s += skipped[i];
	}
	ccp_po_close(shared);

	CHECK_EQ_U64(d, KEYS * RCPTS);
	CHECK_EQ_U64(d + s, (THREADS + 1) * KEYS * RCPTS);
	struct ccp_po_stats st;
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, KEYS * RCPTS);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	CHECK_EQ_U64(st.distinct_keys, KEYS);
	CHECK_EQ_U64(st.skipped_duplicates, s);
	CHECK_EQ_U64(st.mailboxes, RCPTS);

	/* Each mailbox holds each key exactly once. */
	const char *mpath = "Roe, Jane at HUBPO1";
	size_t len;
	char *box = read_mailbox(dir, mpath, &len);
	CHECK(box != NULL);
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	ccp_ccm_reader_init(&r, box, len, mpath);
	unsigned seen[KEYS] = { 0 }, n = 0;
	while (ccp_ccm_reader_next(&r, &m) == 1) {
		const struct ccp_ccm_ext *x = ccp_ccm_msg_ext(&m, "X-Spool-Id");
		CHECK(x != NULL);
		unsigned k = (unsigned)strtoul(x->value + 3, NULL, 16);
		CHECK(k < KEYS);
		CHECK(seen[k]++ == 0); /* "We delivered twice" */
		n++;
	}
	CHECK_EQ_U64(n, KEYS);
	ccp_ccm_msg_free(&m);
	free(box);
	printf("test_po_threads: ok (%zu delivered, %zu skipped, %zu locked answers)\n", d, s,
	       locked_seen);
	rm_tree(base);
	free(base);
	return 0;
}

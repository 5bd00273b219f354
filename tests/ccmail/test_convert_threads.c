/*
 * test_convert_threads: converter contexts on several threads at once, as
 * the relay's dispatchers will use them.  All threads start together, so
 * they race to GMime's one-time initialisation; each converts the same
 * messages many times and must produce exactly the octets one thread does.
 *
 * Under ThreadSanitizer this checks the converter's own state; GLib's and
 * GMime's internals are outside its view (tests/tsan.supp).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ccpump/ccm.h"
#include "ccpump/convert.h"

#define THREADS 4
#define ROUNDS 40

static const char *const msgs[] = {
	"From: \"Smith, Sally\" <sally@exchange.example.com>\r\nTo: John Doe <john.doe@ccmail.example.com>\r\n"
	"Subject: =?UTF-8?Q?caf=C3=A9_[1]?=\r\nDate: Tue, 2 Jun 1998 08:39:00 +0000\r\n"
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n",
	"From: a@x.org\r\nTo: b@y.org, c@ccmail.example.com\r\nDate: Wed, 3 Jun 1998 09:00:00 +0000\r\n"
	"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>hi &amp; bye</p>\r\n"
	"--B\r\nContent-Type: application/octet-stream; name=\"data file.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"AAECAwQF\r\n--B--\r\n",
	"From: \r\nTo: b@y.org\r\n\r\nrefused\r\n",
};
#define NMSG (sizeof(msgs) / sizeof(msgs[0]))

static struct ccp_convert_map *map;
static struct ccp_ccm_buf expect[NMSG];
static enum ccp_convert_status expect_st[NMSG];
static pthread_barrier_t start, ready;

static struct ccp_convert *make(void)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.map = map;
	struct ccp_convert *c = ccp_convert_new(&o);
	CHECK(c != NULL);
	return c;
}

static void convert_one(struct ccp_convert *c, size_t i, struct ccp_ccm_buf *out,
			enum ccp_convert_status *st)
{
	struct ccp_convert_input in = { .data = msgs[i], .len = strlen(msgs[i]), .name = "m",
					.key = "k" };
	ccp_ccm_buf_reset(out);
	*st = ccp_convert_message(c, &in, out);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	struct ccp_convert *c = make(); /* the first one in initialises GMime */
	pthread_barrier_wait(&ready);    /* expect[] is complete */
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t i = 0; i < NMSG; i++) {
			enum ccp_convert_status st;
			convert_one(c, i, &out, &st);
			CHECK(st == expect_st[i]);
			CHECK(out.len == expect[i].len);
			CHECK(out.len == 0 || memcmp(out.data, expect[i].data, out.len) == 0);
		}
	}
	ccp_ccm_buf_free(&out);
	ccp_convert_free(c);
	return NULL;
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	pthread_t t[THREADS];
	pthread_barrier_init(&start, NULL, THREADS + 1);
	pthread_barrier_init(&ready, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
	/* The reference, computed while the workers initialise; they compare
	 * against it only after the second barrier. */
	pthread_barrier_wait(&start);
	struct ccp_convert *c = make();
	for (size_t i = 0; i < NMSG; i++) {
		ccp_ccm_buf_init(&expect[i]);
		convert_one(c, i, &expect[i], &expect_st[i]);
	}
	ccp_convert_free(c);
	CHECK(expect_st[0] == CCP_CONVERT_OK && expect_st[1] == CCP_CONVERT_OK);
	CHECK(expect_st[2] == CCP_CONVERT_ERR_NO_FROM);
	pthread_barrier_wait(&ready);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	for (size_t i = 0; i < NMSG; i++)
		ccp_ccm_buf_free(&expect[i]);
	ccp_convert_map_free(map);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&ready);
	ccp_convert_shutdown();
	puts("test_convert_threads: ok");
	return 0;
}

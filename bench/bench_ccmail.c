/*
 * bench_ccmail: conversions per second and imports per second of 1 KB, 10 KB
 * and 100 KB messages, on one core.  Prints numbers; never fails on them.
 *
 *   bench_ccmail [--seconds S] [--po-dir DIR] [--map-users N]
 *
 * Conversion: one converter context converts the same message over and over
 * (parse with GMime, map, transcode, write the .ccm), as a dispatcher thread
 * would.  Import: the converted message with a fresh X-Spool-Id each time is
 * imported into a post office in DIR (default: a new directory under /tmp),
 * in batches of 1 and of 5 messages (the connector's default batch), with
 * fsync on (the default) and off.  A directory it made itself is removed.
 * --map-users N puts N user lines in the address map beside its native
 * domain, as a post office's user list would (none of them the message's:
 * every address is looked up and missed).
 */
#define _GNU_SOURCE /* nftw flags */
#include <ftw.h>
#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccpump/ccm.h"
#include "ccpump/clock.h"
#include "ccpump/convert.h"
#include "ccpump/po.h"

/* An RFC 5322 message of about SIZE octets: a plain body up to 10 KB, and a
 * base64 attachment for the rest above that. */
static void make_message(struct ccp_ccm_buf *b, size_t size)
{
	ccp_ccm_buf_reset(b);
	ccp_ccm_buf_adds(b, "From: \"Smith, Sally\" <sally.smith@exchange.example.com>\r\n"
			    "To: John Doe <john.doe@ccmail.example.com>\r\n"
			    "Cc: Admin <admin@ccmail.example.com>, partner@other.example\r\n"
			    "Subject: =?UTF-8?Q?Quarterly_figures_=E2=80=93_caf=C3=A9?=\r\n"
			    "Date: Tue, 2 Jun 1998 08:39:00 +0000\r\n"
			    "Message-ID: <1234.5678@exchange.example.com>\r\n"
			    "MIME-Version: 1.0\r\n");
	size_t text = size <= 10240 ? size : 8192;
	bool attach = size > 10240;
	if (attach)
		ccp_ccm_buf_adds(b, "Content-Type: multipart/mixed; boundary=\"=b=\"\r\n\r\n"
				    "--=b=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
	else
		ccp_ccm_buf_adds(b, "Content-Type: text/plain; charset=utf-8\r\n"
				    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	static const char line[] = "The figures for the quarter are attached; the caf\xc3\xa9 is open.\r\n";
	while (b->len < text)
		ccp_ccm_buf_adds(b, line);
	if (attach) {
		ccp_ccm_buf_adds(b, "--=b=\r\nContent-Type: application/octet-stream\r\n"
				    "Content-Disposition: attachment; filename=\"figures.bin\"\r\n"
				    "Content-Transfer-Encoding: base64\r\n\r\n");
		while (b->len < size)
			ccp_ccm_buf_adds(b, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n");
		ccp_ccm_buf_adds(b, "--=b=--\r\n");
	}
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* CPU seconds this thread has used: on a shared machine the rate per CPU
 * second says more than the rate per wall second. */
static double thread_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double bench_convert(struct ccp_convert *c, const struct ccp_ccm_buf *msg, double secs,
			    size_t *out_len, double *per_cpu)
{
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	struct ccp_convert_input in = { .data = msg->data, .len = msg->len, .name = "bench",
					.key = "bench-key" };
	double cpu0 = thread_cpu();
	uint64_t n = 0, t0 = ccp_now_ns(), deadline = t0 + (uint64_t)(secs * 1e9), t;
	do {
		for (int i = 0; i < 64; i++) {
			ccp_ccm_buf_reset(&out);
			if (ccp_convert_message(c, &in, &out) != CCP_CONVERT_OK) {
				fprintf(stderr, "bench_ccmail: %s\n", ccp_convert_error(c));
				exit(1);
			}
		}
		n += 64;
		t = ccp_now_ns();
	} while (t < deadline);
	*per_cpu = (double)n / (thread_cpu() - cpu0);
	*out_len = out.len;
	ccp_ccm_buf_free(&out);
	return (double)n / ((double)(t - t0) / 1e9);
}

static double bench_import(const char *dir, struct ccp_convert *c, const struct ccp_ccm_buf *msg,
			   int batch, bool sync, double secs)
{
	char err[512];
	struct ccp_po_opts po;
	ccp_po_opts_default(&po);
	po.sync = sync;
	if (ccp_po_init(dir, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_ccmail: %s\n", err);
		exit(1);
	}
	struct ccp_po *p;
	int rc = ccp_po_open(dir, &po, &p, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench_ccmail: %s\n", err);
		exit(1);
	}
	struct ccp_ccm_buf file;
	ccp_ccm_buf_init(&file);
	uint64_t n = 0, t0 = ccp_now_ns(), deadline = t0 + (uint64_t)(secs * 1e9), t;
	static unsigned long seq;
	do {
		ccp_ccm_buf_reset(&file);
		for (int i = 0; i < batch; i++) {
			char key[64];
			snprintf(key, sizeof(key), "bench-%d-%lu", batch, ++seq);
			struct ccp_convert_input in = { .data = msg->data, .len = msg->len,
							.name = "bench", .key = key };
			if (ccp_convert_message(c, &in, &file) != CCP_CONVERT_OK)
				exit(1);
		}
		struct ccp_po_result res;
		rc = ccp_po_import_buffer(p, file.data, file.len, "bench.ccm", NULL, &res);
		if (rc != 0) {
			fprintf(stderr, "bench_ccmail: import answered %d: %s\n", rc, res.reason);
			exit(1);
		}
		n += (uint64_t)batch;
		t = ccp_now_ns();
	} while (t < deadline);
	ccp_ccm_buf_free(&file);
	ccp_po_close(p);
	return (double)n / ((double)(t - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "po-dir", required_argument, NULL, 'd' },
		{ "map-users", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double secs = 2.0;
	const char *podir = NULL;
	unsigned long map_users = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "s:d:u:h", lo, NULL)) != -1) {
		switch (ch) {
		case 's': secs = atof(optarg); break;
		case 'd': podir = optarg; break;
		case 'u': map_users = strtoul(optarg, NULL, 10); break;
		case 'h':
			printf("usage: bench_ccmail [--seconds S (2)] [--po-dir DIR (new dir in /tmp)] "
			       "[--map-users N (0)]\n");
			return 0;
		default: return 2;
		}
	}
	char tmpl[] = "/tmp/ccpump-bench-XXXXXX";
	if (!podir) {
		podir = mkdtemp(tmpl);
		if (!podir) {
			perror("bench_ccmail: mkdtemp");
			return 1;
		}
	}
	struct ccp_convert_map *map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	for (unsigned long i = 0; i < map_users; i++) {
		char addr[64], name[64];
		snprintf(addr, sizeof(addr), "user%lu@exchange.example.com", i);
		snprintf(name, sizeof(name), "User, No%lu at HUBPO1", i);
		ccp_convert_map_add_user(map, addr, name);
	}
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.map = map;
	struct ccp_convert *c = ccp_convert_new(&o);
	struct ccp_ccm_buf msg;
	ccp_ccm_buf_init(&msg);
	static const size_t sizes[] = { 1024, 10240, 102400 };

	printf("%-7s %8s %8s %10s %10s %10s %10s %10s %10s\n", "size", "rfc5322", "ccm",
	       "convert/s", "convert/s", "import1/s", "import5/s", "import1/s", "import5/s");
	printf("%-7s %8s %8s %10s %10s %10s %10s %10s %10s\n", "", "octets", "octets", "wall",
	       "per CPU s", "fsync", "fsync", "no fsync", "no fsync");
	for (size_t i = 0; i < 3; i++) {
		size_t ccm_len = 0;
		double per_cpu = 0;
		make_message(&msg, sizes[i]);
		double conv = bench_convert(c, &msg, secs, &ccm_len, &per_cpu);
		double imp[4];
		for (int k = 0; k < 4; k++) {
			char dir[4200];
			snprintf(dir, sizeof(dir), "%s/po-%zu-%d", podir, sizes[i], k);
			imp[k] = bench_import(dir, c, &msg, (k & 1) ? 5 : 1, k < 2, secs / 2);
		}
		printf("%-7s %8zu %8zu %10.0f %10.0f %10.0f %10.0f %10.0f %10.0f\n",
		       i == 0 ? "1 KB" : i == 1 ? "10 KB" : "100 KB", msg.len, ccm_len, conv,
		       per_cpu, imp[0], imp[1], imp[2], imp[3]);
	}
	if (podir == tmpl)
		nftw(podir, rm_one, 16, FTW_DEPTH | FTW_PHYS); /* ours: remove it */
	else
		printf("post offices left in %s\n", podir);
	ccp_ccm_buf_free(&msg);
	ccp_convert_free(c);
	ccp_convert_map_free(map);
	ccp_convert_shutdown();
	return 0;
}

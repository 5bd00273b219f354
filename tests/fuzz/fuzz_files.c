/*
 * fuzz_files: the files an operator writes or a crash may leave torn, read
 * back on any octets.  The input's first octet picks the file, the rest is
 * its text:
 *   0  a --map file (ccp_convert_map_load()): loaded, or refused with one
 *      line that names the file; a map that loads converts a fixed
 *      message, or refuses it with one line, and what it writes reads
 *      back as one message;
 *   1  a post office's po.conf: the post office opens, or is refused as
 *      misconfigured with one line that names it; one that opens imports
 *      a fixed batch, answering 0 or 5;
 *   2  its user directory (users): the post office opens whatever the file
 *      holds, unless it names no user (refused as misconfigured), and the
 *      batch is imported (0, or 5 with a reason);
 *   3  its delivery.log: it opens whatever the log holds, the batch is
 *      imported (0), imported again delivers nothing, and `po stats` reads
 *      the log;
 *   4  an import.journal a crash left: the next import finishes or undoes
 *      that import first, or refuses a damaged journal as misconfigured
 *      with one line; what it cuts back never reaches outside its
 *      mailboxes/ and store/ (a file beside the post office keeps its
 *      length), and the batch is then imported as in 3.
 * Each input gets a post office of its own (no fsync), removed after.
 */
#define _GNU_SOURCE /* nftw flags */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/ccm.h"
#include "ccpump/convert.h"
#include "ccpump/log.h"
#include "ccpump/po.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], dir[128], fence[160];
static const char fence_text[] = "beside the post office, not its own";
static struct ccp_ccm_buf batch; /* the fixed message, converted once */

static const char message[] =
	"From: \"Ann Sender\" <ann@example.org>\r\n"
	"To: \"Doe, John\" <john@example.org>, bob@example.com\r\n"
	"Cc: admin@example.org\r\n"
	"Subject: files\r\n"
	"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
	"\r\n"
	"hello\r\n";

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CCP_ASSERT(fd >= 0);
	CCP_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* A refusal is one line that names what it refuses. */
static void one_line_naming(const char *err, const char *what)
{
	CCP_ASSERT(err[0] != '\0');
	CCP_ASSERT(strchr(err, '\n') == NULL);
	CCP_ASSERT(strncmp(err, what, strlen(what)) == 0);
}

/* Converts the fixed message into B with MAP (NULL: none).  Returns the
 * converter's answer; a refusal has its one line. */
static enum ccp_convert_status convert(const struct ccp_convert_map *map, const char *site,
				       struct ccp_ccm_buf *b)
{
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	o.map = map;
	if (site)
		o.site = site;
	struct ccp_convert *c = ccp_convert_new(&o);
	CCP_ASSERT(c != NULL);
	struct ccp_convert_input in = { .data = message, .len = sizeof(message) - 1,
					.name = "message", .key = "1764288000.M1P1.fuzz" };
	enum ccp_convert_status s = ccp_convert_message(c, &in, b);
	if (s != CCP_CONVERT_OK)
		one_line_naming(ccp_convert_error(c), "message");
	ccp_convert_free(c);
	return s;
}

static void fuzz_map(const uint8_t *data, size_t size)
{
	char path[160], err[512] = "";
	snprintf(path, sizeof(path), "%s/map", base);
	write_file(path, data, size);
	struct ccp_convert_map *map = ccp_convert_map_new();
	char *site = NULL;
	if (ccp_convert_map_load(map, path, &site, err, sizeof(err)) != 0) {
		one_line_naming(err, path);
	} else {
		struct ccp_ccm_buf b;
		ccp_ccm_buf_init(&b);
		if (convert(map, site, &b) == CCP_CONVERT_OK) {
			struct ccp_ccm_reader r;
			struct ccp_ccm_msg m;
			ccp_ccm_msg_init(&m);
			ccp_ccm_reader_init(&r, b.data, b.len, "converted");
			CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 1);
			CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 0);
			ccp_ccm_msg_free(&m);
		}
		ccp_ccm_buf_free(&b);
	}
	ccp_free(site);
	ccp_convert_map_free(map);
}

/* Makes a fresh post office at DIR (with a user directory when USERS),
 * writes the input as its file NAME, opens it and imports the batch. */
static void fuzz_po(const char *name, bool users, const uint8_t *data, size_t size)
{
	char err[512] = "", path[192], upath[160];
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	if (users) {
		snprintf(upath, sizeof(upath), "%s/users.in", base);
		write_file(upath, (const uint8_t *)"Admin at HUBPO1\n", 16);
		io.users = upath;
	}
	if (ccp_po_init(dir, &io, err, sizeof(err)) != 0)
		ccp_panic("%s", err);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, data, size);

	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false;
	o.env_fault = false;
	struct ccp_po *po;
	int rc = ccp_po_open(dir, &o, &po, err, sizeof(err));
	if (rc != 0) {
		/* Only po.conf, and a user directory that names no user (every
		 * recipient would be unknown), make a post office one that does
		 * not open. */
		CCP_ASSERT(rc == CCP_PO_MISCONFIGURED);
		CCP_ASSERT(strcmp(name, "po.conf") == 0 ||
			   (users && strstr(err, "/users names no user") != NULL));
		one_line_naming(err, dir);
		return;
	}
	struct ccp_po_result r1, r2;
	rc = ccp_po_import_buffer(po, batch.data, batch.len, "fuzz.ccm", NULL, &r1);
	/* The import finishes or undoes what a journal names first, and what
	 * it cuts back never reaches outside the post office. */
	CCP_ASSERT(file_size(fence) == sizeof(fence_text) - 1);
	if (strcmp(name, "import.journal") == 0 && rc == CCP_PO_MISCONFIGURED) {
		/* A damaged journal: refused until someone looks. */
		one_line_naming(r1.reason, dir);
		CCP_ASSERT(strstr(r1.reason, "import.journal: damaged") != NULL);
		ccp_po_close(po);
		return;
	}
	CCP_ASSERT(rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE);
	CCP_ASSERT(rc == CCP_PO_OK || r1.reason[0] != '\0');
	/* Without a user directory every recipient is known. */
	CCP_ASSERT(users || strcmp(name, "po.conf") == 0 || rc == CCP_PO_OK);
	rc = ccp_po_import_buffer(po, batch.data, batch.len, "fuzz.ccm", NULL, &r2);
	CCP_ASSERT(rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE);
	CCP_ASSERT(r2.delivered == 0);
	ccp_po_close(po);
	struct ccp_po_stats st;
	CCP_ASSERT(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
}

static void cleanup(void)
{
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ccp_ccm_buf_free(&batch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Post offices live in memory where there is a tmpfs for it. */
	snprintf(base, sizeof(base), "%s/ccpump-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(base))
		ccp_panic("mkdtemp failed");
	snprintf(dir, sizeof(dir), "%s/po", base);
	snprintf(fence, sizeof(fence), "%s/fence", base);
	write_file(fence, (const uint8_t *)fence_text, sizeof(fence_text) - 1);
	ccp_ccm_buf_init(&batch);
	if (convert(NULL, NULL, &batch) != CCP_CONVERT_OK)
		ccp_panic("the fixed message does not convert");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The post office's files, after the map (0). */
	static const struct {
		const char *name;
		bool users;
	} po_files[] = { { "po.conf", false },
			 { "users", true },
			 { "delivery.log", false },
			 { "import.journal", false } };
	unsigned k = data[0] % (1 + sizeof(po_files) / sizeof(po_files[0]));
	if (k == 0)
		fuzz_map(data + 1, size - 1);
	else
		fuzz_po(po_files[k - 1].name, po_files[k - 1].users, data + 1, size - 1);
	return 0;
}

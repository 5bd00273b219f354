/*
 * fuzz_import: the post office's import on any input.  Each input is
 * imported twice into a scratch post office (no fsync) that has a user
 * directory: the answer is 0 or 5 (never a crash, never 1 on a healthy
 * directory), the second import delivers nothing, and the log never holds
 * a duplicate delivery.  The post office is made afresh every 500 inputs.
 */
#define _GNU_SOURCE /* nftw flags */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccpump/log.h"
#include "ccpump/po.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], dir[128], users[128];
static struct ccp_po *po;
static unsigned uses;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fresh(void)
{
	char err[512];
	if (po) {
		struct ccp_po_stats st;
		ccp_po_close(po);
		CCP_ASSERT(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
		CCP_ASSERT(st.duplicate_deliveries == 0);
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	io.users = users;
	if (ccp_po_init(dir, &io, err, sizeof(err)) != 0)
		ccp_panic("%s", err);
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false;
	o.env_fault = false;
	if (ccp_po_open(dir, &o, &po, err, sizeof(err)) != 0)
		ccp_panic("%s", err);
	uses = 0;
}

static void cleanup(void)
{
	ccp_po_close(po);
	po = NULL;
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(base, sizeof(base), "/tmp/ccpump-fuzz-XXXXXX");
	if (!mkdtemp(base))
		ccp_panic("mkdtemp failed");
	snprintf(dir, sizeof(dir), "%s/po", base);
	snprintf(users, sizeof(users), "%s/users", base);
	FILE *f = fopen(users, "w");
	CCP_ASSERT(f != NULL);
	fputs("Admin at HUBPO1\nDoe, John at HUBPO1\nB\nC\n", f);
	fclose(f);
	fresh();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ccp_po_result r1, r2;
	if (++uses > 500)
		fresh();
	int rc = ccp_po_import_buffer(po, (const char *)data, size, "fuzz.ccm", NULL, &r1);
	CCP_ASSERT(rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE);
	CCP_ASSERT(rc == CCP_PO_OK || r1.reason[0] != '\0');
	rc = ccp_po_import_buffer(po, (const char *)data, size, "fuzz.ccm", NULL, &r2);
	CCP_ASSERT(rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE);
	CCP_ASSERT(r2.delivered == 0);
	CCP_ASSERT(r2.messages == r1.messages);
	CCP_ASSERT(r2.skipped == r1.delivered + r1.skipped);
	return 0;
}

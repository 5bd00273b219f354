/*
 * fuzz_ccm: the .ccm reader on any input.  Beyond "no crash, no read out of
 * bounds" (ASan checks the exact-size copy), every message the reader
 * accepts must be one the writer takes back, and writing is a fixed point
 * after one pass: read -> write -> read -> write gives the same octets, with
 * no size warnings on the second read.  The post office relies on both.
 * The input is also taken as a spool file name, whose spool id must be one
 * header-safe word that names it and nothing shorter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct ccp_ccm_reader r, r2;
	struct ccp_ccm_msg m, m2;
	struct ccp_ccm_buf b1, b2;
	ccp_ccm_msg_init(&m);
	ccp_ccm_msg_init(&m2);
	ccp_ccm_buf_init(&b1);
	ccp_ccm_buf_init(&b2);
	ccp_ccm_reader_init(&r, copy, size, "fuzz");
	int rc;
	size_t consumed = 0;
	while ((rc = ccp_ccm_reader_next(&r, &m)) != 0) {
		CCP_ASSERT(m.raw >= copy && m.raw + m.raw_len <= copy + size);
		consumed += m.raw_len;
		if (rc < 0) {
			CCP_ASSERT(r.error[0] != '\0');
			continue;
		}
		ccp_ccm_buf_reset(&b1);
		CCP_ASSERT(ccp_ccm_write(&b1, &m) == 0);
		ccp_ccm_reader_init(&r2, b1.data, b1.len, "fuzz-1");
		CCP_ASSERT(ccp_ccm_reader_next(&r2, &m2) == 1);
		CCP_ASSERT(m2.warnings == 0);
		CCP_ASSERT(m2.nrcpt == m.nrcpt && m2.nitem == m.nitem && m2.next == m.next);
		ccp_ccm_buf_reset(&b2);
		CCP_ASSERT(ccp_ccm_write(&b2, &m2) == 0);
		CCP_ASSERT(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
		CCP_ASSERT(ccp_ccm_reader_next(&r2, &m2) == 0);
	}
	CCP_ASSERT(consumed <= size);
	/* The input as a spool file name: its spool id is printable ASCII
	 * without a space, is the id of that name, and of no shorter one (a
	 * name cut at any point has another id). */
	size_t nlen = size < 255 ? size : 255;
	ccp_ccm_buf_reset(&b1);
	ccp_ccm_spool_id_add(&b1, copy, nlen);
	for (size_t i = 0; i < b1.len; i++)
		CCP_ASSERT(b1.data[i] > 0x20 && b1.data[i] < 0x7f);
	CCP_ASSERT(ccp_ccm_spool_id_is(b1.data, b1.len, copy, nlen));
	if (nlen)
		CCP_ASSERT(!ccp_ccm_spool_id_is(b1.data, b1.len, copy, nlen - 1));
	ccp_ccm_buf_free(&b1);
	ccp_ccm_buf_free(&b2);
	ccp_ccm_msg_free(&m);
	ccp_ccm_msg_free(&m2);
	free(copy);
	return 0;
}

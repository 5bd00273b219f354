/*
 * fuzz_convert: RFC 5322/MIME -> cc:Mail on any input.  Each input converts
 * or is refused with a reason naming it; what converts must read back as
 * exactly one message with every size right.  And the light path must agree
 * with GMime's full parse: the same status, octets and reason.  With
 * --long-names (whose file names are made otherwise) it converts or is
 * refused alike, and what converts reads back as well.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/convert.h"
#include "ccpump/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ccp_convert *conv, *full, *longn;
static struct ccp_convert_map *map;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct ccp_convert_opts o;
	ccp_convert_opts_default(&o);
	map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	o.map = map;
	conv = ccp_convert_new(&o);
	o.full_parse = true;
	full = ccp_convert_new(&o);
	o.full_parse = false;
	o.long_names = true;
	longn = ccp_convert_new(&o);
	CCP_ASSERT(conv != NULL && full != NULL && longn != NULL);
	return 0;
}

/* OUT, a conversion, reads back as exactly one message with every size
 * right, a sender, recipients within the address buffer, text items
 * within their limit and every file named. */
static void check_read_back(const struct ccp_ccm_buf *out)
{
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	ccp_ccm_reader_init(&r, out->data, out->len, "fuzz.ccm");
	CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 1);
	CCP_ASSERT(m.warnings == 0);
	CCP_ASSERT(m.nrcpt > 0 && m.from_len > 0);
	CCP_ASSERT(ccp_ccm_addr_bytes(&m) <= CCP_CCM_ADDR_BUFFER_SMALL);
	for (size_t i = 0; i < m.nitem; i++) {
		CCP_ASSERT(m.item[i].kind != CCP_CCM_ITEM_TEXT ||
			   m.item[i].len <= CCP_CCM_TEXT_ITEM_MAX);
		CCP_ASSERT(m.item[i].kind != CCP_CCM_ITEM_FILE || m.item[i].title_len > 0);
	}
	CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 0);
	ccp_ccm_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	const char *env[] = { "extra@ccmail.example.com" };
	struct ccp_convert_input in = { .data = (const char *)data, .len = size, .name = "fuzz.eml",
					.key = "fuzz-key", .envelope = env, .nenvelope = size & 1,
					.now = 1 };
	enum ccp_convert_status st = ccp_convert_message(conv, &in, &out);
	struct ccp_ccm_buf out_full;
	ccp_ccm_buf_init(&out_full);
	CCP_ASSERT(ccp_convert_message(full, &in, &out_full) == st);
	CCP_ASSERT(out_full.len == out.len &&
		   (out.len == 0 || memcmp(out_full.data, out.data, out.len) == 0));
	CCP_ASSERT(st == CCP_CONVERT_OK ||
		   strcmp(ccp_convert_error(conv), ccp_convert_error(full)) == 0);
	ccp_ccm_buf_free(&out_full);
	struct ccp_ccm_buf out_long;
	ccp_ccm_buf_init(&out_long);
	CCP_ASSERT(ccp_convert_message(longn, &in, &out_long) == st);
	if (st == CCP_CONVERT_OK) {
		check_read_back(&out);
		check_read_back(&out_long);
	} else {
		CCP_ASSERT(out.len == 0);
		CCP_ASSERT(strncmp(ccp_convert_error(conv), "fuzz.eml: refused: ", 19) == 0);
	}
	ccp_ccm_buf_free(&out);
	ccp_ccm_buf_free(&out_long);
	return 0;
}

/*
 * fuzz_convert: RFC 5322/MIME -> cc:Mail on any input.  Each input converts
 * or is refused with a reason naming it; what converts must read back as
 * exactly one message with every size right.  And the light path must agree
 * with GMime's full parse: the same status, octets and reason.
 *
 * A third conversion takes options the input chooses, each a bit of the last
 * octet XORed with the length, from the lowest: CP850, --keep-brackets,
 * --long-names, --html-as-file, --v8-attachments, --no-spool-id and the
 * large address buffer (choose()).
 * The message is the whole input all the same, so a seed (an RFC 5322
 * message of tests/data) means what it did, and seeds of other lengths try
 * other options though all end in a line end.  It converts or is refused as
 * the default conversion is (but for a Header Buffer Full, which the large
 * buffer may hold, and which CP850, whose address lines may be longer or
 * shorter, may bring or take away), reads back as well, keeps no bracket in
 * the Subject unless asked to, and with no option chosen gives the
 * default's very octets.  Inputs that once broke these rules are seeds of
 * their own, in tests/data/fuzz/.
 *
 * Inputs of a length with bit 1 set are converted once more, twice, with
 * --envelope-field X-Original-To, by the light path and by the full parse:
 * the two agree as above, and what converts reads back.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/convert.h"
#include "ccpump/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sets of options an input may choose: seven bits. */
#define OPTION_SETS 128

static struct ccp_convert *conv, *full, *env_light, *env_full;
/* A context per set of options, made when an input first chooses it. */
static struct ccp_convert *chosen[OPTION_SETS];
static struct ccp_convert_map *map;

static void opts_base(struct ccp_convert_opts *o)
{
	ccp_convert_opts_default(o);
	o->map = map;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A GLib critical is a call against GLib's or GMime's contract (a
	 * NULL where a string must be): a finding, not a line in the log. */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
	map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	struct ccp_convert_opts o;
	opts_base(&o);
	conv = ccp_convert_new(&o);
	o.full_parse = true;
	full = ccp_convert_new(&o);
	o.envelope_field = "X-Original-To";
	env_full = ccp_convert_new(&o);
	o.full_parse = false;
	env_light = ccp_convert_new(&o);
	CCP_ASSERT(conv != NULL && full != NULL && env_light != NULL && env_full != NULL);
	return 0;
}

/* The options of set BITS (below OPTION_SETS) into O, and the context
 * that converts with them. */
static struct ccp_convert *choose(unsigned bits, struct ccp_convert_opts *o)
{
	opts_base(o);
	o->codepage = bits & 1 ? CCP_CP850 : CCP_CP437;
	o->import8 = !(bits & 2); /* --keep-brackets */
	o->long_names = bits & 4;
	o->html_as_file = bits & 8;
	o->v8_attachments = bits & 16;
	o->spool_id = !(bits & 32); /* --no-spool-id */
	o->addr_buffer = bits & 64 ? CCP_CCM_ADDR_BUFFER_LARGE : CCP_CCM_ADDR_BUFFER_SMALL;
	if (!chosen[bits])
		chosen[bits] = ccp_convert_new(o);
	CCP_ASSERT(chosen[bits] != NULL);
	return chosen[bits];
}

/* OUT, a conversion with options O, reads back as exactly one message with
 * every size right, a sender, recipients within the address buffer, text
 * items within their limit, every file named, and no bracket in the
 * Subject where Import 8.x would refuse one. */
static void check_read_back(const struct ccp_ccm_buf *out, const struct ccp_convert_opts *o)
{
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m;
	ccp_ccm_msg_init(&m);
	ccp_ccm_reader_init(&r, out->data, out->len, "fuzz.ccm");
	CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 1);
	CCP_ASSERT(m.warnings == 0);
	CCP_ASSERT(m.nrcpt > 0 && m.from_len > 0);
	CCP_ASSERT(ccp_ccm_addr_bytes(&m) <= o->addr_buffer);
	CCP_ASSERT(!o->import8 || m.subject_len == 0 ||
		   (!memchr(m.subject, '[', m.subject_len) && !memchr(m.subject, ']', m.subject_len)));
	for (size_t i = 0; i < m.nitem; i++) {
		CCP_ASSERT(m.item[i].kind != CCP_CCM_ITEM_TEXT ||
			   m.item[i].len <= CCP_CCM_TEXT_ITEM_MAX);
		CCP_ASSERT(m.item[i].kind != CCP_CCM_ITEM_FILE || m.item[i].title_len > 0);
	}
	CCP_ASSERT(ccp_ccm_reader_next(&r, &m) == 0);
	ccp_ccm_msg_free(&m);
}

/* Converts IN with LIGHT_CV (the light path where it can) into OUT and
 * with FULL_CV (GMime's full parse) aside: the two give the same status,
 * octets and reason.  Returns the status. */
static enum ccp_convert_status convert_both(struct ccp_convert *light_cv,
					    struct ccp_convert *full_cv,
					    const struct ccp_convert_input *in,
					    struct ccp_ccm_buf *out)
{
	enum ccp_convert_status st = ccp_convert_message(light_cv, in, out);
	struct ccp_ccm_buf out_full;
	ccp_ccm_buf_init(&out_full);
	CCP_ASSERT(ccp_convert_message(full_cv, in, &out_full) == st);
	CCP_ASSERT(out_full.len == out->len &&
		   (out->len == 0 || memcmp(out_full.data, out->data, out->len) == 0));
	CCP_ASSERT(st == CCP_CONVERT_OK ||
		   strcmp(ccp_convert_error(light_cv), ccp_convert_error(full_cv)) == 0);
	ccp_ccm_buf_free(&out_full);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	const char *env[] = { "extra@ccmail.example.com" };
	struct ccp_convert_input in = { .data = (const char *)data, .len = size, .name = "fuzz.eml",
					.key = "fuzz-key", .envelope = env, .nenvelope = size & 1,
					.now = 1 };
	enum ccp_convert_status st = convert_both(conv, full, &in, &out);

	struct ccp_convert_opts def, o;
	opts_base(&def);
	unsigned bits = size ? (data[size - 1] ^ (unsigned)size) % OPTION_SETS : 0;
	struct ccp_convert *cv = choose(bits, &o);
	struct ccp_ccm_buf out_opt;
	ccp_ccm_buf_init(&out_opt);
	enum ccp_convert_status st_opt = ccp_convert_message(cv, &in, &out_opt);
	/* The default's status, but for a Header Buffer Full: the large
	 * buffer may hold what the small one cannot, and in the other code
	 * page the address lines are of another length (a name with no letter
	 * or digit in one code page counts as none there, and the address
	 * stands for it), so they may go over the buffer or come under it.
	 * The header is judged before the body: a message past the buffer's
	 * refusal may be refused later for another reason (MIME nested too
	 * deep), and one refused later may meet the buffer first. */
	bool cp_other = o.codepage != def.codepage;
	CCP_ASSERT(st_opt == st ||
		   (st == CCP_CONVERT_ERR_HEADER_FULL &&
		    (o.addr_buffer > def.addr_buffer || cp_other)) ||
		   (st_opt == CCP_CONVERT_ERR_HEADER_FULL && cp_other));
	if (st == CCP_CONVERT_OK) {
		check_read_back(&out, &def);
	} else {
		CCP_ASSERT(out.len == 0);
		CCP_ASSERT(strncmp(ccp_convert_error(conv), "fuzz.eml: refused: ", 19) == 0);
	}
	if (st_opt == CCP_CONVERT_OK)
		check_read_back(&out_opt, &o);
	if (bits == 0)
		CCP_ASSERT(out_opt.len == out.len &&
			   (out.len == 0 || memcmp(out_opt.data, out.data, out.len) == 0));
	ccp_ccm_buf_free(&out);
	ccp_ccm_buf_free(&out_opt);
	if (size & 2) {
		struct ccp_ccm_buf a;
		ccp_ccm_buf_init(&a);
		if (convert_both(env_light, env_full, &in, &a) == CCP_CONVERT_OK)
			check_read_back(&a, &def);
		ccp_ccm_buf_free(&a);
	}
	return 0;
}

/*
 * opts_format.c: the flags of the cc:Mail side shared by convert and relay
 * (opts.h).  Apart from opts.c, which ccpump-bench links without the
 * cc:Mail side.
 */
#include "cli/opts.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ccpump/ccm.h"
#include "ccpump/codepage.h"

int ccp_opt_site(const char *cmd, const char *val)
{
	const unsigned char *p = (const unsigned char *)val;
	bool blank = true;
	for (; *p; p++) {
		if (*p < 32 || *p == 127)
			break;
		blank &= *p == ' ';
	}
	if (!blank && !*p)
		return 0;
	ccp_opt_error("ccpump %s: --site: '%s' is not a site's name (not empty, no control "
		"characters)", cmd, ccp_opt_shown(val));
	return -1;
}

int ccp_opt_format(const char *cmd, int c, const char *val, struct ccp_convert_opts *o)
{
	switch (c) {
	case CCP_OPT_CODEPAGE:
		if (ccp_codepage_parse(val, &o->codepage))
			return 0;
		ccp_opt_error("ccpump %s: --codepage: '%s' is not 437 or 850", cmd,
			ccp_opt_shown(val));
		return -1;
	case CCP_OPT_ADDR_BUFFER: {
		uint64_t v;
		if (ccp_opt_u64(cmd, "--addr-buffer", val, 64, CCP_CCM_ADDR_BUFFER_LARGE, &v) != 0)
			return -1;
		o->addr_buffer = (size_t)v;
		return 0;
	}
	case CCP_OPT_LONG_NAMES: o->long_names = true; return 0;
	case CCP_OPT_V8_ATTACHMENTS: o->v8_attachments = true; return 0;
	case CCP_OPT_KEEP_BRACKETS: o->import8 = false; return 0;
	case CCP_OPT_HTML_AS_FILE: o->html_as_file = true; return 0;
	case CCP_OPT_NATIVE_NAMES:
		if (strcmp(val, "display") == 0 || strcmp(val, "address") == 0) {
			o->native_by_address = val[0] == 'a';
			return 0;
		}
		ccp_opt_error("ccpump %s: --native-names: '%s' is not display or address", cmd,
			ccp_opt_shown(val));
		return -1;
	}
	return 1;
}

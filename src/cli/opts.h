/*
 * opts.h: strict parsing of numeric flag values for the subcommands.
 * Each returns 0, or prints one line naming the flag and the value and
 * returns -1 (the caller exits with status 2).  Numbers are plain decimal:
 * digits, and for seconds a fraction and an exponent; no sign, space,
 * hexadecimal, "inf" or "nan".
 */
#ifndef CCPUMP_CLI_OPTS_H
#define CCPUMP_CLI_OPTS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "ccpump/convert.h"
#include "ccpump/pump.h"
#include "ccpump/wait.h"

/* VAL as an error line shows it: its control characters, and octets of
 * no UTF-8 character, escaped (ccp_escape_controls()), since a script may
 * pass a variable that holds anything and the line goes to a terminal.
 * In a buffer the next call reuses. */
const char *ccp_opt_shown(const char *val);

/* Prints one error line on stderr (FMT has no "\n": the line's end is
 * added), its control characters and octets of no UTF-8 character escaped
 * as ccp_opt_shown() escapes a value: a path or a library's reason that
 * holds a line break stays on the one line. */
void ccp_opt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A directory's path: not empty (an unset variable in a unit file or a
 * cron line), which would name the working directory's parent's entry ''
 * in every error after it.  *OUT = VAL. */
int ccp_opt_dir(const char *cmd, const char *flag, const char *val, const char **out);

int ccp_opt_u64(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		uint64_t *out);
/* Octets: a whole number, or one with K, M or G (powers of 1024). */
int ccp_opt_size(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		 uint64_t *out);
/* V as ccp_opt_size() reads it back: with G, M or K where one divides it
 * exactly, else in octets (a help text's default). */
const char *ccp_opt_size_text(uint64_t v, char buf[static 32]);
/* NS nanoseconds as seconds, every digit kept and none more: 1234567,
 * 0.4, 600.0000001 (a help text's default, an error naming two values
 * that must differ where they do). */
const char *ccp_opt_seconds_text(uint64_t ns, char buf[static 32]);
int ccp_opt_unsigned(const char *cmd, const char *flag, const char *val, unsigned min,
		     unsigned max, unsigned *out);
int ccp_opt_seconds(const char *cmd, const char *flag, const char *val, double min, double max,
		    double *out);
/* Seconds as nanoseconds, to the nearest: a positive value that would
 * round to 0 ns is refused, since 0 means none (never, no limit). */
int ccp_opt_ns(const char *cmd, const char *flag, const char *val, double min, double max,
	       uint64_t *out);

/*
 * Every command parses with getopt_long(), opterr 0 and an optstring that
 * starts with ':', and hands what getopt returns for a flag it could not
 * take ('?' or ':') here, with its table LO: one line naming that flag,
 * as the user typed it ("unknown option '-x'", "option '--batch' needs a
 * value", "option '--once' takes no value").  Returns -1.
 */
int ccp_opt_bad(const char *cmd, int c, int argc, char *const *argv, const struct option *lo);

/* A power of two from min to max (ring sizes). */
int ccp_opt_pow2(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		 uint64_t *out);
/* --envelope-field: a header field's name (RFC 5322: printable ASCII but
 * ':', not empty). */
int ccp_opt_field_name(const char *cmd, const char *flag, const char *val);
/* --site: the name in "at SITE" of every foreign address: not empty or
 * blank (the default would stand in for it without a word), and no
 * control character (a line break would end the Import line). */
int ccp_opt_site(const char *cmd, const char *val);
/* --log-level: debug, info, warning or error; sets the threshold. */
int ccp_opt_log_level(const char *cmd, const char *val);
/* --wait: spin, yield or block for both sides, or POLLERS,DISPATCHERS. */
int ccp_opt_wait(const char *cmd, const char *val, struct ccp_pump_config *p);

/*
 * The engine's tuning flags, one spelling, one set of bounds (the pump's own,
 * ccp_pump_create()) and one help text for every command that runs a pump.
 * A command lists CCP_PUMP_OPTIONS in its getopt_long table and hands every
 * option getopt returns to ccp_opt_pump() before its own switch.
 */
enum ccp_pump_opt {
	CCP_OPT_POLLERS = 0x1000,
	CCP_OPT_DISPATCHERS,
	CCP_OPT_RING,
	CCP_OPT_BATCH,
	CCP_OPT_WAIT,
	CCP_OPT_PIN,
};

#define CCP_PUMP_OPTIONS                                                    \
	{ "pollers", required_argument, NULL, CCP_OPT_POLLERS },            \
	{ "dispatchers", required_argument, NULL, CCP_OPT_DISPATCHERS },    \
	{ "ring-size", required_argument, NULL, CCP_OPT_RING },             \
	{ "batch", required_argument, NULL, CCP_OPT_BATCH },                \
	{ "wait", required_argument, NULL, CCP_OPT_WAIT },                  \
	{ "pin", no_argument, NULL, CCP_OPT_PIN }

/* Applies option c with value val to p.  Returns 0 when c is a pump flag
 * and val is good, -1 when val is bad (one line printed), 1 when c is not
 * a pump flag. */
int ccp_opt_pump(const char *cmd, int c, const char *val, struct ccp_pump_config *p);

/* The help lines of the pump flags, with p's values as the defaults. */
void ccp_opt_pump_help(FILE *out, const struct ccp_pump_config *p);

/*
 * The Import format's flags, for the cc:Mail release that takes the
 * output: one spelling and one set of bounds for convert and relay, which
 * list CCP_FORMAT_OPTIONS in their tables and hand every option to
 * ccp_opt_format() before their own switch.
 */
enum ccp_format_opt {
	CCP_OPT_CODEPAGE = 0x1100,
	CCP_OPT_ADDR_BUFFER,
	CCP_OPT_LONG_NAMES,
	CCP_OPT_V8_ATTACHMENTS,
	CCP_OPT_KEEP_BRACKETS,
	CCP_OPT_HTML_AS_FILE,
	CCP_OPT_NATIVE_NAMES,
};

#define CCP_FORMAT_OPTIONS                                                  \
	{ "codepage", required_argument, NULL, CCP_OPT_CODEPAGE },          \
	{ "addr-buffer", required_argument, NULL, CCP_OPT_ADDR_BUFFER },    \
	{ "long-names", no_argument, NULL, CCP_OPT_LONG_NAMES },            \
	{ "v8-attachments", no_argument, NULL, CCP_OPT_V8_ATTACHMENTS },    \
	{ "keep-brackets", no_argument, NULL, CCP_OPT_KEEP_BRACKETS },      \
	{ "html-as-file", no_argument, NULL, CCP_OPT_HTML_AS_FILE },        \
	{ "native-names", required_argument, NULL, CCP_OPT_NATIVE_NAMES }

/* Applies option c with value val to o: 0 when c is a format flag and val
 * is good, -1 when val is bad (one line printed), 1 when c is not one. */
int ccp_opt_format(const char *cmd, int c, const char *val, struct ccp_convert_opts *o);

#endif

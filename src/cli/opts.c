/*
 * opts.c: numeric flag values, checked in full ("12x" and "" are errors),
 * and the one line for a flag getopt_long() could not take.
 */
#include "cli/opts.h"

#include "ccpump/log.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first LEN octets of VAL, as ccp_opt_shown() shows VAL. */
static const char *shown_n(const char *val, size_t len)
{
	static char buf[1024];
	ccp_escape_controls(buf, sizeof(buf), val, len);
	return buf;
}

const char *ccp_opt_shown(const char *val)
{
	return shown_n(val, strlen(val));
}

static size_t count_digits(const char *p)
{
	size_t n = 0;
	while (p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/*
 * The end of the plain decimal number VAL starts with: digits and, where
 * FRACTION allows, a fraction and an exponent ("1.5", ".5", "2e-3").  NULL
 * when VAL does not start with one.  strtoull() and strtod() take more
 * than a person means by a number: leading space, a sign (strtoull() wraps
 * "-1" to 2^64 - 1), and strtod() hexadecimal ("0x10" is 16), "inf" and
 * "nan"; each of them is a typing mistake here, not a value.
 */
static const char *number_end(const char *val, bool fraction)
{
	size_t whole = count_digits(val), part = 0;
	const char *p = val + whole;
	if (fraction && *p == '.') {
		part = count_digits(p + 1);
		p += 1 + part;
	}
	if (whole + part == 0)
		return NULL;
	if (fraction && (*p == 'e' || *p == 'E')) {
		const char *e = p + 1 + (p[1] == '-' || p[1] == '+');
		size_t n = count_digits(e);
		if (n == 0)
			return NULL;
		p = e + n;
	}
	return p;
}

void ccp_opt_error(const char *fmt, ...)
{
	char line[8192], shown[4 * sizeof(line) + 1];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	ccp_escape_controls(shown, sizeof(shown), line, len);
	fprintf(stderr, "%s\n", shown);
}

int ccp_opt_dir(const char *cmd, const char *flag, const char *val, const char **out)
{
	if (val[0] == '\0') {
		ccp_opt_error("ccpump %s: %s '': no directory given", cmd, flag);
		return -1;
	}
	*out = val;
	return 0;
}

const char *ccp_opt_seconds_text(uint64_t ns, char buf[static 32])
{
	int n = snprintf(buf, 32, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
			 (unsigned long long)(ns % 1000000000u));
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

int ccp_opt_u64(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		uint64_t *out)
{
	const char *digits_end = number_end(val, false);
	errno = 0;
	unsigned long long v = digits_end ? strtoull(val, NULL, 10) : 0;
	if (!digits_end || *digits_end != '\0' || errno == ERANGE || v < min || v > max) {
		fprintf(stderr, "ccpump %s: %s: '%s' is not a whole number from %" PRIu64 " to %" PRIu64 "\n",
			cmd, flag, ccp_opt_shown(val), min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int ccp_opt_size(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	const char *end = number_end(val, false);
	errno = 0;
	unsigned long long v = end ? strtoull(val, NULL, 10) : 0;
	unsigned shift = 0;
	switch (end ? *end : '\0') {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (!end || *end != '\0' || errno == ERANGE || v > (max >> shift) || (v << shift) < min) {
		fprintf(stderr,
			"ccpump %s: %s: '%s' is not a size from %" PRIu64 " to %" PRIu64
			" octets (a whole number, or with K, M or G)\n",
			cmd, flag, ccp_opt_shown(val), min, max);
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

const char *ccp_opt_size_text(uint64_t v, char buf[static 32])
{
	static const char units[] = "GMK";
	for (int i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * (unsigned)i;
		if (v && v % (1ull << shift) == 0) {
			snprintf(buf, 32, "%" PRIu64 "%c", v >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, 32, "%" PRIu64, v);
	return buf;
}

int ccp_opt_unsigned(const char *cmd, const char *flag, const char *val, unsigned min,
		     unsigned max, unsigned *out)
{
	uint64_t v;
	if (ccp_opt_u64(cmd, flag, val, min, max, &v) != 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int ccp_opt_seconds(const char *cmd, const char *flag, const char *val, double min, double max,
		    double *out)
{
	const char *end = number_end(val, true);
	errno = 0;
	double v = end ? strtod(val, NULL) : 0.0;
	if (!end || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max) {
		ccp_opt_error("ccpump %s: %s: '%s' is not a number of seconds from %g to %g",
			cmd, flag, ccp_opt_shown(val), min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int ccp_opt_ns(const char *cmd, const char *flag, const char *val, double min, double max,
	       uint64_t *out)
{
	double s;
	if (ccp_opt_seconds(cmd, flag, val, min, max, &s) != 0)
		return -1;
	/* 0 means none (never, no limit): a tiny positive value must not
	 * become it by rounding. */
	double ns = nearbyint(s * 1e9);
	if (s > 0 && ns < 1.0) {
		ccp_opt_error("ccpump %s: %s: '%s' rounds to 0 ns, which means none; give 0 or at "
			"least 1e-9", cmd, flag, ccp_opt_shown(val));
		return -1;
	}
	*out = (uint64_t)ns;
	return 0;
}

int ccp_opt_pow2(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	uint64_t v;
	if (ccp_opt_u64(cmd, flag, val, min, max, &v) != 0)
		return -1;
	if (v & (v - 1)) {
		ccp_opt_error("ccpump %s: %s: '%s' is not a power of two", cmd, flag,
			ccp_opt_shown(val));
		return -1;
	}
	*out = v;
	return 0;
}

int ccp_opt_wait(const char *cmd, const char *val, struct ccp_pump_config *p)
{
	char first[16];
	const char *comma = strchr(val, ',');
	size_t n = comma ? (size_t)(comma - val) : strlen(val);
	enum ccp_wait_kind poll, dispatch;
	if (n < sizeof(first)) {
		memcpy(first, val, n);
		first[n] = '\0';
		if (ccp_wait_parse(first, &poll) == 0 &&
		    (comma ? ccp_wait_parse(comma + 1, &dispatch) : (dispatch = poll, 0)) == 0) {
			p->poll_wait = poll;
			p->dispatch_wait = dispatch;
			return 0;
		}
	}
	ccp_opt_error("ccpump %s: --wait: '%s' is not spin, yield or block, or two of them "
			"as POLLERS,DISPATCHERS", cmd, ccp_opt_shown(val));
	return -1;
}

int ccp_opt_field_name(const char *cmd, const char *flag, const char *val)
{
	const unsigned char *p = (const unsigned char *)val;
	for (; *p; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			break;
	if (*val && !*p)
		return 0;
	ccp_opt_error("ccpump %s: %s: '%s' is not a header field's name", cmd, flag,
		ccp_opt_shown(val));
	return -1;
}

int ccp_opt_log_level(const char *cmd, const char *val)
{
	enum ccp_log_level level;
	if (ccp_log_level_parse(val, &level) != 0) {
		ccp_opt_error("ccpump %s: --log-level: '%s' is not debug, info, warning or error",
			cmd, ccp_opt_shown(val));
		return -1;
	}
	ccp_log_set_level(level);
	return 0;
}

int ccp_opt_pump(const char *cmd, int c, const char *val, struct ccp_pump_config *p)
{
	switch (c) {
	case CCP_OPT_POLLERS:
		return ccp_opt_unsigned(cmd, "--pollers", val, 1, 1024, &p->pollers);
	case CCP_OPT_DISPATCHERS:
		return ccp_opt_unsigned(cmd, "--dispatchers", val, 1, 1024, &p->dispatchers);
	case CCP_OPT_RING:
		return ccp_opt_pow2(cmd, "--ring-size", val, 2, 1ull << 30, &p->ring_size);
	case CCP_OPT_BATCH:
		return ccp_opt_unsigned(cmd, "--batch", val, 1, 65536, &p->batch);
	case CCP_OPT_WAIT:
		return ccp_opt_wait(cmd, val, p);
	case CCP_OPT_PIN:
		p->pin = true;
		return 0;
	}
	return 1;
}

void ccp_opt_pump_help(FILE *out, const struct ccp_pump_config *p)
{
	char wait[CCP_PUMP_WAIT_NAME_MAX];
	fprintf(out,
		"  --pollers N            poller threads, 1..1024 (%u)\n"
		"  --dispatchers N        dispatcher threads, 1..1024 (%u)\n"
		"  --ring-size N          ring slots, a power of two (%llu)\n"
		"  --batch N              messages per dispatch, 1..65536 (%u)\n"
		"  --wait spin|yield|block  how idle threads wait; POLLERS,DISPATCHERS (e.g.\n"
		"                         yield,block) for each side its own (%s)\n"
		"  --pin                  pin threads to CPUs round-robin (%s)\n",
		p->pollers, p->dispatchers, (unsigned long long)p->ring_size, p->batch,
		ccp_pump_wait_name(p, wait), p->pin ? "on" : "off");
}

/* The entry of LO that "--NAME" (LEN octets of it) names: its exact name,
 * else the one it abbreviates; *MATCHES counts the candidates (more than
 * one: ambiguous). */
static const struct option *long_option(const struct option *lo, const char *name, size_t len,
					unsigned *matches)
{
	const struct option *hit = NULL;
	*matches = 0;
	for (; lo->name; lo++) {
		if (strncmp(lo->name, name, len) != 0)
			continue;
		if (lo->name[len] == '\0') {
			*matches = 1;
			return lo;
		}
		hit = lo;
		(*matches)++;
	}
	return hit;
}

int ccp_opt_bad(const char *cmd, int c, int argc, char *const *argv, const struct option *lo)
{
	/* getopt has moved past a long option it refuses, so the argument
	 * before optind is that option.  Not always a short one's: inside a
	 * cluster ("-ab") optind stays on the cluster until its last letter,
	 * and the argument before it is an earlier one; optopt names the
	 * letter. */
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	size_t len = strncmp(arg, "--", 2) == 0 ? strcspn(arg + 2, "=") : 0;
	unsigned matches = 0;
	const struct option *o = len ? long_option(lo, arg + 2, len, &matches) : NULL;
	bool is_short = optopt != 0 && !(o && o->val == optopt);
	/* The option as given, escaped (ccp_opt_shown()). */
	const char *shown = len ? shown_n(arg + 2, len) : ccp_opt_shown(arg);
	if (is_short && c == ':')
		ccp_opt_error("ccpump %s: option '-%c' needs a value", cmd, optopt);
	else if (is_short)
		ccp_opt_error("ccpump %s: unknown option '-%c' (try --help)", cmd,
			optopt > ' ' && optopt < 127 ? optopt : '?');
	else if (c == ':')
		ccp_opt_error("ccpump %s: option '--%s' needs a value", cmd, shown);
	else if (o && matches == 1)
		ccp_opt_error("ccpump %s: option '--%s' takes no value", cmd, shown);
	else if (matches > 1)
		ccp_opt_error("ccpump %s: option '--%s' is ambiguous (try --help)", cmd, shown);
	else if (len)
		ccp_opt_error("ccpump %s: unknown option '--%s' (try --help)", cmd, shown);
	else
		ccp_opt_error("ccpump %s: unknown option '%s' (try --help)", cmd, shown);
	return -1;
}

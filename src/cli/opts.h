/*
 * opts.h: strict parsing of numeric flag values for the subcommands.
 * Each returns 0, or prints one line naming the flag and the value and
 * returns -1 (the caller exits with status 2).
 */
#ifndef CCPUMP_CLI_OPTS_H
#define CCPUMP_CLI_OPTS_H

#include <stdint.h>

int ccp_opt_u64(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		uint64_t *out);
int ccp_opt_unsigned(const char *cmd, const char *flag, const char *val, unsigned min,
		     unsigned max, unsigned *out);
int ccp_opt_seconds(const char *cmd, const char *flag, const char *val, double min, double max,
		    double *out);

#endif

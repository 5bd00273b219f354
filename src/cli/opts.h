/*
 * opts.h: strict parsing of numeric flag values for the subcommands.
 * Each returns 0, or prints one line naming the flag and the value and
 * returns -1 (the caller exits with status 2).
 */
#ifndef CCPUMP_CLI_OPTS_H
#define CCPUMP_CLI_OPTS_H

#include <stdint.h>

#include "ccpump/wait.h"

int ccp_opt_u64(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		uint64_t *out);
int ccp_opt_unsigned(const char *cmd, const char *flag, const char *val, unsigned min,
		     unsigned max, unsigned *out);
int ccp_opt_seconds(const char *cmd, const char *flag, const char *val, double min, double max,
		    double *out);

/* A power of two from min to max (ring sizes). */
int ccp_opt_pow2(const char *cmd, const char *flag, const char *val, uint64_t min, uint64_t max,
		 uint64_t *out);
/* spin, yield or block. */
int ccp_opt_wait(const char *cmd, const char *val, enum ccp_wait_kind *out);

#endif

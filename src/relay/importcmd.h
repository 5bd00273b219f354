/*
 * importcmd.h: running an external import program, as the connector ran
 * IMPORT.EXE (internal to src/relay).
 */
#ifndef CCPUMP_RELAY_IMPORTCMD_H
#define CCPUMP_RELAY_IMPORTCMD_H

#include <stddef.h>
#include <stdint.h>

/*
 * Runs CMD PATH (through /bin/sh, CMD split into words, PATH one word) in a
 * process group of its own, and waits for it.  Returns its exit status
 * when it is one of IMPORT's answers (0, 1, 3, 4, 5), or 1 (as IMPORT
 * answered for an unreachable post office) when it answered anything else,
 * could not run, was killed, or ran past TIMEOUT_NS (0: no limit): then
 * its process group gets SIGTERM, and SIGKILL 5 s later, and WHY says so.
 * A stuck import must not hold a dispatcher, and the relay's graceful
 * stop, for ever.
 */
int ccp_import_cmd_run(const char *cmd, const char *path, uint64_t timeout_ns, char *why,
		       size_t whylen);

#endif

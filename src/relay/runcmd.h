/*
 * runcmd.h: running the relay's external programs: the import program, as
 * the connector ran IMPORT.EXE, and the bounce command (internal to
 * src/relay).
 */
#ifndef CCPUMP_RELAY_RUNCMD_H
#define CCPUMP_RELAY_RUNCMD_H

#include <stddef.h>
#include <stdint.h>

/* ccp_run_cmd(): the program could not be started (fork() failed: the
 * machine out of processes or memory), errno set. */
#define CCP_RUN_NOT_STARTED (-2)

/*
 * Runs CMD ARG (through /bin/sh -c "exec CMD \"$1\"": CMD a simple command
 * with the shell's quotes and variables; ARG one word whatever it holds) in a
 * process group of its own, with STDIN_FD as its standard input (-1:
 * /dev/null) and no other descriptor past 2, and waits for it, every
 * signal at its default and none blocked in it.  Returns its exit status; 127 when the shell could not
 * find the program (126 when it could not execute it); CCP_RUN_NOT_STARTED when it could not start; or -1 when it was
 * killed, its status was lost, or it ran past TIMEOUT_NS (0: no limit),
 * when its process group gets SIGTERM (and SIGCONT), and SIGKILL 5 s
 * later.  The program dies with the relay: a relay killed (SIGKILL) takes
 * it along (the parent-death signal, SIGKILL; not its own children, nor a
 * set-user-ID program).  A line naming WHAT ("import command") in WHY for
 * -1, 126 and 127; LIMIT names the timeout in it ("--import-timeout").  A stuck program must not hold a dispatcher, and the relay's
 * graceful stop, for ever.
 */
int ccp_run_cmd(const char *cmd, const char *arg, int stdin_fd, uint64_t timeout_ns,
		const char *limit, const char *what, char *why, size_t whylen);

/*
 * The import program on PATH: its exit status when it is one of IMPORT's
 * answers (0, 1, 3, 4, 5), or 1 (as IMPORT answered for an unreachable
 * post office) when it answered anything else or could not be run, with
 * WHY saying why for the latter.  *SYS_ERRNO, non-zero when the program
 * did not run, the machine's or the configuration's failure, not the
 * messages': fork()'s errno when it could not be started at all, ENOENT
 * when the shell answered 127 (not found), EACCES for 126 (not
 * executable); else 0.  So an import program must not answer 126 or 127
 * itself.
 */
int ccp_import_cmd_run(const char *cmd, const char *path, uint64_t timeout_ns, char *why,
		       size_t whylen, int *sys_errno);

#endif

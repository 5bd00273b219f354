/*
 * commands.h: the subcommands of the ccpump program.
 *
 * Each takes the arguments after its name (argv[0] is the subcommand) and
 * returns the process exit status.  They parse flags and call the library;
 * nothing a test wants to exercise lives here.
 */
#ifndef CCPUMP_CLI_COMMANDS_H
#define CCPUMP_CLI_COMMANDS_H

/* Exit status for a bad flag or unusable argument (one line on stderr). */
#define CCP_EXIT_USAGE 2

int ccp_cmd_bench(int argc, char **argv);
int ccp_cmd_relay(int argc, char **argv);
int ccp_cmd_demo(int argc, char **argv);
int ccp_cmd_queue(int argc, char **argv);
/* cc:Mail side (docs/ccmail-format.md). */
int ccp_cmd_convert(int argc, char **argv);
int ccp_cmd_import(int argc, char **argv);
int ccp_cmd_po(int argc, char **argv);


#endif

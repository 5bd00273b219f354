/*
 * cmd_relay.c: `ccpump relay`, the deployed product (docs/operations.md).
 *
 * SIGTERM or SIGINT: graceful stop (the batches in flight finish, the rest
 * stays in the spool), exit 0.  SIGHUP: reopen the log file, and read the
 * --map files again.
 * SIGUSR1: retry the deferred messages now (`ccpump queue --flush`).
 * Exit status 2: a bad flag or an unusable directory, with one line.  Exit
 * status 75 (EX_TEMPFAIL): --once stopped because deliveries stayed paused
 * (the store or the post office could not be written) past --retry-max,
 * or left a message whose retries ended because Bad could not take it, or
 * one delivered in part whose report Partial could not take; the mail is
 * still in the spool.  Exit status 1: the spool, the store or
 * the post office was moved, removed or replaced while the relay ran; it
 * stopped, to be started again on the new one.
 */
#define _GNU_SOURCE /* dup3() */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/log.h"
#include "ccpump/relay.h"
#include "cli/commands.h"
#include "cli/opts.h"

static const char *log_path;
static int log_fd = -1;

enum { O_SPOOL = 256, O_STORE, O_PO, O_CMD, O_RESCAN, O_RMIN, O_RMAX, O_MAXATT, O_MAXAGE, O_PROFILE, O_KEEP, O_ONCE, O_NOSYNC,
       O_STATS, O_LOG, O_LOGLEVEL, O_SITE, O_MAP, O_MAXSIZE, O_IMPTIMEOUT, O_BATCHBYTES, O_STATSFILE, O_BOUNCECMD, O_BOUNCEFROM,
       O_ENVELOPE, O_HELP };

static void on_stop(int sig)
{
	(void)sig;
	ccp_relay_request_stop();
}

static void on_usr1(int sig)
{
	(void)sig;
	ccp_relay_request_flush();
}

/* The handler asks the relay to read its --map files again, and swaps
 * the file under the fd that ccp_log writes to, for logrotate.  dup3(),
 * not dup2(): dup2() clears close-on-exec on the log's fd, and every
 * import and bounce program started after a reopen would inherit the log.
 * open() and dup3() are plain system calls, and the request a lock-free
 * atomic add: safe in a handler. */
static void on_hup(int sig)
{
	(void)sig;
	int saved = errno;
	ccp_relay_request_reload();
	if (log_path && log_fd >= 0) {
		int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd >= 0) {
			dup3(fd, log_fd, O_CLOEXEC);
			close(fd);
		}
	}
	errno = saved;
}

static void usage(FILE *out, const struct ccp_relay_config *d)
{
	char maxsize[32], batchbytes[32], sec[6][32];
	fprintf(out,
		"usage: ccpump relay --spool DIR --store DIR (--po DIR | --import-cmd CMD) [OPTIONS]\n"
		"Relays the messages of a Maildir spool into the cc:Mail post office, each\n"
		"exactly once, in batches (docs/operations.md).\n\n"
		"  --spool DIR            the Maildir (DIR/tmp, DIR/new, DIR/cur)\n"
		"  --store DIR            the connector store: Submit/, Import/, Bad/, Quarantine/\n"
		"  --po DIR               the built-in post office (made by 'ccpump po init')\n"
		"  --import-cmd CMD       run CMD FILE.ccm instead; IMPORT's exit codes\n"
		"  --import-timeout SEC   with --import-cmd: stop the command past this:\n"
		"                         answer 1, retried; 0 = never (%s)\n"
		"  --rescan-interval SEC  rescan new/ this often (%s)\n"
		"  --retry-min SEC        first retry after a failed import or a postponed\n"
		"                         delivery; each later one waits twice as long, and\n"
		"                         up to half as long again, spread at random (%s)\n"
		"  --retry-max SEC        longest retry delay, at least --retry-min (%s)\n"
		"  --max-attempts N       then the message goes to Bad, 0 = no limit (%u)\n"
		"  --max-age SEC          then the message goes to Bad, 0 = no limit (%s)\n"
		"  --profile ccmc         the connector's pace: 5 messages a run, every 15 s,\n"
		"                         one dispatcher; flags given with it win, before\n"
		"                         or after it\n"
		"  --keep                 move delivered spool files to cur/ instead of removing\n"
		"  --once                 relay what is in the spool, then exit (status 75,\n"
		"                         mail left in the spool, if deliveries stay paused\n"
		"                         longer than --retry-max: the store or the post\n"
		"                         office cannot be written; or if Bad cannot take\n"
		"                         a message whose retries ended, or Partial the\n"
		"                         report on one delivered in part)\n"
		"  --no-sync              do not fsync batches (faster, not crash-safe)\n"
		"  --stats-interval SEC   a stats line this often, 0 = never (%s)\n"
		"  --stats-file FILE      rewrite FILE with each stats line: the same\n"
		"                         figures and the state (running, paused, done) as\n"
		"                         one JSON object, for monitoring\n"
		"  --log FILE             log here instead of stderr (SIGHUP reopens it)\n"
		"  --log-level LEVEL      debug, info (one line per batch), warning or\n"
		"                         error: the least a line must be to be logged (info)\n"
		"  --site NAME            the cc:Mail site of foreign addresses (%s)\n"
		"  --map FILE             address mapping file (docs/ccmail-format.md);\n"
		"                         repeatable; SIGHUP reads the files again\n"
		"  --native-names HOW     a native user named by the display name, else the\n"
		"                         local part (display), or by the local part alone\n"
		"                         (address) (%s)\n"
		"  --envelope-field NAME  the header field in which the MTA wrote the\n"
		"                         recipients it delivered each spool file for\n"
		"                         (X-Original-To, Delivered-To): each file goes to\n"
		"                         those alone; one without it by its header (none)\n"
		"  --codepage CP          the post office's code page, 437 or 850 (%d)\n"
		"  --long-names           keep long attachment names (%s: 8.3 names)\n"
		"  --v8-attachments       no date stamp after attachment names (%s)\n"
		"  --html-as-file         HTML-only mail as the attachment BODY.HTM (%s:\n"
		"                         as text)\n"
		"  --addr-buffer N        with --import-cmd: IMPORT's address buffer, 64 to\n"
		"                         163840 octets (%zu); with --po, the post office's\n"
		"  --keep-brackets        with --import-cmd: leave [ ] in a Subject, which\n"
		"                         Import 8.x refuses (%s: mapped); with --po, the\n"
		"                         post office's\n"
		"  --max-message-size SIZE\n"
		"                         larger spool files go to Bad, below 4 GiB (%s)\n"
		"  --batch-bytes SIZE     a .ccm past this size takes no more of its batch's\n"
		"                         messages: the rest go into the next (%s)\n"
		"  --bounce-cmd CMD       send each report on a message that went to Bad: run\n"
		"                         CMD ADDRESS, the report on its input (for example\n"
		"                         \"/usr/sbin/sendmail -oi -f '<>' --\"); without it\n"
		"                         the reports are only kept in Bad/\n"
		"  --bounce-from ADDR     the reports' From (MAILER-DAEMON@ this host)\n"
		"  -h, --help             this text\n"
		"SEC and N are plain decimal numbers (SEC may have a fraction and an exponent:\n"
		"1.5, 2e-3); a SEC above 0 that rounds to 0 ns is refused, 0 meaning none.\n"
		"The engine's tuning flags (pollers scan the spool; each dispatcher converts\n"
		"and imports batches of --batch messages, one .ccm each):\n",
		ccp_opt_seconds_text(d->import_timeout_ns, sec[0]),
		ccp_opt_seconds_text(d->rescan_interval_ns, sec[1]),
		ccp_opt_seconds_text(d->pump.retry_min_ns, sec[2]),
		ccp_opt_seconds_text(d->pump.retry_max_ns, sec[3]), d->pump.max_attempts,
		ccp_opt_seconds_text(d->pump.max_age_ns, sec[4]),
		ccp_opt_seconds_text(d->stats_interval_ns, sec[5]),
		d->convert.site ? d->convert.site : "",
		d->convert.native_by_address ? "address" : "display", (int)d->convert.codepage,
		d->convert.long_names ? "on" : "off", d->convert.v8_attachments ? "on" : "off",
		d->convert.html_as_file ? "on" : "off", d->convert.addr_buffer,
		d->convert.import8 ? "off" : "on", ccp_opt_size_text(d->max_message_bytes, maxsize),
		ccp_opt_size_text(d->batch_bytes, batchbytes));
	ccp_opt_pump_help(out, &d->pump);
}

static int seconds_ns(const char *flag, const char *val, double min, uint64_t *out)
{
	return ccp_opt_ns("relay", flag, val, min, 86400.0 * 365, out);
}

/* --profile sets defaults, and flags given with it win wherever they
 * stand: a first pass applies the last --profile before the flags are
 * read.  Its value is checked when the second pass reaches it. */
static void apply_profile(int argc, char **argv, const struct option *lo,
			  struct ccp_relay_config *cfg)
{
	const char *profile = NULL;
	int c;
	opterr = 0;
	optind = 0; /* glibc: start afresh */
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1)
		if (c == O_PROFILE)
			profile = optarg;
	if (profile && strcmp(profile, "ccmc") == 0)
		ccp_relay_profile_ccmc(cfg);
	optind = 0;
}

/* A command the shell is given to run with one more argument: one of
 * blanks only would leave that argument (the batch's file, a sender's
 * address) to be run as the program itself.  The shell runs it as `exec
 * CMD "$1"` (the pid waited for is the program's), where a first word
 * NAME=VALUE is no assignment but a program of that name: every run
 * would fail with 127, and every message be deferred until its retries
 * ended. */
/* Whether WORD is one the shell runs itself (a builtin or a keyword), so
 * that no program of that name need be found. */
static bool shell_word(const char *word)
{
	static const char *const words[] = {
		".", ":", "[", "alias", "break", "cd", "command", "continue", "echo", "eval",
		"exec", "exit", "export", "false", "getopts", "hash", "kill", "local", "printf",
		"pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap",
		"true", "type", "ulimit", "umask", "unalias", "unset", "wait", "if", "while",
		"until", "for", "case", "{", "!",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(word, words[i]) == 0)
			return true;
	return false;
}

/* Whether PATH is an executable file; else why not, into WHY. */
static bool runnable(const char *path, const char **why)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		*why = errno == ENOENT ? "no such file" : strerror(errno);
		return false;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
		*why = "not an executable file";
		return false;
	}
	return true;
}

/* The program PROG (a command's first word) as the shell would find it:
 * by its path when it has a '/', else in $PATH.  Returns 0, or -1 with a
 * line that names FLAG and PROG. */
static int check_program(const char *flag, const char *prog)
{
	const char *why = NULL;
	if (strchr(prog, '/')) {
		if (runnable(prog, &why))
			return 0;
		ccp_opt_error("ccpump relay: %s: %s: %s", flag, prog, why);
		return -1;
	}
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		size_t n = strcspn(p, ":");
		char full[PATH_MAX];
		if (snprintf(full, sizeof(full), "%.*s/%s", n ? (int)n : 1, n ? p : ".", prog) <
			    (int)sizeof(full) &&
		    runnable(full, &why))
			return 0;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	ccp_opt_error("ccpump relay: %s: %s: not found in PATH (%s)", flag, prog, path);
	return -1;
}

/*
 * Why the argument the relay appends to CMD (exec CMD "$1": the .ccm's
 * path, a report's address) would not reach the program, or NULL; *at is
 * the octet it is about.  The shell would read a '#' that begins a word as
 * a comment to the end of the line, "$1" with it; after a line break, or
 * an operator at the end (';', '&', '|'), "$1" belongs to another command
 * than the program exec runs; a redirection at the end ('>', '<', '2>')
 * takes "$1" as its file; a '\' at the end joins it to the last word;
 * an open quote makes the line a syntax error.  And exec makes the first
 * command of a list the only one: after a ';', '&&' or '||' anywhere,
 * the command that would get "$1" never runs, and the first one's status
 * is taken for the program's.  Each time the program ran without the
 * batch's path (or not at all), answered 0, and the spool files were
 * removed as delivered.  ('&' and '|' between commands leave the last
 * one in the foreground with "$1": the shell waits for it.)  Quotes and backslashes are followed as the shell follows
 * them; inside $( ) and ` ` the same marks are read as at the top level,
 * which errs on the side of refusing.
 */
static const char *cmd_hides_argument(const char *cmd, size_t *at)
{
	char quote = '\0';
	size_t opened = 0; /* where the open quote began */
	char last = ' '; /* the last octet outside quotes other than a blank */
	size_t last_at = 0;
	bool word_start = true;
	size_t i = 0;
	for (; cmd[i]; i++) {
		char c = cmd[i];
		*at = i;
		if (quote == '\'') {
			if (c == '\'')
				quote = '\0';
			continue;
		}
		if (c == '\\') {
			if (cmd[i + 1] == '\0')
				return "a '\\' at its end would join the file's name to its last word";
			i++;
			word_start = false;
			last = 'x';
			continue;
		}
		if (quote == '"') {
			if (c == '"')
				quote = '\0';
			continue;
		}
		if (c == '\'' || c == '"') {
			quote = c;
			opened = i;
			word_start = false;
			last = 'x';
			continue;
		}
		if (c == '#' && word_start)
			return "this '#' begins a comment, which would hide the file's name the relay "
			       "adds after the command";
		if (c == '\n')
			return "a line break would leave the file's name to another command than the "
			       "program";
		if (c == ';' || ((c == '&' || c == '|') && cmd[i + 1] == c)) {
			/* At the end, the check after the loop names it. */
			const char *rest = cmd + i + (c == ';' ? 1 : 2);
			if (rest[strspn(rest, " \t")] != '\0')
				return "exec runs only the first command of a list: the program "
				       "after this operator would never run";
		}
		word_start = c == ' ' || c == '\t' || strchr(";&|()<>", c) != NULL;
		if (c != ' ' && c != '\t') {
			last = c;
			last_at = i;
		}
	}
	if (quote) {
		*at = opened;
		return quote == '"' ? "this double quote is left open: the shell cannot read the line"
				    : "this single quote is left open: the shell cannot read the line";
	}
	*at = last_at;
	if (strchr(";&|", last))
		return "it ends in this operator, which would leave the file's name to another "
		       "command than the program";
	if (strchr("<>", last))
		return "it ends in this redirection, which would take the file's name for its "
		       "file";
	return NULL;
}

static int check_cmd(const char *flag, const char *cmd)
{
	if (cmd == NULL)
		return 0;
	const char *w = cmd + strspn(cmd, " \t\n");
	if (*w == '\0') {
		ccp_opt_error("ccpump relay: %s: empty or blank: it names no command", flag);
		return -1;
	}
	size_t at = 0;
	const char *hides = cmd_hides_argument(cmd, &at);
	if (hides) {
		char shown[512];
		ccp_escape_controls(shown, sizeof(shown), cmd, strlen(cmd));
		ccp_opt_error("ccpump relay: %s: '%s': at octet %zu, %s", flag, shown, at + 1,
			hides);
		return -1;
	}
	size_t name = strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789");
	if (name > 0 && !(w[0] >= '0' && w[0] <= '9') && w[name] == '=') {
		ccp_opt_error("ccpump relay: %s: starts with the assignment %.*s=...: the command "
			"is run by exec, which takes it for a program; write 'env %.*s=... "
			"PROGRAM'", flag, (int)name, w, (int)name, w);
		return -1;
	}
	/* The program, where the first word names it plainly (nothing the
	 * shell would unquote or expand first, no builtin): one not found
	 * would fail every run with 127, and every message be retried until
	 * its retries ended, then sent to Bad with a report to its sender. */
	size_t len = strcspn(w, " \t\n");
	char prog[PATH_MAX];
	if (len < sizeof(prog) && strcspn(w, "'\"\\$`;&|()<>*?[]{}~=#") >= len) {
		memcpy(prog, w, len);
		prog[len] = '\0';
		if (!shell_word(prog))
			return check_program(flag, prog);
	}
	return 0;
}

/* A flag of the import program's, given with the built-in post office
 * (which runs none and has its own settings): it would do nothing, and a
 * relay's flags are not dropped without a word.  --import-timeout stops
 * the program; --addr-buffer and --keep-brackets say what IMPORT takes,
 * which for the built-in post office po.conf says (po init's flags of
 * those names).  Every other flag applies to both. */
static int check_import_only(const struct ccp_relay_config *cfg, const char *flag)
{
	if (cfg->po == NULL || flag == NULL)
		return 0;
	if (strcmp(flag, "--import-timeout") == 0)
		ccp_opt_error("ccpump relay: --import-timeout applies to --import-cmd only: the "
			"built-in post office (--po) runs no import program");
	else
		ccp_opt_error("ccpump relay: %s applies to --import-cmd only: with --po the "
			"relay converts for the post office's own setting (po.conf; 'ccpump po "
			"init %s' sets it)", flag, flag);
	return -1;
}

/* A backoff that starts past its own cap is a mistake in the flags, said
 * before anything is made. */
static int check_retry(const struct ccp_relay_config *cfg)
{
	if (cfg->pump.retry_min_ns <= cfg->pump.retry_max_ns)
		return 0;
	char min[32], max[32];
	ccp_opt_error("ccpump relay: --retry-min %s is longer than --retry-max %s: the first "
		"retry's delay must not be longer than the longest",
		ccp_opt_seconds_text(cfg->pump.retry_min_ns, min),
		ccp_opt_seconds_text(cfg->pump.retry_max_ns, max));
	return -1;
}

int ccp_cmd_relay(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "store", required_argument, NULL, O_STORE },
		{ "po", required_argument, NULL, O_PO },
		{ "import-cmd", required_argument, NULL, O_CMD },
		{ "import-timeout", required_argument, NULL, O_IMPTIMEOUT },
		{ "rescan-interval", required_argument, NULL, O_RESCAN },
		{ "retry-min", required_argument, NULL, O_RMIN },
		{ "retry-max", required_argument, NULL, O_RMAX },
		{ "max-attempts", required_argument, NULL, O_MAXATT },
		{ "max-age", required_argument, NULL, O_MAXAGE },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "once", no_argument, NULL, O_ONCE },
		{ "no-sync", no_argument, NULL, O_NOSYNC },
		{ "stats-interval", required_argument, NULL, O_STATS },
		{ "log", required_argument, NULL, O_LOG },
		{ "log-level", required_argument, NULL, O_LOGLEVEL },
		{ "site", required_argument, NULL, O_SITE },
		{ "map", required_argument, NULL, O_MAP },
		{ "envelope-field", required_argument, NULL, O_ENVELOPE },
		{ "max-message-size", required_argument, NULL, O_MAXSIZE },
		{ "batch-bytes", required_argument, NULL, O_BATCHBYTES },
		{ "bounce-cmd", required_argument, NULL, O_BOUNCECMD },
		{ "bounce-from", required_argument, NULL, O_BOUNCEFROM },
		{ "stats-file", required_argument, NULL, O_STATSFILE },
		{ "help", no_argument, NULL, O_HELP },
		CCP_PUMP_OPTIONS,
		CCP_FORMAT_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_relay_config cfg;
	/* The --map files: the relay reads them (and again at SIGHUP); each
	 * is read here too, so that a bad one is a flag's one-line error. */
	const char **map_files = NULL;
	size_t nmap_files = 0;
	bool site_given = false;
	/* The last flag given that applies to --import-cmd alone. */
	const char *import_only = NULL;
	char err[600];
	int rc = CCP_EXIT_USAGE;

	ccp_relay_config_default(&cfg);
	apply_profile(argc, argv, lo, &cfg);
	for (;;) {
		int c = getopt_long(argc, argv, ":h", lo, NULL);
		if (c == -1)
			break;
		int pr = ccp_opt_pump("relay", c, optarg, &cfg.pump);
		if (pr > 0)
			pr = ccp_opt_format("relay", c, optarg, &cfg.convert);
		if (pr < 0)
			goto out;
		if (c == CCP_OPT_ADDR_BUFFER || c == CCP_OPT_KEEP_BRACKETS)
			import_only = c == CCP_OPT_ADDR_BUFFER ? "--addr-buffer" : "--keep-brackets";
		if (pr == 0)
			continue;
		switch (c) {
		case O_SPOOL: cfg.spool = optarg; break;
		case O_STORE: cfg.store = optarg; break;
		case O_PO: cfg.po = optarg; break;
		case O_CMD: cfg.import_cmd = optarg; break;
		case O_BOUNCECMD: cfg.bounce_cmd = optarg; break;
		case O_BOUNCEFROM: cfg.bounce_from = optarg; break;
		case O_IMPTIMEOUT:
			if (seconds_ns("--import-timeout", optarg, 0, &cfg.import_timeout_ns))
				goto out;
			import_only = "--import-timeout";
			break;
		case O_RESCAN:
			if (seconds_ns("--rescan-interval", optarg, 0.01, &cfg.rescan_interval_ns))
				goto out;
			break;
		case O_RMIN:
			if (seconds_ns("--retry-min", optarg, 0.001, &cfg.pump.retry_min_ns))
				goto out;
			break;
		case O_RMAX:
			if (seconds_ns("--retry-max", optarg, 0.001, &cfg.pump.retry_max_ns))
				goto out;
			break;
		case O_MAXATT:
			if (ccp_opt_unsigned("relay", "--max-attempts", optarg, 0, 1000000,
					     &cfg.pump.max_attempts))
				goto out;
			break;
		case O_MAXAGE:
			if (seconds_ns("--max-age", optarg, 0, &cfg.pump.max_age_ns))
				goto out;
			break;
		case O_PROFILE:
			if (strcmp(optarg, "ccmc") != 0) {
				ccp_opt_error("ccpump relay: --profile: '%s' is not ccmc",
					ccp_opt_shown(optarg));
				goto out;
			}
			break; /* applied first: apply_profile() */
		case O_KEEP: cfg.keep = true; break;
		case O_ONCE: cfg.once = true; break;
		case O_NOSYNC: cfg.sync = false; break;
		case O_STATS:
			if (seconds_ns("--stats-interval", optarg, 0, &cfg.stats_interval_ns))
				goto out;
			break;
		case O_LOG: log_path = optarg; break;
		case O_LOGLEVEL:
			if (ccp_opt_log_level("relay", optarg) != 0)
				goto out;
			break;
		case O_SITE:
			if (ccp_opt_site("relay", optarg) != 0)
				goto out;
			cfg.convert.site = optarg;
			site_given = true;
			break;
		case O_ENVELOPE:
			if (ccp_opt_field_name("relay", "--envelope-field", optarg) != 0)
				goto out;
			cfg.convert.envelope_field = optarg;
			break;
		case O_MAP: {
			struct ccp_convert_map *map = ccp_convert_map_new();
			int bad = ccp_convert_map_load(map, optarg, NULL, err, sizeof(err));
			ccp_convert_map_free(map);
			if (bad) {
				ccp_opt_error("ccpump relay: --map: %s", err);
				goto out;
			}
			map_files = ccp_realloc(map_files, (nmap_files + 1) * sizeof(*map_files));
			map_files[nmap_files++] = optarg;
			break;
		}
		case O_MAXSIZE:
			/* Below 4 GiB: the converter hands a part's length to
			 * GMime's decoders as 32 bits. */
			if (ccp_opt_size("relay", "--max-message-size", optarg, 1, (1ull << 32) - 1,
					 &cfg.max_message_bytes))
				goto out;
			break;
		case O_STATSFILE: cfg.stats_file = optarg; break;
		case O_BATCHBYTES:
			if (ccp_opt_size("relay", "--batch-bytes", optarg, 4096, 1ull << 40,
					 &cfg.batch_bytes))
				goto out;
			break;
		case 'h':
		case O_HELP: usage(stdout, &cfg); rc = 0; goto out;
		default:
			ccp_opt_bad("relay", c, argc, argv, lo);
			goto out;
		}
	}
	cfg.map_files = map_files;
	cfg.nmap_files = nmap_files;
	cfg.site_fixed = site_given; /* --site wins over the map's site line */
	if (optind < argc) {
		ccp_opt_error("ccpump relay: unexpected argument '%s'",
			ccp_opt_shown(argv[optind]));
		goto out;
	}
	if (!cfg.spool || !cfg.store || (!cfg.po && !cfg.import_cmd)) {
		ccp_opt_error("ccpump relay: needs --spool, --store and --po or --import-cmd");
		goto out;
	}
	if (cfg.po && cfg.import_cmd) {
		ccp_opt_error("ccpump relay: give --po or --import-cmd, not both");
		goto out;
	}
	if (check_cmd("--import-cmd", cfg.import_cmd) != 0 ||
	    check_cmd("--bounce-cmd", cfg.bounce_cmd) != 0 ||
	    check_import_only(&cfg, import_only) != 0 || check_retry(&cfg) != 0)
		goto out;
	/* Before the log is opened: one in the spool would be made there. */
	if (ccp_relay_check_paths(&cfg, log_path, err, sizeof(err)) != 0) {
		ccp_opt_error("ccpump relay: %s", err);
		goto out;
	}
	/* Before the log's open and any thread: PID 1 stays behind as the
	 * relay's init, and the relay's own lines come from the child. */
	int init = ccp_relay_init_if_pid1(), init_errno = errno;
	if (log_path) {
		int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			ccp_opt_error("ccpump relay: --log %s: %s", log_path, strerror(errno));
			goto out;
		}
		log_fd = fd;
		ccp_log_set_fd(fd);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (init > 0)
		ccp_log(CCP_LOG_INFO, "relay: started as PID 1 (a container's entrypoint): PID 1 "
			"stays as its init, reaping orphaned programs and passing signals on; the "
			"relay is pid %ld", (long)getpid());
	else if (init < 0)
		ccp_log(CCP_LOG_WARN, "relay: runs as PID 1 and cannot fork an init for itself "
			"(%s): programs' orphaned children will not be reaped; run it under an "
			"init (docker run --init, tini)", strerror(init_errno));

	struct ccp_relay_stats st;
	if (ccp_relay_run(&cfg, &st, err, sizeof(err)) != 0) {
		ccp_log(CCP_LOG_ERROR, "relay: %s", err);
		if (log_fd >= 0)
			ccp_opt_error("ccpump relay: %s", err);
		goto out;
	}
	ccp_log(CCP_LOG_INFO, "relay: done: %llu delivered (%llu in part), %llu bad, %llu deferred "
		"and %llu queued left in the spool", (unsigned long long)st.delivered,
		(unsigned long long)st.partial, (unsigned long long)st.bad,
		(unsigned long long)st.pump.waiting_retry, (unsigned long long)st.pump.left);
	if (st.withheld)
		ccp_log(CCP_LOG_WARN, "relay: %llu messages whose retries ended are left in the spool: "
			"the store could not take their reasons in Bad",
			(unsigned long long)st.withheld);
	if (st.unreported)
		ccp_log(CCP_LOG_WARN, "relay: %llu messages delivered in part are left in the spool: "
			"the store could not take their reports in Partial",
			(unsigned long long)st.unreported);
	/* 75: mail left in the spool for the store's failure, to a cron job
	 * that runs --once. */
	rc = st.spool_lost ? 1
	     : st.gave_up_paused || (cfg.once && (st.withheld || st.unreported)) ? 75
										  : 0;
out:
	ccp_free(map_files);
	ccp_convert_shutdown();
	return rc;
}

/*
 * cmd_convert.c: ccpump convert FILE... -> cc:Mail Import text.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/convert.h"
#include "ccpump/fdio.h"
#include "cli/commands.h"
#include "cli/opts.h"
#include "relay/fsutil.h"

/* Writes BUF into the file open as FD, and closes it. */
static int write_and_close(int fd, const struct ccp_ccm_buf *buf)
{
	int rc = ccp_write_all(fd, buf->data, buf->len);
	int e = errno;
	if (close(fd) != 0 && rc == 0)
		return -1;
	errno = e;
	return rc;
}

/*
 * Writes BUF to PATH.  A regular file (or a new name) is written under a
 * temporary name beside it, synced, then renamed over it, with the old
 * file's mode (and, as root, owner): a failure leaves PATH as it was, and a
 * reader never sees half a file.  Anything else (a symbolic link, a device
 * such as /dev/null, a fifo), or a directory we cannot write a temporary
 * name into, is written in place, as any command writes its output.
 */
static int write_output(const char *path, const struct ccp_ccm_buf *buf)
{
	struct stat st;
	bool exists = lstat(path, &st) == 0;
	if (exists && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		return fd < 0 ? -1 : write_and_close(fd, buf);
	}
	const char *slash = strrchr(path, '/');
	char *dir = ccp_strdup(slash ? path : ".");
	if (slash)
		dir[slash == path ? 1 : slash - path] = '\0';
	const char *base = slash ? slash + 1 : path;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ccp_free(dir);
	if (dfd < 0)
		return -1;
	if (base[0] == '\0' || (exists && S_ISDIR(st.st_mode))) {
		close(dfd);
		errno = EISDIR;
		return -1;
	}
	char tmp[CCP_TMP_NAME_MAX];
	ccp_tmp_name(tmp, sizeof(tmp));
	/* 0666 for a new file: the umask decides, as for any file a command
	 * writes. */
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		close(dfd);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		return fd < 0 ? -1 : write_and_close(fd, buf);
	}
	int rc = fd < 0 ? -1 : 0;
	if (rc == 0 && exists) {
		rc = fchmod(fd, st.st_mode & 07777);
		if (rc == 0 && geteuid() == 0)
			rc = fchown(fd, st.st_uid, st.st_gid);
	}
	if (fd >= 0)
		rc = ccp_tmp_finish(fd, dfd, tmp, base, true,
				    rc == 0 ? ccp_write_all(fd, buf->data, buf->len) : -1);
	if (rc == 0)
		rc = fsync(dfd);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ccpump convert [OPTIONS] FILE...\n"
		"Converts RFC 5322 messages to one cc:Mail Import file (docs/ccmail-format.md).\n\n"
		"  -o, --out FILE        write to FILE instead of standard output\n"
		"      --site NAME       'at SITE' of foreign addresses; wins over a --map's\n"
		"                        site line (default EXSITE)\n"
		"      --native DOM=PO   addresses @DOM are users of cc:Mail post office PO\n"
		"                        (repeatable; default none)\n"
		"      --map FILE        address rules: 'native DOM PO', 'user ADDR NAME', 'site S'\n"
		"      --native-names HOW\n"
		"                        a native user named by the display name, else the\n"
		"                        local part (display, the default), or by the local\n"
		"                        part alone (address: no sender's display name can\n"
		"                        pick the user)\n"
		"      --codepage CP     437 or 850 (default 437)\n"
		"      --addr-buffer N   address buffer in octets: 4096 (Import 8.2x and\n"
		"                        earlier, the default) or up to 163840\n"
		"      --long-names      keep long attachment names (default 8.3)\n"
		"      --v8-attachments  no date stamp after file names (default: stamp)\n"
		"      --no-spool-id     no X-Spool-Id line: strict Lotus output (default: on)\n"
		"      --key KEY         message key for X-Spool-Id, one FILE only (default: the\n"
		"                        file's name; not with --no-spool-id)\n"
		"      --keep-brackets   do not map [ ] for Import 8.x (default: map)\n"
		"      --html-as-file    HTML-only mail as BODY.HTM (default: text rendering)\n"
		"      --envelope-field NAME\n"
		"                        the header field holding the envelope recipients\n"
		"                        (X-Original-To, Delivered-To): they alone are\n"
		"                        written; a message without it goes by its header\n"
		"                        (default: none)\n"
		"      --full-parse      GMime's full parse for every message (default: a\n"
		"                        light path for single-part messages and for\n"
		"                        multipart mixed, alternative and related ones;\n"
		"                        same output)\n"
		"  -h, --help            this text\n"
		"Exit status: 0 all converted, 1 some refused (reason on stderr), 2 bad usage.\n");
}

int ccp_cmd_convert(int argc, char **argv)
{
	enum { O_SITE = 256, O_NATIVE, O_MAP, O_NOSPOOL, O_KEY, O_FULL, O_ENVELOPE };
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "site", required_argument, NULL, O_SITE },
		{ "native", required_argument, NULL, O_NATIVE },
		{ "map", required_argument, NULL, O_MAP },
		{ "no-spool-id", no_argument, NULL, O_NOSPOOL },
		{ "key", required_argument, NULL, O_KEY },
		{ "full-parse", no_argument, NULL, O_FULL },
		{ "envelope-field", required_argument, NULL, O_ENVELOPE },
		{ "help", no_argument, NULL, 'h' },
		CCP_FORMAT_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ccp_convert_opts o;
	struct ccp_convert_map *map = ccp_convert_map_new();
	const char *out_path = NULL, *key = NULL, *cli_site = NULL;
	char *site = NULL, err[512]; /* site: a --map's site line */
	int c, rc = CCP_EXIT_USAGE;

	ccp_convert_opts_default(&o);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		int fr = ccp_opt_format("convert", c, optarg, &o);
		if (fr < 0)
			goto out;
		if (fr == 0)
			continue;
		switch (c) {
		case 'o': out_path = optarg; break;
		case O_SITE:
			if (ccp_opt_site("convert", optarg) != 0)
				goto out;
			cli_site = optarg;
			break;
		case O_NATIVE: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1]) {
				ccp_opt_error("ccpump convert: --native wants DOMAIN=PO, got '%s'",
					ccp_opt_shown(optarg));
				goto out;
			}
			*eq = '\0';
			ccp_convert_map_add_native(map, optarg, eq + 1);
			break;
		}
		case O_MAP:
			if (ccp_convert_map_load(map, optarg, &site, err, sizeof(err)) != 0) {
				ccp_opt_error("ccpump convert: %s", err);
				goto out;
			}
			break;
		case O_NOSPOOL: o.spool_id = false; break;
		case O_KEY: key = optarg; break;
		case O_FULL: o.full_parse = true; break;
		case O_ENVELOPE:
			if (ccp_opt_field_name("convert", "--envelope-field", optarg) != 0)
				goto out;
			o.envelope_field = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			ccp_opt_bad("convert", c, argc, argv, lo);
			goto out;
		}
	}
	if (optind >= argc) {
		ccp_opt_error("ccpump convert: no input file (try --help)");
		goto out;
	}
	if (key && argc - optind > 1) {
		ccp_opt_error("ccpump convert: --key needs exactly one FILE");
		goto out;
	}
	if (key && !o.spool_id) {
		ccp_opt_error("ccpump convert: --key names the X-Spool-Id line, which --no-spool-id "
			"leaves out");
		goto out;
	}
	/* --site wins over a map's site line, wherever it stands, as in the
	 * relay. */
	if (cli_site || site)
		o.site = cli_site ? cli_site : site;
	o.map = map;
	struct ccp_convert *cv = ccp_convert_new(&o);
	if (!cv) {
		ccp_opt_error("ccpump convert: iconv cannot convert to CP%d: %s",
			(int)o.codepage, strerror(errno));
		rc = 1;
		goto out;
	}
	struct ccp_ccm_buf buf;
	ccp_ccm_buf_init(&buf);
	rc = 0;
	for (int i = optind; i < argc; i++) {
		if (ccp_convert_file(cv, argv[i], key, &buf) != CCP_CONVERT_OK) {
			ccp_opt_error("ccpump convert: %s", ccp_convert_error(cv));
			rc = 1;
		}
	}
	ccp_convert_free(cv);
	if (out_path && buf.len == 0 && rc != 0) {
		ccp_opt_error("ccpump convert: %s: left as it was: nothing converted", out_path);
	} else if (out_path) {
		if (write_output(out_path, &buf) != 0) {
			ccp_opt_error("ccpump convert: %s: cannot write: %s", out_path,
				strerror(errno));
			rc = 1;
		}
	} else if ((buf.len && fwrite(buf.data, 1, buf.len, stdout) != buf.len) ||
		   fflush(stdout) != 0) {
		ccp_opt_error("ccpump convert: standard output: write failed: %s",
			strerror(errno));
		clearerr(stdout); /* said, with its reason: main() need not say it again */
		rc = 1;
	}
	ccp_ccm_buf_free(&buf);
	ccp_convert_shutdown();
out:
	ccp_free(site);
	ccp_convert_map_free(map);
	return rc;
}

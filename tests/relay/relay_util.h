/* Helpers shared by the relay's tests run in-process: a spool, a store and
 * a post office under a temporary root, and messages delivered into the
 * spool as an MTA delivers them. */
#ifndef CCPUMP_TESTS_RELAY_UTIL_H
#define CCPUMP_TESTS_RELAY_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../ccmail/po_util.h"

/* The spool and the store of the test's relay (setup()). */
static char spool[600], store[600];

/* The system call of an openat() that a test stands in for, its mode taken
 * from AP (openat's variadic argument) where FLAGS ask for one. */
static inline int sys_openat_va(int dirfd, const char *path, int flags, va_list ap)
{
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

/* A message to KEY@example.org, KEY its subject, BODY its text. */
static inline void message(char *out, size_t cap, const char *key, const char *body)
{
	snprintf(out, cap,
		 "From: \"Sender\" <s@example.org>\r\nTo: %s@example.org\r\n"
		 "Subject: %s\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n%s\r\n",
		 key, key, body);
}

/* Delivers KEY into new/ as an MTA should: tmp/, then rename. */
static inline void deliver(const char *key, const char *body)
{
	char tmp[800], dst[800], text[2048];
	message(text, sizeof(text), key, body);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", spool, key);
	snprintf(dst, sizeof(dst), "%s/new/%s", spool, key);
	write_file(tmp, text, strlen(text));
	CHECK(rename(tmp, dst) == 0);
}

/* The entries of DIR, dot names left out. */
static inline unsigned count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *de;
	unsigned n = 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A spool (with tmp/, new/, cur/), a store and a fresh post office under
 * ROOT, their names ending in TAG: spool and store in the globals, the
 * post office's in PO (600 octets). */
static inline void setup(const char *root, const char *tag, char *po)
{
	char path[800], err[512];
	snprintf(spool, sizeof(spool), "%s/spool%s", root, tag);
	snprintf(po, 600, "%s/po%s", root, tag);
	snprintf(store, sizeof(store), "%s/store%s", root, tag);
	const char *sub[] = { "", "/tmp", "/new", "/cur" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", spool, sub[i]);
		CHECK(mkdir(path, 0700) == 0);
	}
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	CHECK(ccp_po_init(po, &io, err, sizeof(err)) == 0);
}

/* Makes a post office at PO that knows one user, USER (a line of a user
 * directory), written into the file USERS first. */
static inline void po_knowing(const char *po, const char *users, const char *user)
{
	char err[512];
	struct ccp_po_init_opts io;
	write_file(users, user, strlen(user));
	ccp_po_init_opts_default(&io);
	io.users = users;
	CHECK(ccp_po_init(po, &io, err, sizeof(err)) == 0);
}

#endif

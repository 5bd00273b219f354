/*
 * fdio.h: whole reads and writes on a file descriptor.
 *
 * read(2) and write(2) may move fewer octets than asked (a signal, a pipe,
 * a file system's own limits); every caller wants all of them or an error.
 * These loop until done, retry EINTR, and report anything else through
 * errno.
 */
#ifndef CCPUMP_FDIO_H
#define CCPUMP_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ccpump/compiler.h"

/* Writes all N octets of P.  Returns 0, or -1 with errno (EIO for a write
 * that moved nothing). */
CCP_EXPORT int ccp_write_all(int fd, const void *p, size_t n);

/* Reads N octets into P, fewer only at the end of the file.  Returns the
 * octets read, or -1 with errno. */
CCP_EXPORT ssize_t ccp_read_full(int fd, void *p, size_t n);

/* ccp_read_full() at offset OFF (>= 0), with pread(2): the file offset
 * stays. */
CCP_EXPORT ssize_t ccp_pread_full(int fd, void *p, size_t n, off_t off);

/* Whether FD, an open file or directory, is still what PATH leads to (not
 * moved, removed or replaced since it was opened).  False only when PATH
 * leads to something else, or nowhere (ENOENT, ENOTDIR, ELOOP); a look
 * that fails for another reason (EACCES while a parent's mode is being
 * changed, EIO, ENOMEM) says neither, and counts as still there: the
 * relay, which stops when a directory it works in is gone, must not stop
 * for a passing fault. */
CCP_EXPORT bool ccp_fd_is_path(int fd, const char *path);

#endif /* CCPUMP_FDIO_H */

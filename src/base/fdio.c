/*
 * fdio.c: whole reads and writes on a file descriptor (fdio.h).
 */
#include "ccpump/fdio.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

int ccp_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads from OFF with pread(2), or from the file offset when OFF < 0. */
static ssize_t read_full_at(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = off < 0 ? read(fd, (char *)p + got, n - got)
				    : pread(fd, (char *)p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t ccp_read_full(int fd, void *p, size_t n)
{
	return read_full_at(fd, p, n, -1);
}

ssize_t ccp_pread_full(int fd, void *p, size_t n, off_t off)
{
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	return read_full_at(fd, p, n, off);
}

bool ccp_fd_is_path(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) != 0)
		return false;
	if (stat(path, &b) != 0)
		return errno != ENOENT && errno != ENOTDIR && errno != ELOOP;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

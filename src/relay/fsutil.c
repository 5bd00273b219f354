/*
 * fsutil.c: the relay's directory helpers.
 */
#include "relay/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"

char *ccp_path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = ccp_malloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

int ccp_dir_ensure_open(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errlen, "cannot open %s: %s", path,
			 errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
	return fd;
}

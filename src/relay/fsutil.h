/*
 * fsutil.h: the relay's directory helpers (internal to src/relay).
 */
#ifndef CCPUMP_RELAY_FSUTIL_H
#define CCPUMP_RELAY_FSUTIL_H

#include <stddef.h>

/* "a/b", allocated (ccp_free it). */
char *ccp_path_join(const char *a, const char *b);

/*
 * Makes directory path if it is missing (mode 0700) and opens it
 * (O_DIRECTORY | O_NOFOLLOW: a link in its place is refused).  Returns the
 * fd, or -1 with a one-line reason naming the path in err.
 */
int ccp_dir_ensure_open(const char *path, char *err, size_t errlen);

#endif

/* ccp_fd_is_path(): a directory moved, removed or replaced is said so; a
 * look at the path that fails for another reason is no such news. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "check.h"
#include "ccpump/fdio.h"

/* The test's stat() stands in for the C library's (the library's calls
 * bind to it): while FAIL_WITH is set, a look fails with that error, as a
 * passing fault's would. */
static _Atomic int fail_with;

int stat(const char *restrict path, struct stat *restrict st)
{
	int e = atomic_load(&fail_with);
	if (e) {
		errno = e;
		return -1;
	}
	return fstatat(AT_FDCWD, path, st, 0);
}

int main(void)
{
	char root[] = "/tmp/test_fdio.XXXXXX", dir[64], moved[64];
	CHECK(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/new", root);
	snprintf(moved, sizeof(moved), "%s/moved", root);
	CHECK(mkdir(dir, 0700) == 0);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK(ccp_fd_is_path(fd, dir));
	/* Faults that say nothing of where the path leads. */
	static const int passing[] = { EACCES, EIO, ENOMEM, EOVERFLOW };
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++) {
		atomic_store(&fail_with, passing[i]);
		CHECK(ccp_fd_is_path(fd, dir));
	}
	/* Answers that do: nothing there, or no way there. */
	static const int gone[] = { ENOENT, ENOTDIR, ELOOP };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		atomic_store(&fail_with, gone[i]);
		CHECK(!ccp_fd_is_path(fd, dir));
	}
	atomic_store(&fail_with, 0);
	/* Moved: nothing there; then another directory in its place. */
	CHECK(rename(dir, moved) == 0);
	CHECK(!ccp_fd_is_path(fd, dir));
	CHECK(ccp_fd_is_path(fd, moved));
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(!ccp_fd_is_path(fd, dir));
	close(fd);
	CHECK(rmdir(dir) == 0 && rmdir(moved) == 0 && rmdir(root) == 0);
	puts("test_fdio: ok");
	return 0;
}

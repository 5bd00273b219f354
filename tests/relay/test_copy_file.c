/*
 * test_copy_file: ccp_copy_file() (src/relay/fsutil.c), the copy a move
 * across file systems makes (a message on its way to Bad, a requeue).
 *
 *   sparse    a file of 1 GiB whose blocks are three short runs of data
 *             (one at its start, one in the middle, one near its end) is
 *             copied as the same octets with its holes kept: its copy
 *             takes about the blocks its data does, not a gigabyte (a
 *             writer's sparse file, copied whole into the store, filled
 *             its disk);
 *   last hole a file ending in a hole keeps its size;
 *   dense     a file without holes is copied octet for octet, its mode
 *             and modification time kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "relay/fsutil.h"

static char dir[] = "/tmp/test_copy_file.XXXXXX";
static int dirfd_;

/* Writes LEN octets of PATTERN at OFF in FD. */
static void put(int fd, off_t off, char pattern, size_t len)
{
	char *b = malloc(len);
	CHECK(b != NULL);
	memset(b, pattern, len);
	CHECK(pwrite(fd, b, len, off) == (ssize_t)len);
	free(b);
}

/* Copies NAME to NAME.copy and checks that the two hold the same octets
 * and size; returns the copy's allocated octets. */
static long long copy_and_compare(const char *name)
{
	char copy[64];
	snprintf(copy, sizeof(copy), "%s.copy", name);
	int src = openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
	CHECK(src >= 0);
	CHECK_MSG(ccp_copy_file(src, dirfd_, copy, false) == 0, "%s: %s", name, strerror(errno));
	struct stat a, b;
	CHECK(fstat(src, &a) == 0);
	int dst = openat(dirfd_, copy, O_RDONLY | O_CLOEXEC);
	CHECK(dst >= 0 && fstat(dst, &b) == 0);
	CHECK_MSG(a.st_size == b.st_size, "%s: size %lld, copy %lld", name, (long long)a.st_size,
		  (long long)b.st_size);
	CHECK((a.st_mode & 07777) == (b.st_mode & 07777));
	CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
	/* Octet for octet, by data and hole alike. */
	static char x[1 << 20], y[1 << 20];
	for (off_t off = 0; off < a.st_size; off += sizeof(x)) {
		ssize_t n = pread(src, x, sizeof(x), off), m = pread(dst, y, sizeof(y), off);
		CHECK_MSG(n == m && n > 0 && memcmp(x, y, (size_t)n) == 0,
			  "%s: the copy differs in the MiB at %lld", name, (long long)off);
	}
	close(src);
	close(dst);
	return (long long)b.st_blocks * 512;
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dirfd_ >= 0);

	const off_t gib = 1ll << 30;
	int fd = openat(dirfd_, "sparse", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, gib) == 0);
	put(fd, 0, 'a', 5000);
	put(fd, gib / 2 + 123, 'b', 70000);
	put(fd, gib - 4096, 'c', 4096);
	close(fd);
	struct stat st;
	CHECK(fstatat(dirfd_, "sparse", &st, 0) == 0);
	long long blocks = copy_and_compare("sparse");
	/* Where the file system keeps the source's holes, the copy's too. */
	if ((long long)st.st_blocks * 512 < gib / 2)
		CHECK_MSG(blocks < 16ll << 20, "the copy of a sparse file takes %lld octets", blocks);
	else
		printf("  (this file system keeps no holes: the sparse case is a plain copy)\n");

	fd = openat(dirfd_, "lasthole", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	put(fd, 0, 'd', 10000);
	CHECK(ftruncate(fd, 3 << 20) == 0);
	close(fd);
	copy_and_compare("lasthole");

	fd = openat(dirfd_, "dense", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0604);
	CHECK(fd >= 0);
	for (int i = 0; i < 300; i++)
		put(fd, (off_t)i * 1000, (char)('A' + i % 26), 1000);
	close(fd);
	copy_and_compare("dense");

	const char *names[] = { "sparse", "sparse.copy", "lasthole", "lasthole.copy", "dense",
				"dense.copy" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlinkat(dirfd_, names[i], 0);
	close(dirfd_);
	rmdir(dir);
	printf("test_copy_file: ok (the sparse GiB copied into %lld octets)\n", blocks);
	return 0;
}

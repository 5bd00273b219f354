/*
 * test_mount_discards: ccp_mount_discards() (src/relay/fsutil.c), the
 * relay's warning at start when its spool's file system discards freed
 * blocks as each removal commits.  A file plays /proc/self/mountinfo:
 *
 *   ext4 discard     the spool's device, "discard" in the file system's
 *                    options: true, and the line names ext4, its device
 *                    and where it is mounted;
 *   mount option     "discard" among the mount's own options: true;
 *   optional fields  a line with "shared:1" before its " - ": parsed;
 *   other device     the same options on another major:minor: false;
 *   not discard      "discard=async" (Btrfs), "nodiscard", "discardx": false;
 *   no file          mountinfo missing: false.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../ccmail/po_util.h"
#include "check.h"
#include "relay/fsutil.h"

static char dir[] = "/tmp/test_mount_discards.XXXXXX";
static char info[sizeof(dir) + 16];

/* Whether device 254:0 discards, by mountinfo holding TEXT. */
static bool discards(const char *text, char *why, size_t len)
{
	write_file(info, text, strlen(text));
	why[0] = '\0';
	return ccp_mount_discards(info, makedev(254, 0), why, len);
}

int main(void)
{
	char why[800];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(info, sizeof(info), "%s/mountinfo", dir);
	const char *proc = "21 26 0:20 / /proc rw,relatime - proc proc rw\n";
	char text[2048];

	/* ext4 discard */
	snprintf(text, sizeof(text), "%s26 1 254:0 / / rw,relatime - ext4 /dev/vda "
		 "rw,discard,resv_strict\n", proc);
	CHECK(discards(text, why, sizeof(why)));
	CHECK(strstr(why, "ext4 /dev/vda mounted at / with 'discard'") != NULL);
	CHECK(strstr(why, "settling spool files") != NULL);

	/* mount option, optional fields */
	snprintf(text, sizeof(text), "%s30 1 254:0 / /var/spool rw,discard shared:1 master:2 - "
		 "xfs /dev/vdb rw\n", proc);
	CHECK(discards(text, why, sizeof(why)));
	CHECK(strstr(why, "xfs /dev/vdb mounted at /var/spool") != NULL);

	/* other device */
	snprintf(text, sizeof(text), "26 1 254:1 / / rw,relatime - ext4 /dev/vdb rw,discard\n"
		 "27 1 8:0 / /data rw - ext4 /dev/sda rw,discard\n");
	CHECK(!discards(text, why, sizeof(why)));
	CHECK(why[0] == '\0');

	/* not discard */
	CHECK(!discards("26 1 254:0 / / rw,relatime - btrfs /dev/vda "
			"rw,ssd,discard=async,space_cache=v2\n", why, sizeof(why)));
	CHECK(!discards("26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,nodiscard\n", why,
			sizeof(why)));
	CHECK(!discards("26 1 254:0 / / rw,discardx - ext4 /dev/vda rw,discards\n", why,
			sizeof(why)));
	/* A torn line (no " - ") is skipped, the next one read. */
	CHECK(discards("26 1 254:0 / / rw,discard\n"
		       "27 1 254:0 / /srv rw - ext4 /dev/vda rw,discard\n", why, sizeof(why)));
	CHECK(strstr(why, "mounted at /srv") != NULL);

	/* no file */
	CHECK(unlink(info) == 0);
	CHECK(!ccp_mount_discards(info, makedev(254, 0), why, sizeof(why)));

	CHECK(rmdir(dir) == 0);
	printf("test_mount_discards: ok\n");
	return 0;
}

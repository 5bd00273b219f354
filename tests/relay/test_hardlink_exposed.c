/*
 * test_hardlink_exposed: ccp_hardlink_exposed() (src/relay/fsutil.c), the
 * relay's warning at start when, run as root, it could be made to deliver
 * a file only root may read: with fs.protected_hardlinks 0 any user may
 * hard-link such a file into a spool's new/ that user may write.  A
 * directory plays new/, a file plays the sysctl:
 *
 *   root only      new/ root's, mode 0700: not exposed, whatever the sysctl;
 *   others write   mode 0733: exposed with the sysctl 0, and the line says
 *                  the mode; not with it 1, nor when the sysctl is missing;
 *   another owner  new/ uid 1000's (run as root): exposed, its owner said;
 *   not root       a relay that is not root: never.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ccmail/po_util.h"
#include "check.h"
#include "relay/fsutil.h"

static char dir[] = "/tmp/test_hardlink_exposed.XXXXXX";
static char newdir[sizeof(dir) + 8], sysctl[sizeof(dir) + 16];

static void set_sysctl(const char *value)
{
	write_file(sysctl, value, strlen(value));
}

/* Whether new/ is exposed to a relay run as EUID; its line into why. */
static bool exposed(uid_t euid, char *why, size_t len)
{
	struct stat st;
	CHECK(stat(newdir, &st) == 0);
	why[0] = '\0';
	return ccp_hardlink_exposed(sysctl, &st, euid, why, len);
}

int main(void)
{
	char why[400];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	snprintf(sysctl, sizeof(sysctl), "%s/sysctl", dir);
	CHECK(mkdir(newdir, 0700) == 0);
	CHECK(chmod(newdir, 0700) == 0);
	bool root = geteuid() == 0;

	/* root only (as root: new/ is root's) */
	set_sysctl("0\n");
	CHECK(exposed(0, why, sizeof(why)) == !root);

	/* others write */
	CHECK(chmod(newdir, 0733) == 0);
	CHECK(exposed(0, why, sizeof(why)));
	CHECK(strstr(why, "fs.protected_hardlinks 0") != NULL);
	CHECK(strstr(why, "mode 0733") != NULL);
	set_sysctl("1\n");
	CHECK(!exposed(0, why, sizeof(why)));
	CHECK(unlink(sysctl) == 0);
	CHECK(!exposed(0, why, sizeof(why)));

	/* not root */
	set_sysctl("0\n");
	CHECK(!exposed(1000, why, sizeof(why)));

	/* another owner */
	CHECK(chmod(newdir, 0700) == 0);
	if (root) {
		CHECK(chown(newdir, 1000, 1000) == 0);
		CHECK(exposed(0, why, sizeof(why)));
		CHECK(strstr(why, "owner uid 1000, mode 0700") != NULL);
	} else {
		printf("test_hardlink_exposed: another owner: not root, not checked\n");
	}

	CHECK(unlink(sysctl) == 0);
	CHECK(rmdir(newdir) == 0);
	CHECK(rmdir(dir) == 0);
	printf("test_hardlink_exposed: ok\n");
	return 0;
}

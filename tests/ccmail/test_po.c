/*
 * test_po: the stand-in post office.  Every IMPORT exit code, the .und file,
 * duplicate skipping across imports and handles, all-or-nothing recovery
 * after a crash at each step, the round trip convert -> import -> mailbox ->
 * the same fields, and safe mailbox names.  argv[1] is tests/data.
 */
#include "po_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "ccpump/ccm.h"
#include "ccpump/convert.h"
#include "ccpump/log.h"
#include "ccpump/po.h"

static char err[512];

static struct ccp_po *open_po(const char *dir)
{
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false; /* tests: correctness, not durability */
	o.env_fault = false;
	struct ccp_po *po = NULL;
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	return po;
}

/* A handle whose every import stops at STEP (enum ccp_po_crash), as if
 * its process died there. */
static struct ccp_po *open_crashing(const char *dir, int step)
{
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false;
	o.env_fault = false;
	o.fault.crash = step;
	struct ccp_po *po = NULL;
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	return po;
}

static void stats(const char *dir, struct ccp_po_stats *st)
{
	CHECK(ccp_po_stats(dir, st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st->duplicate_deliveries, 0);
}

static void test_codes(const char *base)
{
	char dir[600], path[700];
	struct ccp_po_result res;
	struct ccp_po *po;

	/* 1: the directory does not exist; 3: it is not a post office. */
	snprintf(dir, sizeof(dir), "%s/missing", base);
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(err, dir) != NULL);
	CHECK(ccp_po_open(base, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "not a post office") != NULL);
	snprintf(path, sizeof(path), "%s/file", base);
	write_file(path, "x", 1);
	CHECK(ccp_po_open(path, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);

	snprintf(dir, sizeof(dir), "%s/po", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == CCP_PO_MISCONFIGURED); /* twice */
	po = open_po(dir);

	/* 0: all imported. */
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	const char *r1[] = { "Doe, John at HUBPO1", "Roe, Jane at HUBPO1", NULL };
	msg_text(&b, "k1", "Smith, Sally at EXSITE", "6/2/98 8:39", r1, "hello", "Hi\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "a.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.messages, 1);
	CHECK_EQ_U64(res.delivered, 2);
	/* The same again: skipped duplicates, nothing delivered twice. */
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "a.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 0);
	CHECK_EQ_U64(res.skipped, 2);
	/* Another handle (another process, in effect) rebuilds the index from the log. */
	struct ccp_po *po2 = open_po(dir);
	CHECK(ccp_po_import_buffer(po2, b.data, b.len, "a.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.skipped, 2);
	/* po catches up with what po2 appended: a new key via po2, then po. */
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "k2", "Smith, Sally at EXSITE", "6/2/98 8:40", r1, "two", "2\r\n");
	CHECK(ccp_po_import_buffer(po2, b.data, b.len, "b.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 2);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "b.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 0);
	CHECK_EQ_U64(res.skipped, 2);

	/* 4: locked by another import (po2 holds the flock during a slow import). */
	int lfd;
	snprintf(path, sizeof(path), "%s/po.lock", dir);
	lfd = open(path, O_RDWR);
	CHECK(lfd >= 0);
	CHECK(flock(lfd, LOCK_EX) == 0);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "b.ccm", NULL, &res) == CCP_PO_LOCKED);
	CHECK(strstr(res.reason, "locked") != NULL);
	CHECK(flock(lfd, LOCK_UN) == 0);
	close(lfd);
	ccp_po_close(po2);

	/* 5: undeliverable messages, each to the .und with its reason; the
	 * good ones in the same file are delivered. */
	ccp_ccm_buf_reset(&b);
	const char *r2[] = { "Doe, John at HUBPO1", NULL };
	msg_text(&b, "bad-date", "Smith, Sally at EXSITE", "Tuesday", r2, "x", "x\r\n");
	msg_text(&b, "empty-from", "", "6/2/98 8:39", r2, "x", "x\r\n");
	msg_text(&b, "brackets", "A at B", "6/2/98 8:39", r2, "[x]", "x\r\n");
	msg_text(&b, "good", "A at B", "6/2/98 8:39", r2, "fine", "fine\r\n");
	struct ccp_ccm_buf big;
	ccp_ccm_buf_init(&big);
	for (int i = 0; i < 2100; i++)
		ccp_ccm_buf_adds(&big, "123456789\r\n"); /* 23100 octets */
	msg_text(&b, "big-text", "A at B", "6/2/98 8:39", r2, "big", big.data);
	/* 100 To lines of 4 + 43 + 2 octets: 4900 > 4096. */
	const char *many[101];
	char names[100][64];
	for (int i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "Recipient Number %02d, With A Long Name at PO", i);
		many[i] = names[i];
	}
	many[100] = NULL;
	msg_text(&b, "header-full", "A at B", "6/2/98 8:39", many, "many", "x\r\n");
	ccp_ccm_buf_adds(&b, "Message:\r\n\r\nFrom: A at B\r\nTo: C\r\n\r\nno contents here\r\n");
	snprintf(path, sizeof(path), "%s/Msg4A27.ccm", base);
	write_file(path, b.data, b.len);
	CHECK(ccp_po_import_file(po, path, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_EQ_U64(res.messages, 7);
	CHECK_EQ_U64(res.delivered, 1);
	CHECK_EQ_U64(res.undeliverable, 6);
	CHECK(strstr(res.reason, "Unknown Date Format") != NULL);
	size_t ul;
	snprintf(path, sizeof(path), "%s/Msg4A27.und", base);
	char *und = read_file(path, &ul);
	CHECK(und != NULL);
	CHECK(strstr(und, "Undeliverable: ") == und);
	CHECK(strstr(und, "Unknown Date Format") != NULL);
	CHECK(strstr(und, "empty From") != NULL);
	CHECK(strstr(und, "square brackets") != NULL);
	CHECK(strstr(und, "20 KB") != NULL);
	CHECK(strstr(und, "Header Buffer Full") != NULL);
	CHECK(strstr(und, "Contents") != NULL);
	CHECK(strstr(und, "X-Spool-Id: good") == NULL);
	free(und);
	ccp_ccm_buf_free(&big);

	/* An unreadable input answers 1 and names the file. */
	snprintf(path, sizeof(path), "%s/nope.ccm", base);
	CHECK(ccp_po_import_file(po, path, &res) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(res.reason, "nope.ccm") != NULL);
	/* An empty input has nothing to import. */
	CHECK(ccp_po_import_buffer(po, "", 0, "empty.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	ccp_po_close(po);

	struct ccp_po_stats st;
	stats(dir, &st);
	CHECK_EQ_U64(st.delivered, 5);
	CHECK_EQ_U64(st.distinct_keys, 3);
	CHECK_EQ_U64(st.skipped_duplicates, 6);
	CHECK_EQ_U64(st.undeliverable, 6);
	CHECK_EQ_U64(st.mailboxes, 2);

	/* Fault injection, by options and by the environment. */
	struct ccp_po_opts o;
	ccp_po_opts_default(&o);
	o.sync = false;
	CHECK(ccp_po_fault_parse("rate=1,code=1", &o.fault, err, sizeof(err)) == 0);
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "f.ccm", NULL, &res) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(res.reason, "fault injected") != NULL);
	ccp_po_close(po);
	CHECK(ccp_po_fault_parse("rate=2", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("code=3", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("bogus=1", &o.fault, err, sizeof(err)) != 0);
	/* strtoul would take -1 for ULONG_MAX: a 49-day sleep under the lock. */
	CHECK(ccp_po_fault_parse("delay_ms=-1", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("delay_ms=60001", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("seed=-7", &o.fault, err, sizeof(err)) != 0);
	/* Plain decimals only: nan injected nothing, 0x1 was 1, and a code
	 * past int's range wrapped to one allowed. */
	CHECK(ccp_po_fault_parse("rate=nan", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("rate=0x1", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("rate= 1", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("rate=-0", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("code=4294967297", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("crash=4294967297", &o.fault, err, sizeof(err)) != 0);
	CHECK(ccp_po_fault_parse("rate=0.25,code=4,crash=2", &o.fault, err, sizeof(err)) == 0);
	CHECK(o.fault.rate == 0.25 && o.fault.code == 4 && o.fault.crash == 2);
	CHECK(ccp_po_fault_parse("delay_ms=60000,seed=7", &o.fault, err, sizeof(err)) == 0);
	CHECK(o.fault.delay_ms == 60000 && o.fault.seed == 7);
	ccp_po_opts_default(&o);
	setenv("CCPUMP_PO_FAULT", "rate=1,code=4,seed=3", 1);
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "f.ccm", NULL, &res) == CCP_PO_LOCKED);
	ccp_po_close(po);
	setenv("CCPUMP_PO_FAULT", "rate=0.5,code=4,seed=11", 1);
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == 0);
	int locked = 0;
	for (int i = 0; i < 200; i++)
		locked += ccp_po_import_buffer(po, "", 0, "f.ccm", NULL, &res) == CCP_PO_LOCKED;
	CHECK(locked > 50 && locked < 150);
	ccp_po_close(po);
	setenv("CCPUMP_PO_FAULT", "rate=x", 1);
	CHECK(ccp_po_open(dir, &o, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	unsetenv("CCPUMP_PO_FAULT");

	/* Nothing the faults or refusals did changed the counts. */
	struct ccp_po_stats st2;
	stats(dir, &st2);
	CHECK_EQ_U64(st2.delivered, st.delivered);
	ccp_ccm_buf_free(&b);
}

struct outcome_log {
	char text[1024];
};

static void note_outcome(void *arg, const char *key, size_t key_len, enum ccp_po_outcome outcome,
			 const char *reason)
{
	static const char *const names[] = { "delivered", "duplicate", "partial", "undeliverable" };
	struct outcome_log *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%.*s=%s%s;", (int)key_len, key, names[outcome],
		 reason[0] ? "+reason" : "");
}

static void test_users(const char *base)
{
	char dir[600], users[700];
	struct ccp_po_result res;
	snprintf(dir, sizeof(dir), "%s/po-users", base);
	snprintf(users, sizeof(users), "%s/users.txt", base);
	const char *dirtext = "# the directory\r\nDOE, John at HUBPO1\r\n\r\nRoe,   Jane at HUBPO1\n";
	write_file(users, dirtext, strlen(dirtext));
	struct ccp_po_init_opts io;
	ccp_po_init_opts_default(&io);
	io.users = users;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	const char *r[] = { "doe, john at hubpo1", "Nobody, Here at HUBPO1", "Roe, Jane  at HUBPO1", NULL };
	msg_text(&b, "u1", "A at B", "6/2/98 8:39", r, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "u.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_EQ_U64(res.delivered, 2);
	CHECK_EQ_U64(res.undeliverable, 1);
	CHECK(strstr(res.reason, "unknown recipient 'Nobody, Here at HUBPO1'") != NULL);
	/* An unknown recipient named twice in one message: one line, one
	 * count, named once, as a known one named twice is delivered once. */
	const char *twice[] = { "Ghost, Bob at HUBPO1", "doe, john at hubpo1", "ghost,  BOB at hubpo1",
				NULL };
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "ut", "A at B", "6/2/98 8:39", twice, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "u.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_EQ_U64(res.delivered, 1);
	CHECK_EQ_U64(res.undeliverable, 1);
	CHECK_MSG(strcmp(strstr(res.reason, "unknown"), "unknown recipient 'Ghost, Bob at HUBPO1'") ==
			  0,
		  "%s", res.reason);

	/* Forty unknown recipients: the reason names those that fit and
	 * counts the rest, never a part of the list as all of it. */
	const char *many[41];
	char names[40][40];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "Unknown Person Number %d at HUBPO1", i);
		many[i] = names[i];
	}
	many[40] = NULL;
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "u0", "A at B", "6/2/98 8:39", many, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "u.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_EQ_U64(res.undeliverable, 40);
	CHECK(strstr(res.reason, "unknown recipients 'Unknown Person Number 0 at HUBPO1', ") != NULL);
	const char *more = strstr(res.reason, "' and ");
	unsigned named = 0, rest = 0;
	for (const char *q = res.reason; (q = strstr(q, "'Unknown Person")) != NULL; q++)
		named++;
	CHECK(more != NULL && sscanf(more, "' and %u more", &rest) == 1);
	CHECK_MSG(named + rest == 40 && named >= 5, "named %u, and %u more: %s", named, rest,
		  res.reason);
	/* One too long to name first: the others are named all the same. */
	char longname[360];
	memset(longname, 'L', 330);
	snprintf(longname + 330, sizeof(longname) - 330, " at HUBPO1");
	const char *some[] = { longname, "Short One at HUBPO1", "Short Two at HUBPO1", NULL };
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "u00", "A at B", "6/2/98 8:39", some, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "u.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_MSG(strstr(res.reason, "unknown recipients 'Short One at HUBPO1', 'Short Two at "
				     "HUBPO1' and 1 more") != NULL,
		  "%s", res.reason);
	ccp_ccm_buf_reset(&b);
	const char *only_long[] = { longname, NULL };
	msg_text(&b, "u01", "A at B", "6/2/98 8:39", only_long, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "u.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	CHECK_MSG(strstr(res.reason, "unknown recipient (1, their lines too long to name here)") !=
			  NULL,
		  "%s", res.reason);

	/* Each message's outcome, in input order, for a relay to settle its
	 * spool entries: new, already delivered, partly unknown, unknown, bad. */
	ccp_ccm_buf_reset(&b);
	const char *known[] = { "Doe, John at HUBPO1", NULL };
	const char *nobody[] = { "Nobody at HUBPO1", NULL };
	msg_text(&b, "u2", "A at B", "6/2/98 8:39", known, "s", "x\r\n");
	msg_text(&b, "u1", "A at B", "6/2/98 8:39", known, "s", "x\r\n");
	msg_text(&b, "u3", "A at B", "6/2/98 8:39", r, "s", "x\r\n");
	msg_text(&b, "u4", "A at B", "6/2/98 8:39", nobody, "s", "x\r\n");
	msg_text(&b, "u5", "A at B", "6/2/98 99:39", known, "s", "x\r\n");
	/* One the reader refuses after its key (a File item's size that does
	 * not fit): reported under its key, which a relay finds its file by. */
	ccp_ccm_buf_adds(&b, "Message:\r\n\r\nFrom: A at B\r\nDate: 6/2/98 8:39\r\n"
			     "To: Doe, John at HUBPO1\r\nX-Spool-Id: u6\r\nContents:\r\n\r\n"
			     "File item: X.BIN\r\n500\r\n\x01\x02\r\n");
	struct outcome_log ol = { "" };
	CHECK(ccp_po_import_report(po, b.data, b.len, "r.ccm", NULL, &res, note_outcome, &ol) ==
	      CCP_PO_UNDELIVERABLE);
	CHECK_STREQ(ol.text, "u2=delivered;u1=duplicate;u3=partial+reason;u4=undeliverable+reason;"
			     "u5=undeliverable+reason;u6=undeliverable+reason;");
	/* Nothing imported (locked): nothing reported. */
	struct ccp_po *other = open_po(dir);
	char lock[800];
	snprintf(lock, sizeof(lock), "%s/po.lock", dir);
	int lfd = open(lock, O_RDWR);
	CHECK(lfd >= 0 && flock(lfd, LOCK_EX) == 0);
	ol.text[0] = '\0';
	CHECK(ccp_po_import_report(other, b.data, b.len, "r.ccm", NULL, &res, note_outcome, &ol) ==
	      CCP_PO_LOCKED);
	CHECK_STREQ(ol.text, "");
	close(lfd);
	ccp_po_close(other);
	ccp_po_close(po);

	/* A user directory that names no user, or is gone, would make every
	 * recipient unknown (a relay would send all its mail to Bad): the
	 * post office is refused as misconfigured, with a line naming the
	 * file, and po init refuses such a directory too. */
	char upath[800];
	snprintf(upath, sizeof(upath), "%s/users", dir);
	const char *emptied = "# emptied by mistake\r\n\n";
	write_file(upath, emptied, strlen(emptied));
	struct ccp_po *refused = NULL;
	CHECK(ccp_po_open(dir, NULL, &refused, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(refused == NULL);
	CHECK(strstr(err, "/users names no user: po.conf says 'users yes'") != NULL);
	CHECK(unlink(upath) == 0);
	CHECK(ccp_po_open(dir, NULL, &refused, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "/users: No such file or directory: po.conf says 'users yes'") != NULL);
	write_file(upath, dirtext, strlen(dirtext));
	po = open_po(dir);
	ccp_po_close(po);
	char dir2[600];
	snprintf(dir2, sizeof(dir2), "%s/po-nousers", base);
	write_file(users, "\n# nobody\n", strlen("\n# nobody\n"));
	CHECK(ccp_po_init(dir2, &io, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "the user directory names no user") != NULL);
	ccp_ccm_buf_free(&b);
}

static bool eq(const void *a, size_t al, const void *b, size_t bl);
static struct ccp_po_result import_key(struct ccp_po *po, const char *key, const char *rcpt);

static size_t file_len(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void append_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "ab");
	CHECK(f != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
}

/* How often NEEDLE occurs in the mailbox of ADDR, read through the store. */
static unsigned count_in_mailbox(const char *dir, const char *addr, const char *needle)
{
	size_t len;
	char *box = read_mailbox(dir, addr, &len);
	CHECK(box != NULL);
	unsigned n = count_in(box, len, needle);
	free(box);
	return n;
}

/* A hand-made crash: the next import (or stats) leaves no half import. */
static void test_recovery(const char *base)
{
	char dir[600], path[800], spath[800], lpath[800], jpath[800];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	snprintf(dir, sizeof(dir), "%s/po-crash", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	const char *r[] = { "Doe, John at HUBPO1", NULL };
	msg_text(&b, "c1", "A at B", "6/2/98 8:39", r, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c.ccm", NULL, &res) == CCP_PO_OK);
	ccp_po_close(po);

	snprintf(path, sizeof(path), "%s/mailboxes/doe,_john_at_hubpo1.mbx", dir);
	snprintf(spath, sizeof(spath), "%s/store/00000001.msgs", dir);
	snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
	snprintf(jpath, sizeof(jpath), "%s/import.journal", dir);
	size_t mlen = file_len(path), slen = file_len(spath), llen = file_len(lpath);
	CHECK(mlen > 0 && slen == b.len && llen > 0);

	/* Crash after the store and mailbox appends, before the log: undone,
	 * new files removed. */
	char j[1024];
	int n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog %zu %zu\nstore %zu 00000001.msgs\n"
			 "store -1 00000002.msgs\nmbox %zu doe,_john_at_hubpo1.mbx\n"
			 "mbox -1 new_at_po.mbx\nend\n", llen, llen + 40, slen, mlen);
	write_file(jpath, j, (size_t)n);
	append_file(spath, "Message:\r\nhalf a message");
	append_file(path, "00000001.msgs 9999 12 c9\n");
	char npath[800], s2path[800];
	snprintf(npath, sizeof(npath), "%s/mailboxes/new_at_po.mbx", dir);
	snprintf(s2path, sizeof(s2path), "%s/store/00000002.msgs", dir);
	write_file(npath, "partial", 7);
	write_file(s2path, "partial", 7);
	append_file(lpath, "D\tc9\tdoe"); /* a log line cut short */
	stats(dir, &st); /* stats finishes the interrupted import first */
	CHECK_EQ_U64(file_len(path), mlen);
	CHECK_EQ_U64(file_len(spath), slen);
	CHECK_EQ_U64(file_len(lpath), llen);
	CHECK(access(npath, F_OK) != 0);
	CHECK(access(s2path, F_OK) != 0);
	CHECK(access(jpath, F_OK) != 0);
	CHECK_EQ_U64(st.delivered, 1);
	CHECK_EQ_U64(count_in_mailbox(dir, r[0], "X-Spool-Id: c1"), 1);

	/* Crash after the log write (committed), before the journal went. */
	n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog %zu %zu\nstore 0 00000001.msgs\n"
			 "mbox 0 doe,_john_at_hubpo1.mbx\nend\n", llen - 10, llen);
	write_file(jpath, j, (size_t)n);
	po = open_po(dir);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.skipped, 1);
	CHECK(access(jpath, F_OK) != 0);
	CHECK_EQ_U64(file_len(path), mlen); /* not cut back: it was committed */
	CHECK_EQ_U64(file_len(spath), slen); /* a skipped message is not stored */

	/* Something else than a regular file at a mailbox's name: refused
	 * with 1 before anything is touched. */
	char zpath[800];
	llen = file_len(lpath); /* the skip above appended an S line */
	snprintf(zpath, sizeof(zpath), "%s/mailboxes/zz_at_hubpo1.mbx", dir);
	CHECK(mkdir(zpath, 0777) == 0);
	ccp_ccm_buf_reset(&b);
	const char *r2[] = { "Doe, John at HUBPO1", "ZZ at HUBPO1", NULL };
	msg_text(&b, "c2", "A at B", "6/2/98 8:39", r2, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c2.ccm", NULL, &res) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(res.reason, "zz_at_hubpo1.mbx is not a regular file") != NULL);
	CHECK_EQ_U64(res.delivered, 0);
	CHECK_EQ_U64(file_len(path), mlen);
	CHECK_EQ_U64(file_len(spath), slen);
	CHECK_EQ_U64(file_len(lpath), llen);
	CHECK(access(jpath, F_OK) != 0);
	CHECK(rmdir(zpath) == 0);

	/* A journal cut short was written before anything was touched. */
	write_file(jpath, "ccpump-journal 2\nlog 0", 22);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c2.ccm", NULL, &res) == CCP_PO_OK);
	CHECK(access(jpath, F_OK) != 0);
	CHECK_EQ_U64(res.delivered, 2);
	/* Two recipients, one stored copy. */
	CHECK_EQ_U64(file_len(spath), slen + b.len);

	/* A damaged journal that names a file outside the post office (a path,
	 * a dot name): nothing is cut back, neither that file nor the post
	 * office's, and the import is refused as misconfigured with a line that
	 * names the journal, until someone looks. */
	char vpath[800];
	snprintf(vpath, sizeof(vpath), "%s/victim", base);
	write_file(vpath, "not the post office's", 21);
	llen = file_len(lpath);
	mlen = file_len(path);
	n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog 0 %zu\nmbox 0 doe,_john_at_hubpo1.mbx\n"
			 "mbox 0 ../../victim\nend\n", llen + 100);
	write_file(jpath, j, (size_t)n);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c3.ccm", NULL, &res) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(res.reason, "import.journal: damaged: the line 'mbox 0 ../../victim'") != NULL);
	CHECK(strchr(res.reason, '\n') == NULL);
	CHECK_EQ_U64(file_len(vpath), 21);
	CHECK_EQ_U64(file_len(path), mlen);
	CHECK_EQ_U64(file_len(lpath), llen);
	CHECK(access(jpath, F_OK) == 0);
	n = snprintf(j, sizeof(j), "ccpump-journal 2\nlog 0 %zu\nstore 0 .hidden\nend\n", llen + 100);
	write_file(jpath, j, (size_t)n);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c3.ccm", NULL, &res) == CCP_PO_MISCONFIGURED);
	CHECK_EQ_U64(file_len(lpath), llen);
	CHECK(unlink(jpath) == 0);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "c3.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.skipped, 2);
	ccp_po_close(po);
	ccp_ccm_buf_free(&b);
}

/*
 * A complete journal (it ends in "end") with a line an import does not
 * write: damaged, so nothing is undone, neither by its good lines nor by
 * guessing, and every import answers 3 naming the journal and the line,
 * until someone moves it aside.  Before, a first or log line that did not
 * parse removed the journal with nothing undone, and a file line that did
 * not parse was skipped.
 */
static void test_damaged_journal(const char *base)
{
	/* Each replaces one line of a good journal: the first, the log's,
	 * or the first file's. */
	static const struct {
		int at;
		const char *line;
	} bad[] = {
		{ 0, "ccpump-journal 9" }, { 1, "log zero 1" }, { 1, "log 5 1" }, { 1, "log 0 1 2" },
		{ 2, "mbox 5" }, { 2, "mbox -5 doe,_john_at_hubpo1.mbx" },
		{ 2, "mbox 1x doe,_john_at_hubpo1.mbx" }, { 2, "mbox +0 doe,_john_at_hubpo1.mbx" },
		{ 2, "box 0 doe,_john_at_hubpo1.mbx" }, { 2, "store 0 a b" }, { 2, "" },
	};
	char dir[600], mpath[800], lpath[800], jpath[800], j[512];
	struct ccp_po_result res;
	snprintf(dir, sizeof(dir), "%s/po-damaged-journal", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	snprintf(mpath, sizeof(mpath), "%s/mailboxes/doe,_john_at_hubpo1.mbx", dir);
	snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
	snprintf(jpath, sizeof(jpath), "%s/import.journal", dir);
	struct ccp_po *po = open_po(dir);
	import_key(po, "d1", "Doe, John at HUBPO1");
	size_t mlen = file_len(mpath), llen = file_len(lpath);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Undone, were it read: the log is short of its expected length. */
		char logl[64];
		snprintf(logl, sizeof(logl), "log 0 %zu", llen + 100);
		const char *l[3] = { "ccpump-journal 2", logl, "mbox 0 doe,_john_at_hubpo1.mbx" };
		l[bad[i].at] = bad[i].line;
		int n = snprintf(j, sizeof(j), "%s\n%s\n%s\nmbox 0 doe,_john_at_hubpo1.mbx\nend\n",
				 l[0], l[1], l[2]);
		write_file(jpath, j, (size_t)n);
		int rc = ccp_po_import_buffer(po, "", 0, "d.ccm", NULL, &res);
		char want[300];
		snprintf(want, sizeof(want), "import.journal: damaged: the line '%s' ", bad[i].line);
		if (rc != CCP_PO_MISCONFIGURED || strstr(res.reason, want) == NULL) {
			fprintf(stderr, "journal line '%s': %d %s\n", bad[i].line, rc, res.reason);
			CHECK(0);
		}
		CHECK(strchr(res.reason, '\n') == NULL);
		CHECK_EQ_U64(file_len(mpath), mlen);
		CHECK_EQ_U64(file_len(lpath), llen);
		CHECK(access(jpath, F_OK) == 0);
	}
	CHECK(unlink(jpath) == 0);
	CHECK(ccp_po_import_buffer(po, "", 0, "d.ccm", NULL, &res) == CCP_PO_UNDELIVERABLE);
	ccp_po_close(po);
}

/* An injected crash at each step of the commit protocol: the files are
 * left as a dead process would leave them, and the next import finishes or
 * undoes the import so that every message is delivered exactly once. */
static void test_crash_steps(const char *base)
{
	static const int steps[] = { CCP_PO_CRASH_JOURNAL, CCP_PO_CRASH_STORE,
				     CCP_PO_CRASH_MAILBOXES, CCP_PO_CRASH_COMMITTED };
	const char *r[] = { "Doe, John at HUBPO1", "Roe, Jane at HUBPO1", NULL };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char dir[600], spath[800], mpath[800], lpath[800], jpath[800], key[16];
		struct ccp_po_result res;
		struct ccp_po_stats st;
		snprintf(dir, sizeof(dir), "%s/po-step%d", base, steps[i]);
		CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
		snprintf(spath, sizeof(spath), "%s/store/00000001.msgs", dir);
		snprintf(mpath, sizeof(mpath), "%s/mailboxes/roe,_jane_at_hubpo1.mbx", dir);
		snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
		snprintf(jpath, sizeof(jpath), "%s/import.journal", dir);
		struct ccp_ccm_buf b;
		ccp_ccm_buf_init(&b);
		/* A first import, committed, so that the files exist. */
		msg_text(&b, "k0", "A at B", "6/2/98 8:39", r, "s", "first\r\n");
		struct ccp_po *po = open_po(dir);
		CHECK(ccp_po_import_buffer(po, b.data, b.len, "k0.ccm", NULL, &res) == CCP_PO_OK);
		size_t slen = file_len(spath), mlen = file_len(mpath), llen = file_len(lpath);

		ccp_ccm_buf_reset(&b);
		for (int k = 1; k <= 3; k++) {
			snprintf(key, sizeof(key), "k%d", k);
			msg_text(&b, key, "A at B", "6/2/98 8:39", r, "s", "again\r\n");
		}
		struct ccp_po *crashing = open_crashing(dir, steps[i]);
		CHECK(ccp_po_import_buffer(crashing, b.data, b.len, "k.ccm", NULL, &res) ==
		      CCP_PO_NOT_ACCESSIBLE);
		CHECK(strstr(res.reason, "crash injected") != NULL);
		ccp_po_close(crashing);
		CHECK(access(jpath, F_OK) == 0);
		/* What the dead import left behind, step by step. */
		CHECK_EQ_U64(file_len(spath), steps[i] == CCP_PO_CRASH_JOURNAL ? slen : slen + b.len);
		CHECK(steps[i] == CCP_PO_CRASH_JOURNAL || steps[i] == CCP_PO_CRASH_STORE
			      ? file_len(mpath) == mlen : file_len(mpath) > mlen);
		CHECK(steps[i] == CCP_PO_CRASH_COMMITTED ? file_len(lpath) > llen
							 : file_len(lpath) == llen);

		/* The next import finishes (step 4) or undoes (1-3) it first. */
		CHECK(ccp_po_import_buffer(po, b.data, b.len, "k.ccm", NULL, &res) == CCP_PO_OK);
		CHECK(access(jpath, F_OK) != 0);
		bool committed = steps[i] == CCP_PO_CRASH_COMMITTED;
		CHECK_EQ_U64(res.delivered, committed ? 0 : 6);
		CHECK_EQ_U64(res.skipped, committed ? 6 : 0);
		CHECK_EQ_U64(file_len(spath), slen + b.len); /* stored once, not twice */
		ccp_po_close(po);
		stats(dir, &st);
		CHECK_EQ_U64(st.delivered, 8);
		CHECK_EQ_U64(st.duplicate_deliveries, 0);
		for (int a = 0; a < 2; a++)
			for (int k = 0; k <= 3; k++) {
				char needle[32];
				snprintf(needle, sizeof(needle), "X-Spool-Id: k%d\r\n", k);
				CHECK_EQ_U64(count_in_mailbox(dir, r[a], needle), 1);
			}
		ccp_ccm_buf_free(&b);
	}
}

/* A message is stored once; each recipient's reference resolves to exactly
 * its octets, whichever store file it went to; bad references are refused. */
static void test_store(const char *base)
{
	char dir[600], path[800];
	struct ccp_po_result res;
	snprintf(dir, sizeof(dir), "%s/po-store", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	const char *all[] = { "P1 at HUB", "P2 at HUB", "P3 at HUB", NULL };
	const char *one[] = { "P2 at HUB", NULL };
	struct ccp_ccm_buf b1, b2, b3;
	ccp_ccm_buf_init(&b1);
	ccp_ccm_buf_init(&b2);
	ccp_ccm_buf_init(&b3);
	msg_text(&b1, "s1", "A at B", "6/2/98 8:39", all, "one", "to all three\r\n");
	msg_text(&b2, "s2", "A at B", "6/2/98 8:39", one, "two", "to P2 only\r\n");
	msg_text(&b3, "s3", "A at B", "6/2/98 8:39", all, "three", "all again\r\n");
	struct ccp_ccm_buf in;
	ccp_ccm_buf_init(&in);
	ccp_ccm_buf_add(&in, b1.data, b1.len);
	ccp_ccm_buf_add(&in, b2.data, b2.len);
	CHECK(ccp_po_import_buffer(po, in.data, in.len, "s.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 4);
	/* A full store file is left alone: the next import starts another. */
	snprintf(path, sizeof(path), "%s/store/00000001.msgs", dir);
	CHECK_EQ_U64(file_len(path), b1.len + b2.len);
	CHECK(truncate(path, (off_t)(64ll << 20)) == 0);
	CHECK(ccp_po_import_buffer(po, b3.data, b3.len, "s3.ccm", NULL, &res) == CCP_PO_OK);
	snprintf(path, sizeof(path), "%s/store/00000002.msgs", dir);
	CHECK_EQ_U64(file_len(path), b3.len);
	ccp_po_close(po);

	/* Each mailbox is exactly its messages, in delivery order. */
	size_t len;
	char *box = read_mailbox(dir, "P1 at HUB", &len);
	CHECK(box != NULL && eq(box, len, b1.data, b1.len) == false);
	CHECK_EQ_U64(len, b1.len + b3.len);
	CHECK(memcmp(box, b1.data, b1.len) == 0 && memcmp(box + b1.len, b3.data, b3.len) == 0);
	free(box);
	box = read_mailbox(dir, "p2  AT hub", &len);
	CHECK(box != NULL);
	CHECK_EQ_U64(len, b1.len + b2.len + b3.len);
	CHECK(memcmp(box, b1.data, b1.len) == 0 && memcmp(box + b1.len, b2.data, b2.len) == 0 &&
	      memcmp(box + b1.len + b2.len, b3.data, b3.len) == 0);
	free(box);
	CHECK(read_mailbox(dir, "Nobody at HUB", &len) == NULL);

	/* A reference past the end of its store, or not a reference at all. */
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	snprintf(path, sizeof(path), "%s/mailboxes/p3_at_hub.mbx", dir);
	append_file(path, "00000002.msgs 1 999999 s9\n");
	CHECK(ccp_po_mailbox_read(dir, "p3_at_hub.mbx", &out, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "line 3: points past the end of store/00000002.msgs") != NULL);
	write_file(path, "../x 0 1 s9\n", 12);
	CHECK(ccp_po_mailbox_read(dir, "p3_at_hub.mbx", &out, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "line 1: not a message reference") != NULL);
	/* Numbers as written, digits only: a sign, a wrap past the end of the
	 * store, or trailing garbage is refused, never read (a length of -1
	 * was taken for SIZE_MAX, and an offset and length that wrapped
	 * passed the end-of-store check). */
	static const char *const refs[] = {
		"00000002.msgs 1 -1 s9\n", "00000002.msgs -1 5 s9\n", "00000002.msgs +1 5 s9\n",
		"00000002.msgs 1 5x s9\n", "00000002.msgs  1 5 s9\n",
		"00000002.msgs 1 18446744073709551615 s9\n",
		"00000002.msgs 18446744073709551615 2 s9\n",
		"00000002.msgs 1 99999999999999999999999 s9\n",
	};
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		write_file(path, refs[i], strlen(refs[i]));
		ccp_ccm_buf_reset(&out);
		int rc = ccp_po_mailbox_read(dir, "p3_at_hub.mbx", &out, err, sizeof(err));
		if (rc != CCP_PO_MISCONFIGURED || strstr(err, "p3_at_hub.mbx: line 1: ") == NULL ||
		    out.len != 0) {
			fprintf(stderr, "reference '%s': %d %s\n", refs[i], rc, err);
			CHECK(0);
		}
	}
	/* The last octet of the store and no further. */
	char ref[80];
	snprintf(ref, sizeof(ref), "00000002.msgs %zu 1 s3\n", b3.len - 1);
	write_file(path, ref, strlen(ref));
	CHECK(ccp_po_mailbox_read(dir, "p3_at_hub.mbx", &out, err, sizeof(err)) == 0);
	CHECK(out.len == 1 && out.data[0] == b3.data[b3.len - 1]);
	CHECK(ccp_po_mailbox_read(dir, "../po.conf", &out, err, sizeof(err)) == CCP_PO_NOT_ACCESSIBLE);
	ccp_ccm_buf_free(&out);
	ccp_ccm_buf_free(&in);
	ccp_ccm_buf_free(&b1);
	ccp_ccm_buf_free(&b2);
	ccp_ccm_buf_free(&b3);
}

/*
 * A batch to more mailboxes than the process may open files: the import
 * holds a bounded number open at once, so it commits (before, it opened
 * one per mailbox, and every such import was undone with EMFILE).
 */
static void test_many_mailboxes(const char *base)
{
	enum { RCPTS = 700 };
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/many", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == CCP_PO_OK);
	struct ccp_po *po = open_po(dir);
	/* One message to each (a message's own recipients are bounded by
	 * the header buffer), all in one batch. */
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	for (int i = 0; i < RCPTS; i++) {
		char addr[32], key[32];
		snprintf(addr, sizeof(addr), "User %03d at HUB", i);
		snprintf(key, sizeof(key), "wide%d", i);
		const char *to[] = { addr, NULL };
		msg_text(&b, key, "A at B", "6/2/98 8:39", to, "to one", "hello\r\n");
	}
	struct rlimit old, low;
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = 400; /* fewer than the mailboxes */
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	struct ccp_po_result res;
	int rc = ccp_po_import_buffer(po, b.data, b.len, "wide.ccm", NULL, &res);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	if (rc != CCP_PO_OK)
		fprintf(stderr, "import: %s\n", res.reason);
	CHECK(rc == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, RCPTS);
	ccp_ccm_buf_free(&b);
	ccp_po_close(po);
	struct ccp_po_stats st;
	stats(dir, &st);
	CHECK_EQ_U64(st.mailboxes, RCPTS);
	CHECK_EQ_U64(st.delivered, RCPTS);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
}

/* Imports one message KEY to RCPT; returns the import's result. */
static struct ccp_po_result import_key(struct ccp_po *po, const char *key, const char *rcpt)
{
	const char *to[] = { rcpt, NULL };
	struct ccp_ccm_buf b;
	struct ccp_po_result res;
	ccp_ccm_buf_init(&b);
	msg_text(&b, key, "A at B", "6/2/98 8:39", to, "w", "window\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "w.ccm", NULL, &res) == CCP_PO_OK);
	ccp_ccm_buf_free(&b);
	return res;
}

/*
 * The index of delivered pairs: at least the last dedup_window pairs are
 * skipped when handed in again, also after a reopen (rebuilt from the log);
 * an older one is delivered again and po stats counts it; the index's
 * memory never grows.
 */
static void test_dedup_window(const char *base)
{
	char dir[600], key[64];
	struct ccp_po_init_opts io;
	struct ccp_po_stats st;
	struct ccp_po_result res;
	size_t pairs, bytes, bytes0;
	struct ccp_po_index_usage u;
	const unsigned w = CCP_PO_DEDUP_WINDOW_MIN, n = 5 * CCP_PO_DEDUP_WINDOW_MIN;

	snprintf(dir, sizeof(dir), "%s/po-window", base);
	ccp_po_init_opts_default(&io);
	io.dedup_window = w;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	ccp_po_index_usage(po, &u);
	pairs = u.pairs;
	bytes0 = u.bytes;
	CHECK_EQ_U64(u.window, w);
	CHECK_EQ_U64(pairs, 0);
	/* Batches of 64 messages of one recipient each. */
	const char *to[] = { "W at HUB", NULL };
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", i);
		msg_text(&b, key, "A at B", "6/2/98 8:39", to, "w", "window\r\n");
		if (i % 64 == 63 || i == n - 1) {
			CHECK(ccp_po_import_buffer(po, b.data, b.len, "w.ccm", NULL, &res) == CCP_PO_OK);
			CHECK_EQ_U64(res.skipped, 0);
			ccp_ccm_buf_reset(&b);
			ccp_po_index_usage(po, &u);
			pairs = u.pairs;
			bytes = u.bytes;
			CHECK(pairs <= 2 * w && pairs >= (i + 1 < w ? i + 1 : w));
			/* Memory follows the pairs held, up to two tables
			 * sized for the window (1024 at 3/4 load: 2048 slots). */
			CHECK(bytes <= 2 * 2048 * 16);
		}
	}
	CHECK(bytes0 == 0 && bytes == 2 * 2048 * 16);
	ccp_ccm_buf_free(&b);
	/* The last W are skipped; one from the start is delivered again. */
	for (unsigned i = n - w; i < n; i += 97) {
		snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", i);
		res = import_key(po, key, "w  AT hub");
		CHECK(res.skipped == 1 && res.delivered == 0);
	}
	res = import_key(po, "1795882167.M000000P4242.relay.example", "W at HUB");
	CHECK(res.skipped == 0 && res.delivered == 1);
	ccp_po_close(po);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.dedup_window, w);
	CHECK_EQ_U64(st.delivered, n + 1);
	CHECK_EQ_U64(st.distinct_keys, n);
	CHECK_EQ_U64(st.duplicate_deliveries, 1); /* the window's edge, counted */
	CHECK_EQ_U64(st.skipped_duplicates, (w + 96) / 97);
	CHECK_EQ_U64(st.spill_runs, 0);
	/* Counted in the least memory, through sorted runs on disk: the same
	 * figures, the window's duplicate among them. */
	struct ccp_po_stats small;
	struct ccp_po_stats_opts so = { .memory = 1, .tmp_dir = base };
	CHECK(ccp_po_stats_with(dir, &so, &small, err, sizeof(err)) == 0);
	CHECK(small.spill_runs > 64); /* more runs than stay open: merged on the way */
	CHECK_EQ_U64(small.delivered, st.delivered);
	CHECK_EQ_U64(small.distinct_keys, st.distinct_keys);
	CHECK_EQ_U64(small.duplicate_deliveries, 1);
	CHECK_EQ_U64(small.skipped_duplicates, st.skipped_duplicates);
	/* A temporary directory that cannot be written: code 1, named. */
	so.tmp_dir = "/nonexistent/ccpump-stats-tmp";
	CHECK(ccp_po_stats_with(dir, &so, &small, err, sizeof(err)) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(err, "/nonexistent/ccpump-stats-tmp") != NULL);

	/* Reopened: rebuilt from the log, the same promise. */
	po = open_po(dir);
	ccp_po_index_usage(po, &u);
	pairs = u.pairs;
	bytes = u.bytes;
	CHECK(pairs >= w && pairs <= 2 * w);
	CHECK(bytes > 0 && bytes <= 2 * 2048 * 16);
	res = import_key(po, "1795882167.M000000P4242.relay.example", "W at HUB");
	CHECK(res.skipped == 1);
	snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", n - w);
	res = import_key(po, key, "W at HUB");
	CHECK(res.skipped == 1);
	ccp_po_close(po);

	/* A log of several read chunks, every pair inside the window: each
	 * line is folded in whole, the ones across a chunk's end too. */
	snprintf(dir, sizeof(dir), "%s/po-biglog", base);
	io.dedup_window = 65536;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	char path[800], line[200];
	snprintf(path, sizeof(path), "%s/delivery.log", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	const unsigned big = 40000;
	long across = -1; /* a line that spans the first 1 MiB boundary */
	for (unsigned i = 0; i < big; i++) {
		long at = ftell(f);
		int l = snprintf(line, sizeof(line),
				 "D\t1795882167.M%06uP4242.relay.example\trecipient %u at hubpo1\t"
				 "recipient_%u_at_hubpo1.mbx\t1795882167\n", i, i % 3, i % 3);
		if (at < (1l << 20) && at + l > (1l << 20))
			across = i;
		CHECK(fwrite(line, 1, (size_t)l, f) == (size_t)l);
	}
	CHECK(fclose(f) == 0);
	CHECK(across >= 0);
	po = open_po(dir);
	ccp_po_index_usage(po, &u);
	pairs = u.pairs;
	bytes = u.bytes;
	CHECK_EQ_U64(pairs, big);
	snprintf(key, sizeof(key), "1795882167.M%06luP4242.relay.example", across);
	snprintf(line, sizeof(line), "recipient %lu at hubpo1", (unsigned long)across % 3);
	res = import_key(po, key, line);
	CHECK(res.skipped == 1 && res.delivered == 0);
	snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", big - 1);
	snprintf(line, sizeof(line), "recipient %u at hubpo1", (big - 1) % 3);
	res = import_key(po, key, line);
	CHECK(res.skipped == 1 && res.delivered == 0);
	ccp_po_close(po);
	stats(dir, &st);
	CHECK_EQ_U64(st.delivered, big);
	CHECK_EQ_U64(st.distinct_keys, big);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	CHECK_EQ_U64(st.skipped_duplicates, 2);

	/* A log longer than the tail scan (LOG_TAIL_SCAN, 4 MiB): only the
	 * lines after which window + 1 pairs remain are folded, found by
	 * reading back over several chunks, so exactly window + 1 pairs are
	 * remembered and the next older one is not. */
	snprintf(dir, sizeof(dir), "%s/po-longlog", base);
	io.dedup_window = 65536;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/delivery.log", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	const unsigned longn = 70000;
	long *starts = malloc(longn * sizeof(*starts));
	CHECK(starts != NULL);
	for (unsigned i = 0; i < longn; i++) {
		starts[i] = ftell(f);
		int l = snprintf(line, sizeof(line),
				 "D\t1795882167.M%06uP4242.relay.example\trecipient %u at hubpo1\t"
				 "recipient_%u_at_hubpo1.mbx\t1795882167\n", i, i % 3, i % 3);
		CHECK(fwrite(line, 1, (size_t)l, f) == (size_t)l);
		if (i % 1000 == 0) /* other lines between, as imports write them */
			fprintf(f, "S\tx\ty\t\t1795882167\nU\tx\t\tbad\t1795882167\n");
	}
	/* A last, skipped-duplicate line sized so that the backward read's
	 * first chunk (the last 1 MiB) begins exactly at a D line: its "D\t"
	 * opens one chunk and the '\n' before it ends the next. */
	long size = ftell(f), at = -1;
	for (unsigned i = 0; i < longn && at < 0; i++)
		if (starts[i] >= size - (1l << 20) + 64)
			at = starts[i];
	CHECK(at > 0);
	long pad = at + (1l << 20) - size; /* the line's length */
	CHECK(pad >= 64 && pad < (long)sizeof(line));
	memset(line, 'p', (size_t)pad);
	memcpy(line, "S\t", 2);
	memcpy(line + pad - 13, "\tr\t\t17958821\n", 13);
	CHECK(fwrite(line, 1, (size_t)pad, f) == (size_t)pad);
	free(starts);
	CHECK(fclose(f) == 0);
	CHECK(file_len(path) > (4u << 20) + (1u << 20));
	po = open_po(dir);
	ccp_po_index_usage(po, &u);
	CHECK_EQ_U64(u.pairs, 65537);
	unsigned first = longn - 65537; /* the oldest pair folded */
	snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", first);
	snprintf(line, sizeof(line), "recipient %u at hubpo1", first % 3);
	res = import_key(po, key, line);
	CHECK(res.skipped == 1 && res.delivered == 0);
	snprintf(key, sizeof(key), "1795882167.M%06uP4242.relay.example", first - 1);
	snprintf(line, sizeof(line), "recipient %u at hubpo1", (first - 1) % 3);
	res = import_key(po, key, line);
	CHECK(res.skipped == 0 && res.delivered == 1); /* older than the window */
	ccp_po_close(po);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, longn + 1);
	CHECK_EQ_U64(st.duplicate_deliveries, 1);
	CHECK_EQ_U64(st.skipped_duplicates, 70 + 1 + 1); /* the S lines, the pad, the import */

	/* po.conf as an operator may edit it: each mistake refuses the post
	 * office (3) with one line naming the file, the line and what it
	 * should be; a value is the whole word, never its leading digits. */
	static const struct {
		const char *line, *says;
	} edits[] = {
		{ "dedup_window 5", "'dedup_window 5': dedup_window is a number from 1024 to" },
		{ "dedup_window 44892153se", "'dedup_window 44892153se': dedup_window is a number" },
		{ "dedup_window 999999999999999999999", "dedup_window is a number from 1024" },
		{ "dedup_window -131072", "dedup_window is a number" },
		{ "addr_buffer 16", "'addr_buffer 16': addr_buffer is a number from 64 to 163840" },
		{ "log_segment 4k", "log_segment is a number of octets, at least 4096" },
		{ "users maybe", "'users maybe': users is yes or no" },
		{ "import8 Yes", "import8 is yes or no" },
		{ "users yes no", "'users yes no': more than a key and its value" },
		{ "dedup-window 131072", "'dedup-window 131072': no such key" },
		{ "users", "'users': not a key and its value" },
		{ "users \x1b[2J", "'users \\x1b[2J': users is yes or no" },
	};
	char conf[300];
	snprintf(path, sizeof(path), "%s/po.conf", dir);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		snprintf(conf, sizeof(conf), "ccpump-po 2\nusers no\n%s\nimport8 yes\n",
			 edits[i].line);
		write_file(path, conf, strlen(conf));
		CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
		if (strstr(err, edits[i].says) == NULL || strstr(err, "/po.conf: the line '") == NULL ||
		    strstr(err, dir) == NULL || strchr(err, '\n') != NULL) {
			fprintf(stderr, "po.conf line '%s': %s\n", edits[i].line, err);
			CHECK(0);
		}
	}
	/* A NUL octet would hide every line after it: the file is refused,
	 * named, not read as far as the NUL. */
	static const char nul_conf[] = "ccpump-po 2\nusers no\n\0dedup_window 5\n";
	write_file(path, nul_conf, sizeof(nul_conf) - 1);
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "/po.conf: holds a NUL octet") != NULL && strstr(err, dir) != NULL);
	/* No magic line: not a post office, said so. */
	snprintf(conf, sizeof(conf), "users no\n");
	write_file(path, conf, strlen(conf));
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "po.conf has no 'ccpump-po 2' line") != NULL);
	/* Edited with CRLF line ends, and a window raised: taken as meant. */
	snprintf(conf, sizeof(conf), "ccpump-po 2\r\nusers no\r\naddr_buffer 4096\r\n"
		 "import8 yes\r\ndedup_window 262144\r\n");
	write_file(path, conf, strlen(conf));
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_OK);
	ccp_po_index_usage(po, &u);
	CHECK_EQ_U64(u.window, 262144);
	ccp_po_close(po);
}

static unsigned count_segments(const char *dir)
{
	char path[900];
	unsigned n = 0;
	for (unsigned i = 1; i < 10000; i++) {
		snprintf(path, sizeof(path), "%s/delivery.log.%08u", dir, i);
		if (access(path, F_OK) != 0)
			break;
		n++;
	}
	return n;
}

/*
 * delivery.log rotation: past log_segment octets an import starts a new log
 * and keeps the old as delivery.log.NNNNNNNN; po stats reads them all; the
 * index survives it in the rotating handle, in a handle opened before (it
 * sees the new inode and rebuilds across segments) and in a fresh one; a
 * rotation cut short after its link is neither counted twice nor repeated.
 */
/* Imports messages PREFIX000FROM.. PREFIX..TO (exclusive) to one
 * recipient, as one batch. */
static struct ccp_po_result import_range(struct ccp_po *po, const char *prefix, unsigned from,
					 unsigned to_n)
{
	const char *to[] = { "W at HUB", NULL };
	struct ccp_po_result res;
	struct ccp_ccm_buf b;
	char key[64];
	ccp_ccm_buf_init(&b);
	for (unsigned i = from; i < to_n; i++) {
		snprintf(key, sizeof(key), "%s%06u", prefix, i);
		msg_text(&b, key, "A at B", "6/2/98 8:39", to, "w", "window\r\n");
	}
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "w.ccm", NULL, &res) == CCP_PO_OK);
	ccp_ccm_buf_free(&b);
	return res;
}

/* A post office DIR (CAP octets) under BASE, named NAME, with the
 * smallest dedup_window, open: the window's edge comes soonest. */
static struct ccp_po *open_min_window(char *dir, size_t cap, const char *base, const char *name)
{
	struct ccp_po_init_opts io;
	snprintf(dir, cap, "%s/%s", base, name);
	ccp_po_init_opts_default(&io);
	io.dedup_window = CCP_PO_DEDUP_WINDOW_MIN;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	return open_po(dir);
}

/* A batch larger than the window's room: the pairs it keeps are the
 * newest, as the log orders them, so each of the last dedup_window pairs
 * is skipped when handed in again to the same handle, not some of them
 * forgotten by the order of a hash table. */
static void test_dedup_window_big_batch(const char *base)
{
	char dir[600];
	struct ccp_po_result res;
	const unsigned w = CCP_PO_DEDUP_WINDOW_MIN, first = 1000, second = w + 76;

	struct ccp_po *po = open_min_window(dir, sizeof(dir), base, "po-window-big");
	CHECK_EQ_U64(import_range(po, "p", 0, first).delivered, first);
	CHECK_EQ_U64(import_range(po, "q", 0, second).delivered, second);
	/* The last w again. */
	res = import_range(po, "q", second - w, second);
	CHECK(res.delivered == 0 && res.skipped == w);
	ccp_po_close(po);
}

/* One message to many recipients, its To lines in the reverse of their
 * mailboxes' order: the commit writes the mailboxes in their order, but
 * the window takes the pairs in the log's, so a handle kept open forgets
 * a pair no sooner than one that reads the log.  With the window's table
 * swap inside the batch, the pair logged last (r000, first by mailbox)
 * must land in the newer table and be skipped after fewer than
 * dedup_window later pairs. */
static void test_dedup_window_log_order(const char *base)
{
	char dir[600], rcpt[100][16];
	const char *to[101];
	struct ccp_po_result res;
	const unsigned w = CCP_PO_DEDUP_WINDOW_MIN;

	struct ccp_po *po = open_min_window(dir, sizeof(dir), base, "po-window-order");
	CHECK_EQ_U64(import_range(po, "p", 0, w - 50).delivered, w - 50);
	for (unsigned i = 0; i < 100; i++) {
		snprintf(rcpt[i], sizeof(rcpt[i]), "r%03u at HUB", 99 - i);
		to[i] = rcpt[i];
	}
	to[100] = NULL;
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	msg_text(&b, "K", "A at B", "6/2/98 8:39", to, "w", "window\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "k.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 100);
	ccp_ccm_buf_free(&b);
	/* r000's D line is the newest of K's; w - 49 pairs after it. */
	CHECK_EQ_U64(import_range(po, "q", 0, w - 49).delivered, w - 49);
	res = import_key(po, "K", "r000 at HUB");
	CHECK(res.delivered == 0 && res.skipped == 1);
	ccp_po_close(po);
	/* Read from the log, the same answer. */
	po = open_po(dir);
	res = import_key(po, "K", "r000 at HUB");
	CHECK(res.delivered == 0 && res.skipped == 1);
	ccp_po_close(po);
}

/* The log may hold a pair twice: delivered again once older than the
 * window.  Its second D line is then the newest, for every handle: one
 * opened in between, whose older generation still held the first, must
 * not forget it at its next swap and deliver it a third time while that
 * line is among the last dedup_window. */
static void test_dedup_window_readded(const char *base)
{
	char dir[600];
	const unsigned w = CCP_PO_DEDUP_WINDOW_MIN;

	struct ccp_po *h1 = open_min_window(dir, sizeof(dir), base, "po-window-readd");
	CHECK_EQ_U64(import_range(h1, "P", 0, w - 1).delivered, w - 1);
	CHECK_EQ_U64(import_range(h1, "X", 0, 1).delivered, 1);
	CHECK_EQ_U64(import_range(h1, "A", 0, w).delivered, w);
	/* Opened here, h2's generations split the log elsewhere than h1's:
	 * its older one holds X. */
	struct ccp_po *h2 = open_po(dir);
	CHECK_EQ_U64(import_range(h1, "B", 0, w - 3).delivered, w - 3);
	/* Out of h1's window: delivered again, as the window allows. */
	CHECK_EQ_U64(import_range(h1, "X", 0, 1).delivered, 1);
	CHECK_EQ_U64(import_range(h2, "Y", 0, 3).delivered, 3);
	/* X's second D line is 4th from the end of the log. */
	struct ccp_po_result res = import_range(h2, "X", 0, 1);
	CHECK(res.delivered == 0 && res.skipped == 1);
	ccp_po_close(h1);
	ccp_po_close(h2);
}

static void test_log_segments(const char *base)
{
	char dir[600], key[64], path[900], seg[900];
	struct ccp_po_init_opts io;
	struct ccp_po_stats st;
	struct ccp_po_result res;
	snprintf(dir, sizeof(dir), "%s/po-segments", base);
	ccp_po_init_opts_default(&io);
	io.log_segment = CCP_PO_LOG_SEGMENT_MIN;
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	struct ccp_po *a = open_po(dir), *b = open_po(dir);
	const unsigned n = 600; /* about 42 octets a line: 6 segments */
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "seg%05u", i);
		res = import_key(a, key, "Sam at HUB");
		CHECK(res.delivered == 1 && res.skipped == 0);
	}
	unsigned segs = count_segments(dir);
	CHECK(segs >= 5);
	snprintf(path, sizeof(path), "%s/delivery.log", dir);
	CHECK(file_len(path) < (size_t)CCP_PO_LOG_SEGMENT_MIN + 200);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, n);
	CHECK_EQ_U64(st.distinct_keys, n);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	CHECK_EQ_U64(st.log_segments, segs);
	/* The rotating handle, one opened before every rotation, a fresh one:
	 * the newest and the oldest pair are both still remembered. */
	res = import_key(a, "seg00599", "Sam at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	res = import_key(b, "seg00599", "Sam at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	res = import_key(b, "seg00000", "Sam at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	struct ccp_po *c = open_po(dir);
	res = import_key(c, "seg00000", "Sam at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	ccp_po_close(c);

	/* A rotation cut short after its link: the new segment is
	 * delivery.log itself.  Stats do not count it twice, and the next
	 * rotation finishes it instead of linking again. */
	segs = count_segments(dir);
	snprintf(seg, sizeof(seg), "%s/delivery.log.%08u", dir, segs + 1);
	CHECK(link(path, seg) == 0);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, n);
	CHECK_EQ_U64(st.skipped_duplicates, 4);
	CHECK_EQ_U64(st.log_segments, segs); /* the link is delivery.log, not a segment */
	unsigned more = 0;
	while (count_segments(dir) == segs + 1 && file_len(path) < (size_t)CCP_PO_LOG_SEGMENT_MIN) {
		snprintf(key, sizeof(key), "more%05u", more++);
		res = import_key(a, key, "Sam at HUB");
		CHECK(res.delivered == 1);
	}
	snprintf(key, sizeof(key), "more%05u", more++);
	res = import_key(a, key, "Sam at HUB"); /* this one rotates */
	CHECK(res.delivered == 1);
	CHECK_EQ_U64(count_segments(dir), segs + 1);
	struct stat s1, s2;
	CHECK(stat(seg, &s1) == 0 && stat(path, &s2) == 0 && s1.st_ino != s2.st_ino);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, n + more);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	CHECK_EQ_U64(st.log_segments, segs + 1);

	/* Every segment compressed (renamed NAME.gz), and names that are not
	 * eight digits beside them: the next rotation numbers on from the
	 * highest segment made, not from 1 again (beside 00000001.gz, which
	 * gzip -f would overwrite), and the odd names are no segments ("-" is
	 * not read as 4294967295, nor "+" as 1). */
	const unsigned made = segs + 1;
	for (unsigned i = 1; i <= made; i++) {
		char gz[920];
		snprintf(seg, sizeof(seg), "%s/delivery.log.%08u", dir, i);
		snprintf(gz, sizeof(gz), "%s.gz", seg);
		CHECK(rename(seg, gz) == 0);
	}
	static const char *const odd[] = { "-0000001", "+0000001", " 0000001" };
	for (size_t i = 0; i < CCP_ARRAY_LEN(odd); i++) {
		snprintf(seg, sizeof(seg), "%s/delivery.log.%s", dir, odd[i]);
		FILE *f = fopen(seg, "w");
		CHECK(f != NULL && fclose(f) == 0);
	}
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.log_segments, 0);
	snprintf(seg, sizeof(seg), "%s/delivery.log.%08u", dir, made + 1);
	while (access(seg, F_OK) != 0) {
		snprintf(key, sizeof(key), "gz%05u", more++);
		res = import_key(a, key, "Sam at HUB");
		CHECK(res.delivered == 1);
		CHECK(more < 10000);
	}
	CHECK(count_segments(dir) == 0); /* no new 00000001 */
	snprintf(seg, sizeof(seg), "%s/delivery.log.%08u", dir, 0u);
	CHECK(access(seg, F_OK) != 0);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.log_segments, 1);
	ccp_po_close(a);
	ccp_po_close(b);
}

/* Log lines go to a file of their own under BASE until log_captured(),
 * which returns what was logged (malloc'd). */
static int log_prev_fd = -1;
static char log_path[700];

static void log_capture(const char *base)
{
	snprintf(log_path, sizeof(log_path), "%s/captured.log", base);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	CHECK(fd >= 0);
	log_prev_fd = ccp_log_set_fd(fd);
}

static char *log_captured(void)
{
	size_t len;
	close(ccp_log_set_fd(log_prev_fd));
	char *s = read_file(log_path, &len);
	CHECK(s != NULL);
	return s;
}

/* Cuts the file PATH back to its first LINES lines. */
static void keep_lines(const char *path, unsigned lines)
{
	size_t len, at = 0;
	char *s = read_file(path, &len);
	CHECK(s != NULL);
	for (unsigned i = 0; i < lines; i++) {
		char *nl = memchr(s + at, '\n', len - at);
		CHECK(nl != NULL);
		at = (size_t)(nl - s) + 1;
	}
	CHECK(at < len);
	CHECK(truncate(path, (off_t)at) == 0);
	free(s);
}

/* A batch of N messages PREFIX0.. to two recipients each. */
static void two_rcpt_batch(struct ccp_ccm_buf *b, const char *prefix, unsigned n)
{
	const char *to[] = { "Doe, John at HUBPO1", "Roe, Jane at HUBPO1", NULL };
	char key[32];
	ccp_ccm_buf_reset(b);
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%06u", prefix, i);
		msg_text(b, key, "A at B", "6/2/98 8:39", to, "s", "text\r\n");
	}
}

/*
 * An import killed inside the write of its log lines: a complete journal,
 * and only some of its lines.  A handle opened then (a relay starting) must
 * not take those lines for deliveries: it finishes the import first, under
 * the lock, as an import would.  Before, it indexed them; another importer
 * then undid the import and committed its own lines, which the handle read
 * from the middle of one: the batch handed in again was skipped as
 * duplicates (lost), and the other importer's was delivered twice.
 */
static void test_open_after_torn_commit(const char *base)
{
	char dir[600], lpath[700];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	struct ccp_ccm_buf x, y;
	snprintf(dir, sizeof(dir), "%s/po-torn-commit", base);
	snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	ccp_ccm_buf_init(&x);
	ccp_ccm_buf_init(&y);
	two_rcpt_batch(&x, "X-", 3);
	two_rcpt_batch(&y, "Y-", 5);

	struct ccp_po *crashing = open_crashing(dir, CCP_PO_CRASH_COMMITTED);
	CHECK(ccp_po_import_buffer(crashing, x.data, x.len, "x.ccm", NULL, &res) ==
	      CCP_PO_NOT_ACCESSIBLE);
	ccp_po_close(crashing);
	keep_lines(lpath, 2); /* killed after 2 of its 6 lines */

	struct ccp_po *h = open_po(dir), *g = open_po(dir);
	CHECK(ccp_po_import_buffer(g, y.data, y.len, "y.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 10);
	CHECK(ccp_po_import_buffer(h, x.data, x.len, "x.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 6);
	CHECK_EQ_U64(res.skipped, 0);
	CHECK(ccp_po_import_buffer(h, y.data, y.len, "y.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 0);
	CHECK_EQ_U64(res.skipped, 10);
	ccp_po_close(h);
	ccp_po_close(g);
	stats(dir, &st);
	CHECK_EQ_U64(st.delivered, 16);
	CHECK_EQ_U64(count_in_mailbox(dir, "Doe, John at HUBPO1", "X-Spool-Id: X-"), 3);
	CHECK_EQ_U64(count_in_mailbox(dir, "Roe, Jane at HUBPO1", "X-Spool-Id: Y-"), 5);
	ccp_ccm_buf_free(&x);
	ccp_ccm_buf_free(&y);
}

/*
 * delivery.log rewritten in place under an open handle (same file, longer
 * than the handle has read, but not the lines it read): the handle reads
 * it again from its start rather than from the middle of a line.
 */
static void test_log_changed_under_handle(const char *base)
{
	char dir[600], lpath[700], key[160], text[512];
	struct ccp_po_result res;
	snprintf(dir, sizeof(dir), "%s/po-changed", base);
	snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *h = open_po(dir);
	res = import_key(h, "a1", "Doe at HUB");
	CHECK(res.delivered == 1);
	size_t read_to = file_len(lpath);
	snprintf(key, sizeof(key), "b1-%0100d", 0);
	int n = snprintf(text, sizeof(text),
			 "D\t%s\tdoe at hub\tdoe_at_hub.mbx\t1795882167\n"
			 "D\tb2\tdoe at hub\tdoe_at_hub.mbx\t1795882167\n", key);
	CHECK((size_t)n > read_to && text[read_to - 1] != '\n');
	int fd = open(lpath, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, text, (size_t)n) == n && close(fd) == 0);
	res = import_key(h, key, "Doe at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	res = import_key(h, "b2", "Doe at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	ccp_po_close(h);
}

/*
 * A delivery.log whose last line lost its end (torn by a power loss): the
 * torn line is cut back, logged, before anything is appended.  Before, the
 * next import's first line was appended onto it: a delivered pair that
 * neither the index nor stats could read, delivered again when handed in
 * again, and not counted as a duplicate.
 */
static void test_torn_log_tail(const char *base)
{
	char dir[600], lpath[700];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	snprintf(dir, sizeof(dir), "%s/po-torn-tail", base);
	snprintf(lpath, sizeof(lpath), "%s/delivery.log", dir);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	res = import_key(po, "t1", "Doe at HUB");
	ccp_po_close(po);
	size_t whole = file_len(lpath);
	append_file(lpath, "D\tt9\tdoe at h");
	log_capture(base);
	po = open_po(dir);
	res = import_key(po, "t2", "Doe at HUB");
	CHECK(res.delivered == 1);
	ccp_po_close(po);
	char *logged = log_captured();
	CHECK(strstr(logged, "/delivery.log: its last line was cut short") != NULL);
	CHECK(strstr(logged, "(13 octets at ") != NULL);
	free(logged);
	size_t len;
	char *text = read_file(lpath, &len);
	CHECK(text != NULL && strstr(text, "t9") == NULL && len > whole);
	free(text);
	po = open_po(dir);
	res = import_key(po, "t2", "Doe at HUB");
	CHECK(res.skipped == 1 && res.delivered == 0);
	ccp_po_close(po);
	stats(dir, &st);
	CHECK_EQ_U64(st.delivered, 2);
	CHECK_EQ_U64(st.skipped_duplicates, 1);
}

/* Writes delivery.log.NNNNNNNN for NO in 1..N, one D line each. */
static void write_segments(const char *dir, unsigned n)
{
	char path[900], line[200];
	for (unsigned no = 1; no <= n; no++) {
		snprintf(path, sizeof(path), "%s/delivery.log.%08u", dir, no);
		int l = snprintf(line, sizeof(line),
				 "D\tseg%05u\tsam at hub\tsam_at_hub.mbx\t1795882167\n", no);
		write_file(path, line, (size_t)l);
	}
}

/*
 * Many rotated segments under a window that reaches into all of them (a
 * small log_segment, a large dedup_window): the index and stats read them
 * one at a time, so neither needs more descriptors than the process may
 * open; a segment that cannot be read is named.  Segments removed within
 * the window are warned of at open, as the pairs they held are forgotten.
 */
static void test_many_segments(const char *base)
{
	enum { SEGS = 300 };
	char dir[600], path[900];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	struct ccp_po *po;
	snprintf(dir, sizeof(dir), "%s/po-many-segments", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	write_segments(dir, SEGS);

	struct rlimit old, low;
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = 64; /* fewer than the segments */
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	log_capture(base);
	int rc = ccp_po_open(dir, NULL, &po, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "open: %s\n", err);
	CHECK(rc == 0);
	res = import_key(po, "seg00001", "Sam at HUB"); /* the oldest */
	CHECK(res.skipped == 1 && res.delivered == 0);
	ccp_po_close(po);
	rc = ccp_po_stats(dir, &st, err, sizeof(err));
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(rc == 0);
	CHECK_EQ_U64(st.log_segments, SEGS);
	CHECK_EQ_U64(st.delivered, SEGS);
	char *logged = log_captured();
	CHECK(strstr(logged, "is missing") == NULL); /* every segment there */
	free(logged);

	/* Segments removed within the window: the open warns, naming the
	 * newest missing one. */
	snprintf(path, sizeof(path), "%s/delivery.log.%08u", dir, 100);
	CHECK(unlink(path) == 0);
	log_capture(base);
	po = open_po(dir);
	ccp_po_close(po);
	logged = log_captured();
	CHECK(strstr(logged, "/delivery.log.00000100 is missing, within the last 131072 "
			     "deliveries (dedup_window)") != NULL);
	free(logged);
	for (unsigned no = 1; no <= 5; no++) {
		snprintf(path, sizeof(path), "%s/delivery.log.%08u", dir, no);
		CHECK(unlink(path) == 0);
	}
	log_capture(base);
	po = open_po(dir);
	ccp_po_close(po);
	logged = log_captured();
	CHECK(strstr(logged, "/delivery.log.00000100 is missing (and 5 older)") != NULL);
	free(logged);

	/* A segment that cannot be read: named, by the open and by stats. */
	snprintf(path, sizeof(path), "%s/delivery.log.%08u", dir, 150);
	CHECK(unlink(path) == 0 && mkdir(path, 0777) == 0);
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(err, "/delivery.log.00000150: cannot read") != NULL);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == CCP_PO_NOT_ACCESSIBLE);
	CHECK(strstr(err, "/delivery.log.00000150: cannot read") != NULL);
}

/* Writes B to DIR/NAME and opens DIR. */
static int batch_file(const char *dir, const char *name, const struct ccp_ccm_buf *b)
{
	char path[900];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, b->data, b->len);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	return fd;
}

static ino_t inode_of(const char *path, nlink_t *links)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	if (links)
		*links = st.st_nlink;
	return st.st_ino;
}

/*
 * ccp_po_import_adopt: a relay's batch file becomes a store file by a hard
 * link (same inode, nothing copied), its references resolve after the batch
 * file is removed, a crash before the commit removes the new name again, a
 * batch handed in again adds no store file, and a file the writer did not
 * write (sizes that needed the keyword scan) or that cannot be linked (another
 * file system) is copied instead.
 */
static void test_adopt(const char *base)
{
	char dir[600], in[600], path[900], store[900];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	nlink_t links;
	snprintf(dir, sizeof(dir), "%s/po-adopt", base);
	snprintf(in, sizeof(in), "%s/adopt-in", base);
	CHECK(mkdir(in, 0777) == 0);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	const char *two[] = { "Ann at HUB", "Bob at HUB", NULL };
	const char *one[] = { "Bob at HUB", NULL };
	struct ccp_ccm_buf b1, b2, b;
	ccp_ccm_buf_init(&b1);
	ccp_ccm_buf_init(&b2);
	ccp_ccm_buf_init(&b);
	msg_text(&b1, "a1", "A at B", "6/2/98 8:39", two, "one", "to both\r\n");
	msg_text(&b2, "a2", "A at B", "6/2/98 8:39", one, "two", "to Bob\r\n");
	ccp_ccm_buf_add(&b, b1.data, b1.len);
	ccp_ccm_buf_add(&b, b2.data, b2.len);

	/* A first, ordinary import: store file 1 exists and is appendable. */
	struct ccp_po *po = open_po(dir);
	CHECK(ccp_po_import_buffer(po, b1.data, b1.len, "plain.ccm", NULL, &res) == CCP_PO_OK);
	const char *k0[] = { "Cy at HUB", NULL };
	struct ccp_ccm_buf b0;
	ccp_ccm_buf_init(&b0);
	msg_text(&b0, "a0", "A at B", "6/2/98 8:39", k0, "zero", "first\r\n");
	CHECK(ccp_po_import_buffer(po, b0.data, b0.len, "zero.ccm", NULL, &res) == CCP_PO_OK);

	/* Crash after the store step: the new name is undone, the batch file
	 * itself untouched. */
	int dfd = batch_file(in, "Msg01.ccm", &b);
	snprintf(path, sizeof(path), "%s/Msg01.ccm", in);
	CHECK(chmod(path, 0600) == 0); /* as a relay writes its batches */
	snprintf(store, sizeof(store), "%s/store/00000002.msgs", dir);
	struct ccp_po *crashing = open_crashing(dir, CCP_PO_CRASH_STORE);
	CHECK(ccp_po_import_adopt(crashing, b.data, b.len, dfd, "Msg01.ccm", path, NULL, &res, NULL,
				  NULL) == CCP_PO_NOT_ACCESSIBLE);
	ccp_po_close(crashing);
	CHECK(inode_of(store, &links) == inode_of(path, NULL) && links == 2);

	/* The real import: recovery removes the crash's name, then the file
	 * gets it again: a link, not a copy.  Bob gets a1 (already his: skipped)
	 * and a2; Ann has a1 already. */
	CHECK(ccp_po_import_adopt(po, b.data, b.len, dfd, "Msg01.ccm", path, NULL, &res, NULL,
				  NULL) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	CHECK_EQ_U64(res.skipped, 2);
	CHECK(inode_of(store, &links) == inode_of(path, NULL) && links == 2);
	/* A store file with the mode the post office gives its own (0666
	 * less the umask), not the batch's 0600: `po show` by another user
	 * reads it as it reads a copied one. */
	mode_t mask = umask(0);
	umask(mask);
	struct stat sst;
	CHECK(stat(store, &sst) == 0);
	CHECK_EQ_U64(sst.st_mode & 0777, 0666 & ~mask);
	/* An ordinary import while the batch is still the caller's file: it
	 * goes into a store file of its own, never appended to the adopted
	 * one (which would grow the caller's batch). */
	const char *k5[] = { "Cy at HUB", NULL };
	struct ccp_ccm_buf b5;
	ccp_ccm_buf_init(&b5);
	msg_text(&b5, "a5", "A at B", "6/2/98 8:39", k5, "five", "after the adopt\r\n");
	CHECK(ccp_po_import_buffer(po, b5.data, b5.len, "five.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	struct stat bst;
	CHECK(stat(path, &bst) == 0 && (size_t)bst.st_size == b.len);
	char third[900];
	snprintf(third, sizeof(third), "%s/store/00000003.msgs", dir);
	CHECK(access(third, F_OK) == 0);
	ccp_ccm_buf_free(&b5);
	/* The relay removes its batch: the store keeps the octets. */
	CHECK(unlinkat(dfd, "Msg01.ccm", 0) == 0);
	CHECK(inode_of(store, &links) != 0 && links == 1);
	size_t len;
	char *box = read_mailbox(dir, "Bob at HUB", &len);
	CHECK(box != NULL);
	CHECK_EQ_U64(len, b1.len + b2.len);
	CHECK(memcmp(box, b1.data, b1.len) == 0 && memcmp(box + b1.len, b2.data, b2.len) == 0);
	free(box);

	/* Handed in again: everything skipped, no store file added. */
	close(dfd);
	dfd = batch_file(in, "Msg02.ccm", &b);
	snprintf(path, sizeof(path), "%s/Msg02.ccm", in);
	CHECK(ccp_po_import_adopt(po, b.data, b.len, dfd, "Msg02.ccm", path, NULL, &res, NULL,
				  NULL) == CCP_PO_OK);
	CHECK(res.delivered == 0 && res.skipped == 3);
	snprintf(store, sizeof(store), "%s/store/00000004.msgs", dir);
	CHECK(access(store, F_OK) != 0);
	inode_of(path, &links);
	CHECK_EQ_U64(links, 1);

	/* Sizes that needed the keyword scan: the message is rewritten into
	 * an appended copy, the file is not linked. */
	const char *lie = "Message:\r\n999\r\nFrom: A at P\r\nDate: 1/2/03 4:05\r\n"
			  "To: Dee at HUB\r\nX-Spool-Id: lie\r\nContents:\r\n1\r\nText item:\r\n3\r\n"
			  "hello\r\n";
	close(dfd);
	struct ccp_ccm_buf lb = { (char *)lie, strlen(lie), 0, 0 };
	dfd = batch_file(in, "Msg03.ccm", &lb);
	snprintf(path, sizeof(path), "%s/Msg03.ccm", in);
	CHECK(ccp_po_import_adopt(po, lie, strlen(lie), dfd, "Msg03.ccm", path, NULL, &res, NULL,
				  NULL) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	inode_of(path, &links);
	CHECK_EQ_U64(links, 1);
	box = read_mailbox(dir, "Dee at HUB", &len);
	CHECK(box != NULL && strstr(box, "hello") != NULL && strstr(box, "\r\n999\r\n") == NULL);
	free(box);
	close(dfd);

	/* On another file system (tmpfs /dev/shm, where there is one), the
	 * octets are copied into a new store file. */
	struct stat a, t;
	char shm[] = "/dev/shm/ccpump-adopt-XXXXXX";
	if (stat(base, &a) == 0 && stat("/dev/shm", &t) == 0 && a.st_dev != t.st_dev &&
	    mkdtemp(shm) != NULL) {
		const char *e[] = { "Eve at HUB", NULL };
		struct ccp_ccm_buf be;
		ccp_ccm_buf_init(&be);
		msg_text(&be, "a4", "A at B", "6/2/98 8:39", e, "four", "elsewhere\r\n");
		dfd = batch_file(shm, "Msg04.ccm", &be);
		snprintf(path, sizeof(path), "%s/Msg04.ccm", shm);
		CHECK(ccp_po_import_adopt(po, be.data, be.len, dfd, "Msg04.ccm", path, NULL, &res,
					  NULL, NULL) == CCP_PO_OK);
		CHECK_EQ_U64(res.delivered, 1);
		unlinkat(dfd, "Msg04.ccm", 0);
		close(dfd);
		rmdir(shm);
		box = read_mailbox(dir, "Eve at HUB", &len);
		CHECK(box != NULL && len == be.len && memcmp(box, be.data, be.len) == 0);
		free(box);
		ccp_ccm_buf_free(&be);
	} else {
		printf("test_adopt: no second file system at /dev/shm, the copy fallback not tried\n");
	}
	ccp_po_close(po);
	stats(dir, &st);
	CHECK_EQ_U64(st.skipped_duplicates, 5);
	ccp_ccm_buf_free(&b0);
	ccp_ccm_buf_free(&b1);
	ccp_ccm_buf_free(&b2);
	ccp_ccm_buf_free(&b);
}

/* A post office of the first layout is refused with one line that says
 * what to do. */
/*
 * One recipient named twice in one message (as a hand-written batch may
 * name one): one delivery, and no duplicate counted or logged, for nothing
 * was handed in twice; handed in again, the pair is one skip, not two.
 */
static void test_named_twice(const char *base)
{
	char dir[600];
	struct ccp_po_result res;
	struct ccp_po_stats st;
	snprintf(dir, sizeof(dir), "%s/po-twice", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	const char *r[] = { "Ann at HUB", "Bob at HUB", "ANN  at hub", NULL };
	msg_text(&b, "t1", "A at B", "6/2/98 8:39", r, "s", "x\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "t.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 2);
	CHECK_EQ_U64(res.skipped, 0);
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "t.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 0);
	CHECK_EQ_U64(res.skipped, 2);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == 0);
	CHECK_EQ_U64(st.delivered, 2);
	CHECK_EQ_U64(st.skipped_duplicates, 2);
	CHECK_EQ_U64(st.duplicate_deliveries, 0);
	ccp_ccm_buf_free(&b);
	ccp_po_close(po);
}

static void test_old_layout(const char *base)
{
	char dir[600], path[800];
	snprintf(dir, sizeof(dir), "%s/po-v1", base);
	CHECK(mkdir(dir, 0777) == 0);
	snprintf(path, sizeof(path), "%s/mailboxes", dir);
	CHECK(mkdir(path, 0777) == 0);
	snprintf(path, sizeof(path), "%s/delivery.log", dir);
	write_file(path, "", 0);
	snprintf(path, sizeof(path), "%s/po.conf", dir);
	const char *conf = "ccpump-po 1\nusers no\naddr_buffer 4096\nimport8 yes\n";
	write_file(path, conf, strlen(conf));
	struct ccp_po *po;
	struct ccp_po_stats st;
	CHECK(ccp_po_open(dir, NULL, &po, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, dir) != NULL && strstr(err, "old layout") != NULL &&
	      strstr(err, "ccpump po init --po NEWDIR") != NULL && strchr(err, '\n') == NULL);
	CHECK(ccp_po_stats(dir, &st, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
	CHECK(strstr(err, "old layout") != NULL);
}

static bool eq(const void *a, size_t al, const void *b, size_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

/* convert -> import -> read the mailbox back -> the same fields. */
static void test_roundtrip(const char *base, const char *data)
{
	char dir[600], path[1200];
	snprintf(dir, sizeof(dir), "%s/po-rt", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_convert_map *map = ccp_convert_map_new();
	ccp_convert_map_add_native(map, "ccmail.example.com", "HUBPO1");
	struct ccp_convert_opts co;
	ccp_convert_opts_default(&co);
	co.map = map;
	struct ccp_convert *c = ccp_convert_new(&co);
	struct ccp_ccm_buf out;
	ccp_ccm_buf_init(&out);
	static const char *const files[] = { "mixed.eml", "gen/attach-binary.eml", "gen/nested.eml",
					     "gen/charset-04-utf-8.eml", "gen/long-body.eml" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", data, files[i]);
		CHECK(ccp_convert_file(c, path, files[i], &out) == CCP_CONVERT_OK);
	}
	struct ccp_po *po = open_po(dir);
	struct ccp_po_result res;
	CHECK(ccp_po_import_buffer(po, out.data, out.len, "rt.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.messages, 5);
	ccp_po_close(po);

	/* Every message lands in each of its recipients' mailboxes, intact. */
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg m, k;
	ccp_ccm_msg_init(&m);
	ccp_ccm_msg_init(&k);
	ccp_ccm_reader_init(&r, out.data, out.len, "rt.ccm");
	size_t checked = 0;
	while (ccp_ccm_reader_next(&r, &m) == 1) {
		for (size_t i = 0; i < m.nrcpt; i++) {
			char addr[256];
			snprintf(addr, sizeof(addr), "%.*s", (int)m.rcpt[i].addr_len, m.rcpt[i].addr);
			snprintf(path, sizeof(path), "%s mailbox of %s", dir, addr);
			size_t len;
			char *box = read_mailbox(dir, addr, &len);
			CHECK(box != NULL);
			struct ccp_ccm_reader br;
			ccp_ccm_reader_init(&br, box, len, path);
			bool found = false;
			while (!found && ccp_ccm_reader_next(&br, &k) == 1) {
				const struct ccp_ccm_ext *a = ccp_ccm_msg_ext(&m, "X-Spool-Id");
				const struct ccp_ccm_ext *b = ccp_ccm_msg_ext(&k, "X-Spool-Id");
				if (!eq(a->value, a->value_len, b->value, b->value_len))
					continue;
				found = true;
				CHECK_EQ_U64(k.warnings, 0);
				CHECK(eq(m.from, m.from_len, k.from, k.from_len));
				CHECK(eq(m.date, m.date_len, k.date, k.date_len));
				CHECK(eq(m.subject, m.subject_len, k.subject, k.subject_len));
				CHECK_EQ_U64(m.nrcpt, k.nrcpt);
				for (size_t q = 0; q < m.nrcpt; q++)
					CHECK(eq(m.rcpt[q].addr, m.rcpt[q].addr_len, k.rcpt[q].addr, k.rcpt[q].addr_len));
				CHECK_EQ_U64(m.nitem, k.nitem);
				for (size_t q = 0; q < m.nitem; q++) {
					CHECK(m.item[q].kind == k.item[q].kind);
					CHECK(eq(m.item[q].title, m.item[q].title_len, k.item[q].title, k.item[q].title_len));
					CHECK(eq(m.item[q].data, m.item[q].len, k.item[q].data, k.item[q].len));
				}
				CHECK(eq(m.raw, m.raw_len, k.raw, k.raw_len));
				checked++;
			}
			CHECK(found);
			free(box);
		}
	}
	CHECK(checked >= 7);
	ccp_ccm_msg_free(&m);
	ccp_ccm_msg_free(&k);
	ccp_ccm_buf_free(&out);
	ccp_convert_free(c);
	ccp_convert_map_free(map);
}

/* ccp_po_init refuses what ccp_po_open would refuse in po.conf, naming
 * the option, and makes nothing; the defaults open. */
static void test_init_options(const char *base)
{
	char dir[600];
	struct ccp_po_init_opts io;
	snprintf(dir, sizeof(dir), "%s/po-opts", base);
	struct {
		size_t addr_buffer, dedup_window;
		long long log_segment;
		const char *named;
	} bad[] = {
		{ CCP_CCM_ADDR_BUFFER_SMALL, 0, CCP_PO_LOG_SEGMENT, "dedup_window" },
		{ CCP_CCM_ADDR_BUFFER_SMALL, CCP_PO_DEDUP_WINDOW_MAX + 1ull, CCP_PO_LOG_SEGMENT,
		  "dedup_window" },
		{ CCP_CCM_ADDR_BUFFER_SMALL, CCP_PO_DEDUP_WINDOW, CCP_PO_LOG_SEGMENT_MIN - 1,
		  "log_segment" },
		{ 10, CCP_PO_DEDUP_WINDOW, CCP_PO_LOG_SEGMENT, "addr_buffer" },
		{ CCP_CCM_ADDR_BUFFER_LARGE + 1ull, CCP_PO_DEDUP_WINDOW, CCP_PO_LOG_SEGMENT,
		  "addr_buffer" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ccp_po_init_opts_default(&io);
		io.addr_buffer = bad[i].addr_buffer;
		io.dedup_window = bad[i].dedup_window;
		io.log_segment = bad[i].log_segment;
		CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == CCP_PO_MISCONFIGURED);
		CHECK(strstr(err, bad[i].named) != NULL && strstr(err, dir) != NULL);
		CHECK(access(dir, F_OK) != 0); /* nothing made */
	}
	ccp_po_init_opts_default(&io);
	CHECK(ccp_po_init(dir, &io, err, sizeof(err)) == 0);
	ccp_po_close(open_po(dir));
}

struct slow_import {
	struct ccp_po *po;
	struct ccp_ccm_buf in;
	struct ccp_po_result res;
	int rc;
	/* The import holds the lock (1) until the test lets it go on (1). */
	_Atomic int holding, go_on;
};

/* Until *FLAG is set by the other thread (acquire: pairs with its release
 * store), 60 s at most, against a hang; whether it was. */
static bool await_flag(_Atomic int *flag)
{
	struct timespec ts = { 0, 1000000 };
	for (int t = 0; t < 60000 && !atomic_load_explicit(flag, memory_order_acquire); t++)
		nanosleep(&ts, NULL);
	return atomic_load_explicit(flag, memory_order_acquire) != 0;
}

/* The slow import's locked_hook: says it holds the lock, and keeps it
 * until the test is done with it. */
static void hold_lock(void *arg)
{
	struct slow_import *si = arg;
	atomic_store_explicit(&si->holding, 1, memory_order_release);
	(void)await_flag(&si->go_on);
}

static void *slow_import_main(void *arg)
{
	struct slow_import *si = arg;
	si->rc = ccp_po_import_buffer(si->po, si->in.data, si->in.len, "slow.ccm", NULL, &si->res);
	return NULL;
}

/* po.lock removed, or replaced, while a handle is open: the handle's
 * descriptor still leads to the old file, which nobody else locks any
 * more.  Whoever holds the file now named po.lock must keep the handle's
 * imports out (4), and once it lets go the handle imports again, under
 * the new file. */
static void test_lock_file_replaced(const char *base)
{
	char dir[600], path[700];
	struct ccp_po_result res;
	struct ccp_ccm_buf b;
	const char *r[] = { "Doe, John at HUBPO1", NULL };

	snprintf(dir, sizeof(dir), "%s/po-relock", base);
	CHECK(ccp_po_init(dir, NULL, err, sizeof(err)) == 0);
	struct ccp_po *po = open_po(dir);
	snprintf(path, sizeof(path), "%s/po.lock", dir);
	ccp_ccm_buf_init(&b);
	msg_text(&b, "k1", "Smith, Sally at EXSITE", "6/2/98 8:39", r, "one", "1\r\n");

	for (int replace = 0; replace < 2; replace++) {
		CHECK(unlink(path) == 0);
		if (replace)
			write_file(path, "", 0); /* a restore puts a new file there */
		/* Another importer: it opens the name, so the new file, and locks it. */
		int lfd = open(path, O_RDWR | O_CREAT, 0666);
		CHECK(lfd >= 0);
		CHECK(flock(lfd, LOCK_EX) == 0);
		CHECK(ccp_po_import_buffer(po, b.data, b.len, "a.ccm", NULL, &res) == CCP_PO_LOCKED);
		CHECK(flock(lfd, LOCK_UN) == 0);
		CHECK(ccp_po_import_buffer(po, b.data, b.len, "a.ccm", NULL, &res) == CCP_PO_OK);
		/* Delivered the first time, a skipped duplicate the second. */
		CHECK_EQ_U64(res.delivered, replace ? 0 : 1);
		CHECK_EQ_U64(res.skipped, replace ? 1 : 0);
		/* The handle let go of the file named po.lock after it. */
		CHECK(flock(lfd, LOCK_EX | LOCK_NB) == 0);
		CHECK(flock(lfd, LOCK_UN) == 0);
		close(lfd);
	}
	/* Removed while an import runs (the case that matters): the import
	 * holds the old file, and a second handle that opens the name locks
	 * a new one.  The directory's lock must still keep it out, or its
	 * recovery would undo the running import's journal. */
	struct ccp_po_opts so;
	ccp_po_opts_default(&so);
	so.sync = false;
	so.env_fault = false;
	struct slow_import si = { .rc = -1 };
	/* Holds the lock until the second handle has been kept out: a fixed
	 * delay (300 ms) was outrun on a loaded machine under ASan. */
	so.locked_hook = hold_lock;
	so.locked_hook_arg = &si;
	struct ccp_po *slow;
	CHECK(ccp_po_open(dir, &so, &slow, err, sizeof(err)) == 0);
	si.po = slow;
	ccp_ccm_buf_init(&si.in);
	msg_text(&si.in, "k-slow", "Smith, Sally at EXSITE", "6/2/98 8:41", r, "slow", "s\r\n");
	pthread_t th;
	CHECK(pthread_create(&th, NULL, slow_import_main, &si) == 0);
	CHECK(await_flag(&si.holding));
	/* It holds po.lock. */
	int probe = open(path, O_RDWR);
	CHECK(probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) != 0);
	close(probe);
	CHECK(unlink(path) == 0);
	struct ccp_po *other = open_po(dir);
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "k-other", "Smith, Sally at EXSITE", "6/2/98 8:42", r, "other", "o\r\n");
	CHECK(ccp_po_import_buffer(other, b.data, b.len, "o.ccm", NULL, &res) == CCP_PO_LOCKED);
	atomic_store_explicit(&si.go_on, 1, memory_order_release);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(si.rc == CCP_PO_OK);
	CHECK_EQ_U64(si.res.delivered, 1);
	CHECK(ccp_po_import_buffer(other, b.data, b.len, "o.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	ccp_ccm_buf_free(&si.in);
	ccp_po_close(slow);
	ccp_po_close(other);

	/* Gone for good: the handle makes it again. */
	CHECK(unlink(path) == 0);
	ccp_ccm_buf_reset(&b);
	msg_text(&b, "k2", "Smith, Sally at EXSITE", "6/2/98 8:40", r, "two", "2\r\n");
	CHECK(ccp_po_import_buffer(po, b.data, b.len, "b.ccm", NULL, &res) == CCP_PO_OK);
	CHECK_EQ_U64(res.delivered, 1);
	CHECK(access(path, F_OK) == 0);
	ccp_ccm_buf_free(&b);
	ccp_po_close(po);
}

static void test_mailbox_names(void)
{
	char mb[256];
	ccp_po_mailbox_name("Doe,  John at HUBPO1", 20, mb, sizeof(mb));
	CHECK_STREQ(mb, "doe,_john_at_hubpo1.mbx");
	ccp_po_mailbox_name("../../etc/passwd", 16, mb, sizeof(mb));
	CHECK(strchr(mb, '/') == NULL && mb[0] != '.');
	ccp_po_mailbox_name(".hidden", 7, mb, sizeof(mb));
	CHECK(mb[0] != '.');
	ccp_po_mailbox_name("", 0, mb, sizeof(mb));
	CHECK_STREQ(mb, "%00.mbx");
	ccp_po_mailbox_name("a_b", 3, mb, sizeof(mb));
	CHECK_STREQ(mb, "a%5Fb.mbx"); /* '_' stands for a space: no clash with "a b" */
	ccp_po_mailbox_name("a b", 3, mb, sizeof(mb));
	CHECK_STREQ(mb, "a_b.mbx");
	char longname[600];
	memset(longname, 'x', sizeof(longname));
	size_t n = ccp_po_mailbox_name(longname, sizeof(longname), mb, sizeof(mb));
	CHECK(n <= 220);
	char other[600];
	memcpy(other, longname, sizeof(other));
	other[599] = 'y';
	char mb2[256];
	ccp_po_mailbox_name(other, sizeof(other), mb2, sizeof(mb2));
	CHECK(strcmp(mb, mb2) != 0); /* the hash keeps long names apart */
	/* Names already on disk must not change: pinned, hash included. */
	CHECK_STREQ(mb + 170, "xxxxxxxxxx~75e91438198d2c23.mbx");
	const char *odd = " \xC3\x9C  Li\tO'Neil@X.org ";
	ccp_po_mailbox_name(odd, strlen(odd), mb, sizeof(mb));
	CHECK_STREQ(mb, "%C3%9C_li_o%27neil@x.org.mbx");
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	setenv("TZ", "UTC", 1);
	unsetenv("CCPUMP_PO_FAULT");
	char *base = temp_dir();
	test_mailbox_names();
	test_codes(base);
	test_lock_file_replaced(base);
	test_init_options(base);
	test_users(base);
	test_recovery(base);
	test_damaged_journal(base);
	test_crash_steps(base);
	test_store(base);
	test_dedup_window(base);
	test_dedup_window_big_batch(base);
	test_dedup_window_log_order(base);
	test_dedup_window_readded(base);
	test_many_mailboxes(base);
	test_adopt(base);
	test_named_twice(base);
	test_log_segments(base);
	test_open_after_torn_commit(base);
	test_log_changed_under_handle(base);
	test_torn_log_tail(base);
	test_many_segments(base);
	test_old_layout(base);
	test_roundtrip(base, argv[1]);
	rm_tree(base);
	free(base);
	ccp_convert_shutdown();
	puts("test_po: ok");
	return 0;
}

/*
 * queue.c: the spool and store by age (include/ccpump/queue.h).
 */
#define _GNU_SOURCE /* statx */
#include "ccpump/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/hash.h"
#include "ccpump/log.h"
#include "relay/fsutil.h"

const char *const ccp_queue_age_names[CCP_QUEUE_AGES] = { "<1m", "<10m", "<1h", "<4h", "<1d",
							  ">=1d" };

static void add(struct ccp_queue_class *c, const struct statx *st, time_t now)
{
	static const uint64_t limits[CCP_QUEUE_AGES - 1] = { 60, 600, 3600, 14400, 86400 };
	time_t mtime = (time_t)st->stx_mtime.tv_sec;
	uint64_t age = now > mtime ? (uint64_t)(now - mtime) : 0;
	unsigned b = 0;
	while (b < CCP_QUEUE_AGES - 1 && age >= limits[b])
		b++;
	c->by_age[b]++;
	c->count++;
	c->bytes += st->stx_size;
	if (age > c->oldest_s)
		c->oldest_s = age;
}

const char *const ccp_queue_record_suffixes[CCP_QUEUE_RECORDS] = { ".reason", ".ndr" };
const char *const ccp_queue_report_dirs[CCP_QUEUE_REPORT_DIRS] = { "Bad", "Partial" };

bool ccp_queue_bad_aside_name(char *buf, const char *name, unsigned n)
{
	return snprintf(buf, CCP_QUEUE_RECORD_NAME_MAX, "%s.%u", name, n) <= NAME_MAX;
}

void ccp_queue_record_name(char *buf, const char *name, const char *suffix)
{
	/* One base for all of a message's records: whether NAME is kept whole
	 * goes by the longest suffix. */
	const size_t max = CCP_QUEUE_RECORD_NAME_MAX - 1, tail = 1 + 16;
	size_t n = strlen(name), s = strlen(suffix), longest = s;
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++)
		if (strlen(ccp_queue_record_suffixes[i]) > longest)
			longest = strlen(ccp_queue_record_suffixes[i]);
	if (ccp_unlikely(longest + tail >= max))
		ccp_panic("record suffix '%s' too long for a file name", suffix);
	size_t keep = max - longest - tail;
	/* A name of the very shape a long name's base has (KEEP octets, '~',
	 * 16 hex digits) is hashed too: kept whole, it was the base of the
	 * long name it copies, and the two messages' records were one pair,
	 * which a delete or a requeue of either removed. */
	bool base_shaped = n == keep + tail && name[keep] == '~' &&
			   strspn(name + keep + 1, "0123456789abcdef") == tail - 1;
	if (n + longest <= max && !base_shaped) {
		memcpy(buf, name, n);
		memcpy(buf + n, suffix, s + 1);
		return;
	}
	memcpy(buf, name, keep);
	snprintf(buf + keep, CCP_QUEUE_RECORD_NAME_MAX - keep, "~%016" PRIx64 "%s",
		 ccp_hash_bytes(name, n), suffix);
}

bool ccp_queue_is_record(const char *name)
{
	size_t a = strlen(name);
	for (size_t i = 0; i < CCP_QUEUE_RECORDS; i++) {
		size_t b = strlen(ccp_queue_record_suffixes[i]);
		if (a >= b && strcmp(name + a - b, ccp_queue_record_suffixes[i]) == 0)
			return true;
	}
	return false;
}

/* Where scan() sorts the spool's new/ entries that have a marker in one of
 * the store's folders (fd -1: none). */
struct marked {
	int deferred_fd, delivered_fd;
	struct ccp_queue_class *deferred, *delivered, *failed;
};

/* A marker's stamp lines, before its birth time (where it has one). */
#define MARKER_STAMP "ino %" PRIu64 "\nsize %" PRIu64 "\nmtime_ns %" PRId64 "\n"

int ccp_queue_marker_stamp(char *buf, size_t cap, const struct ccp_queue_stamp *f)
{
	if (f->btime_ns == CCP_QUEUE_BTIME_NONE)
		return snprintf(buf, cap, MARKER_STAMP, f->ino, f->size, f->mtime_ns);
	return snprintf(buf, cap, MARKER_STAMP "btime_ns %" PRId64 "\n", f->ino, f->size,
			f->mtime_ns, f->btime_ns);
}

/* The reason line of a marker's TEXT (after its stamp), without its
 * newline, into BUF (CAP octets): true when it has one. */
static bool reason_in(const char *text, char *buf, size_t cap)
{
	const char *r = strstr(text, "\n" CCP_QUEUE_MARKER_REASON);
	if (r == NULL)
		return false;
	r += 1 + strlen(CCP_QUEUE_MARKER_REASON);
	snprintf(buf, cap, "%.*s", (int)strcspn(r, "\n"), r);
	return true;
}

bool ccp_queue_marker_reason(int delivered_fd, const char *name, char *buf, size_t cap)
{
	char text[CCP_QUEUE_MARKER_MAX];
	int fd = openat(delivered_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	return reason_in(text, buf, cap);
}

bool ccp_queue_marker_text_reason(const char *text, char *buf, size_t cap)
{
	return reason_in(text, buf, cap);
}

enum ccp_queue_marker ccp_queue_marker_read(int delivered_fd, const char *name,
					     const struct ccp_queue_stamp *f,
					     struct ccp_queue_stamp *was, char *reason,
					     size_t reason_cap)
{
	if (reason)
		reason[0] = '\0';
	char text[CCP_QUEUE_MARKER_MAX];
	int fd = openat(delivered_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? CCP_QUEUE_MARKER_NONE : CCP_QUEUE_MARKER_UNREADABLE;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return CCP_QUEUE_MARKER_UNREADABLE;
	}
	text[n] = '\0';
	return ccp_queue_marker_parse(text, f, was, reason, reason_cap);
}

enum ccp_queue_marker ccp_queue_marker_parse(const char *text, const struct ccp_queue_stamp *f,
					      struct ccp_queue_stamp *was, char *reason,
					      size_t reason_cap)
{
	if (reason)
		reason[0] = '\0';
	char want[160];
	size_t n = strlen(text);
	const char *body = text;
	size_t flen = strlen(CCP_QUEUE_MARKER_FAILED);
	bool failed = strncmp(body, CCP_QUEUE_MARKER_FAILED, flen) == 0;
	if (failed)
		body += flen;
	if (strncmp(body, "dev ", 4) == 0) { /* an older marker's device line */
		const char *nl = strchr(body, '\n');
		body = nl ? nl + 1 : text + n;
	}
	size_t blen = (size_t)(text + n - body);
	/* A birth time is read where the marker has one: those written
	 * before markers had it, or on a file system that keeps none, end
	 * at the mtime. */
	struct ccp_queue_stamp m = { .btime_ns = CCP_QUEUE_BTIME_NONE };
	int got = sscanf(body, "ino %" SCNu64 " size %" SCNu64 " mtime_ns %" SCNd64 " btime_ns %" SCNd64,
			 &m.ino, &m.size, &m.mtime_ns, &m.btime_ns);
	if (got < 3)
		return CCP_QUEUE_MARKER_STALE;
	/* The stamp exactly as written, no more and no less. */
	size_t w = (size_t)ccp_queue_marker_stamp(want, sizeof(want), &m);
	if (w >= sizeof(want) || blen < w || memcmp(body, want, w) != 0)
		return CCP_QUEUE_MARKER_STALE;
	/* After the stamp, a failed marker's reason alone. */
	if (blen > w && !(failed && strncmp(body + w, CCP_QUEUE_MARKER_REASON,
					    strlen(CCP_QUEUE_MARKER_REASON)) == 0))
		return CCP_QUEUE_MARKER_STALE;
	if (m.ino != f->ino)
		return CCP_QUEUE_MARKER_STALE;
	/* The same number, and yet another file: the one the marker was
	 * written for was removed (by hand, once it could be), and a new
	 * one under the name got its number.  It is a new message, not the
	 * settled one changed. */
	if (m.btime_ns != CCP_QUEUE_BTIME_NONE && f->btime_ns != CCP_QUEUE_BTIME_NONE &&
	    m.btime_ns != f->btime_ns)
		return CCP_QUEUE_MARKER_STALE;
	if (failed) {
		if (reason)
			reason_in(body + w - 1, reason, reason_cap);
		return CCP_QUEUE_MARKER_SENT_TO_BAD;
	}
	if (m.size == f->size && m.mtime_ns == f->mtime_ns)
		return CCP_QUEUE_MARKER_DELIVERED;
	if (was)
		*was = m;
	return CCP_QUEUE_MARKER_DELIVERED_CHANGED;
}

/* Scans dir (missing: empty).  For the spool's new/, MARKED sorts entries
 * with a marker in Deferred/ or Delivered/ into their own classes.
 * FILES_ONLY: only regular files count (new/, Bad/); Quarantine/ holds
 * what is not one. */
static int scan(const char *dir, struct ccp_queue_class *c, const struct marked *marked,
		bool skip_notes, bool files_only, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct statx st;
	time_t now = time(NULL);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (skip_notes && ccp_queue_is_record(de->d_name))
			continue;
		if (ccp_statx(dirfd(d), de->d_name, AT_SYMLINK_NOFOLLOW, &st) != 0)
			continue; /* gone meanwhile */
		/* In the spool, only files are messages: the relay moves other
		 * entries to Quarantine, or leaves them in new/ unopened (one it
		 * cannot move), and never relays them.  In Bad/ the relay puts
		 * messages alone: a directory or a FIFO made there is none. */
		if (files_only && !S_ISREG(st.stx_mode))
			continue;
		/* A marker counts only for the file it was written for: one
		 * left by another file under the name (the relay removes it
		 * when it next reads the name) says nothing of this one. */
		enum ccp_queue_marker k = CCP_QUEUE_MARKER_NONE;
		if (marked && marked->delivered_fd >= 0) {
			struct ccp_queue_stamp f = { .ino = st.stx_ino, .size = st.stx_size,
						     .mtime_ns = ccp_statx_ns(&st.stx_mtime),
						     .btime_ns = CCP_QUEUE_BTIME_NONE };
			ccp_statx_birth(&st, &f.btime_ns);
			k = ccp_queue_marker_read(marked->delivered_fd, de->d_name, &f, NULL, NULL, 0);
			/* Unreadable for a reason of the file's own (a directory,
			 * a symbolic link, no permission): no marker to the relay,
			 * which imports the file; in doubt only for the machine's
			 * (out of descriptors, an I/O error), as the relay. */
			if (k == CCP_QUEUE_MARKER_UNREADABLE && !ccp_machine_read_errno(errno))
				k = CCP_QUEUE_MARKER_NONE;
		}
		/* Changed after its delivery: the relay sends it to Bad. */
		if (k == CCP_QUEUE_MARKER_SENT_TO_BAD || k == CCP_QUEUE_MARKER_DELIVERED_CHANGED)
			add(marked->failed, &st, now);
		else if (k == CCP_QUEUE_MARKER_DELIVERED || k == CCP_QUEUE_MARKER_UNREADABLE)
			add(marked->delivered, &st, now); /* unreadable: as the relay, in doubt */
		else if (marked && marked->deferred_fd >= 0 &&
			 faccessat(marked->deferred_fd, de->d_name, F_OK, 0) == 0)
			add(marked->deferred, &st, now);
		else
			add(c, &st, now);
	}
	closedir(d);
	return 0;
}

/* DIR, the WHAT, is a directory (0), or not there yet (0, *missing set);
 * anything else is -1 with the reason.  One stat. */
static int dir_or_missing(const char *what, const char *dir, bool *missing, char *err,
			  size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		/* Denied, a loop of links, an I/O error: said as it is. */
		snprintf(err, errlen, "%s %s cannot be looked at: %s", what, dir, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return 0;
	snprintf(err, errlen, "%s %s is not a directory", what, dir);
	return -1;
}

int ccp_queue_scan(const char *spool, const char *store, struct ccp_queue_report *rep,
		   char *err, size_t errlen)
{
	char path[4096];
	memset(rep, 0, sizeof(*rep));
	if (dir_or_missing("spool", spool, &rep->spool_missing, err, errlen) != 0 ||
	    dir_or_missing("store", store, &rep->store_missing, err, errlen) != 0)
		return -1;
	struct marked marked = { .deferred = &rep->deferred, .delivered = &rep->delivered,
				 .failed = &rep->failed_not_moved };
	snprintf(path, sizeof(path), "%s/Deferred", store);
	marked.deferred_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/Delivered", store);
	marked.delivered_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/new", spool);
	int rc = scan(path, &rep->waiting, &marked, false, true, err, errlen);
	ccp_close_fds((const int[]){ marked.deferred_fd, marked.delivered_fd }, 2);
	snprintf(path, sizeof(path), "%s/Bad", store);
	if (rc == 0)
		rc = scan(path, &rep->bad, NULL, true, true, err, errlen);
	snprintf(path, sizeof(path), "%s/Quarantine", store);
	if (rc == 0)
		rc = scan(path, &rep->quarantined, NULL, false, false, err, errlen);
	snprintf(path, sizeof(path), "%s/Bounce", store);
	rep->reports_waiting = ccp_dir_count_names(path);
	snprintf(path, sizeof(path), "%s/Partial", store);
	rep->partial_reports = ccp_dir_count_names(path);
	return rc;
}

static void row(FILE *out, const char *name, const struct ccp_queue_class *c)
{
	fprintf(out, "%-12s %8" PRIu64 " %10.1f", name, c->count, (double)c->bytes / 1048576.0);
	for (unsigned i = 0; i < CCP_QUEUE_AGES; i++)
		fprintf(out, " %7" PRIu64, c->by_age[i]);
	fprintf(out, "  %8" PRIu64 "\n", c->oldest_s);
}


/* LEN, or less so that S[0..LEN) does not end in part of a UTF-8
 * character: where a long line is cut. */
static size_t utf8_cut(const char *s, size_t len)
{
	size_t i = len;
	while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	unsigned char lead = i > 0 ? (unsigned char)s[i - 1] : 0;
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return lead >= 0xc0 && len - (i - 1) < need ? i - 1 : len;
}

size_t ccp_queue_deferred_text(char *buf, size_t cap, unsigned attempt, int64_t first,
			       const char *answer, const char *reason)
{
	int head = snprintf(buf, cap, "attempt %u\nfirst %" PRId64 "\nanswer %s\nreason ",
			    attempt, first, answer);
	if (head < 0 || (size_t)head + 2 > cap)
		ccp_panic("a Deferred/ marker's buffer of %zu octets cannot hold its head", cap);
	/* One line: what a reader takes as the reason ends at a newline. */
	size_t n = strcspn(reason, "\n"), room = cap - (size_t)head - 2;
	if (n > room)
		n = utf8_cut(reason, room);
	memcpy(buf + head, reason, n);
	buf[head + n] = '\n';
	buf[head + n + 1] = '\0';
	return (size_t)head + n + 1;
}

/* A decimal count at P (at least one digit) that ends its line, at most
 * MAX (a larger one is MAX, OVER set): its end, or NULL. */
static const char *count_line(const char *p, uint64_t max, uint64_t *v, bool *over)
{
	const char *e = p;
	*v = 0;
	*over = false;
	for (; *e >= '0' && *e <= '9'; e++) {
		unsigned d = (unsigned)(*e - '0');
		if (*v > (max - d) / 10)
			*over = true;
		else
			*v = *v * 10 + d;
	}
	if (e == p || (*e != '\n' && *e != '\0'))
		return NULL;
	if (*over)
		*v = max;
	return e;
}

bool ccp_queue_deferred_parse(const char *text, struct ccp_queue_deferred *d)
{
	memset(d, 0, sizeof(*d));
	uint64_t v;
	bool over;
	if (strncmp(text, "attempt ", 8) != 0)
		return false;
	const char *e = count_line(text + 8, CCP_QUEUE_ATTEMPTS_MAX, &v, &over);
	if (e == NULL)
		return false;
	d->attempt = (unsigned)v;
	const char *f = strstr(e, "\nfirst ");
	if (f && count_line(f + 7, INT64_MAX, &v, &over) && !over)
		d->first = (int64_t)v;
	const char *r = strstr(e, "\nreason ");
	if (r) {
		d->reason = r + 8;
		d->reason_len = strcspn(d->reason, "\n");
	}
	return true;
}

/*
 * The note to list for a record: its last line (a Bad/NAME.reason has
 * one; a Deferred/ marker has "attempt N" first and "reason ..." last,
 * which sets *ATTEMPT and *MARKER), into LINE.  A line longer than LINE
 * is not read in pieces, the last of which would stand for it: its start
 * is kept, cut at a character, and "..." follows.
 */
static void read_note(FILE *f, char *line, size_t cap, unsigned *attempt, bool *marker)
{
	static const char more[] = "...";
	line[0] = '\0';
	while (fgets(line, (int)(cap - sizeof(more) + 1), f)) {
		size_t len = strlen(line);
		int c = len > 0 && line[len - 1] != '\n' ? getc(f) : '\n';
		if (c != '\n' && c != EOF) {
			while ((c = getc(f)) != EOF && c != '\n')
				;
			strcpy(line + utf8_cut(line, len), more);
		}
		line[strcspn(line, "\n")] = '\0';
		struct ccp_queue_deferred dm;
		if (ccp_queue_deferred_parse(line, &dm)) {
			*attempt = dm.attempt;
			*marker = true;
		}
		if (strncmp(line, "reason ", 7) == 0)
			memmove(line, line + 7, strlen(line + 7) + 1);
	}
}

/* The note at PATH (a reason, a Deferred/ marker) open for reading, or
 * NULL: a regular file only.  The store is the relay's user's, and an
 * operator lists it as root: a FIFO there would hang the listing, and a
 * symbolic link would print the last line of any file root can read. */
static FILE *open_note(const char *path)
{
	bool odd;
	int fd = ccp_open_regular_at(AT_FDCWD, path, &odd);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "r");
	if (f == NULL)
		close(fd);
	return f;
}

/* Prints up to `list` entries of store/SUB with the note of each
 * (read_note()). */
static void list_dir(FILE *out, const char *store, const char *sub, const char *note_suffix,
		     unsigned list)
{
	char path[4096], line[1024];
	snprintf(path, sizeof(path), "%s/%s", store, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	unsigned n = 0;
	while (d && n < list && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || ccp_queue_is_record(de->d_name))
			continue;
		/* As scan() counts: messages and markers are files. */
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		char rec[CCP_QUEUE_RECORD_NAME_MAX];
		if (note_suffix[0])
			ccp_queue_record_name(rec, de->d_name, note_suffix);
		else
			snprintf(rec, sizeof(rec), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s/%s", store, sub, rec);
		FILE *f = open_note(path);
		line[0] = '\0';
		unsigned attempt = 0;
		bool marker = false;
		if (f) {
			read_note(f, line, sizeof(line), &attempt, &marker);
			fclose(f);
		}
		/* A file name is anyone's choice: escaped (ccp_escape_controls()),
		 * it cannot split the listing's lines or move the cursor. */
		char name[4 * sizeof(de->d_name)], note[4 * sizeof(line)];
		ccp_escape_controls(name, sizeof(name), de->d_name, strlen(de->d_name));
		ccp_escape_controls(note, sizeof(note), line, strlen(line));
		fprintf(out, "  %-40s", name);
		if (marker)
			fprintf(out, " attempt %u:", attempt);
		fprintf(out, " %s\n", note);
		n++;
	}
	if (d)
		closedir(d);
}

void ccp_queue_print(FILE *out, const char *store, const struct ccp_queue_report *r, unsigned list)
{
	fprintf(out, "%-12s %8s %10s", "", "count", "MiB");
	for (unsigned i = 0; i < CCP_QUEUE_AGES; i++)
		fprintf(out, " %7s", ccp_queue_age_names[i]);
	fprintf(out, "  %8s\n", "oldest_s");
	row(out, "waiting", &r->waiting);
	row(out, "deferred", &r->deferred);
	row(out, "bad", &r->bad);
	row(out, "quarantined", &r->quarantined);
	if (r->delivered.count)
		fprintf(out, "delivered, but their spool files cannot be removed (markers in "
			"%s/Delivered; not imported again): %" PRIu64 "\n", store, r->delivered.count);
	if (r->failed_not_moved.count)
		fprintf(out, "sent to Bad, but their spool files cannot be moved there (markers in "
			"%s/Delivered; reasons and reports in %s/Bad, or a reason Bad could not "
			"take in the marker; not reported again): %" PRIu64 "\n", store, store,
			r->failed_not_moved.count);
	if (r->reports_waiting)
		fprintf(out, "reports to senders waiting in %s/Bounce: %" PRIu64 "\n", store,
			r->reports_waiting);
	if (r->partial_reports)
		fprintf(out, "reports on messages delivered in part, in %s/Partial: %" PRIu64 "\n",
			store, r->partial_reports);
	if (list && r->deferred.count) {
		fprintf(out, "deferred (attempts and last import answer in %s/Deferred):\n", store);
		list_dir(out, store, "Deferred", "", list);
	}
	if (list && r->bad.count) {
		fprintf(out, "bad (reasons in %s/Bad/NAME.reason):\n", store);
		list_dir(out, store, "Bad", ".reason", list);
	}
}

static void json_class(FILE *out, const char *name, const struct ccp_queue_class *c, bool last)
{
	fprintf(out, "\"%s\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"oldest_s\":%" PRIu64
		     ",\"by_age\":{",
		name, c->count, c->bytes, c->oldest_s);
	for (unsigned i = 0; i < CCP_QUEUE_AGES; i++)
		fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", ccp_queue_age_names[i], c->by_age[i]);
	fprintf(out, "}}%s", last ? "" : ",");
}

void ccp_queue_print_json(FILE *out, const struct ccp_queue_report *r)
{
	fputc('{', out);
	json_class(out, "waiting", &r->waiting, false);
	json_class(out, "deferred", &r->deferred, false);
	json_class(out, "bad", &r->bad, false);
	json_class(out, "quarantined", &r->quarantined, false);
	json_class(out, "delivered_not_removed", &r->delivered, false);
	json_class(out, "failed_not_moved", &r->failed_not_moved, false);
	fprintf(out, "\"reports_waiting\":%" PRIu64 ",\"partial_reports\":%" PRIu64 "}\n",
		r->reports_waiting, r->partial_reports);
}

bool ccp_queue_lock_sends_reports(const char *store)
{
	char path[4096], text[128];
	snprintf(path, sizeof(path), "%s/relay.lock", store);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return strstr(text, "\n" CCP_QUEUE_LOCK_SENDS_REPORTS "\n") != NULL;
}

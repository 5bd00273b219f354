/*
 * po.c: the stand-in post office and its all-or-nothing IMPORT.
 *
 * HOW AN IMPORT WORKS
 *  1. Take the handle's mutex, then flock(po.lock, LOCK_EX|LOCK_NB) and
 *     the same on the directory (lock_po()): a second importer (another
 *     process or handle) gets 4, as IMPORT did.
 *  2. Finish an interrupted import, if import.journal says there was one,
 *     and cut a last log line without its '\n' (recover()).
 *  3. Catch the in-memory index up with delivery.log (lines appended by
 *     other processes since we last looked; a log that is not the one read,
 *     or changed below where it was read, means a rebuild).  Opening a
 *     handle takes the lock and does steps 2-3 too (open_index), so a
 *     handle reads the log only under the lock, after recovery.
 *  4. Parse the whole input with the strict reader and check every message
 *     (From, Date, recipients, the address buffer, the 20 KB text item,
 *     brackets for Import 8.3, the user directory).  Bad messages and
 *     unknown recipients are undeliverable: they go to the .und file with
 *     their reason.  Pairs the index already holds are skipped duplicates.
 *  5. Write the journal (old length of every file to touch) and sync it;
 *     append each delivered message once to the store file and sync it;
 *     append one reference line per delivery to each mailbox and sync;
 *     append the log lines in one write and sync: that write is the commit;
 *     remove the journal.
 *
 * A crash before the log write leaves a journal whose log length is short:
 * the next import cuts every file back (no half import).  A crash after it
 * leaves a journal whose log is complete: the next import only removes it.
 *
 * SINGLE-INSTANCE STORE
 * A message goes to store/NNNNNNNN.msgs once, however many recipients it
 * has; each recipient's mailbox holds a line "STORE OFFSET LENGTH KEY" that
 * points at those octets.  The store file is append-only, like a mailbox,
 * so the journal cuts it back the same way; a store file over STORE_ROLL
 * octets is left alone and the next number begins (a new file is removed on
 * undo, as a new mailbox is).  A reference is written only after the octets
 * it names (same import, store synced first) and both are committed together
 * by the log, so a committed reference never points past its store's end.
 *
 * AN IMPORT OF A WHOLE FILE (ccp_po_import_adopt)
 * A relay hands in a batch file it wrote and synced and will only remove.
 * Its messages are then stored by giving the file a second name in store/
 * (a hard link to a new store number) instead of copying its octets: the
 * references point into it as they would into an appended store file.
 * That saves writing and syncing every message again, and the relay's
 * removal of the batch file frees no blocks.  Where no link can be made
 * (another file system), the file's octets are copied into the new store
 * file instead: the same layout either way.  The journal names the new
 * file as new (-1), so an undo removes it.
 *
 * THE INDEX OF DELIVERED PAIRS
 * The index remembers the fingerprints (fpset.h) of the last delivered
 * "key<TAB>recipient" strings (escaped as in the log): at least the last
 * dedup_window of them (po.conf, default CCP_PO_DEDUP_WINDOW), at most
 * twice that, in memory bounded by the window (16 octets a slot, 32 to 43
 * octets a pair once it is full).  A pair handed in again while remembered is skipped; one older
 * than the window would be delivered again, and `po stats`, which reads
 * the whole log, counts it as a duplicate delivery, so it cannot hide.
 * What can come back is what was in flight at a crash: the relay's
 * dispatchers times its batch, far inside the window.  The index is
 * rebuilt at open by reading delivery.log a chunk at a time (memory stays
 * one chunk however long the log is); only the tail that holds the last
 * window of pairs is read, reaching back into rotated segments
 * (delivery.log.NNNNNNNN, maybe_rotate) when the current log holds fewer,
 * one segment open at a time (scan_back, rebuild, fold_segments).
 */
#include "ccpump/po.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/ccm.h"
#include "ccpump/fdio.h"
#include "ccpump/fpcount.h"
#include "ccpump/fpset.h"
#include "ccpump/log.h"
#include "ccpump/parallel.h"

#define PO_MAGIC "ccpump-po 2"
#define PO_MAGIC_V1 "ccpump-po 1"
#define STORE "store"
#define STORE_ROLL (64ll << 20) /* start a new store file past this size */
#define JOURNAL "import.journal"
#define LOG "delivery.log"
#define LOG_CHUNK (1u << 20) /* delivery.log is read this much at a time */
#define LOG_TAIL_SCAN (4ll << 20) /* more unread log than this: fold only its tail */

/* ---- a set of strings -------------------------------------------------------- */

struct sent {
	uint64_t h;
	char *s; /* NULL: empty slot */
	size_t len;
};

struct sset {
	struct sent *tab;
	size_t cap, n; /* cap is a power of two */
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void sset_free(struct sset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		ccp_free(s->tab[i].s);
	ccp_free(s->tab);
	memset(s, 0, sizeof(*s));
}

static struct sent *sset_slot(const struct sset *s, uint64_t h, const char *k, size_t n)
{
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct sent *e = &s->tab[i];
		if (!e->s || (e->h == h && e->len == n && memcmp(e->s, k, n) == 0))
			return e;
	}
}

static bool sset_has(const struct sset *s, const char *k, size_t n)
{
	return s->cap && sset_slot(s, fnv1a(k, n), k, n)->s != NULL;
}

/* Adds K; returns false if it was there already. */
static bool sset_add(struct sset *s, const char *k, size_t n)
{
	if ((s->n + 1) * 4 > s->cap * 3) {
		struct sset bigger = { ccp_calloc(s->cap ? s->cap * 2 : 1024, sizeof(struct sent)),
				       s->cap ? s->cap * 2 : 1024, s->n };
		for (size_t i = 0; i < s->cap; i++)
			if (s->tab[i].s)
				*sset_slot(&bigger, s->tab[i].h, s->tab[i].s, s->tab[i].len) = s->tab[i];
		ccp_free(s->tab);
		*s = bigger;
	}
	uint64_t h = fnv1a(k, n);
	struct sent *e = sset_slot(s, h, k, n);
	if (e->s)
		return false;
	e->h = h;
	e->len = n;
	e->s = ccp_malloc(n + 1);
	memcpy(e->s, k, n);
	e->s[n] = '\0';
	s->n++;
	return true;
}

/* ---- strings ------------------------------------------------------------------- */

/* Escapes a log field: backslash, TAB, CR and LF.  Fields rarely hold
 * any, so the text between them is copied in runs. */
static void esc(struct ccp_ccm_buf *b, const char *s, size_t n)
{
	/* Octets below '\\' + 1 that need escaping: a bit each, so a plain
	 * octet costs one compare or one shift. */
	const uint64_t special = (1ull << '\t') | (1ull << '\n') | (1ull << '\r');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (ccp_likely(c >= 64 ? c != '\\' : !((special >> c) & 1)))
			continue;
		ccp_ccm_buf_add(b, s + run, i - run);
		char e[2] = { '\\', c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\' };
		ccp_ccm_buf_add(b, e, 2);
		run = i + 1;
	}
	ccp_ccm_buf_add(b, s + run, n - run);
}

static void norm_rcpt(struct ccp_ccm_buf *b, const char *s, size_t n)
{
	ccp_ccm_buf_reset(b);
	ccp_ccm_buf_reserve(b, n);
	b->len = ccp_ccm_rcpt_norm(b->data, s, n);
	b->data[b->len] = '\0';
}

/* Octets a mailbox file name keeps as they are (besides '.' first, and
 * ' ', written '_'): ASCII letters and digits, and . , @ + - */
static bool mbox_plain(unsigned char c)
{
	return (unsigned)(c - 'a') < 26u || (unsigned)(c - 'A') < 26u ||
	       (unsigned)(c - '0') < 10u || c == '.' || c == ',' || c == '@' || c == '+' ||
	       c == '-';
}

/* The mailbox file name of n[0..nlen), a recipient ccp_ccm_rcpt_norm() wrote. */
static size_t mailbox_name_of_norm(const char *n, size_t nlen, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	char small[3 * 256 + 32];
	/* Each octet escapes to at most 3. */
	char *e = nlen <= 256 ? small : ccp_malloc(3 * nlen + 32);
	size_t elen = 0;
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)n[i];
		if (c == ' ') {
			e[elen++] = '_';
		} else if (mbox_plain(c) && !(c == '.' && i == 0)) {
			e[elen++] = (char)c;
		} else {
			e[elen++] = '%';
			e[elen++] = hex[c >> 4];
			e[elen++] = hex[c & 15];
		}
	}
	if (elen == 0) {
		memcpy(e, "%00", 3);
		elen = 3;
	}
	/* '_' stands for a space, so a real '_' was written %5F above; long
	 * names keep a prefix and a hash of the whole. */
	if (elen > 200) {
		uint64_t h = fnv1a(e, elen);
		elen = 180;
		e[elen++] = '~';
		for (int s = 60; s >= 0; s -= 4)
			e[elen++] = "0123456789abcdef"[(h >> s) & 15]; /* as %016llx */
	}
	memcpy(e + elen, ".mbx", 5);
	elen += 4;
	CCP_ASSERT(cap > elen);
	memcpy(out, e, elen + 1);
	if (e != small)
		ccp_free(e);
	return elen;
}

size_t ccp_po_mailbox_name(const char *addr, size_t len, char *out, size_t cap)
{
	char small[256];
	/* An empty recipient normalizes to nothing, so `small` would go to
	 * mailbox_name_of_norm() unwritten (it reads none of it then, but GCC
	 * at -O3 warns of the const argument); one octet settles it. */
	small[0] = '\0';
	/* Normalizing never lengthens. */
	char *n = len <= sizeof(small) ? small : ccp_malloc(len);
	size_t l = mailbox_name_of_norm(n, ccp_ccm_rcpt_norm(n, addr, len), out, cap);
	if (n != small)
		ccp_free(n);
	return l;
}

/* ---- configuration ------------------------------------------------------------ */

struct po_conf {
	bool users;
	size_t addr_buffer;
	bool import8;
	size_t dedup_window; /* pairs the index remembers at least */
	long long log_segment; /* delivery.log is rotated past this many octets */
};

/*
 * The users of the directory text P (LEN octets; P may be NULL when LEN is
 * 0): one address a line, normalised through NORM, CRs, empty lines and
 * '#' comments left out.  Each goes into INTO when it is not NULL.
 * Returns how many there are.
 */
static size_t each_user(const char *p, size_t len, struct ccp_ccm_buf *norm, struct sset *into)
{
	size_t n = 0;
	const char *end = p ? p + len : p;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t k = (size_t)(e - p);
		if (k && p[k - 1] == '\r')
			k--;
		norm_rcpt(norm, p, k);
		if (norm->len && norm->data[0] != '#') {
			n++;
			if (into)
				sset_add(into, norm->data, norm->len);
		}
		p = nl ? nl + 1 : end;
	}
	return n;
}

void ccp_po_init_opts_default(struct ccp_po_init_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->addr_buffer = CCP_CCM_ADDR_BUFFER_SMALL;
	o->import8 = true;
	o->dedup_window = CCP_PO_DEDUP_WINDOW;
	o->log_segment = CCP_PO_LOG_SEGMENT;
}

void ccp_po_opts_default(struct ccp_po_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sync = true;
	o->env_fault = true;
}

/* A decimal number at S, digits only: no sign, no space before it (which
 * strtoull would take), into *OUT.  Returns its end, or NULL. */
static const char *plain_number(const char *s, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return NULL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return NULL;
	*out = v;
	return end;
}

/* A decimal number from LO to HI, the whole of V: no sign, no suffix. */
static bool conf_number(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *end = plain_number(v, out);
	return end && *end == '\0' && *out >= lo && *out <= hi;
}

/*
 * One line of po.conf, LINE (NUL-terminated, without its LF): false with
 * the reason in WHY when it is not one `ccpump po init` writes, or one an
 * operator edited into something this post office cannot take.
 */
static bool conf_line(char *line, struct po_conf *conf, bool *magic, bool *v1, char *why,
		      size_t whycap)
{
	if (strcmp(line, PO_MAGIC) == 0) {
		*magic = true;
		return true;
	}
	if (strcmp(line, PO_MAGIC_V1) == 0) {
		*v1 = true;
		return true;
	}
	char k[32], v[32], extra[2];
	int got = sscanf(line, "%31s %31s %1s", k, v, extra);
	if (got != 2) {
		snprintf(why, whycap, got == 3 ? "more than a key and its value"
						: "not a key and its value");
		return false;
	}
	uint64_t n;
	if (strcmp(k, "users") == 0 || strcmp(k, "import8") == 0) {
		bool yes = strcmp(v, "yes") == 0;
		if (!yes && strcmp(v, "no") != 0) {
			snprintf(why, whycap, "%s is yes or no", k);
			return false;
		}
		*(k[0] == 'u' ? &conf->users : &conf->import8) = yes;
	} else if (strcmp(k, "addr_buffer") == 0) {
		if (!conf_number(v, 64, CCP_CCM_ADDR_BUFFER_LARGE, &n)) {
			snprintf(why, whycap, "addr_buffer is a number from 64 to %u",
				 CCP_CCM_ADDR_BUFFER_LARGE);
			return false;
		}
		conf->addr_buffer = (size_t)n;
	} else if (strcmp(k, "dedup_window") == 0) {
		if (!conf_number(v, CCP_PO_DEDUP_WINDOW_MIN, CCP_PO_DEDUP_WINDOW_MAX, &n)) {
			snprintf(why, whycap, "dedup_window is a number from %u to %u",
				 CCP_PO_DEDUP_WINDOW_MIN, CCP_PO_DEDUP_WINDOW_MAX);
			return false;
		}
		conf->dedup_window = (size_t)n;
	} else if (strcmp(k, "log_segment") == 0) {
		if (!conf_number(v, CCP_PO_LOG_SEGMENT_MIN, INT64_MAX, &n)) {
			snprintf(why, whycap, "log_segment is a number of octets, at least %lld",
				 CCP_PO_LOG_SEGMENT_MIN);
			return false;
		}
		conf->log_segment = (long long)n;
	} else {
		snprintf(why, whycap, "no such key");
		return false;
	}
	return true;
}

/* Opens DIR and reads po.conf: 0, or 1 (not accessible) / 3 (not a PO). */
static int open_po_dir(const char *dir, int *dirfd, struct po_conf *conf, char *err, size_t cap)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR) {
		/* Something that is there, and no directory: 3, in 3's words. */
		ccp_errf(err, cap, "%s: not a post office: not a directory", dir);
		return CCP_PO_MISCONFIGURED;
	}
	if (fd < 0) {
		ccp_errf(err, cap, "%s: post office not accessible: %s", dir, strerror(errno));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	if (ccp_ccm_buf_read_at(&b, fd, "po.conf") != 0) {
		int e = errno;
		ccp_errf(err, cap, "%s: not a post office (%s po.conf: %s); make one with "
			      "'ccpump po init --po %s'", dir, e == ENOENT ? "no" : "unreadable",
			 strerror(e), dir);
		ccp_ccm_buf_free(&b);
		close(fd);
		return e == EACCES ? CCP_PO_NOT_ACCESSIBLE : CCP_PO_MISCONFIGURED;
	}
	if (b.len && memchr(b.data, '\0', b.len)) {
		/* The lines after it would go unread (a damaged file). */
		ccp_errf(err, cap, "%s/po.conf: holds a NUL octet: not a file 'ccpump po init' "
			      "writes, nor an edit of one", dir);
		ccp_ccm_buf_free(&b);
		close(fd);
		return CCP_PO_MISCONFIGURED;
	}
	memset(conf, 0, sizeof(*conf));
	conf->addr_buffer = CCP_CCM_ADDR_BUFFER_SMALL;
	conf->import8 = true;
	conf->dedup_window = CCP_PO_DEDUP_WINDOW; /* post offices made before the key */
	conf->log_segment = CCP_PO_LOG_SEGMENT;
	bool magic = false, v1 = false;
	char *save = NULL, why[120], shown[100];
	for (char *line = strtok_r(b.data ? b.data : (char *)"", "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0'; /* an edit that left CRLF line ends */
		if (conf_line(line, conf, &magic, &v1, why, sizeof(why)))
			continue;
		if (v1)
			break; /* the old layout's own message, below */
		/* The line as it is, shortened, its controls escaped: an
		 * operator's edit (po.conf says how) is what went wrong. */
		ccp_escape_controls(shown, sizeof(shown), line, len < 64 ? len : 64);
		ccp_errf(err, cap, "%s/po.conf: the line '%s%s': %s", dir, shown,
			 len > 64 ? "..." : "", why);
		ccp_ccm_buf_free(&b);
		close(fd);
		return CCP_PO_MISCONFIGURED;
	}
	ccp_ccm_buf_free(&b);
	if (v1) {
		/* Layout 1 kept a full copy per mailbox and has no store: its
		 * mailboxes cannot be read as references. */
		ccp_errf(err, cap, "%s: a post office of the old layout (ccpump-po 1, a copy of each "
			      "message per mailbox); this ccpump reads layout 2 only: make a new one "
			      "with 'ccpump po init --po NEWDIR'", dir);
		close(fd);
		return CCP_PO_MISCONFIGURED;
	}
	if (!magic) {
		ccp_errf(err, cap, "%s: not a post office (po.conf has no '" PO_MAGIC "' line)",
			 dir);
		close(fd);
		return CCP_PO_MISCONFIGURED;
	}
	struct stat st, ss;
	if (fstatat(fd, "mailboxes", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
	    fstatat(fd, STORE, &ss, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(ss.st_mode)) {
		ccp_errf(err, cap, "%s: not a post office (po.conf, mailboxes/ or " STORE "/ is damaged)",
			 dir);
		close(fd);
		return CCP_PO_MISCONFIGURED;
	}
	*dirfd = fd;
	return 0;
}

static int sync_fd(int fd, bool on)
{
	return on ? fsync(fd) : 0;
}

/*
 * Syncs fds[0..n), several at once (ccp_parallel_each).  An import touches
 * tens of mailboxes and each fsync waits on the device for most of its
 * time; the syncs are independent of one another (all of them only have to
 * finish before the commit), so their waits can overlap.  Returns 0, or -1
 * with errno of a failed sync and its index in *FAILED (the others still
 * run: the caller undoes the import either way).
 */
#define SYNC_WORKERS 8      /* besides the caller */
#define SYNC_PER_WORKER 4   /* files per thread, at least */

struct sync_job {
	const int *fds;
	_Atomic int err; /* the first failure's errno; read after the joins */
	size_t failed;   /* its index, written by that failure's thread alone */
};

/* Mailboxes an import holds open at once (commit()). */
#define MBOX_FDS_MAX 256

static void sync_index(void *ctx, size_t i)
{
	struct sync_job *j = ctx;
	if (fsync(j->fds[i]) != 0) {
		int zero = 0;
		if (atomic_compare_exchange_strong_explicit(&j->err, &zero, errno,
							    memory_order_relaxed, memory_order_relaxed))
			j->failed = i;
	}
}

static int sync_all(const int *fds, size_t n, bool on, size_t *failed)
{
	if (!on || n == 0)
		return 0;
	struct sync_job j = { .fds = fds };
	atomic_init(&j.err, 0);
	ccp_parallel_each(n, SYNC_PER_WORKER, SYNC_WORKERS, sync_index, &j);
	int e = atomic_load_explicit(&j.err, memory_order_relaxed);
	if (e) {
		*failed = j.failed;
		errno = e;
		return -1;
	}
	return 0;
}

int ccp_po_init(const char *dir, const struct ccp_po_init_opts *o, char *err, size_t cap)
{
	struct ccp_po_init_opts def;
	if (!o) {
		ccp_po_init_opts_default(&def);
		o = &def;
	}
	/* po.conf's text first, each line through the parser open uses: the
	 * options a post office cannot open with are refused before anything
	 * is made. */
	struct ccp_ccm_buf conf;
	ccp_ccm_buf_init(&conf);
	ccp_ccm_buf_printf(&conf,
			   PO_MAGIC "\nusers %s\naddr_buffer %zu\nimport8 %s\ndedup_window %zu\n"
				    "log_segment %lld\n",
			   o->users ? "yes" : "no", o->addr_buffer, o->import8 ? "yes" : "no",
			   o->dedup_window, o->log_segment);
	for (char *line = conf.data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		char one[64], why[128];
		struct po_conf pc;
		bool magic = false, v1 = false;
		snprintf(one, sizeof(one), "%.*s", (int)(nl - line), line);
		if (!conf_line(one, &pc, &magic, &v1, why, sizeof(why))) {
			ccp_errf(err, cap, "%s: %s", dir, why);
			ccp_ccm_buf_free(&conf);
			return CCP_PO_MISCONFIGURED;
		}
	}
	bool made = mkdir(dir, 0777) == 0;
	if (!made && errno != EEXIST) {
		ccp_errf(err, cap, "%s: cannot create: %s", dir, strerror(errno));
		ccp_ccm_buf_free(&conf);
		return CCP_PO_NOT_ACCESSIBLE;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ccp_errf(err, cap, "%s: not accessible: %s", dir, strerror(errno));
		ccp_ccm_buf_free(&conf);
		return CCP_PO_NOT_ACCESSIBLE;
	}
	struct stat st;
	int rc = CCP_PO_NOT_ACCESSIBLE;
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	if (fstatat(fd, "po.conf", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		ccp_errf(err, cap, "%s: already a post office", dir);
		rc = CCP_PO_MISCONFIGURED;
		goto out;
	}
	if (o->users) {
		int ufd = open(o->users, O_RDONLY | O_CLOEXEC);
		if (ufd < 0 || ccp_ccm_buf_read_fd(&b, ufd) != 0) {
			ccp_errf(err, cap, "%s: cannot read the user directory: %s", o->users, strerror(errno));
			if (ufd >= 0)
				close(ufd);
			goto out;
		}
		close(ufd);
		if (b.len && memchr(b.data, '\0', b.len)) {
			ccp_errf(err, cap, "%s: the user directory holds a NUL octet", o->users);
			goto out;
		}
		struct ccp_ccm_buf norm;
		ccp_ccm_buf_init(&norm);
		size_t users = each_user(b.data, b.len, &norm, NULL);
		ccp_ccm_buf_free(&norm);
		if (users == 0) {
			/* It would open as misconfigured (load_users()). */
			ccp_errf(err, cap, "%s: the user directory names no user", o->users);
			rc = CCP_PO_MISCONFIGURED;
			goto out;
		}
		int wfd = openat(fd, "users", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (wfd < 0 || ccp_write_all(wfd, b.data ? b.data : "", b.len) != 0 || fsync(wfd) != 0) {
			ccp_errf(err, cap, "%s/users: cannot write: %s", dir, strerror(errno));
			if (wfd >= 0)
				close(wfd);
			goto out;
		}
		close(wfd);
	}
	static const char *const dirs[] = { "mailboxes", STORE };
	for (size_t i = 0; i < 2; i++)
		if (mkdirat(fd, dirs[i], 0777) != 0 && errno != EEXIST) {
			ccp_errf(err, cap, "%s/%s: cannot create: %s", dir, dirs[i], strerror(errno));
			goto out;
		}
	static const char *const empty[] = { LOG, "po.lock" };
	for (size_t i = 0; i < 2; i++) {
		int f = openat(fd, empty[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (f < 0) {
			ccp_errf(err, cap, "%s/%s: cannot create: %s", dir, empty[i], strerror(errno));
			goto out;
		}
		close(f);
	}
	/* What was made so far reaches the disk before po.conf names the
	 * directory a post office: the entries above, with one sync of the
	 * directory (the files are empty, or synced: users). */
	if (fsync(fd) != 0) {
		ccp_errf(err, cap, "%s: cannot sync: %s", dir, strerror(errno));
		goto out;
	}
	/* po.conf last, by rename: a directory with po.conf is complete. */
	int cfd = openat(fd, "po.conf.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (cfd < 0 || ccp_write_all(cfd, conf.data, conf.len) != 0 || fsync(cfd) != 0 ||
	    renameat(fd, "po.conf.tmp", fd, "po.conf") != 0) {
		ccp_errf(err, cap, "%s/po.conf: cannot write: %s", dir, strerror(errno));
		if (cfd >= 0)
			close(cfd);
		goto out;
	}
	close(cfd);
	if (fsync(fd) != 0) {
		ccp_errf(err, cap, "%s: cannot sync: %s", dir, strerror(errno));
		goto out;
	}
	/* A directory made here is an entry of its parent. */
	if (made) {
		int pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0 || fsync(pfd) != 0) {
			ccp_errf(err, cap, "%s/..: cannot sync: %s", dir, strerror(errno));
			if (pfd >= 0)
				close(pfd);
			goto out;
		}
		close(pfd);
	}
	rc = 0;
out:
	ccp_ccm_buf_free(&b);
	ccp_ccm_buf_free(&conf);
	close(fd);
	return rc;
}

/* ---- the handle --------------------------------------------------------------- */

struct ccp_po {
	char *dir;
	int dirfd, mboxfd, storefd, lockfd;
	unsigned store_no; /* the store file appended to last (0: none yet) */
	pthread_mutex_t mu;
	struct ccp_po_opts o;
	struct po_conf conf;
	struct sset users;
	struct ccp_fpwindow index; /* delivered pairs, the last dedup_window at least */
	off_t indexed;             /* delivery.log octets folded into index */
	int logfd;                 /* the delivery.log they were read from (-1: none yet),
				      held open so that its inode cannot be reused */
	uint64_t rng;
	/* Scratch kept between imports. */
	struct ccp_ccm_buf logbuf, und, tmp, tmp2, store, keys;
	struct ccp_ccm_buf msgfps; /* the pairs of the message being planned (struct ccp_fp) */
	struct ccp_ccm_msg msg;
};

int ccp_po_fault_parse(const char *spec, struct ccp_po_fault *f, char *err, size_t cap)
{
	char *copy = ccp_strdup(spec), *save = NULL;
	int rc = 0;
	memset(f, 0, sizeof(*f));
	f->code = CCP_PO_LOCKED;
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end = NULL;
		if (!eq) {
			rc = -1;
			break;
		}
		*eq++ = '\0';
		errno = 0;
		/* Plain decimal numbers only: strtod and strtol would also take
		 * signs, spaces, "0x", "nan" and "inf", and a long cast to int
		 * wraps. */
		if (eq[0] < '0' || eq[0] > '9' ||
		    strspn(eq, "0123456789.") != strlen(eq)) {
			rc = -1;
			break;
		}
		if (strcmp(kv, "rate") == 0) {
			f->rate = strtod(eq, &end);
			if (!(f->rate >= 0 && f->rate <= 1))
				rc = -1;
		} else if (strcmp(kv, "code") == 0) {
			long v = strtol(eq, &end, 10);
			if (v != CCP_PO_NOT_ACCESSIBLE && v != CCP_PO_LOCKED)
				rc = -1;
			f->code = (int)v;
		} else if (strcmp(kv, "delay_ms") == 0) {
			/* At most a minute: the delay is spent holding the lock. */
			unsigned long ms = strtoul(eq, &end, 10);
			if (ms > 60000)
				rc = -1;
			f->delay_ms = (unsigned)ms;
		} else if (strcmp(kv, "seed") == 0) {
			f->seed = strtoull(eq, &end, 10);
		} else if (strcmp(kv, "crash") == 0) {
			long v = strtol(eq, &end, 10);
			if (v < CCP_PO_CRASH_NONE || v > CCP_PO_CRASH_COMMITTED)
				rc = -1;
			f->crash = (int)v;
		} else {
			rc = -1;
		}
		if (rc || !end || *end || end == eq || errno) {
			rc = -1;
			break;
		}
	}
	if (rc)
		ccp_errf(err, cap, "fault spec '%s': expected rate=0..1,code=1|4,delay_ms=0..60000,seed=N,crash=0..4",
			 spec);
	ccp_free(copy);
	return rc;
}

/*
 * Calls fn(ctx, line, len) for every complete line ('\n' not included) of
 * fd from its offset on, up to LIMIT octets (-1: to its end), reading
 * LOG_CHUNK octets at a time into BUF so memory stays one chunk however
 * long the file.  An unfinished last line (not committed) is left alone.
 * Returns the octets consumed, through the last '\n', or -1 with errno.
 */
static off_t for_each_line(int fd, off_t limit, struct ccp_ccm_buf *buf,
			   void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
	off_t done = 0, left = limit;
	ccp_ccm_buf_reset(buf);
	for (;;) {
		size_t want = limit >= 0 && left < LOG_CHUNK ? (size_t)left : LOG_CHUNK;
		if (want == 0)
			return done;
		ccp_ccm_buf_reserve(buf, LOG_CHUNK);
		ssize_t r = read(fd, buf->data + buf->len, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return done;
		left -= r;
		buf->len += (size_t)r;
		const char *p = buf->data, *end = p + buf->len;
		const char *nl;
		while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
			fn(ctx, p, (size_t)(nl - p));
			p = nl + 1;
		}
		size_t used = (size_t)(p - buf->data);
		done += (off_t)used;
		memmove(buf->data, p, buf->len - used);
		buf->len -= used;
	}
}

/* A log line "K\tkey\trcpt\t..." (K is D, S or U): returns K and the pair
 * "key\trcpt" (escaped), or 0 for a line of no such shape. */
static char log_pair(const char *p, size_t n, const char **pair, size_t *pair_len,
		     size_t *key_len)
{
	if (n < 3 || p[1] != '\t')
		return 0;
	const char *k = p + 2, *nl = p + n;
	const char *t1 = memchr(k, '\t', (size_t)(nl - k));
	const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
	if (!t2)
		return 0;
	*pair = k;
	*pair_len = (size_t)(t2 - k);
	*key_len = (size_t)(t1 - k);
	return p[0];
}

static void index_line(void *ctx, const char *p, size_t n)
{
	struct ccp_po *po = ctx;
	const char *pair;
	size_t len, klen;
	if (log_pair(p, n, &pair, &len, &klen) == 'D')
		ccp_fpwindow_add(&po->index, ccp_fp_of(pair, len));
}

/*
 * Reads FD backwards from SIZE down to FROM (a line start), a chunk at a
 * time, for the start of the line after which NEED D lines remain.
 * Returns that offset with *found = NEED, or FROM with *found = the D lines
 * from FROM on, when there are fewer.  -1 with errno on a read error.
 */
static off_t scan_back(int fd, off_t from, off_t size, size_t need, size_t *found,
		       struct ccp_ccm_buf *buf)
{
	*found = 0;
	off_t end = size;
	while (end > from) {
		off_t lo = end - from > (off_t)LOG_CHUNK ? end - (off_t)LOG_CHUNK : from;
		/* Two octets past the chunk: the "D\t" after its last '\n'. */
		size_t want = (size_t)(end - lo) + (end + 2 <= size ? 2 : (size_t)(size - end));
		ccp_ccm_buf_reset(buf);
		ccp_ccm_buf_reserve(buf, want);
		ssize_t r = ccp_pread_full(fd, buf->data, want, lo);
		if (r < 0)
			return -1;
		size_t got = (size_t)r;
		const char *d = buf->data;
		for (size_t i = (size_t)(end - lo); i-- > 0;)
			if (d[i] == '\n' && i + 2 < got && d[i + 1] == 'D' && d[i + 2] == '\t' &&
			    ++*found == need)
				return lo + (off_t)i + 1;
		/* The line at FROM has no '\n' before it in the range. */
		if (lo == from && got >= 2 && d[0] == 'D' && d[1] == '\t')
			++*found;
		end = lo;
	}
	return from;
}

/* The number of rotated segment NAME, delivery.log.NNNNNNNN: eight digits
 * exactly (no sign, no space), not 0.  With SUFFIXED, also such a name with
 * a suffix after a '.' (delivery.log.00000003.gz: compressed).  0 for any
 * other name. */
static unsigned segment_number(const char *name, bool suffixed)
{
	if (strncmp(name, LOG ".", sizeof(LOG)) != 0)
		return 0;
	const char *digits = name + sizeof(LOG);
	if (strspn(digits, "0123456789") != 8)
		return 0;
	char tail = digits[8];
	if (tail != '\0' && !(suffixed && tail == '.'))
		return 0;
	return (unsigned)strtoul(digits, NULL, 10);
}

/* The numbers of the rotated segments delivery.log.NNNNNNNN, ascending,
 * into *OUT (freed by the caller); with SUFFIXED, those of the segments
 * compressed since too (segment_number()).  Returns how many, or -1 with
 * errno (and *OUT NULL) when the folder cannot be listed: a listing cut
 * short (out of descriptors, an I/O error) must not pass for "no
 * segments", or a rebuild would forget the pairs they hold and deliver
 * them again. */
static ssize_t list_segments(int dirfd, bool suffixed, unsigned **out)
{
	size_t n = 0, cap = 0;
	unsigned *v = NULL;
	*out = NULL;
	/* Close-on-exec like every descriptor here: an import runs while the
	 * relay's bouncer may be starting --bounce-cmd. */
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	rewinddir(d); /* a dup shares the offset an earlier listing left at the end */
	struct dirent *e;
	for (;;) {
		errno = 0;
		if ((e = readdir(d)) == NULL)
			break;
		unsigned no = segment_number(e->d_name, suffixed);
		if (no == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			v = ccp_realloc(v, cap * sizeof(*v));
		}
		v[n++] = no;
	}
	int read_errno = errno;
	closedir(d);
	if (read_errno != 0) {
		ccp_free(v);
		errno = read_errno;
		return -1;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful, rarely more */
		for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
			unsigned t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	*out = v;
	return (ssize_t)n;
}

static void segment_name(char *buf, size_t cap, unsigned no)
{
	snprintf(buf, cap, LOG ".%08u", no);
}

/* Opens segment NO for reading into *FD with its stat.  Returns 1; 0 when
 * there is nothing to read: removed since it was listed (an operator may
 * remove old audit trail, po.h says when), or the inode CUR_INO of
 * delivery.log itself (a rotation cut short after its link); -1 with
 * errno. */
static int open_segment(int dirfd, unsigned no, ino_t cur_ino, int *fd, struct stat *st)
{
	char name[40];
	segment_name(name, sizeof(name), no);
	*fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = fstat(*fd, st) != 0 ? -1 : st->st_ino == cur_ino ? 0 : 1;
	if (rc < 1) {
		int e = errno;
		close(*fd);
		*fd = -1;
		errno = e;
	}
	return rc;
}

/* open_segment() of segment NO, listed earlier with inode INO: 0 as well
 * when its name now holds another file (the listed one was removed, and a
 * later rotation took its number). */
static int reopen_segment(int dirfd, unsigned no, ino_t cur_ino, ino_t ino, int *fd)
{
	struct stat st;
	int o = open_segment(dirfd, no, cur_ino, fd, &st);
	if (o > 0 && st.st_ino != ino) {
		close(*fd);
		*fd = -1;
		o = 0;
	}
	return o;
}

/* The one-line reason a segment could not be read, into ERR; returns -1. */
static int segment_error(char *err, size_t cap, const char *dir, unsigned no)
{
	int e = errno;
	char name[40];
	segment_name(name, sizeof(name), no);
	ccp_errf(err, cap, "%s/%s: cannot read: %s", dir, name, strerror(e));
	errno = e;
	return -1;
}

/* Folds lines of FD from START to its end; the octets read, or -1. */
static off_t fold_from(struct ccp_po *po, int fd, off_t start)
{
	if (lseek(fd, start, SEEK_SET) < 0)
		return -1;
	return for_each_line(fd, -1, &po->tmp, index_line, po);
}

/* A rotated segment the index reads back into: its number, its inode, and
 * where its part of the window begins (-1: nothing of it to fold). */
struct seg_part {
	unsigned no;
	ino_t ino;
	off_t start;
};

/*
 * Warns that segments the window reaches into are missing: removed, or
 * compressed under another name, while the window still held pairs of
 * theirs.  Those pairs are not remembered, so an import that hands one in
 * again delivers it again.  NEWEST is the newest missing number, MISSING
 * how many.
 */
static void warn_missing_segments(const struct ccp_po *po, unsigned newest, unsigned missing)
{
	char name[40], more[40] = "";
	segment_name(name, sizeof(name), newest);
	if (missing > 1)
		snprintf(more, sizeof(more), " (and %u older)", missing - 1);
	ccp_log(CCP_LOG_WARN, "%s/%s is missing%s, within the last %zu deliveries "
		"(dedup_window): a pair delivered there is not remembered and would be "
		"delivered again if handed in again; keep the segments that hold the last "
		"dedup_window deliveries", po->dir, name, more, po->index.span);
}

/*
 * Folds the older pairs of the window, NEED of them, from the rotated
 * segments: scanned newest first for where their part begins, then folded
 * oldest first.  Each is opened on its own turn and closed before the
 * next: a small log_segment under a large dedup_window reaches back into
 * more segments than the process may hold open.  CUR_INO is delivery.log's
 * inode (a rotation cut short has a segment of it).  Returns 0, or -1 with
 * a line naming the segment in ERR.
 */
static int fold_segments(struct ccp_po *po, ino_t cur_ino, size_t need, char *err, size_t cap)
{
	unsigned *segs, newest_missing = 0, missing = 0;
	ssize_t listed = list_segments(po->dirfd, false, &segs);
	if (listed < 0) {
		ccp_errf(err, cap, "%s: cannot list the log's segments: %s", po->dir,
			 strerror(errno));
		return -1;
	}
	size_t n = (size_t)listed, first = n, found = 0;
	struct seg_part *parts = ccp_malloc((n ? n : 1) * sizeof(*parts));
	int rc = 0, fd;
	for (size_t i = n; i-- > 0 && found < need && !rc;) {
		if (i + 1 < n && segs[i] + 1 != segs[i + 1]) {
			/* A gap crossed while pairs are still wanted. */
			newest_missing = newest_missing ? newest_missing : segs[i + 1] - 1;
			missing += segs[i + 1] - segs[i] - 1;
		}
		struct stat st;
		size_t got = 0;
		parts[i] = (struct seg_part){ .no = segs[i], .start = -1 };
		int o = open_segment(po->dirfd, segs[i], cur_ino, &fd, &st);
		if (o > 0) {
			parts[i].ino = st.st_ino;
			parts[i].start = scan_back(fd, 0, st.st_size, need - found, &got, &po->tmp);
			if (parts[i].start < 0)
				o = -1;
			int e = errno;
			close(fd);
			errno = e;
		}
		if (o < 0)
			rc = segment_error(err, cap, po->dir, segs[i]);
		found += got;
		first = i;
	}
	for (size_t i = first; i < n && !rc; i++) {
		if (parts[i].start < 0)
			continue;
		fd = -1;
		int o = reopen_segment(po->dirfd, parts[i].no, cur_ino, parts[i].ino, &fd);
		if (o > 0 && fold_from(po, fd, parts[i].start) < 0)
			o = -1;
		if (o < 0)
			rc = segment_error(err, cap, po->dir, parts[i].no);
		if (fd >= 0)
			close(fd);
	}
	if (!rc && found < need && first < n && segs[first] > 1) {
		/* Ran out of segments, and older numbers are gone. */
		newest_missing = newest_missing ? newest_missing : segs[first] - 1;
		missing += segs[first] - 1;
	}
	if (!rc && missing)
		warn_missing_segments(po, newest_missing, missing);
	ccp_free(parts);
	ccp_free(segs);
	return rc;
}

/*
 * The index from scratch (a first open, a log replaced or rotated by
 * another handle, or one changed under this handle): the last window + 1
 * D lines of the log, reaching back into rotated segments when the current
 * one holds fewer.  CUR is delivery.log, open, with its stat.  Returns 0,
 * or -1 with a line naming the file in ERR.
 */
static int rebuild(struct ccp_po *po, int cur, const struct stat *cst, char *err, size_t cap)
{
	ccp_fpwindow_clear(&po->index);
	size_t need = po->index.span + 1, found;
	off_t start = scan_back(cur, 0, cst->st_size, need, &found, &po->tmp);
	if (start < 0)
		return ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", po->dir, strerror(errno));
	if (found < need && fold_segments(po, cst->st_ino, need - found, err, cap) != 0)
		return -1;
	off_t got = fold_from(po, cur, start);
	if (got < 0)
		return ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", po->dir, strerror(errno));
	po->indexed = start + got;
	return 0;
}

/*
 * Whether delivery.log, with the stat ST, is still the file the index was
 * folded from, unchanged up to po->indexed.  The held descriptor keeps
 * that file's inode from being reused, so a log rotated or replaced since
 * is told apart however the numbers fall.  The handles fold under po.lock,
 * after recovery, and whole lines only, so recovery and a torn tail's
 * repair cut only octets past every handle's offset: a log shorter than
 * it, or without the '\n' that ended the last line folded, was changed by
 * someone else, and is read again from scratch, never from the middle of
 * a line.
 */
static bool log_unchanged(const struct ccp_po *po, const struct stat *st)
{
	struct stat held;
	char last;
	if (po->logfd < 0 || fstat(po->logfd, &held) != 0 || held.st_dev != st->st_dev ||
	    held.st_ino != st->st_ino || st->st_size < po->indexed)
		return false;
	return po->indexed == 0 ||
	       (ccp_pread_full(po->logfd, &last, 1, po->indexed - 1) == 1 && last == '\n');
}

/* Folds D lines of delivery.log from po->indexed on into the index.  The
 * caller holds po.lock and has recovered. */
static int catch_up(struct ccp_po *po, char *err, size_t cap)
{
	int fd = openat(po->dirfd, LOG, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", po->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CCP_PO_NOT_ACCESSIBLE;
	}
	if (!log_unchanged(po, &st)) {
		if (po->logfd >= 0)
			close(po->logfd);
		po->logfd = -1;
		if (rebuild(po, fd, &st, err, cap) != 0) {
			close(fd);
			return CCP_PO_NOT_ACCESSIBLE;
		}
		po->logfd = fd;
		return 0;
	}
	close(fd);
	if (st.st_size == po->indexed)
		return 0;
	/* Lines other processes appended.  Of very many, only those after
	 * which a window's worth remain matter. */
	size_t found;
	off_t start = st.st_size - po->indexed <= LOG_TAIL_SCAN
			      ? po->indexed
			      : scan_back(po->logfd, po->indexed, st.st_size, po->index.span + 1,
					  &found, &po->tmp);
	off_t got = start < 0 ? -1 : fold_from(po, po->logfd, start);
	if (got < 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", po->dir, strerror(errno));
		/* Some lines may be folded: the next time starts afresh. */
		close(po->logfd);
		po->logfd = -1;
		return CCP_PO_NOT_ACCESSIBLE;
	}
	po->indexed = start + got;
	return 0;
}

/*
 * Starts a new delivery.log when this one has reached log_segment octets
 * (see po.h).  No import is under way (the caller holds the lock and has
 * recovered): the old log gets its segment name by a hard link, then an
 * empty file replaces delivery.log by rename, so delivery.log always
 * exists.  A crash between the two leaves a segment with delivery.log's
 * inode, which readers skip and the next rotation completes.  A failure
 * is logged and the import goes on with the log it has.
 */
static void maybe_rotate(struct ccp_po *po)
{
	struct stat st, ss;
	if (fstatat(po->dirfd, LOG, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    st.st_size < po->conf.log_segment)
		return;
	unsigned *segs;
	/* Compressed segments too: numbered on from the highest ever made,
	 * the next is never one an operator compressed or removed (a new
	 * 00000001 beside 00000001.gz, which gzip -f would overwrite). */
	ssize_t n = list_segments(po->dirfd, true, &segs);
	if (n < 0)
		return; /* the next import rotates it */
	unsigned last = n ? segs[n - 1] : 0;
	ccp_free(segs);
	char name[40];
	segment_name(name, sizeof(name), last);
	/* A rotation cut short by a crash between its link and its rename
	 * left the log linked as the last segment already. */
	bool linked = last && fstatat(po->dirfd, name, &ss, AT_SYMLINK_NOFOLLOW) == 0 &&
		      ss.st_ino == st.st_ino;
	if (!linked) {
		segment_name(name, sizeof(name), last + 1);
		if (linkat(po->dirfd, LOG, po->dirfd, name, 0) != 0) {
			ccp_log(CCP_LOG_WARN, "%s/" LOG ": cannot rotate to %s: %s", po->dir, name,
				strerror(errno));
			return;
		}
	}
	/* Read and write: the handle keeps it as the log it indexes. */
	int fd = openat(po->dirfd, LOG ".new", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			0666);
	if (fd < 0 || sync_fd(fd, po->o.sync) != 0 ||
	    renameat(po->dirfd, LOG ".new", po->dirfd, LOG) != 0 ||
	    sync_fd(po->dirfd, po->o.sync) != 0) {
		ccp_log(CCP_LOG_WARN, "%s/" LOG ": cannot start a new log: %s", po->dir,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	/* This handle has folded the whole old log: it goes on from the new
	 * one's start without a rebuild. */
	if (po->logfd >= 0)
		close(po->logfd);
	po->logfd = fd;
	po->indexed = 0;
	ccp_log(CCP_LOG_INFO, "%s/" LOG ": rotated to %s; a new log begins", po->dir, name);
}

/*
 * Reads the user directory into po->users.  With users=yes in po.conf, a
 * directory that is missing or names no user would make every recipient
 * unknown: every message would be answered undeliverable, and a relay would
 * send each to Bad with a report to its sender.  That is a mistake in the
 * post office (an emptied or lost file), not in the mail, so the post office
 * is refused as misconfigured instead, as Postfix's soft_bounce guards
 * against the same mistake.  Returns 0, or a ccp_po_code with a line in
 * ERR.
 */
static int load_users(struct ccp_po *po, char *err, size_t cap)
{
	ccp_ccm_buf_reset(&po->tmp);
	if (ccp_ccm_buf_read_at(&po->tmp, po->dirfd, "users") != 0) {
		int e = errno;
		ccp_errf(err, cap, "%s/users: %s: po.conf says 'users yes', so no recipient could be "
			      "delivered; restore the user directory, or set 'users no'",
			 po->dir, strerror(e));
		return e == ENOENT ? CCP_PO_MISCONFIGURED : CCP_PO_NOT_ACCESSIBLE;
	}
	if (each_user(po->tmp.data, po->tmp.len, &po->tmp2, &po->users) == 0) {
		ccp_errf(err, cap, "%s/users names no user: po.conf says 'users yes', so no "
			      "recipient could be delivered; restore the user directory, or set "
			      "'users no'", po->dir);
		return CCP_PO_MISCONFIGURED;
	}
	return 0;
}

static int recover(int dirfd, int mboxfd, int storefd, bool dosync, const char *dir, char *err,
		   size_t cap);

/* Opens DIRFD/po.lock, making it if it is gone (lock_po()). */
static int open_po_lock(int dirfd)
{
	return openat(dirfd, "po.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
}

/*
 * Takes the post office's lock: flock() on po.lock, then on the directory
 * itself (OP: LOCK_EX, with LOCK_NB or without).  Returns 0, or -1 with
 * errno (EWOULDBLOCK: another importer holds it).
 *
 * Why both.  A flock is on an inode, and a descriptor keeps its inode
 * after the name is removed or replaced (an operator clearing "stale"
 * locks, a restore).  Whoever opens po.lock afterwards locks another file;
 * with that file alone, two imports would run at once, the second undoing
 * the first's journal as an interrupted import.  The directory cannot be
 * swapped under a post office that is in use, so its lock is what keeps
 * imports apart.  po.lock stays the lock that tools outside ccpump take
 * (flock(1) around a backup, say), and every lock checks that the file it
 * locked is still the one named po.lock, opening the name again (creating
 * it if it is gone) when not: two processes that find it gone both open
 * the one file the first of them created (O_CREAT without O_EXCL).
 * Files first, then the directory: one order for every taker.
 *
 * Where the directory cannot be flock()ed (NFS emulates flock with POSIX
 * locks, which want a descriptor open for writing), the file lock alone
 * serves, as it did before the directory's lock was added.
 */
static int lock_po(int dirfd, int *lockfd, int op)
{
	for (;;) {
		if (flock(*lockfd, op) != 0)
			return -1;
		struct stat held, named;
		if (fstat(*lockfd, &held) != 0)
			goto fail;
		if (fstatat(dirfd, "po.lock", &named, AT_SYMLINK_NOFOLLOW) == 0) {
			if (named.st_dev == held.st_dev && named.st_ino == held.st_ino)
				break;
		} else if (errno != ENOENT) {
			goto fail;
		}
		int fd = open_po_lock(dirfd);
		if (fd < 0)
			goto fail;
		/* Closing the old descriptor lets go of its lock too. */
		close(*lockfd);
		*lockfd = fd;
	}
	if (flock(dirfd, op) != 0 && errno != EBADF && errno != ENOLCK && errno != EINVAL)
		goto fail;
	return 0;
fail:;
	int e = errno;
	flock(*lockfd, LOCK_UN);
	errno = e;
	return -1;
}

/* Lets go of what lock_po() took. */
static void unlock_po(int dirfd, int lockfd)
{
	flock(dirfd, LOCK_UN);
	flock(lockfd, LOCK_UN);
}

/*
 * Builds the index at open as an import would: under po.lock, after
 * finishing an interrupted import.  Read without them, the log may end in
 * an interrupted import's lines, which recovery then cuts back while other
 * imports append their own: the handle would skip pairs that were never
 * delivered, and go on reading from the middle of another import's line.
 * When another import holds the lock, or the interrupted import cannot be
 * finished now (a damaged journal, a file that cannot be cut back), the
 * first import through this handle builds the index instead, and answers
 * for what stands in its way: opening waits for no import.
 */
static int open_index(struct ccp_po *po, char *err, size_t cap)
{
	if (lock_po(po->dirfd, &po->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return 0;
		ccp_errf(err, cap, "%s/po.lock: cannot lock: %s", po->dir, strerror(errno));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	int rc = 0;
	if (recover(po->dirfd, po->mboxfd, po->storefd, po->o.sync, po->dir, NULL, 0) == 0)
		rc = catch_up(po, err, cap);
	unlock_po(po->dirfd, po->lockfd);
	return rc;
}

int ccp_po_open(const char *dir, const struct ccp_po_opts *o, struct ccp_po **out, char *err,
		size_t cap)
{
	struct ccp_po_opts def;
	struct po_conf conf;
	int dirfd;

	if (!o) {
		ccp_po_opts_default(&def);
		o = &def;
	}
	*out = NULL;
	int rc = open_po_dir(dir, &dirfd, &conf, err, cap);
	if (rc)
		return rc;
	struct ccp_po *po = ccp_calloc(1, sizeof(*po));
	po->dir = ccp_strdup(dir);
	po->dirfd = dirfd;
	po->logfd = -1;
	po->o = *o;
	po->conf = conf;
	ccp_fpwindow_init(&po->index, conf.dedup_window);
	pthread_mutex_init(&po->mu, NULL);
	ccp_ccm_msg_init(&po->msg);
	po->mboxfd = openat(dirfd, "mailboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	po->storefd = openat(dirfd, STORE, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	po->lockfd = open_po_lock(dirfd);
	if (po->mboxfd < 0 || po->storefd < 0 || po->lockfd < 0) {
		ccp_errf(err, cap, "%s: post office not accessible: %s", dir, strerror(errno));
		ccp_po_close(po);
		return CCP_PO_NOT_ACCESSIBLE;
	}
	const char *env = getenv("CCPUMP_PO_FAULT");
	if (o->env_fault && o->fault.rate == 0 && o->fault.delay_ms == 0 && !o->fault.crash &&
	    env && *env) {
		if (ccp_po_fault_parse(env, &po->o.fault, err, cap) != 0) {
			ccp_po_close(po);
			return CCP_PO_MISCONFIGURED;
		}
	}
	po->rng = po->o.fault.seed ? po->o.fault.seed : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	rc = conf.users ? load_users(po, err, cap) : 0;
	if (rc == 0)
		rc = open_index(po, err, cap);
	if (rc) {
		ccp_po_close(po);
		return rc;
	}
	*out = po;
	return 0;
}

void ccp_po_index_usage(struct ccp_po *po, struct ccp_po_index_usage *u)
{
	pthread_mutex_lock(&po->mu);
	u->window = po->index.span;
	u->pairs = ccp_fpwindow_count(&po->index);
	u->bytes = ccp_fpwindow_bytes(&po->index);
	pthread_mutex_unlock(&po->mu);
}

bool ccp_po_still_there(const struct ccp_po *po)
{
	return ccp_fd_is_path(po->dirfd, po->dir);
}

void ccp_po_import_limits(const struct ccp_po *po, size_t *addr_buffer, bool *import8)
{
	*addr_buffer = po->conf.addr_buffer;
	*import8 = po->conf.import8;
}

void ccp_po_close(struct ccp_po *po)
{
	if (!po)
		return;
	if (po->mboxfd >= 0)
		close(po->mboxfd);
	if (po->storefd >= 0)
		close(po->storefd);
	if (po->lockfd >= 0)
		close(po->lockfd);
	if (po->logfd >= 0)
		close(po->logfd);
	close(po->dirfd);
	pthread_mutex_destroy(&po->mu);
	sset_free(&po->users);
	ccp_fpwindow_free(&po->index);
	ccp_ccm_buf_free(&po->logbuf);
	ccp_ccm_buf_free(&po->und);
	ccp_ccm_buf_free(&po->tmp);
	ccp_ccm_buf_free(&po->tmp2);
	ccp_ccm_buf_free(&po->msgfps);
	ccp_ccm_buf_free(&po->store);
	ccp_ccm_buf_free(&po->keys);
	ccp_ccm_msg_free(&po->msg);
	ccp_free(po->dir);
	ccp_free(po);
}

/* ---- recovery ------------------------------------------------------------------ */

/* Cuts the append-only file NAME in DIRFD back to OLD octets (-1: it did not
 * exist, remove it); one no longer than OLD stays as it is, and is not
 * opened for writing at all: an import undone before it reached a file
 * (every mailbox after the one it failed on) must not need that file to be
 * writable, or a mailbox made read-only would stop every recovery, and so
 * every import, for good.  NAME is a plain name (parse_journal() checked
 * it).  Something that is not a regular file there is not ours: we could
 * not have appended to it.  Returns 0 or -1 (errno). */
static int cut_back(int dirfd, long long old, const char *name, bool dosync)
{
	if (old < 0)
		return unlinkat(dirfd, name, 0) != 0 && errno != ENOENT ? -1 : 0;
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISREG(st.st_mode) || st.st_size <= old)
		return 0;
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == EISDIR ? 0 : -1;
	int rc = 0;
	if (fstat(fd, &st) != 0)
		rc = -1;
	else if (S_ISREG(st.st_mode) && st.st_size > old &&
		 (ftruncate(fd, old) != 0 || sync_fd(fd, dosync) != 0))
		rc = -1; /* cut back only: a damaged journal's length never grows a file */
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* One file a journal names: "mbox OLD NAME" or "store OLD NAME". */
struct journal_entry {
	int dirfd;
	const char *sub; /* its directory, for messages */
	long long old;
	char name[256];
};

/* A complete journal, as commit() writes it. */
struct journal {
	long long log_old, log_new;
	struct journal_entry *e; /* ccp_free it */
	size_t n;
};

/* A length in a journal line at S: digits, or "-1" where MINUS_ONE allows
 * it (a file the import made).  Returns the end, or NULL. */
static const char *journal_number(const char *s, bool minus_one, long long *out)
{
	if (minus_one && s[0] == '-' && s[1] == '1') {
		*out = -1;
		return s + 2;
	}
	uint64_t v;
	const char *end = plain_number(s, &v);
	if (!end || v > (uint64_t)LLONG_MAX)
		return NULL;
	*out = (long long)v;
	return end;
}

/* "log OLD NEW" into JN. */
static bool journal_log_line(const char *l, struct journal *jn)
{
	const char *p = NULL;
	if (strncmp(l, "log ", 4) == 0)
		p = journal_number(l + 4, false, &jn->log_old);
	if (!p || *p != ' ')
		return false;
	p = journal_number(p + 1, false, &jn->log_new);
	return p && *p == '\0' && jn->log_old <= jn->log_new;
}

/* "mbox OLD NAME" or "store OLD NAME" into X; false with why in *WHY. */
static bool journal_file_line(const char *l, int mboxfd, int storefd, struct journal_entry *x,
			      const char **why)
{
	bool mbox = strncmp(l, "mbox ", 5) == 0;
	const char *p = NULL;
	if (mbox || strncmp(l, "store ", 6) == 0)
		p = journal_number(l + (mbox ? 5 : 6), true, &x->old);
	if (!p || *p++ != ' ' || *p == '\0' || strlen(p) >= sizeof(x->name) || strchr(p, ' '))
		return false;
	if (strchr(p, '/') || p[0] == '.') {
		/* Acting on it could cut back a file that is not the post
		 * office's. */
		*why = "names no file of mailboxes/ or store/";
		return false;
	}
	x->dirfd = mbox ? mboxfd : storefd;
	x->sub = mbox ? "mailboxes" : STORE;
	strcpy(x->name, p);
	return true;
}

/*
 * Parses the complete journal J (LEN octets ending in "end\n"; its lines
 * are split in place) into *JN.  An import syncs its journal whole before
 * it touches a file, so a complete one with a line an import does not
 * write is damaged: what it says cannot be trusted either way, to undo or
 * to keep.  Returns true, or false with that line (escaped, for a one-line
 * error) in BAD and why in *WHY.
 */
static bool parse_journal(char *j, size_t len, int mboxfd, int storefd, struct journal *jn,
			  char *bad, size_t cap, const char **why)
{
	size_t lineno = 0, max = 0;
	char *p = j, *end = j + len;
	memset(jn, 0, sizeof(*jn));
	for (char *nl; p < end; p = nl + 1, lineno++) {
		nl = memchr(p, '\n', (size_t)(end - p)); /* J ends in one */
		*nl = '\0';
		struct journal_entry x;
		bool ok;
		*why = "is not one an import writes";
		if (strlen(p) != (size_t)(nl - p))
			ok = false; /* a NUL octet */
		else if (lineno == 0)
			ok = strcmp(p, "ccpump-journal 2") == 0;
		else if (lineno == 1)
			ok = journal_log_line(p, jn);
		else if (nl + 1 == end)
			ok = strcmp(p, "end") == 0;
		else
			ok = journal_file_line(p, mboxfd, storefd, &x, why);
		if (!ok) {
			ccp_escape_controls(bad, cap, p, strnlen(p, 200));
			ccp_free(jn->e);
			jn->e = NULL;
			return false;
		}
		if (lineno < 2 || nl + 1 == end)
			continue;
		if (jn->n == max) {
			max = max ? 2 * max : 16;
			jn->e = ccp_realloc(jn->e, max * sizeof(*jn->e));
		}
		jn->e[jn->n++] = x;
	}
	return true;
}

/* Syncs the directory SUB (DIRFD) of DIR; 0, or -1 with a line in ERR. */
static int sync_dir(int dirfd, bool dosync, const char *dir, const char *sub, char *err,
		    size_t cap)
{
	if (sync_fd(dirfd, dosync) == 0)
		return 0;
	return ccp_errf(err, cap, "%s%s%s: cannot sync: %s", dir, sub[0] ? "/" : "", sub,
			strerror(errno));
}

/* Undoes the import JN describes, which did not commit: every file it
 * names is cut back, then the log.  Returns 0 or 1, with a line naming the
 * file in ERR. */
static int undo_journal(const struct journal *jn, int dirfd, int mboxfd, int storefd, bool dosync,
			const char *dir, char *err, size_t cap)
{
	bool removed[2] = { false, false }; /* in mailboxes/, in store/ */
	for (size_t i = 0; i < jn->n; i++) {
		const struct journal_entry *e = &jn->e[i];
		if (cut_back(e->dirfd, e->old, e->name, dosync) != 0) {
			ccp_errf(err, cap, "%s/%s/%s: cannot undo an interrupted import: %s", dir,
				 e->sub, e->name, strerror(errno));
			return CCP_PO_NOT_ACCESSIBLE;
		}
		removed[e->dirfd == storefd] |= e->old < 0;
	}
	/* The removals made durable before the journal goes (recover()):
	 * else a crash could keep a removed mailbox, its references into
	 * store octets cut back, and lose the journal that said to remove it. */
	if ((removed[0] && sync_dir(mboxfd, dosync, dir, "mailboxes", err, cap) != 0) ||
	    (removed[1] && sync_dir(storefd, dosync, dir, STORE, err, cap) != 0))
		return CCP_PO_NOT_ACCESSIBLE;
	if (cut_back(dirfd, jn->log_old, LOG, dosync) != 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot undo an interrupted import: %s", dir,
			 strerror(errno));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	ccp_log(CCP_LOG_WARN, "%s: undid an interrupted import", dir);
	return 0;
}

/* Keeps or undoes the interrupted import the complete journal J (LEN
 * octets) describes. */
static int finish_journal(char *j, size_t len, int dirfd, int mboxfd, int storefd, bool dosync,
			  const char *dir, char *err, size_t cap)
{
	struct journal jn;
	struct stat st;
	char bad[1024];
	const char *why;
	int rc = 0;
	if (!parse_journal(j, len, mboxfd, storefd, &jn, bad, sizeof(bad), &why)) {
		ccp_errf(err, cap, "%s/" JOURNAL ": damaged: the line '%s' %s; nothing was undone: "
			      "move the journal aside and run 'ccpump po stats --po %s' to check "
			      "the post office", dir, bad, why, dir);
		return CCP_PO_MISCONFIGURED;
	}
	if (fstatat(dirfd, LOG, &st, 0) != 0) {
		ccp_errf(err, cap, "%s/" LOG ": %s", dir, strerror(errno));
		rc = CCP_PO_NOT_ACCESSIBLE;
	} else if (st.st_size < jn.log_new) {
		rc = undo_journal(&jn, dirfd, mboxfd, storefd, dosync, dir, err, cap);
	} /* else committed: the journal only has to go */
	ccp_free(jn.e);
	return rc;
}

/* The length of FD's first SIZE octets through their last '\n' (0: none),
 * or -1 with errno. */
static off_t through_last_newline(int fd, off_t size)
{
	char b[4096];
	for (off_t end = size; end > 0;) {
		off_t lo = end > (off_t)sizeof(b) ? end - (off_t)sizeof(b) : 0;
		ssize_t r = ccp_pread_full(fd, b, (size_t)(end - lo), lo);
		if (r != end - lo) {
			errno = r < 0 ? errno : EIO; /* shrank while read */
			return -1;
		}
		for (size_t i = (size_t)r; i-- > 0;)
			if (b[i] == '\n')
				return lo + (off_t)i + 1;
		end = lo;
	}
	return 0;
}

/*
 * Cuts a last line without its '\n' off delivery.log.  An import's lines
 * end in '\n' and are synced before its journal goes, and recovery cuts an
 * uncommitted import's back, so a torn last line is damage (a power loss
 * under --no-sync, a disk that lost a tail): no reader takes it, and the
 * next import's first line, appended onto it, could not be read either,
 * a pair delivered but neither remembered nor counted.  The torn line is
 * cut as recovery cuts, and logged with its first octets, so the audit
 * trail keeps what it held.  Returns 0, or 1 with a line naming the log.
 */
static int mend_log_tail(int dirfd, bool dosync, const char *dir, char *err, size_t cap)
{
	int fd = openat(dirfd, LOG, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0; /* its readers say so */
	struct stat st;
	char last = '\n', torn[64];
	ssize_t n = 0;
	off_t keep = fd < 0 || fstat(fd, &st) != 0 ? -1 : st.st_size;
	if (keep > 0 && ccp_pread_full(fd, &last, 1, keep - 1) != 1)
		keep = -1;
	if (last != '\n') {
		keep = through_last_newline(fd, st.st_size);
		if (keep >= 0 && (n = ccp_pread_full(fd, torn, sizeof(torn), keep)) < 0)
			keep = -1;
	}
	int e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
	if (keep >= 0 && last != '\n' && cut_back(dirfd, keep, LOG, dosync) != 0)
		keep = -1;
	if (keep < 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot read or cut back its last line: %s", dir,
			 strerror(errno));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	if (last != '\n') {
		char shown[sizeof(torn) * 4 + 1];
		ccp_escape_controls(shown, sizeof(shown), torn, (size_t)n);
		ccp_log(CCP_LOG_WARN, "%s/" LOG ": its last line was cut short, without its "
			"line end (%lld octets at %lld: '%s%s'): cut back to the line before it",
			dir, (long long)(st.st_size - keep), (long long)keep, shown,
			st.st_size - keep > n ? "..." : "");
	}
	return 0;
}

/*
 * Finishes or undoes an interrupted import (see the top of this file), and
 * leaves delivery.log ending in a whole line.  The journal names each
 * file to cut back: "store OLD NAME" in store/, "mbox OLD NAME" in
 * mailboxes/.  A complete journal with a line an import does not write
 * (one that names a path or a dot name, or does not parse) is damaged:
 * nothing is cut back, and every import is refused (3) until someone
 * looks at it.
 */
static int recover(int dirfd, int mboxfd, int storefd, bool dosync, const char *dir, char *err,
		   size_t cap)
{
	struct ccp_ccm_buf j;
	ccp_ccm_buf_init(&j);
	if (ccp_ccm_buf_read_at(&j, dirfd, JOURNAL) != 0) {
		int e = errno;
		ccp_ccm_buf_free(&j);
		if (e == ENOENT)
			return mend_log_tail(dirfd, dosync, dir, err, cap);
		ccp_errf(err, cap, "%s/" JOURNAL ": cannot read: %s", dir, strerror(e));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	/* An incomplete journal was written before any file was touched. */
	int rc = 0;
	if (j.len >= 4 && memcmp(j.data + j.len - 4, "end\n", 4) == 0)
		rc = finish_journal(j.data, j.len, dirfd, mboxfd, storefd, dosync, dir, err, cap);
	ccp_ccm_buf_free(&j);
	if (rc)
		return rc;
	/* Its removal synced too, as the cuts were: what recovery did then
	 * lasts through a crash as a commit does. */
	if (unlinkat(dirfd, JOURNAL, 0) != 0 && errno != ENOENT) {
		ccp_errf(err, cap, "%s/" JOURNAL ": cannot remove: %s", dir, strerror(errno));
		return CCP_PO_NOT_ACCESSIBLE;
	}
	if (sync_dir(dirfd, dosync, dir, "", err, cap) != 0)
		return CCP_PO_NOT_ACCESSIBLE;
	return mend_log_tail(dirfd, dosync, dir, err, cap);
}

/* ---- import -------------------------------------------------------------------- */

/* The octets of a message's reason that name its unknown recipients; those
 * that do not fit in them are counted ("and 34 more"), so that the
 * reason, with the batch's path before it, fits its 512 octets whole and
 * never names a part of the list as all of it. */
#define UNKNOWN_NAMED 320

struct delivery {
	size_t off, len;       /* the message in po->store, the store file's new tail
				  (adopting: in the adopted file) */
	size_t keyoff, keylen; /* its escaped key in po->keys */
	char mbox[224];
};

struct plan {
	struct delivery *d; /* sorted by mailbox for the commit (cmp_delivery()) */
	struct ccp_fp *fp;  /* d's pairs in the order of their log lines */
	size_t n, cap;
};

/* The whole file an import may adopt as a store file (see the top). */
struct adopt {
	int dirfd;
	const char *file;
	const char *data; /* its octets */
	size_t len;
};

/* Per-message outcomes, handed to the caller's report function after the
 * import (outside the lock, so the function may import again). */
struct msg_report {
	enum ccp_po_outcome outcome;
	size_t key_off, key_len, reason_off; /* into reports.str */
};

struct reports {
	bool on;
	struct msg_report *r;
	size_t n, cap;
	struct ccp_ccm_buf str;
};

static void report(struct reports *rep, enum ccp_po_outcome outcome, const char *key,
		   size_t keylen, const char *reason)
{
	if (!rep->on)
		return;
	if (rep->n == rep->cap) {
		rep->cap = rep->cap ? rep->cap * 2 : 8;
		rep->r = ccp_realloc(rep->r, rep->cap * sizeof(*rep->r));
	}
	struct msg_report *m = &rep->r[rep->n++];
	m->outcome = outcome;
	m->key_off = rep->str.len;
	m->key_len = keylen;
	ccp_ccm_buf_add(&rep->str, key, keylen);
	ccp_ccm_buf_addc(&rep->str, '\0');
	m->reason_off = rep->str.len;
	ccp_ccm_buf_adds(&rep->str, reason);
	ccp_ccm_buf_addc(&rep->str, '\0');
}

static uint64_t next_rand(struct ccp_po *po)
{
	/* xorshift64*: fault injection only, under the mutex. */
	uint64_t x = po->rng ? po->rng : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	po->rng = x;
	return x * 2685821657736338717ull;
}

static void log_line(struct ccp_po *po, char type, const char *key, size_t keylen,
		     const char *rcpt, size_t rlen, const char *note, time_t now)
{
	struct ccp_ccm_buf *b = &po->logbuf;
	ccp_ccm_buf_addc(b, type);
	ccp_ccm_buf_addc(b, '\t');
	esc(b, key, keylen);
	ccp_ccm_buf_addc(b, '\t');
	esc(b, rcpt, rlen);
	ccp_ccm_buf_addc(b, '\t');
	esc(b, note, strlen(note));
	/* "\t%lld\n" without printf: a line per recipient adds up. */
	char t[24];
	size_t i = sizeof(t);
	t[--i] = '\n';
	uint64_t v = now < 0 ? (uint64_t)0 - (uint64_t)now : (uint64_t)now;
	do
		t[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (now < 0)
		t[--i] = '-';
	t[--i] = '\t';
	ccp_ccm_buf_add(b, t + i, sizeof(t) - i);
}

static void und_add(struct ccp_po *po, const char *reason, const char *raw, size_t len)
{
	ccp_ccm_buf_adds(&po->und, "Undeliverable: ");
	for (const char *s = reason; *s; s++)
		ccp_ccm_buf_addc(&po->und, (*s == '\r' || *s == '\n') ? ' ' : *s);
	ccp_ccm_buf_add(&po->und, "\r\n", 2);
	ccp_ccm_buf_add(&po->und, raw, len);
	if (len && raw[len - 1] != '\n')
		ccp_ccm_buf_add(&po->und, "\r\n", 2);
}

/* Why message M cannot be imported at all, or NULL. */
static const char *check_message(const struct ccp_po *po, const struct ccp_ccm_msg *m,
				 char *buf, size_t cap)
{
	struct tm tm;
	if (m->from_len == 0)
		return "empty From (KB Q192594)";
	if (!ccp_ccm_parse_date(m->date, m->date_len, &tm)) {
		snprintf(buf, cap, "*** Unknown Date Format *** '%.*s' (KB Q180641)",
			 (int)(m->date_len > 40 ? 40 : m->date_len), m->date);
		return buf;
	}
	if (m->nrcpt == 0)
		return "no recipient";
	size_t ab = ccp_ccm_addr_bytes(m);
	if (ab > po->conf.addr_buffer) {
		snprintf(buf, cap, "Header Buffer Full: address lines take %zu octets, the "
			 "post office holds %zu", ab, po->conf.addr_buffer);
		return buf;
	}
	for (size_t i = 0; i < m->nitem; i++)
		if (m->item[i].kind == CCP_CCM_ITEM_TEXT && m->item[i].len > CCP_CCM_TEXT_ITEM_MAX) {
			snprintf(buf, cap, "text item %zu holds %zu octets, over the 20 KB limit",
				 i + 1, m->item[i].len);
			return buf;
		}
	if (po->conf.import8 && m->subject &&
	    (memchr(m->subject, '[', m->subject_len) || memchr(m->subject, ']', m->subject_len)))
		return "square brackets in Subject (Import 8.3 rejects them, KB Q234350)";
	return NULL;
}

/* Whether FP, a recipient's pair, is among those of the message at hand
 * (MSGFPS): a recipient named twice in one message ("a at X" and
 * "A  at x"). */
static bool named_here(const struct ccp_ccm_buf *msgfps, struct ccp_fp fp)
{
	const struct ccp_fp *seen = (const void *)msgfps->data;
	for (size_t j = 0; j < msgfps->len / sizeof(fp); j++)
		if (seen[j].a == fp.a && seen[j].b == fp.b)
			return true;
	return false;
}

/* Step 4: parse and check everything, plan every delivery.  Nothing is
 * written to the post office here. */
static bool plan_import(struct ccp_po *po, const char *data, size_t len, const char *name,
			struct plan *plan, struct ccp_fpset *batch, struct ccp_po_result *res,
			struct reports *rep, time_t now, bool adopt)
{
	struct ccp_ccm_reader r;
	struct ccp_ccm_msg *m = &po->msg;
	char why[256], keybuf[40];
	int rc;

	ccp_ccm_reader_init(&r, data, len, name);
	while ((rc = ccp_ccm_reader_next(&r, m)) != 0) {
		res->messages++;
		/* A message the reader refused still has the key lines read
		 * before its error: reported under its key, a relay finds its
		 * file again (docs/ccmail-format.md, section 5). */
		const struct ccp_ccm_ext *x = ccp_ccm_msg_ext(m, "X-Spool-Id");
		const char *key;
		size_t keylen;
		if (x && x->value_len) {
			key = x->value;
			keylen = x->value_len;
		} else {
			/* No key: the message's own octets name it, so the same
			 * file imported twice is still caught. */
			keylen = (size_t)snprintf(keybuf, sizeof(keybuf), "fnv:%016llx",
						  (unsigned long long)fnv1a(m->raw, m->raw_len));
			key = keybuf;
		}
		const char *bad = rc < 0 ? r.error : check_message(po, m, why, sizeof(why));
		if (bad) {
			char line[sizeof(res->reason)];
			/* ccp_errf: a reason longer than the line is cut, as
			 * every reason the post office gives. */
			if (rc < 0)
				ccp_errf(line, sizeof(line), "%s", bad);
			else
				ccp_errf(line, sizeof(line), "%s: line %u: %s", name, m->line, bad);
			if (!res->reason[0])
				snprintf(res->reason, sizeof(res->reason), "%s", line);
			res->undeliverable++;
			log_line(po, 'U', key, keylen, "", 0, line, now);
			und_add(po, line, m->raw, m->raw_len);
			report(rep, CCP_PO_MSG_UNDELIVERABLE, key, keylen, line);
			continue;
		}
		size_t delivered = 0, skipped = 0;
		size_t off, mlen, koff = po->keys.len;
		if (adopt) {
			/* Stored where it is.  Only the writer's own output can be:
			 * a message whose sizes needed the keyword scan is
			 * rewritten, so the whole import is planned again as a
			 * copy. */
			if (m->warnings)
				return false;
			off = (size_t)(m->raw - data);
			mlen = m->raw_len;
		} else {
			/* The stored copy is rewritten with exact sizes; it stays
			 * in the store's new tail only if someone gets it (below). */
			off = po->store.len;
			if (ccp_ccm_write(&po->store, m) != 0)
				ccp_panic("reader accepted a message the writer refuses (%s line %u)",
					  name, m->line);
			mlen = po->store.len - off;
		}
		esc(&po->keys, key, keylen);
		size_t klen = po->keys.len - koff;
		/* The unknown recipients, named in the message's reason (the
		 * sender's report quotes it) while they fit, then counted. */
		struct ccp_ccm_buf unknown;
		ccp_ccm_buf_init(&unknown);
		size_t nunknown = 0, unnamed = 0;
		ccp_ccm_buf_reset(&po->msgfps);
		for (size_t i = 0; i < m->nrcpt; i++) {
			norm_rcpt(&po->tmp2, m->rcpt[i].addr, m->rcpt[i].addr_len);
			/* The index key: escaped key, TAB, escaped recipient. */
			ccp_ccm_buf_reset(&po->tmp);
			esc(&po->tmp, key, keylen);
			ccp_ccm_buf_addc(&po->tmp, '\t');
			esc(&po->tmp, po->tmp2.data, po->tmp2.len);
			struct ccp_fp fp = ccp_fp_of(po->tmp.data, po->tmp.len);
			if (po->conf.users && !sset_has(&po->users, po->tmp2.data, po->tmp2.len)) {
				/* Named twice in this very message: one line, one
				 * count, one name in the reason, as for a known
				 * recipient.  The batch's set, which only a
				 * recipient named before in this import can be in,
				 * spares the look through the message's own. */
				if (!ccp_fpset_add(batch, fp) && named_here(&po->msgfps, fp))
					continue;
				ccp_ccm_buf_add(&po->msgfps, &fp, sizeof(fp));
				if (unknown.len + m->rcpt[i].addr_len + 4 <= UNKNOWN_NAMED)
					ccp_ccm_buf_printf(&unknown, "%s'%.*s'", unknown.len ? ", " : "",
							   (int)m->rcpt[i].addr_len, m->rcpt[i].addr);
				else
					unnamed++;
				nunknown++;
				char line[400];
				snprintf(line, sizeof(line), "%s: line %u: unknown recipient", name, m->line);
				log_line(po, 'U', key, keylen, po->tmp2.data, po->tmp2.len, line, now);
				res->undeliverable++;
				continue;
			}
			if (ccp_fpwindow_has(&po->index, fp) || !ccp_fpset_add(batch, fp)) {
				/* Named twice in this very message ("a at X" and
				 * "A  at x"): what became of the first is the
				 * pair's; nothing was handed in twice, so no
				 * second duplicate is counted or logged.  (Looked
				 * for only here, on the rare path.) */
				if (named_here(&po->msgfps, fp))
					continue;
				ccp_ccm_buf_add(&po->msgfps, &fp, sizeof(fp));
				res->skipped++;
				skipped++;
				log_line(po, 'S', key, keylen, po->tmp2.data, po->tmp2.len, "", now);
				continue;
			}
			if (plan->n == plan->cap) {
				plan->cap = plan->cap ? plan->cap * 2 : 16;
				plan->d = ccp_realloc(plan->d, plan->cap * sizeof(*plan->d));
				plan->fp = ccp_realloc(plan->fp, plan->cap * sizeof(*plan->fp));
			}
			plan->fp[plan->n] = fp;
			ccp_ccm_buf_add(&po->msgfps, &fp, sizeof(fp));
			struct delivery *d = &plan->d[plan->n++];
			d->off = off;
			d->len = mlen;
			d->keyoff = koff;
			d->keylen = klen;
			mailbox_name_of_norm(po->tmp2.data, po->tmp2.len, d->mbox, sizeof(d->mbox));
			log_line(po, 'D', key, keylen, po->tmp2.data, po->tmp2.len, d->mbox, now);
			delivered++;
		}
		if (!delivered) { /* nobody gets it: not stored */
			if (!adopt) /* adopting, off is in DATA, not the store buffer */
				po->store.len = off;
			po->keys.len = koff;
		}
		if (nunknown) {
			char line[sizeof(res->reason)], more[64] = "";
			if (unnamed && unknown.len)
				snprintf(more, sizeof(more), " and %zu more", unnamed);
			else if (unnamed) /* each too long to name here */
				snprintf(more, sizeof(more), "(%zu, their lines too long to name here)",
					 unnamed);
			snprintf(line, sizeof(line), "%s: line %u: unknown recipient%s %s%s", name,
				 m->line, nunknown > 1 ? "s" : "", unknown.len ? unknown.data : "",
				 more);
			if (!res->reason[0])
				snprintf(res->reason, sizeof(res->reason), "%s", line);
			und_add(po, line, m->raw, m->raw_len);
			report(rep, delivered + skipped ? CCP_PO_MSG_PARTIAL : CCP_PO_MSG_UNDELIVERABLE,
			       key, keylen, line);
		} else {
			report(rep, delivered ? CCP_PO_MSG_DELIVERED : CCP_PO_MSG_DUPLICATE, key,
			       keylen, "");
		}
		ccp_ccm_buf_free(&unknown);
	}
	return true;
}

static int cmp_delivery(const void *a, const void *b)
{
	const struct delivery *x = a, *y = b;
	int c = strcmp(x->mbox, y->mbox);
	return c ? c : (x->off > y->off) - (x->off < y->off);
}

/* The length of the append-only file NAME in DIRFD into *OLD (-1: none yet).
 * Returns 0; 1 when something other than a regular file holds the name (not
 * ours to append to); -1 with errno. */
static int old_length(int dirfd, const char *name, long long *old)
{
	struct stat st;
	*old = -1;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISREG(st.st_mode))
		return 1;
	*old = st.st_size;
	return 0;
}

/* Whether store file NAME has another name too: an adopted batch
 * (ccp_po_import_adopt()) that is still its caller's file. */
static bool store_shared(const struct ccp_po *po, const char *name)
{
	struct stat st;
	return fstatat(po->storefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink > 1;
}

/* Chooses the store file this import appends to: the newest, or the next
 * number when the newest has reached STORE_ROLL, or is an adopted batch its
 * caller still holds under its own name (po.h: nobody changes it
 * afterwards, and appended to it would grow the caller's file).  Returns as
 * old_length(). */
static int pick_store(struct ccp_po *po, char *name, size_t cap, long long *old)
{
	unsigned no = po->store_no ? po->store_no : 1;
	for (;;) {
		long long next;
		snprintf(name, cap, "%08u.msgs", no + 1);
		int rc = old_length(po->storefd, name, &next);
		if (rc)
			return rc;
		snprintf(name, cap, "%08u.msgs", no);
		rc = old_length(po->storefd, name, old);
		if (rc)
			return rc;
		if (next < 0 && *old < STORE_ROLL && !(*old >= 0 && store_shared(po, name)))
			break;
		no++;
	}
	po->store_no = no;
	return 0;
}

/* Adopting: gives the input file its store name (sname, new), or copies
 * its octets there when no second name can be made; synced. */
/* The mode the post office's own files get (0666 less the process's
 * umask, as /proc/self/status tells it without changing it), or -1 when it
 * cannot be read. */
static int made_mode(void)
{
	static _Atomic int cached = -2; /* relaxed: any thread finds the same */
	int m = atomic_load_explicit(&cached, memory_order_relaxed);
	if (m != -2)
		return m;
	m = -1;
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned mask;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &mask) == 1) {
			m = (int)(0666 & ~mask);
			break;
		}
	if (f)
		fclose(f);
	atomic_store_explicit(&cached, m, memory_order_relaxed);
	return m;
}

static int adopt_store(struct ccp_po *po, const struct adopt *ad, const char *sname, bool s)
{
	if (linkat(ad->dirfd, ad->file, po->storefd, sname, 0) == 0) {
		/* Synced by its writer already, as a rule: then this costs
		 * nothing; it makes sure. */
		int fd = openat(po->storefd, sname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		int rc = fd >= 0 && sync_fd(fd, s) == 0 ? 0 : -1;
		/* With the mode a store file the post office writes gets: the
		 * writer's (a relay's batch, 0600) would keep `po show`, run
		 * by another user, from this store file alone.  Best effort:
		 * a file not ours to change keeps its mode. */
		int mode = made_mode();
		if (fd >= 0 && mode >= 0)
			(void)fchmod(fd, (mode_t)mode);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EOPNOTSUPP)
		return -1;
	int fd = openat(po->storefd, sname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			0666);
	if (fd < 0)
		return -1;
	int rc = ccp_write_all(fd, ad->data, ad->len) == 0 && sync_fd(fd, s) == 0 ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Sets AT to the file of DIR's post office an import works on now, SUB/NAME
 * (SUB "" for one in DIR itself), so that a failure names it. */
static void working_on(char *at, size_t cap, const char *sub, const char *name)
{
	snprintf(at, cap, "%s%s%s", sub, sub[0] ? "/" : "", name);
}

/*
 * Step 5, the mailboxes: one reference line per delivery, one write per
 * mailbox; then the mailboxes synced, MBOX_FDS_MAX at once (sync_all), all
 * before the commit.  A batch to thousands of users would otherwise hold a
 * descriptor per mailbox and meet the process's limit (1,024 by default):
 * every such import undone, for ever.  SNAME is the store file, BASE where
 * the import's octets begin in it.  Returns 0, or -1 with errno and the
 * mailbox that failed in AT.
 */
static int write_mailboxes(struct ccp_po *po, const struct plan *plan, const char *sname,
			   long long base, char *at, size_t atcap)
{
	int *mfds = ccp_malloc(MBOX_FDS_MAX * sizeof(*mfds));
	const char **names = ccp_malloc(MBOX_FDS_MAX * sizeof(*names));
	bool wrote = true;
	for (size_t i = 0; i < plan->n && wrote;) {
		size_t nm = 0, failed;
		while (i < plan->n && nm < MBOX_FDS_MAX) {
			working_on(at, atcap, "mailboxes", plan->d[i].mbox);
			int fd = openat(po->mboxfd, plan->d[i].mbox,
					O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
			if (fd < 0) {
				wrote = false;
				break;
			}
			names[nm] = plan->d[i].mbox;
			mfds[nm++] = fd;
			size_t k = i;
			ccp_ccm_buf_reset(&po->tmp);
			for (; k < plan->n && strcmp(plan->d[k].mbox, plan->d[i].mbox) == 0; k++)
				ccp_ccm_buf_printf(&po->tmp, "%s %lld %zu %.*s\n", sname,
						   base + (long long)plan->d[k].off, plan->d[k].len,
						   (int)plan->d[k].keylen,
						   po->keys.data + plan->d[k].keyoff);
			i = k;
			if (ccp_write_all(fd, po->tmp.data, po->tmp.len) != 0) {
				wrote = false;
				break;
			}
		}
		if (wrote && sync_all(mfds, nm, po->o.sync, &failed) != 0) {
			wrote = false;
			working_on(at, atcap, "mailboxes", names[failed]);
		}
		int werr = errno;
		for (size_t m = 0; m < nm; m++)
			close(mfds[m]);
		errno = werr;
	}
	int werr = errno;
	ccp_free(mfds);
	ccp_free(names);
	errno = werr;
	return wrote ? 0 : -1;
}

/* Step 5: journal, store, mailboxes, log (commit), journal removed.
 * *LOG_AT gets the log's length before the import's lines. */
static int commit(struct ccp_po *po, struct plan *plan, const struct adopt *ad, char *err,
		  size_t cap, int *sys_errno, off_t *log_at)
{
	bool s = po->o.sync;
	struct stat st;
	struct ccp_ccm_buf j;
	int rc = CCP_PO_NOT_ACCESSIBLE, jfd = -1, logfd = -1, busy;
	bool created = false;
	char sname[32] = "", at[300], why[400];
	long long sold = -1;

	if (po->logbuf.len == 0)
		return 0;
	ccp_ccm_buf_init(&j);
	if (plan->n > 1)
		qsort(plan->d, plan->n, sizeof(*plan->d), cmp_delivery);
	working_on(at, sizeof(at), "", LOG);
	logfd = openat(po->dirfd, LOG, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (logfd < 0 || fstat(logfd, &st) != 0)
		goto io;
	*log_at = st.st_size;
	ccp_ccm_buf_printf(&j, "ccpump-journal 2\nlog %lld %lld\n", (long long)st.st_size,
			   (long long)st.st_size + (long long)po->logbuf.len);
	if (plan->n) {
		busy = pick_store(po, sname, sizeof(sname), &sold);
		working_on(at, sizeof(at), STORE, sname);
		if (busy < 0)
			goto io;
		if (busy) {
			ccp_errf(err, cap, "%s: store file %s is not a regular file", po->dir, sname);
			goto refused;
		}
		if (ad && sold >= 0) {
			/* An adopted file is a store file of its own: the next
			 * number, which pick_store() saw free. */
			po->store_no++;
			snprintf(sname, sizeof(sname), "%08u.msgs", po->store_no);
			sold = -1;
		}
		ccp_ccm_buf_printf(&j, "store %lld %s\n", sold, sname);
	}
	for (size_t i = 0; i < plan->n; i++) {
		if (i && strcmp(plan->d[i].mbox, plan->d[i - 1].mbox) == 0)
			continue;
		long long old;
		working_on(at, sizeof(at), "mailboxes", plan->d[i].mbox);
		busy = old_length(po->mboxfd, plan->d[i].mbox, &old);
		if (busy < 0)
			goto io;
		if (busy) {
			/* Not ours to append to: refuse before touching anything. */
			ccp_errf(err, cap, "%s: mailbox %s is not a regular file", po->dir, plan->d[i].mbox);
			goto refused;
		}
		created |= old < 0;
		ccp_ccm_buf_printf(&j, "mbox %lld %s\n", old, plan->d[i].mbox);
	}
	ccp_ccm_buf_adds(&j, "end\n");
	working_on(at, sizeof(at), "", JOURNAL);
	jfd = openat(po->dirfd, JOURNAL, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (jfd < 0 || ccp_write_all(jfd, j.data, j.len) != 0 || sync_fd(jfd, s) != 0 ||
	    sync_fd(po->dirfd, s) != 0)
		goto io;
	close(jfd);
	jfd = -1;
	if (po->o.fault.crash == CCP_PO_CRASH_JOURNAL)
		goto crash;

	/* Each delivered message once, in the store; synced (with store/ when
	 * the file is new) before any reference to it is written. */
	working_on(at, sizeof(at), STORE, sname);
	if (plan->n && ad) {
		if (adopt_store(po, ad, sname, s) != 0 || sync_fd(po->storefd, s) != 0)
			goto undo;
	} else if (plan->n) {
		int fd = openat(po->storefd, sname, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				0666);
		if (fd < 0)
			goto undo;
		if (ccp_write_all(fd, po->store.data, po->store.len) != 0 || sync_fd(fd, s) != 0 ||
		    (sold < 0 && sync_fd(po->storefd, s) != 0)) {
			int e = errno;
			close(fd);
			errno = e;
			goto undo;
		}
		close(fd);
	}
	if (po->o.fault.crash == CCP_PO_CRASH_STORE)
		goto crash;
	if (write_mailboxes(po, plan, sname, sold < 0 ? 0 : sold, at, sizeof(at)) != 0)
		goto undo;
	working_on(at, sizeof(at), "mailboxes", "");
	if (created && sync_fd(po->mboxfd, s) != 0)
		goto undo;
	if (po->o.fault.crash == CCP_PO_CRASH_MAILBOXES)
		goto crash;
	/* The commit point. */
	working_on(at, sizeof(at), "", LOG);
	if (ccp_write_all(logfd, po->logbuf.data, po->logbuf.len) != 0 || sync_fd(logfd, s) != 0)
		goto undo;
	if (po->o.fault.crash == CCP_PO_CRASH_COMMITTED)
		goto crash;
	if (unlinkat(po->dirfd, JOURNAL, 0) != 0)
		ccp_log(CCP_LOG_WARN, "%s/" JOURNAL ": cannot remove (%s); the next import will",
			po->dir, strerror(errno));
	close(logfd);
	ccp_ccm_buf_free(&j);
	return 0;
crash:
	/* As if the process died here: the journal stays for the next import
	 * (or stats) to finish or undo. */
	ccp_errf(err, cap, "%s: crash injected (step %d)", po->dir, po->o.fault.crash);
	close(logfd);
	ccp_ccm_buf_free(&j);
	return CCP_PO_NOT_ACCESSIBLE;
undo:
	*sys_errno = errno;
	ccp_errf(err, cap, "%s/%s: import failed, undone: %s", po->dir, at, strerror(errno));
	/* A log written but not synced may or may not last: cut it back, so
	 * that recovery undoes the store and mailboxes too and "undone" is true. */
	if (ftruncate(logfd, st.st_size) != 0) {
		/* Then recovery may find the log complete and keep the import:
		 * not "undone".  The answer stays a failure (the log's sync
		 * failed), and a retry skips the pairs the log holds. */
		ccp_log(CCP_LOG_WARN, "%s/" LOG ": cannot cut back: %s", po->dir, strerror(errno));
		ccp_errf(err, cap, "%s/%s: import failed: %s; " LOG " could not be cut back, so the "
			      "import may stand (a retry skips what it delivered)", po->dir, at,
			 strerror(*sys_errno));
	} else if (sync_fd(logfd, s) != 0) {
		/* Cut, but maybe not for good: recovery finds the log at its
		 * old length and removes the journal, and on a file system
		 * whose other syncs do not carry this file's size (btrfs,
		 * ext2), a power loss could then bring back the undone lines
		 * with no journal left to undo them. */
		ccp_log(CCP_LOG_WARN, "%s/" LOG ": cut back, but the cut cannot be synced: %s; a "
			"power loss now could bring back lines of the undone import", po->dir,
			strerror(errno));
	}
	close(logfd);
	logfd = -1;
	if (recover(po->dirfd, po->mboxfd, po->storefd, s, po->dir, why, sizeof(why)) != 0)
		ccp_errf(err, cap, "%s/%s: import failed (%s) and could not be undone: %s; the next "
			      "import will retry", po->dir, at, strerror(*sys_errno), why);
	ccp_ccm_buf_free(&j);
	return rc;
io:
	*sys_errno = errno;
	ccp_errf(err, cap, "%s/%s: post office not accessible: %s", po->dir, at, strerror(errno));
refused:
	if (jfd >= 0) {
		close(jfd);
		unlinkat(po->dirfd, JOURNAL, 0);
	}
	if (logfd >= 0)
		close(logfd);
	ccp_ccm_buf_free(&j);
	return rc;
}

static int write_und(const char *path, const struct ccp_ccm_buf *und, bool s)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	int rc = ccp_write_all(fd, und->data, und->len) == 0 && sync_fd(fd, s) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

int ccp_po_import_buffer(struct ccp_po *po, const char *data, size_t len, const char *name,
			 const char *und_path, struct ccp_po_result *res)
{
	return ccp_po_import_report(po, data, len, name, und_path, res, NULL, NULL);
}

static int import_common(struct ccp_po *po, const char *data, size_t len, const char *name,
			 const char *und_path, struct ccp_po_result *res, ccp_po_report_fn fn,
			 void *arg, const struct adopt *ad);

int ccp_po_import_report(struct ccp_po *po, const char *data, size_t len, const char *name,
			 const char *und_path, struct ccp_po_result *res, ccp_po_report_fn fn,
			 void *arg)
{
	return import_common(po, data, len, name, und_path, res, fn, arg, NULL);
}

int ccp_po_import_adopt(struct ccp_po *po, const char *data, size_t len, int dirfd,
			const char *file, const char *name, const char *und_path,
			struct ccp_po_result *res, ccp_po_report_fn fn, void *arg)
{
	struct adopt ad = { .dirfd = dirfd, .file = file, .data = data, .len = len };
	return import_common(po, data, len, name, und_path, res, fn, arg, &ad);
}

static int import_common(struct ccp_po *po, const char *data, size_t len, const char *name,
			 const char *und_path, struct ccp_po_result *res, ccp_po_report_fn fn,
			 void *arg, const struct adopt *ad)
{
	struct plan plan = { 0 };
	struct ccp_fpset batch;
	ccp_fpset_init(&batch);
	struct reports rep = { .on = fn != NULL };
	int rc;

	memset(res, 0, sizeof(*res));
	name = name ? name : "(input)";
	pthread_mutex_lock(&po->mu);
	if (po->o.fault.rate > 0 &&
	    (double)(next_rand(po) >> 11) * 0x1.0p-53 < po->o.fault.rate) {
		rc = po->o.fault.code;
		ccp_errf(res->reason, sizeof(res->reason), "%s: %s (fault injected)", po->dir,
			 rc == CCP_PO_LOCKED ? "post office locked by another process"
					: "post office not accessible");
		pthread_mutex_unlock(&po->mu);
		return rc;
	}
	if (lock_po(po->dirfd, &po->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? CCP_PO_LOCKED : CCP_PO_NOT_ACCESSIBLE;
		if (rc == CCP_PO_NOT_ACCESSIBLE)
			res->sys_errno = errno; /* the post office's, as below */
		ccp_errf(res->reason, sizeof(res->reason), "%s: %s", po->dir,
			 rc == CCP_PO_LOCKED ? "post office locked by another import"
					: "cannot lock the post office");
		pthread_mutex_unlock(&po->mu);
		return rc;
	}
	if (po->o.fault.delay_ms) {
		struct timespec ts = { po->o.fault.delay_ms / 1000,
				       (long)(po->o.fault.delay_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (po->o.locked_hook)
		po->o.locked_hook(po->o.locked_hook_arg);
	rc = recover(po->dirfd, po->mboxfd, po->storefd, po->o.sync, po->dir, res->reason,
		     sizeof(res->reason));
	if (!rc)
		rc = catch_up(po, res->reason, sizeof(res->reason));
	if (rc) {
		/* Finishing an earlier import, or reading the log, failed: the
		 * post office's disk, never this batch, so the caller learns
		 * which errno (a relay postpones on a failing disk rather than
		 * count an attempt against the messages). */
		if (rc == CCP_PO_NOT_ACCESSIBLE)
			res->sys_errno = errno;
		goto out;
	}
	maybe_rotate(po);

	ccp_ccm_buf_init(&rep.str);
	time_t now = time(NULL);
	for (;;) {
		ccp_ccm_buf_reset(&po->store);
		ccp_ccm_buf_reset(&po->keys);
		ccp_ccm_buf_reset(&po->logbuf);
		ccp_ccm_buf_reset(&po->und);
		ccp_ccm_buf_reset(&rep.str);
		rep.n = 0;
		plan.n = 0;
		ccp_fpset_clear(&batch);
		memset(res, 0, sizeof(*res));
		if (plan_import(po, data, len, name, &plan, &batch, res, &rep, now, ad != NULL))
			break;
		ad = NULL; /* not the writer's own output: copy it */
	}
	if (res->messages == 0) {
		/* Undeliverable, so the input goes to the .und file with the
		 * reason, as 5 promises: an empty file, or blank lines. */
		ccp_errf(res->reason, sizeof(res->reason), "%s: no message in the input", name);
		rc = CCP_PO_UNDELIVERABLE;
		ccp_ccm_buf_reset(&po->und);
		und_add(po, res->reason, data, len);
		if (und_path && write_und(und_path, &po->und, po->o.sync) != 0)
			ccp_log(CCP_LOG_ERROR, "%s: cannot write the undeliverable input: %s",
				und_path, strerror(errno));
		goto out;
	}
	off_t log_at = po->indexed;
	rc = commit(po, &plan, ad, res->reason, sizeof(res->reason), &res->sys_errno, &log_at);
	if (rc) {
		res->delivered = res->skipped = 0;
		goto out;
	}
	res->delivered = plan.n;
	/* Committed: the batch joins the index, and its lines count as
	 * folded when they begin where the index ended (catch_up() folded the
	 * whole log, under the lock; were they not, it reads them next time). */
	/* In the log's order, not the batch set's nor the commit's (by
	 * mailbox): the window drops its oldest pairs when full, so a batch
	 * larger than its room must come in oldest first, or the pairs it
	 * drops are any of the batch's, the newest among them, and a handle
	 * kept open would forget a pair sooner than one that reads the log. */
	for (size_t i = 0; i < plan.n; i++)
		ccp_fpwindow_add(&po->index, plan.fp[i]);
	if (log_at == po->indexed)
		po->indexed += (off_t)po->logbuf.len;
	if (res->undeliverable) {
		rc = CCP_PO_UNDELIVERABLE;
		if (und_path && write_und(und_path, &po->und, po->o.sync) != 0)
			ccp_log(CCP_LOG_ERROR, "%s: cannot write undeliverable messages: %s (they "
				"are recorded in %s/" LOG ")", und_path, strerror(errno), po->dir);
	}
out:
	unlock_po(po->dirfd, po->lockfd);
	pthread_mutex_unlock(&po->mu);
	/* Only a committed import has outcomes to report (and only a caller
	 * that asked, fn, has any recorded: rep.on). */
	if (fn != NULL && (rc == CCP_PO_OK || rc == CCP_PO_UNDELIVERABLE))
		for (size_t i = 0; i < rep.n; i++)
			fn(arg, rep.str.data + rep.r[i].key_off, rep.r[i].key_len, rep.r[i].outcome,
			   rep.str.data + rep.r[i].reason_off);
	ccp_free(rep.r);
	ccp_ccm_buf_free(&rep.str);
	ccp_free(plan.d);
	ccp_free(plan.fp);
	ccp_fpset_free(&batch);
	return rc;
}

int ccp_po_import_file(struct ccp_po *po, const char *path, struct ccp_po_result *res)
{
	return ccp_po_import_file_report(po, path, res, NULL, NULL);
}

int ccp_po_import_file_report(struct ccp_po *po, const char *path, struct ccp_po_result *res,
			      ccp_po_report_fn fn, void *arg)
{
	struct ccp_ccm_buf data, und;
	ccp_ccm_buf_init(&data);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ccp_ccm_buf_read_fd(&data, fd) != 0) {
		memset(res, 0, sizeof(*res));
		ccp_errf(res->reason, sizeof(res->reason), "%s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		ccp_ccm_buf_free(&data);
		return CCP_PO_NOT_ACCESSIBLE;
	}
	close(fd);
	ccp_ccm_buf_init(&und);
	size_t n = strlen(path);
	if (n > 4 && strcasecmp(path + n - 4, ".ccm") == 0)
		ccp_ccm_buf_add(&und, path, n - 4);
	else
		ccp_ccm_buf_add(&und, path, n);
	ccp_ccm_buf_adds(&und, ".und");
	int rc = ccp_po_import_report(po, data.data ? data.data : "", data.len, path, und.data, res,
				      fn, arg);
	ccp_ccm_buf_free(&und);
	ccp_ccm_buf_free(&data);
	return rc;
}

/* ---- stats ---------------------------------------------------------------------- */

/* A reader without a handle (stats, a mailbox): it holds po.lock, waiting
 * for a running import, and has finished an interrupted one. */
struct po_view {
	int dirfd, lockfd, mboxfd, storefd;
	struct po_conf conf;
};

static void view_close(struct po_view *v)
{
	int *fds[] = { &v->lockfd, &v->mboxfd, &v->storefd, &v->dirfd };
	for (size_t i = 0; i < 4; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

static int view_open(const char *dir, struct po_view *v, char *err, size_t cap)
{
	v->lockfd = v->mboxfd = v->storefd = v->dirfd = -1;
	int rc = open_po_dir(dir, &v->dirfd, &v->conf, err, cap);
	if (rc)
		return rc;
	v->lockfd = open_po_lock(v->dirfd);
	v->mboxfd = openat(v->dirfd, "mailboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	v->storefd = openat(v->dirfd, STORE, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (v->lockfd < 0 || v->mboxfd < 0 || v->storefd < 0 ||
	    lock_po(v->dirfd, &v->lockfd, LOCK_EX) != 0) {
		ccp_errf(err, cap, "%s: post office not accessible: %s", dir, strerror(errno));
		rc = CCP_PO_NOT_ACCESSIBLE;
	} else {
		rc = recover(v->dirfd, v->mboxfd, v->storefd, true, dir, err, cap);
	}
	if (rc)
		view_close(v);
	return rc;
}

/* view_open(), then reads mailboxes/NAME into B, which it initialises; on
 * failure the view is closed and B freed. */
static int view_read(const char *dir, struct po_view *v, const char *name, struct ccp_ccm_buf *b,
		     char *err, size_t cap)
{
	ccp_ccm_buf_init(b);
	int rc = view_open(dir, v, err, cap);
	if (rc)
		return rc;
	if (ccp_ccm_buf_read_at(b, v->mboxfd, name) != 0) {
		int e = errno;
		ccp_errf(err, cap, "%s/mailboxes/%s: cannot read: %s", dir, name, strerror(e));
		view_close(v);
		ccp_ccm_buf_free(b);
		errno = e;
		return CCP_PO_NOT_ACCESSIBLE;
	}
	return 0;
}

/*
 * A mailbox line "STORE OFFSET LENGTH KEY" (P up to NL): the store file's
 * name into SN, its plain name (no '/', no leading '.'); the offset and
 * length as written, digits only.  sscanf's %zu would take "-1" for
 * SIZE_MAX, and a damaged reference must be refused, not read.
 */
static bool parse_ref(const char *p, const char *nl, char sn[32], uint64_t *off, uint64_t *len)
{
	const char *sp = memchr(p, ' ', (size_t)(nl - p));
	if (!sp || sp == p || sp - p >= 32 || p[0] == '.' || memchr(p, '/', (size_t)(sp - p)))
		return false;
	memcpy(sn, p, (size_t)(sp - p));
	sn[sp - p] = '\0';
	p = plain_number(sp + 1, off);
	if (!p || *p != ' ')
		return false;
	p = plain_number(p + 1, len);
	return p && (p == nl || *p == ' ');
}

int ccp_po_mailbox_read(const char *dir, const char *name, struct ccp_ccm_buf *out, char *err,
			size_t cap)
{
	struct po_view v;
	if (!name[0] || name[0] == '.' || strchr(name, '/')) {
		ccp_errf(err, cap, "%s: '%s' is not a mailbox name", dir, name);
		errno = ENOENT;
		return CCP_PO_NOT_ACCESSIBLE;
	}
	struct ccp_ccm_buf idx;
	int rc = view_read(dir, &v, name, &idx, err, cap);
	if (rc)
		return rc;
	/* The lock only while the mailbox is read, as stats lets go after its
	 * snapshot: an import that found it held would answer 4 and be tried
	 * again as an attempt, for as long as a big mailbox takes to read.
	 * What idx holds is committed (recovery ran under the lock), and a
	 * committed reference names octets no import moves: the store is only
	 * appended to, and an undo cuts back to lengths at or past every
	 * committed reference's end. */
	unlock_po(v.dirfd, v.lockfd);
	/* "STORE OFFSET LENGTH KEY\n" per message; the store file stays open
	 * while consecutive lines name it. */
	char open_name[32] = "";
	int sfd = -1;
	struct stat ss = { 0 };
	unsigned lineno = 0;
	const char *p = idx.data, *end = p + idx.len;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char sn[32];
		uint64_t off, len;
		lineno++;
		if (!nl || !parse_ref(p, nl, sn, &off, &len)) {
			ccp_errf(err, cap, "%s/mailboxes/%s: line %u: not a message reference", dir, name,
				 lineno);
			rc = CCP_PO_MISCONFIGURED;
			break;
		}
		if (strcmp(sn, open_name) != 0) {
			if (sfd >= 0)
				close(sfd);
			snprintf(open_name, sizeof(open_name), "%s", sn);
			sfd = openat(v.storefd, sn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (sfd < 0 || fstat(sfd, &ss) != 0) {
				ccp_errf(err, cap, "%s/" STORE "/%s: cannot read: %s", dir, sn, strerror(errno));
				rc = CCP_PO_NOT_ACCESSIBLE;
				break;
			}
		}
		/* Each compared on its own: off + len could wrap. */
		if (len > (uint64_t)ss.st_size || off > (uint64_t)ss.st_size - len) {
			ccp_errf(err, cap, "%s/mailboxes/%s: line %u: points past the end of " STORE "/%s",
				 dir, name, lineno, sn);
			rc = CCP_PO_MISCONFIGURED;
			break;
		}
		ccp_ccm_buf_reserve(out, (size_t)len);
		ssize_t r = ccp_pread_full(sfd, out->data + out->len, (size_t)len, (off_t)off);
		if (r < 0 || (uint64_t)r != len) {
			ccp_errf(err, cap, "%s/" STORE "/%s: cannot read: %s", dir, sn,
				 r < 0 ? strerror(errno) : "cut short");
			rc = CCP_PO_NOT_ACCESSIBLE;
			break;
		}
		out->len += (size_t)len;
		out->data[out->len] = '\0';
		p = nl + 1;
	}
	if (sfd >= 0)
		close(sfd);
	ccp_ccm_buf_free(&idx);
	view_close(&v);
	return rc;
}

/* One pass over delivery.log: every pair and key seen, as fingerprints
 * counted within a memory bound (fpcount.h).  The first error of a count
 * goes to err and stops the counting; it is reported after the pass. */
struct stats_pass {
	struct ccp_po_stats *st;
	struct ccp_fpcount pairs, keys;
	bool failed;
	char *err;
	size_t cap;
};

static void stats_line(void *ctx, const char *p, size_t n)
{
	struct stats_pass *sp = ctx;
	const char *pair;
	size_t len, klen;
	switch (log_pair(p, n, &pair, &len, &klen)) {
	case 'D':
		/* A duplicate delivery is a D line whose pair came before:
		 * delivered minus distinct pairs, worked out after the pass. */
		sp->st->delivered++;
		if (!sp->failed &&
		    (ccp_fpcount_add(&sp->keys, ccp_fp_of(pair, klen), sp->err, sp->cap) ||
		     ccp_fpcount_add(&sp->pairs, ccp_fp_of(pair, len), sp->err, sp->cap)))
			sp->failed = true;
		break;
	case 'S':
		sp->st->skipped_duplicates++;
		break;
	case 'U':
		sp->st->undeliverable++;
		break;
	}
}

int ccp_po_stats(const char *dir, struct ccp_po_stats *st, char *err, size_t cap)
{
	return ccp_po_stats_with(dir, NULL, st, err, cap);
}

int ccp_po_stats_with(const char *dir, const struct ccp_po_stats_opts *opts,
		      struct ccp_po_stats *st, char *err, size_t cap)
{
	size_t memory = opts && opts->memory ? opts->memory : CCP_PO_STATS_MEMORY;
	const char *tmp_dir = opts ? opts->tmp_dir : NULL;
	struct po_view v;
	memset(st, 0, sizeof(*st));
	int rc = view_open(dir, &v, err, cap);
	if (rc)
		return rc;
	st->dedup_window = v.conf.dedup_window;
	struct stats_pass sp = { .st = st, .err = err, .cap = cap };
	/* Pairs outnumber keys (a key has a pair per recipient): three
	 * quarters of the bound for them. */
	ccp_fpcount_init(&sp.pairs, memory / 4 * 3, tmp_dir);
	ccp_fpcount_init(&sp.keys, memory / 4, tmp_dir);
	struct ccp_ccm_buf b;
	ccp_ccm_buf_init(&b);
	/* Under the lock, a snapshot: the rotated segments, oldest first, with
	 * their inodes (a segment with delivery.log's inode is a rotation cut
	 * short: the same file), delivery.log open to its present length, and
	 * the mailboxes counted.  Then the lock goes, and the files are read:
	 * the log only grows past the snapshot, and a rotation renames the
	 * file we hold.  The segments are opened one at a time, each checked
	 * to be the file listed (one removed since is not read): there may be
	 * more of them than the process may hold open.  The relay's imports,
	 * which take the lock, wait for the snapshot only, not for the whole
	 * count (seconds on ten million deliveries): an import that found it
	 * locked would be retried as an attempt. */
	struct stat cst;
	int fd = openat(v.dirfd, LOG, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &cst) != 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", dir, strerror(errno));
		rc = CCP_PO_NOT_ACCESSIBLE;
	}
	unsigned *segs = NULL;
	ssize_t listed = rc ? 0 : list_segments(v.dirfd, false, &segs);
	if (listed < 0) {
		ccp_errf(err, cap, "%s: cannot list the log's segments: %s", dir, strerror(errno));
		rc = CCP_PO_NOT_ACCESSIBLE;
		listed = 0;
	}
	size_t nseg = (size_t)listed, nread = 0;
	ino_t *inos = ccp_malloc((nseg ? nseg : 1) * sizeof(*inos));
	for (size_t i = 0; i < nseg && !rc; i++) {
		struct stat sst;
		int sfd;
		int o = open_segment(v.dirfd, segs[i], cst.st_ino, &sfd, &sst);
		inos[i] = o > 0 ? sst.st_ino : 0; /* 0: not to be read */
		if (o > 0)
			close(sfd);
		if (o < 0) {
			segment_error(err, cap, dir, segs[i]);
			rc = CCP_PO_NOT_ACCESSIBLE;
		}
	}
	if (!rc) {
		int mfd = openat(v.mboxfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = mfd < 0 ? NULL : fdopendir(mfd);
		if (d == NULL) {
			ccp_errf(err, cap, "%s/mailboxes: cannot list: %s", dir, strerror(errno));
			if (mfd >= 0)
				close(mfd);
			rc = CCP_PO_NOT_ACCESSIBLE;
		} else {
			struct dirent *e;
			errno = 0;
			while ((e = readdir(d)))
				if (e->d_name[0] != '.')
					st->mailboxes++;
			if (errno) {
				ccp_errf(err, cap, "%s/mailboxes: cannot list: %s", dir,
					 strerror(errno));
				rc = CCP_PO_NOT_ACCESSIBLE;
			}
			closedir(d);
		}
	}
	unlock_po(v.dirfd, v.lockfd);
	for (size_t i = 0; i < nseg && !rc; i++) {
		int sfd = -1;
		int o = inos[i] ? reopen_segment(v.dirfd, segs[i], cst.st_ino, inos[i], &sfd) : 0;
		if (o > 0 && for_each_line(sfd, -1, &b, stats_line, &sp) < 0)
			o = -1;
		if (o < 0) {
			segment_error(err, cap, dir, segs[i]);
			rc = CCP_PO_NOT_ACCESSIBLE;
		}
		if (sfd >= 0)
			close(sfd);
		nread += o > 0;
	}
	ccp_free(inos);
	ccp_free(segs);
	st->log_segments = nread; /* not a cut-short rotation's link to delivery.log */
	if (!rc && for_each_line(fd, cst.st_size, &b, stats_line, &sp) < 0) {
		ccp_errf(err, cap, "%s/" LOG ": cannot read: %s", dir, strerror(errno));
		rc = CCP_PO_NOT_ACCESSIBLE;
	}
	if (fd >= 0)
		close(fd);
	uint64_t pairs = 0;
	if (!rc && (sp.failed || ccp_fpcount_finish(&sp.keys, &st->distinct_keys, err, cap) ||
		    ccp_fpcount_finish(&sp.pairs, &pairs, err, cap)))
		rc = CCP_PO_NOT_ACCESSIBLE;
	st->duplicate_deliveries = rc ? 0 : st->delivered - pairs;
	st->spill_runs = ccp_fpcount_runs(&sp.pairs) + ccp_fpcount_runs(&sp.keys);
	ccp_fpcount_free(&sp.pairs);
	ccp_fpcount_free(&sp.keys);
	ccp_ccm_buf_free(&b);
	if (rc)
		st->mailboxes = 0;
	view_close(&v);
	return rc;
}

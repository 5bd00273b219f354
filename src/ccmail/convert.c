/*
 * convert.c: RFC 5322/MIME -> cc:Mail Import, the connector's outbound step.
 *
 * One pass: GMime parses the message once; we read From/To/Cc/Bcc, Subject
 * and Date from the parsed header, then walk the MIME tree once, turning
 * text/plain into Text items, HTML-only bodies into a readable text rendering
 * and everything else into File items.  Every string of the cc:Mail message
 * is built in the post office's code page into a per-context arena, so a
 * conversion allocates (almost) nothing once the context is warm, and the
 * ccm writer then lays the octets out with exact sizes.
 *
 * What the connector refused, we refuse, each with a reason a person can act
 * on: an empty or missing From (KB Q192594: the message stuck in MTS-OUT),
 * address lines over the 4 KB / 160 KB buffer ("Header Buffer Full", KB
 * Q166499, Q266711), and a message with nobody to deliver to.
 */
#define _GNU_SOURCE /* strcasestr() */
#include "ccpump/convert.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccpump/alloc.h"
#include "ccpump/fpset.h"
#include "ccpump/headers.h"
#include "ccpump/log.h"

#define ARENA_BLOCK 65536
#define MAX_DEPTH 64     /* MIME nesting we follow; a message deeper is refused */
#define LIGHT_FIELDS 256 /* header fields the light path reads; more: full parse */

/* ---- address map ----------------------------------------------------------- */

/* Native domains and users, each a hash table from its key (addr_key())
 * to its value.  A post office's user list runs to thousands of lines,
 * and every recipient of every message looks its address up in it: a
 * scan of the lines compared each one.  Written while the map is read in,
 * then only read, by any number of converters at once (a GHashTable
 * lookup writes nothing). */
struct ccp_convert_map {
	GHashTable *native, *user;
};

struct ccp_convert_map *ccp_convert_map_new(void)
{
	struct ccp_convert_map *map = ccp_calloc(1, sizeof(struct ccp_convert_map));
	map->native = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	map->user = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return map;
}

void ccp_convert_map_free(struct ccp_convert_map *map)
{
	if (!map)
		return;
	g_hash_table_destroy(map->native);
	g_hash_table_destroy(map->user);
	ccp_free(map);
}

size_t ccp_convert_map_natives(const struct ccp_convert_map *map)
{
	return g_hash_table_size(map->native);
}

size_t ccp_convert_map_users(const struct ccp_convert_map *map)
{
	return g_hash_table_size(map->user);
}

/* Whether S (UTF-8) holds a format character (Unicode's Cf), which IDNA
 * drops.  Octets that are not UTF-8 are passed over. */
static bool has_format(const char *s)
{
	const char *p = s;
	while (*p) {
		gunichar u = g_utf8_get_char_validated(p, -1);
		if (u >= 0x110000) { /* (gunichar)-1 and -2: not UTF-8 */
			p++;
			continue;
		}
		if (g_unichar_type(u) == G_UNICODE_FORMAT)
			return true;
		p = g_utf8_next_char(p);
	}
	return false;
}

/*
 * Domain DOM (UTF-8) in its ASCII form (IDNA, GLib's g_hostname_to_ascii()):
 * bücher.example is xn--bcher-kva.example.  g_free() it.  NULL where DOM
 * is ASCII already, where IDNA refuses it, where it is a literal ([...]),
 * and where it holds a format character, which IDNA drops: the domain left
 * would be another one.  Where NULL, DOM is the domain's one form.
 */
static char *idna_ascii(const char *dom)
{
	if (*dom == '[' || g_str_is_ascii(dom) || has_format(dom))
		return NULL;
	return g_hostname_to_ascii(dom);
}

/* The local part ADDR[0..n) as the mailbox it names: a quoted string
 * ("jane.roe", as GMime keeps it) without its quotes and backslashes.
 * Freed with g_free(). */
static char *unquoted_local(const char *addr, size_t n)
{
	char *out = g_malloc(n + 1);
	size_t k = 0;
	bool quoted = false;
	for (size_t i = 0; i < n; i++) {
		if (addr[i] == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && addr[i] == '\\' && i + 1 < n)
			i++;
		out[k++] = addr[i];
	}
	out[k] = '\0';
	return out;
}

/*
 * ADDR (user@domain, or a domain alone) as map keys hold it, g_free() it:
 * the domain in its ASCII form (idna_ascii()), the local part as the
 * mailbox it names (unquoted_local()), the whole in ASCII lower case.  A
 * domain has two spellings, bücher.example and xn--bcher-kva.example, and
 * GMime hands over the Unicode one whichever the mail wrote: compared as
 * written, a map line in one spelling missed mail in the other.  A local
 * part has two as well, "jane.roe" and jane.roe, and GMime keeps the
 * quotes: compared as written, the envelope's jane.roe@x.example missed
 * To's "jane.roe"@x.example, while map_mailbox() looks users up unquoted.
 * Keys are in ASCII lower case all through, so that a hash table of them
 * (the map's, add_envelope()'s) tells them apart as strcasecmp() would.
 */
static char *addr_key(const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *dom = at ? at + 1 : addr;
	char *local = at ? unquoted_local(addr, (size_t)(at - addr)) : NULL;
	char *ascii = idna_ascii(dom);
	char *key = g_strconcat(local ? local : "", at ? "@" : "", ascii ? ascii : dom, NULL);
	g_free(local);
	g_free(ascii);
	for (char *d = key; *d; d++)
		*d = g_ascii_tolower(*d);
	return key;
}

/* Adds K, as its key (addr_key()), and V, unless K has a value already:
 * the first line of a key wins, as when the lines were scanned. */
static void pair_add(GHashTable *t, const char *k, const char *v)
{
	char *key = addr_key(k);
	if (g_hash_table_contains(t, key))
		g_free(key);
	else
		g_hash_table_insert(t, key, g_strdup(v));
}

void ccp_convert_map_add_native(struct ccp_convert_map *map, const char *domain, const char *po)
{
	pair_add(map->native, domain, po);
}

void ccp_convert_map_add_user(struct ccp_convert_map *map, const char *addr, const char *ccname)
{
	pair_add(map->user, addr, ccname);
}

/* The value of KEY (a key's ASCII form, in any case), or NULL. */
static const char *pair_find(GHashTable *t, const char *key)
{
	if (g_hash_table_size(t) == 0)
		return NULL;
	char small[256];
	size_t n = strlen(key);
	char *lower = n < sizeof(small) ? small : g_malloc(n + 1);
	for (size_t i = 0; i <= n; i++)
		lower[i] = g_ascii_tolower(key[i]);
	const char *v = g_hash_table_lookup(t, lower);
	if (lower != small)
		g_free(lower);
	return v;
}

/* Splits off the next space-separated word of *s. */
static char *word(char **s)
{
	char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	char *w = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

int ccp_convert_map_load(struct ccp_convert_map *map, const char *path, char **site,
			 char *err, size_t errcap)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t linecap = 0;
	unsigned ln = 0;

	if (!f) {
		snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	/* Whole lines, however long: a line cut in two would make its tail a
	 * line of its own (a long comment's end read as a mapping). */
	while (getline(&line, &linecap, f) >= 0) {
		ln++;
		line[strcspn(line, "\r\n#")] = '\0';
		char *s = line, *kw = word(&s);
		if (!kw)
			continue;
		char *a = word(&s);
		while (*s == ' ' || *s == '\t')
			s++;
		size_t rl = strlen(s);
		while (rl && (s[rl - 1] == ' ' || s[rl - 1] == '\t'))
			s[--rl] = '\0';
		if (strcmp(kw, "native") == 0 && a && *s && !strchr(s, ' ')) {
			ccp_convert_map_add_native(map, a, s);
		} else if (strcmp(kw, "user") == 0 && a && strchr(a, '@') && *s) {
			ccp_convert_map_add_user(map, a, s);
		} else if (strcmp(kw, "site") == 0 && a && !*s) {
			if (site) {
				ccp_free(*site);
				*site = ccp_strdup(a);
			}
		} else {
			snprintf(err, errcap, "%s: line %u: expected 'native DOMAIN PO', "
				 "'user ADDR NAME' or 'site SITE'", path, ln);
			free(line);
			fclose(f);
			return -1;
		}
	}
	int rc = 0;
	if (ferror(f)) {
		snprintf(err, errcap, "%s: line %u: cannot read: %s", path, ln + 1, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/* ---- context --------------------------------------------------------------- */

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	char data[];
};

struct ccp_convert {
	struct ccp_convert_opts o;
	char *site;
	struct ccp_codepage *cp;
	struct arena_block *arena;
	struct ccp_ccm_msg msg;
	struct ccp_ccm_buf u8, tmp; /* UTF-8 scratch, code page scratch */
	GByteArray *dec;            /* decoded part content */
	bool too_deep;              /* walk() met parts below MAX_DEPTH */
	const char **hdr_addrs;     /* addresses seen in To/Cc/Bcc */
	size_t nhdr, chdr;
	/* The message's recipient lines so far, as fingerprints of their
	 * post-office form (add_rcpt()). */
	struct ccp_fpset rcpt_seen;
	/* While build() writes the recipients of a message whose envelope
	 * field names them (opts.envelope_field): their keys (addr_key()),
	 * the only header recipients written; NULL otherwise. */
	GHashTable *only;
	struct ccp_header_field field[LIGHT_FIELDS]; /* the light path's header spans */
	/* A part's spans, while field holds the message's. */
	struct ccp_header_field part_field[LIGHT_FIELDS];
	const char *name;
	struct tm date;
	char stamp[32];
	size_t nfiles;
	/* The message's File item names so far, as fingerprints of their
	 * ASCII upper case (name_taken()), and per prefix and width of ~N
	 * the next ~N to try (suffix_hint()): with a scan of the items and a
	 * count from ~1,
	 * N attachments of one name cost N^3/3 comparisons, minutes for a
	 * message of a few hundred KB. */
	struct ccp_fpset file_names;
	struct ccp_fpmap next_suffix; /* values: unsigned */
	/* File names looked up in file_names over the context's life, for
	 * test_convert: what suffix_hint() saves is lookups, which a test
	 * can count where it could not hold a name to a time. */
	size_t name_lookups;
	struct ccp_convert_stats st;
	/* The full parse's options: its warnings report where a part's
	 * content began without the empty line (on_parser_warning()). */
	GMimeParserOptions *popts;
	struct {
		const char *data; /* the input being parsed */
		size_t len;
		size_t *at, n, cap; /* where content began: an empty line goes there */
		gint64 last;        /* the last line reported, or -1 */
		bool cut;           /* a header ended at a boundary since */
	} slip;
	char err[512];
};

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static bool gmime_up, gmime_down; /* written once each, see below */

static void gmime_start(void)
{
	g_mime_init();
	gmime_up = true;
}

void ccp_convert_shutdown(void)
{
	if (gmime_up) {
		g_mime_shutdown();
		gmime_up = false;
		gmime_down = true;
	}
}

void ccp_convert_opts_default(struct ccp_convert_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->site = "EXSITE";
	o->codepage = CCP_CP437;
	o->addr_buffer = CCP_CCM_ADDR_BUFFER_SMALL;
	o->spool_id = true;
	o->import8 = true;
}

/*
 * GMime's parser reads a part's header up to its first empty line, or to a
 * boundary line, and drops each line that is no field: a part whose writer
 * left out the empty line before its content (a script's multipart, a
 * forwarded message whose header was cut from its body) lost its content
 * without a word.  Each such line is reported (GMIME_CRIT_INVALID_HEADER_
 * NAME, at the line's offset), and so is a header a boundary ended
 * (GMIME_WARN_PART_WITHOUT_CONTENT).  The first reported line of a header
 * that is no field by ccp_headers_block()'s rule, nor a fold, is where its
 * content began, as an MTA would have read it; the next such line is of
 * another header when a boundary or an empty line came between.
 * convert_full() parses again with an empty line before each.
 */
static void on_parser_warning(gint64 offset, GMimeParserWarning e, const gchar *item, gpointer arg)
{
	(void)item;
	struct ccp_convert *c = arg;
	if (e == GMIME_WARN_PART_WITHOUT_CONTENT) {
		c->slip.cut = true;
		return;
	}
	/* Reported in the order of the input: one after the last is new. */
	if (e != GMIME_CRIT_INVALID_HEADER_NAME || offset <= 0 || offset <= c->slip.last ||
	    (size_t)offset >= c->slip.len)
		return;
	const char *d = c->slip.data, *p = d + offset;
	const char *eol = memchr(p, '\n', c->slip.len - (size_t)offset);
	if (p[-1] != '\n' || eol == NULL || p[0] == ' ' || p[0] == '\t' ||
	    ccp_headers_field_line(p, (size_t)(eol - p)))
		return;
	bool first = c->slip.last < 0 || c->slip.cut;
	for (const char *q = d + c->slip.last; !first && (q = memchr(q, '\n', (size_t)(p - q)));) {
		q++;
		first = q < p && (q[0] == '\n' || (q[0] == '\r' && q + 1 < p && q[1] == '\n'));
	}
	c->slip.last = offset;
	c->slip.cut = false;
	if (!first)
		return;
	if (c->slip.n == c->slip.cap) {
		c->slip.cap = c->slip.cap ? 2 * c->slip.cap : 8;
		c->slip.at = ccp_realloc(c->slip.at, c->slip.cap * sizeof(*c->slip.at));
	}
	c->slip.at[c->slip.n++] = (size_t)offset;
}

struct ccp_convert *ccp_convert_new(const struct ccp_convert_opts *o)
{
	pthread_once(&gmime_once, gmime_start);
	/* pthread_once cannot run twice: GMime is gone for good. */
	if (gmime_down)
		ccp_panic("ccp_convert_new() after ccp_convert_shutdown()");
	struct ccp_codepage *cp = ccp_codepage_open(o->codepage);
	if (!cp)
		return NULL;
	struct ccp_convert *c = ccp_calloc(1, sizeof(*c));
	c->o = *o;
	c->site = ccp_strdup(o->site && *o->site ? o->site : "EXSITE");
	c->o.site = c->site;
	c->cp = cp;
	ccp_ccm_msg_init(&c->msg);
	ccp_ccm_buf_init(&c->u8);
	ccp_ccm_buf_init(&c->tmp);
	c->dec = g_byte_array_new();
	ccp_fpset_init(&c->file_names);
	ccp_fpset_init(&c->rcpt_seen);
	ccp_fpmap_init(&c->next_suffix, sizeof(unsigned));
	c->popts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(c->popts, on_parser_warning, c);
	return c;
}

static void arena_reset(struct ccp_convert *c)
{
	/* Keep one ordinary block for the next message; free the rest. */
	struct arena_block *b = c->arena, *keep = NULL;
	while (b) {
		struct arena_block *n = b->next;
		if (!keep && b->cap == ARENA_BLOCK) {
			keep = b;
			keep->used = 0;
			keep->next = NULL;
		} else {
			ccp_free(b);
		}
		b = n;
	}
	c->arena = keep;
}

void ccp_convert_free(struct ccp_convert *c)
{
	if (!c)
		return;
	arena_reset(c);
	ccp_free(c->arena);
	ccp_codepage_close(c->cp);
	ccp_ccm_msg_free(&c->msg);
	ccp_ccm_buf_free(&c->u8);
	ccp_ccm_buf_free(&c->tmp);
	g_byte_array_unref(c->dec);
	ccp_fpset_free(&c->file_names);
	ccp_fpset_free(&c->rcpt_seen);
	ccp_fpmap_free(&c->next_suffix);
	ccp_free(c->hdr_addrs);
	ccp_free(c->site);
	g_mime_parser_options_free(c->popts);
	ccp_free(c->slip.at);
	ccp_free(c);
}

static char *arena_alloc(struct ccp_convert *c, size_t n)
{
	struct arena_block *b = c->arena;
	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
		b = ccp_malloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		b->next = c->arena;
		c->arena = b;
	}
	char *p = b->data + b->used;
	b->used += n + 1;
	p[n] = '\0';
	return p;
}

static const char *arena_dup(struct ccp_convert *c, const void *p, size_t n)
{
	char *d = arena_alloc(c, n);
	if (n)
		memcpy(d, p, n);
	return d;
}

struct ccp_codepage *ccp_convert_codepage(struct ccp_convert *c)
{
	return c->cp;
}

const char *ccp_convert_error(const struct ccp_convert *c)
{
	return c->err;
}

const char *ccp_convert_status_name(enum ccp_convert_status s)
{
	switch (s) {
	case CCP_CONVERT_OK: return "ok";
	case CCP_CONVERT_ERR_IO: return "unreadable";
	case CCP_CONVERT_ERR_PARSE: return "not a message";
	case CCP_CONVERT_ERR_NO_FROM: return "no From";
	case CCP_CONVERT_ERR_NO_RCPT: return "no recipient";
	case CCP_CONVERT_ERR_HEADER_FULL: return "Header Buffer Full";
	}
	return "unknown";
}

void ccp_convert_last_stats(const struct ccp_convert *c, struct ccp_convert_stats *s)
{
	*s = c->st;
}

__attribute__((format(printf, 3, 4)))
static enum ccp_convert_status refuse(struct ccp_convert *c, enum ccp_convert_status st,
				      const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof(c->err), "%s: refused: ", c->name);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(c->err))
		vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return st;
}

/* ---- encoded words -------------------------------------------------------------- */

/* The end of the encoded word at P ("=?charset?E?text?=", RFC 2047), past
 * its "?=", with *ENC its encoding letter and [*TEXT, *TEND) its text;
 * NULL when P starts none. */
static const char *encoded_word(const char *p, char *enc, const char **text, const char **tend)
{
	if (p[0] != '=' || p[1] != '?')
		return NULL;
	const char *q = p + 2;
	while (*q && *q != '?' && *q != ' ' && *q != '\t')
		q++;
	if (q == p + 2 || q[0] != '?' || !q[1] || q[2] != '?')
		return NULL;
	*enc = q[1];
	*text = q + 3;
	const char *e = strstr(*text, "?=");
	if (e == NULL || memchr(*text, ' ', (size_t)(e - *text)) != NULL)
		return NULL;
	*tend = e;
	return e + 2;
}

/* The '=' an unpadded base64 text of N characters lacks (0 for a whole
 * one, and for one of a length no padding mends). */
static size_t b64_padding(size_t n)
{
	return n % 4 == 2 ? 2 : n % 4 == 3 ? 1 : 0;
}

/* Appends the octets of the base64 text [T, TE) of an encoded word to OUT,
 * its missing padding supplied. */
static void add_b64_octets(struct ccp_ccm_buf *out, const char *t, const char *te)
{
	size_t len = (size_t)(te - t), pad = b64_padding(len);
	char *b64 = g_malloc(len + pad + 1);
	memcpy(b64, t, len);
	memcpy(b64 + len, "==", pad);
	b64[len + pad] = '\0';
	gsize n = 0;
	guchar *octets = g_base64_decode(b64, &n);
	ccp_ccm_buf_add(out, octets, n);
	g_free(octets);
	g_free(b64);
}

/* Whether the encoded word at Q (its text from QT) is base64 in the
 * charset of the one at P (its text from PT), named in any case. */
static bool b64_in_charset_of(const char *p, const char *pt, const char *q, char qenc,
			      const char *qt)
{
	size_t cs = (size_t)(pt - 3 - (p + 2)); /* "=?CHARSET?B?" */
	return (qenc == 'B' || qenc == 'b') && (size_t)(qt - 3 - (q + 2)) == cs &&
	       g_ascii_strncasecmp(p + 2, q + 2, cs) == 0;
}

/*
 * V with each base64 encoded word that ends in padding ('=') and is
 * followed, across blanks only, by another encoded word rewritten (g_free
 * it); NULL when V has none.  GMime joins the texts of adjacent base64
 * words of one charset before decoding them, and a decode stops at the
 * first word's padding: "=?UTF-8?B?...bw==?= =?UTF-8?B?...?=" (a long
 * subject, name or file name split as mailers split them) lost all of its
 * second word without a word.  A run of base64 words of its charset
 * becomes one base64 word of their octets, so that a character split
 * between two of them is whole again; before any other word it becomes
 * the same octets in Q, which is not joined to a base64 one.  And a base64
 * word that lacks its padding, with no word after it, gets it.
 */
static char *unjoin_padded_words(const char *v)
{
	/* Our buffer, not GLib's GString or GByteArray: with GLib 2.74 their
	 * headers come from its slice allocator, whose hand-over between
	 * threads ThreadSanitizer cannot see (GLib is not instrumented), and
	 * every converter thread runs this. */
	struct ccp_ccm_buf out, run;
	bool any = false;
	ccp_ccm_buf_init(&out);
	ccp_ccm_buf_init(&run);
	const char *copied = v;
	for (const char *p = strstr(v, "=?"); p; p = strstr(p + 1, "=?")) {
		char enc;
		const char *text, *tend;
		const char *end = encoded_word(p, &enc, &text, &tend);
		if (end == NULL || (enc != 'B' && enc != 'b') || tend == text)
			continue;
		const char *next = end + strspn(end, " \t\r\n");
		char e2;
		const char *t2, *te2;
		const char *next_end = encoded_word(next, &e2, &t2, &te2);
		size_t pad = b64_padding((size_t)(tend - text));
		if (next_end == NULL && pad) {
			/* A word without its padding ("=?utf-8?B?w6k?=", from a
			 * few encoders): GMime's decode dropped its last
			 * character.  Padded here; one followed by another word
			 * is left to GMime, which joins them, as encoders that
			 * split one base64 text across words need. */
			any = true;
			ccp_ccm_buf_add(&out, copied, (size_t)(tend - copied));
			ccp_ccm_buf_add(&out, "==", pad);
			ccp_ccm_buf_adds(&out, "?=");
			copied = end;
			p = end - 1;
			continue;
		}
		if (tend[-1] != '=' || next_end == NULL)
			continue;
		any = true;
		/* The word's octets, and those of the base64 words of its
		 * charset that follow it across blanks: a run of them is one
		 * word of all their octets, which GMime decodes whole, a
		 * character split between two words too ("caf\xC3" and "\xA9
		 * au lait": "café au lait", where two words each decoded alone
		 * were "caf??"). */
		ccp_ccm_buf_reset(&run);
		add_b64_octets(&run, text, tend);
		const char *run_end = end;
		while (next_end && b64_in_charset_of(p, text, next, e2, t2)) {
			add_b64_octets(&run, t2, te2);
			run_end = next_end;
			next = run_end + strspn(run_end, " \t\r\n");
			next_end = encoded_word(next, &e2, &t2, &te2);
		}
		if (run_end != end) {
			ccp_ccm_buf_add(&out, copied, (size_t)(text - copied)); /* "=?charset?B?" */
			char *b64 = g_base64_encode((const guchar *)run.data, run.len);
			ccp_ccm_buf_adds(&out, b64);
			g_free(b64);
		} else {
			/* Before a word of another kind: the same octets in Q. */
			ccp_ccm_buf_add(&out, copied, (size_t)(text - 2 - copied)); /* "=?charset?" */
			ccp_ccm_buf_adds(&out, "Q?");
			for (size_t i = 0; i < run.len; i++) {
				unsigned char o = (unsigned char)run.data[i];
				if (g_ascii_isalnum(o))
					ccp_ccm_buf_addc(&out, (char)o);
				else
					ccp_ccm_buf_printf(&out, "=%02X", o);
			}
		}
		ccp_ccm_buf_adds(&out, "?=");
		copied = run_end;
		p = run_end - 1;
	}
	char *r = NULL;
	if (any) {
		ccp_ccm_buf_adds(&out, copied);
		r = g_strndup(out.data, out.len);
	}
	ccp_ccm_buf_free(&out);
	ccp_ccm_buf_free(&run);
	return r;
}

/*
 * V, a raw field value, from ISO-2022-JP to UTF-8 where it holds that
 * charset's escape sequences unencoded (g_free it); NULL where it holds
 * none, or iconv refuses it.  Japanese mailers long wrote names and
 * subjects so, outside any encoded word.  GMime left the 7-bit sequences
 * as they were: the "ESC ( B" that ends each run opened a comment in an
 * address field, and every mailbox after it was lost (a message with no
 * other recipient refused); and a Subject showed "$B$3$s(B".  As UTF-8 they
 * are 8-bit text, which GMime and the code page take.
 */
static char *raw_jis_decoded(const char *v)
{
	bool jis = false;
	for (const char *e = strchr(v, '\x1b'); e && !jis; e = strchr(e + 1, '\x1b'))
		jis = (e[1] == '$' && (e[2] == '@' || e[2] == 'B' || (e[2] == '(' && e[3] == 'D'))) ||
		      (e[1] == '(' && (e[2] == 'B' || e[2] == 'J' || e[2] == 'I'));
	if (!jis)
		return NULL;
	return g_convert(v, -1, "UTF-8", "ISO-2022-JP", NULL, NULL, NULL);
}

/* The raw field value V (its encoded words unjoined: words_unjoined())
 * unfolded and decoded, as GMime's header object gives it (g_free it). */
static char *decoded_text(const char *v)
{
	char *unfolded = g_mime_utils_header_unfold(v);
	char *d = g_mime_utils_header_decode_text(NULL, unfolded);
	g_free(unfolded);
	return d;
}

/* V as GMime should read it (unjoin_padded_words(), raw_jis_decoded()), as
 * an arena string: V itself when it needs nothing. */
static const char *words_unjoined(struct ccp_convert *c, const char *v)
{
	if (v == NULL)
		return v;
	char *jis = raw_jis_decoded(v);
	const char *in = jis ? jis : v;
	char *fixed = strstr(in, "=?") ? unjoin_padded_words(in) : NULL;
	const char *d = fixed ? arena_dup(c, fixed, strlen(fixed))
			: jis ? arena_dup(c, jis, strlen(jis)) : v;
	g_free(fixed);
	g_free(jis);
	return d;
}

/* The raw value of OBJ's (a message or a part) first field NAME, NULL when none. */
static const char *full_raw(GMimeObject *obj, const char *name)
{
	GMimeHeader *f = g_mime_header_list_get_header(g_mime_object_get_header_list(obj), name);
	return f ? g_mime_header_get_raw_value(f) : NULL;
}

/*
 * The file name of a part whose fields have the raw values RAW_DISP and
 * RAW_TYPE (NULL: none), given NAME as its parsed fields give it (the
 * disposition's filename, else the type's name): where the field it came
 * from has encoded words, or raw ISO-2022-JP (words_unjoined()), that
 * field is parsed again from its raw text, unfolded and unjoined, whose
 * parameter parser decodes each value's words on their own.  The field's value decoded
 * first as a whole (GMime's header object, and the light path as it)
 * made a '"' an encoded word held end the quoted value: filename=
 * "=?utf-8?Q?c=22d.pdf?=" was "c", its extension lost.
 */
static const char *raw_file_name(struct ccp_convert *c, const char *raw_disp,
				 const char *raw_type, const char *name)
{
	const char *raw = raw_disp;
	bool disposition = raw && strcasestr(raw, "filename");
	if (!disposition)
		raw = raw_type;
	const char *fixed = words_unjoined(c, raw);
	if (fixed == raw && (raw == NULL || strstr(raw, "=?") == NULL))
		return name;
	char *text = g_mime_utils_header_unfold(fixed);
	const char *fn = NULL;
	GObject *parsed;
	if (disposition) {
		GMimeContentDisposition *d = g_mime_content_disposition_parse(NULL, text);
		fn = d ? g_mime_content_disposition_get_parameter(d, "filename") : NULL;
		parsed = d ? G_OBJECT(d) : NULL;
	} else {
		GMimeContentType *ct = g_mime_content_type_parse(NULL, text);
		fn = ct ? g_mime_content_type_get_parameter(ct, "name") : NULL;
		parsed = ct ? G_OBJECT(ct) : NULL;
	}
	const char *r = fn && *fn ? arena_dup(c, fn, strlen(fn)) : name;
	if (parsed)
		g_object_unref(parsed);
	g_free(text);
	return r;
}

/* The file name of the part OBJ, GMime's NAME, by raw_file_name(). */
static const char *full_file_name(struct ccp_convert *c, GMimeObject *obj, const char *name)
{
	return raw_file_name(c, full_raw(obj, "Content-Disposition"), full_raw(obj, "Content-Type"),
			     name);
}

/* ---- strings in the code page ------------------------------------------------ */

/* Appends S (N octets of UTF-8) to OUT in the code page, its '?'
 * counted: every character, as an address needs. */
static void cp_add(struct ccp_convert *c, struct ccp_ccm_buf *out, const char *s, size_t n)
{
	c->st.substitutions += ccp_codepage_from(c->cp, NULL, s, n, out);
}

/* As cp_add(), for text of a header line a person reads: what shows
 * nothing (format characters) is dropped, a space or a line or paragraph
 * separator the code page lacks is a plain space, and a C1 control
 * Windows-1252's character, rather than a '?' (ccp_codepage_text()). */
static void cp_text(struct ccp_convert *c, struct ccp_ccm_buf *out, const char *s, size_t n)
{
	c->st.substitutions += ccp_codepage_text(c->cp, NULL, s, n, out);
}

/*
 * S (*N octets of UTF-8) without its format characters, Unicode's general
 * category Cf: U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+2060
 * WORD JOINER, U+00AD SOFT HYPHEN, U+FEFF, the bidirectional controls
 * (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and their kin.  For a
 * file name, whose 8.3 form (and an 8.3 name's device) is judged in UTF-8
 * before the code page: "re<U+200B>port.pdf" is REPORT.PDF, not a lossy
 * REPORT~1.PDF.  (Text into the code page loses them there,
 * ccp_codepage_text().)  S itself when it has none, else a copy in the
 * arena; *N is set to its length.  Octets that are not UTF-8 stay, for the
 * code page to replace.
 */
static const char *without_format(struct ccp_convert *c, const char *s, size_t *n)
{
	const char *end = s + *n, *p = s;
	while (p < end && (unsigned char)*p < 0x80) /* ASCII has none */
		p++;
	char *d = NULL;
	size_t k = 0;
	while (p < end) {
		gunichar u = g_utf8_get_char_validated(p, (gssize)(end - p));
		bool valid = u < 0x110000; /* (gunichar)-1 and -2: not UTF-8 */
		size_t l = valid ? (size_t)(g_utf8_next_char(p) - p) : 1;
		if (valid && g_unichar_type(u) == G_UNICODE_FORMAT) {
			if (!d) {
				d = arena_alloc(c, *n);
				k = (size_t)(p - s);
				memcpy(d, s, k);
			}
		} else if (d) {
			memcpy(d + k, p, l);
			k += l;
		}
		p += l;
	}
	if (!d)
		return s;
	d[k] = '\0';
	*n = k;
	return d;
}

/* Code page text B made fit for a header line, as an arena string: control
 * characters become spaces, and [ ] become ( ) if asked. */
static const char *cp_header(struct ccp_convert *c, struct ccp_ccm_buf *b, bool map_brackets,
			     size_t *outlen)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char ch = (unsigned char)b->data[i];
		if (ch < 0x20 || ch == 0x7f)
			b->data[i] = ' '; /* no control character in a header */
		else if (map_brackets && ch == '[')
			b->data[i] = '(';
		else if (map_brackets && ch == ']')
			b->data[i] = ')';
	}
	*outlen = b->len;
	return arena_dup(c, b->data, b->len);
}

/* Text S (N octets of UTF-8) -> arena string in the code page, without
 * its format characters (cp_text()) and fit for a header line
 * (cp_header()).  Uses c->tmp as scratch. */
static const char *u8_to_cp(struct ccp_convert *c, const char *s, size_t n, bool map_brackets,
			    size_t *outlen)
{
	ccp_ccm_buf_reset(&c->tmp);
	cp_text(c, &c->tmp, s, n);
	return cp_header(c, &c->tmp, map_brackets, outlen);
}

/* Replaces, in B from octet START on, every character of FROM by the one
 * at the same position in TO: ASCII alone, which is itself in the code
 * page. */
static void map_chars(struct ccp_ccm_buf *b, size_t start, const char *from, const char *to)
{
	for (size_t i = start; i < b->len; i++) {
		/* FROM is a few characters: a loop, not a strchr call each. */
		for (size_t k = 0; from[k]; k++) {
			if (from[k] == b->data[i]) {
				b->data[i] = to[k];
				break;
			}
		}
	}
}

static void add_trimmed(struct ccp_ccm_buf *b, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	ccp_ccm_buf_add(b, s, n);
}

/* "First Middle Last" -> "Last, First Middle"; "Doe, John" stays. */
static void native_name(struct ccp_ccm_buf *b, const char *display, const char *local)
{
	if (display && *display) {
		size_t n = strlen(display);
		if (strchr(display, ',')) {
			add_trimmed(b, display, n);
			return;
		}
		while (n && isspace((unsigned char)display[n - 1]))
			n--;
		const char *sp = NULL;
		for (size_t i = 0; i < n; i++)
			if (display[i] == ' ')
				sp = display + i;
		if (!sp) {
			add_trimmed(b, display, n);
			return;
		}
		add_trimmed(b, sp + 1, (size_t)(display + n - sp - 1));
		ccp_ccm_buf_add(b, ", ", 2);
		add_trimmed(b, display, (size_t)(sp - display));
		return;
	}
	/* No display name: "john.doe" -> "Doe, John". */
	size_t n = strlen(local);
	const char *dot = NULL;
	for (size_t i = 0; i < n; i++)
		if (local[i] == '.' || local[i] == '_')
			dot = local + i;
	size_t start = b->len;
	if (dot && dot > local && dot[1]) {
		ccp_ccm_buf_adds(b, dot + 1);
		ccp_ccm_buf_add(b, ", ", 2);
		size_t first = b->len;
		ccp_ccm_buf_add(b, local, (size_t)(dot - local));
		for (size_t i = first; i < b->len; i++)
			if (b->data[i] == '.' || b->data[i] == '_')
				b->data[i] = ' ';
		b->data[first] = (char)toupper((unsigned char)b->data[first]);
	} else {
		ccp_ccm_buf_add(b, local, n);
	}
	b->data[start] = (char)toupper((unsigned char)b->data[start]);
}

/*
 * Display name S (UTF-8; may be NULL) with each NO-BREAK SPACE (U+00A0) a
 * plain space, for a native name.  native_name() splits a name into words
 * at its spaces ("First Last" is "Last, First"), and a cc:Mail user's name
 * has plain ones.  The code page has NO-BREAK SPACE (0xFF in CP437 and
 * CP850), so it came through as itself: "Ann<U+00A0>Lee" was one word,
 * the user "Ann\xffLee", where "Ann Lee" is "Lee, Ann".  The spaces the
 * code page lacks (U+202F NARROW NO-BREAK SPACE...) are plain ones there
 * already (ccp_codepage_text()).  S itself when it has none, else a copy
 * in the arena.
 */
static const char *nbsp_as_space(struct ccp_convert *c, const char *s)
{
	if (!s || !strstr(s, "\xc2\xa0"))
		return s;
	size_t n = strlen(s), k = 0;
	char *d = arena_alloc(c, n);
	for (size_t i = 0; i < n; i++) {
		bool nbsp = s[i] == '\xc2' && s[i + 1] == '\xa0';
		d[k++] = nbsp ? ' ' : s[i];
		i += nbsp; /* the second octet too */
	}
	d[k] = '\0';
	return d;
}

/* White space in a display name, and the control characters a name may
 * carry (a stray DEL, the escapes of ISO-2022-JP that no iconv took), which
 * show as nothing a reader could use: as white space, never "Carol ". */
static bool name_blank(char ch)
{
	return g_ascii_isspace(ch) || g_ascii_iscntrl(ch);
}

/*
 * Display name S (UTF-8; may be NULL) as a name: each run of white space
 * or control characters (a fold's CR LF TAB that GMime keeps, a TAB, a
 * DEL: name_blank()) one space, none at either end, and the single quotes
 * Outlook puts around a name ('Pat Lee') off.
 * Folded as "Pat CRLF TAB Lee", a native name was "Pat   Lee at PO" (its
 * words are parted at spaces alone), a user nobody has; quoted, it was
 * "Lee', 'Pat at PO".  S itself when it needs neither, else a copy in the
 * arena.
 */
static const char *display_as_name(struct ccp_convert *c, const char *s)
{
	if (!s)
		return s;
	size_t n = strlen(s), b = 0;
	while (b < n && name_blank(s[b]))
		b++;
	while (n > b && name_blank(s[n - 1]))
		n--;
	if (n - b >= 2 && s[b] == '\'' && s[n - 1] == '\'') {
		b++, n--;
		while (b < n && name_blank(s[b]))
			b++;
		while (n > b && name_blank(s[n - 1]))
			n--;
	}
	bool plain = b == 0 && s[n] == '\0';
	for (size_t i = b; i < n && plain; i++)
		plain = !name_blank(s[i]) || (s[i] == ' ' && !name_blank(s[i + 1]));
	if (plain)
		return s;
	char *d = arena_alloc(c, n - b);
	size_t k = 0;
	for (size_t i = b; i < n; i++) {
		if (!name_blank(s[i]))
			d[k++] = s[i];
		else if (!name_blank(s[i + 1]))
			d[k++] = ' '; /* a run's last: within b..n, never the end */
	}
	d[k] = '\0';
	return d;
}

/*
 * LOCAL (a local part, unquoted) without its sub-address, g_free() it:
 * "pat.lee+news" is pat.lee's mailbox, the "+news" a tag the MTA delivers
 * to it (Postfix's recipient_delimiter, Exchange's and Gmail's plus
 * addressing).  As a native name it made "Lee+news, Pat", a user nobody
 * has.  NULL when it has none (a local part that begins with '+' is
 * whole).
 */
static char *untagged_local(const char *local)
{
	const char *plus = local && *local ? strchr(local + 1, '+') : NULL;
	return plus ? g_strndup(local, (size_t)(plus - local)) : NULL;
}

/*
 * Name S (UTF-8; may be NULL: a display name, or a local part that names a
 * native user) in the code page, without its format characters
 * (ccp_codepage_text()), as an arena string of *LEN octets; NULL when it
 * names no one there, having no letter and no digit once converted.  A
 * name all in characters the code page lacks ("???" for a CJK name, "?"
 * for a local part in one), empty, of spaces alone (U+2003 EM SPACE,
 * U+00A0 too), of format characters alone (U+200D) or of
 * punctuation names no cc:Mail user and tells a reader of a foreign
 * address nothing: such a name counts as none, for display names and
 * local parts, native and foreign addresses alike.  Judged on the code
 * page's own octets, read back as UTF-8, so "José Müller" (é, ü are in
 * CP437 and CP850) passes.  *LOST is set to the '?' in a name that passes
 * (the characters the code page lacks), for the caller to count if it
 * writes the name: whether it may have any is its to judge.  Uses c->tmp
 * and c->u8 as scratch.
 */
static const char *cp_name(struct ccp_convert *c, const char *s, size_t *len, size_t *lost)
{
	if (s == NULL)
		return NULL;
	ccp_ccm_buf_reset(&c->tmp);
	*lost = ccp_codepage_text(c->cp, NULL, s, strlen(s), &c->tmp);
	bool names = false;
	/* An ASCII letter or digit decides it without the read-back. */
	for (size_t i = 0; i < c->tmp.len && !names; i++)
		names = g_ascii_isalnum(c->tmp.data[i]);
	if (!names) {
		ccp_ccm_buf_reset(&c->u8);
		ccp_codepage_to_utf8(c->cp, c->tmp.data, c->tmp.len, &c->u8);
		for (const char *p = c->u8.data; p < c->u8.data + c->u8.len && !names;
		     p = g_utf8_next_char(p))
			names = g_unichar_isalnum(g_utf8_get_char(p));
	}
	if (!names)
		return NULL;
	*len = c->tmp.len;
	return arena_dup(c, c->tmp.data, c->tmp.len);
}

/* Whether CH may be in an unquoted local part: atext (RFC 5322), '.', or
 * an octet beyond ASCII (RFC 6532). */
static bool local_octet(unsigned char ch)
{
	return g_ascii_isalnum(ch) || ch >= 0x80 || (ch && strchr("!#$%&'*+-/=?^_`{|}~.", ch));
}

/* Whether S is written bare in an address: a dot-atom (RFC 5322 3.2.3,
 * with RFC 6532's non-ASCII octets), or atext whose dots are where a
 * dot-atom has none (taro.@, hanako..y@: quote_dotted_locals()), as the
 * mailboxes' own carriers write them. */
static bool bare_local(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!local_octet((unsigned char)*s))
			return false;
	return true;
}

/* ADDR, whose '@' is AT and whose local part is LOCAL unquoted
 * (unquoted_local()), written with LOCAL where quoting it was needless
 * ("jane.roe"@x is jane.roe@x, RFC 5321 4.1.2 asks for the unquoted
 * form): g_free() it; NULL when ADDR is as it should be written, or its
 * quoted local part needs its quotes ("john smith"). */
static char *needless_quotes_off(const char *addr, const char *at, const char *local)
{
	if (!at || !memchr(addr, '"', (size_t)(at - addr)) || !bare_local(local))
		return NULL;
	return g_strconcat(local, at, NULL);
}

/*
 * Appends ADDR (UTF-8) to OUT as the SMTP gateway is to route it, in the
 * code page: a domain beyond ASCII (bücher.example, or
 * xn--bcher-kva.example, which GMime hands over decoded) in its ASCII
 * form, ASCII (idna_ascii() of it; NULL where it has none other).  Through
 * the code page it was "b\x81cher" or "b?cher", a domain nobody has, and a
 * reply through the gateway could not reach it.  A local part beyond ASCII
 * has no ASCII form (only SMTPUTF8 carries it) and goes through the code
 * page as before.
 */
static void add_smtp_addr(struct ccp_convert *c, struct ccp_ccm_buf *out, const char *addr,
			  const char *ascii)
{
	if (!ascii) {
		cp_add(c, out, addr, strlen(addr));
		return;
	}
	cp_add(c, out, addr, (size_t)(strrchr(addr, '@') + 1 - addr));
	ccp_ccm_buf_adds(out, ascii); /* ASCII, itself in the code page */
}

/* The cc:Mail address of one RFC 5322 mailbox, in the code page.  Each
 * part is converted once, and the parts laid out in the code page: the
 * characters laid out (" at ", the quotes, [SMTP:...]) are ASCII, which is
 * itself there.  *FOREIGN (may be NULL): whether it is a foreign address,
 * "..." [SMTP:...] at SITE, which names its mailbox by the address alone;
 * a native user is named by the display name (or the local part; the local
 * part alone with native_by_address), and a user of the map by the map's
 * line. */
static const char *map_mailbox(struct ccp_convert *c, InternetAddress *ia, size_t *len,
			       bool *foreign)
{
	if (foreign)
		*foreign = false;
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	if (!addr)
		addr = "";
	const struct ccp_convert_map *map = c->o.map;
	const char *at = strrchr(addr, '@');
	/* "boss"@example.org is boss@example.org: a quoted local part names
	 * the same mailbox, for the map and for a native name.  The domain is
	 * looked up in its ASCII form, as the map keeps it (addr_key()), and
	 * written so in [SMTP:...]. */
	char *local = at ? unquoted_local(addr, (size_t)(at - addr)) : NULL;
	char *ascii = at ? idna_ascii(at + 1) : NULL;
	const char *dom = ascii ? ascii : at ? at + 1 : NULL;
	char *plain = local ? g_strconcat(local, "@", dom, NULL) : NULL;
	const char *mapped = map ? pair_find(map->user, plain ? plain : addr) : NULL;
	const char *po = (map && dom) ? pair_find(map->native, dom) : NULL;
	g_free(plain);
	/* A sub-address is its mailbox's: a user line for pat.lee@ names
	 * pat.lee+news@ too, unless the tagged address has a line of its own,
	 * and a native name is the untagged local part's.  (The address in
	 * [SMTP:...] keeps its tag: it is the one to reply to.) */
	char *untagged = untagged_local(local);
	if (untagged && map && !mapped) {
		plain = g_strconcat(untagged, "@", dom, NULL);
		mapped = pair_find(map->user, plain);
		g_free(plain);
	}
	if (mapped) {
		g_free(untagged);
		g_free(local);
		g_free(ascii);
		return u8_to_cp(c, mapped, strlen(mapped), c->o.import8, len);
	}
	/* A display name that names no one ("???") counts as none: the local
	 * part names a native user, the address a foreign one. */
	size_t dl = 0, ll = 0, dlost = 0, llost = 0;
	const char *name = internet_address_get_name(ia);
	name = display_as_name(c, name);
	/* An address for a display name (Outlook writes one for a contact
	 * without a name: "pat.lee@DOMAIN" <pat.lee@DOMAIN>) names no native
	 * user: "pat.lee@DOMAIN at PO" was no user's name.  The local part
	 * names the user. */
	if (po && name && strchr(name, '@'))
		name = NULL;
	const char *display = cp_name(c, po ? nbsp_as_space(c, name) : name, &dl, &dlost);
	/* A native user's name is the name of a mailbox of the post office,
	 * which the address list shows and IMPORT delivers to: the code page
	 * shows it whole or it names no user.  "? Lee" (a given name in CJK)
	 * was "Lee, ? at PO", and a '?' there is noise, or another user's
	 * name; dropping the '?' ("Lee at PO") would name another user, as
	 * like as not.  So a display name the code page shows only in part
	 * counts as none for a native name, and the local part, the
	 * mailbox's own name, names the user ("Lee, Bruce" from bruce.lee),
	 * as when the name shows nothing; a local part shown only in part
	 * names no user either. */
	const char *native_display = po && dlost == 0 && !c->o.native_by_address ? display : NULL;
	const char *native_local =
		po && !native_display ? cp_name(c, untagged ? untagged : local, &ll, &llost) : NULL;
	g_free(untagged);
	if (llost)
		native_local = NULL;
	ccp_ccm_buf_reset(&c->tmp);
	/* A native address without a name to give (""@DOMAIN, or a local
	 * part the code page cannot show: "? at PO" names no user) is written
	 * as a foreign one, the address itself: the reader sees whom it was
	 * for, as far as the code page shows it, where the name would say
	 * nothing. */
	if (po && (native_display || native_local)) {
		g_free(local);
		g_free(ascii);
		native_name(&c->tmp, native_display, native_local);
		ccp_ccm_buf_adds(&c->tmp, " at ");
		cp_add(c, &c->tmp, po, strlen(po));
		return cp_header(c, &c->tmp, c->o.import8, len);
	}
	/* Foreign: "Display; Name" [SMTP:user@domain] at SITE (KB Q179677),
	 * the address standing for a display name there is none of.  A
	 * local part quoted for nothing is written bare: its quotes would
	 * be ' here ("[]\"" cannot be in the line), another address. */
	if (foreign)
		*foreign = true;
	char *bare = needless_quotes_off(addr, at, local);
	g_free(local);
	if (bare)
		addr = bare;
	ccp_ccm_buf_addc(&c->tmp, '"');
	size_t start = c->tmp.len;
	/* A foreign display name the code page shows in part keeps its '?'
	 * ("José ?"): they say that the name has more than the reader sees,
	 * and the address after it names the mailbox. */
	if (display) {
		ccp_ccm_buf_add(&c->tmp, display, dl);
		c->st.substitutions += dlost;
	} else {
		cp_add(c, &c->tmp, addr, strlen(addr));
	}
	map_chars(&c->tmp, start, ",\"[]", ";'()");
	ccp_ccm_buf_adds(&c->tmp, "\" [SMTP:");
	start = c->tmp.len;
	add_smtp_addr(c, &c->tmp, addr, ascii);
	g_free(ascii);
	g_free(bare);
	map_chars(&c->tmp, start, "\"[] ", "'()_");
	ccp_ccm_buf_adds(&c->tmp, "] at ");
	cp_add(c, &c->tmp, c->site, strlen(c->site));
	return cp_header(c, &c->tmp, false, len);
}

static bool mailbox_ok(InternetAddress *ia)
{
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return false;
	const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	return a && *a;
}

/* ADDR's key (addr_key()) as an arena string, for the sets of add_list() and
 * add_envelope(). */
static char *rcpt_key(struct ccp_convert *c, const char *addr)
{
	char *key = addr_key(addr);
	char *d = (char *)arena_dup(c, key, strlen(key));
	g_free(key);
	return d;
}

/*
 * Adds the recipient line A (LEN octets, as map_mailbox() wrote it) unless
 * the message names that mailbox already.  IMPORT delivers each recipient
 * line: two addresses that map to one cc:Mail user (jane@x.example and
 * Jane.Roe@x.example in the user map, or native roe@po and "Roe, Jane"
 * <jroe@po>) made two lines and two copies in her mailbox, and so did a
 * mailbox named in To and again in Cc.  Lines are compared as the post
 * office compares its users (ccp_ccm_rcpt_norm()).  FOREIGN, for a foreign
 * line, is its address: one address under two display names
 * (bob@x.example, "Bob Jones" <Bob@x.example>, as a reply to all writes
 * it) made two lines, "bob@x.example" [SMTP:...] and "Bob Jones"
 * [SMTP:...], two copies to one person, so a foreign line is left out too
 * when its address is there already, compared as the map compares them
 * (addr_key()).  (A native user is named by the display name, so two
 * names at one native address are two users; named by the local part,
 * with native_by_address, they are one line.)  The first one stays, so To
 * before Cc before Bcc before the envelope's.
 */
static void add_rcpt(struct ccp_convert *c, enum ccp_ccm_rcpt_kind kind, const char *foreign,
		     const char *a, size_t len)
{
	char small[256];
	char *norm = len <= sizeof(small) ? small : ccp_malloc(len);
	struct ccp_fp line = ccp_fp_of(norm, ccp_ccm_rcpt_norm(norm, a, len));
	if (norm != small)
		ccp_free(norm);
	bool fresh = ccp_fpset_add(&c->rcpt_seen, line);
	if (foreign) {
		/* In the same set, marked apart from the lines by a first octet
		 * no line holds. */
		char *key = addr_key(foreign);
		size_t klen = strlen(key);
		char *marked = klen < sizeof(small) ? small : ccp_malloc(klen + 1);
		marked[0] = '\001';
		memcpy(marked + 1, key, klen);
		fresh &= ccp_fpset_add(&c->rcpt_seen, ccp_fp_of(marked, klen + 1));
		if (marked != small)
			ccp_free(marked);
		g_free(key);
	}
	if (fresh)
		ccp_ccm_msg_add_rcpt(&c->msg, kind, a, len);
}

/* Calls FN(CTX, IA) for each mailbox IA of L (NULL: none) that names one
 * (mailbox_ok()), in order, a group's members in its place (to a depth of
 * 4). */
static void each_mailbox(InternetAddressList *l, void (*fn)(void *ctx, InternetAddress *ia),
			 void *ctx, int depth)
{
	int n = l ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (depth < 4)
				each_mailbox(internet_address_group_get_members(
						     INTERNET_ADDRESS_GROUP(ia)), fn, ctx, depth + 1);
			continue;
		}
		if (mailbox_ok(ia))
			fn(ctx, ia);
	}
}

/* Appends ADDR to *A (*N of *CAP entries). */
static void push_addr(const char ***a, size_t *n, size_t *cap, const char *addr)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*a = ccp_realloc(*a, *cap * sizeof(**a));
	}
	(*a)[(*n)++] = addr;
}

struct list_add {
	struct ccp_convert *c;
	enum ccp_ccm_rcpt_kind kind;
};

/* add_list()'s step: the recipient line of IA, and its address among the
 * header's (c->hdr_addrs). */
static void add_list_mailbox(void *arg, InternetAddress *ia)
{
	const struct list_add *la = arg;
	struct ccp_convert *c = la->c;
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	if (c->only && !g_hash_table_contains(c->only, rcpt_key(c, addr)))
		return; /* not one this copy was delivered for */
	size_t len;
	bool foreign;
	const char *a = map_mailbox(c, ia, &len, &foreign);
	add_rcpt(c, la->kind, foreign ? addr : NULL, a, len);
	push_addr(&c->hdr_addrs, &c->nhdr, &c->chdr, addr);
}

/* Adds the recipient lines of L's mailboxes as KIND. */
static void add_list(struct ccp_convert *c, InternetAddressList *l, enum ccp_ccm_rcpt_kind kind)
{
	struct list_add la = { .c = c, .kind = kind };
	each_mailbox(l, add_list_mailbox, &la, 0);
}

static InternetAddress *first_mailbox(InternetAddressList *l, int depth)
{
	int n = l ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < 4) {
			InternetAddress *m = first_mailbox(internet_address_group_get_members(
								   INTERNET_ADDRESS_GROUP(ia)), depth + 1);
			if (m)
				return m;
		} else if (mailbox_ok(ia)) {
			return ia;
		}
	}
	return NULL;
}

/* ---- body -------------------------------------------------------------------- */

/* Decodes the content of PART (transfer encoding undone) into c->dec. */
static void decode_part(struct ccp_convert *c, GMimePart *part)
{
	g_byte_array_set_size(c->dec, 0);
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (!w)
		return;
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(c->dec);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	g_mime_data_wrapper_write_to_stream(w, s);
	g_object_unref(s);
}

/* Text in code page octets (c->tmp) -> CRLF lines into c->u8. */
static void crlf_lines(struct ccp_ccm_buf *out, const char *s, size_t n)
{
	ccp_ccm_buf_reset(out);
	/* The worst case, every octet a lone CR or LF, doubles the text, and
	 * a final line end may follow: reserved once, then written through a
	 * local pointer (a call per octet was the converter's largest cost). */
	ccp_ccm_buf_reserve(out, 2 * n + 2);
	char *d = out->data;
	size_t i = 0, end = 0;
	while (i < n) {
		/* A line at a time: its text up to the first CR or LF in one
		 * copy (memchr finds both ends fast), then one CRLF for CRLF, CR
		 * or LF.  The next LF is looked for again only once it is
		 * passed: looked for at every line, text of CR line ends (an
		 * old Mac's, a device's) was read to its end once per line, and
		 * 2 MB of short lines took a minute. */
		if (end < i || i == 0) {
			const char *lf = memchr(s + i, '\n', n - i);
			end = lf ? (size_t)(lf - s) : n;
		}
		const char *cr = memchr(s + i, '\r', end - i);
		size_t stop = cr ? (size_t)(cr - s) : end;
		memcpy(d, s + i, stop - i);
		d += stop - i;
		if (stop == n)
			break;
		*d++ = '\r';
		*d++ = '\n';
		/* A CR directly before the LF is the same line end. */
		i = s[stop] == '\r' && stop + 1 < n && s[stop + 1] == '\n' ? stop + 2 : stop + 1;
	}
	if (d > out->data && d[-1] != '\n') {
		*d++ = '\r';
		*d++ = '\n';
	}
	out->len = (size_t)(d - out->data);
	out->data[out->len] = '\0';
}

/* Whether CS is one of the N charset NAMES, in any case. */
static bool charset_in(const char *cs, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(cs, names[i]) == 0)
			return true;
	return false;
}

/* Whether CS, an iconv name of a charset, is US-ASCII, by any of the names
 * it goes by. */
static bool is_us_ascii(const char *cs)
{
	static const char *const names[] = { "us-ascii", "ascii", "us", "ansi_x3.4-1968",
					     "ansi_x3.4-1986", "iso646-us", "iso_646.irv:1991",
					     "iso-ir-6", "csascii", "cp367", "ibm367" };
	return charset_in(cs, names, sizeof(names) / sizeof(names[0]));
}

/* Whether CS is ISO-8859-1, by any of the names it goes by. */
static bool is_latin1(const char *cs)
{
	static const char *const names[] = { "iso-8859-1", "iso8859-1", "iso_8859-1",
					     "iso_8859-1:1987", "iso-ir-100", "latin1", "l1",
					     "cp819", "ibm819", "csisolatin1", "8859_1" };
	return charset_in(cs, names, sizeof(names) / sizeof(names[0]));
}

/* Whether S (N octets) is UTF-8, NUL octets allowed (GLib refuses them). */
static bool utf8_valid(const char *s, size_t n)
{
	const char *end;
	while (!g_utf8_validate_len(s, n, &end)) {
		if (*end != '\0')
			return false;
		n -= (size_t)(end + 1 - s);
		s = end + 1;
	}
	return true;
}

/*
 * The charset (an iconv name) to read the content S (N octets) of a text
 * part of content type CT in: its charset parameter, US-ASCII when it has
 * none (RFC 2045's default).  But a part said to be US-ASCII that holds
 * octets past 0x7F is mislabelled (or not labelled at all) by its mailer,
 * and read as US-ASCII each such octet was a '?': it is read as UTF-8 when
 * it is valid UTF-8, else as Windows-1252 (ISO-8859-1 with the quotes and
 * dashes Windows mailers write), as mail readers read it.  A part said to
 * be ISO-8859-1 is read as Windows-1252 too, as browsers and mail readers
 * read that label (the WHATWG Encoding Standard): its 0x80-0x9F are C1
 * controls in ISO-8859-1, which no mail means, and in Windows-1252 the
 * quotes, dashes and ellipsis (0x85) that Windows mailers wrote under the
 * ISO-8859-1 label; read as ISO-8859-1 an ellipsis was a NEXT LINE, and
 * broke the line.
 */
static const char *part_charset(GMimeContentType *ct, const char *s, size_t n)
{
	const char *cs = ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
	const char *in = cs && *cs ? g_mime_charset_iconv_name(cs) : NULL;
	if (cs && *cs && !in)
		in = cs;
	if (in && is_latin1(in))
		return "WINDOWS-1252";
	if (in && !is_us_ascii(in))
		return in;
	size_t i = 0;
	while (i < n && !(s[i] & 0x80))
		i++;
	if (i == n)
		return "us-ascii";
	return utf8_valid(s + i, n - i) ? "UTF-8" : "WINDOWS-1252";
}

/* The fingerprint name_taken() goes by: NAME's ASCII upper case, as the
 * strncasecmp() it replaces compared. */
static struct ccp_fp name_fp(const char *name, size_t n)
{
	char up[256];
	if (n > sizeof(up))
		n = sizeof(up);
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	return ccp_fp_of(up, n);
}

static const char *file_name(struct ccp_convert *c, const char *filename, GMimeContentType *ct,
			     size_t *len);

/* Whether the message has a File item of DATA (LEN octets) already. */
static bool file_already(const struct ccp_convert *c, const void *data, size_t len)
{
	for (size_t i = 0; i < c->msg.nitem; i++) {
		const struct ccp_ccm_item *it = &c->msg.item[i];
		if (it->kind == CCP_CCM_ITEM_FILE && it->len == len &&
		    (len == 0 || memcmp(it->data, data, len) == 0))
			return true;
	}
	return false;
}

static void add_file(struct ccp_convert *c, const char *name, size_t name_len,
		     const void *data, size_t len)
{
	ccp_fpset_add(&c->file_names, name_fp(name, name_len));
	struct ccp_ccm_item *it = ccp_ccm_msg_add_item(&c->msg, CCP_CCM_ITEM_FILE);
	it->title = name;
	it->title_len = name_len;
	if (!c->o.v8_attachments) {
		it->stamp = c->stamp;
		it->stamp_len = strlen(c->stamp);
	}
	it->data = (const uint8_t *)arena_dup(c, data, len);
	it->len = len;
	c->st.file_items++;
	c->nfiles++;
}

/* Text (code page octets, any line ends) as a Text item, or as UNNAMED.TXT
 * when it is over 20 KB (the connector's behaviour from 5.5 SP2). */
static void add_text(struct ccp_convert *c, const char *s, size_t n)
{
	crlf_lines(&c->u8, s, n);
	if (c->u8.len > CCP_CCM_TEXT_ITEM_MAX) {
		/* UNNAMED.TXT, or (a second such part) a name of its own, as
		 * every attachment gets: two items of one name overwrite each
		 * other when detached.  The text first goes to the arena:
		 * file_name() may use c->u8 as scratch. */
		size_t tl = c->u8.len, nl;
		const char *text = arena_dup(c, c->u8.data, tl);
		const char *name = file_name(c, "UNNAMED.TXT", NULL, &nl);
		char note[96];
		int k = snprintf(note, sizeof(note),
				 "The message text is in the attached file %.*s.\r\n", (int)nl, name);
		struct ccp_ccm_item *t = ccp_ccm_msg_add_item(&c->msg, CCP_CCM_ITEM_TEXT);
		t->data = (const uint8_t *)arena_dup(c, note, (size_t)k);
		t->len = (size_t)k;
		c->st.text_items++;
		c->st.body_as_file = true;
		add_file(c, name, nl, text, tl);
		return;
	}
	struct ccp_ccm_item *it = ccp_ccm_msg_add_item(&c->msg, CCP_CCM_ITEM_TEXT);
	it->data = (const uint8_t *)arena_dup(c, c->u8.data, c->u8.len);
	it->len = c->u8.len;
	c->st.text_items++;
}

/* Body text S (N octets of CHARSET, an iconv name) as a Text item (or
 * UNNAMED.TXT), in the code page: ccp_codepage_body(), whose line breaks
 * the code page lacks (NEXT LINE, LINE and PARAGRAPH SEPARATOR: U+0085,
 * U+2028, U+2029) are line breaks there, as the text shows them, not
 * '?'.  S may be c->u8, which
 * add_text() uses after the code page has had it. */
static void add_body(struct ccp_convert *c, const char *charset, const char *s, size_t n)
{
	ccp_ccm_buf_reset(&c->tmp);
	c->st.substitutions += ccp_codepage_body(c->cp, charset, s, n, &c->tmp);
	add_text(c, c->tmp.data, c->tmp.len); /* add_text uses u8, not tmp */
}

/* Code point V into OUT, in UTF-8.  A numeric reference to 0x80-0x9F is Windows-1252's character: HTML reads
 * those numbers as Windows-1252 octets (&#133; is an ellipsis, &#150; an
 * en dash), as pages written on Windows meant them. */
static void html_codepoint(unsigned long v, struct ccp_ccm_buf *out)
{
	if (v <= 0x9f)
		v = ccp_codepage_c1_as_1252((uint32_t)v);
	if (v == 0 || v > 0x10ffff) {
		ccp_ccm_buf_addc(out, '?');
	} else {
		char tmp[8];
		int l = g_unichar_to_utf8((gunichar)v, tmp);
		ccp_ccm_buf_add(out, tmp, (size_t)l);
	}
}

/* The named entities of Latin-1 (HTML 4: U+00A1 to U+00FF, in order; nbsp
 * is a plain space above) and the rest of HTML 4's: typography, Greek,
 * arrows, mathematics, and the format characters marketing mail pads its
 * preview text with (zwnj), which the code page then drops. */
static const char *const html_latin1[] = {
	"iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
	"laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute",
	"micro", "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12",
	"frac34", "iquest", "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig",
	"Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
	"ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash",
	"Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute",
	"acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc",
	"euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve", "oacute",
	"ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml",
	"yacute", "thorn", "yuml",
};
static const struct { const char *name; unsigned short cp; } html_symbols[] = {
	{ "OElig", 0x152 },   { "oelig", 0x153 },   { "Scaron", 0x160 }, { "scaron", 0x161 },
	{ "Yuml", 0x178 },    { "fnof", 0x192 },    { "circ", 0x2c6 },   { "tilde", 0x2dc },
	{ "ensp", 0x2002 },   { "emsp", 0x2003 },   { "thinsp", 0x2009 }, { "ndash", 0x2013 },
	{ "mdash", 0x2014 },  { "lsquo", 0x2018 },  { "rsquo", 0x2019 }, { "sbquo", 0x201a },
	{ "ldquo", 0x201c },  { "rdquo", 0x201d },  { "bdquo", 0x201e }, { "dagger", 0x2020 },
	{ "Dagger", 0x2021 }, { "bull", 0x2022 },   { "hellip", 0x2026 }, { "permil", 0x2030 },
	{ "lsaquo", 0x2039 }, { "rsaquo", 0x203a }, { "euro", 0x20ac },  { "trade", 0x2122 },
	{ "Alpha", 0x391 }, { "Beta", 0x392 }, { "Gamma", 0x393 }, { "Delta", 0x394 },
	{ "Epsilon", 0x395 }, { "Zeta", 0x396 }, { "Eta", 0x397 }, { "Theta", 0x398 },
	{ "Iota", 0x399 }, { "Kappa", 0x39a }, { "Lambda", 0x39b }, { "Mu", 0x39c },
	{ "Nu", 0x39d }, { "Xi", 0x39e }, { "Omicron", 0x39f }, { "Pi", 0x3a0 }, { "Rho", 0x3a1 },
	{ "Sigma", 0x3a3 }, { "Tau", 0x3a4 }, { "Upsilon", 0x3a5 }, { "Phi", 0x3a6 },
	{ "Chi", 0x3a7 }, { "Psi", 0x3a8 }, { "Omega", 0x3a9 }, { "alpha", 0x3b1 },
	{ "beta", 0x3b2 }, { "gamma", 0x3b3 }, { "delta", 0x3b4 }, { "epsilon", 0x3b5 },
	{ "zeta", 0x3b6 }, { "eta", 0x3b7 }, { "theta", 0x3b8 }, { "iota", 0x3b9 },
	{ "kappa", 0x3ba }, { "lambda", 0x3bb }, { "mu", 0x3bc }, { "nu", 0x3bd },
	{ "xi", 0x3be }, { "omicron", 0x3bf }, { "pi", 0x3c0 }, { "rho", 0x3c1 },
	{ "sigmaf", 0x3c2 }, { "sigma", 0x3c3 }, { "tau", 0x3c4 }, { "upsilon", 0x3c5 },
	{ "phi", 0x3c6 }, { "chi", 0x3c7 }, { "psi", 0x3c8 }, { "omega", 0x3c9 },
	{ "thetasym", 0x3d1 }, { "upsih", 0x3d2 }, { "piv", 0x3d6 }, { "zwnj", 0x200c },
	{ "zwj", 0x200d }, { "lrm", 0x200e }, { "rlm", 0x200f }, { "prime", 0x2032 },
	{ "Prime", 0x2033 }, { "oline", 0x203e }, { "frasl", 0x2044 }, { "weierp", 0x2118 },
	{ "image", 0x2111 }, { "real", 0x211c }, { "alefsym", 0x2135 }, { "larr", 0x2190 },
	{ "uarr", 0x2191 }, { "rarr", 0x2192 }, { "darr", 0x2193 }, { "harr", 0x2194 },
	{ "crarr", 0x21b5 }, { "lArr", 0x21d0 }, { "uArr", 0x21d1 }, { "rArr", 0x21d2 },
	{ "dArr", 0x21d3 }, { "hArr", 0x21d4 }, { "forall", 0x2200 }, { "part", 0x2202 },
	{ "exist", 0x2203 }, { "empty", 0x2205 }, { "nabla", 0x2207 }, { "isin", 0x2208 },
	{ "notin", 0x2209 }, { "ni", 0x220b }, { "prod", 0x220f }, { "sum", 0x2211 },
	{ "minus", 0x2212 }, { "lowast", 0x2217 }, { "radic", 0x221a }, { "prop", 0x221d },
	{ "infin", 0x221e }, { "ang", 0x2220 }, { "and", 0x2227 }, { "or", 0x2228 },
	{ "cap", 0x2229 }, { "cup", 0x222a }, { "int", 0x222b }, { "there4", 0x2234 },
	{ "sim", 0x223c }, { "cong", 0x2245 }, { "asymp", 0x2248 }, { "ne", 0x2260 },
	{ "equiv", 0x2261 }, { "le", 0x2264 }, { "ge", 0x2265 }, { "sub", 0x2282 },
	{ "sup", 0x2283 }, { "nsub", 0x2284 }, { "sube", 0x2286 }, { "supe", 0x2287 },
	{ "oplus", 0x2295 }, { "otimes", 0x2297 }, { "perp", 0x22a5 }, { "sdot", 0x22c5 },
	{ "lceil", 0x2308 }, { "rceil", 0x2309 }, { "lfloor", 0x230a }, { "rfloor", 0x230b },
	{ "lang", 0x2329 }, { "rang", 0x232a }, { "loz", 0x25ca }, { "spades", 0x2660 },
	{ "clubs", 0x2663 }, { "hearts", 0x2665 }, { "diams", 0x2666 },
};

/* The code point of named entity NAME (NL octets, case as written), or 0. */
static unsigned long html_named(const char *name, size_t nl)
{
	for (size_t i = 0; i < sizeof(html_latin1) / sizeof(html_latin1[0]); i++)
		if (strlen(html_latin1[i]) == nl && memcmp(html_latin1[i], name, nl) == 0)
			return 0xa1 + i;
	for (size_t i = 0; i < sizeof(html_symbols) / sizeof(html_symbols[0]); i++)
		if (strlen(html_symbols[i].name) == nl && memcmp(html_symbols[i].name, name, nl) == 0)
			return html_symbols[i].cp;
	return 0;
}

/* Decodes one HTML entity at s (after '&'); returns its length or 0. */
static size_t html_entity(const char *s, size_t n, struct ccp_ccm_buf *out)
{
	static const struct { const char *name; char ch; } ents[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
		{ "apos;", '\'' }, { "nbsp;", ' ' },
	};
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t l = strlen(ents[i].name);
		if (n >= l && strncasecmp(s, ents[i].name, l) == 0) {
			ccp_ccm_buf_addc(out, ents[i].ch);
			return l;
		}
		/* Without its ';' ("&amp f", "AT&amp T"), as browsers read
		 * these, where no letter or digit follows. */
		if (n >= l - 1 && strncasecmp(s, ents[i].name, l - 1) == 0 &&
		    (n == l - 1 || !isalnum((unsigned char)s[l - 1]))) {
			ccp_ccm_buf_addc(out, ents[i].ch);
			return l - 1;
		}
	}
	if (n >= 3 && s[0] == '#') {
		size_t i = 1;
		unsigned long v = 0;
		bool hex = s[1] == 'x' || s[1] == 'X';
		if (hex)
			i++;
		size_t d0 = i;
		while (i < n && i < 10 && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
			v = v * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10));
			i++;
		}
		if (i == d0 || i >= n || s[i] != ';')
			return 0;
		html_codepoint(v, out);
		return i + 1;
	}
	size_t nl = 0;
	while (nl < n && nl < 8 && isalnum((unsigned char)s[nl]))
		nl++;
	unsigned long v = nl < n && s[nl] == ';' ? html_named(s, nl) : 0;
	if (v == 0)
		return 0;
	html_codepoint(v, out);
	return nl + 1;
}

static bool tag_is(const char *t, size_t tl, const char *name)
{
	size_t n = strlen(name);
	return tl == n && strncasecmp(t, name, n) == 0;
}

/* Where a run of ordinary HTML text stops: 1 at a tag or an entity, 2 at
 * white space (isspace() of the C locale).  And the octets of a line
 * break character in UTF-8 (html_break()): 4 the first (0xC2 of NEXT
 * LINE, 0xE2 of LINE and PARAGRAPH SEPARATOR), 8 the last (0x85, 0xA8,
 * 0xA9); a run does not stop at them, but is looked at where it starts
 * and ends (html_add_run()). */
static const uint8_t html_stops[256] = {
	['<'] = 1, ['&'] = 1, [' '] = 2, ['\t'] = 2, ['\n'] = 2, ['\v'] = 2, ['\f'] = 2, ['\r'] = 2,
	[0xc2] = 4, [0xe2] = 4, [0x85] = 8, [0xa8] = 8, [0xa9] = 8,
};

/* The line break (ccp_codepage_line_break()) that UTF-8 text S (N > 0
 * octets) starts with, as a body has it, and *LEN its octets; NULL when S
 * starts with another character.  The table turns away at once the octets
 * that start none; the two it lets by lead a sequence of two octets (0xC2)
 * and of three (0xE2), decoded here rather than by a call into GLib. */
static inline const char *html_break(const char *s, size_t n, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	if (!(html_stops[p[0]] & 4))
		return NULL;
	size_t l = p[0] < 0xe0 ? 2 : 3;
	if (n < l)
		return NULL;
	uint32_t u = p[0] & (l == 2 ? 0x1fu : 0x0fu);
	for (size_t k = 1; k < l; k++) {
		if ((p[k] & 0xc0) != 0x80) /* cut short: not UTF-8 */
			return NULL;
		u = u << 6 | (p[k] & 0x3fu);
	}
	*len = l;
	return ccp_codepage_line_break(u);
}

/*
 * Writes the line break that UTF-8 text S (N octets) starts with, if it
 * starts with one (html_break()), into OUT at octet FROM, over what OUT
 * has from there (a space put before it; the break itself, an entity
 * decoded), and clears *SPACE, the white space met since the last text.
 * Returns its octets, or 0 (nothing written) for another character.  A
 * line break ends a line as <br> does, and HTML's rendering drops the
 * white space at the end and at the start of a line: "a <br> b" is "a",
 * "b", and so is "a", U+2028, "b" with spaces around it, where the spaces
 * stayed, one ending a line and one starting the next.  Out of line, as
 * html_add_run() and html_after_entity() are: inline, their registers
 * weighed on html_to_text()'s loop for all text, which has few breaks.
 */
static CCP_NOINLINE size_t html_add_break(struct ccp_ccm_buf *out, size_t from, const char *s,
					  size_t n, bool *space)
{
	size_t bl;
	const char *brk = html_break(s, n, &bl);
	if (!brk)
		return 0;
	out->len = from;
	ccp_ccm_buf_adds(out, brk);
	*space = false;
	return bl;
}

/* The white space met before text (*SPACE) as the one space it collapses
 * to, written before the text that follows, but at the start of a line. */
static inline void html_put_space(struct ccp_ccm_buf *out, bool *space)
{
	if (*space && out->len && out->data[out->len - 1] != '\n')
		ccp_ccm_buf_addc(out, ' ');
	*space = false;
}

/* Settles the entity OUT holds from octet AT, decoded, with *SPACE, the
 * white space met before it: a line break (&#8232; and the like, where
 * BREAKS: in UTF-8 outside <pre>) takes it, as html_add_break() writes;
 * other text gets the one space it collapses to, put before the entity,
 * but at the start of a line, as html_to_text() puts it before a run. */
static CCP_NOINLINE void html_after_entity(struct ccp_ccm_buf *out, size_t at, bool breaks,
					   bool *space)
{
	if (breaks && html_add_break(out, at, out->data + at, out->len - at, space))
		return;
	if (*space && at > 0 && out->data[at - 1] != '\n') {
		ccp_ccm_buf_addc(out, ' ');
		memmove(out->data + at + 1, out->data + at, out->len - 1 - at);
		out->data[at] = ' ';
	}
	*space = false;
}

/* Appends to OUT the run of ordinary UTF-8 text S (N octets), whose last
 * octet may end a line break character (html_stops' 8), with the breaks
 * that end it written as breaks (html_add_break()), so that the white
 * space after them goes.  A break inside a run stays as it is, for the
 * code page to break the line at (ccp_codepage_body()): no white space is
 * next to it, and one that starts a run was written before the run.  The
 * ends are looked at, not each octet: a stop at every quote and dash
 * (0xE2) made typographic HTML a twentieth slower. */
static CCP_NOINLINE void html_add_run(struct ccp_ccm_buf *out, const char *s, size_t n,
				      bool *space)
{
	size_t end = n, bl;
	while (end > 0 && (html_stops[(unsigned char)s[end - 1]] & 8)) {
		size_t b = end - 1; /* back to where the last character starts */
		while (b > 0 && end - b < 3 && ((unsigned char)s[b] & 0xc0) == 0x80)
			b--;
		if (!html_break(s + b, end - b, &bl) || bl != end - b)
			break;
		end = b;
	}
	ccp_ccm_buf_add(out, s, end);
	while (end < n)
		end += html_add_break(out, out->len, s + end, n - end, space);
}

/* The value of the attribute NAME in the tag's attributes A (N octets, up
 * to its '>'), entities decoded, into OUT (reset); false when it has
 * none.  Attribute by attribute, as HTML reads them: "href=" inside
 * another's value (onclick="location.href='...'") is that value's text. */
static bool html_attr(const char *a, size_t n, const char *name, struct ccp_ccm_buf *out)
{
	size_t nl = strlen(name), i = 0;
	ccp_ccm_buf_reset(out);
	while (i < n) {
		while (i < n && (isspace((unsigned char)a[i]) || a[i] == '/'))
			i++;
		size_t n0 = i;
		while (i < n && !isspace((unsigned char)a[i]) && a[i] != '=' && a[i] != '>' &&
		       a[i] != '/')
			i++;
		if (i == n0) {
			i++; /* a stray '=' */
			continue;
		}
		bool wanted = i - n0 == nl && strncasecmp(a + n0, name, nl) == 0;
		size_t j = i;
		while (j < n && isspace((unsigned char)a[j]))
			j++;
		if (j >= n || a[j] != '=') {
			i = j;
			continue; /* an attribute without a value */
		}
		j++;
		while (j < n && isspace((unsigned char)a[j]))
			j++;
		char q = j < n && (a[j] == '"' || a[j] == '\'') ? a[j++] : '\0';
		size_t e = j;
		while (e < n && (q ? a[e] != q : !isspace((unsigned char)a[e]) && a[e] != '>'))
			e++;
		if (wanted) {
			for (size_t k = j; k < e;) {
				size_t l = a[k] == '&' ? html_entity(a + k + 1, e - k - 1, out) : 0;
				if (l) {
					k += l + 1;
				} else {
					ccp_ccm_buf_addc(out, a[k]);
					k++;
				}
			}
			return true;
		}
		i = e < n && q ? e + 1 : e;
	}
	return false;
}

/* Whether the link URL (LEN octets) is one a reader can follow from the
 * text: a web, FTP or mail address, not a script, an anchor in the page or
 * a part of the message (cid:). */
static bool html_link_shown(const char *url, size_t len)
{
	static const char *const schemes[] = { "http://", "https://", "ftp://", "mailto:" };
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t sl = strlen(schemes[i]);
		if (len > sl && strncasecmp(url, schemes[i], sl) == 0)
			return true;
	}
	return false;
}

/* After a link's text (OUT from AT): its target, " <URL>", where the text
 * does not say it already ("here", a button's words), so that the one
 * thing the link was for is not lost.  A mailto: link shows its address. */
static void html_end_link(struct ccp_ccm_buf *out, size_t at, const struct ccp_ccm_buf *url)
{
	if (url->len == 0 || !html_link_shown(url->data, url->len))
		return;
	const char *u = url->data;
	size_t ul = url->len;
	if (strncasecmp(u, "mailto:", 7) == 0) {
		u += 7;
		ul -= 7;
		ul = strcspn(u, "?") < ul ? strcspn(u, "?") : ul; /* no ?subject= */
	}
	const char *t = out->data ? out->data + at : "";
	size_t tl = out->len - at;
	while (tl && (*t == ' ' || *t == '\n'))
		t++, tl--;
	while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\n'))
		tl--;
	if (ul == 0 || (tl == ul && strncasecmp(t, u, ul) == 0) ||
	    (tl == url->len && strncasecmp(t, url->data, tl) == 0))
		return;
	/* A link without text (an image) still stands apart from the word
	 * before it. */
	bool apart = out->len == 0 || out->data[out->len - 1] == ' ' ||
		     out->data[out->len - 1] == '\n';
	ccp_ccm_buf_adds(out, apart ? "<" : " <");
	ccp_ccm_buf_add(out, u, ul);
	ccp_ccm_buf_addc(out, '>');
}

/* An image's (or an image map area's) alternative text, the attribute
 * "alt" of the tag's attributes A (N octets), as "[text]", its white space
 * collapsed: what the image says ("[Download the invoice]", a button)
 * where a reader of the text sees no image.  An empty alt marks an image
 * as decoration (HTML's rule), and an image without one says nothing:
 * neither writes anything.  *SPACE: white space before the tag, written
 * first (html_put_space()).  ALT is scratch. */
static void html_add_alt(struct ccp_ccm_buf *out, const char *a, size_t n, bool *space,
			 struct ccp_ccm_buf *alt)
{
	if (!html_attr(a, n, "alt", alt))
		return;
	size_t at = out->len;
	bool gap = false;
	for (size_t k = 0; k < alt->len; k++) {
		unsigned char ch = (unsigned char)alt->data[k];
		if (isspace(ch)) {
			gap = out->len > at;
			continue;
		}
		if (out->len == at) {
			html_put_space(out, space);
			ccp_ccm_buf_addc(out, '[');
			at = out->len;
		} else if (gap) {
			ccp_ccm_buf_addc(out, ' ');
		}
		gap = false;
		ccp_ccm_buf_addc(out, (char)ch);
	}
	if (out->len > at) /* an empty or blank alt (decoration) wrote nothing */
		ccp_ccm_buf_addc(out, ']');
}

/* The longest quoted attribute value html_tag_end() looks through: past
 * it, the first '>' ends the tag, and a quote never closed costs no more
 * than this per tag. */
#define HTML_QUOTED_MAX 4096

/*
 * The '>' that ends the tag whose attributes start at S[J] (N octets in
 * all), or NULL: the first one outside an attribute's quoted value, as a
 * browser reads it (title="go > now"; the first '>' ended the tag, and
 * now"> was text); the first one at all where a quoted value is not
 * closed within HTML_QUOTED_MAX octets.
 */
static const char *html_tag_end(const char *s, size_t j, size_t n)
{
	for (size_t k = j; k < n; k++) {
		if (s[k] == '>')
			return s + k;
		if (s[k] != '=')
			continue;
		size_t v = k + 1;
		while (v < n && g_ascii_isspace(s[v]))
			v++;
		if (v < n && (s[v] == '"' || s[v] == '\'')) {
			size_t lim = n - v - 1 < HTML_QUOTED_MAX ? n - v - 1 : HTML_QUOTED_MAX;
			const char *close = memchr(s + v + 1, s[v], lim);
			if (close == NULL)
				return memchr(s + j, '>', n - j);
			k = (size_t)(close - s);
		}
	}
	return NULL;
}

/* A readable text rendering of HTML S (N octets of UTF-8): tags dropped,
 * block ends as line breaks, table cells apart, a link's target after its
 * text, an image's alt text in brackets, script, style and the title
 * (which a page does not show) skipped,
 * entities decoded, spaces collapsed, and dropped around a line break
 * (<br>, or a line break character: html_add_break()). */
static void html_to_text(const char *s, size_t n, struct ccp_ccm_buf *out)
{
	struct ccp_ccm_buf url; /* the open link's target */
	struct ccp_ccm_buf attr; /* scratch: an image's alt, an area's target */
	ccp_ccm_buf_init(&url);
	ccp_ccm_buf_init(&attr);
	size_t link_at = 0;
	bool in_link = false;
	/* Paragraph-like blocks leave an empty line; the others a line break. */
	static const char *const paras[] = { "p", "h1", "h2", "h3", "h4", "h5", "h6", "table",
					     "blockquote", "ul", "ol" };
	static const char *const lines[] = { "div", "tr", "li", "hr", "pre" };
	bool space = false, pre = false;
	/* What html_stops tells apart from ordinary text: white space (2),
	 * collapsed outside <pre>, and the first and the last octet of a
	 * line break character (4, 8), which outside <pre> takes the white
	 * space about it.  Inside <pre> white space is text, and stays. */
	const unsigned text_mask = 14u;
	unsigned mask = text_mask;
	size_t i = 0;
	ccp_ccm_buf_reset(out);
	while (i < n) {
		char ch = s[i];
		/* A tag starts with '<' and a letter, '/', '!' or '?', as HTML
		 * reads it; any other '<' is text ("qty < 5"): taken for a tag,
		 * it swallowed everything up to the next '>'. */
		unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
		if (ch == '<' && (isalpha(next) || next == '/' || next == '!' || next == '?')) {
			if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				const char *e = g_strstr_len(s + i + 4, (gssize)(n - i - 4), "-->");
				i = e ? (size_t)(e - s) + 3 : n;
				continue;
			}
			size_t j = i + 1;
			bool close = j < n && s[j] == '/';
			if (close)
				j++;
			size_t t0 = j;
			while (j < n && isalnum((unsigned char)s[j]))
				j++;
			const char *tag = s + t0;
			size_t tl = j - t0;
			const char *gt = html_tag_end(s, j, n);
			i = gt ? (size_t)(gt - s) + 1 : n;
			if (tag_is(tag, tl, "a")) {
				if (in_link)
					html_end_link(out, link_at, &url);
				in_link = !close && html_attr(s + j, (size_t)(i - j), "href", &url);
				link_at = out->len;
			}
			if (!close && (tag_is(tag, tl, "img") || tag_is(tag, tl, "area"))) {
				size_t at = out->len;
				html_add_alt(out, s + j, (size_t)(i - j), &space, &attr);
				/* An image map's area is a link of its own, with
				 * no text but its alt: its target after it. */
				if (tag_is(tag, tl, "area") &&
				    html_attr(s + j, (size_t)(i - j), "href", &attr)) {
					size_t before = out->len;
					html_end_link(out, at, &attr);
					space &= out->len == before;
				}
				continue;
			}
			if (!close && (tag_is(tag, tl, "td") || tag_is(tag, tl, "th")))
				space = true; /* cells apart: "Total 100.00", not "Total100.00" */
			if (!close && (tag_is(tag, tl, "script") || tag_is(tag, tl, "style") ||
				       tag_is(tag, tl, "title"))) {
				/* Skip to the closing tag. */
				while (i < n) {
					const char *lt = memchr(s + i, '<', n - i);
					if (!lt) {
						i = n;
						break;
					}
					i = (size_t)(lt - s) + 1;
					if (i + tl < n && s[i] == '/' && strncasecmp(s + i + 1, tag, tl) == 0) {
						const char *g2 = memchr(s + i, '>', n - i);
						i = g2 ? (size_t)(g2 - s) + 1 : n;
						break;
					}
				}
				continue;
			}
			if (tag_is(tag, tl, "pre")) {
				pre = !close;
				mask = pre ? 0u : text_mask;
			}
			bool para = false, line = tag_is(tag, tl, "br");
			for (size_t k = 0; k < sizeof(paras) / sizeof(paras[0]); k++)
				para |= tag_is(tag, tl, paras[k]);
			for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++)
				line |= tag_is(tag, tl, lines[k]);
			if (tag_is(tag, tl, "br")) {
				ccp_ccm_buf_addc(out, '\n');
			} else if (para || line) {
				if (out->len && out->data[out->len - 1] != '\n')
					ccp_ccm_buf_addc(out, '\n');
				if (para && out->len && !(out->len >= 2 && out->data[out->len - 2] == '\n'))
					ccp_ccm_buf_addc(out, '\n');
				if (!close && tag_is(tag, tl, "li"))
					ccp_ccm_buf_adds(out, "* ");
			}
			if (para || line)
				space = false;
			continue;
		}
		unsigned kind = html_stops[(unsigned char)ch] & mask;
		size_t l;
		if (kind) {
			if (kind & 2) {
				space = true;
				i++;
				continue;
			}
			l = html_add_break(out, out->len, s + i, n - i, &space);
			if (l) {
				i += l;
				continue;
			}
		}
		if (ch == '&') {
			size_t at = out->len;
			l = html_entity(s + i + 1, n - i - 1, out);
			if (l) {
				html_after_entity(out, at, mask & 4, &space);
				i += l + 1;
				continue;
			}
		}
		html_put_space(out, &space);
		/* This character and the ordinary text after it, up to the next
		 * tag, entity or (outside <pre>) white space, in one copy: a call
		 * per character was the converter's hottest loop on HTML mail. */
		unsigned stop = pre ? 1u : 3u; /* white space is text inside <pre> */
		size_t j = i + 1;
		while (j < n && !(html_stops[(unsigned char)s[j]] & stop))
			j++;
		if (html_stops[(unsigned char)s[j - 1]] & mask & 8)
			html_add_run(out, s + i, j - i, &space);
		else
			ccp_ccm_buf_add(out, s + i, j - i);
		i = j;
	}
	if (in_link)
		html_end_link(out, link_at, &url);
	ccp_ccm_buf_free(&url);
	ccp_ccm_buf_free(&attr);
	while (out->len && out->data[out->len - 1] == '\n')
		out->data[--out->len] = '\0';
}

static const char *ext_for(GMimeContentType *ct)
{
	/* The types mail carries unnamed every day: a calendar invitation,
	 * a delivery report's parts (message/delivery-status,
	 * text/rfc822-headers), a contact card; any other text is text.  As
	 * .BIN they opened as nothing a user could read once detached. */
	static const struct { const char *type, *sub, *ext; } t[] = {
		{ "text", "plain", "TXT" }, { "text", "html", "HTM" },
		{ "image", "jpeg", "JPG" }, { "image", "png", "PNG" },
		{ "image", "gif", "GIF" }, { "application", "pdf", "PDF" },
		{ "message", "rfc822", "EML" }, { "application", "zip", "ZIP" },
		{ "text", "calendar", "ICS" }, { "application", "ics", "ICS" },
		{ "text", "vcard", "VCF" }, { "text", "x-vcard", "VCF" },
		{ "text", "csv", "CSV" }, { "text", "xml", "XML" },
		{ "application", "xml", "XML" }, { "image", "bmp", "BMP" },
		{ "image", "tiff", "TIF" }, { "application", "msword", "DOC" },
		{ "application", "vnd.ms-excel", "XLS" },
		{ "message", "delivery-status", "TXT" },
		{ "message", "disposition-notification", "TXT" },
		{ "text", "*", "TXT" },
	};
	for (size_t i = 0; ct && i < sizeof(t) / sizeof(t[0]); i++)
		if (g_mime_content_type_is_type(ct, t[i].type, t[i].sub))
			return t[i].ext;
	return "BIN";
}

/* The last ~N of an 8.3 name, which takes the whole base: "~9999999".
 * The string is the number's, so a check at compile time sees its length. */
#define NAME_SUFFIX_LAST 9999999
#define NAME_STR_(x) #x
#define NAME_STR(x) NAME_STR_(x)
#define NAME_SUFFIX_LAST_STR "~" NAME_STR(NAME_SUFFIX_LAST)

/* The first ~N not known to be taken among the 8.3 names of prefix BASE
 * (KEEP octets), a suffix "~N" of SL octets and extension EXT (EL
 * octets): every such name below it is taken, and names are only added.
 * Keyed by what those names are written with, not by the base they were
 * made for: the bases ABCDEFGH and ABCDEFXY both make ABCDE~10.EXT, and a
 * count per base started each new one at ~10 again, through every name
 * another had taken (N such attachments cost N^2/2 lookups, 40 s for
 * 20,000). */
static unsigned *suffix_hint(struct ccp_convert *c, const char *base, size_t keep,
			     const char *ext, size_t el, unsigned sl)
{
	char key[8 + 1 + 3 + 1];
	memcpy(key, base, keep);
	key[keep] = '.'; /* no 8.3 character: the prefix ends here */
	memcpy(key + keep + 1, ext, el);
	key[keep + 1 + el] = (char)('0' + sl);
	return ccp_fpmap_put(&c->next_suffix, name_fp(key, keep + el + 2));
}

/* Whether a File item of the message has the name S (ASCII case aside).
 * By fingerprint: two names that shared one (a 1 in 2^64 chance) would
 * only make the second try another. */
static bool name_taken(struct ccp_convert *c, const char *s, size_t n)
{
	c->name_lookups++;
	return ccp_fpset_has(&c->file_names, name_fp(s, n));
}

/* DOS 8.3 characters besides letters and digits. */
static bool dos_char(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'()-@^_`{}~", ch));
}

/* Whether BASE (BL octets, any case) names a DOS device: a file of that
 * name, whatever its extension, is the device on DOS and Windows, where
 * the cc:Mail clients detach attachments.  Windows takes the superscripts
 * ¹ ² ³ (UTF-8 here) for digits of COM and LPT too, and has CONIN$ and
 * CONOUT$ besides DOS's devices. */
static bool dos_device(const char *base, size_t bl)
{
	static const char *const dev[] = { "CON",    "PRN",    "AUX",    "NUL",
					   "CLOCK$", "CONIN$", "CONOUT$" };
	for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
		if (bl == strlen(dev[i]) && strncasecmp(base, dev[i], bl) == 0)
			return true;
	if (bl < 4 || (strncasecmp(base, "COM", 3) != 0 && strncasecmp(base, "LPT", 3) != 0))
		return false;
	const char *d = base + 3;
	return (bl == 4 && d[0] >= '1' && d[0] <= '9') ||
	       (bl == 5 && (memcmp(d, "\xC2\xB9", 2) == 0 || memcmp(d, "\xC2\xB2", 2) == 0 ||
			    memcmp(d, "\xC2\xB3", 2) == 0));
}

/* How long file name S (N octets of UTF-8) is without the spaces and dots
 * that end it: Unicode's spaces (Zs) included, and the line breaks LINE
 * and PARAGRAPH SEPARATOR, which the code page writes as plain spaces in a
 * name (ccp_codepage_text()); not NEXT LINE, an ellipsis there
 * (ccp_codepage_c1_as_1252()), nor NO-BREAK SPACE, which the code page
 * has (0xFF).  An ellipsis (U+2026, or NEXT LINE) goes as the dots it is
 * written as.  Windows drops them from a name:
 * "report.pdf." and "report.pdf" are one file there (two attachments so
 * named overwrite each other when detached), a name of dots alone is none,
 * and a name written with them cannot be opened. */
static size_t name_end(const char *s, size_t n)
{
	while (n > 0) {
		if (s[n - 1] == '.' || s[n - 1] == ' ') {
			n--;
			continue;
		}
		size_t b = n - 1; /* where the last character starts */
		while (b > 0 && n - b < 4 && ((unsigned char)s[b] & 0xc0) == 0x80)
			b--;
		gunichar u = g_utf8_get_char_validated(s + b, (gssize)(n - b));
		if ((u == 0x2026 || u == 0x85) && g_utf8_next_char(s + b) == s + n) {
			n = b;
			continue;
		}
		if (u >= 0x110000 || g_utf8_next_char(s + b) != s + n || u == 0xa0 ||
		    (g_unichar_type(u) != G_UNICODE_SPACE_SEPARATOR &&
		     (u <= 0x9f || !ccp_codepage_line_break(u))))
			break;
		n = b;
	}
	return n;
}

/* How long the DOS device name is that long file name S (N octets in the
 * code page, as the item is written) is, taken without its extensions and
 * the spaces before them, as Windows takes it ("con.txt", "AUX .doc",
 * "nul.tar.gz" and "PRN" are devices; so are "lpt1<U+3000>.txt" and
 * "con<U+2026>txt", which the code page writes "lpt1 .txt" and
 * "con...txt"); 0 when it is none.  Uses c->tmp as scratch. */
static size_t device_name_len(struct ccp_convert *c, const char *s, size_t n)
{
	const char *dot = memchr(s, '.', n);
	size_t bl = dot ? (size_t)(dot - s) : n;
	while (bl > 0 && s[bl - 1] == ' ')
		bl--;
	if (bl > strlen("CONOUT$"))
		return 0;
	/* In Unicode, as the client reads the name: CP850's 0xFB is the ¹
	 * of COM¹. */
	ccp_ccm_buf_reset(&c->tmp);
	ccp_codepage_to_utf8(c->cp, s, bl, &c->tmp);
	return dos_device(c->tmp.data, c->tmp.len) ? bl : 0;
}

/* Long file name FILENAME (UTF-8) made safe, into c->u8 in the code page,
 * as it is written: there a Unicode space is a plain one, an ellipsis
 * three dots, U+2122 "(TM)", four octets for three.  At most MAX octets,
 * cut with the extension (16 octets at most) kept; control characters
 * (DEL too, which cp_header() would turn into a space: a name of spaces
 * reads back as none) and ':' as '_'; no space at the start (" report.txt"
 * reads back as "report.txt", another attachment's name), nor dot or space
 * at the end (as name_end() trims a UTF-8 name), where the cut or the
 * trim of other white space may have left one.  Returns the characters written as '?', for the
 * caller to count once. */
static size_t long_name(struct ccp_convert *c, const char *filename, size_t max)
{
	ccp_ccm_buf_reset(&c->tmp);
	size_t subst = ccp_codepage_text(c->cp, NULL, filename, strlen(filename), &c->tmp);
	/* One octet a character: a cut anywhere falls between two. */
	const char *s = c->tmp.data;
	size_t fl = c->tmp.len;
	ccp_ccm_buf_reset(&c->u8);
	if (fl > max) {
		size_t xl = 0; /* the extension: from the last dot, if within 16 */
		for (size_t k = 1; k <= 16 && !xl; k++)
			if (s[fl - k] == '.')
				xl = k;
		add_trimmed(&c->u8, s, max - xl);
		ccp_ccm_buf_add(&c->u8, s + fl - xl, xl);
	} else {
		add_trimmed(&c->u8, s, fl);
	}
	/* What Windows refuses in a name, where the attachment is detached:
	 * controls, and : * ? " < > | (a '?' the code page wrote for a
	 * character it lacks among them; / and \ went with the path). */
	for (size_t i = 0; i < c->u8.len; i++)
		if ((unsigned char)c->u8.data[i] < 0x20 || c->u8.data[i] == 0x7f ||
		    strchr(":*?\"<>|", c->u8.data[i]) != NULL)
			c->u8.data[i] = '_';
	while (c->u8.len && (c->u8.data[c->u8.len - 1] == '.' || c->u8.data[c->u8.len - 1] == ' '))
		c->u8.len--;
	c->u8.data[c->u8.len] = '\0';
	return subst;
}

/* S, unless it is empty: a parameter given as "" names nothing. */
static const char *named(const char *s)
{
	return s && *s ? s : NULL;
}

/* A leaf's file name, as g_mime_part_get_filename() finds a part's: the
 * disposition's filename, else the type's name; NULL when none.  An
 * empty one (filename="") is none: the part was an attachment
 * "ATT00001.TXT" and the message had no text. */
static const char *leaf_file_name(GMimeContentType *ct, GMimeContentDisposition *d)
{
	const char *fn = d ? named(g_mime_content_disposition_get_parameter(d, "filename")) : NULL;
	return fn ? fn : ct ? named(g_mime_content_type_get_parameter(ct, "name")) : NULL;
}

/* The File item name for FILENAME (UTF-8, may be NULL): 8.3 upper case and
 * unique in the message by default (NAME~1.EXT as DOS did), else the long
 * name made safe.  Returns an arena string in the code page. */
static const char *file_name(struct ccp_convert *c, const char *filename, GMimeContentType *ct,
			     size_t *len)
{
	char base[16], ext[8], cand[24];
	size_t bl = 0, el = 0;
	bool lossy = false;

	if (filename) {
		const char *slash = strrchr(filename, '/'), *bs = strrchr(filename, '\\');
		if (bs && (!slash || bs > slash))
			slash = bs;
		if (slash)
			filename = slash + 1;
		/* Format characters show nothing: "re<U+200B>port.pdf" is
		 * REPORT.PDF, not a lossy REPORT~1.PDF.  Nor do the dots and
		 * spaces that end a name, as Windows reads it: "report.pdf."
		 * is REPORT.PDF (REPORT~1 before, without its extension), and
		 * a name of them alone is as good as none. */
		size_t n = strlen(filename);
		filename = without_format(c, filename, &n);
		size_t end = name_end(filename, n);
		if (end < n)
			filename = arena_dup(c, filename, end);
	}
	if (filename && *filename && c->o.long_names) {
		size_t subst = long_name(c, filename, 200);
		/* A device name, whatever its extension, is the device itself
		 * where the file is detached (con.txt is the console, nul.doc
		 * the bit bucket): an underscore after it makes a file's name of
		 * it, con_.txt, as CON~1.TXT is for 8.3 names.  Room is made
		 * for it within the 200 octets. */
		size_t dev = device_name_len(c, c->u8.data, c->u8.len);
		if (dev && c->u8.len >= 200) {
			subst = long_name(c, filename, 199);
			dev = device_name_len(c, c->u8.data, c->u8.len);
		}
		c->st.substitutions += subst;
		if (dev) {
			ccp_ccm_buf_addc(&c->u8, '_');
			memmove(c->u8.data + dev + 1, c->u8.data + dev, c->u8.len - 1 - dev);
			c->u8.data[dev] = '_';
		}
		/* Taken or not as the item will be named: in the code page,
		 * where two names may become one ("?" for what it lacks). */
		if (c->u8.len) {
			const char *cp = cp_header(c, &c->u8, c->o.import8, len);
			if (!name_taken(c, cp, *len))
				return cp;
		}
	}
	if (filename && *filename) {
		const char *dot = strrchr(filename, '.');
		const char *bend = dot && dot != filename ? dot : filename + strlen(filename);
		for (const char *p = filename; p < bend; p++) {
			unsigned char ch = (unsigned char)*p;
			if (dos_char(ch) && bl < 8)
				base[bl++] = (char)toupper(ch);
			else
				lossy = true;
		}
		if (dot && dot != filename) {
			for (const char *p = dot + 1; *p; p++) {
				unsigned char ch = (unsigned char)*p;
				if (dos_char(ch) && el < 3)
					ext[el++] = (char)toupper(ch);
				else
					lossy = true;
			}
		}
	}
	if (bl == 0) {
		/* The file's number, its last five digits past 99,999 (the ~N
		 * below tells apart two that share them); the name's own
		 * extension where it had one (a name all in another script,
		 * "отчет.xlsx"), else one for its type. */
		bl = (size_t)snprintf(base, sizeof(base), "ATT%05zu", (c->nfiles + 1) % 100000);
		if (el == 0) {
			const char *e = ext_for(ct);
			el = strlen(e);
			memcpy(ext, e, el);
		}
		lossy = false;
	} else if (dos_device(base, bl)) {
		lossy = true; /* CON.TXT -> CON~1.TXT */
	}
	if (!lossy) {
		int l = snprintf(cand, sizeof(cand), "%.*s%s%.*s", (int)bl, base, el ? "." : "",
				 (int)el, ext);
		if (!name_taken(c, cand, (size_t)l)) {
			*len = (size_t)l;
			return arena_dup(c, cand, (size_t)l);
		}
	}
	/* ~N takes up to the whole base: ~9999999, ten million names of one
	 * base.  The ~N go by their width SL ("~" and the digits), from ~1-~9
	 * (a name that lost nothing starts at ~2, as DOS did) to
	 * ~1000000-~9999999, each width from where the names of its prefix
	 * stopped (suffix_hint()). */
	_Static_assert(sizeof(NAME_SUFFIX_LAST_STR) - 1 <= 8, "the last ~N fits a base");
	for (unsigned sl = 2, lo = 1; sl <= 8; sl++, lo *= 10) {
		unsigned hi = lo * 10 - 1 < NAME_SUFFIX_LAST ? lo * 10 - 1 : NAME_SUFFIX_LAST;
		size_t keep = bl + sl > 8 ? 8 - sl : bl;
		unsigned *hint = suffix_hint(c, base, keep, ext, el, sl);
		unsigned first = lossy || lo > 1 ? lo : 2;
		/* Past a ~1 skipped and not looked up, the hint cannot go. */
		bool known = *hint >= first || first == lo;
		for (unsigned k = *hint > first ? *hint : first; k <= hi; k++) {
			int l = snprintf(cand, sizeof(cand), "%.*s~%u%s%.*s", (int)keep, base, k,
					 el ? "." : "", (int)el, ext);
			if (!name_taken(c, cand, (size_t)l)) {
				if (known)
					*hint = k + 1;
				*len = (size_t)l;
				return arena_dup(c, cand, (size_t)l);
			}
		}
		if (known)
			*hint = hi + 1;
	}
	/* Ten million files of one name (a message of as many parts): the
	 * rest get F and the file's number in seven hex digits.  A message
	 * under 4 GiB has fewer than 2^28 parts, so one of these is free. */
	for (size_t k = 0; k < 0x10000000; k++) {
		int l = snprintf(cand, sizeof(cand), "F%07zX%s%.*s", (c->nfiles + k) & 0xFFFFFFF,
				 el ? "." : "", (int)el, ext);
		if (!name_taken(c, cand, (size_t)l)) {
			*len = (size_t)l;
			return arena_dup(c, cand, (size_t)l);
		}
	}
	ccp_panic("no free 8.3 name among 2^28 for an attachment");
}

static void walk(struct ccp_convert *c, GMimeObject *obj, int depth);
static void walk_attachments(struct ccp_convert *c, GMimeObject *obj, bool in_related,
			     bool direct, int depth);

static void add_embedded(struct ccp_convert *c, GMimeMessagePart *mp, GMimeObject *obj)
{
	GMimeMessage *inner = g_mime_message_part_get_message(mp);
	g_byte_array_set_size(c->dec, 0);
	if (inner) {
		GMimeStream *s = g_mime_stream_mem_new_with_byte_array(c->dec);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
		/* Written with CRLF line ends, as mail is sent and as the
		 * Windows and DOS clients that detach it read text: GMime's
		 * default, LF, made a forwarded message one long line in
		 * Notepad and no longer the message as it was sent. */
		GMimeFormatOptions *fo = g_mime_format_options_new();
		g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), fo, s);
		g_mime_format_options_free(fo);
		g_object_unref(s);
	}
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
	/* Its name as any part's: a delivery report's "message/rfc822;
	 * name=..." was MESSAGE.EML. */
	const char *fn = leaf_file_name(g_mime_object_get_content_type(obj), d);
	if (fn)
		fn = full_file_name(c, obj, fn);
	size_t nl;
	const char *name = file_name(c, fn ? fn : "MESSAGE.EML", NULL, &nl);
	add_file(c, name, nl, c->dec->data, c->dec->len);
}

/*
 * Text S (N octets) of a part sent format=flowed (RFC 3676), unflowed into
 * OUT: each line that ends in a space (a soft break the sender's mailer
 * made at its width) joined to the next one of the same quote depth,
 * without that space where DELSP is set; the space that stuffs a line
 * (" From", " >") removed; each paragraph's quote marks written once, as
 * ">> " before its text.  The signature line "-- " stays one.  The mailer
 * wrapped at 72 columns for a screen of 80; a cc:Mail window wraps at its
 * own width, where those breaks made every paragraph ragged, and the
 * stuffing showed as an indent.  Lines end in CR LF.
 */
static void unflow(const char *s, size_t n, bool delsp, struct ccp_ccm_buf *out)
{
	bool open = false; /* a paragraph is being joined */
	size_t open_depth = 0;
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n, next = nl ? e + 1 : n;
		if (e > i && s[e - 1] == '\r')
			e--;
		size_t q = i;
		while (q < e && s[q] == '>')
			q++;
		size_t depth = q - i, t = q < e && s[q] == ' ' ? q + 1 : q;
		bool sig = e - t == 3 && memcmp(s + t, "-- ", 3) == 0;
		bool soft = !sig && e > t && s[e - 1] == ' ';
		if (open && (depth != open_depth || sig)) {
			/* A quote that changes mid-paragraph ends it (4.5), and
			 * so does the signature line, which is neither fixed nor
			 * flowed (4.3): joined to the paragraph before it, it
			 * was no longer a signature's separator. */
			ccp_ccm_buf_adds(out, "\r\n");
			open = false;
		}
		if (!open) {
			for (size_t k = 0; k < depth; k++)
				ccp_ccm_buf_addc(out, '>');
			if (depth && e > t)
				ccp_ccm_buf_addc(out, ' ');
			open_depth = depth;
		}
		ccp_ccm_buf_add(out, s + t, e - t - (soft && delsp));
		open = soft;
		if (!soft && nl)
			ccp_ccm_buf_adds(out, "\r\n");
		i = next;
	}
}

/* One leaf part whose decoded content is in c->dec: its content type CT, its
 * disposition D (may be NULL) and its file name FN (may be NULL). */
static void add_leaf(struct ccp_convert *c, GMimeContentType *ct, GMimeContentDisposition *d,
		     const char *fn)
{
	bool attachment = d && g_mime_content_disposition_is_attachment(d);

	if (!attachment && !fn && ct && g_mime_content_type_is_type(ct, "text", "plain")) {
		const char *s = (const char *)c->dec->data;
		size_t n = c->dec->len;
		const char *cs = part_charset(ct, s, n);
		const char *format = g_mime_content_type_get_parameter(ct, "format");
		/* Unflowed octet by octet: not where its spaces, '>' and line
		 * ends are other octets (UTF-16, EBCDIC). */
		if (format && g_ascii_strcasecmp(format, "flowed") == 0 &&
		    ccp_codepage_ascii_is_itself(c->cp, cs)) {
			const char *delsp = g_mime_content_type_get_parameter(ct, "delsp");
			ccp_ccm_buf_reset(&c->u8); /* add_body() takes it: see there */
			unflow(s, n, delsp && g_ascii_strcasecmp(delsp, "yes") == 0, &c->u8);
			s = c->u8.data ? c->u8.data : "";
			n = c->u8.len;
		}
		add_body(c, cs, s, n);
		return;
	}
	if (!attachment && !fn && !c->o.html_as_file && ct &&
	    g_mime_content_type_is_type(ct, "text", "html")) {
		const char *h = (const char *)c->dec->data;
		size_t hl = c->dec->len;
		const char *cs = part_charset(ct, h, hl);
		/* In UTF-8 first, as the code page reads the charset for plain
		 * text (an octet it leaves undefined a '?', an unknown charset
		 * as UTF-8): an entity (&eacute;, &#8364;) then becomes its
		 * character.  Where g_convert() refused the charset or an
		 * octet, every entity past ASCII was a '?', uncounted. */
		if (strcasecmp(cs, "UTF-8") != 0) {
			ccp_ccm_buf_reset(&c->tmp);
			c->st.substitutions += ccp_codepage_utf8(c->cp, cs, h, hl, &c->tmp);
			h = c->tmp.data; /* add_body() reuses c->tmp after the rendering */
			hl = c->tmp.len;
		}
		/* A byte order mark that starts the page is no text before its
		 * first paragraph: the code page would drop it, but the blank
		 * line the paragraph then leaves would stay. */
		if (hl >= 3 && memcmp(h, "\xef\xbb\xbf", 3) == 0) {
			h += 3;
			hl -= 3;
		}
		html_to_text(h, hl, &c->u8);
		add_body(c, "UTF-8", c->u8.data, c->u8.len);
		return;
	}
	size_t nl;
	const char *name;
	if (!fn && ct && g_mime_content_type_is_type(ct, "text", "html"))
		name = file_name(c, "BODY.HTM", ct, &nl);
	else
		name = file_name(c, fn, ct, &nl);
	add_file(c, name, nl, c->dec->data, c->dec->len);
}

/* PART, its content decoded into c->dec already (decode_part()). */
static void add_decoded_part(struct ccp_convert *c, GMimePart *part)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
	const char *fn = leaf_file_name(ct, d);
	add_leaf(c, ct, d, fn ? full_file_name(c, obj, fn) : NULL);
}

static void add_part(struct ccp_convert *c, GMimePart *part)
{
	decode_part(c, part);
	add_decoded_part(c, part);
}

/* Whether a leaf of content type CT and disposition D (may be NULL) is
 * body text of subtype SUB: what multipart/alternative picks.  As
 * add_leaf() takes a part for text: not an attachment, and without a file
 * name (the disposition's filename, else the type's name, as
 * g_mime_part_get_filename() finds it), which would make it a File item
 * and leave the message without its text. */
static bool body_text(GMimeContentType *ct, GMimeContentDisposition *d, const char *sub)
{
	return ct && g_mime_content_type_is_type(ct, "text", sub) &&
	       !(d && g_mime_content_disposition_is_attachment(d)) && !leaf_file_name(ct, d);
}

static bool is_body_text(GMimeObject *o, const char *sub)
{
	return GMIME_IS_PART(o) && body_text(g_mime_object_get_content_type(o),
					     g_mime_object_get_content_disposition(o), sub);
}

/* Whether walk() and walk_attachments() go into OBJ at DEPTH: not past
 * MAX_DEPTH, where it would be dropped, its content lost without a word:
 * the message is refused instead (convert_full()). */
static bool walk_enters(struct ccp_convert *c, GMimeObject *obj, int depth)
{
	if (!obj)
		return false;
	if (depth > MAX_DEPTH)
		c->too_deep = true;
	return depth <= MAX_DEPTH;
}

/*
 * Whether a leaf among or within the alternatives not picked is kept, as a
 * File item: one its sender attached (Content-Disposition: attachment, or
 * a file name), or a calendar (text/calendar: no rendering of the text,
 * but the meeting itself), unless it is a resource of an HTML rendering (a
 * part with a Content-ID in a multipart/related: an inline image, a
 * signature's logo).  Outlook's meeting request is text, HTML and the
 * invitation side by side in one multipart/alternative; Apple Mail sends
 * an inline PDF inside the HTML alternative (text/plain beside
 * multipart/mixed of HTML, the PDF, HTML): with the plain text picked,
 * both were dropped without a word.  CT is NULL for an embedded message.
 */
static bool kept_from_alternative(GMimeContentType *ct, GMimeContentDisposition *d,
				  const char *fn, bool content_id, bool in_related)
{
	return ((d && g_mime_content_disposition_is_attachment(d)) || (fn && *fn) ||
		(ct && g_mime_content_type_is_type(ct, "text", "calendar"))) &&
	       !(in_related && content_id);
}

/* Whether a leaf that is itself an alternative not picked is a rendering of
 * the text, which kept_from_alternative() does not keep for its file name
 * alone: text of a subtype other than calendar, not an attachment. */
static bool alternative_rendering(GMimeContentType *ct, GMimeContentDisposition *d)
{
	return (!ct || g_mime_content_type_is_type(ct, "text", "*")) &&
	       !(ct && g_mime_content_type_is_type(ct, "text", "calendar")) &&
	       !(d && g_mime_content_disposition_is_attachment(d));
}

/* Adds what kept_from_alternative() keeps of OBJ and what is under it: OBJ
 * an alternative walk() did not pick, or a part of one; IN_RELATED whether
 * it is in a multipart/related; DIRECT whether OBJ is the alternative
 * itself. */
static void walk_attachments(struct ccp_convert *c, GMimeObject *obj, bool in_related,
			     bool direct, int depth)
{
	if (!walk_enters(c, obj, depth))
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
		if (kept_from_alternative(NULL, d,
					  leaf_file_name(g_mime_object_get_content_type(obj), d), false,
					  in_related))
			add_embedded(c, GMIME_MESSAGE_PART(obj), obj);
	} else if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		bool related = in_related ||
			       (ct && g_mime_content_type_is_type(ct, "multipart", "related"));
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			walk_attachments(c, g_mime_multipart_get_part(mp, i), related, false,
					 depth + 1);
	} else if (GMIME_IS_PART(obj) &&
		   kept_from_alternative(g_mime_object_get_content_type(obj),
					 g_mime_object_get_content_disposition(obj),
					 leaf_file_name(g_mime_object_get_content_type(obj),
							g_mime_object_get_content_disposition(obj)),
					 g_mime_object_get_content_id(obj) != NULL, in_related) &&
		   !(direct && alternative_rendering(g_mime_object_get_content_type(obj),
						     g_mime_object_get_content_disposition(obj)))) {
		/* Not a second time: every alternative may carry it. */
		decode_part(c, GMIME_PART(obj));
		if (!file_already(c, c->dec->data, c->dec->len))
			add_decoded_part(c, GMIME_PART(obj));
	}
}

static void walk(struct ccp_convert *c, GMimeObject *obj, int depth)
{
	if (!walk_enters(c, obj, depth))
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		add_embedded(c, GMIME_MESSAGE_PART(obj), obj);
	} else if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		int n = g_mime_multipart_get_count(mp);
		if (n == 0) {
			/* No part at all: no boundary parameter, or one its
			 * body never uses (MIME built by hand, a boundary
			 * parameter on a line of its own).  GMime keeps the
			 * whole body as the prologue, which was dropped: the
			 * message arrived empty.  It is the text, MIME lines
			 * and all. */
			const char *pro = g_mime_multipart_get_prologue(mp);
			if (pro && *pro)
				add_body(c, part_charset(NULL, pro, strlen(pro)), pro, strlen(pro));
			return;
		}
		if (ct && g_mime_content_type_is_type(ct, "multipart", "alternative")) {
			/* One rendering: plain text if there is one, else HTML,
			 * else the last (richest) alternative. */
			GMimeObject *pick = NULL;
			for (int i = 0; i < n && !pick; i++)
				if (is_body_text(g_mime_multipart_get_part(mp, i), "plain"))
					pick = g_mime_multipart_get_part(mp, i);
			for (int i = 0; i < n && !pick; i++)
				if (is_body_text(g_mime_multipart_get_part(mp, i), "html"))
					pick = g_mime_multipart_get_part(mp, i);
			pick = pick ? pick : g_mime_multipart_get_part(mp, n - 1);
			walk(c, pick, depth + 1);
			/* The others are renderings of the same text, but one
			 * may be an attachment or a calendar, or a multipart
			 * holding them. */
			for (int i = 0; i < n; i++) {
				GMimeObject *alt = g_mime_multipart_get_part(mp, i);
				if (alt != pick)
					walk_attachments(c, alt, false, true, depth + 1);
			}
			return;
		}
		for (int i = 0; i < n; i++)
			walk(c, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		add_part(c, GMIME_PART(obj));
	}
}

/* ---- the conversion ---------------------------------------------------------- */

/* What the conversion reads of a message's header, from either parse. */
struct head {
	InternetAddressList *from, *to, *cc, *bcc; /* NULL: no such field */
	/* The top-most opts.envelope_field, parsed; NULL: none, or no such
	 * option. */
	InternetAddressList *env;
	GDateTime *date;                           /* NULL: none, or unreadable */
	const char *subject;                       /* decoded (UTF-8); NULL: none */
};

/*
 * Adds the N envelope recipients ENVELOPE (a caller's, or the envelope
 * field's) that are not among the header's recipients written
 * (c->hdr_addrs) as Bcc, as the connector did for distribution-list
 * members (KB Q243184), each mailbox once.  Addresses are compared as the
 * map compares them (addr_key()): the domain in its ASCII form, a quoted
 * local part unquoted, the whole in any case.  GMime hands over To's
 * user@xn--bcher-kva.example decoded, user@bücher.example, and keeps the
 * quotes of "jane.roe"@x.example; the envelope's, compared as written,
 * did not match either: the recipient got the message twice, once as a
 * Bcc.  An
 * envelope that names one mailbox twice (as given, in another case or the
 * other spelling of its domain: two aliases expanded to one address) made
 * a Bcc line of each, and IMPORT delivers each line.  So every mailbox
 * added joins the set the later ones are looked up in: a hash set, as an
 * envelope may list thousands.
 */
static void add_envelope(struct ccp_convert *c, const char *const *envelope, size_t n)
{
	if (n == 0)
		return;
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (size_t k = 0; k < c->nhdr; k++)
		g_hash_table_add(seen, rcpt_key(c, c->hdr_addrs[k]));
	for (size_t i = 0; i < n; i++) {
		if (envelope[i] == NULL)
			continue; /* a hole in the caller's list names no one */
		/* False when the mailbox is there already: in the header, or
		 * added from the envelope before. */
		if (!g_hash_table_add(seen, rcpt_key(c, envelope[i])))
			continue;
		InternetAddress *ia = internet_address_mailbox_new(NULL, envelope[i]);
		if (mailbox_ok(ia)) {
			size_t len;
			bool foreign;
			const char *a = map_mailbox(c, ia, &len, &foreign);
			add_rcpt(c, CCP_CCM_BCC, foreign ? envelope[i] : NULL, a, len);
		}
		g_object_unref(ia);
	}
	g_hash_table_destroy(seen);
}

struct addr_list {
	const char **a;
	size_t n, cap;
};

/* each_mailbox()'s step that collects the addresses into an addr_list. */
static void collect_mailbox(void *arg, InternetAddress *ia)
{
	struct addr_list *al = arg;
	push_addr(&al->a, &al->n, &al->cap,
		  internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
}

/* The header's part of the cc:Mail message: From, Date, the recipients,
 * Subject and X-Spool-Id; or the refusal. */
static enum ccp_convert_status build(struct ccp_convert *c, const struct head *h,
				     const struct ccp_convert_input *in)
{
	struct ccp_ccm_msg *m = &c->msg;
	size_t len;

	/* From: refused when empty or missing (KB Q192594). */
	InternetAddress *from = first_mailbox(h->from, 0);
	if (!from)
		return refuse(c, CCP_CONVERT_ERR_NO_FROM,
			      "empty or missing From (cc:Mail IMPORT would leave the message "
			      "stuck in the queue, KB Q192594); give it a From: address");
	m->from = map_mailbox(c, from, &len, NULL);
	m->from_len = len;

	/* Date, in the post office's local time. */
	GDateTime *dt = h->date;
	time_t now = in->now ? in->now : time(NULL);
	time_t t = dt ? (time_t)g_date_time_to_unix(dt) : now;
	/* Two-digit years read back as 1970-2069: a date outside that would
	 * come back in the wrong century, and is taken as no date. */
	if (!localtime_r(&t, &c->date) || c->date.tm_year < 70 || c->date.tm_year > 169)
		if (!localtime_r(&now, &c->date))
			ccp_panic("localtime_r fails for the current time");
	char date[32];
	size_t dl = ccp_ccm_format_date(date, sizeof(date), &c->date);
	m->date = arena_dup(c, date, dl);
	m->date_len = dl;
	ccp_ccm_format_stamp(c->stamp, sizeof(c->stamp), &c->date);

	/* The envelope field's mailboxes, when the message has some: the
	 * recipients this copy was delivered for, and the only ones written
	 * (as To or Cc where the header names them so, else as Bcc). */
	struct addr_list env = { 0 };
	each_mailbox(h->env, collect_mailbox, &env, 0);
	if (c->o.envelope_field && env.n == 0)
		c->st.envelope_missing = true;
	if (env.n) {
		c->only = g_hash_table_new(g_str_hash, g_str_equal);
		for (size_t i = 0; i < env.n; i++)
			g_hash_table_add(c->only, rcpt_key(c, env.a[i]));
	}
	add_list(c, h->to, CCP_CCM_TO);
	add_list(c, h->cc, CCP_CCM_CC);
	add_list(c, h->bcc, CCP_CCM_BCC);
	if (c->only) {
		g_hash_table_destroy(c->only);
		c->only = NULL;
	}
	add_envelope(c, env.a, env.n);
	ccp_free(env.a);
	add_envelope(c, in->envelope, in->nenvelope);
	if (m->nrcpt == 0)
		return refuse(c, CCP_CONVERT_ERR_NO_RCPT,
			      "no recipient (no To, Cc, Bcc or envelope address); "
			      "address the message to someone");
	size_t ab = ccp_ccm_addr_bytes(m);
	/* The larger buffer is advice only where it is not the one set. */
	if (ab > c->o.addr_buffer)
		return refuse(c, CCP_CONVERT_ERR_HEADER_FULL,
			      "Header Buffer Full: the address lines take %zu octets, over the "
			      "%zu-octet buffer of cc:Mail Import (%zu recipients); split the "
			      "recipients%s",
			      ab, c->o.addr_buffer, m->nrcpt,
			      c->o.addr_buffer < CCP_CCM_ADDR_BUFFER_LARGE
				      ? ", or allow 163840 octets for Import/Export 8.2x and later"
				      : "");

	const char *subj = h->subject;
	if (subj) {
		m->subject = u8_to_cp(c, subj, strlen(subj), c->o.import8, &len);
		m->subject_len = len;
	}
	if (in->key && c->o.spool_id) {
		/* The file's name exactly (ccp_ccm_spool_id_add()), not through
		 * the code page: the post office keys deliveries by it, and the
		 * relay matches the import's report with it. */
		ccp_ccm_buf_reset(&c->tmp);
		ccp_ccm_spool_id_add(&c->tmp, in->key, strlen(in->key));
		ccp_ccm_msg_add_ext(m, "X-Spool-Id", arena_dup(c, c->tmp.data, c->tmp.len),
				    c->tmp.len);
	}
	return CCP_CONVERT_OK;
}

/* ---- address fields -------------------------------------------------------------- */

/*
 * When P starts a Q encoded word whose text holds an address list's
 * specials, raw ("=?UTF-8?Q?Re:_Bob?=", "=?UTF-8?Q?Lee,_Ann?=", as some
 * mailers write them though RFC 2047 5(3) forbids it), appends it to OUT
 * with each special written =XX, which decodes to the same octet, sets
 * *AT to the word's last octet and returns true.  GMime read the word's
 * ':' as a group's and its ',' as the list's: the name was garbled
 * ("_Bob?=") or the mailbox split in two.
 */
static bool q_word_specials(struct ccp_ccm_buf *out, const char *p, char **at)
{
	char enc;
	const char *text, *tend;
	const char *end = encoded_word(p, &enc, &text, &tend);
	if (end == NULL || (enc != 'Q' && enc != 'q'))
		return false;
	static const char specials[] = "()<>@,;:\"[]\\";
	size_t n = (size_t)(tend - text);
	if (strcspn(text, specials) >= n || strcspn(text, " \t\r\n") < n)
		return false;
	ccp_ccm_buf_add(out, p, (size_t)(text - p));
	for (const char *t = text; t < tend; t++) {
		if (strchr(specials, *t))
			ccp_ccm_buf_printf(out, "=%02X", (unsigned char)*t);
		else
			ccp_ccm_buf_addc(out, *t);
	}
	ccp_ccm_buf_adds(out, "?=");
	*at = (char *)end - 1;
	return true;
}

/* Where the address rewrites below are in a field's value: a quoted
 * string, a comment, or (CLOSE set) an angle-addr or a domain literal. */
struct addr_scan {
	bool quoted;
	int comment;
	char close;
};

/* Whether IN[*I] (N octets in all) is inside what SC says is open, taking
 * it into account, and stepping over the octet a '\\' escapes there. */
static bool addr_scan_inside(struct addr_scan *sc, const char *in, size_t n, size_t *i)
{
	char ch = in[*i];
	if (!sc->quoted && !sc->comment && !sc->close)
		return false;
	if ((sc->quoted || sc->comment) && ch == '\\' && *i + 1 < n)
		++*i;
	else if (sc->quoted)
		sc->quoted = ch != '"';
	else if (sc->comment)
		sc->comment += ch == '(' ? 1 : ch == ')' ? -1 : 0;
	else if (ch == sc->close)
		sc->close = '\0';
	return true;
}

/* As addr_scan_inside(), and also true where IN[*I] opens a quoted string
 * or a comment, which SC then holds open: the octets a scan that looks at
 * bare text alone steps over. */
static bool addr_scan_skips(struct addr_scan *sc, const char *in, size_t n, size_t *i)
{
	if (addr_scan_inside(sc, in, n, i))
		return true;
	if (in[*i] == '"')
		sc->quoted = true;
	else if (in[*i] == '(')
		sc->comment = 1;
	else
		return false;
	return true;
}

/*
 * IN (N octets) with each local part that has a dot at its start or its
 * end or two together (taro.@docomo.ne.jp, hanako..y@ezweb.ne.jp: Japanese
 * mobile carriers gave out millions of them) quoted, as RFC 5322 writes
 * such a local part, into OUT: GMime's parse wants a dot-atom there and
 * dropped the mailbox without a word.  Nothing in a quoted string or a
 * comment is touched.
 */
static void quote_dotted_locals(const char *in, size_t n, struct ccp_ccm_buf *out)
{
	struct addr_scan sc = { 0 }; /* an angle-addr's local part is looked at too */
	size_t copied = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (addr_scan_skips(&sc, in, n, &i)) {
			continue;
		} else if (ch == '@') {
			size_t s = i;
			while (s > copied && local_octet((unsigned char)in[s - 1]))
				s--;
			if (s < i && (in[s] == '.' || in[i - 1] == '.' ||
				      memmem(in + s, i - s, "..", 2) != NULL)) {
				ccp_ccm_buf_add(out, in + copied, s - copied);
				ccp_ccm_buf_addc(out, '"');
				ccp_ccm_buf_add(out, in + s, i - s);
				ccp_ccm_buf_addc(out, '"');
				copied = i;
			}
		}
	}
	ccp_ccm_buf_add(out, in + copied, n - copied);
}

/* Whether a ':' that follows a bare address in a mailbox, with S (N
 * octets) after it, is text ("bob@x.example Subject: hello"): no angle-addr
 * follows in the mailbox.  One that does ("bob@x.example: Ann <ann@x>")
 * has a mailbox of its own after the ':', which a group keeps, as GMime
 * reads it. */
static bool colon_is_text(const char *s, size_t n)
{
	struct addr_scan sc = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (addr_scan_skips(&sc, s, n, &i))
			continue;
		if (s[i] == ',' || s[i] == ';')
			break;
		else if (s[i] == '<')
			return false;
	}
	return true;
}

/* Whether the phrase P (N octets) must be quoted for GMime: it has a ':'
 * or a control character outside its quoted strings.  GMime reads
 * "Subject: hi" after a bare address as a group's name, and drops a
 * mailbox whose bare phrase holds a control character (raw ISO-2022-JP's
 * ESC, a stray DEL); a quoted one it takes, as the space it shows as. */
static bool phrase_needs_quotes(const char *p, size_t n)
{
	struct addr_scan sc = { 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (addr_scan_skips(&sc, p, n, &i))
			continue;
		if (ch == ':' || ch == 0x7f || (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n'))
			return true;
	}
	return false;
}

/* The phrase P (N octets) into OUT: as it is, or as one quoted string
 * where phrase_needs_quotes().  Its own quoted strings' marks go then;
 * what they held stays, escaped. */
static void add_phrase(struct ccp_ccm_buf *out, const char *p, size_t n)
{
	if (!phrase_needs_quotes(p, n)) {
		ccp_ccm_buf_add(out, p, n);
		return;
	}
	ccp_ccm_buf_addc(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n)
			i++;
		else if (p[i] == '"')
			continue;
		if (p[i] == '"' || p[i] == '\\')
			ccp_ccm_buf_addc(out, '\\');
		ccp_ccm_buf_addc(out, p[i]);
	}
	ccp_ccm_buf_addc(out, '"');
}

/*
 * IN (N octets) with the address of each mailbox written as a phrase and a
 * bare address ("Bob Smith bob@x.example", "\"Lee, Ann\" ann@x.example",
 * as scripts and web forms write them), or as a bare address and a phrase
 * ("bob@x.example Bob Smith"), put in angle brackets after the phrase,
 * into OUT: GMime's parse found no mailbox there and dropped it without a
 * word.  Only where the mailbox has one word with an '@' and words on one
 * side of it alone; nothing in a quoted string, a comment, an angle-addr
 * or a domain literal is looked at.
 */
static void angle_bare_addresses(const char *in, size_t n, struct ccp_ccm_buf *out)
{
	struct addr_scan sc = { 0 };
	bool angle = false, words = false, before = false, after = false;
	bool second = false; /* another word with an '@' */
	/* The token being read, and the one that holds the mailbox's '@'. */
	size_t copied = 0, ts = SIZE_MAX, as = SIZE_MAX, ae = 0;
	/* Where the mailbox began, and its angle-addr's '<'. */
	size_t ms = 0, lt = SIZE_MAX;
	bool words_before_ts = false;
	for (size_t i = 0; i <= n; i++) {
		/* The end of the input ends the last mailbox, whatever is
		 * open there. */
		char ch = i < n ? in[i] : ',';
		if (i < n && addr_scan_inside(&sc, in, n, &i))
			continue;
		bool blank = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
		/* A ':' ends a group's name, but after the bare address it is
		 * text (parse_addresses() opened no group there), and it ends
		 * the address's word. */
		bool ends = ch == ',' || ch == ';' ||
			    (ch == ':' && (as == SIZE_MAX || !colon_is_text(in + i + 1, n - i - 1)));
		if (ts != SIZE_MAX &&
		    (blank || ends || ch == '(' || ch == '<' || (ch == ':' && ts == as))) {
			if (as == ts)
				ae = i;
			ts = SIZE_MAX;
		}
		if (ends) {
			if (!angle && as != SIZE_MAX && !second && before != after) {
				ccp_ccm_buf_add(out, in + copied, as - copied);
				if (after) {
					/* The phrase first: "Bob Smith <bob@x>". */
					size_t ws = ae + strspn(in + ae, " \t\r\n:");
					add_phrase(out, in + ws, i - ws);
					ccp_ccm_buf_addc(out, ' ');
				}
				ccp_ccm_buf_addc(out, '<');
				ccp_ccm_buf_add(out, in + as, ae - as);
				ccp_ccm_buf_addc(out, '>');
				copied = after ? i : ae;
			} else if (angle) {
				/* The phrase before an angle-addr, quoted where
				 * GMime would drop the mailbox for it. */
				size_t ps = ms + strspn(in + ms, " \t\r\n"), pe = lt;
				while (pe > ps && strchr(" \t\r\n", in[pe - 1]))
					pe--;
				if (pe > ps && phrase_needs_quotes(in + ps, pe - ps)) {
					ccp_ccm_buf_add(out, in + copied, ps - copied);
					add_phrase(out, in + ps, pe - ps);
					copied = pe;
				}
			}
			angle = words = before = after = second = false;
			as = lt = SIZE_MAX;
			ms = i + 1;
			continue;
		}
		if (blank)
			continue;
		if (ch == '(') {
			sc.comment = 1;
			continue;
		}
		if (ch == '<') {
			if (!angle)
				lt = i;
			angle = true;
			sc.close = '>';
			continue;
		}
		if (ts == SIZE_MAX) {
			ts = i;
			after |= as != SIZE_MAX;
			words_before_ts = words;
			words = true;
		}
		if (ch == '"')
			sc.quoted = true;
		else if (ch == '[')
			sc.close = ']';
		else if (ch == '@' && as == SIZE_MAX) {
			as = ts;
			before = words_before_ts;
		} else if (ch == '@' && ts != as) {
			second = true;
		}
	}
	ccp_ccm_buf_add(out, in + copied, n - copied);
}

/* A letter or digit of a name, in any script (a UTF-8 octet of one). */
static bool name_letter(char c)
{
	return g_ascii_isalnum(c) || (unsigned char)c >= 0x80;
}

/*
 * An address field's value V, parsed (its encoded words unjoined first:
 * unjoin_padded_words()): each ';' that ends no group taken for the ','
 * it stands for.  Outlook, web forms and scripts write
 * "bob@x.example; carol@x.example", and GMime's list parse stops at the
 * ';': every recipient after it was dropped without a word.  A ';' in a
 * quoted string, a comment, an angle-addr or a domain literal is left, as
 * is the one that closes a group ("team: a@x, b@x;").  So are the other
 * marks GMime misread: brackets in a display name, a '"' inside a word
 * or one no other closes, a comment left open, an address list's
 * specials raw in a Q encoded word (q_word_specials()), dots where a
 * dot-atom has none
 * (quote_dotted_locals()), a phrase before a bare address
 * (angle_bare_addresses()).
 */
static InternetAddressList *parse_addresses(const char *v)
{
	char *jis = raw_jis_decoded(v);
	if (jis)
		v = jis;
	char *w = unjoin_padded_words(v); /* display names: GMime decodes them */
	if (w == NULL)
		w = g_strdup(v);
	g_free(jis);
	struct ccp_ccm_buf out; /* not a GString: see unjoin_padded_words() */
	ccp_ccm_buf_init(&out);
again:;
	bool quoted = false, group = false;
	bool bare_at = false; /* an '@' at the top level of this mailbox */
	int comment = 0;
	char close = '\0'; /* '>' or ']' while in an angle-addr or domain literal */
	char last = '\0';  /* the last octet outside white space, at the top level */
	char *opened = NULL; /* the '"' that opened the quoted string we are in */
	char *comment_at = NULL; /* the '(' that opened the comment we are in */
	ccp_ccm_buf_reset(&out);
	for (char *p = w; *p; p++) {
		if ((quoted || comment) && *p == '\\' && p[1]) {
			ccp_ccm_buf_addc(&out, *p++);
		} else if (quoted) {
			quoted = *p != '"';
		} else if (comment) {
			comment += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		} else if (close) {
			if (*p == close)
				close = '\0';
		} else if (*p == '=' && p[1] == '?' && q_word_specials(&out, p, &p)) {
			last = '=';
			continue;
		} else if (*p == '"' && p > w && name_letter(p[-1]) && name_letter(p[1])) {
			/* A '"' between two letters (Bob O"Neil) opens no quoted
			 * string: one opens a word.  Taken for one, it paired
			 * with the next name's opening '"' ("Carol Jones"), and
			 * every mailbox between went into a display name. */
			continue;
		} else if (*p == '"') {
			quoted = true;
			opened = p;
		} else if (*p == '(') {
			comment = 1;
			comment_at = p;
		} else if (*p == '[' && last != '@') {
			/* Brackets in a display name ("[EXT] Bob <bob@x>", a
			 * gateway's tag): GMime dropped the whole mailbox.  Read
			 * as the text they are, quoted; only after an '@' are
			 * they a domain literal. */
			size_t n = strcspn(p, "]\"<>,;()");
			if (p[n] == ']') {
				ccp_ccm_buf_addc(&out, '"');
				ccp_ccm_buf_add(&out, p, n + 1);
				ccp_ccm_buf_addc(&out, '"');
				p += n;
				last = ']';
				continue;
			}
			close = ']';
		} else if (*p == '<' || *p == '[') {
			close = *p == '<' ? '>' : ']';
		} else if (*p == ':') {
			/* After a bare address ("bob@x.example Subject: hi", a
			 * script's lost line end) no group begins: the ':' is
			 * text of the phrase angle_bare_addresses() finds. */
			group |= !(bare_at && colon_is_text(p + 1, strlen(p + 1)));
			bare_at = false;
		} else if (*p == ';') {
			if (!group)
				*p = ',';
			group = bare_at = false;
		} else if (*p == ',') {
			bare_at = false;
		} else if (*p == '@') {
			bare_at = true;
		}
		if (!quoted && !comment && !close && !g_ascii_isspace(*p))
			last = *p;
		ccp_ccm_buf_addc(&out, *p);
	}
	if (quoted) {
		/* A '"' that no other closes (Bob O"Neil <bob@x>; carol@x) is
		 * a mark in a name, not a quoted string to the end, which hid
		 * every ';' after it: carol was dropped.  Read again without it,
		 * as GMime reads such a name. */
		memmove(opened, opened + 1, strlen(opened + 1) + 1);
		goto again;
	}
	/* A comment left open ("bob@x (Bob, carol@x") is closed before the
	 * first ',' or ';' after it, where the next mailbox begins: closed
	 * at the end, it took carol in; not closed at all, GMime found no
	 * mailbox in the field, and a message with no other recipient was
	 * refused.  With no ',' or ';' after it, it is closed at the end. */
	if (comment > 0) {
		size_t at = (size_t)(comment_at - w), sep = at + strcspn(w + at, ",;");
		if (w[sep] != '\0') {
			char *closed = g_strdup_printf("%.*s%.*s%s", (int)sep, w, comment,
						       "))))))))))))))))))))))))))))))))", w + sep);
			g_free(w);
			w = closed;
			goto again;
		}
	}
	while (comment-- > 0)
		ccp_ccm_buf_addc(&out, ')');
	g_free(w);
	struct ccp_ccm_buf quoted_locals;
	ccp_ccm_buf_init(&quoted_locals);
	quote_dotted_locals(out.data ? out.data : "", out.len, &quoted_locals);
	ccp_ccm_buf_reset(&out);
	angle_bare_addresses(quoted_locals.data ? quoted_locals.data : "", quoted_locals.len,
			     &out);
	ccp_ccm_buf_addc(&out, '\0');
	InternetAddressList *l = internet_address_list_parse(NULL, out.data);
	ccp_ccm_buf_free(&quoted_locals);
	ccp_ccm_buf_free(&out);
	return l;
}

/* The addresses of every field NAME among the fields FIRST to END - 1 of
 * the header HL, in order, parsed by parse_addresses(); NULL when there is
 * none. */
static InternetAddressList *full_addresses_in(GMimeHeaderList *hl, const char *name, int first,
					      int end)
{
	InternetAddressList *all = NULL;
	for (int i = first; i < end; i++) {
		GMimeHeader *f = g_mime_header_list_get_header_at(hl, i);
		const char *raw = g_mime_header_get_raw_value(f);
		if (g_ascii_strcasecmp(g_mime_header_get_name(f), name) != 0 || raw == NULL)
			continue;
		InternetAddressList *l = parse_addresses(raw);
		if (l == NULL)
			continue;
		if (all == NULL) {
			all = l;
			continue;
		}
		internet_address_list_append(all, l);
		g_object_unref(l);
	}
	return all;
}

static InternetAddressList *full_addresses(GMimeMessage *gm, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	return full_addresses_in(hl, name, 0, g_mime_header_list_get_count(hl));
}

/* Whether header field NAME is one of a resent block's recipients. */
static bool resent_recipients_field(const char *name, size_t len)
{
	return (len == 9 && g_ascii_strncasecmp(name, "Resent-To", 9) == 0) ||
	       (len == 9 && g_ascii_strncasecmp(name, "Resent-Cc", 9) == 0) ||
	       (len == 10 && g_ascii_strncasecmp(name, "Resent-Bcc", 10) == 0);
}

/*
 * The fields *FIRST to *END - 1 of HL: its top-most resent block (RFC 5322
 * 3.6.6: the Resent-* fields a resend puts above the message, the latest
 * on top), when it names recipients; false when there is none.  A message
 * resent (mutt's and Evolution's bounce, a redirect) is for the block's
 * Resent-To, Resent-Cc and Resent-Bcc, not for the To and Cc of its
 * first sending, who had it then: as sendmail -t reads it.
 */
static bool full_resent_block(GMimeHeaderList *hl, int *first, int *end)
{
	int n = g_mime_header_list_get_count(hl), i = 0;
	while (i < n && g_ascii_strncasecmp(
				g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i)),
				"Resent-", 7) != 0)
		i++;
	*first = i;
	bool named = false;
	for (; i < n; i++) {
		const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i));
		if (g_ascii_strncasecmp(name, "Resent-", 7) != 0)
			break;
		named |= resent_recipients_field(name, strlen(name));
	}
	*end = i;
	return named;
}

/* ---- the full parse ---------------------------------------------------------- */

/* GM's Subject, decoded: GMime's, unless its encoded words need unjoining
 * (unjoin_padded_words()), when it is decoded here from the raw value, as
 * the light path decodes it. */
static const char *full_subject(struct ccp_convert *c, GMimeMessage *gm)
{
	/* The last Subject field, the one GMime's subject (and the light
	 * path) takes where a message has two (a script that passes it both
	 * as a parameter and among its extra fields): the first one's words
	 * were unjoined and decoded instead, another subject. */
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	const char *raw = NULL;
	for (int i = g_mime_header_list_get_count(hl) - 1; i >= 0 && !raw; i--) {
		GMimeHeader *f = g_mime_header_list_get_header_at(hl, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(f), "Subject") == 0)
			raw = g_mime_header_get_raw_value(f);
	}
	const char *fixed = words_unjoined(c, raw);
	if (fixed == raw)
		return g_mime_message_get_subject(gm);
	char *v = decoded_text(fixed);
	const char *d = arena_dup(c, v, strlen(v));
	g_free(v);
	return d;
}

/* What with_inserted() puts at each offset. */
enum inserted {
	INSERT_EMPTY_LINE, /* a line end, as the line before it ends (CRLF or LF) */
	INSERT_CR,         /* a CR */
};

/* IN with WHAT put at each of the N offsets AT, in increasing order; the
 * first one in place of the SKIP octets there (for an empty line: a CR
 * and blanks in the line end of the line before it, or none).  Into *OUT
 * (its data in the arena); returns OUT. */
static const struct ccp_convert_input *with_inserted(struct ccp_convert *c,
						     const struct ccp_convert_input *in,
						     const size_t *at, size_t n, size_t skip,
						     enum inserted what,
						     struct ccp_convert_input *out)
{
	char *copy = arena_alloc(c, in->len + 2 * n);
	size_t from = 0, len = 0;
	for (size_t i = 0; i < n; i++) {
		const char *put = "\r";
		if (what == INSERT_EMPTY_LINE)
			put = at[i] >= 2 && in->data[at[i] - 2] == '\r' ? "\r\n" : "\n";
		memcpy(copy + len, in->data + from, at[i] - from);
		len += at[i] - from;
		memcpy(copy + len, put, strlen(put));
		len += strlen(put);
		from = at[i] + (i == 0 ? skip : 0);
	}
	memcpy(copy + len, in->data + from, in->len - from);
	len += in->len - from;
	*out = *in;
	out->data = copy;
	out->len = len;
	return out;
}

static bool light_boundary_rest(const char *s, size_t n);

/* The boundaries the line-end mend below knows at once: a message's own
 * and those of its multiparts, nested as deep as mail nests them. */
#define MEND_BOUNDARIES 32

struct boundaries {
	size_t n;
	const char *b[MEND_BOUNDARIES];
	size_t len[MEND_BOUNDARIES];
};

/* Adds each boundary parameter's value in the header block H (N octets),
 * quoted or not, to BS, while there is room. */
static void boundaries_in(const char *h, size_t n, struct boundaries *bs)
{
	for (size_t i = 0; i + 8 <= n && bs->n < MEND_BOUNDARIES; i++) {
		if (g_ascii_strncasecmp(h + i, "boundary", 8) != 0)
			continue;
		size_t j = i + 8;
		while (j < n && (h[j] == ' ' || h[j] == '\t'))
			j++;
		if (j >= n || h[j] != '=')
			continue;
		for (j++; j < n && (h[j] == ' ' || h[j] == '\t');)
			j++;
		bool quoted = j < n && h[j] == '"';
		size_t v = j + quoted, e = v;
		while (e < n && h[e] != '\r' && h[e] != '\n' && h[e] != '"' &&
		       (quoted || (h[e] != ' ' && h[e] != '\t' && h[e] != ';')))
			e++;
		if (e > v && e - v <= 200) {
			bs->b[bs->n] = h + v;
			bs->len[bs->n++] = e - v;
		}
		i = e;
	}
}

/* Whether the line L (LL octets, without its LF) is a boundary line of
 * one of BS: "--", the boundary, "--" if it closes, then nothing but SP,
 * HT or CR (light_boundary_rest()); sets *CLOSES. */
static bool boundary_line_of(const char *l, size_t ll, const struct boundaries *bs, bool *closes)
{
	if (ll < 3 || l[0] != '-' || l[1] != '-')
		return false;
	for (size_t i = 0; i < bs->n; i++) {
		size_t bl = bs->len[i], r = 2 + bl;
		if (ll < r || memcmp(l + 2, bs->b[i], bl) != 0)
			continue;
		*closes = ll >= r + 2 && l[r] == '-' && l[r + 1] == '-';
		if (light_boundary_rest(l + r + 2 * *closes, ll - r - 2 * *closes))
			return true;
	}
	return false;
}

/*
 * Calls FN(ARG, L, E, CLOSES) for each boundary line of S (N octets) past
 * its header block of HL octets, which names the outermost boundary: the
 * line runs from L to its LF at E, and CLOSES says it ends its multipart.
 * After a line that does not, the part's header block is read for its own
 * multipart's boundary, once FN has had the line: FN may mend that block
 * (through a pointer of its own to the same octets).
 */
static void each_boundary_line(const char *s, size_t n, size_t hl,
			       void (*fn)(void *arg, size_t l, size_t e, bool closes), void *arg)
{
	struct boundaries bs = { 0 };
	boundaries_in(s, hl, &bs);
	for (size_t l = hl; bs.n && l < n;) {
		const char *nl = memchr(s + l, '\n', n - l);
		if (nl == NULL)
			break;
		size_t e = (size_t)(nl - s), next = e + 1;
		bool closes;
		if (s[l] == '-' && boundary_line_of(s + l, e - l, &bs, &closes)) {
			fn(arg, l, e, closes);
			if (!closes) {
				/* A part's own multipart names its boundary in
				 * the header that follows. */
				struct ccp_header_block phb;
				ccp_headers_block(s + next, n - next, &phb);
				boundaries_in(s + next, phb.len, &bs);
			}
		}
		l = next;
	}
}

struct cr_mends {
	const char *s;
	size_t **at, *cap, k;
};

/* each_boundary_line()'s call for boundary_line_end_mends(). */
static void cr_mend_at(void *arg, size_t l, size_t e, bool closes)
{
	struct cr_mends *m = arg;
	(void)closes;
	/* l is where a line starts: after an LF, or at hl, after the header
	 * block's last. */
	bool own_cr = e > l && m->s[e - 1] == '\r';
	bool before_cr = l >= 2 && m->s[l - 2] == '\r';
	if (l >= 1 && own_cr != before_cr) {
		if (m->k == *m->cap) {
			*m->cap = *m->cap ? 2 * *m->cap : 16;
			*m->at = ccp_realloc(*m->at, *m->cap * sizeof(**m->at));
		}
		(*m->at)[m->k++] = own_cr ? l - 1 : e;
	}
}

/*
 * The offsets (in increasing order, into the array *AT of *CAP, grown with
 * ccp_realloc(): the caller frees it) where IN, past its header block of
 * HL octets, needs a CR so that each boundary line and the line end before
 * it, which RFC 2046 makes the boundary's, end alike; returns how many.  GMime takes two octets back from a part's
 * content before a boundary line that itself ends in CR LF, and one before
 * one that ends in LF, whatever the line end before it was: a part whose
 * lines end in LF in a message whose boundary lines end in CR LF (a part
 * built by a script, a file pasted in) lost its last octet (an
 * attachment's last byte, "line2" was "line"), and in the opposite mix
 * kept a CR that was no content.  A CR where the one side lacks it makes
 * both two octets, taken back whole.
 */
static size_t boundary_line_end_mends(const struct ccp_convert_input *in, size_t hl,
				      size_t **at, size_t *cap)
{
	/* No CR at all: every line ends alike. */
	if (memchr(in->data, '\r', in->len) == NULL)
		return 0;
	struct cr_mends m = { .s = in->data, .at = at, .cap = cap, .k = 0 };
	each_boundary_line(in->data, in->len, hl, cr_mend_at, &m);
	return m.k;
}

/* The octets part_header_nuls() mends. */
struct mutable_text {
	char *s;
	size_t n;
};

/* each_boundary_line()'s call for part_header_nuls(). */
static void nuls_after(void *arg, size_t l, size_t e, bool closes)
{
	struct mutable_text *t = arg;
	(void)l;
	if (closes)
		return;
	char *h = t->s + e + 1;
	struct ccp_header_block phb;
	ccp_headers_block(h, t->n - (e + 1), &phb);
	for (char *p = h; (p = memchr(p, '\0', phb.len - (size_t)(p - h))) != NULL; p++)
		*p = ' ';
}

/*
 * Each NUL in the header blocks of the parts of COPY (N octets, the
 * caller's own; its header block, HL octets, names the outermost
 * boundary), at any depth, made a space, as the message's own header's
 * are: GMime ended the field it was in ("filename=\"quarterly\0report.pdf\""
 * was "quarterly", its extension lost).  Each block is mended before it is
 * read for its own multipart's boundary.
 */
static void part_header_nuls(char *copy, size_t n, size_t hl)
{
	struct mutable_text t = { copy, n };
	each_boundary_line(copy, n, hl, nuls_after, &t);
}

/* Parses of one message at most: the first, and one per round of mends
 * (on_parser_warning()); one round mends every header it saw, and a mend
 * can bring another to light only inside the content it gave back. */
#define FULL_PARSES 4

static enum ccp_convert_status convert_full(struct ccp_convert *c,
					    const struct ccp_convert_input *in)
{
	GMimeMessage *gm = NULL;
	struct ccp_convert_input mended;
	for (unsigned round = 0; round < FULL_PARSES; round++) {
		if (round > 0)
			in = with_inserted(c, in, c->slip.at, c->slip.n, 0, INSERT_EMPTY_LINE, &mended);
		c->slip.data = in->data;
		c->slip.len = in->len;
		c->slip.n = 0;
		c->slip.last = -1;
		c->slip.cut = false;
		GMimeStream *s = g_mime_stream_mem_new_with_buffer(in->data, in->len);
		GMimeParser *p = g_mime_parser_new_with_stream(s);
		g_object_unref(s);
		gm = g_mime_parser_construct_message(p, c->popts);
		g_object_unref(p);
		if (gm == NULL || c->slip.n == 0 || round + 1 == FULL_PARSES)
			break;
		g_object_unref(gm);
	}
	if (!gm)
		return refuse(c, CCP_CONVERT_ERR_PARSE,
			      "not an RFC 5322 message (no header block could be parsed)");
	InternetAddressList *env = NULL;
	if (c->o.envelope_field) {
		/* The first of its fields is the top-most: the one the last MTA,
		 * which delivered this copy, wrote. */
		GMimeHeader *f = g_mime_header_list_get_header(
			g_mime_object_get_header_list(GMIME_OBJECT(gm)), c->o.envelope_field);
		const char *raw = f ? g_mime_header_get_raw_value(f) : NULL;
		if (raw)
			env = parse_addresses(raw);
	}
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	int rb, re;
	bool resent = full_resent_block(hl, &rb, &re);
	const struct head h = {
		.env = env,
		.from = full_addresses(gm, "From"),
		.to = resent ? full_addresses_in(hl, "Resent-To", rb, re) : full_addresses(gm, "To"),
		.cc = resent ? full_addresses_in(hl, "Resent-Cc", rb, re) : full_addresses(gm, "Cc"),
		.bcc = resent ? full_addresses_in(hl, "Resent-Bcc", rb, re)
			      : full_addresses(gm, "Bcc"),
		.date = g_mime_message_get_date(gm),
		.subject = full_subject(c, gm),
	};
	enum ccp_convert_status st = build(c, &h, in);
	InternetAddressList *owned[] = { env, h.from, h.to, h.cc, h.bcc };
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		if (owned[i])
			g_object_unref(owned[i]);
	if (st == CCP_CONVERT_OK)
		walk(c, g_mime_message_get_mime_part(gm), 0);
	g_object_unref(gm); /* every string of c->msg is in the arena */
	if (st == CCP_CONVERT_OK && c->too_deep)
		st = refuse(c, CCP_CONVERT_ERR_PARSE,
			    "MIME parts nested more than %d levels deep, whose content would "
			    "be lost; deliver it by other means", MAX_DEPTH);
	return st;
}

/* ---- the light path ---------------------------------------------------------- */

/*
 * Most mail is one text part, a text part and attachments in a
 * multipart/mixed, or text and HTML in a multipart/alternative.  For it the
 * full parse builds a message object, a header list with an object per
 * field, six address lists, the parts, their content wrappers and streams;
 * and freeing that tree costs about as much as building it.  The light path
 * takes the header block as spans (headers.h) and hands each field it needs
 * to the GMime function the full parse would use on it (address lists,
 * unfolding, encoded words, dates, Content-Type and Content-Disposition
 * parameters, transfer decoders), so every value is the full parse's, and
 * no tree is built.
 *
 * What GMime's parser does with the fields (gmime-message.c, gmime-part.c):
 * From, To, Cc and Bcc are each the field's raw value, parsed as an address
 * list; Subject and Date the last such field's value, unfolded and decoded;
 * Content-Type, Content-Disposition and Content-Transfer-Encoding the part's,
 * from the decoded value.  The part's content is every octet after the empty
 * line, undone by its transfer encoding.  A multipart/mixed, /alternative
 * or /related body is split at its boundary lines as GMime's parser splits
 * it (light_split()), and each part read as a message is, for its Content-*
 * fields alone; a part may be such a multipart in turn, to LIGHT_LEVELS
 * levels.  The tree is converted as walk() converts GMime's: of an
 * alternative, the one part walk() would pick.
 *
 * light_fields() and light_split() decline, before anything is built,
 * whatever the full parse might read another way: a block the scanner
 * declines; a message type, a multipart of another subtype, multiparts
 * more than LIGHT_LEVELS deep; a uuencoded body
 * (GMime's filter looks for "begin" lines); a repeated address field (GMime
 * joins their lists) or Content-Type, Content-Disposition or
 * Content-Transfer-Encoding; a comment in an address field (an unclosed one
 * makes GMime's list parse and its message parse disagree); the multipart
 * cases light_split() lists.  test_light and
 * fuzz_convert check that both paths give the same octets.
 */

struct light {
	const struct ccp_header_field *from, *to, *cc, *bcc, *subject, *date;
	const struct ccp_header_field *env; /* the top-most opts.envelope_field */
	const struct ccp_header_field *type, *disposition, *encoding;
	bool multipart; /* the type is multipart/... (checked further on) */
	bool content_id; /* a part with a Content-ID field */
	size_t body;    /* offset of the content */
};

static bool light_once(const struct ccp_header_field **slot, const struct ccp_header_field *f)
{
	if (*slot)
		return false;
	*slot = f;
	return true;
}

static bool has_octet(const struct ccp_header_field *f, char ch)
{
	return memchr(f->raw, ch, f->raw_len) != NULL;
}

enum light_type { LIGHT_LEAF, LIGHT_MULTIPART, LIGHT_DECLINE };

/* The media type token of a raw Content-Type, as GMime's parser reads it to
 * choose between a leaf and a container: "message" (any case) declines, as
 * does any octet that could make GMime read the token otherwise (comments,
 * quotes, encoded words, 8-bit); "multipart" is told apart. */
static enum light_type light_type_of(const struct ccp_header_field *f)
{
	static const char tok[] = "!#$%&'*+-.^_`{|}~";
	const char *p = f->raw, *end = f->raw + f->raw_len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	const char *t = p;
	while (p < end && (isalnum((unsigned char)*p) || (*p && strchr(tok, *p))) &&
	       !((unsigned char)*p & 0x80))
		p++;
	size_t n = (size_t)(p - t);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p < end && *p != '/')
		return LIGHT_DECLINE;
	if (n == 7 && g_ascii_strncasecmp(t, "message", 7) == 0)
		return LIGHT_DECLINE;
	if (n == 9 && g_ascii_strncasecmp(t, "multipart", 9) == 0)
		return LIGHT_MULTIPART;
	return LIGHT_LEAF;
}

/* Fills L from the header block at the start of DATA (LEN octets); false
 * when it needs the full parse.  A message's block gives the address
 * fields, Subject and Date as well; a part's (PART) only its Content-*
 * fields, all GMime reads of a part, and a part may have none.  L points
 * into c->field for a message and c->part_field for a part, so a part's
 * scan leaves the message's fields alone. */
static bool light_fields(struct ccp_convert *c, const char *data, size_t len, bool part,
			 struct light *l)
{
	struct ccp_header_field *fields = part ? c->part_field : c->field;
	if (part && len > 0 && (data[0] == '\n' || (len > 1 && data[0] == '\r' && data[1] == '\n'))) {
		/* A part without header fields (its first line empty): GMime's
		 * defaults, text/plain and no encoding. */
		l->body = data[0] == '\n' ? 1 : 2;
		return true;
	}
	size_t n = ccp_headers_scan(data, len, fields, LIGHT_FIELDS, &l->body);
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct ccp_header_field *f = &fields[i];
		const struct ccp_header_field **addr = NULL;
		/* The first one, as the full parse takes it; a comment in it
		 * declines, as in an address field. */
		if (!part && c->o.envelope_field && !l->env && ccp_header_is(f, c->o.envelope_field)) {
			if (has_octet(f, '('))
				return false;
			l->env = f;
		}
		switch (f->name[0] | 0x20) {
		case 'b':
			if (!part && ccp_header_is(f, "Bcc"))
				addr = &l->bcc;
			break;
		case 'c':
			if (!part && ccp_header_is(f, "Cc")) {
				addr = &l->cc;
			} else if (f->name_len > 8 && g_ascii_strncasecmp(f->name, "Content-", 8) == 0) {
				if (ccp_header_is(f, "Content-Type")) {
					if (!light_once(&l->type, f))
						return false;
					enum light_type t = light_type_of(f);
					if (t == LIGHT_DECLINE)
						return false;
					l->multipart = t == LIGHT_MULTIPART;
				}
				if (ccp_header_is(f, "Content-Disposition") &&
				    !light_once(&l->disposition, f))
					return false;
				if (ccp_header_is(f, "Content-Transfer-Encoding") &&
				    !light_once(&l->encoding, f))
					return false;
				if (ccp_header_is(f, "Content-ID"))
					l->content_id = true;
			}
			break;
		case 'd':
			if (!part && ccp_header_is(f, "Date"))
				l->date = f;
			break;
		case 'f':
			if (!part && ccp_header_is(f, "From"))
				addr = &l->from;
			break;
		case 'r':
			/* A resent message's recipients are its top-most
			 * resent block's: the full parse finds the block. */
			if (!part && resent_recipients_field(f->name, f->name_len))
				return false;
			break;
		case 's':
			if (!part && ccp_header_is(f, "Subject"))
				l->subject = f;
			break;
		case 't':
			if (!part && ccp_header_is(f, "To"))
				addr = &l->to;
			break;
		}
		if (addr && (has_octet(f, '(') || !light_once(addr, f)))
			return false;
	}
	return true;
}

/* The raw value of F as a C string in the arena (NULL when F is NULL). */
static const char *light_raw(struct ccp_convert *c, const struct ccp_header_field *f)
{
	return f ? arena_dup(c, f->raw, f->raw_len) : NULL;
}

/* The value GMime's header object gives: unfolded, encoded words decoded
 * (g_free it). */
static char *light_value(struct ccp_convert *c, const struct ccp_header_field *f)
{
	return f ? decoded_text(words_unjoined(c, light_raw(c, f))) : NULL;
}

static InternetAddressList *light_addresses(struct ccp_convert *c,
					    const struct ccp_header_field *f)
{
	return f ? parse_addresses(light_raw(c, f)) : NULL;
}

/* The transfer encoding of a Content-Transfer-Encoding field (NULL: none). */
static GMimeContentEncoding light_encoding(struct ccp_convert *c,
					   const struct ccp_header_field *f)
{
	GMimeContentEncoding enc = GMIME_CONTENT_ENCODING_DEFAULT;
	char *encoding = light_value(c, f);
	if (encoding)
		enc = g_mime_content_encoding_from_string(encoding);
	g_free(encoding);
	return enc;
}

/* One leaf: its Content-* fields (copied: the field array is reused for
 * every part) and its content, still transfer-encoded. */
struct light_leaf {
	struct ccp_header_field type, disposition;
	bool has_type, has_disposition, content_id;
	GMimeContentEncoding enc;
	const char *content;
	size_t len;
};

static void light_leaf_of(struct light_leaf *o, const struct light *l, GMimeContentEncoding enc,
			  const char *content, size_t len)
{
	memset(o, 0, sizeof(*o));
	if ((o->has_type = l->type != NULL))
		o->type = *l->type;
	if ((o->has_disposition = l->disposition != NULL))
		o->disposition = *l->disposition;
	o->content_id = l->content_id;
	o->enc = enc;
	o->content = content;
	o->len = len;
}

/* SRC (N octets) undone by its transfer encoding, into c->dec, as
 * g_mime_data_wrapper_write_to_stream() writes it. */
static void light_decode(struct ccp_convert *c, const char *src, size_t n,
			 GMimeContentEncoding enc)
{
	if (enc != GMIME_CONTENT_ENCODING_BASE64 && enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		g_byte_array_set_size(c->dec, 0);
		g_byte_array_append(c->dec, (const guint8 *)src, (guint)n);
		return;
	}
	GMimeEncoding e;
	g_mime_encoding_init_decode(&e, enc);
	g_byte_array_set_size(c->dec, (guint)g_mime_encoding_outlen(&e, n));
	size_t w = g_mime_encoding_step(&e, src, n, (char *)c->dec->data);
	w += g_mime_encoding_flush(&e, "", 0, (char *)c->dec->data + w);
	g_byte_array_set_size(c->dec, (guint)w);
}

/* A leaf's Content-Type (text/plain when it has none) and
 * Content-Disposition (NULL when none), parsed as GMime parses a part's. */
struct light_meta {
	char *type, *disp;
	GMimeContentType *ct;
	GMimeContentDisposition *d;
};

static void light_meta_open(struct ccp_convert *c, const struct light_leaf *p,
			    struct light_meta *m)
{
	m->type = light_value(c, p->has_type ? &p->type : NULL);
	m->disp = light_value(c, p->has_disposition ? &p->disposition : NULL);
	m->ct = m->type ? g_mime_content_type_parse(NULL, m->type)
			: g_mime_content_type_new("text", "plain");
	m->d = m->disp ? g_mime_content_disposition_parse(NULL, m->disp) : NULL;
}

static void light_meta_close(struct light_meta *m)
{
	if (m->d)
		g_object_unref(m->d);
	g_object_unref(m->ct);
	g_free(m->type);
	g_free(m->disp);
}

/* Adds the leaf P to the message, as add_part() adds GMime's part; with
 * ONCE, not when the message has a File item of its content already
 * (walk_attachments()). */
static void light_add_leaf(struct ccp_convert *c, const struct light_leaf *p, bool once)
{
	struct light_meta m;
	light_meta_open(c, p, &m);
	const char *fn = leaf_file_name(m.ct, m.d);
	if (fn)
		fn = raw_file_name(c, light_raw(c, p->has_disposition ? &p->disposition : NULL),
				   light_raw(c, p->has_type ? &p->type : NULL), fn);
	light_decode(c, p->content, p->len, p->enc);
	if (!once || !file_already(c, c->dec->data, c->dec->len))
		add_leaf(c, m.ct, m.d, fn);
	light_meta_close(&m);
}

/* Nodes of a message's MIME tree the light path takes; more: full parse. */
#define LIGHT_NODES 48

/* The light path's MIME tree: a leaf, or a multipart whose children are a
 * list.  Nodes are numbered in the order GMime meets them. */
struct light_node {
	bool container, alternative, related;
	int first, last, next; /* children, and the next sibling; -1: none */
	struct light_leaf leaf; /* leaves only */
};

struct light_tree {
	struct light_node n[LIGHT_NODES];
	int count;
};

/* A new node under PARENT (-1: the root); -1 when the tree is full. */
static int light_node_new(struct light_tree *t, int parent, bool container)
{
	if (t->count == LIGHT_NODES)
		return -1;
	int i = t->count++;
	struct light_node *n = &t->n[i];
	memset(n, 0, sizeof(*n));
	n->container = container;
	n->first = n->last = n->next = -1;
	if (parent >= 0) {
		struct light_node *p = &t->n[parent];
		if (p->last >= 0)
			t->n[p->last].next = i;
		else
			p->first = i;
		p->last = i;
	}
	return i;
}

/*
 * Whether the entity of header fields L is a multipart the light path
 * splits: multipart/mixed, multipart/alternative or multipart/related, as
 * GMime reads its Content-Type, with a boundary of 1 to 200 octets, and no
 * transfer encoding of its own.  (Their parts default to text/plain; a
 * digest's default to message/rfc822, and signed and encrypted ones are
 * classes of their own in GMime: all three take the full parse.)  Sets
 * *ALTERNATIVE, and *B and *BL to the boundary (in the arena).
 */
static bool light_multipart(struct ccp_convert *c, const struct light *l, bool *alternative,
			    bool *related, const char **b, size_t *bl)
{
	if (!l->multipart || l->encoding)
		return false;
	char *type = light_value(c, l->type);
	GMimeContentType *ct = g_mime_content_type_parse(NULL, type);
	*alternative = g_mime_content_type_is_type(ct, "multipart", "alternative");
	*related = g_mime_content_type_is_type(ct, "multipart", "related");
	const char *v = *alternative || g_mime_content_type_is_type(ct, "multipart", "mixed") ||
				*related
				? g_mime_content_type_get_parameter(ct, "boundary")
				: NULL;
	bool ok = v && *v && strlen(v) <= 200;
	if (ok) {
		*bl = strlen(v);
		*b = arena_dup(c, v, *bl);
	}
	g_object_unref(ct);
	g_free(type);
	return ok;
}

/*
 * Whether the rest of a line after its delimiter (N octets, without the LF)
 * lets it be a boundary line, as GMime's parser tells one (gmime-parser.c,
 * is_boundary): nothing but SP, HT or CR.
 */
static bool light_boundary_rest(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static bool light_split(struct ccp_convert *c, struct light_tree *t, int parent, const char *data,
			size_t len, const char *b, size_t bl, int depth);

/* Multipart levels the light path takes, the message's own counted: mail
 * with alternatives, inline images and attachments has three. */
#define LIGHT_LEVELS 3

/* Adds the part from PART to the boundary line at P (LL octets, without its
 * LF) to the tree under PARENT: a leaf, or a multipart split in turn while
 * DEPTH (the levels above the part, less one) allows.  False to decline. */
static bool light_part(struct ccp_convert *c, struct light_tree *t, int parent, const char *part,
		       const char *p, size_t ll, int depth)
{
	struct light pl = { 0 };
	if (!light_fields(c, part, (size_t)(p - part), true, &pl))
		return false;
	if (pl.multipart) {
		/* A multipart within a multipart, as mail with attachments,
		 * alternatives and inline images comes; deeper than LIGHT_LEVELS
		 * takes the full parse.  Its body runs to the enclosing boundary
		 * line: its own epilogue is ignored. */
		bool alternative, related;
		const char *ib;
		size_t ibl;
		if (depth + 2 > LIGHT_LEVELS ||
		    !light_multipart(c, &pl, &alternative, &related, &ib, &ibl))
			return false;
		int i = light_node_new(t, parent, true);
		if (i < 0)
			return false;
		t->n[i].alternative = alternative;
		t->n[i].related = related;
		return light_split(c, t, i, part + pl.body, (size_t)(p - (part + pl.body)), ib, ibl,
				   depth + 1);
	}
	GMimeContentEncoding enc = light_encoding(c, pl.encoding);
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return false;
	/* The line end before the boundary line belongs to it.  GMime takes
	 * back two octets when the boundary line itself ends in CR
	 * (parser_scan_content), else one, whatever the content's own last
	 * line ends in. */
	size_t clen = (size_t)(p - (part + pl.body)), strip = 0;
	if (clen > 0) {
		strip = ll > 0 && p[ll - 1] == '\r' ? 2 : 1;
		if (clen < strip)
			return false;
	}
	int i = light_node_new(t, parent, false);
	if (i < 0)
		return false;
	light_leaf_of(&t->n[i].leaf, &pl, enc, part + pl.body, clen - strip);
	return true;
}

/*
 * Splits the body of a multipart (DATA, LEN octets from the end of its
 * header block) at boundary B into its parts, under node PARENT; false to
 * decline.  What GMime's parser does: everything before the first "--B"
 * line is the preamble and everything after the "--B--" line the epilogue,
 * both ignored; each part runs from the line after its "--B" line to the
 * next boundary line, less the line end before it; a part has a header
 * block and content, as a message does.  Declined: a body without the two
 * kinds of line in that order, a boundary-like line (it starts with "--B")
 * too long to be sure GMime judged it whole, a part light_part() declines,
 * a tree of more than LIGHT_NODES nodes.  An enclosing multipart's boundary
 * lines cannot occur here: its split ended the part before them.
 */
static bool light_split(struct ccp_convert *c, struct light_tree *t, int parent, const char *data,
			size_t len, const char *b, size_t bl, int depth)
{
	const char *p = data, *end = data + len;
	const char *part = NULL; /* the current part's first octet; NULL: preamble */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)((eol ? eol : end) - p);
		bool close = false, open = false;
		if (ll >= 2 + bl && p[0] == '-' && p[1] == '-' && memcmp(p + 2, b, bl) == 0) {
			/* GMime may judge a line longer than its 4 KiB scan
			 * buffer by the part it holds; no mailer writes long
			 * boundary lines, so a long one declines. */
			if (ll > 2 + bl + 2 + 64)
				return false;
			/* "--B--" first, as GMime looks for the end first. */
			size_t at = 2 + bl;
			close = ll >= at + 2 && p[at] == '-' && p[at + 1] == '-' &&
				light_boundary_rest(p + at + 2, ll - at - 2);
			open = !close && light_boundary_rest(p + at, ll - at);
		}
		if (open || close) {
			if (part && !light_part(c, t, parent, part, p, ll, depth))
				return false;
			if (close)
				return part != NULL; /* no part before the end: decline */
			if (!eol)
				return false; /* a boundary as the last line: nothing after it */
			part = eol + 1;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return false; /* no closing boundary */
}

/* Whether leaf P is body text of subtype SUB (is_body_text() of a part). */
static bool light_is_body_text(struct ccp_convert *c, const struct light_leaf *p,
			       const char *sub)
{
	struct light_meta m;
	light_meta_open(c, p, &m);
	bool yes = body_text(m.ct, m.d, sub);
	light_meta_close(&m);
	return yes;
}

/* The child of multipart/alternative node A that walk() converts: plain
 * text if there is one, else HTML, else the last (richest) alternative; a
 * multipart child is never body text. */
static int light_pick_alternative(struct ccp_convert *c, const struct light_tree *t, int a)
{
	static const char *const subs[] = { "plain", "html" };
	for (size_t s = 0; s < 2; s++)
		for (int i = t->n[a].first; i >= 0; i = t->n[i].next)
			if (!t->n[i].container && light_is_body_text(c, &t->n[i].leaf, subs[s]))
				return i;
	return t->n[a].last;
}

/* Adds what kept_from_alternative() keeps of node I and what is under it,
 * as walk_attachments() does. */
static void light_emit_attachments(struct ccp_convert *c, const struct light_tree *t, int i,
				   bool in_related, bool direct)
{
	const struct light_node *n = &t->n[i];
	if (n->container) {
		for (int k = n->first; k >= 0; k = t->n[k].next)
			light_emit_attachments(c, t, k, in_related || n->related, false);
		return;
	}
	struct light_meta m;
	light_meta_open(c, &n->leaf, &m);
	bool kept = kept_from_alternative(m.ct, m.d, leaf_file_name(m.ct, m.d),
					  n->leaf.content_id, in_related) &&
		    !(direct && alternative_rendering(m.ct, m.d));
	light_meta_close(&m);
	if (kept)
		light_add_leaf(c, &n->leaf, true);
}

/* Converts node I and what is under it, as walk() converts GMime's tree. */
static void light_emit(struct ccp_convert *c, const struct light_tree *t, int i)
{
	const struct light_node *n = &t->n[i];
	if (!n->container) {
		light_add_leaf(c, &n->leaf, false);
	} else if (n->alternative) {
		int pick = light_pick_alternative(c, t, i);
		light_emit(c, t, pick);
		for (int k = n->first; k >= 0; k = t->n[k].next)
			if (k != pick)
				light_emit_attachments(c, t, k, false, true);
	} else {
		for (int k = n->first; k >= 0; k = t->n[k].next)
			light_emit(c, t, k);
	}
}

/* Converts IN by the light path into *ST; false (nothing done) when IN needs
 * the full parse. */
static bool convert_light(struct ccp_convert *c, const struct ccp_convert_input *in,
			  enum ccp_convert_status *st)
{
	struct light l = { 0 };
	if (!light_fields(c, in->data, in->len, false, &l))
		return false;
	GMimeContentEncoding enc = light_encoding(c, l.encoding);
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return false;

	/* The whole tree, before anything is built: a decline must leave
	 * nothing behind for the full parse. */
	struct light_tree tree, *t = &tree; /* about 5 KiB of stack */
	t->count = 0;
	if (l.multipart) {
		bool alternative, related;
		const char *b;
		size_t bl;
		if (!light_multipart(c, &l, &alternative, &related, &b, &bl))
			return false;
		int root = light_node_new(t, -1, true);
		t->n[root].alternative = alternative;
		t->n[root].related = related;
		if (!light_split(c, t, root, in->data + l.body, in->len - l.body, b, bl, 0))
			return false;
	} else {
		light_leaf_of(&t->n[light_node_new(t, -1, false)].leaf, &l, enc, in->data + l.body,
			      in->len - l.body);
	}

	char *subject = light_value(c, l.subject);
	char *date = light_value(c, l.date);
	struct head h = {
		.env = light_addresses(c, l.env),
		.from = light_addresses(c, l.from),
		.to = light_addresses(c, l.to),
		.cc = light_addresses(c, l.cc),
		.bcc = light_addresses(c, l.bcc),
		.date = date ? g_mime_utils_header_decode_date(date) : NULL,
		.subject = subject,
	};
	*st = build(c, &h, in);
	if (*st == CCP_CONVERT_OK) {
		light_emit(c, t, 0);
		c->st.light_parse = true;
	}
	InternetAddressList *lists[] = { h.from, h.to, h.cc, h.bcc, h.env };
	for (size_t i = 0; i < CCP_ARRAY_LEN(lists); i++)
		if (lists[i])
			g_object_unref(lists[i]);
	if (h.date)
		g_date_time_unref(h.date);
	g_free(subject);
	g_free(date);
	return true;
}

enum ccp_convert_status ccp_convert_message(struct ccp_convert *c,
					    const struct ccp_convert_input *in,
					    struct ccp_ccm_buf *out)
{
	arena_reset(c);
	ccp_ccm_msg_clear(&c->msg);
	memset(&c->st, 0, sizeof(c->st));
	c->nhdr = 0;
	c->nfiles = 0;
	/* Freed rather than cleared: one message of many names must not leave
	 * a large table for every later message to wipe. */
	if (c->file_names.n) {
		ccp_fpset_free(&c->file_names);
		ccp_fpset_init(&c->file_names);
	}
	/* Every message has a recipient: a small table is kept and wiped,
	 * one a large list grew is freed. */
	if (c->rcpt_seen.cap > 64) {
		ccp_fpset_free(&c->rcpt_seen);
		ccp_fpset_init(&c->rcpt_seen);
	} else {
		ccp_fpset_clear(&c->rcpt_seen);
	}
	if (ccp_fpmap_count(&c->next_suffix)) {
		ccp_fpmap_free(&c->next_suffix);
		ccp_fpmap_init(&c->next_suffix, sizeof(unsigned));
	}
	c->err[0] = '\0';
	c->name = in->name ? in->name : "(message)";
	c->too_deep = false;

	/* A header block ended by CR CR LF or by the body's first line, with
	 * no empty line (ccp_headers_block()): GMime read the whole message
	 * as header, and the body was lost.  Both paths read it with the
	 * empty line in its place, as an MTA would have; CR CR LF is that
	 * line, a line of text the body's first. */
	struct ccp_convert_input ended, fixed;
	struct ccp_header_block hb;
	ccp_headers_block(in->data, in->len, &hb);
	if (hb.end == CCP_HEADER_END_BLANKS || hb.end == CCP_HEADER_END_TEXT)
		in = with_inserted(c, in, &hb.len, 1, hb.body - hb.len, INSERT_EMPTY_LINE, &ended);
	/* A NUL in the header block (no valid header holds one) ended the
	 * field it was in, as a C string ends: "Subject: before\0after" was
	 * "before".  The block is read with each NUL a space, as the
	 * Subject's other controls are (the body is left as it is).  The
	 * block is hb's: a mend above put the empty line right after it. */
	size_t hl = hb.len;
	bool nul_head = hl && memchr(in->data, '\0', hl) != NULL;
	bool nul_body = hl < in->len && memchr(in->data + hl, '\0', in->len - hl) != NULL;
	if (nul_head || nul_body) {
		char *copy = arena_alloc(c, in->len);
		memcpy(copy, in->data, in->len);
		for (char *p = copy; (p = memchr(p, '\0', hl - (size_t)(p - copy))) != NULL; p++)
			*p = ' ';
		/* And the parts' header blocks (their content as it is). */
		if (nul_body)
			part_header_nuls(copy, in->len, hl);
		fixed = *in;
		fixed.data = copy;
		in = &fixed;
	}

	/* Each boundary line and the line end before it made to end alike
	 * (boundary_line_end_mends()), in the input the mends above gave:
	 * its header block is still hl octets. */
	struct ccp_convert_input crs;
	size_t *at = NULL, cap = 0;
	size_t nat = boundary_line_end_mends(in, hl, &at, &cap);
	if (nat)
		in = with_inserted(c, in, at, nat, 0, INSERT_CR, &crs);
	ccp_free(at);

	enum ccp_convert_status st;
	if (c->o.full_parse || !convert_light(c, in, &st))
		st = convert_full(c, in);
	if (st == CCP_CONVERT_OK && ccp_ccm_write(out, &c->msg) != 0)
		ccp_panic("converter built a message the writer refuses (%s)", c->name);
	return st;
}

enum ccp_convert_status ccp_convert_file(struct ccp_convert *c, const char *path,
					 const char *key, struct ccp_ccm_buf *out)
{
	struct ccp_ccm_buf data;
	char buf[65536];
	ssize_t n;

	c->name = path;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refuse(c, CCP_CONVERT_ERR_IO, "cannot open: %s", strerror(errno));
	ccp_ccm_buf_init(&data);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ccp_ccm_buf_add(&data, buf, (size_t)n);
	int e = errno;
	close(fd);
	if (n < 0) {
		ccp_ccm_buf_free(&data);
		return refuse(c, CCP_CONVERT_ERR_IO, "cannot read: %s", strerror(e));
	}
	const char *base = strrchr(path, '/');
	struct ccp_convert_input in = {
		.data = data.data ? data.data : "", .len = data.len, .name = path,
		.key = key ? key : (base ? base + 1 : path),
	};
	enum ccp_convert_status st = ccp_convert_message(c, &in, out);
	ccp_ccm_buf_free(&data);
	return st;
}

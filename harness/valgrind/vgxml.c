/* Reader for valgrind memcheck's XML report, on expat: see vgxml.h.
 *
 * Checked against valgrind 3.19 on Debian 12 (the reports in tests/fixtures/ are real output):
 * - A Leak_DefinitelyLost record's <leakedbytes> is its direct bytes plus the indirect bytes
 *   it holds; <leakedblocks> counts its direct blocks only. cycle.xml: leakedbytes 576,
 *   leakedblocks 4, where the <text> reads "576 (192 direct, 384 indirect) bytes in 4 blocks",
 *   and the two Leak_IndirectlyLost records hold the other 128 + 256 bytes.
 * - No element carries the direct/indirect split; only the <text> sentence does, and that
 *   sentence changes shape (mid-run checks print deltas: "20 (+20) bytes in 1 (+1) blocks"),
 *   so it is never parsed here.
 * - Indirect blocks only hang under definite records: the children of a possibly lost block
 *   are reported possibly lost themselves.
 * Hence the direct total is sum(definite leakedbytes) - sum(indirect leakedbytes). Without
 * --show-leak-kinds=all (or one naming "indirect") there are no indirect records to subtract
 * (cycle_default.xml): definite then keeps its indirect part, and the kinds still add up to
 * the right total. Per record the split cannot be recovered once two definite records hold
 * indirect blocks (mixed.xml: 116 = 16 + 100 and 128 = 80 + 48), so records keep valgrind's
 * leakedbytes as is.
 * - Client-request leak checks (VALGRIND_DO_LEAK_CHECK) write their records before
 *   <state>FINISHED</state>; the exit check after it lists every loss record again
 *   (midrun.xml), so earlier records are dropped when FINISHED arrives.
 * - A SIGKILLed valgrind leaves the document open (killed.xml).
 */
#define _GNU_SOURCE
#include "valgrind/vgxml.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)
#define MAX_DEPTH 16
#define MAX_TEXT 512

enum tag {
	T_OTHER, T_ROOT, T_PROTOVERSION, T_PROTOTOOL, T_PID, T_STATUS, T_STATE,
	T_ERROR, T_KIND, T_XWHAT, T_LEAKEDBYTES, T_LEAKEDBLOCKS, T_TEXT,
	T_STACK, T_FRAME, T_FN, T_FILE, T_LINE,
	T_SUPP, T_SKIND, T_SKAUX, T_SFRAME, T_SFUN, T_SOBJ,
};

static const struct {
	const char *name;   /* borrowed: literal */
	enum tag tag;
} tags[] = {
	{ "valgrindoutput", T_ROOT }, { "protocolversion", T_PROTOVERSION },
	{ "protocoltool", T_PROTOTOOL }, { "pid", T_PID }, { "status", T_STATUS },
	{ "state", T_STATE }, { "error", T_ERROR }, { "kind", T_KIND }, { "xwhat", T_XWHAT },
	{ "leakedbytes", T_LEAKEDBYTES }, { "leakedblocks", T_LEAKEDBLOCKS },
	{ "stack", T_STACK }, { "frame", T_FRAME }, { "fn", T_FN }, { "file", T_FILE },
	{ "line", T_LINE }, { "suppression", T_SUPP }, { "skind", T_SKIND }, { "skaux", T_SKAUX },
	{ "sframe", T_SFRAME }, { "fun", T_SFUN }, { "obj", T_SOBJ }, { "text", T_TEXT },
};

static const char *const kind_xml[LC_NKINDS] = {
	[LC_DEFINITE] = "Leak_DefinitelyLost",
	[LC_INDIRECT] = "Leak_IndirectlyLost",
	[LC_POSSIBLE] = "Leak_PossiblyLost",
	[LC_REACHABLE] = "Leak_StillReachable",
};

/* The <error> being read: a leak record once its <kind> says so. */
struct cur_error {
	bool leak;
	bool have_bytes, have_blocks;
	unsigned nstacks;       /* frames come from the first <stack> only */
	struct lc_record rec;
};

struct parser {
	XML_Parser xp;              /* owned */
	struct lc_exit_report *out;      /* borrowed: the caller's report */
	size_t cap;                 /* records allocated in out->records */
	enum tag path[MAX_DEPTH];   /* element path; deeper levels are only counted */
	unsigned depth;
	char text[MAX_TEXT];        /* character data since the last start tag, truncated */
	size_t textlen;
	bool root_seen, root_closed, have_version, have_tool;
	bool failed;
	struct cur_error cur;
	char *err;                  /* borrowed: caller's buffer */
	size_t errlen;
};

static void vset_err(struct parser *p, const char *fmt, va_list ap)
{
	if (p->failed)
		return;   /* keep the first reason: later ones are consequences */
	p->failed = true;
	if (p->errlen > 0)
		vsnprintf(p->err, p->errlen, fmt, ap);
}

static void __attribute__((format(printf, 2, 3))) set_err(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_err(p, fmt, ap);
	va_end(ap);
}

/* From inside a handler: record the reason and make XML_Parse return an error. */
static void __attribute__((format(printf, 2, 3))) fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_err(p, fmt, ap);
	va_end(ap);
	XML_StopParser(p->xp, XML_FALSE);
}

static unsigned long long line_no(const struct parser *p)
{
	return (unsigned long long)XML_GetCurrentLineNumber(p->xp);
}

static enum tag tag_of(const char *name)
{
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
		if (strcmp(tags[i].name, name) == 0)
			return tags[i].tag;
	return T_OTHER;
}

static bool at_path(const struct parser *p, const enum tag *want, unsigned n)
{
	if (p->depth != n || n > MAX_DEPTH)
		return false;
	return memcmp(p->path, want, n * sizeof *want) == 0;
}

#define AT(p, ...) at_path((p), (const enum tag[]){ __VA_ARGS__ }, \
	sizeof((const enum tag[]){ __VA_ARGS__ }) / sizeof(enum tag))

/* Copy with truncation, never splitting a UTF-8 sequence. */
static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Decimal digits only: strtoul alone would accept "-1", " 7" or "". */
static bool parse_ulong(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text of the element just closed, surrounding whitespace removed. */
static const char *text(struct parser *p)
{
	char *s = p->text;
	size_t n = p->textlen;

	while (n > 0 && is_space(s[n - 1]))
		n--;
	s[n] = '\0';
	while (is_space(*s))
		s++;
	return s;
}

static bool header_ok(struct parser *p)
{
	if (!p->have_version)
		fail(p, "not a valgrind XML report (no <protocolversion>)");
	else if (!p->have_tool)
		fail(p, "not a valgrind XML report (no <protocoltool>)");
	return !p->failed;
}

static void push_record(struct parser *p)
{
	struct lc_exit_report *r = p->out;

	if (r->nrecords == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct lc_record *n = realloc(r->records, cap * sizeof *n);

		if (!n) {
			fail(p, "out of memory");
			return;
		}
		r->records = n;
		p->cap = cap;
	}
	r->records[r->nrecords++] = p->cur.rec;
}

/* Zeroes the record too: frames are filled in place, unknown fields stay "" and 0. */
static void start_error(struct parser *p)
{
	if (header_ok(p))
		memset(&p->cur, 0, sizeof p->cur);
}

static void on_start(void *data, const char *name, const char **attrs)
{
	struct parser *p = data;

	(void)attrs;
	if (p->failed)
		return;
	if (p->depth == 0 && strcmp(name, "valgrindoutput") != 0) {
		fail(p, "not a valgrind XML report (root element <%s>)", name);
		return;
	}
	p->root_seen = true;
	if (p->depth < MAX_DEPTH)
		p->path[p->depth] = tag_of(name);
	p->depth++;
	p->textlen = 0;

	if (AT(p, T_ROOT, T_ERROR))
		start_error(p);
	else if (AT(p, T_ROOT, T_ERROR, T_STACK))
		p->cur.nstacks++;
}

static void on_text(void *data, const char *s, int len)
{
	struct parser *p = data;
	size_t n = (size_t)len;

	if (n > MAX_TEXT - 1 - p->textlen)
		n = MAX_TEXT - 1 - p->textlen;
	memcpy(p->text + p->textlen, s, n);
	p->textlen += n;
}

static void end_version(struct parser *p)
{
	const char *v = text(p);

	if (strcmp(v, "4") != 0)
		fail(p, "unsupported protocol version %s", v);
	p->have_version = true;
}

static void end_tool(struct parser *p)
{
	const char *t = text(p);

	if (strcmp(t, "memcheck") != 0)
		fail(p, "not a memcheck report (protocoltool %s)", t);
	p->have_tool = true;
}

static void end_pid(struct parser *p)
{
	unsigned long v;

	if (!parse_ulong(text(p), &v) || v > INT_MAX)
		fail(p, "bad <pid> '%s'", text(p));
	else
		p->out->pid = (int)v;
}

/* The exit-time leak check follows FINISHED and repeats every mid-run record. */
static void drop_records(struct lc_exit_report *r)
{
	for (size_t i = 0; i < r->nrecords; i++)
		free(r->records[i].suppression);
	r->nrecords = 0;
}

static void end_state(struct parser *p)
{
	if (strcmp(text(p), "FINISHED") != 0)
		return;
	p->out->finished = true;
	drop_records(p->out);
}

/* With --gen-suppressions=all, each <error> carries its <suppression>: kept as the text of a
 * suppression file entry, "{\n   NAME\n   Memcheck:Leak\n ... }\n" with NAME for the name. */
static void supp_append(struct parser *p, const char *fmt, const char *arg)
{
	char line[600];
	int n = snprintf(line, sizeof line, fmt, arg);
	size_t old = p->cur.rec.suppression ? strlen(p->cur.rec.suppression) : 0;
	char *s = n > 0 ? realloc(p->cur.rec.suppression, old + (size_t)n + 1) : NULL;
	if (!s) {
		fail(p, "out of memory");
		return;
	}
	memcpy(s + old, line, (size_t)n + 1);
	p->cur.rec.suppression = s;
}

static void end_supp_field(struct parser *p, enum tag t)
{
	static const char *const fmt[] = { [T_SKIND] = "   %s\n", [T_SKAUX] = "   %s\n", [T_SFUN] = "   fun:%s\n",
					   [T_SOBJ] = "   obj:%s\n" };
	if (!p->cur.rec.suppression)
		supp_append(p, "%s", "{\n   NAME\n");
	supp_append(p, fmt[t], text(p));
}

static void end_kind(struct parser *p)
{
	const char *k = text(p);

	for (int i = 0; i < LC_NKINDS; i++) {
		if (strcmp(k, kind_xml[i]) == 0) {
			p->cur.leak = true;
			p->cur.rec.kind = (enum lc_kind)i;
		}
	}
}

static void end_count(struct parser *p, unsigned long *v, bool *have, const char *what)
{
	if (!parse_ulong(text(p), v))
		fail(p, "bad <%s> '%s' at line %llu", what, text(p), line_no(p));
	*have = true;
}

static struct lc_frame *cur_frame(struct parser *p)
{
	struct lc_record *rec = &p->cur.rec;

	if (p->cur.nstacks != 1 || rec->nframes >= LC_MAX_FRAMES)
		return NULL;
	return &rec->frames[rec->nframes];
}

static void end_frame_field(struct parser *p, enum tag t)
{
	struct lc_frame *f = cur_frame(p);
	const char *s = text(p);
	const char *slash;
	unsigned long v;

	if (!f)
		return;
	if (t == T_FN) {
		copy_trunc(f->fn, sizeof f->fn, s);
	} else if (t == T_SOBJ) { /* before <fn>, which replaces it: a frame without symbols */
		char named[sizeof f->fn];
		snprintf(named, sizeof named, "??? (in %.*s)", (int)sizeof named - 10, s);
		copy_trunc(f->fn, sizeof f->fn, named);
	} else if (t == T_FILE) {
		slash = strrchr(s, '/');
		copy_trunc(f->file, sizeof f->file, slash ? slash + 1 : s);
	} else if (parse_ulong(s, &v) && v <= UINT_MAX) {
		f->line = (unsigned)v;
	}
}

static void end_frame(struct parser *p)
{
	if (cur_frame(p))
		p->cur.rec.nframes++;
}

static void end_error(struct parser *p)
{
	if (!p->cur.leak) {
		p->out->other_errors++;
		free(p->cur.rec.suppression);
		p->cur.rec.suppression = NULL;
		return;
	}
	if (!p->cur.have_bytes || !p->cur.have_blocks) {
		fail(p, "leak record without <leakedbytes>/<leakedblocks> ending at line %llu",
		     line_no(p));
		return;
	}
	push_record(p);
}

static void end_leaf(struct parser *p)
{
	enum tag t = p->depth <= MAX_DEPTH ? p->path[p->depth - 1] : T_OTHER;

	if (AT(p, T_ROOT, T_PROTOVERSION))
		end_version(p);
	else if (AT(p, T_ROOT, T_PROTOTOOL))
		end_tool(p);
	else if (AT(p, T_ROOT, T_PID))
		end_pid(p);
	else if (AT(p, T_ROOT, T_STATUS, T_STATE))
		end_state(p);
	else if (AT(p, T_ROOT, T_ERROR, T_KIND))
		end_kind(p);
	else if (AT(p, T_ROOT, T_ERROR, T_XWHAT, T_LEAKEDBYTES))
		end_count(p, &p->cur.rec.bytes, &p->cur.have_bytes, "leakedbytes");
	else if (AT(p, T_ROOT, T_ERROR, T_XWHAT, T_LEAKEDBLOCKS))
		end_count(p, &p->cur.rec.blocks, &p->cur.have_blocks, "leakedblocks");
	else if (AT(p, T_ROOT, T_ERROR, T_XWHAT, T_TEXT))
		p->cur.rec.indirect = lc__indirect_of(text(p));
	else if (AT(p, T_ROOT, T_ERROR, T_STACK, T_FRAME, T_FN) ||
		 AT(p, T_ROOT, T_ERROR, T_STACK, T_FRAME, T_SOBJ) ||
		 AT(p, T_ROOT, T_ERROR, T_STACK, T_FRAME, T_FILE) ||
		 AT(p, T_ROOT, T_ERROR, T_STACK, T_FRAME, T_LINE))
		end_frame_field(p, t);
	else if (AT(p, T_ROOT, T_ERROR, T_SUPP, T_SKIND) || AT(p, T_ROOT, T_ERROR, T_SUPP, T_SKAUX) ||
		 AT(p, T_ROOT, T_ERROR, T_SUPP, T_SFRAME, T_SFUN) || AT(p, T_ROOT, T_ERROR, T_SUPP, T_SFRAME, T_SOBJ))
		end_supp_field(p, t);
}

static void on_end(void *data, const char *name)
{
	struct parser *p = data;

	(void)name;
	if (p->failed)
		return;
	if (AT(p, T_ROOT, T_ERROR, T_STACK, T_FRAME))
		end_frame(p);
	else if (AT(p, T_ROOT, T_ERROR, T_SUPP) && p->cur.rec.suppression)
		supp_append(p, "%s", "}\n");
	else if (AT(p, T_ROOT, T_ERROR))
		end_error(p);
	else if (AT(p, T_ROOT))
		p->root_closed = header_ok(p);
	else
		end_leaf(p);
	p->depth--;
}

/* Totals from the kept records; see the top comment for the definite/indirect split. */
static void sum_kinds(struct lc_exit_report *r)
{
	for (size_t i = 0; i < r->nrecords; i++) {
		r->bytes[r->records[i].kind] += r->records[i].bytes;
		r->blocks[r->records[i].kind] += r->records[i].blocks;
	}
	/* More indirect than definite bytes needs a suppressed definite record: keep 0. */
	if (r->bytes[LC_DEFINITE] >= r->bytes[LC_INDIRECT])
		r->bytes[LC_DEFINITE] -= r->bytes[LC_INDIRECT];
	else
		r->bytes[LC_DEFINITE] = 0;
}

/* After all input: expat failing only now means the input stopped too early. */
static void xml_error(struct parser *p, bool at_end)
{
	enum XML_Error code = XML_GetErrorCode(p->xp);
	const char *msg = XML_ErrorString(code);

	if (p->failed)
		return;
	if (at_end && !p->root_seen && code == XML_ERROR_NO_ELEMENTS)
		set_err(p, "empty report");
	else if (at_end && p->root_seen && !p->root_closed)
		set_err(p, "truncated report (no </valgrindoutput>): %s at line %llu",
			msg, line_no(p));
	else if (!p->root_seen)
		set_err(p, "not XML: %s at line %llu", msg, line_no(p));
	else
		set_err(p, "malformed XML: %s at line %llu", msg, line_no(p));
}

static int feed(struct parser *p, const char *buf, size_t len)
{
	if (XML_Parse(p->xp, buf, (int)len, XML_FALSE) == XML_STATUS_OK)
		return 0;
	xml_error(p, false);
	return -1;
}

static int finish(struct parser *p, size_t total)
{
	if (total == 0) {
		set_err(p, "empty report");
		return -1;
	}
	if (XML_Parse(p->xp, "", 0, XML_TRUE) != XML_STATUS_OK) {
		xml_error(p, true);
		return -1;
	}
	sum_kinds(p->out);
	return 0;
}

static int parser_init(struct parser *p, struct lc_exit_report *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	memset(p, 0, sizeof *p);
	p->out = out;
	p->err = err;
	p->errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	p->xp = XML_ParserCreate(NULL);
	if (!p->xp) {
		set_err(p, "out of memory");
		return -1;
	}
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, on_start, on_end);
	XML_SetCharacterDataHandler(p->xp, on_text);
	return 0;
}

static int parser_done(struct parser *p, int ret)
{
	if (p->xp)
		XML_ParserFree(p->xp);
	if (ret != 0)
		lc_exit_report_free(p->out);
	return ret;
}

int lc__exit_report_parse_buffer(const char *buf, size_t len, struct lc_exit_report *out, char *err,
			   size_t errlen)
{
	struct parser p;
	size_t off = 0, n;
	int ret = -1;

	if (parser_init(&p, out, err, errlen) != 0)
		goto out;
	for (; off < len; off += n) {
		n = len - off < CHUNK ? len - off : CHUNK;
		if (feed(&p, buf + off, n) != 0)
			goto out;
	}
	ret = finish(&p, len);
out:
	return parser_done(&p, ret);
}

int lc__exit_report_parse_file(const char *path, struct lc_exit_report *out, char *err, size_t errlen)
{
	struct parser p;
	char *buf;
	size_t n, total = 0;
	FILE *f = NULL;
	int ret = -1;

	if (parser_init(&p, out, err, errlen) != 0)
		goto out;
	f = fopen(path, "rb");
	if (!f) {
		set_err(&p, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		buf = XML_GetBuffer(p.xp, CHUNK);
		if (!buf) {
			set_err(&p, "out of memory");
			goto out;
		}
		n = fread(buf, 1, CHUNK, f);
		if (n == 0)
			break;
		total += n;
		if (XML_ParseBuffer(p.xp, (int)n, XML_FALSE) != XML_STATUS_OK) {
			xml_error(&p, false);
			goto out;
		}
	}
	if (ferror(f)) {
		set_err(&p, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	ret = finish(&p, total);
out:
	if (f)
		fclose(f);
	return parser_done(&p, ret);
}

void lc_exit_report_free(struct lc_exit_report *r)
{
	if (!r)
		return;
	drop_records(r);
	free(r->records);
	memset(r, 0, sizeof *r);
}

unsigned long lc__indirect_of(const char *sentence)
{
	unsigned long total, direct, indirect;
	char plain[MAX_TEXT], sep[2];
	size_t n = 0;
	/* "1,576 (192 direct, 1,384 indirect) bytes in 4 blocks": thousands written with commas */
	for (const char *s = sentence; *s && n < sizeof plain - 1; s++)
		if (!(*s == ',' && s > sentence && isdigit((unsigned char)s[-1]) && isdigit((unsigned char)s[1])))
			plain[n++] = *s;
	plain[n] = '\0';
	if (sscanf(plain, "%lu (%lu direct%1[,] %lu indirect)", &total, &direct, sep, &indirect) == 4 &&
	    direct + indirect == total)
		return indirect;
	return 0;
}

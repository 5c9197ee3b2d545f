/* vgdb monitor leak checks: see vgdb.h.
 *
 * The text comes from valgrind 3.19's leak checker; every line starts with "==PID== ". A loss
 * record reads "160 (+80) bytes in 10 (+5) blocks are still reachable in loss record 1 of 5"
 * (a definite record may add "(96 direct, 64 indirect)" after the byte count), followed by
 * "at 0x..: fn (file:line)" / "by 0x..: fn (in /lib/...)" frames. */
#define _GNU_SOURCE
#include "valgrind/vgdb.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

#include "drive/proc.h"


/* Reads "1,234" and returns 1234; advances *p. */
static unsigned long read_num(const char **p)
{
	unsigned long v = 0;
	while (isdigit((unsigned char)**p) || **p == ',') {
		if (**p != ',')
			v = v * 10 + (unsigned long)(**p - '0');
		(*p)++;
	}
	return v;
}

/* Reads an optional " (+80)" / " (-80)"; returns the signed delta (0 if absent). */
static long read_delta(const char **p)
{
	const char *q = *p;
	while (*q == ' ')
		q++;
	if (q[0] != '(' || (q[1] != '+' && q[1] != '-'))
		return 0;
	int neg = q[1] == '-';
	q += 2;
	unsigned long u = read_num(&q);
	long v = u > LONG_MAX ? LONG_MAX : (long)u; /* garbage must not make -v overflow */
	if (*q == ')')
		q++;
	*p = q;
	return neg ? -v : v;
}

static int kind_of(const char *s)
{
	for (int k = 0; k < LC_NKINDS; k++)
		if (strncmp(s, lc_kind_name((enum lc_kind)k), strlen(lc_kind_name((enum lc_kind)k))) == 0)
			return k;
	return -1;
}

/* "N (+d) [(x direct, y indirect)] bytes in M (+e) blocks are KIND in loss record" */
/* A definite record's own part, from "x (+dx) direct, y (+dy) indirect)": its bytes become x and
 * its growth dx; the y indirect bytes it holds are records of their own, listed apart. */
static void split_direct(const char *p, struct lc_site *site)
{
	unsigned long x = read_num(&p);
	long dx = read_delta(&p);
	if (strncmp(p, " direct, ", 9) != 0)
		return;
	p += 9;
	unsigned long y = read_num(&p);
	read_delta(&p);
	if (strncmp(p, " indirect)", 10) != 0 || x + y != site->rec.bytes)
		return;
	site->rec.bytes = x;
	site->rec.indirect = 0; /* rec.bytes is the own part already */
	site->dbytes = dx;
}

static int parse_record(const char *p, struct lc_site *site)
{
	memset(site, 0, sizeof *site);
	if (!isdigit((unsigned char)*p))
		return -1;
	site->rec.bytes = read_num(&p);
	site->dbytes = read_delta(&p);
	if (strncmp(p, " (", 2) == 0) { /* "(x direct, y indirect)": the indirect records follow anyway */
		split_direct(p + 2, site);
		/* with deltas, "(x (+dx) direct, y (+dy) indirect)" nests: skip to the matching ')' */
		int depth = 0;
		for (p++; *p; p++)
			if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0)
				break;
		if (*p)
			p++;
	}
	if (strncmp(p, " bytes in ", 10) != 0)
		return -1;
	p += 10;
	site->rec.blocks = read_num(&p);
	site->dblocks = read_delta(&p);
	if (strncmp(p, " blocks are ", 12) != 0)
		return -1;
	int k = kind_of(p + 12);
	if (k < 0)
		return -1;
	site->rec.kind = (enum lc_kind)k;
	const char *nr = strstr(p, " in loss record ");
	if (nr)
		site->nr = (unsigned)strtoul(nr + 16, NULL, 10);
	return 0;
}

/* "at 0x4848899: malloc (vg_replace_malloc.c:381)" or "by 0x1: fn (in /lib/x.so)" */
void lc__vgdb_frame(const char *p, struct lc_record *rec)
{
	if (rec->nframes == LC_MAX_FRAMES)
		return;
	const char *colon = strstr(p, ": ");
	if (!colon)
		return;
	struct lc_frame *f = &rec->frames[rec->nframes++];
	memset(f, 0, sizeof *f);
	const char *fn = colon + 2, *paren = strstr(fn, " (");
	size_t fnlen = paren ? (size_t)(paren - fn) : strlen(fn);
	snprintf(f->fn, sizeof f->fn, "%.*s", (int)fnlen, fn);
	if (strcmp(f->fn, "???") == 0 && paren && strncmp(paren, " (in ", 5) == 0) /* name the object */
		snprintf(f->fn, sizeof f->fn, "??? (in %.*s)", (int)strcspn(paren + 5, ")"), paren + 5);
	if (paren && strncmp(paren, " (in ", 5) != 0) {
		const char *file = paren + 2, *c = strrchr(file, ':'); /* "file:line)" ends the line */
		if (c) {
			/* basename, as the XML reader keeps it: clang's DWARF gives "cases/x/leaky.c" */
			for (const char *slash = file; (slash = memchr(slash, '/', (size_t)(c - slash))); )
				file = ++slash;
			snprintf(f->file, sizeof f->file, "%.*s", (int)(c - file), file);
			f->line = (unsigned)strtoul(c + 1, NULL, 10);
		}
	}
}

static void parse_summary_line(const char *p, struct lc_snapshot *snap)
{
	while (*p == ' ')
		p++;
	int k = kind_of(p);
	if (k < 0 || !(p = strchr(p, ':')))
		return;
	p++; /* not += 2: the ':' may end the line */
	while (*p == ' ')
		p++;
	snap->bytes[k] = read_num(&p);
	read_delta(&p);
	if (strncmp(p, " bytes in ", 10) == 0) {
		p += 10;
		snap->blocks[k] = read_num(&p);
	}
}

bool lc__vgdb_next_line(const char **text, char *line, size_t cap)
{
	if (!*text || !**text)
		return false;
	size_t len = strcspn(*text, "\n");
	const char *p = *text;
	*text = p[len] ? p + len + 1 : p + len;
	if (strncmp(p, "==", 2) == 0) {
		const char *q = memchr(p + 2, '=', len - 2);
		if (q && q[1] == '=' && q[2] == ' ')
			len -= (size_t)(q + 3 - p), p = q + 3;
	}
	snprintf(line, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
	return true;
}

/* Keeps the LC_MAX_SITES records with the largest growth, largest first. */
static void keep_site(struct lc_snapshot *snap, const struct lc_site *s)
{
	if (s->dbytes <= 0 && s->dblocks <= 0)
		return;
	/* full: the new one replaces the last only if it grew more */
	if (snap->nsites == LC_MAX_SITES && snap->sites[LC_MAX_SITES - 1].dbytes >= s->dbytes)
		return;
	size_t i = snap->nsites < LC_MAX_SITES ? snap->nsites++ : LC_MAX_SITES - 1;
	while (i > 0 && snap->sites[i - 1].dbytes < s->dbytes) {
		snap->sites[i] = snap->sites[i - 1];
		i--;
	}
	snap->sites[i] = *s;
}

/* Walks vgdb's text: the LEAK SUMMARY into snap (NULL: not kept), each loss record (with its frames) to fn.
 * Returns the count of records, or -1 without a LEAK SUMMARY. */
static int walk(const char *text, struct lc_snapshot *snap, void (*fn)(const struct lc_site *, void *), void *arg)
{
	struct lc_site cur, next;
	bool in_record = false, summary = false, in_summary = false;
	int n = 0;
	char line[1024]; /* one line, so every search below stays inside it */
	for (const char *rest = text; lc__vgdb_next_line(&rest, line, sizeof line);) {
		const char *p = line;
		while (*p == ' ')
			p++;
		if (strncmp(p, "LEAK SUMMARY:", 13) == 0) {
			summary = in_summary = true;
		} else if (strncmp(p, "All heap blocks were freed", 26) == 0) {
			summary = true; /* an empty heap has no LEAK SUMMARY: every total is 0 */
		} else if (in_summary && kind_of(p) >= 0) {
			if (snap)
				parse_summary_line(p, snap);
		} else if (parse_record(p, &next) == 0) {
			if (in_record) {
				fn(&cur, arg);
				n++;
			}
			cur = next;
			in_record = true;
			in_summary = false;
		} else if (in_record && (strncmp(p, "at 0x", 5) == 0 || strncmp(p, "by 0x", 5) == 0)) {
			lc__vgdb_frame(p, &cur.rec);
		} else if (in_record) {
			fn(&cur, arg);
			n++;
			in_record = false;
		}
	}
	if (in_record) {
		fn(&cur, arg);
		n++;
	}
	return summary ? n : -1;
}

static void keep_site_cb(const struct lc_site *s, void *snap)
{
	keep_site(snap, s);
}

int lc__vgdb_parse(const char *text, struct lc_snapshot *snap, char *err, size_t errlen)
{
	memset(snap, 0, sizeof *snap);
	snap->fds = -1;
	if (walk(text, snap, keep_site_cb, snap) < 0) {
		snprintf(err, errlen, "no LEAK SUMMARY in vgdb's answer");
		return -1;
	}
	return 0;
}

int lc__vgdb_records(const char *text, void (*fn)(const struct lc_site *, void *), void *arg)
{
	return walk(text, NULL, fn, arg);
}

static int read_text(const char *path, char **text)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - len - 1, f);
		if (len < cap - 1)
			break;
		char *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	if (!buf)
		return -1;
	buf[len] = '\0';
	*text = buf;
	return 0;
}

int lc__vgdb_snapshot(const char *prefix, int pid, const char *out_path, double timeout,
		     struct lc_snapshot *snap, char *err, size_t errlen)
{
	return lc__vgdb_snapshot_with("vgdb", LC_SNAPSHOT_FULL, prefix, pid, out_path, timeout, snap, err, errlen);
}

char **lc__vgdb_argv(struct lc_vgdb_argv *a, const char *vgdb, const char *prefix, int pid, const char *cmd,
		    bool ptrace)
{
	size_t n = 0;
	snprintf(a->prefix, sizeof a->prefix, "--vgdb-prefix=%s", prefix);
	snprintf(a->pid, sizeof a->pid, "--pid=%d", pid);
	a->argv[n++] = (char *)vgdb;
	/* --max-invoke-ms=1: the server sleeps in poll(), so wake it with ptrace at once instead
	 * of after vgdb's default 100 ms of waiting for it to poll by itself. Without ptrace, a
	 * day: never within a run (0 would make vgdb's invoker thread spin). */
	a->argv[n++] = ptrace ? "--max-invoke-ms=1" : "--max-invoke-ms=86400000";
	a->argv[n++] = a->prefix;
	a->argv[n++] = a->pid;
	if (cmd)
		a->argv[n++] = (char *)cmd;
	a->argv[n] = NULL;
	return a->argv;
}

int lc__vgdb_command(const char *vgdb, const char *cmd, const char *prefix, int pid, const char *out_path,
		    double timeout, const struct lc_nudge *nudge, char **text, char *err, size_t errlen)
{
	char errpath[600], why[256];
	int status;
	struct lc_vgdb_argv args;
	char **argv = lc__vgdb_argv(&args, vgdb, prefix, pid, cmd, !nudge || !nudge->fn);
	snprintf(errpath, sizeof errpath, "%s.err", out_path);
	*text = NULL;
	remove(out_path);
	pid_t child = lc__spawn(argv, out_path, errpath, why, sizeof why);
	if (child < 0) {
		snprintf(err, errlen, "vgdb: %s", why);
		return -1;
	}
	/* In slices: a server that exits meanwhile never answers, and vgdb keeps trying for ever
	 * (FACTS.md): a daemonizing server's first process, a zombie, would hold the whole
	 * --timeout. */
	double start = lc__now(), deadline = start + timeout;
	bool nudged = !nudge || !nudge->fn;
	for (;;) {
		if (lc__wait(child, nudged ? 0.1 : LC_NUDGE_AFTER, &status) == 0)
			break;
		if (!nudged && lc__now() - start >= LC_NUDGE_AFTER) {
			nudge->fn(nudge->arg);
			nudged = true;
		}
		bool gone = lc__gone(pid);
		if (gone || lc__now() >= deadline || lc__cancelled()) {
			lc__stop(child, 0.5);
			if (gone)
				snprintf(err, errlen, "the server exited while vgdb asked it for a snapshot");
			else
				snprintf(err, errlen, "vgdb got no answer from the server within %gs", timeout);
			return -1;
		}
	}
	if (read_text(out_path, text) < 0) {
		snprintf(err, errlen, "vgdb: cannot read its output");
		return -1;
	}
	return 0;
}

int lc__vgdb_snapshot_with(const char *vgdb, const char *cmd, const char *prefix, int pid, const char *out_path,
			  double timeout, struct lc_snapshot *snap, char *err, size_t errlen)
{
	char *text = NULL, why[256], errpath[600], last[200];
	int rc = lc__vgdb_command(vgdb, cmd, prefix, pid, out_path, timeout, NULL, &text, err, errlen);
	if (rc == 0 && lc__vgdb_parse(text, snap, why, sizeof why) < 0) {
		snprintf(errpath, sizeof errpath, "%s.err", out_path);
		lc__last_line(errpath, last, sizeof last);
		snprintf(err, errlen, "vgdb could not take a leak snapshot (%s)", last[0] ? last : why);
		rc = -1;
	}
	free(text);
	return rc;
}

/* leakcheck --html: one self-contained page per run, for whoever would rather look than read.
 * The verdict and the command; the heap against connections served, drawn here as inline SVG
 * from the report's snapshots (baseline and rounds marked); each growing site with its growth
 * per connection, its stack, the source line it allocates on (read from the file when it can be
 * found) and what holds it, as a path; losses at exit, fds, threads, the native detection
 * limit. No network and no script: CSS and SVG inline, tooltips from SVG <title>s. Everything
 * that comes from the report or the command line is escaped: a C++ function name holds '<'.
 * The page is written to a temp file beside FILE and renamed, so FILE is whole or untouched. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "util/records.h"
#include "reports/reports.h"
#include "util/text.h"

struct page {
	FILE *f;                          /* borrowed: the temp file being written */
	const struct lc_report *rep;      /* borrowed */
	const struct lc_options *o;       /* borrowed */
	char roots[2][PATH_MAX];          /* where sources are looked for, in order: the server
	                                   * program's folder (with its parents), the current one */
	size_t nroots;
};

/* ---- escaping and formatting ---- */

/* printf, escaped: for text that mixes numbers with names from the report. */
static void escf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void escf(FILE *f, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	lc_markup_text(f, buf);
}

/* 368 B, 73.6 kB, 1.2 MB: decimal units, so a chart's round ticks read round. */
static const char *bytes_text(double b, char *buf, size_t cap)
{
	double a = b < 0 ? -b : b;
	if (a < 10 && a != (double)(long)a)
		snprintf(buf, cap, "%.1f B", b);
	else if (a < 1000)
		snprintf(buf, cap, "%.0f B", b);
	else if (a < 1e6)
		snprintf(buf, cap, "%.3g kB", b / 1e3);
	else if (a < 1e9)
		snprintf(buf, cap, "%.3g MB", b / 1e6);
	else
		snprintf(buf, cap, "%.3g GB", b / 1e9);
	return buf;
}

/* A whole number with thousands separators: 1,871. */
static const char *count_text(double v, char *buf, size_t cap)
{
	char digits[40];
	snprintf(digits, sizeof digits, "%.0f", v < 0 ? -v : v);
	size_t n = strlen(digits), o = 0;
	if (v < 0 && o + 1 < cap)
		buf[o++] = '-';
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* "+3 +3 +4": one measure of each round, as the text report has it. */
static void rounds_list(FILE *f, const struct lc_report *rep, long (*get)(const struct lc_round *))
{
	for (size_t i = 0; i < rep->nrounds; i++)
		fprintf(f, "%s%+ld", i ? " " : "", get(&rep->rounds[i]));
	if (!rep->nrounds)
		fputs("not measured", f);
}

static long get_fds(const struct lc_round *r) { return r->dfds; }
static long get_threads(const struct lc_round *r) { return r->dthreads; }
static long get_objects(const struct lc_round *r) { return r->dobjects; }
static long get_bytes(const struct lc_round *r) { return r->dbytes; }
static long get_blocks(const struct lc_round *r) { return r->dblocks; }

/* ---- sources: valgrind names a file by its base name only ---- */

/* path is a regular file that mentions fn (when fn is known): a file of the same base name
 * elsewhere (every case has a leaky.c) must not lend its lines to the wrong frame. */
static bool source_fits(const char *path, const char *fn)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (!fn[0] || strcmp(fn, "???") == 0)
		return true;
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (f && !found && getline(&line, &cap, f) > 0)
		found = strstr(line, fn) != NULL;
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* dir/SUB/file for each folder SUB of dir (not hidden), into out. */
static bool source_in_subfolders(const char *dir, const char *file, const char *fn, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d)))
		if (e->d_name[0] != '.' && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
			snprintf(out, cap, "%s/%s/%s", dir, e->d_name, file);
			found = source_fits(out, fn);
		}
	if (d)
		closedir(d);
	return found;
}

/* The last resort: a folder beside root or beside one of its parents (runtime/server.c, which
 * cases/x/leaky.c includes, for build/cases/x/leaky). */
static bool source_beside(const char *root, const char *file, const char *fn, char *out, size_t cap)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", root);
	for (;;) {
		if (source_in_subfolders(dir, file, fn, out, cap))
			return true;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return false;
		*slash = '\0';
	}
}

/* Candidates under root, nearest first: root/file and each parent's; then the same with one
 * folder of root's path left out, for build trees that mirror the source tree
 * (build/cases/global_list/leaky is built from cases/global_list/leaky.c); then its neighbours. */
static bool source_under(const char *root, const char *file, const char *fn, char *out, size_t cap)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", root);
	for (;;) { /* root and its parents */
		snprintf(out, cap, "%s/%s", dir, file);
		if (source_fits(out, fn))
			return true;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	/* one folder left out: at each '/' of root, skip the component that follows it */
	for (const char *at = strrchr(root, '/'); at && at > root;) {
		const char *prev = at - 1;
		while (prev > root && *prev != '/')
			prev--;
		/* drop the component between prev and at */
		snprintf(out, cap, "%.*s%s/%s", (int)(prev - root), root, at, file);
		if (source_fits(out, fn))
			return true;
		at = prev;
	}
	return source_beside(root, file, fn, out, cap);
}

/* The file of a frame, or false. --source-dir comes first: DIR/file, then DIR/ plus the
 * server's folder path's tails (a build tree mirroring DIR). */
static bool source_find(const struct page *p, const struct lc_frame *at, char *out, size_t cap)
{
	if (!at->file[0] || strchr(at->file, '/') || strcmp(at->file, "..") == 0)
		return false;
	if (p->o->source_dir) {
		snprintf(out, cap, "%s/%s", p->o->source_dir, at->file);
		if (source_fits(out, at->fn))
			return true;
		for (const char *tail = p->nroots ? p->roots[0] : ""; (tail = strchr(tail, '/')); tail++) {
			snprintf(out, cap, "%s%s/%s", p->o->source_dir, tail, at->file);
			if (source_fits(out, at->fn))
				return true;
		}
	}
	for (size_t i = 0; i < p->nroots; i++)
		if (source_under(p->roots[i], at->file, at->fn, out, cap))
			return true;
	return false;
}

/* Line n of path (1-based) into buf, without its newline; false past the end. */
static bool source_line(const char *path, unsigned n, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len = 0;
	for (unsigned i = 0; f && i < n && (len = getline(&line, &lcap, f)) > 0; i++)
		;
	bool ok = f && len > 0 && line;
	if (ok) {
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(buf, cap, "%s", line);
	}
	free(line);
	if (f)
		fclose(f);
	return ok;
}

/* Line n of path with one line either side, under the path. */
static void source_figure(FILE *f, const char *path, unsigned line)
{
	char text[512];
	fputs("<figure class=\"src\"><figcaption>", f);
	escf(f, "%s:%u", path, line);
	fputs("</figcaption><pre>", f);
	for (unsigned n = line > 1 ? line - 1 : 1; n <= line + 1; n++) {
		if (!source_line(path, n, text, sizeof text))
			break;
		fprintf(f, "<span class=\"%s\"><span class=\"ln\">%u</span>", n == line ? "hit" : "ctx", n);
		lc_markup_text(f, text);
		fputs("</span>", f); /* no newline: each line is a block already */
	}
	fputs("</pre></figure>\n", f);
}

/* The allocating line with one line either side, the path it was read from; or why not. */
static void source_block(const struct page *p, const struct lc_frame *at)
{
	FILE *f = p->f;
	char path[PATH_MAX + 200];
	if (!at || !at->file[0] || !at->line) {
		fputs("<p class=\"nosrc\">no file:line for this frame (built without -g?)</p>\n", f);
		return;
	}
	if (!source_find(p, at, path, sizeof path)) {
		fputs("<p class=\"nosrc\">source not found: ", f);
		escf(f, "%s (looked beside %s and its parents, and in the current folder", at->file,
		     lc_server_name(p->o));
		fputs(p->o->source_dir ? " and --source-dir)" : "; --source-dir DIR names another)", f);
		fputs("</p>\n", f);
		return;
	}
	source_figure(f, path, at->line);
}

/* ---- the chart: memory against connections served ---- */

#define CHART_W 560
#define CHART_H 260
#define PAD_L 70
#define PAD_R 16
#define PAD_T 28
#define PAD_B 44

/* Lines: the judged process's in its verdict's colour (red, blue, amber), the others after. */
static const char *const colors[] = { "#c0392b", "#2471a3", "#7d3c98", "#1e8449", "#b9770e", "#5d6d7e",
				      "#a04000", "#148f77" };

static const char *line_color(const struct lc_report *rep, size_t i)
{
	size_t first = rep->verdict == LC_LEAK ? 0 : rep->verdict == LC_CLEAN ? 1 : 4;
	return colors[(first + i) % 8];
}

/* A round step of about span/n: 1, 2 or 5 times a power of ten. */
static double nice_step(double span, int n)
{
	double raw = span / n, p = 1;
	if (raw <= 0)
		return 1;
	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	double m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

struct scale {
	double xmax, ymax;
};

static double sx(const struct scale *s, double x)
{
	return PAD_L + x / s->xmax * (CHART_W - PAD_L - PAD_R);
}

static double sy(const struct scale *s, double y)
{
	return CHART_H - PAD_B - y / s->ymax * (CHART_H - PAD_T - PAD_B);
}

static double point_value(const struct lc_point *pt, bool bytes)
{
	return bytes ? (double)pt->bytes : (double)pt->blocks;
}

static void value_text(double v, bool bytes, char *buf, size_t cap)
{
	if (bytes)
		bytes_text(v, buf, cap);
	else
		count_text(v, buf, cap);
}

/* The primary process's round marks: its first point is the baseline, its settled points end
 * the rounds. Bands alternate, so each round is a stripe with its name above. */
static void chart_rounds(FILE *f, const struct lc_report *rep, const struct scale *s, int pid)
{
	double prev = -1;
	size_t settled = 0, total = 0;
	for (size_t i = 0; i < rep->nseries; i++)
		total += rep->series[i].pid == pid && rep->series[i].settled;
	for (size_t i = 0; i < rep->nseries; i++) {
		const struct lc_point *pt = &rep->series[i];
		if (pt->pid != pid)
			continue;
		double x = sx(s, (double)pt->connections);
		if (prev < 0) {
			fprintf(f, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
				   "<text class=\"marklabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">baseline</text>\n",
				x, PAD_T - 6, x, CHART_H - PAD_B, x - 3, PAD_T - 10);
			prev = x;
			continue;
		}
		if (!pt->settled)
			continue;
		settled++;
		/* rounds measured before the extra ones are left out of the verdict */
		bool left_out = total - settled >= rep->nrounds;
		fprintf(f, "<rect class=\"band%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>"
			   "<text class=\"bandlabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s%zu</text>\n",
			settled % 2 ? " odd" : "", prev, PAD_T, x - prev, CHART_H - PAD_T - PAD_B, (prev + x) / 2, PAD_T + 12,
			left_out ? "left out " : "round ", settled);
		prev = x;
	}
}

static void chart_axes(FILE *f, const struct scale *s, bool bytes, const char *ylabel)
{
	char label[48];
	double ystep = nice_step(s->ymax, 4), xstep = nice_step(s->xmax, 6);
	for (double y = 0; y <= s->ymax + ystep / 1000; y += ystep) {
		value_text(y, bytes, label, sizeof label);
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			   "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			PAD_L, sy(s, y), CHART_W - PAD_R, sy(s, y), PAD_L - 6, sy(s, y) + 4, label);
	}
	for (double x = 0; x <= s->xmax + xstep / 1000; x += xstep)
		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", sx(s, x),
			CHART_H - PAD_B + 16, count_text(x, label, sizeof label));
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", PAD_L, CHART_H - PAD_B,
		CHART_W - PAD_R, CHART_H - PAD_B);
	fprintf(f, "<text class=\"axislabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">connections served</text>\n",
		(PAD_L + CHART_W - PAD_R) / 2, CHART_H - 6);
	fprintf(f, "<text class=\"axislabel\" x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
		(PAD_T + CHART_H - PAD_B) / 2, (PAD_T + CHART_H - PAD_B) / 2);
	lc_markup_text(f, ylabel);
	fputs("</text>\n", f);
}

/* One process's line and points; a point's <title> is its tooltip. */
static void chart_line(FILE *f, const struct lc_report *rep, const struct scale *s, int pid, const char *color,
		       bool bytes)
{
	fprintf(f, "<polyline class=\"curve\" stroke=\"%s\" points=\"", color);
	for (size_t i = 0; i < rep->nseries; i++)
		if (rep->series[i].pid == pid)
			fprintf(f, "%.1f,%.1f ", sx(s, (double)rep->series[i].connections),
				sy(s, point_value(&rep->series[i], bytes)));
	fputs("\"/>\n", f);
	bool first = true;
	for (size_t i = 0; i < rep->nseries; i++) {
		const struct lc_point *pt = &rep->series[i];
		char v[48], c[32];
		if (pt->pid != pid)
			continue;
		const char *kind = first ? "baseline" : pt->settled ? "round" : "every";
		value_text(point_value(pt, bytes), bytes, v, sizeof v);
		fprintf(f, "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\" "
			   "data-pid=\"%d\" data-connections=\"%lu\" data-value=\"%.0f\"><title>%s at %s connections "
			   "(pid %d, %s)</title></circle>\n",
			kind, sx(s, (double)pt->connections), sy(s, point_value(pt, bytes)), pt->settled || first ? "4.5" : "2.5",
			pt->settled || first ? color : "#fff", color, pt->pid, pt->connections, point_value(pt, bytes), v,
			count_text((double)pt->connections, c, sizeof c), pt->pid,
			first ? "baseline" : pt->settled ? "end of a round, settled" : "--every, as it was");
		first = false;
	}
}

/* The processes the series holds, the primary first. */
static size_t series_pids(const struct lc_report *rep, int *pids, size_t cap)
{
	size_t n = 0;
	if (rep->nprocs && rep->procs[rep->primary].pid)
		pids[n++] = rep->procs[rep->primary].pid;
	for (size_t i = 0; i < rep->nseries && n < cap; i++) {
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen = seen || pids[k] == rep->series[i].pid;
		if (!seen)
			pids[n++] = rep->series[i].pid;
	}
	return n;
}

static void chart(FILE *f, const struct lc_report *rep, bool bytes, const char *title, const char *ylabel)
{
	int pids[LC_MAX_PROCS];
	size_t npids = series_pids(rep, pids, LC_MAX_PROCS);
	struct scale s = { 1, bytes ? 1000 : 10 };
	for (size_t i = 0; i < rep->nseries; i++) {
		if (rep->series[i].connections > s.xmax)
			s.xmax = (double)rep->series[i].connections;
		if (point_value(&rep->series[i], bytes) > s.ymax)
			s.ymax = point_value(&rep->series[i], bytes);
	}
	double step = nice_step(s.ymax * 1.05, 4); /* room above the top point, a round top tick */
	s.ymax = step * (double)(unsigned long)((s.ymax * 1.05 + step - 1e-9) / step);
	fprintf(f, "<figure class=\"chart\"><svg role=\"img\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">"
		   "<title>", CHART_W, CHART_H);
	lc_markup_text(f, title);
	fputs("</title>\n", f);
	chart_rounds(f, rep, &s, npids ? pids[0] : 0);
	chart_axes(f, &s, bytes, ylabel);
	for (size_t i = 0; i < npids; i++)
		chart_line(f, rep, &s, pids[i], line_color(rep, i), bytes);
	fputs("</svg><figcaption>", f);
	lc_markup_text(f, title);
	fputs("</figcaption></figure>\n", f);
}

static void section_heap(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	bool pages = rep->measure == LC_MEASURE_PAGES;
	fputs("<section id=\"heap\"><h2>", f);
	fputs(pages ? "Anonymous memory" : "The heap", f);
	fputs(" against connections served</h2>\n", f);
	if (!rep->nseries) {
		fputs("<p class=\"none\">No snapshot was taken: the run ended before its baseline.</p></section>\n", f);
		return;
	}
	fputs("<div class=\"charts\">\n", f);
	if (pages) {
		chart(f, rep, true, "anonymous memory (Anonymous + Swap of /proc/PID/smaps_rollup)", "anonymous memory");
	} else {
		chart(f, rep, true, rep->measure == LC_MEASURE_ALLOCATOR ?
			"heap bytes in use (live blocks, counted by the allocator preload in the server)" :
			"heap bytes in use (every kind: reachable, possibly, definitely lost)", "heap bytes");
		chart(f, rep, false, "heap blocks in use", "heap blocks");
	}
	fprintf(f, "</div>\n<p class=\"legend\"><span class=\"key big\" style=\"background:%s;border-color:%s\"></span> "
		   "baseline and the end of each round (settled: the heap had stopped shrinking) <span class=\"key small\" "
		   "style=\"border-color:%s\"></span> ", line_color(rep, 0), line_color(rep, 0), line_color(rep, 0));
	fputs(p->o->every ? "every --every connections, as the heap was (not judged)" :
			    "<code>--every N</code> adds a point every N connections", f);
	fputs("</p>\n", f);
	int pids[LC_MAX_PROCS];
	size_t npids = series_pids(rep, pids, LC_MAX_PROCS);
	if (npids > 1) {
		fputs("<ul class=\"procs\">", f);
		for (size_t i = 0; i < npids; i++) {
			const char *name = "";
			for (size_t k = 0; k < rep->nprocs; k++)
				if (rep->procs[k].pid == pids[i])
					name = rep->procs[k].name;
			fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>pid %d ", line_color(rep, i), pids[i]);
			lc_markup_text(f, name);
			fputs(i == 0 ? " (judged here)</li>" : "</li>", f);
		}
		fputs("</ul>\n", f);
	}
	char a[48], b[48];
	fprintf(f, "<p>Per round of %u connections: ", rep->per_round);
	if (pages) {
		fputs("<code>", f);
		rounds_list(f, rep, get_bytes);
		fprintf(f, "</code> B; %s per connection.</p>\n", bytes_text(rep->bytes_per_cycle, a, sizeof a));
	} else {
		fputs("<code>", f);
		rounds_list(f, rep, get_blocks);
		fputs("</code> blocks, <code>", f);
		rounds_list(f, rep, get_bytes);
		fprintf(f, "</code> B; %.2f blocks, %s per connection.</p>\n", rep->blocks_per_cycle,
			bytes_text(rep->bytes_per_cycle, b, sizeof b));
	}
	fputs("</section>\n", f);
}

/* ---- growing sites and who holds them ---- */

/* Connections between the primary process's last two snapshots: a site's growth is since the
 * process's previous leak check, which --every makes closer than a round. */
static double site_span(const struct lc_report *rep)
{
	int pid = rep->nprocs ? rep->procs[rep->primary].pid : 0;
	unsigned long last = 0, before = 0;
	int seen = 0;
	for (size_t i = rep->nseries; i-- > 0 && seen < 2;)
		if (rep->series[i].pid == pid) {
			if (seen++ == 0)
				last = rep->series[i].connections;
			else
				before = rep->series[i].connections;
		}
	return seen == 2 && last > before ? (double)(last - before) : rep->per_round ? rep->per_round : 1;
}

static void frame_text(FILE *f, const struct lc_frame *at)
{
	fputs("<code class=\"fn\">", f);
	lc_markup_text(f, at->fn[0] ? at->fn : "???");
	fputs("</code>", f);
	if (at->file[0])
		escf(f, " %s:%u", at->file, at->line);
}

static void held_link(FILE *f, const struct lc_link *l)
{
	char n[32];
	fputs("<li class=\"node\">", f);
	frame_text(f, &l->at);
	fprintf(f, "<small>%s block%s", count_text((double)l->count, n, sizeof n), l->count == 1 ? "" : "s");
	if (l->offset)
		fprintf(f, ", held at +%ld (inside)", l->offset);
	if (l->linked_at >= 0)
		fprintf(f, ", linked to each other through +%ld", l->linked_at);
	fputs("</small></li>", f);
}

/* "held by" as a path of boxes from the root to the site; a cycle's members in a loop box. */
static void held_path(FILE *f, const struct lc_retainer *r)
{
	if (!r->searched) {
		fputs("<p class=\"held none\">held by: not searched (only sites of a leak are)</p>\n", f);
		return;
	}
	fprintf(f, "<div class=\"held\" data-root-kind=\"%s\"><span class=\"heldlabel\">held by</span><ol class=\"path\">",
		lc_root_kind_name(r->kind));
	fputs("<li class=\"node root\">", f);
	if (r->kind == LC_ROOT_GLOBAL) {
		fputs("<code class=\"fn\">", f);
		lc_markup_text(f, r->root);
		fputs("</code><small>global variable (data symbol)</small>", f);
	} else if (r->kind == LC_ROOT_STACK) {
		lc_markup_text(f, r->root);
		fputs("<small>a thread's stack</small>", f);
	} else if (r->kind == LC_ROOT_MAPPING) {
		lc_markup_text(f, r->root);
		fputs("<small>mapped memory outside the heap</small>", f);
	} else if (r->kind == LC_ROOT_CYCLE) {
		fputs("no root<small>a reference cycle nothing outside points at</small>", f);
	} else if (r->kind == LC_ROOT_NONE) {
		fputs("no root<small>lost: nothing points at the first block of the path</small>", f);
	} else {
		fputs("no root found", f);
		fputs("<small>", f);
		lc_markup_text(f, r->note[0] ? r->note : "the search ended without one");
		fputs("</small>", f);
	}
	fputs("</li>", f);
	size_t i = 0;
	if (r->kind == LC_ROOT_CYCLE && r->ncycle) {
		fputs("<li class=\"node cycle\"><span class=\"cyclelabel\">a cycle</span><ol class=\"path\">", f);
		for (; i < r->ncycle && i < r->nchain; i++)
			held_link(f, &r->chain[i]);
		fputs("</ol><small>&#8635; back to ", f);
		lc_markup_text(f, r->chain[0].at.fn);
		fputs("</small></li>", f);
	}
	for (; i < r->nchain; i++)
		held_link(f, &r->chain[i]);
	char line[1200];
	lc_retainer_text(r, line, sizeof line);
	fputs("</ol><p class=\"heldtext\">", f); /* the same in one line, as the text report says it */
	lc_markup_text(f, line);
	fputs("</p></div>\n", f);
}

static void stack_list(FILE *f, const struct lc_record *rec)
{
	fprintf(f, "<details class=\"stack\"><summary>stack, %zu frames</summary><ol>", rec->nframes);
	for (size_t i = 0; i < rec->nframes; i++) {
		fputs("<li>", f);
		frame_text(f, &rec->frames[i]);
		fputs("</li>", f);
	}
	fputs("</ol></details>\n", f);
}

static void site_card(const struct page *p, size_t i, double span)
{
	FILE *f = p->f;
	const struct lc_site *s = &p->rep->sites[i];
	const struct lc_frame *at = lc_alloc_frame(&s->rec, p->o->alloc_fns);
	char b[48], total[48], n[32];
	fprintf(f, "<article class=\"site\" data-fn=\"");
	lc_markup_text(f, at ? at->fn : "");
	fprintf(f, "\"><header><span class=\"growth\">+%s per connection</span> <span class=\"blocks\">%+.2f blocks"
		   "</span> <span class=\"kind\">%s</span></header>\n", bytes_text((double)s->dbytes / span, b, sizeof b),
		(double)s->dblocks / span, lc_kind_running_name(s->rec.kind));
	fputs("<p class=\"where\">allocated in ", f);
	if (at)
		frame_text(f, at);
	else
		fputs("(no stack)", f);
	fprintf(f, " <small>%s in %s blocks now; %+ld blocks, %+ld B over the last %.0f connections</small></p>\n",
		bytes_text((double)s->rec.bytes, total, sizeof total), count_text((double)s->rec.blocks, n, sizeof n),
		s->dblocks, s->dbytes, span);
	source_block(p, at);
	held_path(f, &p->rep->held[i]);
	stack_list(f, &s->rec);
	fputs("</article>\n", f);
}

/* A Python type that grew in every round: its .py line (the agent gives its full path) and the
 * path from a root, as Python expressions. */
static void pytype_card(FILE *f, const struct lc_pytype *y)
{
	fputs("<article class=\"site\" data-fn=\"", f);
	lc_markup_text(f, y->type);
	fprintf(f, "\"><header><span class=\"growth\">%+.2f objects per connection</span> <span class=\"kind\">", y->per_connection);
	lc_markup_text(f, y->type);
	fputs("</span></header>\n<p class=\"where\">allocated in ", f);
	if (y->file[0]) {
		escf(f, "%s (%s:%u)", y->function, y->file, y->line);
		fputs("</p>\n", f);
		source_figure(f, y->file, y->line);
	} else {
		fputs("(no traceback)</p>\n", f);
	}
	for (size_t h = 0; h < y->nholders; h++) {
		fprintf(f, "<p class=\"held\">%s <code>", h ? "also" : "held by");
		lc_markup_text(f, y->holders[h].path);
		fprintf(f, "</code> <small>%lu of %lu sampled</small></p>\n", y->holders[h].objects, y->samples);
	}
	fputs("</article>\n", f);
}

/* The Python layer: the types that grew, first, as a Python programmer reads them. */
static void section_python(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_python *py = &p->rep->python;
	if (!py->agent[0])
		return;
	fputs("<section id=\"python\"><h2>Python types that grew</h2>\n<p>", f);
	escf(f, "The Python agent: %s.", py->agent);
	fputs("</p>\n", f);
	if (!(p->rep->retained || p->rep->bytes_grew) || !py->ntypes) {
		fputs("<p class=\"none\">No Python type grew in every round.</p></section>\n", f);
		return;
	}
	for (size_t i = 0; i < py->ntypes; i++)
		pytype_card(f, &py->types[i]);
	fputs("</section>\n", f);
}

static void section_sites(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	fputs("<section id=\"sites\"><h2>Growing sites</h2>\n", f);
	if (rep->measure == LC_MEASURE_PAGES) {
		fputs("<p class=\"none\">Measured in pages, there are no allocation sites: the allocator preload is "
		      "not in the process (a static binary). Run without <code>--native</code> (under memcheck) to see "
		      "where the memory is allocated and what holds it.</p></section>\n", f);
		return;
	}
	bool leak = rep->retained || rep->bytes_grew;
	if (!leak || !rep->nsites) {
		fputs("<p class=\"none\">No allocation site grew in every round.</p></section>\n", f);
		return;
	}
	double span = site_span(rep);
	fprintf(f, "<p>What grew in the last %.0f connections, the most first: where it was allocated, the line that "
		   "did it, and the path from what holds it.", span);
	if (span < rep->per_round) /* growth since the last --every snapshot, not over a round */
		fputs(" (<code>--every</code> snapshots make that span shorter than a round: growth once in it, as a "
		      "table resized, shows here too.)", f);
	fputs("</p>\n", f);
	for (size_t i = 0; i < rep->nsites; i++)
		site_card(p, i, span);
	fputs("</section>\n", f);
}

/* ---- at exit, fds, threads ---- */

static void section_exit(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	const struct lc_exit_report *x = &rep->exit;
	char a[48];
	fputs("<section id=\"exit\"><h2>Lost at exit</h2>\n", f);
	if (!rep->have_exit) {
		fputs(rep->exit_expected ? "<p class=\"none\">No exit report.</p>" :
					   "<p class=\"none\">Not measured natively (no exit report without valgrind).</p>", f);
		fputs("</section>\n", f);
		return;
	}
	fputs("<table class=\"exit\"><tr><th>kind</th><th>bytes</th><th>blocks</th></tr>\n", f);
	for (int k = 0; k < LC_NKINDS; k++) {
		bool bad = (k == LC_DEFINITE || k == LC_INDIRECT) && x->bytes[k];
		fprintf(f, "<tr%s><td>%s</td><td>%s</td>", bad ? " class=\"bad\"" : "", lc_kind_name((enum lc_kind)k),
			bytes_text((double)x->bytes[k], a, sizeof a));
		fprintf(f, "<td>%s</td></tr>\n", count_text((double)x->blocks[k], a, sizeof a));
	}
	fputs("</table>\n<p>", f);
	escf(f, "The server ended with %s", rep->exit_status[0] ? rep->exit_status : "an unknown status");
	if (x->other_errors)
		fprintf(f, "; memcheck saw %lu other error%s (invalid reads or writes...)", x->other_errors,
			x->other_errors > 1 ? "s" : "");
	fputs(".</p>\n", f);
	for (size_t i = 0, shown = 0; i < x->nrecords && shown < 8; i++) {
		const struct lc_record *rec = &x->records[i];
		const struct lc_frame *at = lc_alloc_frame(rec, p->o->alloc_fns);
		if (rec->kind != LC_DEFINITE && rec->kind != LC_INDIRECT)
			continue;
		fprintf(f, "<article class=\"loss\"><header><span class=\"growth\">%s</span> in %lu blocks <span "
			   "class=\"kind\">%s</span></header>\n<p class=\"where\">allocated in ",
			bytes_text((double)lc_record_own_bytes(rec), a, sizeof a), rec->blocks, lc_kind_name(rec->kind));
		if (at)
			frame_text(f, at);
		fputs("</p>\n", f);
		source_block(p, at);
		stack_list(f, rec);
		fputs("</article>\n", f);
		shown++;
	}
	fputs("</section>\n", f);
}

static void row(FILE *f, const char *what, bool bad, const char *verdict)
{
	fprintf(f, "<tr%s><th>%s</th><td class=\"v\">%s</td><td>", bad ? " class=\"bad\"" : "", what, verdict);
}

static void section_resources(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	const struct lc_proc_result *pr = rep->nprocs ? &rep->procs[rep->primary] : NULL;
	bool measured = rep->nrounds > 0;
	fputs("<section id=\"resources\"><h2>Open fds, threads", f);
	fputs(rep->measure == LC_MEASURE_PAGES ? ", detection limit" : "", f);
	fputs("</h2>\n<table class=\"res\">\n", f);
	row(f, "open fds", rep->fds_leaked, rep->fds_leaked ? "LEAK" : measured ? "ok" : "-");
	fprintf(f, "%d at baseline; per round <code>", rep->fds_baseline);
	rounds_list(f, rep, get_fds);
	fputs("</code></td></tr>\n", f);
	if (pr && pr->base_threads > 0) {
		row(f, "threads", rep->threads_leaked, rep->threads_leaked ? "LEAK" : measured ? "ok" : "-");
		fprintf(f, "%d at baseline; per round <code>", pr->base_threads);
		rounds_list(f, rep, get_threads);
		fputs("</code></td></tr>\n", f);
	}
	if (pr && pr->base_objects >= 0) {
		row(f, "objects (--stats)", rep->objects_grew, rep->objects_grew ? "LEAK" : measured ? "ok" : "-");
		fprintf(f, "%ld at baseline; per round <code>", pr->base_objects);
		rounds_list(f, rep, get_objects);
		fputs("</code></td></tr>\n", f);
	}
	if (rep->measure == LC_MEASURE_PAGES && rep->per_round) {
		char a[48], b[48];
		row(f, "detection limit", false, "");
		fprintf(f, "%.1f B per connection: %s per round over %u connections (idle noise %s); less growth is "
			   "invisible natively, memcheck sees one block</td></tr>\n", lc_detection_limit(rep),
			bytes_text((double)lc_bytes_floor(rep), a, sizeof a), rep->per_round,
			bytes_text((double)rep->noise, b, sizeof b));
	}
	fputs("</table>\n", f);
	for (size_t i = 0; rep->nprocs > 1 && i < rep->nprocs; i++) {
		const struct lc_proc_result *q = &rep->procs[i];
		if (i == 0)
			fputs("<table class=\"res\"><tr><th>process</th><th>judged</th><th>served</th><th>verdict</th></tr>\n", f);
		fprintf(f, "<tr><td>pid %d <code>", q->pid);
		lc_markup_text(f, q->name);
		fprintf(f, "</code></td><td>%s</td><td>%s</td><td>%s</td></tr>\n", q->judged ? "yes" : "no (short-lived)",
			q->accepted ? "yes" : "-",
			q->retained || q->bytes_grew || q->fds_leaked || q->threads_leaked ? "LEAK" : "ok");
		if (i + 1 == rep->nprocs)
			fputs("</table>\n", f);
	}
	fputs("</section>\n", f);
}

/* ---- the head: verdict, command, options ---- */

static void command_line(FILE *f, const struct lc_options *o)
{
	fputs("<code class=\"cmd\">leakcheck", f);
	if (lc_engine_flag(o->engine)[0])
		fprintf(f, " %s", lc_engine_flag(o->engine));
	fputs(" --", f);
	for (char **a = o->server_argv; a && *a; a++) {
		bool plain = **a && strspn(*a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+{}@%") ==
						strlen(*a);
		fputc(' ', f);
		if (plain) {
			lc_markup_text(f, *a);
			continue;
		}
		fputc('\'', f); /* as a shell would take it back: ' becomes '\'' */
		for (const char *c = *a; *c; c++)
			if (*c == '\'')
				fputs("&#39;\\&#39;&#39;", f);
			else
				escf(f, "%c", *c);
		fputc('\'', f);
	}
	fputs("</code>", f);
}

/* The site that grew most and its holder, in a line: what to open first. */
static void head_site(const struct page *p)
{
	const struct lc_report *rep = p->rep;
	const struct lc_frame *at = rep->nsites ? lc_alloc_frame(&rep->sites[0].rec, p->o->alloc_fns) : NULL;
	const struct lc_retainer *h = &rep->held[0];
	if (!(rep->retained || rep->bytes_grew) || !at)
		return;
	fputs("<p class=\"top\">Grows most at ", p->f);
	frame_text(p->f, at);
	if (h->searched && h->kind == LC_ROOT_CYCLE)
		fputs(", held by nothing but a reference cycle", p->f);
	else if (h->searched && h->root[0])
		escf(p->f, ", held by %s", h->root);
	fputs("</p>", p->f);
}

static void head(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	const struct lc_options *o = p->o;
	const char *v = lc_verdict_name(rep->verdict);
	fprintf(f, "<header class=\"verdict %s\"><p class=\"tool\">leakcheck</p><h1 id=\"verdict\" data-verdict=\"%s\">%s</h1>"
		   "<p class=\"reason\">", v, v, rep->verdict == LC_LEAK ? "LEAK" : rep->verdict == LC_CLEAN ? "clean" :
		   "could not judge");
	lc_markup_text(f, rep->reason);
	fputs("</p>", f);
	head_site(p);
	fputs("<p>", f);
	command_line(f, o);
	fputs("</p></header>\n", f);
	fputs("<section id=\"options\"><dl>", f);
	fprintf(f, "<div><dt>engine</dt><dd>%s</dd></div>", lc_engine_name(rep->engine));
	fprintf(f, "<div><dt>rounds</dt><dd>%u &times; %u connections</dd></div>", o->rounds, o->cycles);
	fprintf(f, "<div><dt>warmup</dt><dd>%u</dd></div>", o->warmup);
	fprintf(f, "<div><dt>close</dt><dd>%s</dd></div>", lc_close_name(o->close));
	fprintf(f, "<div><dt>concurrency</dt><dd>%u</dd></div>", o->concurrency);
	if (o->every)
		fprintf(f, "<div><dt>every</dt><dd>%u</dd></div>", o->every);
	fprintf(f, "<div><dt>served</dt><dd>%lu connections</dd></div>", rep->cycles);
	fprintf(f, "<div><dt>time</dt><dd>%.1f s</dd></div>", rep->seconds);
	if (rep->extra_rounds)
		fprintf(f, "<div><dt>extra rounds</dt><dd>%u</dd></div>", rep->extra_rounds);
	if (o->suppressions) {
		fputs("<div><dt>suppressions</dt><dd>", f);
		lc_markup_text(f, o->suppressions);
		fputs("</dd></div>", f);
	}
	if (o->baseline) {
		fputs("<div><dt>known leaks</dt><dd>", f);
		lc_markup_text(f, o->baseline);
		fputs("</dd></div>", f);
	}
	fputs("</dl></section>\n", f);
}

static const char style[] =
	":root{--ink:#1c2833;--mute:#5d6d7e;--line:#d5d8dc;--bg:#fbfcfc;--leak:#b03a2e;--ok:#1e8449;--err:#b9770e}"
	"*{box-sizing:border-box}"
	"body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--ink);"
	"background:var(--bg)}"
	"main{max-width:1180px;margin:0 auto;padding:0 24px 40px}"
	"code,pre{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px}"
	"header.verdict{color:#fff;padding:22px 28px 18px;margin:0 -24px 18px}"
	"header.verdict.leak{background:var(--leak)}header.verdict.clean{background:var(--ok)}"
	"header.verdict.error{background:var(--err)}"
	"header.verdict h1{margin:0;font-size:44px;letter-spacing:.04em;line-height:1.1}"
	".tool{margin:0;opacity:.85;font-size:13px;text-transform:uppercase;letter-spacing:.12em}"
	".reason{font-size:19px;margin:6px 0 10px}.top{margin:0 0 10px;font-size:15px}.top code.fn{font-size:15px}"
	"code.cmd{display:inline-block;background:rgba(0,0,0,.22);color:#fff;padding:5px 9px;border-radius:4px;"
	"word-break:break-all}"
	"#options dl{display:flex;flex-wrap:wrap;gap:6px 26px;margin:0 0 8px}"
	"#options dt{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.06em}"
	"#options dd{margin:0;font-weight:600}"
	"h2{font-size:20px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}"
	".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}"
	"figure{margin:0}figure.chart{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px}"
	"figure.chart figcaption{font-size:13px;color:var(--mute);text-align:center}"
	"svg{width:100%;height:auto;display:block}"
	".grid{stroke:#eaecee}.axis{stroke:#85929e}.tick{font-size:11px;fill:var(--mute)}"
	".axislabel{font-size:12px;fill:var(--mute)}"
	".curve{fill:none;stroke-width:2.2;stroke-linejoin:round}"
	".band{fill:#f4f6f7}.band.odd{fill:#e8eef3}.bandlabel{font-size:11px;fill:var(--mute)}"
	".mark{stroke:#566573;stroke-dasharray:4 3}.marklabel{font-size:11px;fill:#566573}"
	".legend{font-size:13px;color:var(--mute)}"
	".key{display:inline-block;border-radius:50%;border:2px solid var(--leak);vertical-align:middle;margin:0 3px 0 10px}"
	".key.big{width:11px;height:11px}.key.small{width:7px;height:7px;background:#fff}"
	".procs{list-style:none;padding:0;font-size:13px}.swatch{display:inline-block;width:14px;height:4px;"
	"margin-right:6px;vertical-align:middle}"
	".none{color:var(--mute);font-style:italic}"
	"article{background:#fff;border:1px solid var(--line);border-left:5px solid var(--leak);border-radius:6px;"
	"padding:12px 16px;margin:12px 0}"
	"article header{font-size:17px}.growth{font-weight:700;color:var(--leak)}"
	".blocks{font-weight:600}.kind{font-size:12px;background:#f2d7d5;color:#78281f;padding:1px 7px;border-radius:9px;"
	"margin-left:6px;vertical-align:2px}"
	".where{margin:6px 0}.where small,.node small{color:var(--mute)}"
	"code.fn{font-weight:700}"
	"figure.src{border:1px solid var(--line);border-radius:4px;overflow:hidden;margin:8px 0}"
	"figure.src figcaption{font-size:12px;background:#f4f6f7;color:var(--mute);padding:3px 8px;"
	"font-family:ui-monospace,'DejaVu Sans Mono',monospace}"
	"figure.src pre{margin:0;padding:4px 0;overflow-x:auto}"
	"pre span.ctx,pre span.hit{display:block;padding:0 8px;white-space:pre}"
	"pre span.ctx{color:#85929e}pre span.hit{background:#fdedec;font-weight:600}"
	".ln{display:inline-block;width:3.2em;color:#aab7b8;user-select:none}"
	".nosrc{color:var(--mute);font-size:13px}"
	".held{margin:10px 0 4px}.heldlabel{font-size:12px;text-transform:uppercase;letter-spacing:.08em;"
	"color:var(--mute)}"
	"ol.path{list-style:none;display:flex;flex-wrap:wrap;align-items:stretch;padding:0;margin:4px 0}"
	"ol.path>li.node{background:#f8f9f9;border:1px solid #ccd1d1;border-radius:5px;padding:5px 9px;"
	"display:flex;flex-direction:column;justify-content:center}"
	"ol.path>li.node+li.node{margin-left:30px;position:relative}"
	"ol.path>li.node+li.node::before{content:'\\2192';position:absolute;left:-24px;top:50%;"
	"transform:translateY(-55%);font-size:20px;color:#7f8c8d}"
	"li.node.root{background:#fef5e7;border-color:#f0b27a;font-weight:600}"
	"li.node.cycle{background:#f5eef8;border-color:#c39bd3}.cyclelabel{font-size:12px;color:#6c3483}"
	".heldtext{font-size:12px;color:var(--mute);margin:2px 0;font-family:ui-monospace,monospace}"
	"details.stack summary{cursor:pointer;color:var(--mute);font-size:13px}"
	"details.stack ol{margin:4px 0;font-size:13px}"
	"table{border-collapse:collapse;background:#fff;margin:6px 0}"
	"th,td{text-align:left;padding:5px 12px;border-bottom:1px solid var(--line);vertical-align:top}"
	"tr.bad th,tr.bad td{color:var(--leak);font-weight:600}td.v{font-weight:700}"
	"article.loss{border-left-color:#884ea0}"
	"footer{margin-top:30px;font-size:12px;color:var(--mute)}";

static int page_write(const struct page *p)
{
	FILE *f = p->f;
	const char *v = lc_verdict_name(p->rep->verdict);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
	      "<title>",
	      f);
	escf(f, "leakcheck: %s: %s", v, lc_server_name(p->o));
	fprintf(f, "</title><style>%s</style></head>\n<body><main>\n", style);
	head(p);
	section_heap(p);
	section_python(p);
	section_sites(p);
	section_exit(p);
	section_resources(p);
	fputs("<footer>Written by <code>leakcheck --html</code>: every option is in <code>man leakcheck</code>. "
	      "The JSON report (<code>--json</code>) holds the same numbers.</footer>\n</main></body></html>\n", f);
	return ferror(f) ? -1 : 0;
}

/* Where sources are looked for: the server program's folder (resolved: a relative name is
 * relative to where leakcheck ran), then the current folder. */
static void page_roots(struct page *p)
{
	char prog[PATH_MAX], *slash;
	const char *argv0 = p->o->server_argv ? p->o->server_argv[0] : NULL;
	if (argv0 && strchr(argv0, '/') && realpath(argv0, prog) && (slash = strrchr(prog, '/'))) {
		*slash = '\0';
		snprintf(p->roots[p->nroots++], sizeof p->roots[0], "%s", prog[0] ? prog : "/");
	}
	if (getcwd(prog, sizeof prog))
		snprintf(p->roots[p->nroots++], sizeof p->roots[0], "%s", prog);
}

int lc_report_html(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	static struct page p; /* 8 kB of roots: not on the stack of a signal-light CLI */
	char tmp[PATH_MAX];
	int rc = -1, fd = -1;
	bool made = false; /* tmp exists: remove it unless renamed */
	memset(&p, 0, sizeof p);
	p.rep = rep;
	p.o = o;
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		goto out;
	if ((fd = mkstemp(tmp)) < 0)
		goto out;
	made = true;
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || !(p.f = fdopen(fd, "w")))
		goto out;
	fd = -1; /* the FILE has it now */
	page_roots(&p);
	if (page_write(&p) < 0)
		goto out;
	int closed = fclose(p.f);
	p.f = NULL;
	if (closed != 0 || rename(tmp, path) != 0)
		goto out;
	made = false;
	rc = 0;
out:
	if (p.f)
		fclose(p.f);
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	return rc;
}

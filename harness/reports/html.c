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
#include "reports/html.h"
#include "reports/reports.h"
#include "util/text.h"

struct page {
	FILE *f;                          /* borrowed: the temp file being written */
	const struct lc_report *rep;      /* borrowed */
	const struct lc_options *o;       /* borrowed */
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

/* "+3 +3 +4": one measure of each round, as the text report has it. */
static void rounds_list(FILE *f, const struct lc_report *rep, long (*get)(const struct lc_round *))
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	for (size_t i = 0; i < top->nrounds; i++)
		fprintf(f, "%s%+ld", i ? " " : "", get(&top->rounds[i]));
	if (!top->nrounds)
		fputs("not measured", f);
}

static long get_fds(const struct lc_round *r) { return r->dfds; }
static long get_threads(const struct lc_round *r) { return r->dthreads; }
static long get_objects(const struct lc_round *r) { return r->dobjects; }
static long get_bytes(const struct lc_round *r) { return r->dbytes; }
static long get_blocks(const struct lc_round *r) { return r->dblocks; }

/* Line n of path with one line either side, under the path. */
static void source_figure(FILE *f, const char *path, unsigned line)
{
	char text[512];
	fputs("<figure class=\"src\"><figcaption>", f);
	escf(f, "%s:%u", path, line);
	fputs("</figcaption><pre>", f);
	for (unsigned n = line > 1 ? line - 1 : 1; n <= line + 1; n++) {
		if (!lc__source_line(path, n, text, sizeof text))
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
	if (!lc__source_find(p->o, at, path, sizeof path)) {
		fputs("<p class=\"nosrc\">source not found: ", f);
		escf(f, "%s (looked beside %s and its parents, and in the current folder", at->file,
		     lc__server_name(p->o));
		fputs(p->o->source_dir ? " and --source-dir)" : "; --source-dir DIR names another)", f);
		fputs("</p>\n", f);
		return;
	}
	source_figure(f, path, at->line);
}

static void section_heap(const struct page *p)
{
	FILE *f = p->f;
	const struct lc_report *rep = p->rep;
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
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
		lc__html_chart(f, rep, true, "anonymous memory (Anonymous + Swap of /proc/PID/smaps_rollup)", "anonymous memory");
	} else {
		lc__html_chart(f, rep, true, rep->measure == LC_MEASURE_ALLOCATOR ?
			"heap bytes in use (live blocks, counted by the allocator preload in the server)" :
			"heap bytes in use (every kind: reachable, possibly, definitely lost)", "heap bytes");
		lc__html_chart(f, rep, false, "heap blocks in use", "heap blocks");
	}
	fprintf(f, "</div>\n<p class=\"legend\"><span class=\"key big\" style=\"background:%s;border-color:%s\"></span> "
		   "baseline and the end of each round (settled: the heap had stopped shrinking) <span class=\"key small\" "
		   "style=\"border-color:%s\"></span> ", lc__html_line_color(rep, 0), lc__html_line_color(rep, 0), lc__html_line_color(rep, 0));
	fputs(p->o->every ? "every --every connections, as the heap was (not judged)" :
			    "<code>--every N</code> adds a point every N connections", f);
	fputs("</p>\n", f);
	int pids[LC_MAX_PROCS];
	size_t npids = lc__html_series_pids(rep, pids, LC_MAX_PROCS);
	if (npids > 1) {
		fputs("<ul class=\"procs\">", f);
		for (size_t i = 0; i < npids; i++) {
			const char *name = "";
			for (size_t k = 0; k < rep->nprocs; k++)
				if (rep->procs[k].pid == pids[i])
					name = rep->procs[k].name;
			fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>pid %d ", lc__html_line_color(rep, i), pids[i]);
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
		fprintf(f, "</code> B; %s per connection.</p>\n", lc__html_bytes(top->bytes_per_cycle, a, sizeof a));
	} else {
		fputs("<code>", f);
		rounds_list(f, rep, get_blocks);
		fputs("</code> blocks, <code>", f);
		rounds_list(f, rep, get_bytes);
		fprintf(f, "</code> B; %.2f blocks, %s per connection.</p>\n", top->blocks_per_cycle,
			lc__html_bytes(top->bytes_per_cycle, b, sizeof b));
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
	fprintf(f, "<small>%s block%s", lc__html_count((double)l->count, n, sizeof n), l->count == 1 ? "" : "s");
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
	const struct lc_site *s = &lc_report_primary(p->rep)->sites[i];
	const struct lc_frame *at = lc__alloc_frame(&s->rec, p->o->alloc_fns);
	char b[48], total[48], n[32];
	fprintf(f, "<article class=\"site\" data-fn=\"");
	lc_markup_text(f, at ? at->fn : "");
	fprintf(f, "\"><header><span class=\"growth\">+%s per connection</span> <span class=\"blocks\">%+.2f blocks"
		   "</span> <span class=\"kind\">%s</span></header>\n", lc__html_bytes((double)s->dbytes / span, b, sizeof b),
		(double)s->dblocks / span, lc_kind_running_name(s->rec.kind));
	fputs("<p class=\"where\">allocated in ", f);
	if (at)
		frame_text(f, at);
	else
		fputs("(no stack)", f);
	fprintf(f, " <small>%s in %s blocks now; %+ld blocks, %+ld B over the last %.0f connections</small></p>\n",
		lc__html_bytes((double)s->rec.bytes, total, sizeof total), lc__html_count((double)s->rec.blocks, n, sizeof n),
		s->dblocks, s->dbytes, span);
	source_block(p, at);
	held_path(f, &lc_report_primary(p->rep)->held[i]);
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
	if (!(lc_report_primary(p->rep)->retained || lc_report_primary(p->rep)->bytes_grew) || !py->ntypes) {
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
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	fputs("<section id=\"sites\"><h2>Growing sites</h2>\n", f);
	if (rep->measure == LC_MEASURE_PAGES) {
		fputs("<p class=\"none\">Measured in pages, there are no allocation sites: the allocator preload is "
		      "not in the process (a static binary). Run without <code>--native</code> (under memcheck) to see "
		      "where the memory is allocated and what holds it.</p></section>\n", f);
		return;
	}
	bool leak = top->retained || top->bytes_grew;
	if (!leak || !top->nsites) {
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
	for (size_t i = 0; i < top->nsites; i++)
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
			lc__html_bytes((double)x->bytes[k], a, sizeof a));
		fprintf(f, "<td>%s</td></tr>\n", lc__html_count((double)x->blocks[k], a, sizeof a));
	}
	fputs("</table>\n<p>", f);
	escf(f, "The server ended with %s", rep->exit_status[0] ? rep->exit_status : "an unknown status");
	if (x->other_errors)
		fprintf(f, "; memcheck saw %lu other error%s (invalid reads or writes...)", x->other_errors,
			x->other_errors > 1 ? "s" : "");
	fputs(".</p>\n", f);
	for (size_t i = 0, shown = 0; i < x->nrecords && shown < 8; i++) {
		const struct lc_record *rec = &x->records[i];
		const struct lc_frame *at = lc__alloc_frame(rec, p->o->alloc_fns);
		if (rec->kind != LC_DEFINITE && rec->kind != LC_INDIRECT)
			continue;
		fprintf(f, "<article class=\"loss\"><header><span class=\"growth\">%s</span> in %lu blocks <span "
			   "class=\"kind\">%s</span></header>\n<p class=\"where\">allocated in ",
			lc__html_bytes((double)lc_record_own_bytes(rec), a, sizeof a), rec->blocks, lc_kind_name(rec->kind));
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
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	const struct lc_proc_result *pr = rep->nprocs ? &rep->procs[rep->primary] : NULL;
	bool measured = top->nrounds > 0;
	fputs("<section id=\"resources\"><h2>Open fds, threads", f);
	fputs(rep->measure == LC_MEASURE_PAGES ? ", detection limit" : "", f);
	fputs("</h2>\n<table class=\"res\">\n", f);
	row(f, "open fds", top->fds_leaked, top->fds_leaked ? "LEAK" : measured ? "ok" : "-");
	fprintf(f, "%d at baseline; per round <code>", top->base_fds);
	rounds_list(f, rep, get_fds);
	fputs("</code></td></tr>\n", f);
	if (pr && pr->base_threads > 0) {
		row(f, "threads", top->threads_leaked, top->threads_leaked ? "LEAK" : measured ? "ok" : "-");
		fprintf(f, "%d at baseline; per round <code>", pr->base_threads);
		rounds_list(f, rep, get_threads);
		fputs("</code></td></tr>\n", f);
	}
	if (pr && pr->base_objects >= 0) {
		row(f, "objects (--stats)", top->objects_grew, top->objects_grew ? "LEAK" : measured ? "ok" : "-");
		fprintf(f, "%ld at baseline; per round <code>", pr->base_objects);
		rounds_list(f, rep, get_objects);
		fputs("</code></td></tr>\n", f);
	}
	if (rep->measure == LC_MEASURE_PAGES && rep->per_round) {
		char a[48], b[48];
		row(f, "detection limit", false, "");
		fprintf(f, "%.1f B per connection: %s per round over %u connections (idle noise %s); less growth is "
			   "invisible natively, memcheck sees one block</td></tr>\n", lc_detection_limit(rep),
			lc__html_bytes((double)lc_bytes_floor(rep), a, sizeof a), rep->per_round,
			lc__html_bytes((double)rep->noise, b, sizeof b));
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
	const struct lc_frame *at = lc_report_primary(rep)->nsites ? lc__alloc_frame(&lc_report_primary(rep)->sites[0].rec, p->o->alloc_fns) : NULL;
	const struct lc_retainer *h = &lc_report_primary(rep)->held[0];
	if (!(lc_report_primary(rep)->retained || lc_report_primary(rep)->bytes_grew) || !at)
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
	fprintf(f, "<div><dt>served</dt><dd>%lu connections</dd></div>", rep->connections);
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

static int page_write(const struct page *p)
{
	FILE *f = p->f;
	const char *v = lc_verdict_name(p->rep->verdict);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
	      "<title>",
	      f);
	escf(f, "leakcheck: %s: %s", v, lc__server_name(p->o));
	fprintf(f, "</title><style>%s</style></head>\n<body><main>\n", lc__html_css);
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

int lc_report_html(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	struct page p;
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

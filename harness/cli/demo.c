/* leakcheck-demo [--html DIR] VARIANT...: run leakcheck over every case variant given on the
 * command line, under memcheck and natively (build/cases/<pattern>/<variant>, or a Python twin
 * cases/<pattern>/<variant>.py, run by python3), and print one table, the engines side by side. With --html, each run's page (lc_report_html) goes to
 * DIR/<pattern>-<variant>-<engine>.html and the table, linking them, to DIR/index.html. Exits 0
 * only if every fixed variant is clean and every leaky one is caught; `make demo` runs it. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/leakcheck.h"


/* "build/cases/global_list/leaky" -> pattern "global_list", variant "leaky" */
static void names(const char *path, char *pattern, char *variant, size_t len)
{
	char a[512], b[512];
	snprintf(a, sizeof a, "%s", path);
	snprintf(b, sizeof b, "%s", path);
	snprintf(variant, len, "%s", basename(a));
	snprintf(pattern, len, "%s", basename(dirname(b)));
}

/* The table's verdict: a leak in capitals, so it stands out among the clean rows. */
static const char *verdict_cell(enum lc_verdict v)
{
	return v == LC_LEAK ? "LEAK" : lc_verdict_name(v);
}

static bool is_python(const char *path)
{
	size_t n = strlen(path);
	return n > 3 && strcmp(path + n - 3, ".py") == 0;
}

/* A Python twin's leaky.py says what to expect on its "leakcheck-native:" line (mutual_refs's
 * pairs are freed by the collector: clean); a C leaky variant leaks. */
static bool expects_leak(const char *path, const char *variant)
{
	char line[512];
	bool leak = strncmp(variant, "leaky", 5) == 0;
	FILE *f = is_python(path) && leak ? fopen(path, "r") : NULL;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "leakcheck-native: ", 18) == 0) {
			leak = strncmp(line + 18, "leak", 4) == 0;
			break;
		}
	if (f)
		fclose(f);
	return leak;
}

static bool as_expected(bool leak, const struct lc_report *rep)
{
	return leak ? rep->verdict == LC_LEAK : rep->verdict == LC_CLEAN;
}

/* One row of the table, kept for index.html. */
struct row {
	char pattern[128], variant[128];
	char lost[64], kept[64], holder[140], anon[48], site[64], nat_holder[140];
	enum lc_verdict mc, nat;
	double mc_seconds, nat_seconds;
	bool ok;
};

#define MAX_ROWS 64
static struct row rows[MAX_ROWS];
static size_t nrows;
static const char *html_dir; /* borrowed: --html DIR, or NULL */

/* A run's page: DIR/<pattern>-<variant>-<engine>.html. Failing to write it fails the demo. */
static int write_page(const struct row *r, const char *engine, const struct lc_report *rep,
		      const struct lc_options *o)
{
	char path[1024];
	if (!html_dir)
		return 0;
	snprintf(path, sizeof path, "%s/%s-%s-%s.html", html_dir, r->pattern, r->variant, engine);
	if (lc_report_html(path, rep, o) == 0)
		return 0;
	fprintf(stderr, "leakcheck-demo: cannot write %s: %s\n", path, strerror(errno));
	return -1;
}

/* x as printed with digits decimals, never "-0" (a Python twin's -0.3 B per connection). */
static double unsigned_zero(double x, int digits)
{
	double half = digits ? 0.005 : 0.5;
	return x > -half && x < half ? 0.0 : x;
}

/* What holds what grew most, in one engine's report: a Python twin's path, as Python, else the
 * root of the site that grew most; "-" if none was searched. */
static void holder_of(const struct lc_report *rep, char *out, size_t len)
{
	const struct lc_proc_result *p = lc_report_primary(rep);
	snprintf(out, len, "-");
	if (rep->python.ntypes && rep->python.types[0].nholders)
		snprintf(out, len, "%.60s", rep->python.types[0].holders[0].path);
	else if (p->nsites && p->held[0].searched)
		snprintf(out, len, "%s", p->held[0].kind == LC_ROOT_CYCLE ? "a cycle" :
			 p->held[0].root[0] ? p->held[0].root : lc_root_kind_name(p->held[0].kind));
}

/* The row's cells from the two reports. */
static void row_fill(struct row *r, const struct lc_report *mc, const struct lc_report *nat)
{
	const struct lc_proc_result *m = lc_report_primary(mc), *n = lc_report_primary(nat);
	snprintf(r->lost, sizeof r->lost, "-");
	snprintf(r->kept, sizeof r->kept, "-");
	snprintf(r->anon, sizeof r->anon, "-");
	snprintf(r->site, sizeof r->site, "-");
	if (mc->have_exit)
		snprintf(r->lost, sizeof r->lost, "%lu B", mc->exit.bytes[LC_DEFINITE] + mc->exit.bytes[LC_INDIRECT]);
	if (m->nrounds)
		snprintf(r->kept, sizeof r->kept, "%.2f blocks, %.0f B", unsigned_zero(m->blocks_per_cycle, 2),
			 unsigned_zero(m->bytes_per_cycle, 0));
	holder_of(mc, r->holder, sizeof r->holder);
	holder_of(nat, r->nat_holder, sizeof r->nat_holder);
	/* natively: the allocator's blocks and bytes, and its largest growing site (pages: bytes only) */
	if (n->nrounds && nat->measure == LC_MEASURE_PAGES)
		snprintf(r->anon, sizeof r->anon, "%.0f B (pages)", unsigned_zero(n->bytes_per_cycle, 0));
	else if (n->nrounds)
		snprintf(r->anon, sizeof r->anon, "%.2f blocks, %.0f B", unsigned_zero(n->blocks_per_cycle, 2),
			 unsigned_zero(n->bytes_per_cycle, 0));
	if (nat->python.ntypes && nat->python.types[0].file[0] && nat->verdict == LC_LEAK) {
		const char *file = strrchr(nat->python.types[0].file, '/');
		snprintf(r->site, sizeof r->site, "%.40s:%u", file ? file + 1 : nat->python.types[0].file,
			 nat->python.types[0].line);
	} else if (n->nsites && nat->verdict == LC_LEAK) {
		const struct lc_frame *f = &n->sites[0].rec.frames[n->sites[0].rec.nframes > 1 ? 1 : 0];
		snprintf(r->site, sizeof r->site, "%.30s", f->fn);
	}
	r->mc = mc->verdict;
	r->nat = nat->verdict;
	r->mc_seconds = mc->seconds;
	r->nat_seconds = nat->seconds;
}

/* One variant under memcheck (its defaults), then natively (its defaults): one row. */
static int run_one(const char *path)
{
	char py[] = "python3";
	char *argv[] = { (char *)path, NULL }, *pyargv[] = { py, (char *)path, NULL };
	char **server = is_python(path) ? pyargv : argv;
	struct lc_options o;
	struct lc_report *mc = lc_report_new(), *nat = lc_report_new();
	struct row *r = &rows[nrows < MAX_ROWS ? nrows++ : MAX_ROWS - 1];
	int pages = 0;
	if (!mc || !nat) {
		fprintf(stderr, "leakcheck-demo: out of memory\n");
		exit(2);
	}
	memset(r, 0, sizeof *r);
	names(path, r->pattern, r->variant, sizeof r->pattern);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = server;
	lc_run(&o, mc);
	pages |= write_page(r, "memcheck", mc, &o);
	lc_options_init(&o, LC_ENGINE_NATIVE);
	o.server_argv = server;
	lc_run(&o, nat);
	pages |= write_page(r, "native", nat, &o);
	row_fill(r, mc, nat);
	bool leak = expects_leak(path, r->variant);
	r->ok = as_expected(leak, mc) && as_expected(leak, nat) && pages == 0;
	printf("%-16s %-11s | %-8s %-19s %-24.26s %-7s %5.1fs | %-19s %-12s %-7s %5.1fs  %s\n", r->pattern, r->variant,
	       r->lost, r->kept, r->holder, verdict_cell(mc->verdict), mc->seconds, r->anon, r->site,
	       verdict_cell(nat->verdict), nat->seconds, r->ok ? "as expected" : "UNEXPECTED");
	if (!as_expected(leak, mc))
		printf("    memcheck: %s\n", mc->reason);
	if (!as_expected(leak, nat))
		printf("    native: %s\n", nat->reason);
	lc_report_delete(mc);
	lc_report_delete(nat);
	return r->ok ? 0 : 1;
}


static void index_cell(FILE *f, const struct row *r, const char *engine, enum lc_verdict v, double seconds)
{
	fprintf(f, "<td class=\"%s\"><a href=\"", lc_verdict_name(v));
	lc_markup_text(f, r->pattern);
	fputc('-', f);
	lc_markup_text(f, r->variant);
	fprintf(f, "-%s.html\">%s</a> <small>%.1f s</small></td>", engine, verdict_cell(v), seconds);
}

/* A holder cell: a Python path may wrap after a '.' and before a '[' (<wbr>), never inside a
 * name, so the column stays narrow without cutting "conn_instances" in two. */
static void holder_cell(FILE *f, const char *holder)
{
	char piece[sizeof rows[0].holder];
	size_t n = 0;
	fputs("<td class=\"holder\">", f);
	for (const char *s = holder; *s; s++) {
		if (*s == '[' && n > 0) {
			piece[n] = '\0';
			lc_markup_text(f, piece);
			fputs("<wbr>", f);
			n = 0;
		}
		piece[n++] = *s;
		if (*s == '.' || n == sizeof piece - 1) {
			piece[n] = '\0';
			lc_markup_text(f, piece);
			fputs("<wbr>", f);
			n = 0;
		}
	}
	piece[n] = '\0';
	lc_markup_text(f, piece);
	fputs("</td>", f);
}

static void index_row(FILE *f, const struct row *r)
{
	const char *const cells[] = { r->pattern, r->variant, r->lost };
	fputs("<tr>", f);
	for (size_t i = 0; i < 3; i++) {
		fputs(i == 1 ? "<td><code>" : "<td>", f);
		lc_markup_text(f, cells[i]);
		fputs(i == 1 ? "</code></td>" : "</td>", f);
	}
	fputs("<td class=\"num\">", f);
	lc_markup_text(f, r->kept);
	fputs("</td>", f);
	holder_cell(f, r->holder);
	index_cell(f, r, "memcheck", r->mc, r->mc_seconds);
	fputs("<td class=\"num\">", f);
	lc_markup_text(f, r->anon);
	fputs("</td><td>", f);
	lc_markup_text(f, r->site);
	fputs("</td>", f);
	holder_cell(f, r->nat_holder);
	index_cell(f, r, "native", r->nat, r->nat_seconds);
	fprintf(f, "<td class=\"%s\" title=\"%s\">%s</td></tr>\n", r->ok ? "clean" : "leak",
		r->ok ? "as expected" : "UNEXPECTED", r->ok ? "&#10003;" : "&#10007; UNEXPECTED");
}

/* DIR/index.html: the table, each verdict a link to its run's page. Written beside and renamed. */
static int write_index(int bad)
{
	char path[1024], tmp[1040];
	snprintf(path, sizeof path, "%s/index.html", html_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		goto fail;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>connleaks: leakcheck demo</title>"
	      /* fits a laptop's window (1280 px): the long cells (holders, Python paths) wrap */
	      "<style>body{font:14px/1.4 system-ui,'DejaVu Sans',sans-serif;color:#1c2833;max-width:1240px;margin:0 auto;"
	      "padding:0 12px 40px}h1{font-size:24px}table{border-collapse:collapse}th,td{text-align:left;padding:5px 7px;"
	      "border-bottom:1px solid #d5d8dc;vertical-align:top}th,td.leak,td.clean,td.error,td.num{white-space:nowrap}"
	      "td.holder{max-width:12em}th.engine{text-align:center;border-bottom:2px solid #85929e}"
	      "td.leak{color:#b03a2e;font-weight:700}td.clean{color:#1e8449;font-weight:700}td.error{color:#b9770e;"
	      "font-weight:700}td a{color:inherit}small{color:#5d6d7e;font-weight:400}p{max-width:820px}</style></head>\n"
	      "<body><h1>connleaks: every case variant through leakcheck, both engines</h1>\n", f);
	fprintf(f, "<p id=\"summary\"><strong>%zu of %zu variants as expected</strong> in both engines (leaky caught, fixed "
		   "clean). Each verdict links to its run's page: the heap against connections served, the growing "
		   "sites with their source lines, and what holds them.</p>\n", nrows - (size_t)bad, nrows);
	fputs("<table><tr><th colspan=\"2\"></th><th class=\"engine\" colspan=\"4\">memcheck engine (valgrind)</th>"
	      "<th class=\"engine\" colspan=\"4\">native engine (no valgrind)</th><th></th></tr>\n"
	      "<tr><th>pattern</th><th>variant</th><th>lost at exit</th><th>retained/conn</th><th>held by</th>"
	      "<th>verdict</th><th>retained/conn</th><th>grew most at</th><th>held by</th><th>verdict</th>"
	      "<th title=\"as expected: leaky caught, fixed clean\">ok</th></tr>\n",
	      f);
	for (size_t i = 0; i < nrows; i++)
		index_row(f, &rows[i]);
	fputs("</table>\n</body></html>\n", f);
	if (ferror(f) | fclose(f) || rename(tmp, path) != 0)
		goto fail;
	printf("pages: %s\n", path);
	return 0;
fail:
	fprintf(stderr, "leakcheck-demo: cannot write %s: %s\n", path, strerror(errno));
	unlink(tmp);
	return -1;
}

int main(int argc, char **argv)
{
	int bad = 0, first = 1;
	if (argc > 2 && strcmp(argv[1], "--html") == 0) {
		html_dir = argv[2];
		first = 3;
		if (mkdir(html_dir, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "leakcheck-demo: cannot make %s: %s\n", html_dir, strerror(errno));
			return 2;
		}
	}
	printf("%-16s %-11s | %-68s | %s\n", "", "", "memcheck engine (valgrind)", "native engine (no valgrind)");
	printf("%-16s %-11s | %-8s %-19s %-24s %-7s %6s | %-19s %-12s %-7s %6s\n", "pattern", "variant", "lost", "retained/conn",
	       "held by", "verdict", "time", "retained/conn", "grew most at", "verdict", "time");
	for (int i = first; i < argc; i++)
		bad += run_one(argv[i]);
	printf("%d of %d variants as expected in both engines (leaky caught, fixed clean; mutual_refs/leaky.py's "
	       "pairs are freed by Python's collector)\n", argc - first - bad,
	       argc - first);
	if (html_dir && write_index(bad) < 0)
		return 2;
	return bad ? 1 : 0;
}

/* leakcheck-demo: run leakcheck over every case variant given on the command line, under
 * memcheck and natively (build/cases/<pattern>/<variant>), and print one table, the engines
 * side by side. Exits 0 only if every fixed variant
 * is clean and every leaky one is caught; `make demo` runs it. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool as_expected(const char *variant, const struct lc_report *rep)
{
	bool leaky = strncmp(variant, "leaky", 5) == 0;
	return leaky ? rep->verdict == LC_LEAK : rep->verdict == LC_CLEAN;
}

/* One variant under memcheck (its defaults), then natively (its defaults): one row. */
static int run_one(const char *path)
{
	char pattern[128], variant[128], lost[64], kept[64], holder[140] = "-", anon[48], site[40] = "-";
	char *argv[] = { (char *)path, NULL };
	struct lc_options o;
	struct lc_report *mc = lc_report_new(), *nat = lc_report_new();
	if (!mc || !nat) {
		fprintf(stderr, "leakcheck-demo: out of memory\n");
		exit(2);
	}
	names(path, pattern, variant, sizeof pattern);
	lc_options_init(&o);
	o.server_argv = argv;
	lc_run(&o, mc);
	lc_options_init_native(&o);
	o.server_argv = argv;
	lc_run(&o, nat);
	bool ok = as_expected(variant, mc) && as_expected(variant, nat);
	snprintf(lost, sizeof lost, "%lu B", mc->exit.bytes[LC_DEFINITE] + mc->exit.bytes[LC_INDIRECT]);
	snprintf(kept, sizeof kept, "%.2f blocks, %.0f B", mc->blocks_per_cycle, mc->bytes_per_cycle);
	if (mc->nsites && mc->held[0].searched) /* the site that grew most */
		snprintf(holder, sizeof holder, "%s", mc->held[0].kind == LC_ROOT_CYCLE ? "a cycle" :
			 mc->held[0].root[0] ? mc->held[0].root : lc_root_kind_name(mc->held[0].kind));
	/* natively: the allocator's blocks and bytes, and its largest growing site (pages: bytes only) */
	if (nat->measure == LC_MEASURE_PAGES)
		snprintf(anon, sizeof anon, "%.0f B (pages)", nat->bytes_per_cycle);
	else
		snprintf(anon, sizeof anon, "%.2f blocks, %.0f B", nat->blocks_per_cycle, nat->bytes_per_cycle);
	if (nat->nsites && nat->verdict == LC_LEAK) {
		const struct lc_frame *f = &nat->sites[0].rec.frames[nat->sites[0].rec.nframes > 1 ? 1 : 0];
		snprintf(site, sizeof site, "%.30s", f->fn);
	}
	printf("%-16s %-11s | %-8s %-19s %-15s %-7s %5.1fs | %-19s %-12s %-7s %5.1fs  %s\n", pattern, variant,
	       mc->have_exit ? lost : "-", mc->nrounds ? kept : "-", holder, verdict_cell(mc->verdict), mc->seconds,
	       nat->nrounds ? anon : "-", site, verdict_cell(nat->verdict), nat->seconds, ok ? "as expected" : "UNEXPECTED");
	if (!as_expected(variant, mc))
		printf("    memcheck: %s\n", mc->reason);
	if (!as_expected(variant, nat))
		printf("    native: %s\n", nat->reason);
	lc_report_delete(mc);
	lc_report_delete(nat);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int bad = 0;
	printf("%-16s %-11s | %-59s | %s\n", "", "", "memcheck engine (valgrind)", "native engine (no valgrind)");
	printf("%-16s %-11s | %-8s %-19s %-15s %-7s %6s | %-19s %-12s %-7s %6s\n", "pattern", "variant", "lost", "retained/conn",
	       "held by", "verdict", "time", "retained/conn", "grew most at", "verdict", "time");
	for (int i = 1; i < argc; i++)
		bad += run_one(argv[i]);
	printf("%d of %d variants as expected in both engines (leaky caught, fixed clean)\n", argc - 1 - bad, argc - 1);
	return bad ? 1 : 0;
}

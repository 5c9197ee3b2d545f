/* leakcheck-demo: run leakcheck over every case variant given on the command line
 * (build/cases/<pattern>/<variant>) and print one table. Exits 0 only if every fixed variant
 * is clean and every leaky one is caught; `make demo` runs it. */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "lc/leakcheck.h"

static const char *const verdicts[] = { "clean", "LEAK", "error" };

/* "build/cases/global_list/leaky" -> pattern "global_list", variant "leaky" */
static void names(const char *path, char *pattern, char *variant, size_t len)
{
	char a[512], b[512];
	snprintf(a, sizeof a, "%s", path);
	snprintf(b, sizeof b, "%s", path);
	snprintf(variant, len, "%s", basename(a));
	snprintf(pattern, len, "%s", basename(dirname(b)));
}

static int run_one(const char *path)
{
	char pattern[128], variant[128], lost[64], kept[64], fds[32], holder[140] = "-";
	char *argv[] = { (char *)path, NULL };
	struct lc_options o;
	struct lc_report rep;
	lc_options_init(&o);
	o.server_argv = argv;
	names(path, pattern, variant, sizeof pattern);
	lc_run(&o, &rep);
	bool leaky = strncmp(variant, "leaky", 5) == 0;
	bool ok = leaky ? rep.verdict == LC_LEAK : rep.verdict == LC_CLEAN;
	snprintf(lost, sizeof lost, "%lu B", rep.exit.bytes[VG_DEFINITE] + rep.exit.bytes[VG_INDIRECT]);
	snprintf(kept, sizeof kept, "%.2f blocks, %.0f B", rep.blocks_per_cycle, rep.bytes_per_cycle);
	snprintf(fds, sizeof fds, "%s", rep.fds_leaked ? "grow" : "stable");
	if (rep.nsites && rep.held[0].searched) /* the site that grew most */
		snprintf(holder, sizeof holder, "%s", rep.held[0].kind == LC_ROOT_CYCLE ? "a cycle" :
			 rep.held[0].root[0] ? rep.held[0].root : lc_root_kind_name(rep.held[0].kind));
	printf("%-16s %-12s %-14s %-24s %-8s %-16s %-6s %5.1fs %s\n", pattern, variant, rep.have_exit ? lost : "-",
	       rep.nrounds ? kept : "-", rep.nrounds ? fds : "-", holder, verdicts[rep.verdict], rep.seconds,
	       ok ? "as expected" : "UNEXPECTED");
	if (!ok)
		printf("    %s\n", rep.reason);
	lc_report_free(&rep);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int bad = 0;
	printf("%-16s %-12s %-14s %-24s %-8s %-16s %-6s %6s %s\n", "pattern", "variant", "lost at exit",
	       "retained per connection", "fds", "held by", "verdict", "time", "");
	for (int i = 1; i < argc; i++)
		bad += run_one(argv[i]);
	printf("%d of %d variants as expected (leaky caught, fixed clean)\n", argc - 1 - bad, argc - 1);
	return bad ? 1 : 0;
}

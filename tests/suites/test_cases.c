/* The regression suite for one case pattern (LC_PATTERN), built once per folder in cases/.
 *
 * Every variant runs through the harness library, for real: memcheck, loopback cycles, vgdb.
 *  - fixed (and fixed_break): clean at exit (0 definite, indirect, possible), no growth while
 *    running, no fd growth, exit status 0 after SIGTERM;
 *  - leaky: a positive control. It must be caught with exactly the numbers its header promises
 *    on its "leakcheck-expect:" line, and an allocation site inside that leaky.c.
 * A leaky twin that gets "fixed", or a detector that goes blind, turns this red. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "support.h"

#define CYCLES 100
#define ROUNDS 3

struct expect {
	long retained_blocks, retained_bytes; /* per connection, while running */
	char holder[64];                      /* the data symbol that holds them, or "cycle" */
	long lost_blocks, lost_bytes;         /* per connection, at exit (definite + indirect) */
};

/* Reads the "leakcheck-expect:" line of cases/<pattern>/<variant>.c. */
static void read_expect(const char *variant, struct expect *e)
{
	char path[512], line[512];
	snprintf(path, sizeof path, "%s/cases/%s/%s.c", LC_SOURCE_DIR, LC_PATTERN, variant);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: cannot open %s", LC_PATTERN, path);
	int n = 0;
	while (n != 4 && fgets(line, sizeof line, f)) {
		const char *p = strstr(line, "leakcheck-expect:");
		if (p)
			n = sscanf(p, "leakcheck-expect: retained_blocks=%ld retained_bytes=%ld lost_blocks=%ld lost_bytes=%ld",
				   &e->retained_blocks, &e->retained_bytes, &e->lost_blocks, &e->lost_bytes);
		if (p && n == 4 && (p = strstr(p, " holder=")) && sscanf(p, " holder=%63s", e->holder) != 1)
			n = 0;
	}
	fclose(f);
	cr_assert_eq(n, 4, "%s/%s.c: its header has no complete 'leakcheck-expect:' line", LC_PATTERN, variant);
	cr_assert(e->holder[0], "%s/%s.c: its 'leakcheck-expect:' line names no holder=", LC_PATTERN, variant);
}

static bool variant_exists(const char *variant)
{
	char rel[256];
	snprintf(rel, sizeof rel, "cases/%s/%s", LC_PATTERN, variant);
	return access(built(rel), X_OK) == 0;
}

/* The run's text report and JSON, for cases/transcripts (the READMEs' "held by" excerpts and
 * the plot's numbers come from these runs instead of running every variant again):
 * build/transcripts/<pattern>-<variant>.{txt,json}. */
static void save_report(const char *variant, const struct lc_options *o, const struct lc_report *rep)
{
	char path[512];
	snprintf(path, sizeof path, "%s/transcripts", LC_BUILD_DIR);
	mkdir(path, 0777);
	snprintf(path, sizeof path, "%s/transcripts/%s-%s.json", LC_BUILD_DIR, LC_PATTERN, variant);
	cr_expect_eq(lc_report_json(path, rep, o), 0, "%s/%s: cannot write %s", LC_PATTERN, variant, path);
	snprintf(path, sizeof path, "%s/transcripts/%s-%s.txt", LC_BUILD_DIR, LC_PATTERN, variant);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s/%s: cannot write %s", LC_PATTERN, variant, path);
	lc_report_print(f, rep, o, false);
	fclose(f);
}

static void run_variant(const char *variant, struct lc_report *rep)
{
	char rel[256];
	snprintf(rel, sizeof rel, "cases/%s/%s", LC_PATTERN, variant);
	char *argv[] = { strdup(built(rel)), NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = CYCLES;
	o.rounds = ROUNDS;
	o.warmup = 10;
	o.timeout = 20;
	lc_run(&o, rep);
	save_report(variant, &o, rep);
	free(argv[0]);
	cr_assert_neq(rep->verdict, LC_ERROR, "%s/%s: the harness could not judge: %s", LC_PATTERN, variant,
		      rep->reason);
}

static bool stack_in(const struct lc_record *rec, const char *file)
{
	for (size_t i = 0; i < rec->nframes; i++)
		if (strcmp(rec->frames[i].file, file) == 0)
			return true;
	return false;
}

static void assert_clean(const char *variant)
{
	struct lc_report rep;
	run_variant(variant, &rep);
	const struct lc_exit_report *x = &rep.exit;
	cr_assert(rep.have_exit, "%s/%s: no exit report", LC_PATTERN, variant);
	cr_expect_eq(x->bytes[LC_DEFINITE] + x->bytes[LC_INDIRECT] + x->bytes[LC_POSSIBLE], 0,
		     "%s/%s: lost at exit: %lu definite, %lu indirect, %lu possible bytes", LC_PATTERN, variant,
		     x->bytes[LC_DEFINITE], x->bytes[LC_INDIRECT], x->bytes[LC_POSSIBLE]);
	cr_expect_eq(x->bytes[LC_REACHABLE], 0, "%s/%s: %lu bytes still reachable at exit", LC_PATTERN, variant,
		     x->bytes[LC_REACHABLE]);
	cr_expect_str_eq(rep.exit_status, "exit status 0", "%s/%s", LC_PATTERN, variant);
	for (size_t i = 0; i < lc_report_primary(&rep)->nrounds; i++)
		cr_expect_eq(lc_report_primary(&rep)->rounds[i].dblocks, 0, "%s/%s: heap grew by %ld blocks in round %zu", LC_PATTERN,
			     variant, lc_report_primary(&rep)->rounds[i].dblocks, i + 1);
	cr_expect_not(lc_report_primary(&rep)->fds_leaked, "%s/%s: open fds grew", LC_PATTERN, variant);
	cr_expect_eq(rep.verdict, LC_CLEAN, "%s/%s: %s", LC_PATTERN, variant, rep.reason);
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++) /* nothing grows, so nothing is searched */
		cr_expect_not(lc_report_primary(&rep)->held[i].searched, "%s/%s: a holder was searched on a clean verdict", LC_PATTERN, variant);
	cr_expect_eq(rep.retain_calls, 0, "%s/%s: the clean verdict paid for a retainer search", LC_PATTERN, variant);
	lc_report_free(&rep);
}

Test(LC_CASE_SUITE, fixed_is_clean, .timeout = 60)
{
	assert_clean("fixed");
}

Test(LC_CASE_SUITE, fixed_break_is_clean, .timeout = 60)
{
	if (!variant_exists("fixed_break"))
		cr_skip_test("%s has no fixed_break variant", LC_PATTERN);
	assert_clean("fixed_break");
}

Test(LC_CASE_SUITE, leaky_is_caught_with_its_promised_numbers, .timeout = 60)
{
	struct expect e;
	struct lc_report rep;
	read_expect("leaky", &e);
	run_variant("leaky", &rep);
	cr_assert_eq(rep.verdict, LC_LEAK, "%s/leaky: positive control NOT caught: %s", LC_PATTERN, rep.reason);

	/* while running: exactly one connection's blocks and bytes for every connection served */
	if (lc_report_primary(&rep)->blocks_per_cycle != (double)e.retained_blocks || lc_report_primary(&rep)->bytes_per_cycle != (double)e.retained_bytes) {
		char dir[512], name[128];
		snprintf(dir, sizeof dir, "%s/transcripts", LC_BUILD_DIR);
		snprintf(name, sizeof name, "%s-leaky.json", LC_PATTERN);
		cr_log_error("%s/leaky: the run's report (rounds, connections):\n%s", LC_PATTERN, slurp_text(dir, name));
	}
	cr_expect_eq(lc_report_primary(&rep)->retained, e.retained_blocks > 0, "%s/leaky: retention %s", LC_PATTERN,
		     lc_report_primary(&rep)->retained ? "reported but not promised" : "promised but not reported");
	cr_expect_eq(lc_report_primary(&rep)->blocks_per_cycle, (double)e.retained_blocks, "%s/leaky: %.3f blocks per connection, header says %ld",
		     LC_PATTERN, lc_report_primary(&rep)->blocks_per_cycle, e.retained_blocks);
	cr_expect_eq(lc_report_primary(&rep)->bytes_per_cycle, (double)e.retained_bytes, "%s/leaky: %.3f bytes per connection, header says %ld",
		     LC_PATTERN, lc_report_primary(&rep)->bytes_per_cycle, e.retained_bytes);

	/* at exit: every connection's objects lost, or none */
	const struct lc_exit_report *x = &rep.exit;
	unsigned long lost = x->bytes[LC_DEFINITE] + x->bytes[LC_INDIRECT];
	unsigned long lost_blocks = x->blocks[LC_DEFINITE] + x->blocks[LC_INDIRECT];
	cr_expect_eq(lost, (unsigned long)e.lost_bytes * rep.connections, "%s/leaky: %lu bytes lost at exit after %lu connections, header says %ld each",
		     LC_PATTERN, lost, rep.connections, e.lost_bytes);
	cr_expect_eq(lost_blocks, (unsigned long)e.lost_blocks * rep.connections, "%s/leaky: %lu blocks lost at exit, header says %ld per connection",
		     LC_PATTERN, lost_blocks, e.lost_blocks);
	/* lost per connection is lost while running too: never called one-time */
	cr_expect(!(e.lost_bytes > 0 && rep.exit_one_time), "%s/leaky: a per-connection loss called one-time: %s",
		  LC_PATTERN, rep.reason);

	/* the allocation site is in this pattern's leaky.c */
	bool site = false;
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++)
		site |= stack_in(&lc_report_primary(&rep)->sites[i].rec, "leaky.c");
	for (size_t i = 0; i < x->nrecords; i++)
		site |= x->records[i].kind <= LC_INDIRECT && stack_in(&x->records[i], "leaky.c");
	cr_expect(site, "%s/leaky: no reported allocation site in leaky.c", LC_PATTERN);

	/* every growing site is held by the header's holder: its data symbol, or a cycle */
	size_t searched = 0;
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++) {
		const struct lc_retainer *r = &lc_report_primary(&rep)->held[i];
		char text[1024];
		if (!r->searched)
			continue;
		searched++;
		lc_retainer_text(r, text, sizeof text);
		if (strcmp(e.holder, "cycle") == 0)
			cr_expect_eq(r->kind, LC_ROOT_CYCLE, "%s/leaky: held by %s, header says a cycle", LC_PATTERN, text);
		else
			cr_expect(r->kind == LC_ROOT_GLOBAL && strcmp(r->root, e.holder) == 0,
				  "%s/leaky: held by %s, header says %s", LC_PATTERN, text, e.holder);
	}
	cr_expect_geq(searched, (size_t)e.retained_blocks, "%s/leaky: %zu sites searched for a holder, %ld grow",
		      LC_PATTERN, searched, e.retained_blocks);
	lc_report_free(&rep);
}

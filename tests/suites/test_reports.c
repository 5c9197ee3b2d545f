/* The reports CI systems read (harness/reports/report_ci.c), on a real run of mutual_refs/leaky (lost
 * at exit and retained while running) and of its fixed twin: JUnit read back with expat, SARIF
 * with Python's json module (required fields, rule ids, a location in the case's leaky.c); and
 * known leaks (harness/analysis/baseline.c) recorded, forgiven, and not forgiven when they grow faster. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "support.h"

struct junit {
	int suites, cases, failures, errors;
	bool located;               /* a testcase with file="cases/mutual_refs/leaky.c" and a line */
};

static void on_start(void *data, const char *name, const char **attrs)
{
	struct junit *j = data;
	const char *file = NULL, *line = NULL;
	for (int i = 0; attrs[i]; i += 2) {
		if (strcmp(attrs[i], "file") == 0)
			file = attrs[i + 1];
		if (strcmp(attrs[i], "line") == 0)
			line = attrs[i + 1];
	}
	j->suites += strcmp(name, "testsuite") == 0;
	j->cases += strcmp(name, "testcase") == 0;
	j->failures += strcmp(name, "failure") == 0;
	j->errors += strcmp(name, "error") == 0;
	j->located |= file && line && strcmp(file, "cases/mutual_refs/leaky.c") == 0 && atoi(line) > 0;
}

static void on_end(void *data, const char *name)
{
	(void)data, (void)name;
}

static struct junit read_junit(const char *path)
{
	struct junit j = { 0 };
	size_t n;
	char *buf = slurp(NULL, path, &n);
	cr_assert_not_null(buf, "no JUnit file %s", path);
	XML_Parser p = XML_ParserCreate(NULL);
	XML_SetUserData(p, &j);
	XML_SetElementHandler(p, on_start, on_end);
	cr_assert_eq(XML_Parse(p, buf, (int)n, 1), XML_STATUS_OK, "JUnit is not well-formed XML: %s",
		     XML_ErrorString(XML_GetErrorCode(p)));
	XML_ParserFree(p);
	free(buf);
	return j;
}

static enum lc_verdict run_case(const char *variant, const char *junit, const char *sarif)
{
	static struct lc_report rep;
	char *argv[] = { strdup(built(variant)), NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = 100;
	o.rounds = 2;
	enum lc_verdict v = lc_run(&o, &rep);
	/* Figures that add up: a site is listed only when it grew in every round, and the listed
	 * sites' own bytes never sum to more than the round grew (a definite record's indirect
	 * bytes, listed as their own sites, counted once). */
	long listed = 0;
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++) {
		listed += lc_report_primary(&rep)->sites[i].dbytes;
		for (size_t k = 0; k < lc_report_primary(&rep)->nrounds; k++)
			cr_expect(lc_report_primary(&rep)->site_rounds[i].blocks[k] > 0 || lc_report_primary(&rep)->site_rounds[i].bytes[k] > 0,
				  "%s: site %zu (%s) listed as growing, but round %zu: %+ld blocks %+ld B", variant, i,
				  lc_report_primary(&rep)->sites[i].rec.frames[1].fn, k + 1, lc_report_primary(&rep)->site_rounds[i].blocks[k], lc_report_primary(&rep)->site_rounds[i].bytes[k]);
	}
	if (lc_report_primary(&rep)->nrounds)
		cr_expect_leq(listed, lc_report_primary(&rep)->rounds[lc_report_primary(&rep)->nrounds - 1].dbytes, "%s: the sites add up to %+ld B, the round "
			      "grew %+ld B", variant, listed, lc_report_primary(&rep)->rounds[lc_report_primary(&rep)->nrounds - 1].dbytes);
	cr_assert_eq(lc_report_junit(junit, &rep, &o), 0);
	cr_assert_eq(lc_report_sarif(sarif, &rep, &o), 0);
	lc_report_free(&rep);
	free(argv[0]);
	return v;
}

/* Python checks what code scanning needs; prints nothing and exits 0 when it holds. */
static int check_sarif(const char *path, bool leaky)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys\n"
		 "d = json.load(open(\"%s\"))\n"
		 "assert d[\"version\"] == \"2.1.0\" and d[\"$schema\"].endswith(\"sarif-2.1.0.json\")\n"
		 "run = d[\"runs\"][0]\n"
		 "ids = {r[\"id\"] for r in run[\"tool\"][\"driver\"][\"rules\"]}\n"
		 "res = run[\"results\"]\n"
		 "assert all(r[\"ruleId\"] in ids and r[\"message\"][\"text\"] for r in res)\n"
		 "locs = [l[\"physicalLocation\"] for r in res for l in r.get(\"locations\", [])]\n"
		 "if %s:\n"
		 "    assert {r[\"ruleId\"] for r in res} >= {\"LC001\", \"LC002\"}, res\n"
		 "    assert any(l[\"artifactLocation\"][\"uri\"] == \"cases/mutual_refs/leaky.c\" and l[\"region\"][\"startLine\"] > 0 for l in locs), locs\n"
		 "else:\n"
		 "    assert res == [], res\n'",
		 path, leaky ? "True" : "False");
	return system(cmd);
}

TestSuite(reports, .timeout = 60);

Test(reports, junit_and_sarif_for_a_leak_and_a_fix)
{
	char dir[64], junit[200], sarif[200];
	test_tmpdir(dir, sizeof dir, "reports");
	snprintf(junit, sizeof junit, "%s/leaky.xml", dir);
	snprintf(sarif, sizeof sarif, "%s/leaky.sarif", dir);
	cr_assert_eq(chdir(LC_SOURCE_DIR), 0, "sources are found under the current directory");
	cr_assert_eq(run_case("cases/mutual_refs/leaky", junit, sarif), LC_LEAK);
	struct junit j = read_junit(junit);
	cr_expect_eq(j.suites, 1);
	cr_expect_geq(j.cases, 4, "%d testcases", j.cases);
	cr_expect_geq(j.failures, 3, "%d failures: lost at exit, retention, sites", j.failures);
	cr_expect_eq(j.errors, 0);
	cr_expect(j.located, "no testcase located in cases/mutual_refs/leaky.c");
	cr_expect_eq(check_sarif(sarif, true), 0, "SARIF of the leaky run: see the assertion above");

	snprintf(junit, sizeof junit, "%s/fixed.xml", dir);
	snprintf(sarif, sizeof sarif, "%s/fixed.sarif", dir);
	cr_assert_eq(run_case("cases/mutual_refs/fixed", junit, sarif), LC_CLEAN);
	j = read_junit(junit);
	cr_expect_eq(j.failures, 0, "%d failures for the fixed twin", j.failures);
	cr_expect_geq(j.cases, 3);
	cr_expect_eq(check_sarif(sarif, false), 0, "SARIF of the fixed run: see the assertion above");
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

static enum lc_verdict run_with(const char *variant, const char *baseline, const char *write_baseline,
				struct lc_report *rep)
{
	char *argv[] = { strdup(built(variant)), NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = 100;
	o.rounds = 2;
	o.baseline = baseline;
	o.write_baseline = write_baseline;
	enum lc_verdict v = lc_run(&o, rep);
	free(argv[0]);
	return v;
}

/* Known leaks: recorded, then forgiven; a faster one or another server's sites are not. */
Test(reports, baseline_of_known_leaks)
{
	static struct lc_report rep;
	char dir[64], base[200], faster[200], cmd[600];
	test_tmpdir(dir, sizeof dir, "base");
	snprintf(base, sizeof base, "%s/known", dir);
	snprintf(faster, sizeof faster, "%s/halved", dir);
	cr_assert_eq(run_with("cases/global_list/leaky", NULL, base, &rep), LC_LEAK, "%s", rep.reason);
	lc_report_free(&rep);
	cr_assert_eq(run_with("cases/global_list/leaky", base, NULL, &rep), LC_CLEAN, "known leaks: %s", rep.reason);
	cr_expect(strstr(rep.reason, "only known leaks"), "%s", rep.reason);
	lc_report_free(&rep);
	snprintf(cmd, sizeof cmd, "sed 's/bytes 80.00/bytes 40.00/' %s > %s", base, faster);
	cr_assert_eq(system(cmd), 0);
	cr_expect_eq(run_with("cases/global_list/leaky", faster, NULL, &rep), LC_LEAK, "faster than known: %s", rep.reason);
	cr_expect(strstr(rep.reason, "grows faster than its baseline"), "%s", rep.reason);
	lc_report_free(&rep);
	cr_expect_eq(run_with("cases/static_registry/leaky", base, NULL, &rep), LC_LEAK,
		     "another server's sites are new: %s", rep.reason);
	lc_report_free(&rep);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* LEAKCHECK_KEEP_FAILED=1 (CI): a leak keeps its work dir for upload, a clean run does not. */
Test(reports, failed_runs_keep_their_logs)
{
	static struct lc_report rep;
	char cmd[1100];
	cr_assert_eq(setenv("LEAKCHECK_KEEP_FAILED", "1", 1), 0);
	cr_assert_eq(run_with("cases/global_list/leaky", NULL, NULL, &rep), LC_LEAK, "%s", rep.reason);
	cr_expect(rep.kept && access(rep.workdir, F_OK) == 0, "the leaky run's work dir %s is gone", rep.workdir);
	snprintf(cmd, sizeof cmd, "test -s %s/server.out && rm -rf %s", rep.workdir, rep.workdir);
	cr_expect_eq(system(cmd), 0, "no server.out kept in %s", rep.workdir);
	lc_report_free(&rep);
	cr_assert_eq(run_with("cases/global_list/fixed", NULL, NULL, &rep), LC_CLEAN, "%s", rep.reason);
	cr_expect(!rep.kept && access(rep.workdir, F_OK) != 0, "a clean run kept %s", rep.workdir);
	lc_report_free(&rep);
}

/* One source locator for every report (harness/reports/source.c): SARIF follows --source-dir as
 * the HTML page does. The server is a copy of global_list/leaky in a folder of its own, so its
 * source is found neither beside it nor under the current folder (every case has a leaky.c):
 * the uri is the base name; with --source-dir naming the case's folder, it is the path from the
 * current folder. report_ci.c's own search ignored --source-dir: "leaky.c" both times. */
Test(reports, sarif_follows_source_dir, .timeout = 90)
{
	char dir[64], server[200], sarif[200], cmd[700], src[600];
	cr_assert_not_null(test_tmpdir(dir, sizeof dir, "srcdir"));
	snprintf(server, sizeof server, "%s/leaky", dir);
	snprintf(sarif, sizeof sarif, "%s/out.sarif", dir);
	snprintf(cmd, sizeof cmd, "cp %s %s", built("cases/global_list/leaky"), server);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(chdir(LC_SOURCE_DIR), 0);
	snprintf(src, sizeof src, "%s/cases/global_list", LC_SOURCE_DIR);
	for (int with = 0; with < 2; with++) {
		static struct lc_report rep;
		char *argv[] = { server, NULL };
		struct lc_options o;
		lc_options_init(&o, LC_ENGINE_NATIVE);
		o.server_argv = argv;
		o.source_dir = with ? src : NULL;
		cr_assert_eq(lc_run(&o, &rep), LC_LEAK, "%s", rep.reason);
		cr_assert_eq(lc_report_sarif(sarif, &rep, &o), 0);
		char *text = slurp_text(NULL, sarif);
		const char *want = with ? "\"uri\": \"cases/global_list/leaky.c\"" : "\"uri\": \"leaky.c\"";
		cr_expect(strstr(text, want), "%s --source-dir: no %s in\n%s", with ? "with" : "without", want, text);
		free(text);
		lc_report_free(&rep);
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

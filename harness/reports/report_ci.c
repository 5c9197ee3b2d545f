/* Reports that CI systems read: JUnit XML (Jenkins, GitLab), SARIF 2.1.0 (GitHub code scanning)
 * and GitHub Actions annotations. One check per line of the human report: lost at exit,
 * retention while running, open fds, and one per growing site, located at its allocation
 * site's file:line (source.c's locator: valgrind gives a base name). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "util/records.h"
#include "reports/reports.h"

/* ---- checks: what both formats report ---- */

struct check {
	const char *name;            /* borrowed: "lost at exit", ... */
	bool failed;
	char message[1200];
	const struct lc_frame *at;   /* borrowed: where, or NULL */
	const char *rule;            /* borrowed: SARIF rule id */
};

#define MAX_CHECKS (3 + LC_MAX_SITES + LC_MAX_PYTYPES + 5)

/* What every format reports, built once per writer (checks_new) and freed by it. */
struct checks {
	struct check c[MAX_CHECKS];
	size_t n;
	struct lc_frame pyat[LC_MAX_PYTYPES]; /* the Python checks' .py lines: their c[i].at */
	char uri[PATH_MAX];                   /* source_uri's last answer */
};

/* The Python types that grew in every round, each at its .py line: the line a Python
 * programmer fixes, where the C sites name the interpreter's allocators. */
static size_t python_checks(const struct lc_report *rep, struct check *c, struct lc_frame *at)
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	char cwd[PATH_MAX];
	size_t n = 0, lcwd = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
	for (size_t i = 0; (top->retained || top->bytes_grew) && i < rep->python.ntypes; i++, n++) {
		const struct lc_pytype *y = &rep->python.types[i];
		/* the agent's path is whole: relative to the current folder when under it, as SARIF
		 * wants its uris (a base name would be looked for, and leaky.py is in every case) */
		bool under = lcwd && strncmp(y->file, cwd, lcwd) == 0 && y->file[lcwd] == '/';
		const char *base = under ? y->file + lcwd + 1 : y->file;
		c[n] = (struct check){ "growing Python type", true, "", NULL, "LC001" };
		if (y->file[0]) {
			snprintf(at[i].fn, sizeof at[i].fn, "%.127s", y->function);
			snprintf(at[i].file, sizeof at[i].file, "%.127s", base);
			at[i].line = y->line;
			c[n].at = &at[i];
		}
		snprintf(c[n].message, sizeof c[n].message, "%+.2f %s per connection, allocated here%s%.300s",
			 y->per_connection, y->type, y->nholders ? "; held by: " : "", y->nholders ? y->holders[0].path : "");
	}
	return n;
}

static const struct lc_frame *site_of(const struct lc_record *rec, const struct lc_options *o)
{
	return lc__alloc_frame(rec, o->alloc_fns);
}

static size_t build_checks(const struct lc_report *rep, const struct lc_options *o, struct check *c,
			   struct lc_frame *pyat)
{
	size_t n = 0;
	const struct lc_exit_report *x = &rep->exit;
	unsigned long lost = x->bytes[LC_DEFINITE] + x->bytes[LC_INDIRECT];
	c[n] = (struct check){ "lost at exit", lost > 0, "", NULL, "LC002" };
	snprintf(c[n].message, sizeof c[n].message, "%lu bytes lost at exit (%lu definite, %lu indirect)", lost,
		 x->bytes[LC_DEFINITE], x->bytes[LC_INDIRECT]);
	n++;
	for (size_t i = 0; lost && i < x->nrecords && n < 5; i++) /* the losses, each at its site */
		if (x->records[i].kind == LC_DEFINITE || x->records[i].kind == LC_INDIRECT) {
			c[n] = (struct check){ "lost at exit: site", true, "", site_of(&x->records[i], o), "LC002" };
			snprintf(c[n].message, sizeof c[n].message, "%lu bytes in %lu blocks %s at exit", lc_record_own_bytes(&x->records[i]),
				 x->records[i].blocks, lc_kind_name(x->records[i].kind));
			n++;
		}
	c[n] = (struct check){ "retention while running", lc_report_primary(rep)->retained || lc_report_primary(rep)->bytes_grew, "", NULL, "LC001" };
	snprintf(c[n].message, sizeof c[n].message, "%+.2f blocks, %+.1f bytes per connection over %zu rounds",
		 lc_report_primary(rep)->blocks_per_cycle, lc_report_primary(rep)->bytes_per_cycle, lc_report_primary(rep)->nrounds);
	n++;
	for (size_t i = 0; (lc_report_primary(rep)->retained || lc_report_primary(rep)->bytes_grew) && i < lc_report_primary(rep)->nsites; i++) {
		char held[900] = "";
		c[n] = (struct check){ "growing site", true, "", site_of(&lc_report_primary(rep)->sites[i].rec, o), "LC001" };
		if (lc_report_primary(rep)->held[i].searched) {
			strcpy(held, "; held by: ");
			lc_retainer_text(&lc_report_primary(rep)->held[i], held + strlen(held), sizeof held - strlen(held));
		}
		snprintf(c[n].message, sizeof c[n].message, "%+ld blocks, %+ld bytes %s in the last round%s",
			 lc_report_primary(rep)->sites[i].dblocks, lc_report_primary(rep)->sites[i].dbytes, lc_kind_running_name(lc_report_primary(rep)->sites[i].rec.kind), held);
		n++;
	}
	n += python_checks(rep, &c[n], pyat);
	c[n] = (struct check){ "open fds", lc_report_primary(rep)->fds_leaked, "", NULL, "LC003" };
	snprintf(c[n].message, sizeof c[n].message, "%d open at baseline; %s", lc_report_primary(rep)->base_fds,
		 lc_report_primary(rep)->fds_leaked ? "grew in every round" : "stable");
	return n + 1;
}

static struct checks *checks_new(const struct lc_report *rep, const struct lc_options *o)
{
	struct checks *k = calloc(1, sizeof *k); /* about 200 kB: off the stack */
	if (k)
		k->n = build_checks(rep, o, k->c, k->pyat);
	return k;
}

/* Check i's file as CI tools want it: relative to the current folder when found under it. */
static const char *source_uri(struct checks *k, size_t i, const struct lc_options *o)
{
	return lc__source_uri(o, k->c[i].at, k->uri, sizeof k->uri);
}

/* ---- JUnit ---- */


int lc_report_junit(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	struct checks *k = checks_new(rep, o);
	FILE *f = k ? fopen(path, "w") : NULL;
	if (!f) {
		free(k);
		return -1;
	}
	const struct check *c = k->c;
	size_t n = k->n, failures = 0;
	const char *server = lc__server_name(o);
	for (size_t i = 0; i < n; i++)
		failures += c[i].failed;
	bool error = rep->verdict == LC_ERROR;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"leakcheck ");
	lc_markup_text(f, server);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\" time=\"%.3f\">\n", error ? 1 : n,
		error ? 0 : failures, error ? 1 : 0, rep->seconds);
	for (size_t i = 0; !error && i < n; i++) {
		fputs("    <testcase classname=\"leakcheck\" name=\"", f);
		lc_markup_text(f, c[i].name);
		if (c[i].at) {
			fputs(": ", f);
			lc_markup_text(f, c[i].at->fn);
			if (c[i].at->file[0])
				fprintf(f, " (%s:%u)", source_uri(k, i, o), c[i].at->line);
		}
		fputc('"', f);
		if (c[i].at && c[i].at->file[0]) {
			fputs(" file=\"", f);
			lc_markup_text(f, source_uri(k, i, o));
			fprintf(f, "\" line=\"%u\"", c[i].at->line);
		}
		if (!c[i].failed) {
			fputs("/>\n", f);
			continue;
		}
		fputs(">\n      <failure type=\"leak\" message=\"", f);
		lc_markup_text(f, c[i].message);
		fputs("\">", f);
		lc_markup_text(f, rep->reason);
		fputs("</failure>\n    </testcase>\n", f);
	}
	if (error) {
		fputs("    <testcase classname=\"leakcheck\" name=\"run\">\n      <error message=\"", f);
		lc_markup_text(f, rep->reason);
		fputs("\"/>\n    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	free(k);
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- SARIF ---- */

int lc_report_sarif(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	static const char *const rules[][3] = {
		{ "LC001", "RetainedWhileRunning", "Memory retained per connection while the server runs" },
		{ "LC002", "LostAtExit", "Memory lost (definitely or indirectly) at exit" },
		{ "LC003", "FdsGrowWhileRunning", "Open file descriptors grow per connection" },
	};
	struct checks *k = checks_new(rep, o);
	FILE *f = k ? fopen(path, "w") : NULL;
	if (!f) {
		free(k);
		return -1;
	}
	const struct check *c = k->c;
	size_t n = k->n, results = 0;
	fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n"
	      "  \"runs\": [{\n    \"tool\": {\"driver\": {\"name\": \"leakcheck\", \"rules\": [", f);
	for (size_t i = 0; i < 3; i++)
		fprintf(f, "%s\n      {\"id\": \"%s\", \"name\": \"%s\", \"shortDescription\": {\"text\": \"%s\"}}",
			i ? "," : "", rules[i][0], rules[i][1], rules[i][2]);
	fputs("]}},\n    \"results\": [", f);
	for (size_t i = 0; rep->verdict != LC_ERROR && i < n; i++) {
		/* one result per site; a failed summary check only when no site locates it */
		bool located = c[i].at && c[i].at->file[0];
		if (!c[i].failed || (!c[i].at && i + 1 < n && c[i + 1].failed && c[i + 1].at))
			continue;
		fprintf(f, "%s\n      {\"ruleId\": \"%s\", \"level\": \"error\", \"message\": {\"text\": ", results++ ? "," : "",
			c[i].rule);
		char text[1500];
		snprintf(text, sizeof text, "%s%s%s: %s", c[i].name, c[i].at ? " " : "", c[i].at ? c[i].at->fn : "",
			 c[i].message);
		lc__json_str(f, text);
		fputc('}', f);
		if (located) {
			fputs(", \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ", f);
			lc__json_str(f, source_uri(k, i, o));
			fprintf(f, ", \"uriBaseId\": \"%%SRCROOT%%\"}, \"region\": {\"startLine\": %u}}}]", c[i].at->line ? c[i].at->line : 1);
		}
		fputc('}', f);
	}
	fputs("\n    ],\n    \"invocations\": [{\"executionSuccessful\": ", f);
	fputs(rep->verdict == LC_ERROR ? "false" : "true", f);
	if (rep->verdict == LC_ERROR) {
		fputs(", \"toolExecutionNotifications\": [{\"level\": \"error\", \"message\": {\"text\": ", f);
		lc__json_str(f, rep->reason);
		fputs("}}]", f);
	}
	fputs("}]\n  }]\n}\n", f);
	free(k);
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- GitHub Actions ---- */

void lc_report_annotations(FILE *f, const struct lc_report *rep, const struct lc_options *o)
{
	if (rep->verdict == LC_ERROR) {
		fprintf(f, "::error title=leakcheck::%s\n", rep->reason);
		return;
	}
	struct checks *k = checks_new(rep, o);
	if (!k) {
		fprintf(f, "::error title=leakcheck::out of memory writing the annotations\n");
		return;
	}
	const struct check *c = k->c;
	size_t n = k->n;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].failed)
			continue;
		/* workflow commands end at a newline: keep the message on one line */
		if (c[i].at && c[i].at->file[0])
			fprintf(f, "::error file=%s,line=%u,title=leakcheck %s::%s\n", source_uri(k, i, o),
				c[i].at->line, c[i].name, c[i].message);
		else
			fprintf(f, "::error title=leakcheck %s::%s\n", c[i].name, c[i].message);
	}
	free(k);
}

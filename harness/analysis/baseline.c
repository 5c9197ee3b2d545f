/* Known leaks: a team adopts the gate on a server that already leaks. --write-baseline FILE
 * records today's growing sites with their growth per connection; --baseline FILE lets those
 * grow by no more than that (+10%), so a new site, or a known one growing faster, still fails.
 *
 * FILE, one site per line ("#" comments), keyed by function and source line: one function
 * often allocates at several lines (a struct, its buffer). An edit above a line moves it, and
 * the site then counts as new: record the baseline again.
 *   site conn_new leaky.c:69 blocks 1.00 bytes 80.00 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/judge.h"
#include "lc/leakcheck.h"
#include "util/records.h"
#include "util/text.h"

#define MAX_KNOWN 64
#define WORD_MAX 128 /* a function name as one word (struct known's fn) */
#define SLACK 1.10 /* a known site may grow 10% faster than recorded: rounds vary a little */

struct known {
	char fn[128], where[160];   /* "leaky.c:69" */
	double blocks, bytes;   /* per connection */
};

/* fn as one word: "??? (in /usr/bin/x)" holds blanks. */
static const char *word(const char *fn, char out[static WORD_MAX])
{
	snprintf(out, WORD_MAX, "%s", fn[0] ? fn : "???");
	for (char *p = out; *p; p++)
		if (*p == ' ')
			*p = '_';
	return out;
}

/* The sites that grew by the byte rule's floor in the last round, per connection. */
static bool grows(const struct lc_site *s, unsigned per_round)
{
	return s->dbytes >= (long)per_round * LC_BYTES_FLOOR || s->dblocks > 0;
}

int lc__baseline_write(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# leakcheck --write-baseline: the sites that grew with connections, per connection.\n"
		   "# With --baseline this file, they may grow up to 10%% faster; a new site fails.\n");
	for (size_t i = 0; rep->per_round && i < top->nsites; i++) {
		const struct lc_site *s = &top->sites[i];
		const struct lc_frame *at = lc__alloc_frame(&s->rec, o->alloc_fns);
		if (!grows(s, rep->per_round) || !at)
			continue;
		char w[WORD_MAX];
		fprintf(f, "site %s %s:%u blocks %.2f bytes %.2f\n", word(at->fn, w), at->file[0] ? at->file : "-", at->line,
			(double)s->dblocks / rep->per_round, (double)s->dbytes / rep->per_round);
	}
	return fclose(f) == 0 ? 0 : -1;
}

static int read_known(const char *path, struct known *k, size_t *n, char *err, size_t errlen)
{
	char line[512];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");
	*n = 0;
	if (!f) {
		snprintf(err, errlen, "cannot read --baseline %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		lineno++;
		const char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		struct known e = { 0 };
		if (*n == MAX_KNOWN || sscanf(p, "site %127s %159s blocks %lf bytes %lf", e.fn, e.where, &e.blocks,
					      &e.bytes) != 4) {
			snprintf(err, errlen, "--baseline %s: line %u is not 'site FN FILE:LINE blocks N bytes N'", path,
				 lineno);
			fclose(f);
			return -1;
		}
		k[(*n)++] = e;
	}
	fclose(f);
	return 0;
}

/* The verdict against the n known sites k. */
static void apply(const char *path, const struct known *k, size_t n, struct lc_report *rep, const struct lc_options *o)
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	unsigned long lost = rep->exit.bytes[LC_DEFINITE] + rep->exit.bytes[LC_INDIRECT];
	if (rep->verdict != LC_LEAK || lost > 0 || top->fds_leaked || !rep->per_round)
		return; /* only growth while running can be known */
	char known[256] = "";
	for (size_t i = 0; i < top->nsites; i++) {
		const struct lc_site *s = &top->sites[i];
		const struct lc_frame *at = lc__alloc_frame(&s->rec, o->alloc_fns);
		if (!grows(s, rep->per_round) || !at)
			continue;
		char where[160];
		snprintf(where, sizeof where, "%s:%u", at->file[0] ? at->file : "-", at->line);
		double blocks = (double)s->dblocks / rep->per_round, bytes = (double)s->dbytes / rep->per_round;
		char w[WORD_MAX];
		size_t j = 0;
		while (j < n && !(strcmp(word(at->fn, w), k[j].fn) == 0 && strcmp(where, k[j].where) == 0))
			j++;
		if (j == n)
			return; /* a new site: the leak stands */
		if (blocks > k[j].blocks * SLACK + 0.01 || bytes > k[j].bytes * SLACK + 1) {
			size_t len = strlen(rep->reason);
			snprintf(rep->reason + len, sizeof rep->reason - len, "; %s (%s) grows faster than its baseline "
				 "(%.2f > %.2f blocks, %.1f > %.1f bytes per connection)", at->fn, where, blocks,
				 k[j].blocks, bytes, k[j].bytes);
			return;
		}
		lc__appendf(known, sizeof known, "%s%s", known[0] ? ", " : "", at->fn);
	}
	rep->verdict = LC_CLEAN;
	snprintf(rep->reason, sizeof rep->reason, "only known leaks, no faster than --baseline %s (%s)", path,
		 known[0] ? known : "none");
}

int lc__baseline_apply(const char *path, struct lc_report *rep, const struct lc_options *o, char *err, size_t errlen)
{
	size_t n;
	struct known *k = calloc(MAX_KNOWN, sizeof *k);
	int rc = -1;
	if (!k)
		snprintf(err, errlen, "%s: out of memory", path);
	else if (read_known(path, k, &n, err, errlen) == 0) {
		apply(path, k, n, rep, o);
		rc = 0;
	}
	free(k);
	return rc;
}

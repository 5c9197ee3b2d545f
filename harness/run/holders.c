/* The holder search of a run: for each judged process that leaks, the engine's holders of the
 * sites that grew by the byte rule's floor at least. See run.h. */
#include "run/run.h"

#include <stdlib.h>
#include <string.h>

#include "drive/proc.h"

/* A clean verdict costs nothing. */
void lc__holders_run(struct lc_run_state *r)
{
	struct lc_engine *e = &r->eng;
	struct lc_report *rep = r->rep;
	double t0 = lc__now();
	struct lc_site *pick = malloc(LC_MAX_SITES * sizeof *pick);           /* owned */
	struct lc_retainer *found = malloc(LC_MAX_SITES * sizeof *found);     /* owned */
	for (size_t i = 0; pick && found && i < rep->nprocs; i++) {
		struct lc_proc_result *p = &rep->procs[i];
		size_t n = 0, idx[LC_MAX_SITES];
		if (!p->judged)
			continue;
		lc__judge_proc(p, rep);
		for (size_t j = 0; (p->retained || p->bytes_grew) && j < p->nsites - p->nsmall; j++)
			if (p->sites[j].dbytes >= (long)lc_bytes_floor(rep)) {
				idx[n] = j;
				pick[n++] = p->sites[j];
			}
		if (n == 0)
			continue;
		unsigned calls = 0;
		memset(found, 0, n * sizeof *found);
		if (lc__engine_holders(e, i, pick, n, r->o->alloc_fns, found, &calls) < 0)
			continue; /* nothing searched: the sites stay as they are */
		rep->retain_calls += calls;
		for (size_t j = 0; j < n; j++)
			p->held[idx[j]] = found[j];
		size_t kept = 0, small = 0; /* sites whose growth was freed since the snapshot are not growing */
		for (size_t j = 0; j < p->nsites; j++)
			if (!p->held[j].gone) {
				small += j >= p->nsites - p->nsmall;
				p->sites[kept] = p->sites[j];
				p->site_rounds[kept] = p->site_rounds[j];
				p->held[kept++] = p->held[j];
			}
		p->nsites = kept;
		p->nsmall = small;
	}
	free(pick);
	free(found);
	rep->retain_seconds = lc__now() - t0;
}

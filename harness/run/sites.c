/* Which sites grow: a site is listed as growing only when it grew in every measured round, as
 * the process's heap must; one that grew in some rounds only (a connection caught in flight by
 * a snapshot, one-time growth) is summarized. Each snapshot lists the loss records that grew
 * since the previous one; a site is a record's kind and allocation stack. See run.h. */
#include <string.h>

#include "run/run.h"
#include "util/assert.h"
#include "util/records.h"

static bool same_site(const struct lc_site *a, const struct lc_site *b)
{
	return lc__same_record(&a->rec, &b->rec);
}

void lc__sites_record(struct lc_run_state *r, size_t i, size_t k, const struct lc_snapshot *cur)
{
	if (k >= LC_MAX_ROUNDS)
		return;
	for (size_t j = 0; j < cur->nsites; j++) {
		const struct lc_site *s = &cur->sites[j];
		size_t h = 0;
		while (h < r->slot[i].nhist && !same_site(&r->slot[i].hist[h].site, s))
			h++;
		if (h == r->slot[i].nhist) {
			if (h == LC_MAX_HISTORY)
				continue;
			memset(&r->slot[i].hist[h], 0, sizeof r->slot[i].hist[h]);
			r->slot[i].nhist++;
		}
		r->slot[i].hist[h].site = *s;
		r->slot[i].hist[h].rounds.blocks[k] = s->dblocks;
		r->slot[i].hist[h].rounds.bytes[k] = s->dbytes;
	}
}

void lc__sites_drop(struct lc_run_state *r, size_t i, size_t n)
{
	for (size_t h = 0; h < r->slot[i].nhist && n > 0; h++) {
		struct lc_site_rounds *g = &r->slot[i].hist[h].rounds;
		memmove(g->blocks, g->blocks + n, (LC_MAX_ROUNDS - n) * sizeof *g->blocks);
		memmove(g->bytes, g->bytes + n, (LC_MAX_ROUNDS - n) * sizeof *g->bytes);
		memset(g->blocks + LC_MAX_ROUNDS - n, 0, n * sizeof *g->blocks);
		memset(g->bytes + LC_MAX_ROUNDS - n, 0, n * sizeof *g->bytes);
	}
}

void lc__sites_forget(struct lc_run_state *r, size_t i, size_t k)
{
	for (size_t h = 0; h < r->slot[i].nhist && k < LC_MAX_ROUNDS; h++) {
		r->slot[i].hist[h].rounds.blocks[k] = 0;
		r->slot[i].hist[h].rounds.bytes[k] = 0;
	}
}

static bool every_round(const struct lc_site_rounds *g, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (g->blocks[k] <= 0 && g->bytes[k] <= 0)
			return false;
	return n > 0;
}

/* 2% of the connections in blocks or less in every round (and 4 kB a block at most): as a
 * runtime's cache that fills slowly grows, glibc's cache of thread stacks in a
 * thread-per-connection server (+1 +3 +2 blocks of 272 B in rounds of 200). */
static bool small(const struct lc_site_rounds *g, size_t n, unsigned per_round)
{
	for (size_t k = 0; k < n; k++)
		if (g->blocks[k] * 50 > (long)per_round || g->bytes[k] > 4096 * (g->blocks[k] > 0 ? g->blocks[k] : 1))
			return false;
	return n > 0;
}

/* The small sites to the end (p->nsmall of them), in their order, when a site grew more: the
 * leak is that one, and they are listed apart. All small, none is apart: they are the growth. */
static void apart(struct lc_proc_result *p, unsigned per_round)
{
	size_t big = 0, k = 0;
	bool is_small[LC_MAX_SITES];
	for (size_t j = 0; j < p->nsites; j++) {
		is_small[j] = small(&p->site_rounds[j], p->nrounds, per_round);
		big += !is_small[j];
	}
	p->nsmall = 0;
	if (big == 0 || big == p->nsites)
		return;
	struct lc_site sites[LC_MAX_SITES];
	struct lc_site_rounds rounds[LC_MAX_SITES];
	for (int pass = 0; pass < 2; pass++) /* the others, then the small ones */
		for (size_t j = 0; j < p->nsites; j++)
			if (is_small[j] == (pass == 1)) {
				sites[k] = p->sites[j];
				rounds[k++] = p->site_rounds[j];
			}
	lc_assert(k == p->nsites);
	memcpy(p->sites, sites, k * sizeof *sites);
	memcpy(p->site_rounds, rounds, k * sizeof *rounds);
	p->nsmall = p->nsites - big;
}

void lc__sites_select(struct lc_run_state *r, size_t i)
{
	struct lc_proc_result *p = &r->rep->procs[i];
	size_t n = p->nrounds;
	p->nsites = 0;
	p->nsmall = 0;
	memset(&p->some_rounds, 0, sizeof p->some_rounds);
	for (size_t h = 0; h < r->slot[i].nhist; h++) {
		const struct lc_site_history *s = &r->slot[i].hist[h];
		if (!every_round(&s->rounds, n)) {
			long grew = 0;
			for (size_t k = 0; k < n; k++)
				grew += s->rounds.bytes[k] > 0 ? s->rounds.bytes[k] : 0;
			p->some_rounds.sites += grew > 0;
			p->some_rounds.bytes += grew;
			continue;
		}
		/* largest growth in the last round first, as the snapshot lists them */
		long last = s->rounds.bytes[n - 1];
		bool full = p->nsites == LC_MAX_SITES;
		if (full && p->sites[LC_MAX_SITES - 1].dbytes >= last)
			continue; /* the smallest kept grew more */
		size_t at = full ? LC_MAX_SITES - 1 : p->nsites++;
		while (at > 0 && p->sites[at - 1].dbytes < last) {
			p->sites[at] = p->sites[at - 1];
			p->site_rounds[at] = p->site_rounds[at - 1];
			at--;
		}
		p->sites[at] = s->site;
		p->sites[at].dblocks = s->rounds.blocks[n - 1];
		p->sites[at].dbytes = last;
		p->site_rounds[at] = s->rounds;
	}
	apart(p, r->o->cycles);
}

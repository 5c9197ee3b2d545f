/* Holders from the heap graph: see holders.h. The heap is an engine's (engines/heap.c); this
 * file builds its graph (analysis/graph.c) and ranks, for each growing site, the roots that
 * reach its blocks. */
#include "analysis/holders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hsearch {
	const struct lc_heap *h;    /* borrowed: the gathered heap */
	struct lc_graph *g;         /* owned */
	char err[200];
};

/* The blocks of one allocation line are one site of the graph, whatever called that line (a
 * tree's root node and its children come from one line, called from two places). */
static bool same_line(const struct lc_record *a, const struct lc_record *b, const char *const *alloc_fns)
{
	const struct lc_frame *x = lc__alloc_frame(a, alloc_fns), *y = lc__alloc_frame(b, alloc_fns);
	return x && y ? strcmp(x->fn, y->fn) == 0 && strcmp(x->file, y->file) == 0 && x->line == y->line : !x && !y;
}

void lc__heap_set_rec(struct lc_heap *h, size_t tag, const struct lc_record *rec)
{
	if (tag >= 1000000)
		return;
	if (tag >= h->nrecs) {
		struct lc_heap_rec *n = realloc(h->recs, (tag + 1) * sizeof *n);
		if (!n)
			return;
		memset(n + h->nrecs, 0, (tag + 1 - h->nrecs) * sizeof *n);
		h->recs = n;
		h->nrecs = tag + 1;
	}
	struct lc_heap_rec *r = &h->recs[tag];
	r->r = *rec;
	r->hash = lc__frame_key(lc__alloc_frame(rec, h->alloc_fns));
	r->site = (unsigned)tag;
	for (size_t i = 0; i < h->nrecs; i++)
		if (i != tag && h->recs[i].r.nframes && h->recs[i].hash == r->hash &&
		    same_line(&h->recs[i].r, &r->r, h->alloc_fns)) {
			r->site = h->recs[i].site;
			break;
		}
}

bool lc__heap_has_rec(const struct lc_heap *h, size_t tag)
{
	return tag < h->nrecs && h->recs[tag].r.nframes;
}

int lc__heap_add_block(struct lc_heap *h, uint64_t addr, uint64_t size, size_t tag)
{
	if (tag >= h->nrecs)
		return 0; /* a block of no record: not the graph's */
	if (h->nblocks == h->capblocks) {
		size_t cap = h->capblocks ? h->capblocks * 2 : 4096;
		struct lc_gblock *n = realloc(h->blocks, cap * sizeof *n);
		if (!n)
			return -1;
		h->blocks = n;
		h->capblocks = cap;
	}
	h->blocks[h->nblocks++] = (struct lc_gblock){ addr, size, h->recs[tag].site, (unsigned)tag };
	return 0;
}

void lc__heap_add_root(struct lc_heap *h, uint64_t start, uint64_t end, enum lc_root_kind kind, unsigned rank,
		      const char *name, uint64_t module_at)
{
	if (start >= end || h->nroots == LC_HEAP_MAX_ROOTS)
		return;
	struct lc_heap_root *r = &h->roots[h->nroots++];
	r->g = (struct lc_groot){ start, end, rank };
	r->kind = kind;
	r->module_at = module_at;
	snprintf(r->name, sizeof r->name, "%s", name);
}

bool lc__heap_holds_blocks(const struct lc_heap *h, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < h->nblocks; i++)
		if (h->blocks[i].addr >= start && h->blocks[i].addr < end)
			return true;
	return false;
}

void lc__heap_clear(struct lc_heap *h)
{
	free(h->recs);
	free(h->blocks);
	h->recs = NULL;
	h->blocks = NULL;
	h->nrecs = h->nblocks = h->capblocks = 0;
}

/* The graph of the heap's blocks and roots: 0, or -1 with s->err. */
static int build(struct hsearch *s)
{
	const struct lc_heap *h = s->h;
	struct lc_groot roots[LC_HEAP_MAX_ROOTS];
	for (size_t i = 0; i < h->nroots; i++)
		roots[i] = h->roots[i].g;
	s->g = lc__graph_build(h->blocks, h->nblocks, roots, h->nroots, h->read, h->read_ctx);
	if (!s->g) {
		snprintf(s->err, sizeof s->err, "out of memory for the heap graph");
		return -1;
	}
	return 0;
}

/* The root object a root word belongs to: a data symbol, else its region. */
static void root_of(struct hsearch *s, uint64_t word, size_t region, struct lc_holder *h, uint64_t *key)
{
	const struct lc_heap_root *r = &s->h->roots[region];
	h->kind = r->kind;
	uint64_t start;
	if (r->kind == LC_ROOT_GLOBAL && s->h->name_data &&
	    s->h->name_data(s->h->name_ctx, word, r->module_at, h->root, sizeof h->root, &start)) {
		*key = start;
		return;
	}
	snprintf(h->root, sizeof h->root, "%s", r->name);
	*key = r->g.start;
}

/* Block t's holder object and, if one reached it alike, its alike object (key 0 if none). */
static uint64_t objects_of(struct hsearch *s, size_t t, uint64_t *alike_key, struct lc_holder *alike_h)
{
	uint64_t word, key = 0;
	size_t region;
	struct lc_holder h;
	*alike_key = 0;
	if (!lc__graph_holder(s->g, t, &word, &region))
		return 0;
	root_of(s, word, region, &h, &key);
	if (lc__graph_alike(s->g, t, &word, &region))
		root_of(s, word, region, alike_h, alike_key);
	return key;
}

/* The root that reaches the top holder's blocks (key top, blocks of them) alike, into
 * out->alike, when half of them at least have it. A registry list headed by the probe's session
 * and a by-fd slot array holding that session reach the list alike: the lower address won,
 * and only the slots were named, which hold one session. The first few candidates are tried
 * (each a pass over the blocks). */
static void rank_alike(struct hsearch *s, const size_t *t, size_t n, uint64_t top, unsigned long blocks,
		       struct lc_retainer *out)
{
	uint64_t tried[4];
	size_t ntried = 0;
	memset(&out->alike, 0, sizeof out->alike);
	for (size_t i = 0; i < n && ntried < 4 && out->alike.blocks == 0; i++) {
		uint64_t cand, k, word;
		size_t region;
		struct lc_holder h = { 0 }, x;
		if (!lc__graph_alike(s->g, t[i], &word, &region)) /* most blocks: no name looked up */
			continue;
		if (objects_of(s, t[i], &cand, &h) != top || cand == 0 || cand == top)
			continue;
		bool seen = false;
		for (size_t j = 0; j < ntried; j++)
			seen |= tried[j] == cand;
		if (seen)
			continue;
		tried[ntried++] = cand;
		size_t nb;
		const struct lc_gblock *b = lc__graph_blocks(s->g, &nb);
		for (size_t j = 0; j < n; j++)
			if (lc__graph_alike(s->g, t[j], &word, &region) && objects_of(s, t[j], &k, &x) == top && k == cand) {
				h.blocks++;
				h.bytes += b[t[j]].size;
			}
		if (h.blocks * 2 >= blocks)
			out->alike = h;
	}
}

/* The holders of targets t[0..n) into out: each block counted for its own holder, ranked by
 * blocks (at most LC_MAX_HOLDERS kept); *top_key: the top holder's, for its typical block. */
static void rank_holders(struct hsearch *s, const size_t *t, size_t n, struct lc_retainer *out,
			 uint64_t *top_key)
{
	struct agg { struct lc_holder h; uint64_t key; } *a = calloc(n ? n : 1, sizeof *a);
	size_t na = 0;
	const struct lc_gblock *b;
	size_t nb;
	b = lc__graph_blocks(s->g, &nb);
	for (size_t i = 0; a && i < n; i++) {
		uint64_t word, key;
		size_t region;
		struct lc_holder h = { 0 };
		if (!lc__graph_holder(s->g, t[i], &word, &region)) {
			out->unreached++;
			continue;
		}
		root_of(s, word, region, &h, &key);
		size_t j = 0;
		while (j < na && a[j].key != key)
			j++;
		if (j == na)
			a[na++] = (struct agg){ h, key };
		a[j].h.blocks++;
		a[j].h.bytes += b[t[i]].size;
	}
	for (size_t i = 0; i < na; i++) /* by blocks, most first: a selection of the top few */
		for (size_t j = i + 1; j < na; j++)
			if (a[j].h.blocks > a[i].h.blocks || (a[j].h.blocks == a[i].h.blocks && a[j].h.kind < a[i].h.kind)) {
				struct agg x = a[i];
				a[i] = a[j];
				a[j] = x;
			}
	out->nholders = 0;
	for (size_t i = 0; i < na && i < LC_MAX_HOLDERS; i++)
		out->holders[out->nholders++] = a[i].h;
	*top_key = na ? a[0].key : 0;
	if (na)
		rank_alike(s, t, n, a[0].key, a[0].h.blocks, out);
	free(a);
}

/* steps[0..n) as links, one per site entered; a cycle's first ncycle steps are its members. */
static void chain_of(struct hsearch *s, const struct lc_gstep *st, size_t n, size_t ncycle, struct lc_retainer *out)
{
	size_t nb;
	const struct lc_gblock *b = lc__graph_blocks(s->g, &nb);
	out->nchain = 0;
	out->ncycle = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned site = b[st[i].block].site;
		if (i > 0 && b[st[i - 1].block].site == site)
			continue; /* walking inside one site's blocks: one link */
		if (out->nchain == LC_MAX_CHAIN) {
			snprintf(out->note, sizeof out->note, "path longer than %d sites: the rest is left out", LC_MAX_CHAIN);
			break;
		}
		struct lc_link *l = &out->chain[out->nchain++];
		memset(l, 0, sizeof *l);
		const struct lc_frame *at = lc__alloc_frame(&s->h->recs[site].r, s->h->alloc_fns);
		if (at)
			l->at = *at;
		l->offset = (long)st[i].to_off;
		l->count = lc__graph_site_blocks(s->g, site);
		l->linked_at = lc__graph_linked_at(s->g, site);
		if (i < ncycle)
			out->ncycle = out->nchain;
	}
}

/* The blocks of the growing record site into t: those new since before when it listed the
 * record (none new: all of them), else all. Returns their count. */
static size_t targets(struct hsearch *s, const struct lc_seen *before, const struct lc_site *site, size_t *t,
		      struct lc_retainer *out)
{
	size_t nb, n = 0;
	const struct lc_gblock *b = lc__graph_blocks(s->g, &nb);
	bool diff = lc__seen_record(before, &site->rec);
	for (int pass = diff ? 0 : 1; pass < 2 && n == 0; pass++)
		for (size_t i = 0; i < nb; i++) {
			if (!lc__same_record(&s->h->recs[b[i].tag].r, &site->rec))
				continue;
			if (pass == 0 && lc__seen_block(before, b[i].addr))
				continue;
			t[n++] = i;
			out->blocks++;
			out->bytes += b[i].size;
			out->new_blocks = pass == 0;
		}
	return n;
}

/* The search for growing record site: its new blocks are the targets. */
static void search_one(struct hsearch *s, const struct lc_seen *before, const struct lc_site *site,
		       struct lc_retainer *out)
{
	size_t nb, n = 0;
	const struct lc_gblock *b = lc__graph_blocks(s->g, &nb);
	size_t *t = malloc((nb ? nb : 1) * sizeof *t);
	unsigned long live_blocks = 0, live_bytes = 0;
	memset(out, 0, sizeof *out);
	out->searched = true;
	for (size_t i = 0; i < nb; i++) /* the record now, for "gone" */
		if (lc__same_record(&s->h->recs[b[i].tag].r, &site->rec)) {
			live_blocks++;
			live_bytes += b[i].size;
		}
	if (live_blocks == 0 || !t) {
		snprintf(out->note, sizeof out->note, "none of its blocks is live in the process now: freed since the "
			 "snapshot, or counted for it while another process made them");
		goto out;
	}
	if ((long)live_blocks < site->dblocks || (long)live_bytes < site->dbytes) {
		out->gone = true; /* what it grew by was freed since the snapshot */
		goto out;
	}
	n = targets(s, before, site, t, out);
	struct lc_gstep steps[64];
	size_t nsteps = 0, ncycle = 0;
	uint64_t top;
	bool lost = site->rec.kind == LC_DEFINITE || site->rec.kind == LC_INDIRECT;
	if (!lost) {
		rank_holders(s, t, n, out, &top);
		/* natively (no kinds), a record most of whose blocks no root reaches is lost: a stale
		 * word on a stack that reaches a few is not its holder */
		lost = !s->h->kinds && out->unreached > (out->nholders ? out->holders[0].blocks : 0);
	}
	if (lost) { /* nothing memcheck counts as a root reaches it: never a global's */
		out->nholders = 0;
		size_t k = 0;
		while (k < n && lc__graph_holder(s->g, t[k], &(uint64_t){ 0 }, &(size_t){ 0 }))
			k++;
		if (k < n)
			nsteps = lc__graph_lost_path(s->g, t[k], steps, 64, &ncycle);
		out->kind = ncycle ? LC_ROOT_CYCLE : LC_ROOT_NONE;
		if (nsteps == 0) {
			steps[0] = (struct lc_gstep){ t[0], 0, 0 };
			nsteps = 1;
		}
		chain_of(s, steps, nsteps, ncycle, out);
		goto out;
	}
	if (out->nholders == 0) {
		out->kind = LC_ROOT_UNKNOWN;
		snprintf(out->note, sizeof out->note, "no root in the memory read reaches its blocks (a register may hold them)");
		goto out;
	}
	out->kind = out->holders[0].kind;
	snprintf(out->root, sizeof out->root, "%s", out->holders[0].root);
	size_t best = SIZE_MAX; /* a typical block of the top holder: the nearest one */
	unsigned bsites = 0, bhops = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t word, key;
		size_t region;
		struct lc_holder h;
		unsigned sites, hops;
		if (!lc__graph_holder(s->g, t[i], &word, &region))
			continue;
		root_of(s, word, region, &h, &key);
		lc__graph_distance(s->g, t[i], &sites, &hops);
		if (key == top && (best == SIZE_MAX || sites < bsites || (sites == bsites && hops < bhops))) {
			best = t[i];
			bsites = sites;
			bhops = hops;
		}
	}
	nsteps = lc__graph_path(s->g, best, steps, 64);
	chain_of(s, steps, nsteps, 0, out);
out:
	free(t);
}

int lc__holders_find(const struct lc_heap *h, const struct lc_seen *before, const struct lc_site *sites, size_t n,
		    struct lc_retainer *out, char *err, size_t errlen)
{
	struct hsearch s = { .h = h };
	int rc = build(&s);
	if (rc < 0)
		snprintf(err, errlen, "%s", s.err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		search_one(&s, before, &sites[i], &out[i]);
	lc__graph_free(s.g);
	return rc;
}

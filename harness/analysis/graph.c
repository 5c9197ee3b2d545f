/* The heap graph: see graph.h.
 *
 * Edges are kept per block in address order (a CSR array: block i's edges are
 * edges[first[i] .. first[i + 1])), root words in one array. The holders come from one
 * Dijkstra search over the keys (rank, sites entered, root word, pointers followed), seeded
 * with every root word: O(E log V). */
#define _GNU_SOURCE
#include "analysis/graph.h"
#include "util/assert.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (1UL << 20)       /* memory is read in runs of at most this many bytes */
#define GAP 4096                /* blocks closer than this are read in one run */
#define UNREACHED UINT32_MAX

struct edge {
	uint32_t to;
	uint32_t from_off;          /* where the pointer lies in its block */
	uint32_t to_off;            /* where it lands in block to */
};

struct rword {                  /* a root word that points into a block */
	uint64_t addr;
	uint32_t to, to_off;
	uint32_t region;
};

struct key {                    /* compared in this order */
	uint32_t rank;              /* the root region's */
	uint32_t sites;             /* allocation sites entered from the root word */
	uint64_t word;              /* the root word's address */
	uint32_t hops;              /* pointers followed */
};

struct node {
	struct key k;               /* k.sites == UNREACHED: no root reaches it */
	uint32_t root;              /* index into words: its holder */
	uint32_t alike;             /* index into words: another root word that reached it at the same
	                             * rank and sites (it lost on the word's address), or UNREACHED;
	                             * passed on to what is reached through it */
	uint32_t parent;            /* the block before it on the path, or UNREACHED: the root word */
	uint32_t from_off, to_off;  /* the pointer that reached it */
};

struct lc_graph {
	struct lc_gblock *b;        /* owned, sorted by address */
	size_t nb;
	const struct lc_groot *roots; /* borrowed during build only */
	size_t *first;              /* owned: nb + 1 */
	struct edge *edges;         /* owned */
	size_t nedges, capedges;
	struct rword *words;        /* owned */
	size_t nwords, capwords;
	struct node *nodes;         /* owned: nb */
	uint64_t lo, hi;            /* the blocks' span: a quick filter for words */
	uint64_t bytes_read;
	bool failed;                /* out of memory */
};

static int by_addr(const void *a, const void *b)
{
	const struct lc_gblock *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

long lc__graph_find(const struct lc_graph *g, uint64_t addr)
{
	if (addr < g->lo || addr >= g->hi)
		return -1;
	size_t lo = 0, hi = g->nb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lc_gblock *m = &g->b[mid];
		if (addr < m->addr)
			hi = mid;
		else if (addr >= m->addr + (m->size ? m->size : 1))
			lo = mid + 1;
		else
			return (long)mid;
	}
	return -1;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size, bool *failed)
{
	if (need <= *cap)
		return p;
	size_t cap2 = *cap ? *cap * 2 : 1024;
	while (cap2 < need)
		cap2 *= 2;
	void *n = realloc(p, cap2 * size);
	if (!n) {
		*failed = true;
		return p;
	}
	*cap = cap2;
	return n;
}

/* The pointers inside block i, whose bytes are at mem. */
/* The pointers in [from, to) of block i, whose bytes from offset from on are at mem. */
static void scan_part(struct lc_graph *g, size_t i, const unsigned char *mem, uint64_t from, uint64_t to)
{
	const struct lc_gblock *bl = &g->b[i];
	for (uint64_t off = from + (8 - (bl->addr + from) % 8) % 8; off + 8 <= to; off += 8) {
		uint64_t v;
		memcpy(&v, mem + (off - from), 8);
		long t = lc__graph_find(g, v);
		if (t < 0 || (size_t)t == i)
			continue;
		g->edges = grow(g->edges, &g->capedges, g->nedges + 1, sizeof *g->edges, &g->failed);
		if (g->failed)
			return;
		g->edges[g->nedges++] = (struct edge){ (uint32_t)t, (uint32_t)off, (uint32_t)(v - g->b[t].addr) };
	}
}

static void scan_block(struct lc_graph *g, size_t i, const unsigned char *mem)
{
	scan_part(g, i, mem, 0, g->b[i].size);
}

/* A block read on its own: one bigger than a run (a large hash table's buckets), a chunk at a
 * time, or one whose run could not be read whole. */
static void scan_alone(struct lc_graph *g, size_t i, lc_gread_fn read, void *ctx, unsigned char *buf)
{
	const struct lc_gblock *bl = &g->b[i];
	for (uint64_t off = 0; off < bl->size && !g->failed; off += CHUNK) {
		size_t len = bl->size - off < CHUNK ? bl->size - off : CHUNK;
		long got = read(ctx, bl->addr + off, buf, len);
		if (got <= 0)
			return;
		g->bytes_read += (uint64_t)got;
		scan_part(g, i, buf, off, off + (uint64_t)got);
	}
}

/* Every block's pointers, the blocks read in runs of neighbours (one read for many). */
static void scan_blocks(struct lc_graph *g, lc_gread_fn read, void *ctx, unsigned char *buf)
{
	size_t i = 0;
	while (i < g->nb && !g->failed) {
		size_t j = i + 1; /* the run: blocks i..j */
		while (j < g->nb && g->b[j].addr - g->b[i].addr + g->b[j].size <= CHUNK &&
		       g->b[j].addr - (g->b[j - 1].addr + g->b[j - 1].size) <= GAP)
			j++;
		uint64_t start = g->b[i].addr, end = g->b[j - 1].addr + g->b[j - 1].size;
		long got = end - start <= CHUNK ? read(ctx, start, buf, end - start) : -1;
		bool whole = true; /* buf still holds the run: a block read alone overwrites it */
		for (size_t k = i; k < j; k++) {
			g->first[k] = g->nedges;
			if (whole && got >= 0 && g->b[k].addr + g->b[k].size <= start + (uint64_t)got) {
				scan_block(g, k, buf + (g->b[k].addr - start));
			} else {
				scan_alone(g, k, read, ctx, buf);
				whole = false;
			}
		}
		g->bytes_read += got > 0 ? (uint64_t)got : 0;
		i = j;
	}
	g->first[g->nb] = g->nedges;
}

static void scan_root(struct lc_graph *g, size_t r, lc_gread_fn read, void *ctx, unsigned char *buf)
{
	const struct lc_groot *root = &g->roots[r];
	for (uint64_t at = root->start & ~7UL; at < root->end && !g->failed; at += CHUNK) {
		size_t len = root->end - at < CHUNK ? root->end - at : CHUNK;
		long got = read(ctx, at, buf, len);
		if (got <= 0)
			continue;
		g->bytes_read += (uint64_t)got;
		for (long off = 0; off + 8 <= got; off += 8) {
			uint64_t v;
			memcpy(&v, buf + off, 8);
			long to = lc__graph_find(g, v);
			if (to < 0)
				continue;
			g->words = grow(g->words, &g->capwords, g->nwords + 1, sizeof *g->words, &g->failed);
			if (g->failed)
				return;
			g->words[g->nwords++] = (struct rword){ at + off, (uint32_t)to, (uint32_t)(v - g->b[to].addr),
								(uint32_t)r };
		}
	}
}

static int key_cmp(const struct key *a, const struct key *b)
{
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->sites != b->sites)
		return a->sites < b->sites ? -1 : 1;
	if (a->word != b->word)
		return a->word < b->word ? -1 : 1;
	return a->hops < b->hops ? -1 : a->hops > b->hops;
}

struct pq {                     /* a binary heap of (key, block), smallest key first */
	struct pqe { struct key k; uint32_t b; } *e; /* owned: n of cap */
	size_t n, cap;
};

static bool pq_push(struct pq *q, struct key k, uint32_t b)
{
	bool failed = false;
	q->e = grow(q->e, &q->cap, q->n + 1, sizeof *q->e, &failed);
	if (failed)
		return false;
	size_t i = q->n++;
	while (i > 0 && key_cmp(&k, &q->e[(i - 1) / 2].k) < 0) {
		q->e[i] = q->e[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	q->e[i] = (struct pqe){ k, b };
	return true;
}

static struct pqe pq_pop(struct pq *q)
{
	struct pqe top = q->e[0], last = q->e[--q->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && key_cmp(&q->e[c + 1].k, &q->e[c].k) < 0)
			c++;
		if (key_cmp(&q->e[c].k, &last.k) >= 0)
			break;
		q->e[i] = q->e[c];
		i = c;
	}
	if (q->n)
		q->e[i] = last;
	return top;
}

/* Whether a and b are alike but for the root word: a tie the word's address breaks. */
static bool alike(const struct key *a, const struct key *b)
{
	return a->rank == b->rank && a->sites == b->sites && a->word != b->word;
}

/* Offer block b the key k, reached from parent (or a root word) by a pointer; alike: the root
 * word that reached parent alike, or UNREACHED. A loser alike but for its word is kept as the
 * block's alike root (the first one), so both can be named. */
static bool offer(struct lc_graph *g, struct pq *q, uint32_t b, struct key k, uint32_t root, uint32_t alike_root,
		  uint32_t parent, uint32_t from_off, uint32_t to_off)
{
	struct node *n = &g->nodes[b];
	if (n->k.sites != UNREACHED && key_cmp(&k, &n->k) >= 0) {
		if (alike(&k, &n->k) && n->alike == UNREACHED)
			n->alike = root;
		return true;
	}
	uint32_t was = n->k.sites != UNREACHED && alike(&k, &n->k) ? n->root : UNREACHED;
	*n = (struct node){ k, root, alike_root != UNREACHED ? alike_root : was, parent, from_off, to_off };
	return pq_push(q, k, b);
}

static void find_holders(struct lc_graph *g)
{
	struct pq q = { 0 };
	for (size_t i = 0; i < g->nb; i++)
		g->nodes[i] = (struct node){ .k.sites = UNREACHED, .alike = UNREACHED };
	for (size_t w = 0; w < g->nwords && !g->failed; w++) {
		const struct rword *rw = &g->words[w];
		struct key k = { g->roots[rw->region].rank, 1, rw->addr, 1 };
		g->failed = !offer(g, &q, rw->to, k, (uint32_t)w, UNREACHED, UNREACHED, 0, rw->to_off);
	}
	while (q.n && !g->failed) {
		struct pqe top = pq_pop(&q);
		const struct node *u = &g->nodes[top.b];
		if (key_cmp(&top.k, &u->k) != 0)
			continue; /* a stale entry: the block was reached nearer since */
		for (size_t e = g->first[top.b]; e < g->first[top.b + 1] && !g->failed; e++) {
			const struct edge *ed = &g->edges[e];
			struct key k = top.k;
			k.sites += g->b[ed->to].site != g->b[top.b].site;
			k.hops++;
			g->failed = !offer(g, &q, ed->to, k, u->root, u->alike, top.b, ed->from_off, ed->to_off);
		}
	}
	free(q.e);
}

struct lc_graph *lc__graph_build(const struct lc_gblock *blocks, size_t nblocks, const struct lc_groot *roots,
				size_t nroots, lc_gread_fn read, void *ctx)
{
	struct lc_graph *g = calloc(1, sizeof *g);
	unsigned char *buf = malloc(CHUNK);
	if (!g || !buf)
		goto fail;
	g->b = malloc((nblocks ? nblocks : 1) * sizeof *g->b);
	g->first = malloc((nblocks + 1) * sizeof *g->first);
	g->nodes = calloc(nblocks ? nblocks : 1, sizeof *g->nodes);
	if (!g->b || !g->first || !g->nodes)
		goto fail;
	memcpy(g->b, blocks, nblocks * sizeof *g->b);
	qsort(g->b, nblocks, sizeof *g->b, by_addr);
	for (size_t i = 0; i < nblocks; i++) /* one block per address (a record listed twice) */
		if (g->nb == 0 || g->b[i].addr != g->b[g->nb - 1].addr)
			g->b[g->nb++] = g->b[i];
	for (size_t i = 1; i < g->nb; i++) /* the lookups below bisect: sorted, one per address */
		lc_assert(g->b[i - 1].addr < g->b[i].addr);
	if (g->nb) {
		g->lo = g->b[0].addr;
		g->hi = g->b[g->nb - 1].addr + (g->b[g->nb - 1].size ? g->b[g->nb - 1].size : 1);
	}
	g->roots = roots;
	scan_blocks(g, read, ctx, buf);
	for (size_t r = 0; r < nroots && !g->failed; r++)
		scan_root(g, r, read, ctx, buf);
	if (!g->failed)
		find_holders(g);
	g->roots = NULL;
	if (g->failed)
		goto fail;
	free(buf);
	return g;
fail:
	free(buf);
	lc__graph_free(g);
	return NULL;
}

void lc__graph_free(struct lc_graph *g)
{
	if (!g)
		return;
	free(g->b);
	free(g->first);
	free(g->edges);
	free(g->words);
	free(g->nodes);
	free(g);
}

const struct lc_gblock *lc__graph_blocks(const struct lc_graph *g, size_t *n)
{
	*n = g->nb;
	return g->b;
}

void lc__graph_stats(const struct lc_graph *g, uint64_t *bytes_read, size_t *edges, size_t *root_words)
{
	*bytes_read = g->bytes_read;
	*edges = g->nedges;
	*root_words = g->nwords;
}

bool lc__graph_holder(const struct lc_graph *g, size_t b, uint64_t *word, size_t *region)
{
	const struct node *n = &g->nodes[b];
	if (n->k.sites == UNREACHED)
		return false;
	*word = g->words[n->root].addr;
	*region = g->words[n->root].region;
	return true;
}

bool lc__graph_alike(const struct lc_graph *g, size_t b, uint64_t *word, size_t *region)
{
	const struct node *n = &g->nodes[b];
	if (n->k.sites == UNREACHED || n->alike == UNREACHED)
		return false;
	*word = g->words[n->alike].addr;
	*region = g->words[n->alike].region;
	return true;
}

void lc__graph_distance(const struct lc_graph *g, size_t b, unsigned *sites, unsigned *hops)
{
	*sites = g->nodes[b].k.sites;
	*hops = g->nodes[b].k.hops;
}

size_t lc__graph_path(const struct lc_graph *g, size_t b, struct lc_gstep *out, size_t cap)
{
	if (g->nodes[b].k.sites == UNREACHED || cap == 0)
		return 0;
	size_t len = g->nodes[b].k.hops, n = 0;
	/* walk back from b; keep the steps nearest the root: the step at depth d goes to out[d] */
	for (uint32_t at = (uint32_t)b, d = (uint32_t)len; at != UNREACHED; d--) {
		const struct node *nd = &g->nodes[at];
		if (d - 1 < cap) {
			out[d - 1].block = at;
			out[d - 1].from = nd->parent == UNREACHED ? g->words[nd->root].addr : nd->from_off;
			out[d - 1].to_off = nd->to_off;
			n++;
		}
		at = nd->parent;
	}
	return n;
}

static bool lost(const struct lc_graph *g, size_t b)
{
	return g->nodes[b].k.sites == UNREACHED;
}

/* The first unreached block that points at b, or UNREACHED; *from_off, *to_off: the pointer. */
static uint32_t lost_parent(const struct lc_graph *g, size_t b, const uint32_t *seen, uint32_t mark,
			    uint32_t *from_off, uint32_t *to_off)
{
	uint32_t best = UNREACHED;
	for (size_t u = 0; u < g->nb; u++) {
		if (!lost(g, u) || u == b)
			continue;
		for (size_t e = g->first[u]; e < g->first[u + 1]; e++)
			if (g->edges[e].to == b && (best == UNREACHED || seen[u] == mark)) {
				best = (uint32_t)u;
				*from_off = g->edges[e].from_off;
				*to_off = g->edges[e].to_off;
				if (seen[u] == mark)
					return best; /* closing a cycle wins: it is the answer */
			}
	}
	return best;
}

size_t lc__graph_lost_path(struct lc_graph *g, size_t b, struct lc_gstep *out, size_t cap, size_t *ncycle)
{
	*ncycle = 0;
	if (!lost(g, b) || cap == 0)
		return 0;
	/* walk back through what points at b until a block nothing points at, or one already
	 * walked (a cycle); the walk is the path reversed */
	enum { MAXWALK = 64 };
	uint32_t walk[MAXWALK], from[MAXWALK] = { 0 }, to[MAXWALK] = { 0 };
	uint32_t *seen = calloc(g->nb, sizeof *seen);
	size_t n = 0, cyc = 0;
	bool closed = false;
	if (!seen)
		return 0;
	walk[n] = (uint32_t)b;
	seen[b] = 1;
	while (n + 1 < MAXWALK) {
		uint32_t fo = 0, tof = 0, p = lost_parent(g, walk[n], seen, 1, &fo, &tof);
		to[n] = tof;
		from[n] = fo;
		if (p == UNREACHED)
			break;
		if (seen[p]) { /* walk[k] == p: walk[k..n] is the cycle */
			for (cyc = 0; walk[cyc] != p; cyc++)
				;
			closed = true;
			break;
		}
		seen[p] = 1;
		walk[++n] = p;
	}
	free(seen);
	/* out: root side first. The walk runs backwards: walk[i + 1] points at walk[i], and in a cycle
	 * walk[cyc] points at walk[n]: out[0..n - cyc] are its members. */
	size_t k = 0;
	for (size_t i = n + 1; i-- > 0 && k < cap;) {
		out[k].block = walk[i];
		out[k].from = from[i]; /* the pointer from the step before (or the cycle's last) */
		out[k].to_off = to[i];
		k++;
	}
	if (closed)
		*ncycle = n - cyc + 1 < k ? n - cyc + 1 : k;
	return k;
}

long lc__graph_linked_at(const struct lc_graph *g, unsigned site)
{
	enum { MAXOFF = 64 };
	uint32_t offs[MAXOFF], votes[MAXOFF] = { 0 }, top = 0;
	size_t noffs = 0;
	long best = -1;
	for (size_t u = 0; u < g->nb; u++) {
		if (g->b[u].site != site)
			continue;
		for (size_t e = g->first[u]; e < g->first[u + 1]; e++) {
			if (g->b[g->edges[e].to].site != site)
				continue;
			size_t j = 0;
			while (j < noffs && offs[j] != g->edges[e].from_off)
				j++;
			if (j == noffs && noffs < MAXOFF)
				offs[noffs++] = g->edges[e].from_off;
			if (j < noffs && ++votes[j] > top) {
				top = votes[j];
				best = offs[j];
			}
		}
	}
	return best;
}

unsigned long lc__graph_site_blocks(const struct lc_graph *g, unsigned site)
{
	unsigned long n = 0;
	for (size_t u = 0; u < g->nb; u++)
		n += g->b[u].site == site;
	return n;
}

/* The retainer search: see retain.h.
 *
 * The texts come from valgrind 3.19 (valgrind/FACTS.md), every line after a "==PID== " prefix but
 * the descriptions, which start with a space:
 *   block_list:     "0x4A45990[80]" per block ("  0x..[..] indirect loss record N" lines
 *                   under a definite block are another record's, and skipped)
 *   who_points_at:  "*0x10e170 points at 0x4a43990" or
 *                   "*0x10e170 interior points at 32 bytes inside 0x4a43990", then
 *                   " Address 0x10e170 is 0 bytes inside data symbol \"all_conns\"" or
 *                   " Address 0x4a439b0 is 32 bytes inside a block of size 80 alloc'd" and its
 *                   stack, or " Address 0x.. is on thread 2's stack", and for registers
 *                   "tid 2 register RBX pointing at 0x..". */
#define _GNU_SOURCE
#include "analysis/retain.h"

#include "engines/engine.h"
#include "drive/proc.h"
#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 20000        /* per site: block_list ... limited */
#define MAX_SPAN (256UL << 20)  /* a wider span is not searched at once (its output is too big) */

enum src { SRC_OTHER, SRC_GLOBAL, SRC_STACK, SRC_HEAP };

struct ptr {                    /* one pointer who_points_at found */
	unsigned long from, to;
	enum src src;
	char name[128];             /* the data symbol, or "thread N's stack" */
	unsigned long blk;          /* SRC_HEAP: the start of the block it lies in */
	int group;                  /* SRC_HEAP: the site of that block, -1 unknown */
};

struct block {
	unsigned long addr, size;
};

struct group {                  /* a site: the records with one allocation stack */
	struct lc_record rec;       /* its stack */
	unsigned nrs[4];            /* their loss record numbers */
	enum lc_kind kinds[4];      /* and kinds */
	size_t nnrs;
	unsigned long blocks, bytes;/* in all its records now */
	bool done, busy;            /* searched; on the current path (s->path) */
	struct lc_link link;        /* how it is held, once classified */
	struct lc_retainer res;
};

struct search {
	lc_monitor_fn run;          /* runs one monitor command on the halted process */
	void *ctx;                  /* borrowed: run's argument */
	const char *const *alloc_fns; /* borrowed: --alloc-fn wrappers, NULL-terminated, or NULL */
	struct group *groups;       /* owned: every site of the leak check, ngroups of cap */
	size_t ngroups, cap;
	int path[LC_MAX_CHAIN + 1]; /* the groups being searched, the first one outermost */
	int kind;                   /* the growing site's kind: its records alone are searched (a
	                             * stale pointer can keep one of its blocks reachable), -1 all */
	size_t npath;
	unsigned calls, max_calls;
	char err[256];
};

const char *lc_root_kind_name(enum lc_root_kind k)
{
	static const char *const names[] = { "unknown", "global", "stack", "cycle", "none", "mapping" };
	return names[k];
}

static int find_group(const struct search *s, const struct lc_record *rec)
{
	for (size_t i = 0; i < s->ngroups; i++)
		if (lc_same_stack(&s->groups[i].rec, rec))
			return (int)i;
	return -1;
}

static void add_record(const struct lc_site *site, void *arg)
{
	struct search *s = arg;
	int g = find_group(s, &site->rec);
	if (g < 0) {
		if (s->ngroups == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct group *n = realloc(s->groups, cap * sizeof *n);
			if (!n)
				return;
			s->groups = n;
			s->cap = cap;
		}
		g = (int)s->ngroups++;
		memset(&s->groups[g], 0, sizeof s->groups[g]);
		s->groups[g].rec = site->rec;
	}
	struct group *gr = &s->groups[g];
	gr->blocks += site->rec.blocks;
	gr->bytes += site->rec.bytes;
	if (gr->nnrs < 4) {
		gr->kinds[gr->nnrs] = site->rec.kind;
		gr->nrs[gr->nnrs++] = site->nr;
	}
}

static int command(struct search *s, const char *cmd, char **text)
{
	if (s->calls >= s->max_calls) {
		snprintf(s->err, sizeof s->err, "the search's budget of %u commands ran out", s->max_calls);
		return -1;
	}
	s->calls++;
	return s->run(s->ctx, cmd, text, s->err, sizeof s->err);
}

static int by_addr(const void *a, const void *b)
{
	const struct block *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The blocks of every record of group g (of that kind only, unless -1), sorted by address. */
static size_t list_blocks(struct search *s, const struct group *g, int kind, struct block *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nnrs; i++) {
		if (kind >= 0 && (int)g->kinds[i] != kind)
			continue;
		char cmd[96], line[512], *text = NULL;
		snprintf(cmd, sizeof cmd, "block_list %u limited %zu", g->nrs[i], cap - n);
		if (n == cap || command(s, cmd, &text) < 0)
			break;
		for (const char *p = text; lc_vgdb_next_line(&p, line, sizeof line) && n < cap;)
			if (sscanf(line, "0x%lx[%lu]", &out[n].addr, &out[n].size) == 2 && !strstr(line, "indirect"))
				n++;
		free(text);
	}
	qsort(out, n, sizeof *out, by_addr);
	return n;
}

/* The block of blocks[0..n) that contains addr, or NULL. */
static const struct block *containing(const struct block *b, size_t n, unsigned long addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < b[mid].addr)
			hi = mid;
		else if (addr >= b[mid].addr + (b[mid].size ? b[mid].size : 1))
			lo = mid + 1;
		else
			return &b[mid];
	}
	return NULL;
}

/* Reads one description: " Address 0x.. is N bytes inside data symbol "X"", "... inside a
 * block of size S alloc'd" (its stack follows), "... on thread N's stack". */
static void describe(struct search *s, struct ptr *p, const char *line, const char **rest)
{
	const char *q;
	unsigned long off, size;
	if ((q = strstr(line, "inside data symbol \""))) {
		p->src = SRC_GLOBAL;
		snprintf(p->name, sizeof p->name, "%.*s", (int)strcspn(q + 20, "\""), q + 20);
	} else if ((q = strstr(line, " is on thread "))) {
		p->src = SRC_STACK;
		snprintf(p->name, sizeof p->name, "thread %.*s", (int)strcspn(q + 14, "'"), q + 14);
		lc_appendf(p->name, sizeof p->name, "'s stack");
	} else if (sscanf(line, " Address %*s is %lu bytes inside a block of size %lu", &off, &size) == 2) {
		struct lc_record rec = { 0 };
		char fl[512];
		const char *save = *rest;
		while (lc_vgdb_next_line(rest, fl, sizeof fl)) {
			const char *f = fl + strspn(fl, " ");
			if (strncmp(f, "at 0x", 5) && strncmp(f, "by 0x", 5)) {
				*rest = save; /* not a frame: the next entry */
				break;
			}
			save = *rest;
			lc_vgdb_frame(f, &rec);
		}
		p->src = SRC_HEAP;
		p->blk = p->from - off;
		p->group = find_group(s, &rec);
	}
}

/* Parses who_points_at's answer: the pointers into blocks[0..n), into out. */
static size_t parse_pointers(struct search *s, const char *text, const struct block *blocks, size_t n,
			     struct ptr *out, size_t cap)
{
	size_t k = 0;
	char line[512];
	struct ptr cur;
	bool have = false;
	for (const char *p = text; lc_vgdb_next_line(&p, line, sizeof line);) {
		unsigned long from, to, off, base;
		bool start = false;
		if (sscanf(line, "*0x%lx interior points at %lu bytes inside 0x%lx", &from, &off, &base) == 3)
			start = true, to = base + off;
		else if (sscanf(line, "*0x%lx points at 0x%lx", &from, &to) == 2)
			start = true;
		else if (sscanf(line, "tid %*u register %*s interior pointing %lu bytes inside 0x%lx", &off, &base) == 2)
			start = true, from = 0, to = base + off;
		else if (sscanf(line, "tid %*u register %*s pointing at 0x%lx", &to) == 1)
			start = true, from = 0;
		if (start) {
			if (have && k < cap)
				out[k++] = cur;
			memset(&cur, 0, sizeof cur);
			cur.from = from;
			cur.to = to;
			cur.group = -1;
			have = containing(blocks, n, to) != NULL;
			if (have && from == 0) {
				unsigned tid = 0;
				sscanf(line, "tid %u", &tid);
				cur.src = SRC_STACK;
				snprintf(cur.name, sizeof cur.name, "thread %u's registers", tid);
			}
		} else if (have && strstr(line, " Address 0x")) {
			describe(s, &cur, line, &p);
		}
	}
	if (have && k < cap)
		out[k++] = cur;
	return k;
}

/* Runs who_points_at ADDR LEN and adds what points into blocks to out. */
static size_t query(struct search *s, unsigned long addr, unsigned long len, const struct block *blocks, size_t n,
		    struct ptr *out, size_t have, size_t cap)
{
	char cmd[96], *text = NULL;
	snprintf(cmd, sizeof cmd, "who_points_at 0x%lx %lu", addr, len);
	if (command(s, cmd, &text) < 0)
		return have;
	have += parse_pointers(s, text, blocks, n, out + have, cap - have);
	free(text);
	return have;
}

/* Counts the offsets the site's own blocks point at each other from; *linked_at gets the
 * most common, or -1. */
static void own_links(const struct ptr *p, size_t k, const struct block *b, size_t n, long *linked_at)
{
	long offs[64];
	unsigned votes[64] = { 0 }, top = 0;
	size_t noffs = 0;
	*linked_at = -1;
	for (size_t i = 0; i < k; i++) {
		const struct block *from = p[i].from ? containing(b, n, p[i].from) : NULL;
		if (!from || from == containing(b, n, p[i].to))
			continue; /* not the site's, or a block pointing into itself */
		long off = (long)(p[i].from - from->addr);
		size_t j = 0;
		while (j < noffs && offs[j] != off)
			j++;
		if (j == noffs && noffs < 64)
			offs[noffs++] = off;
		if (j < noffs && ++votes[j] > top) {
			top = votes[j];
			*linked_at = off;
		}
	}
}

/* How many distinct blocks of the site the source of p[i] (a data symbol, a thread, another
 * site) points at: a stale pointer hits one, the real holder of a site often several. */
static unsigned reach(const struct ptr *p, size_t k, size_t i, const struct block *b, size_t n)
{
	const struct block *seen[16];
	unsigned count = 0;
	for (size_t j = 0; j < k && count < 16; j++) {
		bool same = p[j].src == p[i].src && (p[j].src == SRC_HEAP ? p[j].group == p[i].group
									: strcmp(p[j].name, p[i].name) == 0);
		const struct block *t = containing(b, n, p[j].to);
		bool dup = false;
		for (unsigned m = 0; m < count; m++)
			dup |= seen[m] == t;
		if (same && !dup)
			seen[count++] = t;
	}
	return count;
}

/* The pointer that best explains why the site's blocks b[0..n) are held: a data symbol, then
 * another site's block, then a stack slot, then a register; of equal kinds the source that
 * reaches more blocks. NULL if only the site's own blocks point at them. */
static const struct ptr *best_holder(const struct ptr *p, size_t k, const struct block *b, size_t n)
{
	/* a stack slot or a register often holds the last object a function touched */
	static const int rank[] = { [SRC_OTHER] = 0, [SRC_STACK] = 1, [SRC_HEAP] = 2, [SRC_GLOBAL] = 3 };
	const struct ptr *best = NULL;
	unsigned best_reach = 0;
	for (size_t i = 0; i < k; i++) {
		if ((p[i].from && containing(b, n, p[i].from)) || p[i].src == SRC_OTHER ||
		    (p[i].src == SRC_HEAP && p[i].group < 0))
			continue;
		int r = rank[p[i].src] * 2 + (p[i].from != 0); /* a slot over a register */
		int br = best ? rank[best->src] * 2 + (best->from != 0) : -1;
		unsigned n_reach = reach(p, k, i, b, n);
		if (r > br || (r == br && n_reach > best_reach)) {
			best = &p[i];
			best_reach = n_reach;
		}
	}
	return best;
}

static void resolve(struct search *s, int gi, int depth);

/* res = the holder's result with g's link after it (a cycle's member is not repeated). */
static void extend(struct search *s, struct group *g, int holder)
{
	const struct lc_retainer *h = &s->groups[holder].res;
	g->res = *h;
	for (size_t i = 0; i < h->ncycle; i++)
		if (memcmp(&h->chain[i].at, &g->link.at, sizeof g->link.at) == 0)
			return; /* g is one of the cycle's members */
	if (g->res.nchain < LC_MAX_CHAIN)
		g->res.chain[g->res.nchain++] = g->link;
	else
		snprintf(g->res.note, sizeof g->res.note, "path longer than %d sites: the middle is left out", LC_MAX_CHAIN);
}

/* A holder already on the path: the sites from it to g (the end of the path) form a cycle. */
static void cycle(struct search *s, struct group *g, int holder)
{
	size_t j = 0;
	while (j < s->npath && s->path[j] != holder)
		j++;
	/* Only memory nothing reaches can be held by a cycle alone. A reachable site that leads
	 * back to itself (or to one site) was followed through a stale or coincidental word (a
	 * library's block that happens to hold the value of a pointer): its root was not found. */
	if ((s->kind != LC_DEFINITE && s->kind != LC_INDIRECT) || s->npath - j < 2) {
		g->res.kind = LC_ROOT_UNKNOWN;
		g->res.nchain = 0;
		for (size_t k = j; k < s->npath && g->res.nchain < LC_MAX_CHAIN; k++)
			g->res.chain[g->res.nchain++] = s->groups[s->path[k]].link;
		snprintf(g->res.note, sizeof g->res.note, "the search led back to a site already on its path");
		return;
	}
	g->res.kind = LC_ROOT_CYCLE;
	g->res.nchain = 0;
	/* the path runs from a site to what holds it: reversed, each member holds the next, and
	 * the last (where the search entered) is held by the first */
	for (size_t k = s->npath; k-- > j && g->res.nchain < LC_MAX_CHAIN;)
		g->res.chain[g->res.nchain++] = s->groups[s->path[k]].link;
	g->res.ncycle = g->res.nchain;
}

static void classify(struct search *s, struct group *g, const struct block *b, size_t n, int depth)
{
	static struct ptr ptrs[4096];
	size_t k = query(s, b[n - 1].addr, b[n - 1].size ? b[n - 1].size : 1, b, n, ptrs, 0, 4096);
	if (n > 1)
		k = query(s, b[0].addr, b[0].size ? b[0].size : 1, b, n, ptrs, k, 4096);
	long linked_at;
	const struct ptr *h = best_holder(ptrs, k, b, n);
	unsigned long span = b[n - 1].addr + b[n - 1].size - b[0].addr;
	if (!h && n > 2 && span <= MAX_SPAN) { /* only its own blocks: a list, find its head */
		k = query(s, b[0].addr, span, b, n, ptrs, k, 4096);
		h = best_holder(ptrs, k, b, n);
	}
	own_links(ptrs, k, b, n, &linked_at);
	const struct lc_frame *at = lc_alloc_frame(&g->rec, s->alloc_fns);
	if (at)
		g->link.at = *at;
	g->link.count = n;
	g->link.linked_at = linked_at;
	g->link.offset = h ? (long)(h->to - containing(b, n, h->to)->addr) : 0;
	g->res.searched = true;
	if (!h) {
		g->res.kind = LC_ROOT_UNKNOWN;
		g->res.chain[0] = g->link;
		g->res.nchain = 1;
		snprintf(g->res.note, sizeof g->res.note, "%.150s", s->err[0] ? s->err :
			 "nothing outside the site's own blocks points at them");
	} else if (h->src == SRC_GLOBAL || h->src == SRC_STACK) {
		g->res.kind = h->src == SRC_GLOBAL ? LC_ROOT_GLOBAL : LC_ROOT_STACK;
		snprintf(g->res.root, sizeof g->res.root, "%s", h->name);
		g->res.chain[0] = g->link;
		g->res.nchain = 1;
	} else if (s->groups[h->group].busy) {
		cycle(s, g, h->group);
	} else {
		int holder = h->group;
		resolve(s, holder, depth + 1);
		extend(s, g, holder);
	}
}

static void resolve(struct search *s, int gi, int depth)
{
	static struct block blocks[MAX_BLOCKS];
	struct group *g = &s->groups[gi];
	if (g->done || s->npath > LC_MAX_CHAIN)
		return;
	g->busy = true;
	s->path[s->npath++] = gi;
	const struct lc_frame *at = lc_alloc_frame(&g->rec, s->alloc_fns);
	if (at)
		g->link.at = *at;
	size_t n = depth < LC_MAX_CHAIN ? list_blocks(s, g, depth == 0 ? s->kind : -1, blocks, MAX_BLOCKS) : 0;
	if (n == 0) {
		g->res.searched = true;
		g->res.kind = LC_ROOT_UNKNOWN;
		g->res.chain[0] = g->link;
		g->res.nchain = 1;
		snprintf(g->res.note, sizeof g->res.note, "%.150s", s->err[0] ? s->err :
			 depth < LC_MAX_CHAIN ? "no blocks listed" : "path too long");
	} else {
		struct block *mine = malloc(n * sizeof *mine); /* the static array is reused deeper down */
		if (mine) {
			memcpy(mine, blocks, n * sizeof *mine);
			classify(s, g, mine, n, depth);
			free(mine);
		}
	}
	g->busy = false;
	g->done = true;
	s->npath--;
}

unsigned lc_retain_search(lc_monitor_fn run, void *ctx, const struct lc_site *sites, size_t n,
			  const char *const *alloc_fns, struct lc_retainer *out, unsigned max_calls)
{
	struct search s = { .run = run, .ctx = ctx, .alloc_fns = alloc_fns, .max_calls = max_calls };
	char *text = NULL;
	memset(out, 0, n * sizeof *out);
	if (n == 0)
		return 0;
	if (command(&s, "leak_check full reachable any", &text) < 0 || lc_vgdb_records(text, add_record, &s) < 0) {
		for (size_t i = 0; i < n; i++)
			snprintf(out[i].note, sizeof out[i].note, "%.150s", s.err[0] ? s.err : "no loss records");
		free(text);
		return s.calls;
	}
	free(text);
	for (size_t i = 0; i < n; i++) {
		int g = find_group(&s, &sites[i].rec);
		s.err[0] = '\0';
		if (g < 0) {
			snprintf(out[i].note, sizeof out[i].note, "its loss record is gone");
			continue;
		}
		if ((long)s.groups[g].blocks < sites[i].dblocks || (long)s.groups[g].bytes < sites[i].dbytes) {
			out[i].gone = true; /* what it grew by was freed since the snapshot */
			continue;
		}
		s.kind = (int)sites[i].rec.kind;
		resolve(&s, g, 0);
		out[i] = s.groups[g].res;
	}
	free(s.groups);
	return s.calls;
}

static void link_text(const struct lc_link *l, char *buf, size_t len)
{
	char at[300], extra[120] = "";
	if (l->at.file[0])
		snprintf(at, sizeof at, "%s %s:%u", l->at.fn, l->at.file, l->at.line);
	else
		snprintf(at, sizeof at, "%s", l->at.fn[0] ? l->at.fn : "???");
	if (l->offset)
		snprintf(extra, sizeof extra, "+%ld, ", l->offset);
	lc_appendf(extra, sizeof extra, "x%lu", l->count);
	if (l->linked_at >= 0)
		lc_appendf(extra, sizeof extra, ", linked through +%ld", l->linked_at);
	lc_appendf(buf, len, "block at %s", at);
	lc_appendf(buf, len, " (%s)", extra);
}

void lc_retainer_text(const struct lc_retainer *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (r->kind == LC_ROOT_GLOBAL) /* a symbol's name, or "data of libc.so.6" between symbols */
		lc_appendf(buf, len, "%s%s", r->root, strchr(r->root, ' ') ? "" : " (data symbol)");
	else if (r->kind == LC_ROOT_STACK || r->kind == LC_ROOT_MAPPING)
		lc_appendf(buf, len, "%s", r->root);
	else if (r->kind == LC_ROOT_CYCLE)
		lc_appendf(buf, len, "%s", "no root, a cycle:");
	else if (r->kind == LC_ROOT_NONE)
		lc_appendf(buf, len, "%s", "no root: lost");
	else
		lc_appendf(buf, len, "no root found (%s)", r->note[0] ? r->note : "?");
	for (size_t i = 0; i < r->nchain; i++) {
		lc_appendf(buf, len, "%s", i == 0 && r->kind == LC_ROOT_CYCLE ? " " : " -> ");
		link_text(&r->chain[i], buf + strlen(buf), len - strlen(buf));
		if (r->kind == LC_ROOT_CYCLE && i + 1 == r->ncycle)
			lc_appendf(buf, len, " (back to %s)", r->chain[0].at.fn);
	}
	if (r->nholders == 0) {
		if (r->unreached)
			lc_appendf(buf, len, " [%lu of %lu %s reached by no root]", r->unreached, r->blocks,
				   r->new_blocks ? "new blocks" : "blocks");
		return;
	}
	const char *what = r->new_blocks ? "new blocks" : "blocks";
	if (r->holders[0].blocks == r->blocks)
		lc_appendf(buf, len, " [all %lu %s", r->blocks, what);
	else
		lc_appendf(buf, len, " [%lu of %lu %s", r->holders[0].blocks, r->blocks, what);
	for (size_t i = 1; i < r->nholders; i++)
		lc_appendf(buf, len, "%s%s%s %lu", i == 1 ? "; also " : ", ", r->holders[i].root,
			   r->holders[i].kind == LC_ROOT_GLOBAL && !strchr(r->holders[i].root, ' ') ? " (data symbol)" : "",
			   r->holders[i].blocks);
	if (r->unreached)
		lc_appendf(buf, len, "; %lu reached by no root: lost", r->unreached);
	lc_appendf(buf, len, "]");
}


/* A clean verdict costs nothing. */
void lc_retain_report(struct lc_engine *e, struct lc_report *rep, const char *const *alloc_fns)
{
	double t0 = lc_now();
	static struct lc_site pick[LC_MAX_SITES];
	static struct lc_retainer found[LC_MAX_SITES];
	for (size_t i = 0; i < rep->nprocs; i++) {
		struct lc_proc_result *p = &rep->procs[i];
		size_t n = 0, idx[LC_MAX_SITES];
		if (!p->judged || !e->ops->holders)
			continue;
		lc_judge_proc(p, rep);
		for (size_t j = 0; (p->retained || p->bytes_grew) && j < p->nsites; j++)
			if (p->sites[j].dbytes >= (long)lc_bytes_floor(rep)) {
				idx[n] = j;
				pick[n++] = p->sites[j];
			}
		if (n == 0)
			continue;
		unsigned calls = 0;
		memset(found, 0, n * sizeof *found);
		if (e->ops->holders(e, i, pick, n, alloc_fns, found, &calls) < 0)
			continue; /* nothing searched: the sites stay as they are */
		rep->retain_calls += calls;
		for (size_t j = 0; j < n; j++)
			p->held[idx[j]] = found[j];
		size_t kept = 0; /* sites whose growth was freed since the snapshot are not growing */
		for (size_t j = 0; j < p->nsites; j++)
			if (!p->held[j].gone) {
				p->sites[kept] = p->sites[j];
				p->held[kept++] = p->held[j];
			}
		p->nsites = kept;
	}
	rep->retain_seconds = lc_now() - t0;
}

/* Holders from the heap graph, for a process under memcheck: see retain.h.
 *
 * Three monitor commands and the process's memory, read from outside while it is halted:
 *   leak_check full reachable any   every loss record, numbered, with its allocation stack
 *   block_list 1..M                 every live block: "0xADDR[SIZE]" under its record's header
 *   v.info scheduler                each thread's "client stack range: [A B] client SP: S"
 * The guest's memory is the valgrind process's own, at the same addresses: /proc/PID/mem reads
 * it (the harness started the process, so it may). The root regions are the writable mappings
 * of /proc/PID/maps that are the guest's: below the tool's own load address, not valgrind's
 * files, not the client heap (a mapping that holds blocks, or valgrind's rwx arenas), and each
 * thread's stack from its stack pointer up (below it, only dead frames). */
#define _GNU_SOURCE
#include "analysis/retain.h"

#include "analysis/graph.h"
#include "engines/engine.h"
#include "engines/symbols.h"
#include "util/text.h"
#include "valgrind/vgxml.h"
#include "preload/lcalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROOTS 512
#define RED_ZONE 128            /* the amd64 ABI's: a leaf function's locals below SP */

struct rec {                    /* a loss record */
	struct lc_record r;
	unsigned site;              /* the first record allocated at its line: the graph's site */
	uint64_t hash;              /* of that line */
};

struct region {
	struct lc_groot g;
	enum lc_root_kind kind;
	uint64_t module_at;         /* a bss: an address of its module's file mapping */
	char name[96];              /* "thread 2's stack", the module, or "anonymous memory at 0x.." */
};

struct hsearch {
	lc_monitor_fn run;          /* runs one monitor command on the halted process */
	void *ctx;                  /* borrowed: run's argument */
	int pid;
	struct rec *recs;           /* owned: recs[nr - 1] is loss record nr */
	size_t nrecs;
	struct lc_gblock *blocks;   /* owned */
	size_t nblocks, capblocks;
	struct region roots[MAX_ROOTS];
	size_t nroots;
	struct lc_graph *g;         /* owned */
	struct lc_symbols *sym;     /* owned: names data symbols */
	int mem;                    /* /proc/PID/mem */
	bool kinds;                 /* records have memcheck's kinds (natively: all "reachable") */
	const char *const *alloc_fns; /* borrowed: --alloc-fn wrappers, NULL-terminated, or NULL */
	char err[200];
};

/* The line that allocated rec's blocks (allocators and --alloc-fn wrappers skipped): blocks
 * of one line are one site of the graph, whatever called that line (a tree's root node and
 * its children come from one line, called from two places). */
static uint64_t line_hash(const struct lc_record *r, const char *const *alloc_fns)
{
	const struct lc_frame *f = lc_alloc_frame(r, alloc_fns);
	uint64_t h = 1469598103934665603ULL;
	if (!f)
		return h;
	for (const char *p = f->fn; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (const char *p = f->file; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (h ^ f->line) * 1099511628211ULL;
}

static bool same_line(const struct lc_record *a, const struct lc_record *b, const char *const *alloc_fns)
{
	const struct lc_frame *x = lc_alloc_frame(a, alloc_fns), *y = lc_alloc_frame(b, alloc_fns);
	return x && y ? strcmp(x->fn, y->fn) == 0 && strcmp(x->file, y->file) == 0 && x->line == y->line : !x && !y;
}

/* Record tag (a loss record's number - 1, natively a site slot) is rec. */
static void set_rec(struct hsearch *s, size_t tag, const struct lc_record *rec)
{
	if (tag >= 1000000)
		return;
	if (tag >= s->nrecs) {
		struct rec *n = realloc(s->recs, (tag + 1) * sizeof *n);
		if (!n)
			return;
		memset(n + s->nrecs, 0, (tag + 1 - s->nrecs) * sizeof *n);
		s->recs = n;
		s->nrecs = tag + 1;
	}
	struct rec *r = &s->recs[tag];
	r->r = *rec;
	r->hash = line_hash(rec, s->alloc_fns);
	r->site = (unsigned)tag;
	for (size_t i = 0; i < s->nrecs; i++)
		if (i != tag && s->recs[i].r.nframes && s->recs[i].hash == r->hash &&
		    same_line(&s->recs[i].r, &r->r, s->alloc_fns)) {
			r->site = s->recs[i].site;
			break;
		}
}

static void add_rec(const struct lc_site *site, void *arg)
{
	if (site->nr > 0)
		set_rec(arg, site->nr - 1, &site->rec);
}

static int command(struct hsearch *s, const char *cmd, char **text)
{
	return s->run(s->ctx, cmd, text, s->err, sizeof s->err);
}

/* block_list 1..M: each block under its record's header ("... in loss record N of M"); the
 * indented "indirect loss record" lines under a definite block are listed in their own record. */
static int list_blocks(struct hsearch *s)
{
	char cmd[64], line[512], *text = NULL;
	snprintf(cmd, sizeof cmd, "block_list 1..%zu", s->nrecs);
	if (command(s, cmd, &text) < 0)
		return -1;
	unsigned nr = 0;
	for (const char *p = text; lc_vgdb_next_line(&p, line, sizeof line);) {
		const char *at = strstr(line, " in loss record ");
		unsigned long addr, size;
		if (at) {
			nr = (unsigned)strtoul(at + 16, NULL, 10);
		} else if (nr >= 1 && nr <= s->nrecs && sscanf(line, "0x%lx[%lu]", &addr, &size) == 2) {
			bool failed = false;
			if (s->nblocks == s->capblocks) {
				size_t cap = s->capblocks ? s->capblocks * 2 : 4096;
				struct lc_gblock *n = realloc(s->blocks, cap * sizeof *n);
				failed = !n;
				if (n) {
					s->blocks = n;
					s->capblocks = cap;
				}
			}
			if (failed)
				break;
			s->blocks[s->nblocks++] = (struct lc_gblock){ addr, size, s->recs[nr - 1].site, nr - 1 };
		}
	}
	free(text);
	return 0;
}

/* rank: the program's data 0, a library's 1, other mapped memory 2, a stack 3 (stacks hold
 * stale copies of what a function last touched; a library's data, of what it was handed). */
static void add_root(struct hsearch *s, uint64_t start, uint64_t end, enum lc_root_kind kind, unsigned rank,
		     const char *name, uint64_t module_at)
{
	if (start >= end || s->nroots == MAX_ROOTS)
		return;
	struct region *r = &s->roots[s->nroots++];
	r->g = (struct lc_groot){ start, end, rank };
	r->kind = kind;
	r->module_at = module_at;
	snprintf(r->name, sizeof r->name, "%s", name);
}

/* The threads' stacks, from their stack pointer (less the red zone) to their top. */
static int add_stacks(struct hsearch *s)
{
	char line[512], *text = NULL, name[48] = "";
	if (command(s, "v.info scheduler", &text) < 0)
		return -1;
	for (const char *p = text; lc_vgdb_next_line(&p, line, sizeof line);) {
		unsigned tid;
		unsigned long lo, hi, sp;
		if (sscanf(line, "Thread %u:", &tid) == 1)
			snprintf(name, sizeof name, "thread %u's stack", tid);
		else if (sscanf(line, "client stack range: [0x%lx 0x%lx] client SP: 0x%lx", &lo, &hi, &sp) == 3 && name[0])
			add_root(s, sp - RED_ZONE > lo && sp <= hi ? sp - RED_ZONE : lo, hi + 1, LC_ROOT_STACK, 3, name, 0);
	}
	free(text);
	return 0;
}

static bool holds_blocks(const struct hsearch *s, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < s->nblocks; i++)
		if (s->blocks[i].addr >= start && s->blocks[i].addr < end)
			return true;
	return false;
}

/* The guest's writable mappings but the stacks (added apart) and the heap. */
static int add_mappings(struct hsearch *s)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/maps", s->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	uint64_t tool = UINT64_MAX, prev_end = 0, prev_start = 0;
	char prev_file[512] = "", prog[512] = "";
	while (fgets(line, sizeof line, f)) { /* valgrind's tool is loaded above all of the guest's */
		char file[512] = "";
		if (strstr(line, "/valgrind/") && !strstr(line, ".so"))
			tool = tool < strtoull(line, NULL, 16) ? tool : strtoull(line, NULL, 16);
		else if (!prog[0] && sscanf(line, "%*s %*s %*s %*s %*s %511[^\n]", file) == 1 && file[0] == '/' &&
			 !strstr(file, "/valgrind/"))
			snprintf(prog, sizeof prog, "%s", file); /* the program: loaded first, lowest */
	}
	rewind(f);
	size_t nstacks = s->nroots;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8], file[512] = "";
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511[^\n]", &lo, &hi, perms, file) < 3)
			continue;
		if (strcmp(file, "[stack]") == 0 && lo < tool) { /* natively: the main thread's */
			add_root(s, lo, hi, LC_ROOT_STACK, 3, "thread 1's stack", 0);
			prev_file[0] = '\0';
			continue;
		}
		if (file[0] == '[')
			file[0] = '\0'; /* [heap] and the like: anonymous memory */
		bool anon = file[0] == '\0', bss = anon && lo == prev_end && prev_file[0];
		char owner[512]; /* the object whose data it is: a bss follows its file's mapping */
		snprintf(owner, sizeof owner, "%s", bss ? prev_file : file);
		uint64_t module_at = bss ? prev_start : lo;
		prev_start = module_at;
		prev_end = hi;
		snprintf(prev_file, sizeof prev_file, "%s", owner);
		if (perms[0] != 'r' || perms[1] != 'w' || lo >= tool || strstr(file, "/valgrind/") ||
		    strstr(file, "vgdb") || (anon && perms[2] == 'x'))
			continue;
		for (size_t i = 0; i < nstacks; i++) /* a thread's stack is a mapping of its own */
			if (s->roots[i].g.start < hi && s->roots[i].g.end > lo)
				goto next;
		if (holds_blocks(s, lo, hi))
			continue;
		char name[96];
		const char *mod = strrchr(owner, '/');
		if (anon && !bss)
			snprintf(name, sizeof name, "anonymous memory at 0x%lx", lo);
		else
			snprintf(name, sizeof name, "data of %.80s", mod ? mod + 1 : owner);
		add_root(s, lo, hi, anon && !bss ? LC_ROOT_MAPPING : LC_ROOT_GLOBAL,
			 anon && !bss ? 2 : strcmp(owner, prog) == 0 ? 0 : 1, name, module_at);
next:;
	}
	fclose(f);
	return 0;
}

static long read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct hsearch *s = ctx;
	ssize_t n = pread(s->mem, buf, len, (off_t)addr);
	return n < 0 ? -1 : (long)n;
}

static int open_mem(struct hsearch *s)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", s->pid);
	s->mem = open(path, O_RDONLY | O_CLOEXEC);
	if (s->mem < 0)
		snprintf(s->err, sizeof s->err, "cannot read %s", path);
	return s->mem < 0 ? -1 : 0;
}

/* Memcheck's blocks, records and thread stacks, from the halted process: 0, or -1. */
static int gather_memcheck(struct hsearch *s)
{
	char *text = NULL;
	if (command(s, "leak_check full reachable any", &text) < 0 || lc_vgdb_records(text, add_rec, s) < 0) {
		free(text);
		return -1;
	}
	free(text);
	return list_blocks(s) < 0 || add_stacks(s) < 0 ? -1 : 0;
}

/* The graph of the blocks and the roots gathered: 0, or -1 with s->err. */
static int build(struct hsearch *s)
{
	if (add_mappings(s) < 0) {
		snprintf(s->err, sizeof s->err, "cannot read /proc/%d/maps", s->pid);
		return -1;
	}
	struct lc_groot roots[MAX_ROOTS];
	for (size_t i = 0; i < s->nroots; i++)
		roots[i] = s->roots[i].g;
	s->g = lc_graph_build(s->blocks, s->nblocks, roots, s->nroots, read_mem, s);
	if (!s->g) {
		snprintf(s->err, sizeof s->err, "out of memory for the heap graph");
		return -1;
	}
	s->sym = lc_symbols_open(s->pid);
	return 0;
}

/* The root object a root word belongs to: a data symbol, else its region. */
static void root_of(struct hsearch *s, uint64_t word, size_t region, struct lc_holder *h, uint64_t *key)
{
	const struct region *r = &s->roots[region];
	h->kind = r->kind;
	uint64_t start;
	if (r->kind == LC_ROOT_GLOBAL && lc_symbols_data(s->sym, word, r->module_at, h->root, sizeof h->root, &start)) {
		*key = start;
		return;
	}
	snprintf(h->root, sizeof h->root, "%s", r->name);
	*key = r->g.start;
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
	b = lc_graph_blocks(s->g, &nb);
	for (size_t i = 0; a && i < n; i++) {
		uint64_t word, key;
		size_t region;
		struct lc_holder h = { 0 };
		if (!lc_graph_holder(s->g, t[i], &word, &region)) {
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
	free(a);
}

/* steps[0..n) as links, one per site entered; a cycle's first ncycle steps are its members. */
static void chain_of(struct hsearch *s, const struct lc_gstep *st, size_t n, size_t ncycle, struct lc_retainer *out)
{
	size_t nb;
	const struct lc_gblock *b = lc_graph_blocks(s->g, &nb);
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
		const struct lc_frame *at = lc_alloc_frame(&s->recs[site].r, s->alloc_fns);
		if (at)
			l->at = *at;
		l->offset = (long)st[i].to_off;
		l->count = lc_graph_site_blocks(s->g, site);
		l->linked_at = lc_graph_linked_at(s->g, site);
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
	const struct lc_gblock *b = lc_graph_blocks(s->g, &nb);
	bool diff = lc_seen_record(before, &site->rec);
	for (int pass = diff ? 0 : 1; pass < 2 && n == 0; pass++)
		for (size_t i = 0; i < nb; i++) {
			const struct rec *r = &s->recs[b[i].tag];
			if (r->r.kind != site->rec.kind || !lc_same_stack(&r->r, &site->rec))
				continue;
			if (pass == 0 && lc_seen_block(before, b[i].addr))
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
	const struct lc_gblock *b = lc_graph_blocks(s->g, &nb);
	size_t *t = malloc((nb ? nb : 1) * sizeof *t);
	unsigned long live_blocks = 0, live_bytes = 0;
	memset(out, 0, sizeof *out);
	out->searched = true;
	for (size_t i = 0; i < nb; i++) /* the record now, for "gone" */
		if (s->recs[b[i].tag].r.kind == site->rec.kind && lc_same_stack(&s->recs[b[i].tag].r, &site->rec)) {
			live_blocks++;
			live_bytes += b[i].size;
		}
	if (live_blocks == 0 || !t) {
		snprintf(out->note, sizeof out->note, "its loss record is gone");
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
		lost = !s->kinds && out->unreached > (out->nholders ? out->holders[0].blocks : 0);
	}
	if (lost) { /* nothing memcheck counts as a root reaches it: never a global's */
		out->nholders = 0;
		size_t k = 0;
		while (k < n && lc_graph_holder(s->g, t[k], &(uint64_t){ 0 }, &(size_t){ 0 }))
			k++;
		if (k < n)
			nsteps = lc_graph_lost_path(s->g, t[k], steps, 64, &ncycle);
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
		if (!lc_graph_holder(s->g, t[i], &word, &region))
			continue;
		root_of(s, word, region, &h, &key);
		lc_graph_distance(s->g, t[i], &sites, &hops);
		if (key == top && (best == SIZE_MAX || sites < bsites || (sites == bsites && hops < bhops))) {
			best = t[i];
			bsites = sites;
			bhops = hops;
		}
	}
	nsteps = lc_graph_path(s->g, best, steps, 64);
	chain_of(s, steps, nsteps, 0, out);
out:
	free(t);
}

static void hsearch_free(struct hsearch *s)
{
	if (s->mem >= 0)
		close(s->mem);
	lc_graph_free(s->g);
	lc_symbols_close(s->sym);
	free(s->recs);
	free(s->blocks);
	free(s);
}

/* gathered (0: the blocks and records are in s), the graph, then each site searched; frees s.
 * 0, or -1 with a reason. */
static int search_all(struct hsearch *s, int gathered, const struct lc_seen *before, const struct lc_site *sites,
		      size_t n, struct lc_retainer *out, char *err, size_t errlen)
{
	int rc = gathered == 0 ? build(s) : -1;
	if (rc < 0)
		snprintf(err, errlen, "%s", s->err[0] ? s->err : "no blocks");
	for (size_t i = 0; rc == 0 && i < n; i++)
		search_one(s, before, &sites[i], &out[i]);
	hsearch_free(s);
	return rc;
}

int lc_holders_search(lc_monitor_fn run, void *ctx, int pid, const struct lc_seen *before, const struct lc_site *sites,
		      size_t n, const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls, char *err,
		      size_t errlen)
{
	struct hsearch *s = calloc(1, sizeof *s);
	*calls = 3;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*s = (struct hsearch){ .run = run, .ctx = ctx, .pid = pid, .mem = -1, .kinds = true, .alloc_fns = alloc_fns };
	int gathered = open_mem(s) < 0 || gather_memcheck(s) < 0 ? -1 : 0;
	return search_all(s, gathered, before, sites, n, out, err, errlen);
}

static void add_block(struct hsearch *s, uint64_t addr, uint64_t size, unsigned tag)
{
	if (s->nblocks == s->capblocks) {
		size_t cap = s->capblocks ? s->capblocks * 2 : 4096;
		struct lc_gblock *n = realloc(s->blocks, cap * sizeof *n);
		if (!n)
			return;
		s->blocks = n;
		s->capblocks = cap;
	}
	s->blocks[s->nblocks++] = (struct lc_gblock){ addr, size, s->recs[tag].site, tag };
}

/* The preload's headers in [lo, hi) of the process's memory: each a live block (a free clears
 * its header), named by its site slot. */
static void scan_headers(struct hsearch *s, uint64_t lo, uint64_t hi, lc_slot_name_fn name, void *ctx, unsigned char *buf)
{
	enum { CHUNK = 1 << 20 };
	for (uint64_t at = lo; at < hi; at += CHUNK) {
		ssize_t got = pread(s->mem, buf, hi - at < CHUNK ? hi - at : CHUNK, (off_t)at);
		for (ssize_t off = 0; off + (ssize_t)LC_ALLOC_HDR <= got; off += 16) {
			struct lc_alloc_hdr h;
			memcpy(&h, buf + off, sizeof h);
			uint64_t size = h.size_tag & LC_ALLOC_SIZE_MASK, user = at + (uint64_t)off + LC_ALLOC_HDR;
			if ((h.size_tag & ~LC_ALLOC_SIZE_MASK) != LC_ALLOC_TAG || size > hi - user || h.off < LC_ALLOC_HDR ||
			    h.off % 16 || (h.site >= LC_ALLOC_SITES && h.site != LC_ALLOC_NO_SITE))
				continue;
			unsigned tag = h.site == LC_ALLOC_NO_SITE ? LC_ALLOC_SITES : h.site;
			if (tag >= s->nrecs || !s->recs[tag].r.nframes) {
				static const struct lc_record before = { .nframes = 1, .frames = { { .fn = "(allocated before the preload)" } } };
				const struct lc_record *r = tag == LC_ALLOC_SITES ? &before : name(ctx, tag);
				if (!r)
					continue;
				set_rec(s, tag, r);
				if (tag >= s->nrecs)
					continue;
			}
			add_block(s, user, size, tag);
		}
	}
}

static int by_addr(const void *a, const void *b)
{
	const struct lc_gblock *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Natively: the blocks of the allocator preload, found in the heap's mappings ([heap] and
 * anonymous memory: malloc's arenas, its large blocks) by their headers. */
static int gather_native(struct hsearch *s, lc_slot_name_fn name, void *ctx)
{
	char path[64], line[1024];
	unsigned char *buf = malloc(1 << 20);
	snprintf(path, sizeof path, "/proc/%d/maps", s->pid);
	FILE *f = fopen(path, "r");
	if (!f || !buf) {
		free(buf);
		if (f)
			fclose(f);
		snprintf(s->err, sizeof s->err, "cannot read %s", path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8], file[512] = "";
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511[^\n]", &lo, &hi, perms, file) >= 3 && perms[0] == 'r' &&
		    perms[1] == 'w' && (!file[0] || strcmp(file, "[heap]") == 0))
			scan_headers(s, lo, hi, name, ctx, buf);
	}
	fclose(f);
	free(buf);
	/* a header left in memory that is no longer a block's (a stale copy inside another) would
	 * overlap a live block: the first of two overlapping ones is kept */
	qsort(s->blocks, s->nblocks, sizeof *s->blocks, by_addr);
	size_t kept = 0;
	for (size_t i = 0; i < s->nblocks; i++)
		if (kept == 0 || s->blocks[i].addr >= s->blocks[kept - 1].addr + s->blocks[kept - 1].size)
			s->blocks[kept++] = s->blocks[i];
	s->nblocks = kept;
	return 0;
}

int lc_holders_native(int pid, lc_slot_name_fn name, void *ctx, const struct lc_site *sites, size_t n,
		      const char *const *alloc_fns, struct lc_retainer *out, char *err, size_t errlen)
{
	struct hsearch *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*s = (struct hsearch){ .pid = pid, .mem = -1, .kinds = false, .alloc_fns = alloc_fns };
	int gathered = open_mem(s) < 0 || gather_native(s, name, ctx) < 0 ? -1 : 0;
	return search_all(s, gathered, NULL, sites, n, out, err, errlen);
}

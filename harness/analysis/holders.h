/* Who holds a growing site: for each growing allocation site, the roots (a global or static
 * data symbol, a thread's stack, other mapped memory) that reach its blocks, ranked by the
 * blocks each reaches, and the path from the top one; or the cycle the blocks form, or "lost",
 * when no root reaches them.
 *
 * The search works on struct lc_heap: the blocks, the records they belong to, the root regions
 * and a reader of the process's memory. It knows no engine: each engine gathers a heap of its
 * own kind (engines/heap.c: memcheck's block_list and thread stacks, the allocator preload's
 * block headers) and hands it here. The graph itself is analysis/graph.c. */
#ifndef LC_HOLDERS_H
#define LC_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/graph.h"
#include "util/records.h"

#define LC_HEAP_MAX_ROOTS 512

/* A record of the heap: tag t is recs[t] (a loss record's number - 1; natively a site slot). */
struct lc_heap_rec {
	struct lc_record r;
	unsigned site;              /* the first record allocated at its line: the graph's site */
	uint64_t hash;              /* of that line (lc__frame_key) */
};

/* A root region and what a holder in it is called. */
struct lc_heap_root {
	struct lc_groot g;
	enum lc_root_kind kind;
	uint64_t module_at;         /* a bss: an address of its module's file mapping */
	char name[96];              /* "thread 2's stack", "data of libc.so.6", "anonymous memory at 0x.." */
};

/* Names the data symbol that contains word (module_at as in struct lc_heap_root): its name
 * and start. false: none. */
typedef bool (*lc_heap_name_fn)(void *ctx, uint64_t word, uint64_t module_at, char *name, size_t len,
				uint64_t *start);

/* The heap graph's input, as an engine gathered it from a halted or idle process. */
struct lc_heap {
	struct lc_heap_rec *recs;   /* owned: nrecs, indexed by tag */
	size_t nrecs;
	struct lc_gblock *blocks;   /* owned: nblocks of capblocks */
	size_t nblocks, capblocks;
	struct lc_heap_root roots[LC_HEAP_MAX_ROOTS];
	size_t nroots;
	lc_gread_fn read;           /* reads the process's memory */
	void *read_ctx;             /* borrowed: read's */
	lc_heap_name_fn name_data;  /* names a global, or NULL: regions named only */
	void *name_ctx;             /* borrowed: name_data's */
	bool kinds;                 /* records have memcheck's kinds (natively: all "reachable") */
	const char *const *alloc_fns; /* borrowed: --alloc-fn wrappers, NULL-terminated, or NULL */
};

/* Record tag is rec (tags of one allocation line share a site). */
void lc__heap_set_rec(struct lc_heap *h, size_t tag, const struct lc_record *rec);
/* Whether tag has a record. */
bool lc__heap_has_rec(const struct lc_heap *h, size_t tag);
/* A live block of record tag. -1: out of memory. */
int lc__heap_add_block(struct lc_heap *h, uint64_t addr, uint64_t size, size_t tag);
/* rank: lower is preferred as a holder at equal distance (graph.h): the program's data 0, a
 * library's 1, other mapped memory 2, a stack 3. */
void lc__heap_add_root(struct lc_heap *h, uint64_t start, uint64_t end, enum lc_root_kind kind, unsigned rank,
		      const char *name, uint64_t module_at);
/* Whether a block lies in [start, end). */
bool lc__heap_holds_blocks(const struct lc_heap *h, uint64_t start, uint64_t end);
/* Free the records and blocks; h can be filled again. */
void lc__heap_clear(struct lc_heap *h);

/* The holders of sites[0..n) into out[0..n): every block and root region of h read, each
 * growing record's blocks counted for the root nearest them (out[i].holders, ranked), and the
 * path from the top holder to the nearest of them. The blocks are those new since the
 * snapshot before (missing from before, when it listed the record), else all the record's.
 * Returns 0, or -1 with a reason (out of memory). */
int lc__holders_find(const struct lc_heap *h, const struct lc_seen *before, const struct lc_site *sites, size_t n,
		    struct lc_retainer *out, char *err, size_t errlen);

#endif

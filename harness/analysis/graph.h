/* The heap as a graph, to name what holds memory: nodes are live blocks, an edge is an aligned
 * pointer-sized word inside a block that points into another block (at its start or inside it,
 * as memcheck counts interior pointers), and roots are the words of root regions (a loaded
 * object's data and bss, a thread's stack, other mapped memory) that point into a block.
 *
 * The module knows nothing of valgrind: it takes the blocks, the root regions and a function
 * that reads the halted process's memory. analysis/holders.c feeds it from memcheck; an engine
 * that tracks every live block another way can feed it the same.
 *
 * Every block gets one holder: of the root words that reach it, the one of the best region rank
 * (the program's globals before a library's, both before a stack, where stale words abound),
 * then the nearest, by allocation sites the path enters (walking between blocks of one site is
 * free: a list, a tree or a hash table of one site is as near as its entry), then the lowest
 * address (so a structure is not split between two words that reach it alike). The path kept
 * is the shortest from that word. Each block is counted once, for one holder: the shares of a
 * record's blocks add up to the blocks a root reaches. */
#ifndef LC_GRAPH_H
#define LC_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lc_gblock {
	uint64_t addr, size;
	unsigned site;              /* the caller's: blocks of one allocation stack share it */
	unsigned tag;               /* the caller's: its loss record, say */
};

struct lc_groot {
	uint64_t start, end;        /* [start, end): read whole, word by word */
	unsigned rank;              /* lower: preferred as a holder at equal distance */
};

/* Reads len bytes at addr of the process into buf: the count read, or -1. */
typedef long (*lc_gread_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

struct lc_gstep {
	size_t block;               /* the block reached */
	uint64_t from;              /* step 0: the root word's address; then the offset of the
	                             * pointer inside the previous block */
	uint64_t to_off;            /* where the pointer lands inside block (interior > 0) */
};

struct lc_graph;

/* Reads every block and root region and finds each block's holder. blocks may be in any
 * order and repeat (the first of one address is kept). NULL: out of memory. */
struct lc_graph *lc__graph_build(const struct lc_gblock *blocks, size_t nblocks, const struct lc_groot *roots,
				size_t nroots, lc_gread_fn read, void *ctx);
void lc__graph_free(struct lc_graph *g);

/* The blocks, sorted by address: indexes below are into this array. */
const struct lc_gblock *lc__graph_blocks(const struct lc_graph *g, size_t *n);
/* The block that contains addr, or -1. */
long lc__graph_find(const struct lc_graph *g, uint64_t addr);
/* Memory read (blocks and roots) and pointers found, for the report of costs. */
void lc__graph_stats(const struct lc_graph *g, uint64_t *bytes_read, size_t *edges, size_t *root_words);

/* Whether a root reaches block b; if so, the root word that holds it and the root region's index. */
bool lc__graph_holder(const struct lc_graph *g, size_t b, uint64_t *word, size_t *region);
/* Another root word that reached block b at the same rank and sites as its holder's (the tie
 * the word's address broke), as lc__graph_holder; false if none. */
bool lc__graph_alike(const struct lc_graph *g, size_t b, uint64_t *word, size_t *region);
/* How near its holder b is: sites entered, pointers followed (for choosing a typical block). */
void lc__graph_distance(const struct lc_graph *g, size_t b, unsigned *sites, unsigned *hops);
/* The path from b's holder to b, root side first; the count of steps (at most cap: the
 * steps nearest the root are kept), 0 if no root reaches b. */
size_t lc__graph_path(const struct lc_graph *g, size_t b, struct lc_gstep *out, size_t cap);
/* For a block no root reaches: the path to b from a block nothing points at (*ncycle = 0),
 * or from a cycle of unreached blocks (out[0..*ncycle) are its members, out[0]'s from is 0).
 * The count of steps, at most cap. */
size_t lc__graph_lost_path(struct lc_graph *g, size_t b, struct lc_gstep *out, size_t cap, size_t *ncycle);
/* The offset the blocks of site point at each other from most often, or -1. */
long lc__graph_linked_at(const struct lc_graph *g, unsigned site);
/* The blocks of site in the graph. */
unsigned long lc__graph_site_blocks(const struct lc_graph *g, unsigned site);

#endif

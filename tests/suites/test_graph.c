/* The heap graph (harness/analysis/graph.c) on memory images built here: the module takes
 * blocks, root regions and a reader, so a byte array laid out as a process would be is its
 * whole input. Each test states the shape and what the holders must be.
 *
 *   rank_before_distance     a stack word nearer a block than the global that holds it: the
 *                            global holds it
 *   structure_not_split      two globals reaching a doubly linked list of one site alike: one
 *                            of them holds every node (the lower), not half each
 *   nearest_by_sites         a block reached from two globals, directly and through another
 *                            site: the direct one holds it
 *   pointers_in_a_big_block  a table of pointers bigger than one read (2 MB): its entries are
 *                            edges, so its blocks are held through it
 *   interior_pointer         a word pointing 16 bytes inside a block reaches it
 *   lost_cycle               three blocks pointing round, nothing else at them: unreached, and
 *                            the lost path is the cycle, its three members
 *   lost_head                a lost block holding another: the path starts at the lost one */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/graph.h"

#define BASE 0x100000UL
#define SIZE (8UL << 20)

static unsigned char *mem; /* the image: address BASE + i is mem[i] */

static long read_image(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < BASE || addr - BASE >= SIZE)
		return -1;
	size_t n = addr - BASE + len > SIZE ? SIZE - (addr - BASE) : len;
	memcpy(buf, mem + (addr - BASE), n);
	return (long)n;
}

static void put(uint64_t at, uint64_t value)
{
	memcpy(mem + (at - BASE), &value, 8);
}

static void setup(void)
{
	mem = calloc(1, SIZE);
	cr_assert(mem);
}

static void teardown(void)
{
	free(mem);
}

TestSuite(graph, .init = setup, .fini = teardown);

/* The index of the block at addr. */
static size_t at(const struct lc_graph *g, uint64_t addr)
{
	long i = lc__graph_find(g, addr);
	cr_assert_geq(i, 0, "no block at 0x%lx", (unsigned long)addr);
	return (size_t)i;
}

static uint64_t holder_word(const struct lc_graph *g, uint64_t addr)
{
	uint64_t word = 0;
	size_t region;
	cr_assert(lc__graph_holder(g, at(g, addr), &word, &region), "block 0x%lx unreached", (unsigned long)addr);
	return word;
}

/* Memory: globals at BASE (region 0, rank 0), a stack at BASE + 0x1000 (rank 3), blocks from
 * BASE + 0x10000 on. */
#define GLOBALS BASE
#define STACK (BASE + 0x1000)
#define HEAP (BASE + 0x10000)

static const struct lc_groot roots[] = { { GLOBALS, GLOBALS + 0x100, 0 }, { STACK, STACK + 0x100, 3 } };

Test(graph, rank_before_distance)
{
	/* global -> A (site 1) -> B (site 2); the stack points at B directly */
	struct lc_gblock b[] = { { HEAP, 32, 1, 0 }, { HEAP + 64, 32, 2, 0 } };
	put(GLOBALS, HEAP);
	put(HEAP, HEAP + 64);
	put(STACK + 8, HEAP + 64);
	struct lc_graph *g = lc__graph_build(b, 2, roots, 2, read_image, NULL);
	cr_assert(g);
	cr_expect_eq(holder_word(g, HEAP + 64), GLOBALS, "B is held by the stack, not the global");
	struct lc_gstep st[8];
	size_t n = lc__graph_path(g, at(g, HEAP + 64), st, 8);
	cr_expect_eq(n, 2, "the path global -> A -> B has %zu steps", n);
	cr_expect_eq(st[0].from, GLOBALS, "the path starts at the global");
	lc__graph_free(g);
}

Test(graph, structure_not_split)
{
	/* a doubly linked list of 10 nodes of site 1 (next at +0, prev at +8); one global at the
	 * head, another at node 7 */
	struct lc_gblock b[10];
	for (int i = 0; i < 10; i++) {
		b[i] = (struct lc_gblock){ HEAP + 64 * (uint64_t)i, 48, 1, 0 };
		if (i < 9)
			put(HEAP + 64 * (uint64_t)i, HEAP + 64 * (uint64_t)(i + 1));
		if (i > 0)
			put(HEAP + 64 * (uint64_t)i + 8, HEAP + 64 * (uint64_t)(i - 1));
	}
	put(GLOBALS + 16, HEAP + 64 * 7);
	put(GLOBALS + 8, HEAP);
	struct lc_graph *g = lc__graph_build(b, 10, roots, 2, read_image, NULL);
	cr_assert(g);
	for (int i = 0; i < 10; i++)
		cr_expect_eq(holder_word(g, HEAP + 64 * (uint64_t)i), GLOBALS + 8, "node %d held by another word", i);
	cr_expect_eq(lc__graph_linked_at(g, 1), 0, "linked through +%ld", lc__graph_linked_at(g, 1));
	lc__graph_free(g);
}

Test(graph, nearest_by_sites)
{
	/* G1 -> X (site 1) -> C (site 2); G2 -> C: C is G2's */
	struct lc_gblock b[] = { { HEAP, 32, 1, 0 }, { HEAP + 64, 32, 2, 0 } };
	put(GLOBALS, HEAP);
	put(HEAP, HEAP + 64);
	put(GLOBALS + 8, HEAP + 64);
	struct lc_graph *g = lc__graph_build(b, 2, roots, 2, read_image, NULL);
	cr_assert(g);
	cr_expect_eq(holder_word(g, HEAP + 64), GLOBALS + 8);
	cr_expect_eq(holder_word(g, HEAP), GLOBALS);
	lc__graph_free(g);
}

Test(graph, pointers_in_a_big_block)
{
	/* a 2 MB table (site 1) whose last entry points at a block of site 2 */
	uint64_t table = HEAP, big = 2UL << 20, last = HEAP + big + 64;
	struct lc_gblock b[] = { { table, big, 1, 0 }, { last, 32, 2, 0 } };
	put(GLOBALS, table);
	put(table + big - 8, last);
	struct lc_graph *g = lc__graph_build(b, 2, roots, 2, read_image, NULL);
	cr_assert(g);
	cr_expect_eq(holder_word(g, last), GLOBALS, "the block the table's last entry points at is unreached");
	lc__graph_free(g);
}

Test(graph, interior_pointer)
{
	struct lc_gblock b[] = { { HEAP, 64, 1, 0 } };
	put(GLOBALS, HEAP + 16);
	struct lc_graph *g = lc__graph_build(b, 1, roots, 2, read_image, NULL);
	cr_assert(g);
	struct lc_gstep st[2];
	cr_assert_eq(lc__graph_path(g, 0, st, 2), 1);
	cr_expect_eq(st[0].to_off, 16, "the pointer lands %lu bytes in", (unsigned long)st[0].to_off);
	lc__graph_free(g);
}

Test(graph, lost_cycle)
{
	/* A -> B -> C -> A, sites 1, 2, 3, no root at them */
	struct lc_gblock b[] = { { HEAP, 32, 1, 0 }, { HEAP + 64, 32, 2, 0 }, { HEAP + 128, 32, 3, 0 } };
	put(HEAP, HEAP + 64);
	put(HEAP + 64, HEAP + 128);
	put(HEAP + 128, HEAP);
	struct lc_graph *g = lc__graph_build(b, 3, roots, 2, read_image, NULL);
	cr_assert(g);
	uint64_t w;
	size_t r, ncycle;
	cr_expect(!lc__graph_holder(g, 0, &w, &r), "a lost block has a holder");
	struct lc_gstep st[8];
	size_t n = lc__graph_lost_path(g, 0, st, 8, &ncycle);
	cr_expect_eq(n, 3, "lost path of %zu steps", n);
	cr_expect_eq(ncycle, 3, "cycle of %zu members", ncycle);
	for (size_t i = 0; i + 1 < n; i++) /* each member points at the next */
		cr_expect_eq(st[i + 1].block, (st[i].block + 1) % 3, "step %zu: %zu then %zu", i, st[i].block, st[i + 1].block);
	lc__graph_free(g);
}

Test(graph, lost_head)
{
	/* a lost block L (site 1) holding M (site 2) */
	struct lc_gblock b[] = { { HEAP, 32, 1, 0 }, { HEAP + 64, 32, 2, 0 } };
	put(HEAP + 8, HEAP + 64);
	struct lc_graph *g = lc__graph_build(b, 2, roots, 2, read_image, NULL);
	cr_assert(g);
	struct lc_gstep st[8];
	size_t ncycle;
	size_t n = lc__graph_lost_path(g, 1, st, 8, &ncycle);
	cr_expect_eq(n, 2);
	cr_expect_eq(ncycle, 0);
	cr_expect_eq(st[0].block, 0, "the path starts at the lost head");
	cr_expect_eq(st[1].from, 8, "through its word at +8, not +%lu", (unsigned long)st[1].from);
	lc__graph_free(g);
}

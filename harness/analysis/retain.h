/* Name the holder: for a growing allocation site, a path from a root (a global or static data
 * symbol, a thread's stack or registers) to its blocks, or the cycle they form when nothing
 * outside holds them. Built from memcheck's monitor commands on the halted process:
 *
 *   leak_check full reachable any   every loss record, numbered, with its allocation stack
 *   block_list NR                   the blocks of record NR ("0x4A45990[80]")
 *   who_points_at ADDR LEN          every pointer into [ADDR, ADDR+LEN), each described:
 *                                   a data symbol, a thread's stack, or a block and its stack
 *
 * A site's blocks are searched together, never one at a time: the first and the last block
 * (by address) first, then, if only the site's own blocks point at them (a linked list), the
 * whole address span at once. So a list of 1,000 connections costs the same few commands as
 * one, and is reported as "x1000, linked through +32". The search is memoised per site, so
 * sites held through the same object share one search. */
#ifndef LC_RETAIN_H
#define LC_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valgrind/vgdb.h"

/* Runs one monitor command on the halted process: *text gets its output (malloc'd). */
typedef int (*lc_monitor_fn)(void *ctx, const char *cmd, char **text, char *err, size_t errlen);

/* Search a holder for each of sites[0..n) into out[0..n), with at most max_calls commands in
 * all. alloc_fns (NULL-terminated, may be NULL) are wrappers to skip when naming a site.
 * Returns the number of commands run. */
unsigned lc_retain_search(lc_monitor_fn run, void *ctx, const struct lc_site *sites, size_t n,
			  const char *const *alloc_fns, struct lc_retainer *out, unsigned max_calls);


/* The holders of sites[0..n) from the heap graph (analysis/graph.h) of process pid, halted:
 * every block and root region read, each growing record's blocks counted for the root nearest
 * them (out[i].holders, ranked), and the path from the top holder to the nearest of them. The
 * blocks are those new since the snapshot before (missing from before, when it listed the
 * record), else all the record's.
 * *calls gets the commands run. Returns 0, or -1 with a reason (the memory cannot be read). */
struct lc_seen;
int lc_holders_search(lc_monitor_fn run, void *ctx, int pid, const struct lc_seen *before, const struct lc_site *sites,
		      size_t n, const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls, char *err,
		      size_t errlen);

/* The same natively: the blocks of the allocator preload (preload/lcalloc.h), found in process
 * pid's memory by their headers; the record of site slot k from name (a symbolized site). */
typedef const struct lc_record *(*lc_slot_name_fn)(void *ctx, uint32_t slot);
int lc_holders_native(int pid, lc_slot_name_fn name, void *ctx, const struct lc_site *sites, size_t n,
		      const char *const *alloc_fns, struct lc_retainer *out, char *err, size_t errlen);

/* For each process of rep that leaks, who holds each site that grew by the byte rule's floor
 * at least, searched through the engine's monitor commands (none: nothing searched); a site
 * whose growth was freed since the snapshot is dropped from the growing sites. */
struct lc_engine;
struct lc_report;
void lc_retain_report(struct lc_engine *e, struct lc_report *rep, const char *const *alloc_fns);


#endif

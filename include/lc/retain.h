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

#include "lc/vgdb.h"

enum lc_root_kind { LC_ROOT_UNKNOWN, LC_ROOT_GLOBAL, LC_ROOT_STACK, LC_ROOT_CYCLE };

#define LC_MAX_CHAIN 6
#define LC_MAX_ALLOC_FNS 8

struct lc_link {                /* one step of the path: the blocks of one allocation site */
	struct lc_frame at;         /* the site (allocators and --alloc-fn wrappers skipped) */
	long offset;                /* where the pointer that holds them lands inside (interior > 0) */
	unsigned long count;        /* blocks of the site */
	long linked_at;             /* the site's blocks point at each other from this offset, or -1 */
};

struct lc_retainer {
	bool searched;
	bool gone;                  /* the site no longer holds what it grew by (freed since the
	                             * snapshot: frees that settling waited out): not a growing site */
	enum lc_root_kind kind;
	char root[128];             /* the data symbol, "thread 2's stack", or "" */
	struct lc_link chain[LC_MAX_CHAIN]; /* from the root's side to the growing site; for a
	                                     * cycle, its members, then the sites they hold */
	size_t nchain;
	size_t ncycle;              /* LC_ROOT_CYCLE: chain[0..ncycle) are the cycle's members */
	char note[160];             /* why a search ended without a root, or "" */
};

/* Runs one monitor command on the halted process: *text gets its output (malloc'd). */
typedef int (*lc_monitor_fn)(void *ctx, const char *cmd, char **text, char *err, size_t errlen);

/* Search a holder for each of sites[0..n) into out[0..n), with at most max_calls commands in
 * all. alloc_fns (NULL-terminated, may be NULL) are wrappers to skip when naming a site.
 * Returns the number of commands run. */
unsigned lc_retain_search(lc_monitor_fn run, void *ctx, const struct lc_site *sites, size_t n,
			  const char *const *alloc_fns, struct lc_retainer *out, unsigned max_calls);

/* One line: "all_conns (data symbol) -> block at conn_new leaky.c:68 (+32, x600, linked
 * through +32) -> block at conn_new leaky.c:75 (x600)". */
void lc_retainer_text(const struct lc_retainer *r, char *buf, size_t len);

/* For each process of rep that leaks, who holds each site that grew by the byte rule's floor
 * at least, searched through the engine's monitor commands (none: nothing searched); a site
 * whose growth was freed since the snapshot is dropped from the growing sites. */
struct lc_engine;
struct lc_report;
void lc_retain_report(struct lc_engine *e, struct lc_report *rep, const char *const *alloc_fns);

/* "global", "stack", "cycle", "unknown": the JSON's root_kind. */
const char *lc_root_kind_name(enum lc_root_kind k);

#endif

/* The heap graph's input (analysis/holders.h's struct lc_heap), gathered from a live process
 * by the engine that measures it:
 *   memcheck  the halted process's loss records, block_list 1..M and thread stacks (three
 *             monitor commands), its memory read from /proc/PID/mem
 *   native    the allocator preload's blocks, found in the process's memory by their headers
 * and, for both, the root regions of /proc/PID/maps and data symbols named with libdw. */
#ifndef LC_ENGINES_HEAP_H
#define LC_ENGINES_HEAP_H

#include <stdint.h>

#include "analysis/holders.h"

struct lc_symbols;

/* Runs one monitor command on the halted process: *text gets its output (malloc'd). */
typedef int (*lc_monitor_fn)(void *ctx, const char *cmd, char **text, char *err, size_t errlen);
/* The record of the preload's site slot, or NULL (not named yet). */
typedef const struct lc_record *(*lc_slot_name_fn)(void *ctx, uint32_t slot);

struct lc_heap_proc {
	struct lc_heap heap;        /* what the holder search reads */
	int pid;
	int mem;                    /* owned: /proc/PID/mem, -1 */
	struct lc_symbols *sym;     /* owned: names data symbols, or NULL */
	char err[200];
};

/* A heap of process pid to gather into (kinds: memcheck's records have kinds). NULL: out of
 * memory or its memory cannot be opened (err says which). */
struct lc_heap_proc *lc__heap_proc_open(int pid, bool kinds, const char *const *alloc_fns, char *err, size_t errlen);
/* Memcheck's records, blocks and thread stacks through run (the process halted), then the
 * root regions. 0, or -1 with p->err. */
int lc__heap_gather_memcheck(struct lc_heap_proc *p, lc_monitor_fn run, void *ctx);
/* The preload's blocks (records named by name), then the root regions. 0, or -1 with p->err. */
int lc__heap_gather_native(struct lc_heap_proc *p, lc_slot_name_fn name, void *ctx);
void lc__heap_proc_close(struct lc_heap_proc *p);

#endif

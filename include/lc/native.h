/* The native engine: the server runs as it is (no valgrind), and each snapshot reads what the
 * kernel knows of its processes: anonymous memory (Anonymous + Swap of /proc/PID/smaps_rollup:
 * heap, stacks, anonymous mappings, where a leak grows; not RSS, which library pages move, and
 * not USS, which a forked child's copy-on-write sharing hides: native.c), open fds and threads;
 * and, with --stats, a counter the server reports itself (the analog of Python's
 * sys.getrefcount or a count of gc.get_objects()).
 *
 * Its limits, which the report states: memory moves in pages and an allocator keeps freed
 * memory for reuse, so growth below the noise floor (at least a page per round) cannot be
 * seen; the detection limit is that floor over the connections of a round. */
#ifndef LC_NATIVE_H
#define LC_NATIVE_H

#include <stddef.h>

#include "lc/vgdb.h"

/* The native engine's defaults: it drives ~7k connections a second here (client and server
 * on 2 cores), so a round of 500 takes ~70 ms and puts a leak of 16 bytes per connection two
 * pages above the floor; a leak of a few hundred bytes is dozens of pages. Settling keeps
 * memcheck's 0.5 s: natively nothing shrinks when a deferred free comes (the allocator keeps
 * the memory), but the next round reuses it; with 0.05 s a server freeing each connection
 * 300 ms after its close (tests/shapes.c deferred) grew in every round and was called leaky. */
#define NAT_CYCLES 500
#define NAT_WARMUP 50

/* One snapshot of process pid: anonymous memory into bytes[LC_REACHABLE] (no blocks: natively there are
 * none to count), fds and threads. Returns 0, or -1 with a reason (the process is gone). */
int nat_measure(int pid, struct lc_snapshot *snap, char *err, size_t errlen);

/* The noise floor of pid's memory, measured: the spread (max - min) of n idle re-samples
 * gap_ms apart. Returns bytes, or -1 when pid cannot be read. */
long nat_noise(int pid, int n, int gap_ms);

/* The byte rule's floor per round for the processes pids, from their noise (5 idle
 * re-samples 5 ms apart each): twice the largest spread, at least a page. *noise gets that
 * largest spread. */
unsigned long nat_floor(const int *pids, size_t n, unsigned long *noise);

/* Send req (len bytes) on fd and read lines until the extended regex field (group 1: the
 * number) matches one, within timeout seconds. Returns 0 with *value, or -1 with a reason. */
int nat_stats(int fd, const char *req, size_t len, const char *field, double timeout, long *value, char *err,
	      size_t errlen);

#endif

/* The native engine's measurements (native.c), for the engine and for make bench. */
#ifndef LC_NATIVE_H
#define LC_NATIVE_H

#include <stddef.h>

#include "lc/leakcheck.h"

/* One snapshot of process pid: anonymous memory into bytes[LC_REACHABLE] (no blocks: natively
 * there are none to count), fds and threads. Returns 0, or -1 with a reason (the process is
 * gone). */
int lc__native_measure(int pid, struct lc_snapshot *snap, char *err, size_t errlen);

/* The noise floor of pid's memory, measured: the spread (max - min) of n idle re-samples
 * gap_ms apart. Returns bytes, or -1 when pid cannot be read. */
long lc__native_noise(int pid, int n, int gap_ms);

/* The byte rule's floor per round for the processes pids, from their noise (5 idle
 * re-samples 5 ms apart each): twice the largest spread, at least a page. *noise gets that
 * largest spread. */
unsigned long lc__native_floor(const int *pids, size_t n, unsigned long *noise);

/* The allocator preload, liblcalloc.so: $LEAKCHECK_PRELOAD, else LC_PRELOAD_REL from the
 * folder of the running program (build/harness/ and PREFIX/bin/ alike). 0 with its path in
 * out, or -1 (out ""): not found. */
int lc__native_preload(char *out, size_t len);

#endif

/* The shared mapping the allocator preload (lcalloc.c) writes and the native engine reads
 * (engines/native.c): one file per process, DIR/alloc.PID, DIR from LC_ALLOC_DIR. A fixed-size
 * header with the live totals, then a table of allocation sites keyed by a hash of a few return
 * addresses. The preload updates the counters with atomics; the harness maps the file read-only
 * at each snapshot and never stops the server. Private: both sides are built from this tree. */
#ifndef LC_ALLOC_H
#define LC_ALLOC_H

#include <stdint.h>

#define LC_ALLOC_MAGIC "lcalloc5"     /* 8 bytes: layout changes change the digit */
#define LC_ALLOC_SITES 32768          /* slots of the site table, a power of two: stacks walked
                                       * through glibc make many (CPython importing json,
                                       * http.server, asyncio, email and urllib: 10,641) */
#define LC_ALLOC_DEPTH 6              /* return addresses per site */
#define LC_ALLOC_OTHER 0              /* the slot of allocations with no site: the table full, or
                                       * made while the preload unwinds (its own bootstrap) */
#define LC_ALLOC_ENV "LC_ALLOC_DIR"   /* the folder the harness gives the preload */
#define LC_ALLOC_UNWIND_ENV "LC_ALLOC_UNWIND" /* "fp" or "cfi": one walk alone (make bench) */

/* The header in front of each block the preload returns (16 bytes: malloc's alignment kept).
 * The harness finds live blocks in the process's memory by it: a free clears size_tag. */
#define LC_ALLOC_HDR 16u
#define LC_ALLOC_TAG (0xa11cull << 48)      /* in size_tag's top bits: a block of ours */
#define LC_ALLOC_SIZE_MASK ((1ull << 48) - 1)
#define LC_ALLOC_NO_SITE 0xffffffffu        /* allocated before the mapping existed */

struct lc_alloc_hdr {
	uint64_t size_tag;            /* LC_ALLOC_TAG | the size asked for; 0 once freed */
	uint32_t site;                /* slot in the site table, or LC_ALLOC_NO_SITE */
	uint32_t off;                 /* user pointer - what the real allocator returned */
};

/* Which function allocated: frames[0] of a site, as memcheck names it. */
enum lc_alloc_fn { LC_FN_MALLOC, LC_FN_CALLOC, LC_FN_REALLOC, LC_FN_MEMALIGN, LC_FN_POSIX_MEMALIGN,
		   LC_FN_ALIGNED_ALLOC, LC_FN_VALLOC, LC_FN_PVALLOC, LC_FN_REALLOCARRAY, LC_FN_COUNT };

struct lc_alloc_site {
	uint64_t key;                 /* hash of fn and frames; 0: a free slot */
	uint32_t ready;               /* fn and frames written: the reader may use them */
	uint32_t fn;                  /* enum lc_alloc_fn */
	uint64_t frames[LC_ALLOC_DEPTH]; /* return addresses, the allocator's caller first; 0 ends */
	int64_t blocks, bytes;        /* live blocks and bytes allocated here */
};

struct lc_alloc_map {
	char magic[8];                /* LC_ALLOC_MAGIC once the file is set up */
	int32_t pid;                  /* the process that writes it */
	uint64_t exec_id;             /* lc_alloc_exec_id of the program that made it: after an exec
	                               * into a program the preload is not in (a static binary, an
	                               * environment cleared of LD_PRELOAD) the process's own
	                               * differs, and the file's counts are another program's */
	uint32_t nused;               /* slots claimed so far: used[0..nused) */
	int64_t blocks, bytes;        /* live totals of the process */
	uint64_t full;                /* allocations counted under LC_ALLOC_OTHER: the table was full */
	uint32_t used[LC_ALLOC_SITES];/* the claimed slots, in claim order: a forked child copies
	                               * these, not the whole table */
	struct lc_alloc_site sites[LC_ALLOC_SITES];
};

/* Which program image a process runs: a mix of its auxiliary vector's AT_RANDOM, AT_ENTRY,
 * AT_PHDR and AT_BASE, which the kernel sets afresh at each exec. The preload reads its own
 * (getauxval), the harness the process's /proc/PID/auxv. */
static inline uint64_t lc_alloc_exec_id(uint64_t random, uint64_t entry, uint64_t phdr, uint64_t base)
{
	uint64_t v[4] = { random, entry, phdr, base }, h = 0x84222325cbf29ce4ull;
	for (int i = 0; i < 4; i++) {
		h ^= v[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

#endif

/* The heap graph's input from a live process: see heap.h.
 *
 * Under memcheck, three monitor commands and the process's memory, read from outside while it
 * is halted:
 *   leak_check full reachable any   every loss record, numbered, with its allocation stack
 *   block_list 1..M                 every live block: "0xADDR[SIZE]" under its record's header
 *   v.info scheduler                each thread's "client stack range: [A B] client SP: S"
 * The guest's memory is the valgrind process's own, at the same addresses: /proc/PID/mem reads
 * it (the harness started the process, so it may). The root regions are the writable mappings
 * of /proc/PID/maps that are the guest's: below the tool's own load address, not valgrind's
 * files, not the client heap (a mapping that holds blocks, or valgrind's rwx arenas), and each
 * thread's stack from its stack pointer up (below it, only dead frames).
 *
 * Natively, the preload's blocks are found by their headers (preload/lcalloc.h) in the heap's
 * mappings, read while the server is idle between rounds. */
#define _GNU_SOURCE
#include "engines/heap.h"

#include "engines/symbols.h"
#include "preload/lcalloc.h"
#include "valgrind/vgdb.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RED_ZONE 128            /* the amd64 ABI's: a leaf function's locals below SP */

static int command(struct lc_heap_proc *s, lc_monitor_fn run, void *ctx, const char *cmd, char **text)
{
	return run(ctx, cmd, text, s->err, sizeof s->err);
}

static void add_rec(const struct lc_site *site, void *arg)
{
	struct lc_heap_proc *s = arg;
	if (site->nr > 0)
		lc__heap_set_rec(&s->heap, site->nr - 1, &site->rec);
}

/* block_list 1..M: each block under its record's header ("... in loss record N of M"); the
 * indented "indirect loss record" lines under a definite block are listed in their own record. */
static int list_blocks(struct lc_heap_proc *s, lc_monitor_fn run, void *ctx)
{
	char cmd[64], line[512], *text = NULL;
	snprintf(cmd, sizeof cmd, "block_list 1..%zu", s->heap.nrecs);
	if (command(s, run, ctx, cmd, &text) < 0)
		return -1;
	unsigned nr = 0;
	for (const char *p = text; lc__vgdb_next_line(&p, line, sizeof line);) {
		const char *at = strstr(line, " in loss record ");
		unsigned long addr, size;
		if (at) {
			nr = (unsigned)strtoul(at + 16, NULL, 10);
		} else if (nr >= 1 && nr <= s->heap.nrecs && sscanf(line, "0x%lx[%lu]", &addr, &size) == 2) {
			if (lc__heap_add_block(&s->heap, addr, size, nr - 1) < 0)
				break;
		}
	}
	free(text);
	return 0;
}

/* The threads' stacks, from their stack pointer (less the red zone) to their top. */
static int add_stacks(struct lc_heap_proc *s, lc_monitor_fn run, void *ctx)
{
	char line[512], *text = NULL, name[48] = "";
	if (command(s, run, ctx, "v.info scheduler", &text) < 0)
		return -1;
	for (const char *p = text; lc__vgdb_next_line(&p, line, sizeof line);) {
		unsigned tid;
		unsigned long lo, hi, sp;
		if (sscanf(line, "Thread %u:", &tid) == 1)
			snprintf(name, sizeof name, "thread %u's stack", tid);
		else if (sscanf(line, "client stack range: [0x%lx 0x%lx] client SP: 0x%lx", &lo, &hi, &sp) == 3 && name[0])
			lc__heap_add_root(&s->heap, sp - RED_ZONE > lo && sp <= hi ? sp - RED_ZONE : lo, hi + 1, LC_ROOT_STACK, 3, name, 0);
	}
	free(text);
	return 0;
}

/* The guest's writable mappings but the stacks (added apart) and the heap. */
static int add_mappings(struct lc_heap_proc *s)
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
	size_t nstacks = s->heap.nroots;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8], file[512] = "";
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511[^\n]", &lo, &hi, perms, file) < 3)
			continue;
		if (strcmp(file, "[stack]") == 0 && lo < tool) { /* natively: the main thread's */
			lc__heap_add_root(&s->heap, lo, hi, LC_ROOT_STACK, 3, "thread 1's stack", 0);
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
			if (s->heap.roots[i].g.start < hi && s->heap.roots[i].g.end > lo)
				goto next;
		if (lc__heap_holds_blocks(&s->heap, lo, hi))
			continue;
		char name[96];
		const char *mod = strrchr(owner, '/');
		if (anon && !bss)
			snprintf(name, sizeof name, "anonymous memory at 0x%lx", lo);
		else
			snprintf(name, sizeof name, "data of %.80s", mod ? mod + 1 : owner);
		lc__heap_add_root(&s->heap, lo, hi, anon && !bss ? LC_ROOT_MAPPING : LC_ROOT_GLOBAL,
			 anon && !bss ? 2 : strcmp(owner, prog) == 0 ? 0 : 1, name, module_at);
next:;
	}
	fclose(f);
	return 0;
}

static long read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct lc_heap_proc *s = ctx;
	ssize_t n = pread(s->mem, buf, len, (off_t)addr);
	return n < 0 ? -1 : (long)n;
}

static int open_mem(struct lc_heap_proc *s)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", s->pid);
	s->mem = open(path, O_RDONLY | O_CLOEXEC);
	if (s->mem < 0)
		snprintf(s->err, sizeof s->err, "cannot read %s", path);
	return s->mem < 0 ? -1 : 0;
}

/* The root regions, once the blocks are in (a mapping that holds blocks is the heap). */
static int roots(struct lc_heap_proc *s)
{
	if (add_mappings(s) == 0)
		return 0;
	snprintf(s->err, sizeof s->err, "cannot read /proc/%d/maps", s->pid);
	return -1;
}

int lc__heap_gather_memcheck(struct lc_heap_proc *p, lc_monitor_fn run, void *ctx)
{
	char *text = NULL;
	if (command(p, run, ctx, "leak_check full reachable any", &text) < 0 || lc__vgdb_records(text, add_rec, p) < 0) {
		free(text);
		return -1;
	}
	free(text);
	return list_blocks(p, run, ctx) < 0 || add_stacks(p, run, ctx) < 0 ? -1 : roots(p);
}

/* The preload's headers in [lo, hi) of the process's memory: each a live block (a free clears
 * its header), named by its site slot. */
static void scan_headers(struct lc_heap_proc *s, uint64_t lo, uint64_t hi, lc_slot_name_fn name, void *ctx, unsigned char *buf)
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
			if (!lc__heap_has_rec(&s->heap, tag)) {
				static const struct lc_record before = { .nframes = 1, .frames = { { .fn = "(allocated before the preload)" } } };
				const struct lc_record *r = tag == LC_ALLOC_SITES ? &before : name(ctx, tag);
				if (!r)
					continue;
				lc__heap_set_rec(&s->heap, tag, r);
				if (tag >= s->heap.nrecs)
					continue;
			}
			if (lc__heap_add_block(&s->heap, user, size, tag) < 0)
				return;
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
int lc__heap_gather_native(struct lc_heap_proc *s, lc_slot_name_fn name, void *ctx)
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
	qsort(s->heap.blocks, s->heap.nblocks, sizeof *s->heap.blocks, by_addr);
	size_t kept = 0;
	for (size_t i = 0; i < s->heap.nblocks; i++)
		if (kept == 0 || s->heap.blocks[i].addr >= s->heap.blocks[kept - 1].addr + s->heap.blocks[kept - 1].size)
			s->heap.blocks[kept++] = s->heap.blocks[i];
	s->heap.nblocks = kept;
	return roots(s);
}

static bool name_data(void *ctx, uint64_t word, uint64_t module_at, char *name, size_t len, uint64_t *start)
{
	struct lc_heap_proc *s = ctx;
	if (!s->sym)
		s->sym = lc__symbols_open(s->pid);
	return lc__symbols_data(s->sym, word, module_at, name, len, start);
}

struct lc_heap_proc *lc__heap_proc_open(int pid, bool kinds, const char *const *alloc_fns, char *err, size_t errlen)
{
	struct lc_heap_proc *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->pid = pid;
	s->heap.kinds = kinds;
	s->heap.alloc_fns = alloc_fns;
	s->heap.read = read_mem;
	s->heap.read_ctx = s;
	s->heap.name_data = name_data;
	s->heap.name_ctx = s;
	if (open_mem(s) < 0) {
		snprintf(err, errlen, "%s", s->err);
		free(s);
		return NULL;
	}
	return s;
}

void lc__heap_proc_close(struct lc_heap_proc *s)
{
	if (!s)
		return;
	if (s->mem >= 0)
		close(s->mem);
	lc__symbols_close(s->sym);
	lc__heap_clear(&s->heap);
	free(s);
}

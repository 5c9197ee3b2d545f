/* liblcalloc.so: the native engine's allocator preload. LD_PRELOADed into the server and into
 * every process it forks or execs (LD_PRELOAD is inherited), it interposes the allocator
 * (malloc, calloc, realloc, free, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * reallocarray, malloc_usable_size) and counts live blocks and bytes, in all and per call site,
 * into DIR/alloc.PID (lcalloc.h; DIR from LC_ALLOC_DIR), a shared mapping the harness reads at
 * each snapshot without stopping the server. Without LC_ALLOC_DIR it only passes calls on.
 *
 * Each block carries a 16-byte header in front of it (its size, its site, the distance back to
 * what the real allocator returned), so free knows what to subtract without a lock or a table
 * of live pointers; aligned allocations are over-allocated from the real malloc and aligned
 * inside, so only malloc, calloc, realloc and free are needed from below.
 *
 * A site is the allocating function and up to LC_ALLOC_DEPTH return addresses: the first from
 * __builtin_return_address, the rest from a walk of this thread's stack (unwind()). glibc keeps
 * no frame pointer, so a walk of frame pointers alone stopped inside it: every strdup of a
 * server was one site, "__strdup" with no caller. So the walk reads DWARF call frame
 * information (libgcc's unwinder), and keeps the cheap frame-pointer walk where that unwinder
 * found every function on the way keeps its frame pointer, and a replay of its walks where
 * none does. Sites are slots of an open-addressed table claimed with a compare-and-swap; counters
 * are atomics: no lock anywhere, so none is held across fork. A new process gets a file of its
 * own, a copy of its parent's counts (it inherited those blocks), however it was made: fork()
 * runs pthread_atfork's handlers, a raw clone() none, so each allocation and free first checks
 * a flag on a page the kernel zeroes in every child (MADV_WIPEONFORK, Linux 4.14): one load.
 * exec runs the constructor again in the new program. dlsym's own allocations (the bootstrap)
 * come from a static buffer, and any allocation made while a site is being found
 * (pthread_getattr_np's, or the unwinder's for frames a JIT registered) counts under
 * LC_ALLOC_OTHER instead of unwinding again. */
#define _GNU_SOURCE
#include "lcalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

#define HDR LC_ALLOC_HDR              /* the header (lcalloc.h) */
#define TAG LC_ALLOC_TAG
#define SIZE_MASK LC_ALLOC_SIZE_MASK
#define NO_SITE LC_ALLOC_NO_SITE      /* allocated before the mapping existed: never counted */
#define MAX_HOP (256u * 1024)         /* a frame larger than this ends the walk */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static size_t (*real_usable)(void *);

static struct lc_alloc_map *map;      /* owned: this process's shared file, or NULL */
/* owned: a page the kernel zeroes in a child (MADV_WIPEONFORK); its first word is 1 in the
 * process that made map, 0 in a child that has not taken a file of its own yet. NULL where the
 * kernel has no MADV_WIPEONFORK: pthread_atfork alone then (fork, not a raw clone). */
static volatile int *owner;
static TLS int busy;                  /* finding a site: allocations now are not unwound */
static TLS uintptr_t stack_hi;        /* this thread's stack top, 1 if unknown */
static TLS uintptr_t stack_lo;        /* and its base */
/* How a site's stack is found (LC_ALLOC_UNWIND: "fp", "cfi", or unset: both): unwind() */
static enum { WALK_BOTH, WALK_FP, WALK_CFI } walk;

static char boot[16384] __attribute__((aligned(16))); /* dlsym's allocations, never freed */
static size_t boot_used;

extern void *__libc_stack_end;

static bool in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void *boot_alloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	size_t at = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
	return at + need <= sizeof boot ? boot + at : NULL; /* zeroed: static storage, never reused */
}

/* dlsym may allocate: those calls see real_malloc still NULL and take boot_alloc. */
static void resolve(void)
{
	static int resolving;
	if (__atomic_load_n(&real_malloc, __ATOMIC_ACQUIRE) || __atomic_exchange_n(&resolving, 1, __ATOMIC_ACQ_REL))
		return;
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_usable = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	__atomic_store_n(&real_malloc, (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc"), __ATOMIC_RELEASE);
}

static void adopt(void);

/* A process made without pthread_atfork's handlers (a raw clone()) still writes its parent's
 * file until it takes its own: before anything is counted or a site claimed. */
static inline void check_owner(void)
{
	if (__builtin_expect(owner && !*owner && map, 0))
		adopt();
}

static void count(uint32_t site, int64_t blocks, int64_t bytes)
{
	check_owner();
	struct lc_alloc_map *m = map;
	if (!m || site == NO_SITE)
		return;
	__atomic_fetch_add(&m->blocks, blocks, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->bytes, bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->sites[site].blocks, blocks, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->sites[site].bytes, bytes, __ATOMIC_RELAXED);
}

/* This thread's stack top: the main thread's from __libc_stack_end, another's from its
 * attributes, with its base (pthread_getattr_np allocates: busy is set, so that counts without
 * unwinding). The main thread's base is left 64 MB below: its stack grows, and nothing else is
 * mapped that near the top of the address space. */
static uintptr_t stack_top(void)
{
	if (stack_hi)
		return stack_hi;
	stack_hi = 1;
	if (gettid() == getpid()) {
		stack_hi = (uintptr_t)__libc_stack_end;
		stack_lo = stack_hi - (64u << 20);
	} else {
		pthread_attr_t a;
		void *addr;
		size_t size;
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &addr, &size) == 0) {
				stack_lo = (uintptr_t)addr;
				stack_hi = (uintptr_t)addr + size;
			}
			pthread_attr_destroy(&a);
		}
	}
	return stack_hi;
}

/* Whether the function a return address lies in keeps its frame pointer there, as the CFI walk
 * found it (its CFA is rbp + 16): the frame-pointer walk may step through it, and gives what the
 * CFI walk would. A table of words, ip << 1 | kept, claimed with a compare-and-swap: no lock, and
 * a full table only means more CFI walks. A forked child inherits it with the same code. */
#define KEPT_SLOTS 16384u
static uint64_t kept_table[KEPT_SLOTS];
enum kept { KEPT_UNKNOWN, KEPT_NO, KEPT_YES };

static uint32_t kept_slot(uintptr_t ip)
{
	return (uint32_t)((ip * 0x9e3779b97f4a7c15ull) >> 40) & (KEPT_SLOTS - 1);
}

static enum kept kept_find(uintptr_t ip)
{
	for (uint32_t i = kept_slot(ip), probe = 0; probe < 8; probe++, i = (i + 1) & (KEPT_SLOTS - 1)) {
		uint64_t w = __atomic_load_n(&kept_table[i], __ATOMIC_RELAXED);
		if (w >> 1 == ip)
			return w & 1 ? KEPT_YES : KEPT_NO;
		if (!w)
			break;
	}
	return KEPT_UNKNOWN;
}

static void kept_learn(uintptr_t ip, bool kept)
{
	uint64_t want = (uint64_t)ip << 1 | kept;
	for (uint32_t i = kept_slot(ip), probe = 0; probe < 8; probe++, i = (i + 1) & (KEPT_SLOTS - 1)) {
		uint64_t w = 0;
		if (__atomic_compare_exchange_n(&kept_table[i], &w, want, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED) ||
		    w >> 1 == ip)
			return;
	}
}

/* The frame-pointer walk: ret0, then the chain from frame (the interposed function's own frame),
 * while each next frame lies above the last, within MAX_HOP, and below hi, the stack's top. A
 * function without a frame pointer (all of glibc) ends it, or makes it skip its caller: known
 * asks that each step go through a function the CFI walk saw keep one, and gives 0 otherwise. */
static size_t unwind_fp(uint64_t *out, const void *ret0, const void *frame, uintptr_t hi, bool known)
{
	size_t n = 0;
	uintptr_t lo = (uintptr_t)frame;
	out[n++] = (uintptr_t)ret0;
	const uintptr_t *fp = (const uintptr_t *)((const uintptr_t *)frame)[0];
	while (n < LC_ALLOC_DEPTH) {
		uintptr_t at = (uintptr_t)fp;
		if (known && kept_find(out[n - 1]) != KEPT_YES)
			return 0;
		if ((at & 7) || at <= lo || at - lo > MAX_HOP || at + 16 > hi || fp[1] < 4096)
			break;
		out[n++] = fp[1];
		lo = at;
		fp = (const uintptr_t *)fp[0];
	}
	return n;
}

/* CFI walks that may be replayed: a walk is a function of where its first return address lies
 * (slot[0], just above the interposed function's frame) and what each return address is, where
 * every function it steps through has a frame of one size at its call (no frame pointer: a
 * function that allocas or realigns its stack keeps one). So a walk whose return addresses all
 * still lie where it found them is the walk the CFI would make again: a few loads, where the CFI
 * walk costs a microsecond (a server without frame pointers, as Debian builds them, would pay it
 * on every allocation: make bench, section 9b). One table for the process, not one a thread: a
 * thread per connection starts cold, but runs on the stack its predecessor left (glibc reuses
 * them), at the same addresses. Each entry is a seqlock (odd while written): a reader that saw
 * it change drops what it read, a fork in the middle of a write only loses that entry. A slot
 * is read only between this frame and the thread's stack top, so no read can fault. */
#define MEMO_SETS 256u
#define MEMO_WAYS 4u                  /* walks of one slot[0] and ret0 each set holds */
struct memo {
	uint64_t seq;                     /* even: stable; odd: being written */
	uint64_t slot[LC_ALLOC_DEPTH];    /* where each return address lay; slot[0] 0: empty */
	uint64_t ret[LC_ALLOC_DEPTH];
};
static struct memo memos[MEMO_SETS][MEMO_WAYS];
static TLS unsigned memo_victim;      /* the way this thread's next new walk takes */

static struct memo *memo_set(uint64_t slot0, uint64_t ret0)
{
	return memos[((slot0 >> 3 ^ ret0) * 0x9e3779b97f4a7c15ull) >> 56];
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* m's walk if it starts at slot0 with ret0 and its return addresses all lie in place below hi
 * (read as it stood: a change of seq meanwhile drops it): LC_ALLOC_DEPTH, or 0. */
static size_t memo_read(struct memo *m, uint64_t slot0, uint64_t ret0, uintptr_t hi, uint64_t *out)
{
	uint64_t seq = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE), ret[LC_ALLOC_DEPTH] = { ret0 };
	if ((seq & 1) || LOAD(m->slot[0]) != slot0 || LOAD(m->ret[0]) != ret0)
		return 0;
	for (uint64_t k = 1, below = slot0, at; k < LC_ALLOC_DEPTH; k++, below = at) {
		at = LOAD(m->slot[k]); /* checked against what was read, never read again */
		ret[k] = LOAD(m->ret[k]);
		if (at <= below || at + 8 > hi || *(const uint64_t *)at != ret[k])
			return 0;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (LOAD(m->seq) != seq)
		return 0;
	memcpy(out, ret, sizeof ret);
	return LC_ALLOC_DEPTH;
}

static size_t memo_find(uint64_t *out, uint64_t slot0, uint64_t ret0, uintptr_t hi)
{
	struct memo *set = memo_set(slot0, ret0);
	for (unsigned w = 0; w < MEMO_WAYS; w++)
		if (memo_read(&set[w], slot0, ret0, hi, out))
			return LC_ALLOC_DEPTH;
	return 0;
}

/* Write a walk into m, unless another thread is writing it. */
static void memo_write(struct memo *m, const uint64_t *slot, const uint64_t *ret)
{
	uint64_t seq = LOAD(m->seq);
	if ((seq & 1) || !__atomic_compare_exchange_n(&m->seq, &seq, seq + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t k = 0; k < LC_ALLOC_DEPTH; k++) {
		STORE(m->slot[k], slot[k]);
		STORE(m->ret[k], ret[k]);
	}
	__atomic_store_n(&m->seq, seq + 2, __ATOMIC_RELEASE);
}

struct cfi_walk {
	uint64_t *out;                /* borrowed: LC_ALLOC_DEPTH return addresses */
	uint64_t slot[LC_ALLOC_DEPTH]; /* where each lies on the stack */
	size_t n;
	uintptr_t from;               /* ret0: the frames below it are the preload's own */
	unsigned skipped;
	uintptr_t rbp, sp;            /* out[n - 1]'s function's rbp and stack pointer there */
	bool fixed;                   /* every function stepped through has a frame of one size */
};

/* What the step from out[n - 1] to ip (in ctx) tells of out[n - 1]'s function, whose CFA is
 * cfa: whether it keeps its frame pointer (CFA = rbp + 16; learned for the frame-pointer walk),
 * or its frame may vary in size: a frame pointer, gcc's realigned frame (rbp points at a copy
 * of the return address and the saved rbp), or a signal's frame. */
static void cfi_step(struct cfi_walk *w, struct _Unwind_Context *ctx, uintptr_t ip, uintptr_t cfa)
{
	int signal = 0;
	bool kept = cfa == w->rbp + 16;
	kept_learn(w->out[w->n - 1], kept);
	_Unwind_GetIPInfo(ctx, &signal);
	if (kept || signal || (w->rbp >= w->sp && w->rbp < cfa && *(const uintptr_t *)(w->rbp + 8) == ip))
		w->fixed = false;
}

/* One frame of the CFI walk: the preload's own frames skipped, then each return address kept.
 * A frame's context has its own registers (rbp is DWARF register 6) and its callee's CFA: its
 * own stack pointer at the call, just above the return address it called with. */
static _Unwind_Reason_Code cfi_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct cfi_walk *w = arg;
	uintptr_t ip = _Unwind_GetIP(ctx), cfa = _Unwind_GetCFA(ctx);
	if (w->n == 0 && ip != w->from)
		return ++w->skipped < 8 ? _URC_NO_REASON : _URC_END_OF_STACK;
	if (w->n)
		cfi_step(w, ctx, ip, cfa);
	if (ip < 4096 || w->n == LC_ALLOC_DEPTH)
		return _URC_END_OF_STACK;
	w->slot[w->n] = cfa - 8;
	w->out[w->n++] = ip;
	w->rbp = _Unwind_GetGR(ctx, 6);
	w->sp = cfa;
	return _URC_NO_REASON;
}

/* Memoize w's walk if it may be replayed: it is LC_ALLOC_DEPTH frames long, each fixed, each
 * return address above the last and below hi. */
static void memo_keep(const struct cfi_walk *w, uintptr_t hi)
{
	if (w->n < LC_ALLOC_DEPTH || !w->fixed)
		return;
	for (size_t k = 1; k < LC_ALLOC_DEPTH; k++)
		if (w->slot[k] <= w->slot[k - 1] || w->slot[k] + 8 > hi)
			return;
	memo_write(&memo_set(w->slot[0], w->out[0])[memo_victim++ % MEMO_WAYS], w->slot, w->out);
}

/* The CFI walk: libgcc's unwinder reads each frame's DWARF call frame information (.eh_frame,
 * which Debian's libraries keep, and not their frame pointers), so it walks through glibc's
 * strdup to its caller. libgcc 12 finds a frame's FDE with glibc's _dl_find_object: no lock
 * (a fork while another thread unwinds leaves none held in the child), no allocation, nothing
 * opened; only frames a JIT registered (__register_frame) take a mutex. It trusts the CFI:
 * called on this thread's own stack, whose frames a running program keeps whole, its reads
 * stay on it. 0 where ret0 was not among its first frames. */
static __attribute__((noinline)) size_t unwind_cfi(uint64_t *out, const void *ret0, uintptr_t hi)
{
	struct cfi_walk w = { .out = out, .from = (uintptr_t)ret0, .fixed = true };
	_Unwind_Backtrace(cfi_frame, &w);
	memo_keep(&w, hi);
	return w.n;
}

/* The return addresses above the allocator, ret0 (the interposed function's caller) first. The
 * frame-pointer walk where every function on it is known to keep its frame pointer (a program
 * built with them), else a memoized CFI walk, else the CFI walk (make bench, section 9b, has
 * what each costs); the frame-pointer walk alone where the CFI walk found nothing, or
 * LC_ALLOC_UNWIND says "fp" ("cfi": the CFI walk alone). Off this thread's own stack (a
 * coroutine's, a signal's alternate stack), ret0 alone: no walk can tell where that one ends. */
static size_t unwind(uint64_t *out, const void *ret0, const void *frame)
{
	uintptr_t hi = stack_top(), lo = (uintptr_t)frame;
	size_t n = 0;
	if (lo >= hi || lo < stack_lo) {
		out[0] = (uintptr_t)ret0;
		return 1;
	}
	if (walk == WALK_BOTH && !(n = unwind_fp(out, ret0, frame, hi, true)))
		n = memo_find(out, lo + 8, (uintptr_t)ret0, hi);
	if (!n && walk != WALK_FP)
		n = unwind_cfi(out, ret0, hi);
	return n ? n : unwind_fp(out, ret0, frame, hi, false);
}

static uint64_t hash(uint32_t fn, const uint64_t *frames, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ fn;
	for (size_t i = 0; i < n; i++) {
		h ^= frames[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h > 1 ? h : h + 2;
}

/* The slot of this site: found, or claimed with a compare-and-swap (a few probes, then
 * LC_ALLOC_OTHER: the table is full). */
static uint32_t slot_of(uint32_t fn, const uint64_t *frames, size_t n)
{
	struct lc_alloc_map *m = map;
	uint64_t key = hash(fn, frames, n);
	uint32_t i = (uint32_t)key & (LC_ALLOC_SITES - 1);
	for (int probe = 0; probe < 64; probe++, i = (i + 1) & (LC_ALLOC_SITES - 1)) {
		struct lc_alloc_site *s = &m->sites[i];
		uint64_t k = i == LC_ALLOC_OTHER ? 1 : __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == key)
			return i;
		if (k != 0)
			continue;
		if (__atomic_compare_exchange_n(&s->key, &k, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			s->fn = fn;
			memcpy(s->frames, frames, n * sizeof *frames);
			__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
			m->used[__atomic_fetch_add(&m->nused, 1, __ATOMIC_RELAXED)] = i;
			return i;
		}
		if (k == key)
			return i;
	}
	__atomic_fetch_add(&m->full, 1, __ATOMIC_RELAXED);
	return LC_ALLOC_OTHER;
}

static uint32_t site_of(uint32_t fn, const void *ret0, const void *frame)
{
	uint64_t frames[LC_ALLOC_DEPTH] = { 0 };
	check_owner();
	if (!map)
		return NO_SITE;
	if (busy)
		return LC_ALLOC_OTHER;
	busy++;
	size_t n = unwind(frames, ret0, frame);
	uint32_t slot = slot_of(fn, frames, n);
	busy--;
	return slot;
}

/* The header in front of user pointer p, NULL for a block that is not ours (allocated below
 * us before we were there): it goes to the real allocator as it is. */
static struct lc_alloc_hdr *hdr_of(void *p)
{
	struct lc_alloc_hdr *h = (struct lc_alloc_hdr *)((char *)p - HDR);
	return (h->size_tag & ~SIZE_MASK) == TAG ? h : NULL;
}

static void *finish(char *raw, size_t off, size_t n, uint32_t site)
{
	struct lc_alloc_hdr *h = (struct lc_alloc_hdr *)(raw + off - HDR);
	h->size_tag = TAG | n;
	h->site = site;
	h->off = (uint32_t)off;
	count(site, 1, (int64_t)n);
	return raw + off;
}

/* n bytes aligned to align (a power of two, at least 16), zeroed if zero. */
static void *alloc(size_t n, size_t align, bool zero, uint32_t site)
{
	if (n > SIZE_MASK - align - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	resolve();
	size_t extra = align > HDR ? align + HDR : HDR;
	char *raw = !real_malloc ? boot_alloc(n + extra) : zero ? real_calloc(1, n + extra) : real_malloc(n + extra);
	if (!raw) {
		errno = ENOMEM;
		return NULL;
	}
	size_t off = align > HDR ? (((uintptr_t)raw + HDR + align - 1) & ~(uintptr_t)(align - 1)) - (uintptr_t)raw : HDR;
	return finish(raw, off, n, site);
}

static void release(void *p)
{
	struct lc_alloc_hdr *h;
	if (!p || in_boot(p))
		return;
	resolve();
	if (!(h = hdr_of(p))) {
		real_free(p);
		return;
	}
	count(h->site, -1, -(int64_t)(h->size_tag & SIZE_MASK));
	h->size_tag = 0;
	real_free((char *)p - h->off);
}

static void *resize(void *p, size_t n, uint32_t fn, const void *ret0, const void *frame)
{
	if (!p)
		return alloc(n, HDR, false, site_of(fn, ret0, frame));
	if (n == 0) { /* glibc's realloc(p, 0) frees */
		release(p);
		return NULL;
	}
	resolve();
	struct lc_alloc_hdr *h = in_boot(p) ? (struct lc_alloc_hdr *)((char *)p - HDR) : hdr_of(p);
	if (!h)
		return real_realloc(p, n); /* not ours: stays not ours */
	uint32_t site = site_of(fn, ret0, frame);
	size_t old = h->size_tag & SIZE_MASK;
	if (h->off == HDR && !in_boot(p) && n <= SIZE_MASK - HDR) {
		uint32_t was = h->site;
		uint64_t tag = h->size_tag;
		h->size_tag = 0; /* a block moved leaves no header behind for the holder search */
		char *raw = real_realloc((char *)p - HDR, n + HDR);
		if (!raw) {
			h->size_tag = tag;
			return NULL; /* the old block stays, counted as it was */
		}
		count(was, -1, -(int64_t)old);
		return finish(raw, HDR, n, site);
	}
	void *q = alloc(n, HDR, false, site); /* aligned or bootstrap blocks move */
	if (q) {
		memcpy(q, p, old < n ? old : n);
		release(p);
	}
	return q;
}

static void *aligned(size_t align, size_t n, uint32_t fn, const void *ret0, const void *frame)
{
	if (align < HDR)
		align = HDR;
	return alloc(n, align, false, site_of(fn, ret0, frame));
}

static bool power_of_two(size_t a)
{
	return a && !(a & (a - 1));
}

#define HERE __builtin_return_address(0), __builtin_frame_address(0)

EXPORT void *malloc(size_t n)
{
	return alloc(n, HDR, false, site_of(LC_FN_MALLOC, HERE));
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc(total, HDR, true, site_of(LC_FN_CALLOC, HERE));
}

EXPORT void free(void *p)
{
	release(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	return resize(p, n, LC_FN_REALLOC, HERE);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return resize(p, total, LC_FN_REALLOCARRAY, HERE);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (align > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (!power_of_two(align)) /* glibc rounds it up */
		align = align < HDR ? HDR : (align | (align - 1)) + 1;
	return aligned(align, n, LC_FN_MEMALIGN, HERE);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!power_of_two(align) || align % sizeof(void *) || align > (1u << 30))
		return EINVAL;
	int e = errno;
	void *p = aligned(align, n, LC_FN_POSIX_MEMALIGN, HERE);
	if (!p)
		return ENOMEM;
	errno = e;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!power_of_two(align) || align > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, n, LC_FN_ALIGNED_ALLOC, HERE);
}

EXPORT void *valloc(size_t n)
{
	return aligned((size_t)sysconf(_SC_PAGESIZE), n, LC_FN_VALLOC, HERE);
}

EXPORT void *pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (n > SIZE_MASK) {
		errno = ENOMEM;
		return NULL;
	}
	n = n ? (n + page - 1) & ~(page - 1) : page;
	return aligned(page, n, LC_FN_PVALLOC, HERE);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	resolve();
	struct lc_alloc_hdr *h = in_boot(p) ? (struct lc_alloc_hdr *)((char *)p - HDR) : hdr_of(p);
	return h ? h->size_tag & SIZE_MASK : real_usable ? real_usable(p) : 0;
}

/* The walk's tables in memory now, not a page at a time as they fill: that would read as
 * memory outside malloc growing while the server runs. */
static void tables_touch(void)
{
	for (size_t i = 0; i < sizeof kept_table; i += 4096)
		((volatile char *)kept_table)[i] = 0;
	for (size_t i = 0; i < sizeof memos; i += 4096)
		((volatile char *)memos)[i] = 0;
}

/* DIR/alloc.PID, made afresh (a new inode: a reader of an earlier program's file, before an
 * exec, keeps reading that one), mapped shared. NULL without LC_ALLOC_DIR or on failure. */
static struct lc_alloc_map *map_create(void)
{
	const char *dir = getenv(LC_ALLOC_ENV);
	char path[4096];
	if (!dir || !*dir || snprintf(path, sizeof path, "%s/alloc.%d", dir, (int)getpid()) >= (int)sizeof path)
		return NULL;
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	void *m = MAP_FAILED;
	if (ftruncate(fd, sizeof(struct lc_alloc_map)) == 0)
		m = mmap(NULL, sizeof(struct lc_alloc_map), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		unlink(path);
		return NULL;
	}
	((struct lc_alloc_map *)m)->pid = (int32_t)getpid();
	((struct lc_alloc_map *)m)->exec_id = lc_alloc_exec_id(getauxval(AT_RANDOM), getauxval(AT_ENTRY),
							       getauxval(AT_PHDR), getauxval(AT_BASE));
	return m;
}

/* fork()'s child: adopt, unless an allocation between the fork and this handler (glibc's own)
 * already did through check_owner (the flag is set again then). */
static void after_fork_child(void)
{
	if (!owner || !*owner)
		adopt();
}

static void map_publish(struct lc_alloc_map *m)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(m->magic, LC_ALLOC_MAGIC, sizeof m->magic);
	map = m;
}

/* A new process holds its parent's blocks: its own file starts as a copy of the counts (only
 * the slots in use, so the copy touches few pages). From pthread_atfork in a fork's child, or
 * from check_owner in any other child, whichever comes first; the flag makes it once. */
static void adopt(void)
{
	struct lc_alloc_map *old = map, *m;
	map = NULL;
	if (owner)
		*owner = 1;
	stack_hi = 0; /* the same stack, but the main thread's test needs a fresh look */
	if (!old || !(m = map_create()))
		return;
	m->blocks = old->blocks;
	m->bytes = old->bytes;
	m->sites[LC_ALLOC_OTHER] = old->sites[LC_ALLOC_OTHER];
	m->nused = old->nused < LC_ALLOC_SITES ? old->nused : LC_ALLOC_SITES;
	for (uint32_t k = 0; k < m->nused; k++) {
		uint32_t i = m->used[k] = old->used[k] & (LC_ALLOC_SITES - 1);
		m->sites[i] = old->sites[i];
	}
	munmap(old, sizeof *old);
	map_publish(m);
}

__attribute__((constructor)) static void lcalloc_init(void)
{
	resolve();
	const char *how = getenv(LC_ALLOC_UNWIND_ENV);
	walk = !how ? WALK_BOTH : strcmp(how, "fp") == 0 ? WALK_FP : strcmp(how, "cfi") == 0 ? WALK_CFI : WALK_BOTH;
	uint64_t frames[LC_ALLOC_DEPTH];
	unwind_cfi(frames, NULL, 0); /* libgcc's one-time set-up now, before any thread or fork */
	tables_touch();
	struct lc_alloc_map *m = map_create();
	if (!m)
		return;
	map_publish(m);
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && madvise(page, 4096, MADV_WIPEONFORK) == 0) {
		*(volatile int *)page = 1;
		owner = page;
	} else if (page != MAP_FAILED) {
		munmap(page, 4096);
	}
	pthread_atfork(NULL, NULL, after_fork_child);
}

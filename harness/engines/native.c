/* The native engine: the server runs as it is (no valgrind), with the allocator preload
 * (preload/lcalloc.c, liblcalloc.so) in LD_PRELOAD. Each snapshot reads, per process:
 *
 *  - the allocator measure: the preload's live blocks and bytes and its sites, from the
 *    process's shared file DIR/alloc.PID (preload/lcalloc.h), the sites named with libdw
 *    (symbols.c). Exact counts, judged as memcheck's heap is;
 *  - where the preload is not in the process (a static binary, a program that never calls
 *    the libc allocator), the pages measure: anonymous memory (Anonymous + Swap, heap, stacks,
 *    anonymous mappings, where a leak grows; not RSS, which library pages move, and not USS,
 *    which a forked child's copy-on-write sharing hides), minus first use: memory mapped at the
 *    process's baseline and touched only later (a ring buffer, a preallocated table, an arena)
 *    is not growth unless its mapping grew too. Growth below the noise floor (a page per round
 *    at least) cannot be seen; the detection limit is that floor over a round's connections;
 *  - open fds and threads, for both.
 * See engine.h. */
#define _GNU_SOURCE
#include "engines/native.h"
#include "engines/heap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engines/engine.h"
#include "engines/symbols.h"
#include "drive/net.h"
#include "drive/proc.h"
#include "drive/watchdog.h"
#include "preload/lcalloc.h"

/* The "Name:   N kB" field of a smaps_rollup text, in bytes; -1 if absent. */
static long field_kb(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			return strtol(p + n + 1, NULL, 10) * 1024;
	return -1;
}

/* Anonymous memory: heap, stacks, anonymous mappings, where a leak grows; not file pages
 * (library code touched late moves RSS and USS alike), and swapped-out anonymous pages count.
 * Not USS either: a forked child shares its parent's heap copy-on-write, so while the probe's
 * child lives (a child per connection) the parent's leaked pages are not private: a parent
 * leaking 96 B per connection shows +0 USS in every round (tests/shapes forkper --leak). */
static long anon(int pid)
{
	char path[64], text[2048];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	errno = 0;
	if (lc__read_file(path, text, sizeof text) == 0)
		return -1;
	long bytes = field_kb(text, "Anonymous"), swap = field_kb(text, "Swap");
	if (bytes < 0)
		return -1;
	return bytes + (swap > 0 ? swap : 0);
}

int lc__native_measure(int pid, struct lc_snapshot *snap, char *err, size_t errlen)
{
	long bytes = anon(pid);
	memset(snap, 0, sizeof *snap);
	snap->objects = -1;
	snap->pages = -1;
	if (bytes < 0) {
		snprintf(err, errlen, "cannot read /proc/%d/smaps_rollup: %s", pid,
			 errno ? strerror(errno) : "the process is gone");
		return -1;
	}
	snap->bytes[LC_REACHABLE] = (unsigned long)bytes;
	snap->fds = lc__count_fds(pid);
	snap->threads = lc__count_threads(pid);
	return 0;
}

long lc__native_noise(int pid, int n, int gap_ms)
{
	long lo = -1, hi = -1;
	for (int i = 0; i < n; i++) {
		long b = anon(pid);
		if (b < 0)
			return -1;
		lo = lo < 0 || b < lo ? b : lo;
		hi = b > hi ? b : hi;
		if (i + 1 < n)
			lc__sleep_ms(gap_ms);
	}
	return hi - lo;
}

/* The floor: twice the largest idle spread, and never below a page, the unit memory moves in.
 * The detection limit is this floor over a round's connections. */
unsigned long lc__native_floor(const int *pids, size_t n, unsigned long *noise)
{
	long most = 0, page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < n; i++) {
		long spread = lc__native_noise(pids[i], 5, 5);
		most = spread > most ? spread : most;
	}
	*noise = (unsigned long)most;
	return (unsigned long)(2 * most > page ? 2 * most : page);
}


/* ---- the allocator measure: the preload's shared file ---- */

struct vma {
	uintptr_t start, end;
	long anon;                  /* Anonymous + Swap, bytes */
	bool heap;                  /* the brk heap ([heap]): its first use is growth, not credit */
};

/* What the engine keeps of one measured process (a slot of engine.h). */
struct slot {
	int pid;                    /* the process this describes; 0: unused */
	bool decided;               /* measure is set: at the process's first snapshot */
	enum lc_measure measure;
	ino_t ino;                  /* the alloc file's inode: another one means the process exec'd */
	int64_t *prev;              /* owned: per site blocks then bytes at the previous full
	                             * snapshot (2 * LC_ALLOC_SITES), or NULL before the first */
	struct lc_record **named;   /* owned, each owned: the sites symbolized so far, by slot */
	struct lc_symbols *sym;     /* owned: the process's modules, opened at the first name */
	struct vma *base;           /* owned: pages, the anonymous mappings at the first snapshot */
	size_t nbase;
};

struct native {
	char dir[600];              /* where the preload writes alloc.PID: a folder of ours in
	                             * /dev/shm (a file made on tmpfs costs a forked child ~20 us,
	                             * on ext4 ~400), else the run's work folder */
	bool own_dir;               /* dir is ours to remove at close */
	char preload[PATH_MAX];     /* liblcalloc.so, "" if it is not found */
	char env[3][PATH_MAX + 600];/* LD_PRELOAD, LC_ALLOC_DIR, PYTHONMALLOC entries */
	char *envp[4];              /* borrowed from env: NULL-ended */
	struct slot slots[LC_MAX_PROCS];
};

static const char *const fn_names[LC_FN_COUNT] = {
	"malloc", "calloc", "realloc", "memalign", "posix_memalign", "aligned_alloc", "valloc", "pvalloc",
	"reallocarray",
};

int lc__native_preload(char *out, size_t len)
{
	const char *env = getenv("LEAKCHECK_PRELOAD");
	char exe[PATH_MAX];
	ssize_t n;
	if (env && *env) {
		snprintf(out, len, "%s", env);
	} else if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		snprintf(out, len, "%.*s/%s", slash ? (int)(slash - exe) : 0, exe, LC_PRELOAD_REL);
	} else {
		out[0] = '\0';
	}
	char real[PATH_MAX];
	if (out[0] && access(out, R_OK) == 0 && realpath(out, real)) {
		snprintf(out, len, "%s", real);
		return 0;
	}
	out[0] = '\0';
	return -1;
}

/* lc_alloc_exec_id of the program process pid runs now, from /proc/PID/auxv; 0 if unreadable. */
static uint64_t exec_id_of(int pid)
{
	char path[64];
	uint64_t aux[2 * 64], v[4] = { 0 };
	static const uint64_t types[4] = { AT_RANDOM, AT_ENTRY, AT_PHDR, AT_BASE };
	snprintf(path, sizeof path, "/proc/%d/auxv", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t got = read(fd, aux, sizeof aux);
	close(fd);
	if (got <= 0)
		return 0;
	for (size_t i = 0; i + 1 < (size_t)got / sizeof *aux; i += 2)
		for (int k = 0; k < 4; k++)
			if (aux[i] == types[k])
				v[k] = aux[i + 1];
	return lc_alloc_exec_id(v[0], v[1], v[2], v[3]);
}

/* Process pid's counts, mapped read-only (munmap with sizeof **m). 0, or -1: it has none (the
 * preload is not in it, or no longer: it exec'd a program without it, and the file it left is
 * its former program's) or they are not set up yet. */
static int alloc_map(const struct native *n, int pid, const struct lc_alloc_map **m, ino_t *ino)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof path, "%s/alloc.%d", n->dir, pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof **m)
		p = mmap(NULL, sizeof **m, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	*m = p;
	*ino = st.st_ino;
	uint64_t now = exec_id_of(pid);
	if (memcmp((*m)->magic, LC_ALLOC_MAGIC, sizeof (*m)->magic) == 0 && (*m)->pid == pid &&
	    (now == 0 || (*m)->exec_id == now))
		return 0;
	munmap(p, sizeof **m);
	return -1;
}

static void slot_reset(struct slot *sl, int pid)
{
	free(sl->prev);
	for (size_t i = 0; sl->named && i < LC_ALLOC_SITES; i++)
		free(sl->named[i]);
	free(sl->named);
	lc__symbols_close(sl->sym);
	free(sl->base);
	memset(sl, 0, sizeof *sl);
	sl->pid = pid;
}

/* Site k of m as a loss record: frames[0] the allocating function, then its callers, named. */
static const struct lc_record *site_record(struct slot *sl, const struct lc_alloc_map *m, uint32_t k)
{
	if (!sl->named && !(sl->named = calloc(LC_ALLOC_SITES, sizeof *sl->named)))
		return NULL;
	if (sl->named[k])
		return sl->named[k];
	struct lc_record *rec = calloc(1, sizeof *rec);
	const struct lc_alloc_site *s = &m->sites[k];
	if (!rec)
		return NULL;
	rec->kind = LC_REACHABLE;
	snprintf(rec->frames[0].fn, sizeof rec->frames[0].fn, "%s", s->fn < LC_FN_COUNT ? fn_names[s->fn] : "malloc");
	rec->nframes = 1;
	if (k == LC_ALLOC_OTHER) {
		snprintf(rec->frames[1].fn, sizeof rec->frames[1].fn, "(allocations without a site)");
		rec->nframes = 2;
	}
	if (!sl->sym && k != LC_ALLOC_OTHER)
		sl->sym = lc__symbols_open(sl->pid);
	for (size_t i = 0; k != LC_ALLOC_OTHER && i < LC_ALLOC_DEPTH && s->frames[i] && rec->nframes < LC_MAX_FRAMES; i++)
		lc__symbols_frame(sl->sym, s->frames[i], &rec->frames[rec->nframes++]);
	sl->named[k] = rec;
	return rec;
}

/* Put site k (grown by db blocks, dB bytes) among snap's sites, largest growth in bytes first. */
static void rank_site(struct lc_snapshot *snap, uint32_t *which, uint32_t k, long db, long dB)
{
	size_t at = snap->nsites;
	while (at > 0 && snap->sites[at - 1].dbytes < dB)
		at--;
	if (at >= LC_MAX_SITES)
		return;
	size_t n = snap->nsites < LC_MAX_SITES ? snap->nsites : LC_MAX_SITES - 1;
	memmove(&snap->sites[at + 1], &snap->sites[at], (n - at) * sizeof *snap->sites);
	memmove(&which[at + 1], &which[at], (n - at) * sizeof *which);
	snap->sites[at].dblocks = db;
	snap->sites[at].dbytes = dB;
	which[at] = k;
	snap->nsites = n + 1;
}

/* The sites that grew since the previous full snapshot (none at the first: it only records). */
static void alloc_sites(struct slot *sl, const struct lc_alloc_map *m, struct lc_snapshot *snap)
{
	uint32_t which[LC_MAX_SITES];
	bool first = !sl->prev;
	if (first && !(sl->prev = calloc(2 * LC_ALLOC_SITES, sizeof *sl->prev)))
		return;
	uint32_t nused = __atomic_load_n(&m->nused, __ATOMIC_ACQUIRE);
	nused = nused < LC_ALLOC_SITES ? nused : LC_ALLOC_SITES - 1;
	for (uint32_t u = 0; u <= nused; u++) { /* LC_ALLOC_OTHER, then the slots in use */
		uint32_t k = u == 0 ? LC_ALLOC_OTHER : m->used[u - 1] & (LC_ALLOC_SITES - 1);
		const struct lc_alloc_site *s = &m->sites[k];
		if (k != LC_ALLOC_OTHER && !__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
			continue;
		int64_t b = __atomic_load_n(&s->blocks, __ATOMIC_RELAXED), B = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		long db = (long)(b - sl->prev[k]), dB = (long)(B - sl->prev[LC_ALLOC_SITES + k]);
		sl->prev[k] = b;
		sl->prev[LC_ALLOC_SITES + k] = B;
		if (!first && (db > 0 || dB > 0))
			rank_site(snap, which, k, db, dB);
	}
	for (size_t i = 0; i < snap->nsites; i++) {
		const struct lc_record *rec = site_record(sl, m, which[i]);
		if (rec)
			snap->sites[i].rec = *rec;
		snap->sites[i].rec.blocks = (unsigned long)sl->prev[which[i]];
		snap->sites[i].rec.bytes = (unsigned long)sl->prev[LC_ALLOC_SITES + which[i]];
	}
}

struct name_ctx {
	struct slot *sl;            /* borrowed */
	const struct lc_alloc_map *m; /* borrowed */
};

static const struct lc_record *name_slot(void *ctx, uint32_t k)
{
	const struct name_ctx *c = ctx;
	if (k >= LC_ALLOC_SITES || (k != LC_ALLOC_OTHER && !__atomic_load_n(&c->m->sites[k].ready, __ATOMIC_ACQUIRE)))
		return NULL;
	return site_record(c->sl, c->m, k);
}

/* From the heap graph of the preload's blocks, read while the server is idle between rounds
 * (it is not stopped: SIGSTOP would make its epoll_wait return EINTR). */
static int nat_holders(struct lc_engine *e, size_t i, const struct lc_site *sites, size_t n,
		       const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls)
{
	struct native *nat = e->state;
	struct slot *sl = &nat->slots[i];
	const struct lc_alloc_map *m;
	ino_t ino;
	char err[200];
	*calls = 0;
	if (sl->measure != LC_MEASURE_ALLOCATOR || alloc_map(nat, sl->pid, &m, &ino) < 0)
		return -1; /* pages: no blocks to follow */
	struct name_ctx c = { sl, m };
	struct lc_heap_proc *h = lc__heap_proc_open(sl->pid, false, alloc_fns, err, sizeof err);
	int rc = h && lc__heap_gather_native(h, name_slot, &c) == 0 ? lc__holders_find(&h->heap, NULL, sites, n, out, err, sizeof err) : -1;
	lc__heap_proc_close(h);
	munmap((void *)m, sizeof *m);
	return rc;
}

/* The allocator measure of slot sl. 0; -1: the process has no counts (or no longer). */
static int alloc_measure(struct native *n, struct slot *sl, bool full, struct lc_snapshot *snap)
{
	const struct lc_alloc_map *m;
	ino_t ino;
	if (alloc_map(n, sl->pid, &m, &ino) < 0)
		return -1;
	if (sl->ino && sl->ino != ino) { /* it exec'd: another program, other sites */
		int pid = sl->pid;
		slot_reset(sl, pid);
		sl->decided = true;
		sl->measure = LC_MEASURE_ALLOCATOR;
	}
	sl->ino = ino;
	snap->measure = LC_MEASURE_ALLOCATOR;
	int64_t blocks = __atomic_load_n(&m->blocks, __ATOMIC_RELAXED), bytes = __atomic_load_n(&m->bytes, __ATOMIC_RELAXED);
	snap->blocks[LC_REACHABLE] = blocks > 0 ? (unsigned long)blocks : 0;
	snap->bytes[LC_REACHABLE] = bytes > 0 ? (unsigned long)bytes : 0;
	if (full)
		alloc_sites(sl, m, snap);
	munmap((void *)m, sizeof *m);
	return 0;
}

/* The alloc files of processes that are gone (a child per connection leaves one each), or
 * with all, every one. */
static void sweep(const struct native *n, bool all)
{
	DIR *d = opendir(n->dir);
	struct dirent *ent;
	char path[900];
	while (d && (ent = readdir(d))) {
		int pid;
		if (sscanf(ent->d_name, "alloc.%d", &pid) == 1 && (all || (kill(pid, 0) < 0 && errno == ESRCH))) {
			snprintf(path, sizeof path, "%s/%s", n->dir, ent->d_name);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
}

/* ---- the pages measure, where the preload is not in the process ---- */

/* The anonymous memory of pid's mappings, from /proc/PID/smaps: malloc'd into *out. Count, or -1. */
static long read_vmas(int pid, struct vma **out)
{
	char path[64], *line = NULL;
	size_t cap = 0, n = 0, room = 0;
	struct vma *v = NULL;
	snprintf(path, sizeof path, "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned long a, b, kb;
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, ':') > strchr(line, ' ')) {
			if (n == room) {
				struct vma *bigger = realloc(v, (room = room ? 2 * room : 64) * sizeof *v);
				if (!bigger)
					break;
				v = bigger;
			}
			size_t len = strlen(line);
			bool heap = len >= 7 && strncmp(line + len - 7, "[heap]\n", 7) == 0;
			v[n++] = (struct vma){ a, b, 0, heap };
		} else if (n && (sscanf(line, "Anonymous: %lu kB", &kb) == 1 || sscanf(line, "Swap: %lu kB", &kb) == 1)) {
			v[n - 1].anon += (long)kb * 1024;
		}
	}
	free(line);
	fclose(f);
	*out = v;
	return (long)n;
}

/* Anonymous memory, less first use: growth inside what a baseline mapping covered is forgiven
 * up to what that mapping had mapped and not yet touched then (credited in proportion to the
 * overlap, so a mapping split by mprotect is not credited twice). New mappings, and mappings
 * that grew beyond their credit, count in full; shrinking always counts. The brk heap gets no
 * credit: malloc maps its top ahead of use, so a static binary keeping 64 B per connection
 * grew inside that credit for the whole run and was judged clean; what a program maps ahead
 * on purpose (a preallocated ring buffer) is a mapping of its own. */
static long counted(const struct slot *sl, const struct vma *v, size_t n)
{
	long total = 0;
	for (size_t i = 0; i < n; i++) {
		double base_anon = 0, credit = 0;
		for (size_t j = 0; j < sl->nbase; j++) {
			const struct vma *b = &sl->base[j];
			if (b->heap)
				continue;
			uintptr_t lo = b->start > v[i].start ? b->start : v[i].start, hi = b->end < v[i].end ? b->end : v[i].end;
			if (lo >= hi)
				continue;
			double share = (double)(hi - lo) / (double)(b->end - b->start);
			base_anon += share * (double)b->anon;
			credit += share * (double)((long)(b->end - b->start) - b->anon);
		}
		double grew = (double)v[i].anon - base_anon;
		double forgiven = grew > 0 ? (grew < credit ? grew : credit) : 0;
		total += v[i].anon - (long)forgiven;
	}
	return total;
}

static int pages_measure(struct slot *sl, struct lc_snapshot *snap, char *err, size_t errlen)
{
	struct vma *v = NULL;
	long n = read_vmas(sl->pid, &v);
	if (n < 0) {
		snprintf(err, errlen, "cannot read /proc/%d/smaps: %s", sl->pid, strerror(errno));
		return -1;
	}
	if (!sl->base) { /* its baseline: what is mapped now may be touched later, not grown */
		sl->base = v;
		sl->nbase = (size_t)n;
		v = NULL;
	}
	snap->measure = LC_MEASURE_PAGES;
	snap->bytes[LC_REACHABLE] = (unsigned long)counted(sl, v ? v : sl->base, v ? (size_t)n : sl->nbase);
	free(v);
	return 0;
}

static int nat_check(const struct lc_options *o, char *err, size_t errlen)
{
	if (!o->suppressions && !o->write_suppressions && !o->trace_skip)
		return 0;
	snprintf(err, errlen, "--suppressions, --write-suppressions and --trace-children-skip are for the memcheck "
		 "engine, not --native");
	return -1;
}

static int nat_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen)
{
	(void)o;
	struct native *n = calloc(1, sizeof *n);
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->state = n;
	/* the work dir's twin on tmpfs (drive/watchdog.h removes it with the work dir), or a fresh one */
	const char *base = strrchr(dir, '/');
	base = base ? base + 1 : dir;
	if (strncmp(base, "leakcheck-", 10) == 0) {
		lc__workdir_shm(dir, n->dir, sizeof n->dir);
		n->own_dir = mkdir(n->dir, 0700) == 0;
	} else {
		snprintf(n->dir, sizeof n->dir, "/dev/shm/leakcheck-alloc-XXXXXX");
		n->own_dir = mkdtemp(n->dir) != NULL;
	}
	if (!n->own_dir)
		snprintf(n->dir, sizeof n->dir, "%s", dir);
	size_t k = 0;
	if (lc__native_preload(n->preload, sizeof n->preload) == 0) {
		const char *was = getenv("LD_PRELOAD"); /* the user's own preloads stay, after ours */
		snprintf(n->env[k], sizeof n->env[k], "LD_PRELOAD=%s%s%s", n->preload, was && *was ? ":" : "",
			 was ? was : "");
		n->envp[k] = n->env[k];
		k++;
		snprintf(n->env[k], sizeof n->env[k], "%s=%s", LC_ALLOC_ENV, n->dir);
		n->envp[k] = n->env[k];
		k++;
	}
	/* CPython's objects go through malloc (its own arenas are mmap'd, out of the preload's sight) */
	snprintf(n->env[k], sizeof n->env[k], "PYTHONMALLOC=malloc");
	n->envp[k] = n->env[k];
	return 0;
}

static char *const *nat_env(struct lc_engine *e)
{
	struct native *n = e->state;
	return n->envp;
}

static char **nat_argv(struct lc_engine *e, char *const server[])
{
	(void)e;
	size_t n = 0;
	while (server[n])
		n++;
	char **argv = calloc(n + 1, sizeof *argv);
	for (size_t i = 0; argv && i < n; i++)
		argv[i] = server[i];
	return argv;
}

static bool nat_traced(struct lc_engine *e, int pid)
{
	(void)e, (void)pid;
	return true; /* every process of the tree */
}

/* Slot i's process is dead: what we kept of it, and its file. */
static void nat_gone(struct lc_engine *e, size_t i)
{
	struct native *n = e->state;
	char path[700];
	if (n->slots[i].pid) {
		snprintf(path, sizeof path, "%s/alloc.%d", n->dir, n->slots[i].pid);
		unlink(path);
	}
	slot_reset(&n->slots[i], 0);
}

/* The measure is chosen at a process's first snapshot and kept: the allocator's counts where
 * the preload is in it, else pages. */
static int nat_snapshot(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *s, char *err, size_t errlen)
{
	struct native *n = e->state;
	struct slot *sl = &n->slots[i];
	int pid = e->procs[i].pid;
	memset(s, 0, sizeof *s);
	s->objects = -1;
	s->pages = -1;
	if (sl->pid != pid)
		slot_reset(sl, pid);
	if (full && pid == e->root)
		sweep(n, false);
	int rc = 0;
	if (!sl->decided || sl->measure == LC_MEASURE_ALLOCATOR) {
		rc = alloc_measure(n, sl, full, s);
		if (rc < 0 && sl->decided)
			snprintf(err, errlen, "pid %d's allocator counts are gone: it exec'd a program the preload is not in "
				 "(a static binary, or its environment cleared of LD_PRELOAD)", pid);
	}
	if (!sl->decided) {
		sl->decided = true;
		sl->measure = rc == 0 ? LC_MEASURE_ALLOCATOR : LC_MEASURE_PAGES;
		rc = 0;
	}
	if (rc == 0 && sl->measure == LC_MEASURE_PAGES)
		rc = pages_measure(sl, s, err, errlen);
	if (rc < 0)
		return -1;
	if (sl->measure == LC_MEASURE_ALLOCATOR) /* memory the allocator does not see: V8's, mmap */
		s->pages = anon(pid);
	s->fds = lc__count_fds(pid);
	s->threads = lc__count_threads(pid);
	if (s->fds < 0 && lc__gone(pid)) {
		snprintf(err, errlen, "pid %d is gone", pid);
		return -1;
	}
	return 0;
}

/* The pages measure's floor, from the noise of the processes it measures (none: no floor). */
static void nat_baseline(struct lc_engine *e, struct lc_report *rep)
{
	struct native *n = e->state;
	int pids[LC_MAX_PROCS];
	size_t k = 0;
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i].alive && n->slots[i].decided && n->slots[i].measure == LC_MEASURE_PAGES)
			pids[k++] = e->procs[i].pid;
	rep->bytes_floor = k ? lc__native_floor(pids, k, &rep->noise) : 0;
}

/* No exit report natively: what is freed at exit proves nothing anyway. */
static void nat_describe(const struct lc_engine *e, char *buf, size_t len)
{
	const struct native *n = e->state;
	if (n && n->preload[0])
		snprintf(buf, len, "native: live blocks from the allocator preload (%s), or pages from /proc/PID/smaps "
			 "where it is not in a process; /proc/PID/fd and /proc/PID/task", n->preload);
	else
		snprintf(buf, len, "native: pages from /proc/PID/smaps (no allocator preload: liblcalloc.so not found "
			 "beside leakcheck; LEAKCHECK_PRELOAD names it), /proc/PID/fd and /proc/PID/task");
}

static void nat_unmeasured(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len)
{
	(void)e;
	snprintf(buf, len, "connections are served by pid %d (%s), which is not a process of the server "
		 "(a proxy, a server started by a service manager): nothing that serves them can be measured",
		 pid, exe);
}

static void nat_lost(const struct lc_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "pid %d cannot be read in /proc any more", e->root);
}

static void nat_close(struct lc_engine *e)
{
	struct native *n = e->state;
	for (size_t i = 0; n && i < LC_MAX_PROCS; i++)
		slot_reset(&n->slots[i], 0);
	if (n && n->own_dir) { /* the server has exited: nothing writes there any more */
		sweep(n, true);
		rmdir(n->dir);
	}
	free(n);
}

const struct lc_engine_ops lc__native_ops = {
	.name = "native",
	.measure = LC_MEASURE_ALLOCATOR,
	.reacher = "the harness",
	.flag = "--native",
	/* 500 connections a round: ~7k a second natively here (client and server on 2 cores), so
	 * a round takes ~70 ms and a leak of 16 B a connection is two pages above the floor */
	.cycles = 500,
	.warmup = 50,
	.slow = "the server is slow to answer or to close",
	.check = nat_check,
	.open = nat_open,
	.argv = nat_argv,
	.env = nat_env,
	.traced = nat_traced,
	.gone = nat_gone,
	.snapshot = nat_snapshot,
	.holders = nat_holders,
	.baseline = nat_baseline,
	.describe = nat_describe,
	.unmeasured = nat_unmeasured,
	.lost = nat_lost,
	.close = nat_close,
};

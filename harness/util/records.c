/* The records of include/lc/records.h and what the library adds to them (util/records.h): the
 * one table of each set of names (leak kinds, measures, close modes, root kinds), a record's
 * allocation site, the one notion of "the same record" and its hash, and the blocks a snapshot
 * listed. Every folder reads records; this file depends on none of them. */
#define _GNU_SOURCE
#include "util/records.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[LC_NKINDS] = {
	[LC_DEFINITE] = "definitely lost",
	[LC_INDIRECT] = "indirectly lost",
	[LC_POSSIBLE] = "possibly lost",
	[LC_REACHABLE] = "still reachable",
};

const char *lc_kind_name(enum lc_kind k)
{
	if ((unsigned)k >= LC_NKINDS)
		return "unknown";
	return kind_names[k];
}

unsigned long lc_record_own_bytes(const struct lc_record *rec)
{
	return rec->bytes >= rec->indirect ? rec->bytes - rec->indirect : rec->bytes;
}

const char *lc_kind_running_name(enum lc_kind k)
{
	return k == LC_POSSIBLE ? "reachable only through an interior pointer" : lc_kind_name(k);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* An allocator layer, by a rule that holds for such layers in general rather than a list of
 * names: a function whose name holds "alloc" in any case (malloc, xmalloc, g_malloc0,
 * ztrymalloc_usable, zmalloc_usable, mosquitto__calloc, ngx_palloc, PyMem_Malloc, je_malloc),
 * ends in "strdup" or "strndup", or is operator new; or one of extra (--alloc-fn). Only the
 * frames above the first that is not a layer are skipped, so a layer called from the code's
 * own allocator-like function (conn_alloc) names that function's caller. */
static bool is_allocator(const char *fn, const char *const *extra)
{
	if (strcasestr(fn, "alloc") || ends_with(fn, "strdup") || ends_with(fn, "strndup") ||
	    strncmp(fn, "operator new", 12) == 0)
		return true;
	for (size_t i = 0; extra && extra[i]; i++)
		if (strcmp(fn, extra[i]) == 0)
			return true;
	return false;
}

bool lc__same_stack(const struct lc_record *a, const struct lc_record *b)
{
	if (a->nframes != b->nframes)
		return false;
	for (size_t i = 0; i < a->nframes; i++)
		if (strcmp(a->frames[i].fn, b->frames[i].fn) || strcmp(a->frames[i].file, b->frames[i].file) ||
		    a->frames[i].line != b->frames[i].line)
			return false;
	return true;
}

const struct lc_frame *lc__alloc_frame(const struct lc_record *rec, const char *const *extra)
{
	for (size_t i = 0; i < rec->nframes; i++)
		if (!is_allocator(rec->frames[i].fn, extra))
			return &rec->frames[i];
	return rec->nframes ? &rec->frames[rec->nframes - 1] : NULL;
}

unsigned long lc_snapshot_blocks(const struct lc_snapshot *s)
{
	unsigned long n = 0;
	for (int k = 0; k < LC_NKINDS; k++)
		n += s->blocks[k];
	return n;
}

unsigned long lc_snapshot_bytes(const struct lc_snapshot *s)
{
	unsigned long n = 0;
	for (int k = 0; k < LC_NKINDS; k++)
		n += s->bytes[k];
	return n;
}

static const char *const measure_names[] = { "heap", "allocator", "pages" };

const char *lc_measure_name(enum lc_measure m)
{
	return (unsigned)m < 3 ? measure_names[m] : "?";
}

static const char *const close_names[] = { "eof", "server", "reset", "mix" };

int lc_close_parse(const char *s, enum lc_close *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, close_names[i]) == 0) {
			*out = (enum lc_close)i;
			return 0;
		}
	}
	return -1;
}

const char *lc_close_name(enum lc_close c)
{
	return (unsigned)c < 4 ? close_names[c] : "?";
}

const char *lc_root_kind_name(enum lc_root_kind k)
{
	static const char *const names[] = { "unknown", "global", "stack", "cycle", "none", "mapping" };
	return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

#define FNV_BASIS 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a over a frame's function, file and line, from h: the library's one hash. */
static uint64_t fnv_frame(uint64_t h, const struct lc_frame *f)
{
	for (const char *p = f->fn; *p; p++)
		h = (h ^ (unsigned char)*p) * FNV_PRIME;
	for (const char *p = f->file; *p; p++)
		h = (h ^ (unsigned char)*p) * FNV_PRIME;
	return (h ^ f->line) * FNV_PRIME;
}

uint64_t lc__frame_key(const struct lc_frame *f)
{
	return f ? fnv_frame(FNV_BASIS, f) : FNV_BASIS;
}

uint64_t lc__record_key(const struct lc_record *r)
{
	uint64_t h = FNV_BASIS ^ (uint64_t)r->kind;
	for (size_t i = 0; i < r->nframes; i++)
		h = fnv_frame(h, &r->frames[i]);
	return h;
}

bool lc__same_record(const struct lc_record *a, const struct lc_record *b)
{
	return a->kind == b->kind && lc__same_stack(a, b);
}

bool lc__seen_record(const struct lc_seen *s, const struct lc_record *r)
{
	uint64_t k = lc__record_key(r);
	for (size_t i = 0; s && i < s->nkeys; i++)
		if (s->keys[i] == k)
			return true;
	return false;
}

bool lc__seen_block(const struct lc_seen *s, uint64_t addr)
{
	size_t lo = 0, hi = s ? s->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->addrs[mid] == addr)
			return true;
		if (s->addrs[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void lc__seen_clear(struct lc_seen *s)
{
	free(s->addrs);
	free(s->keys);
	memset(s, 0, sizeof *s);
}


/* What the library knows about the records of include/lc/records.h beyond what it publishes:
 * the one notion of "the same record", its hash, and the allocation site of a record. The
 * public functions of records.h are defined beside these, in records.c. */
#ifndef LC_UTIL_RECORDS_H
#define LC_UTIL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc/records.h"

/* The frame that names where memory was asked for: the first that is neither an allocator
 * (malloc, calloc, operator new, ...) nor a wrapper of one (a name holding "alloc" in any
 * case, or ending in "strdup" or "strndup": ngx_alloc, xmalloc, g_malloc0, zmalloc; or one of
 * extra, a NULL-terminated list that may be NULL). NULL only without frames. */
const struct lc_frame *lc__alloc_frame(const struct lc_record *rec, const char *const *extra);
/* Whether a and b were allocated by one stack: the same frames (fn, file, line), kind aside. */
bool lc__same_stack(const struct lc_record *a, const struct lc_record *b);
/* The same record: one kind and one allocation stack. The one notion of it in the library:
 * a loss record followed across leak checks, a site across rounds, a block's record. */
bool lc__same_record(const struct lc_record *a, const struct lc_record *b);
/* A hash of what lc__same_record compares: equal records, equal keys. */
uint64_t lc__record_key(const struct lc_record *r);
/* A hash of one frame (fn, file, line), the line that allocated: FNV-1a, as lc__record_key. */
uint64_t lc__frame_key(const struct lc_frame *f);

/* The blocks a full snapshot listed, of the loss records that grew in it: the holder search
 * takes a record's blocks missing here as the ones new since that snapshot. */
struct lc_seen {
	uint64_t *addrs;            /* owned, sorted */
	size_t n;
	uint64_t *keys;             /* owned: lc__record_key() of each record listed */
	size_t nkeys;
};

/* Whether s listed r's record; whether addr was one of its blocks (s may be NULL: no). */
bool lc__seen_record(const struct lc_seen *s, const struct lc_record *r);
bool lc__seen_block(const struct lc_seen *s, uint64_t addr);
void lc__seen_clear(struct lc_seen *s);

#endif

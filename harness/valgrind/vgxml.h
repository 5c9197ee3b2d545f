/* Reader for valgrind memcheck's XML report (--xml=yes), built on expat.
 *
 * It keeps what a leak verdict needs: the leak records (kind, bytes, blocks, allocation stack)
 * and totals per kind, plus the count of non-leak errors. Anything that is not a memcheck
 * XML report (empty, truncated, another tool, an unknown protocol version) is a clear error. */
#ifndef LC_VGXML_H
#define LC_VGXML_H

#include <stdbool.h>
#include <stddef.h>

#include "lc/records.h"


/* Return 0 on success; on failure -1 with a one-line reason in err (no trailing newline),
 * and *out left empty (safe to lc_exit_report_free). */
int lc__exit_report_parse_file(const char *path, struct lc_exit_report *out, char *err, size_t errlen);
int lc__exit_report_parse_buffer(const char *buf, size_t len, struct lc_exit_report *out, char *err, size_t errlen);

/* The indirect bytes of valgrind's "T (D direct, I indirect) bytes in N blocks" sentence (at
 * exit, or while running with deltas stripped), 0 if it has no such split. */
unsigned long lc__indirect_of(const char *sentence);

#endif

/* What the report writers (report.c, report_ci.c, html.c, held.c, source.c) and baseline.c share. Private:
 * the writers themselves are public in lc/leakcheck.h. One escaper per format: lc__json_str
 * (here) for JSON and SARIF, lc_markup_text (public: leakcheck-demo writes HTML too) for HTML
 * and JUnit's XML. */
#ifndef LC_REPORTS_H
#define LC_REPORTS_H

#include <stdbool.h>
#include <stdio.h>

#include "lc/leakcheck.h"

/* s as a JSON string, quotes included. */
void lc__json_str(FILE *f, const char *s);
/* The server's program as the reports name it: SERVER, or "server" when none was given. */
const char *lc__server_name(const struct lc_options *o);

/* source.c, the one source locator: the file of frame at (valgrind and libdw give a base name)
 * into out, honouring --source-dir; false when not found or at names no plain base name. */
bool lc__source_find(const struct lc_options *o, const struct lc_frame *at, char *out, size_t cap);
/* at's file as CI tools want it: the path lc__source_find found, relative to the current folder
 * when under it (into buf), else at's file as it is. */
const char *lc__source_uri(const struct lc_options *o, const struct lc_frame *at, char *buf, size_t cap);
/* Line n of path (1-based) into buf, without its newline; false past the end. */
bool lc__source_line(const char *path, unsigned n, char *buf, size_t cap);

#endif

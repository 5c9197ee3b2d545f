/* What the report writers (report.c, report_ci.c, html.c, held.c) and baseline.c share. Private:
 * the writers themselves are public in lc/leakcheck.h. One escaper per format: lc_json_str
 * (here) for JSON and SARIF, lc_markup_text (public: leakcheck-demo writes HTML too) for HTML
 * and JUnit's XML. */
#ifndef LC_REPORTS_H
#define LC_REPORTS_H

#include <stdio.h>

#include "lc/leakcheck.h"

/* s as a JSON string, quotes included. */
void lc_json_str(FILE *f, const char *s);
/* The server's program as the reports name it: SERVER, or "server" when none was given. */
const char *lc_server_name(const struct lc_options *o);

#endif

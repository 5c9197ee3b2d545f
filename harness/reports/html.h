/* What html.c (the page) and html_chart.c (its chart) share. Private to reports/. */
#ifndef LC_HTML_H
#define LC_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lc/leakcheck.h"

/* html.css, embedded at build time (embed.cmake): the page's one style sheet. */
extern const char lc__html_css[];

/* 368 B, 73.6 kB, 1.2 MB: decimal units, so a chart's round ticks read round. */
const char *lc__html_bytes(double b, char *buf, size_t cap);
/* A whole number with thousands separators: 1,871. */
const char *lc__html_count(double v, char *buf, size_t cap);
/* The colour of the chart's line i: the judged process's in its verdict's colour, the others after. */
const char *lc__html_line_color(const struct lc_report *rep, size_t i);
/* The processes the series has points of, the judged one first, at most cap. */
size_t lc__html_series_pids(const struct lc_report *rep, int *pids, size_t cap);
/* One chart (a <figure> of inline SVG): bytes or blocks against connections served. */
void lc__html_chart(FILE *f, const struct lc_report *rep, bool bytes, const char *title, const char *ylabel);

#endif

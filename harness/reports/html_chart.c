/* --html's chart: memory against connections served, drawn as inline SVG from the report's
 * snapshots (the baseline and the end of each round marked, settling re-samples apart), one
 * line per measured process; and the number formats the page shares with it. */
#include <stdio.h>
#include <string.h>

#include "lc/leakcheck.h"
#include "reports/html.h"
#include "reports/reports.h"

/* 368 B, 73.6 kB, 1.2 MB: decimal units, so a chart's round ticks read round. */
const char *lc__html_bytes(double b, char *buf, size_t cap)
{
	double a = b < 0 ? -b : b;
	if (a < 10 && a != (double)(long)a)
		snprintf(buf, cap, "%.1f B", b);
	else if (a < 1000)
		snprintf(buf, cap, "%.0f B", b);
	else if (a < 1e6)
		snprintf(buf, cap, "%.3g kB", b / 1e3);
	else if (a < 1e9)
		snprintf(buf, cap, "%.3g MB", b / 1e6);
	else
		snprintf(buf, cap, "%.3g GB", b / 1e9);
	return buf;
}

/* A whole number with thousands separators: 1,871. */
const char *lc__html_count(double v, char *buf, size_t cap)
{
	char digits[40];
	snprintf(digits, sizeof digits, "%.0f", v < 0 ? -v : v);
	size_t n = strlen(digits), o = 0;
	if (v < 0 && o + 1 < cap)
		buf[o++] = '-';
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

#define CHART_W 560
#define CHART_H 260
#define PAD_L 70
#define PAD_R 16
#define PAD_T 28
#define PAD_B 44

/* Lines: the judged process's in its verdict's colour (red, blue, amber), the others after. */
static const char *const colors[] = { "#c0392b", "#2471a3", "#7d3c98", "#1e8449", "#b9770e", "#5d6d7e",
				      "#a04000", "#148f77" };

const char *lc__html_line_color(const struct lc_report *rep, size_t i)
{
	size_t first = rep->verdict == LC_LEAK ? 0 : rep->verdict == LC_CLEAN ? 1 : 4;
	return colors[(first + i) % 8];
}

/* A round step of about span/n: 1, 2 or 5 times a power of ten. */
static double nice_step(double span, int n)
{
	double raw = span / n, p = 1;
	if (raw <= 0)
		return 1;
	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	double m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

struct scale {
	double xmax, ymax;
};

static double sx(const struct scale *s, double x)
{
	return PAD_L + x / s->xmax * (CHART_W - PAD_L - PAD_R);
}

static double sy(const struct scale *s, double y)
{
	return CHART_H - PAD_B - y / s->ymax * (CHART_H - PAD_T - PAD_B);
}

static double point_value(const struct lc_point *pt, bool bytes)
{
	return bytes ? (double)pt->bytes : (double)pt->blocks;
}

static void value_text(double v, bool bytes, char *buf, size_t cap)
{
	if (bytes)
		lc__html_bytes(v, buf, cap);
	else
		lc__html_count(v, buf, cap);
}

/* The primary process's round marks: its first point is the baseline, its settled points end
 * the rounds. Bands alternate, so each round is a stripe with its name above. */
static void chart_rounds(FILE *f, const struct lc_report *rep, const struct scale *s, int pid)
{
	double prev = -1;
	size_t settled = 0, total = 0;
	for (size_t i = 0; i < rep->nseries; i++)
		total += rep->series[i].pid == pid && rep->series[i].settled;
	for (size_t i = 0; i < rep->nseries; i++) {
		const struct lc_point *pt = &rep->series[i];
		if (pt->pid != pid)
			continue;
		double x = sx(s, (double)pt->connections);
		if (prev < 0) {
			fprintf(f, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
				   "<text class=\"marklabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">baseline</text>\n",
				x, PAD_T - 6, x, CHART_H - PAD_B, x - 3, PAD_T - 10);
			prev = x;
			continue;
		}
		if (!pt->settled)
			continue;
		settled++;
		/* rounds measured before the extra ones are left out of the verdict */
		bool left_out = total - settled >= lc_report_primary(rep)->nrounds;
		fprintf(f, "<rect class=\"band%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>"
			   "<text class=\"bandlabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s%zu</text>\n",
			settled % 2 ? " odd" : "", prev, PAD_T, x - prev, CHART_H - PAD_T - PAD_B, (prev + x) / 2, PAD_T + 12,
			left_out ? "left out " : "round ", settled);
		prev = x;
	}
}

static void chart_axes(FILE *f, const struct scale *s, bool bytes, const char *ylabel)
{
	char label[48];
	double ystep = nice_step(s->ymax, 4), xstep = nice_step(s->xmax, 6);
	for (double y = 0; y <= s->ymax + ystep / 1000; y += ystep) {
		value_text(y, bytes, label, sizeof label);
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			   "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			PAD_L, sy(s, y), CHART_W - PAD_R, sy(s, y), PAD_L - 6, sy(s, y) + 4, label);
	}
	for (double x = 0; x <= s->xmax + xstep / 1000; x += xstep)
		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", sx(s, x),
			CHART_H - PAD_B + 16, lc__html_count(x, label, sizeof label));
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", PAD_L, CHART_H - PAD_B,
		CHART_W - PAD_R, CHART_H - PAD_B);
	fprintf(f, "<text class=\"axislabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">connections served</text>\n",
		(PAD_L + CHART_W - PAD_R) / 2, CHART_H - 6);
	fprintf(f, "<text class=\"axislabel\" x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
		(PAD_T + CHART_H - PAD_B) / 2, (PAD_T + CHART_H - PAD_B) / 2);
	lc_markup_text(f, ylabel);
	fputs("</text>\n", f);
}

/* One process's line and points; a point's <title> is its tooltip. */
static void chart_line(FILE *f, const struct lc_report *rep, const struct scale *s, int pid, const char *color,
		       bool bytes)
{
	fprintf(f, "<polyline class=\"curve\" stroke=\"%s\" points=\"", color);
	for (size_t i = 0; i < rep->nseries; i++)
		if (rep->series[i].pid == pid)
			fprintf(f, "%.1f,%.1f ", sx(s, (double)rep->series[i].connections),
				sy(s, point_value(&rep->series[i], bytes)));
	fputs("\"/>\n", f);
	bool first = true;
	for (size_t i = 0; i < rep->nseries; i++) {
		const struct lc_point *pt = &rep->series[i];
		char v[48], c[32];
		if (pt->pid != pid)
			continue;
		const char *kind = first ? "baseline" : pt->settled ? "round" : "every";
		value_text(point_value(pt, bytes), bytes, v, sizeof v);
		fprintf(f, "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\" "
			   "data-pid=\"%d\" data-connections=\"%lu\" data-value=\"%.0f\"><title>%s at %s connections "
			   "(pid %d, %s)</title></circle>\n",
			kind, sx(s, (double)pt->connections), sy(s, point_value(pt, bytes)), pt->settled || first ? "4.5" : "2.5",
			pt->settled || first ? color : "#fff", color, pt->pid, pt->connections, point_value(pt, bytes), v,
			lc__html_count((double)pt->connections, c, sizeof c), pt->pid,
			first ? "baseline" : pt->settled ? "end of a round, settled" : "--every, as it was");
		first = false;
	}
}

/* The processes the series holds, the primary first. */
size_t lc__html_series_pids(const struct lc_report *rep, int *pids, size_t cap)
{
	size_t n = 0;
	if (rep->nprocs && rep->procs[rep->primary].pid)
		pids[n++] = rep->procs[rep->primary].pid;
	for (size_t i = 0; i < rep->nseries && n < cap; i++) {
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen = seen || pids[k] == rep->series[i].pid;
		if (!seen)
			pids[n++] = rep->series[i].pid;
	}
	return n;
}

void lc__html_chart(FILE *f, const struct lc_report *rep, bool bytes, const char *title, const char *ylabel)
{
	int pids[LC_MAX_PROCS];
	size_t npids = lc__html_series_pids(rep, pids, LC_MAX_PROCS);
	struct scale s = { 1, bytes ? 1000 : 10 };
	for (size_t i = 0; i < rep->nseries; i++) {
		if (rep->series[i].connections > s.xmax)
			s.xmax = (double)rep->series[i].connections;
		if (point_value(&rep->series[i], bytes) > s.ymax)
			s.ymax = point_value(&rep->series[i], bytes);
	}
	double step = nice_step(s.ymax * 1.05, 4); /* room above the top point, a round top tick */
	s.ymax = step * (double)(unsigned long)((s.ymax * 1.05 + step - 1e-9) / step);
	fprintf(f, "<figure class=\"chart\"><svg role=\"img\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">"
		   "<title>", CHART_W, CHART_H);
	lc_markup_text(f, title);
	fputs("</title>\n", f);
	chart_rounds(f, rep, &s, npids ? pids[0] : 0);
	chart_axes(f, &s, bytes, ylabel);
	for (size_t i = 0; i < npids; i++)
		chart_line(f, rep, &s, pids[i], lc__html_line_color(rep, i), bytes);
	fputs("</svg><figcaption>", f);
	lc_markup_text(f, title);
	fputs("</figcaption></figure>\n", f);
}

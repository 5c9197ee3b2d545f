/* leakcheck's output: a short human table and a JSON object. */
#include <stdio.h>
#include <string.h>

#include "lc/leakcheck.h"
#include "util/records.h"
#include "reports/reports.h"
#include "util/text.h"

static const char *const verdict_names[] = { "clean", "leak", "error" };

const char *lc_verdict_name(enum lc_verdict v)
{
	return (unsigned)v < 3 ? verdict_names[v] : "?";
}

/* --alloc-fn wrappers, for naming sites (set by the two entry points below). */
static const char *const *alloc_fns;

/* The collector's frees per connection of the rounds it ran before. */
static double python_freed(const struct lc_report *rep)
{
	double connections = (double)rep->python.rounds * rep->per_round;
	return connections > 0 ? (double)rep->python.collected / connections : 0;
}

/* The first frame that is neither an allocator nor a wrapper: where the program asked. */
static const struct lc_frame *alloc_site(const struct lc_record *rec)
{
	return lc__alloc_frame(rec, alloc_fns);
}

static void print_site(FILE *f, const struct lc_record *rec)
{
	const struct lc_frame *s = alloc_site(rec);
	if (!s) {
		fputs("(no stack)", f);
		return;
	}
	fprintf(f, "%s", s->fn[0] ? s->fn : "???");
	if (s->file[0])
		fprintf(f, " (%s:%u)", s->file, s->line);
	/* one caller more: which path allocated it */
	size_t i = (size_t)(s - rec->frames) + 1;
	if (i < rec->nframes && rec->frames[i].file[0])
		fprintf(f, " <- %s (%s:%u)", rec->frames[i].fn, rec->frames[i].file, rec->frames[i].line);
}

static void print_exit(FILE *f, const struct lc_report *rep)
{
	const struct lc_exit_report *x = &rep->exit;
	bool lost = x->bytes[LC_DEFINITE] + x->bytes[LC_INDIRECT] > 0;
	if (!rep->have_exit) {
		fprintf(f, "  %-24s %-52s %s\n", "lost at exit", rep->exit_expected ? "no report" : "not measured natively", "-");
		return;
	}
	char what[128];
	snprintf(what, sizeof what, "%lu B definite, %lu B indirect, %lu B possible", x->bytes[LC_DEFINITE],
		 x->bytes[LC_INDIRECT], x->bytes[LC_POSSIBLE]);
	fprintf(f, "  %-24s %-52s %s\n", "lost at exit", what, lost ? "LEAK" : "ok");
	if (rep->exit_one_time)
		fprintf(f, "      one-time: lost at start-up or shutdown, not per connection (no memory grew lost in "
			   "any round): still a leak by the zero-lost rule; a suppression forgives it\n");
	for (size_t i = 0, shown = 0; i < x->nrecords && shown < 5; i++) {
		const struct lc_record *rec = &x->records[i];
		if (rec->kind != LC_DEFINITE && rec->kind != LC_INDIRECT)
			continue;
		fprintf(f, "      %lu B in %lu blocks %s: ", lc_record_own_bytes(rec), rec->blocks, lc_kind_name(rec->kind));
		print_site(f, rec);
		if (rec->indirect) /* valgrind counts them in this record too: they are their own rows */
			fprintf(f, " (holding %lu B indirectly lost, counted apart)", rec->indirect);
		fputc('\n', f);
		shown++;
	}
}

/* "%+.1f" without the "-0.0" a tiny negative mean would print. */
static double nz(double v)
{
	return v > -0.05 && v < 0.05 ? 0.0 : v;
}

/* Which measure of a round a row shows. */
enum measure { M_BLOCKS, M_BYTES, M_FDS, M_THREADS, M_OBJECTS, M_PAGES };

static long round_value(const struct lc_round *r, enum measure m)
{
	switch (m) {
	case M_BLOCKS: return r->dblocks;
	case M_BYTES: return r->dbytes;
	case M_FDS: return r->dfds;
	case M_THREADS: return r->dthreads;
	case M_PAGES: return r->dpages;
	case M_OBJECTS: break;
	}
	return r->dobjects;
}

/* "+3 +3 +4": measure m of each round. */
static void rounds_text(const struct lc_round *r, size_t n, enum measure m, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		lc__appendf(buf, cap, "%s%+ld", i ? " " : "", round_value(&r[i], m));
}

/* The pages measure (native.c, where the allocator preload is not in the process): anonymous
 * memory less first use, and there are no blocks or sites. */
static void print_native_memory(FILE *f, const struct lc_report *rep, const struct lc_proc_result *p, bool multi)
{
	char what[320], bytes[240], title[64];
	rounds_text(p->rounds, p->nrounds, M_BYTES, bytes, sizeof bytes);
	snprintf(title, sizeof title, multi ? "memory, anon (pid %d)" : "anonymous memory", p->pid);
	snprintf(what, sizeof what, "%+.1f B per connection (rounds: %s B)", nz(p->bytes_per_cycle), bytes);
	fprintf(f, "  %-24s %-52s %s\n", title, p->nrounds ? what : "not measured",
		p->bytes_grew ? "LEAK" : p->nrounds ? "ok" : "-");
	long d[LC_MAX_ROUNDS];
	bool above = p->nrounds > 0;
	for (size_t i = 0; i < p->nrounds; i++) {
		d[i] = p->rounds[i].dbytes;
		above = above && d[i] >= (long)lc_bytes_floor(rep);
	}
	if (above && !p->bytes_grew && !lc_steady(d, p->nrounds))
		fprintf(f, "      every round grew, but unevenly (the smallest below the spread between them): "
			   "allocator noise, not a leak one can tell natively\n");
}

/* A row for threads, or for the server's counter. */
static void print_count(FILE *f, const struct lc_proc_result *p, enum measure what, const char *title, long base, bool leak)
{
	char rounds[200], text[320];
	rounds_text(p->rounds, p->nrounds, what, rounds, sizeof rounds);
	snprintf(text, sizeof text, "%ld at baseline, per round: %s", base, rounds);
	fprintf(f, "  %-24s %-52s %s\n", title, p->nrounds ? text : "not measured", leak ? "LEAK" : p->nrounds ? "ok" : "-");
}

/* What the last round grew by that no listed site holds: one line, so the sites and it add up
 * to the round (a site's bytes are its own blocks', indirect ones listed as their own sites). */
static void other_growth(FILE *f, const struct lc_proc_result *p, bool leak)
{
	long listed_blocks = 0, listed_bytes = 0;
	if (!leak || p->nrounds == 0 || p->nsites == 0)
		return;
	for (size_t i = 0; i < p->nsites && i < 5; i++) {
		listed_blocks += p->sites[i].dblocks;
		listed_bytes += p->sites[i].dbytes;
	}
	const struct lc_round *last = &p->rounds[p->nrounds - 1];
	long blocks = last->dblocks - listed_blocks, bytes = last->dbytes - listed_bytes;
	if (blocks < 0 || bytes < 0) /* no negative "other": memory elsewhere shrank meanwhile */
		fprintf(f, "      the sites above grew by more than the whole last round (%+ld blocks %+ld B): memory "
			   "elsewhere was freed meanwhile\n", last->dblocks, last->dbytes);
	else if (blocks != 0 || bytes != 0)
		fprintf(f, "      %+ld blocks %+ld B other: the rest of the last round's growth (%+ld blocks %+ld B), at "
			   "sites not listed or freed since\n", blocks, bytes, last->dblocks, last->dbytes);
}

/* The Python types of process p that grew in every round, before its C sites: the class, its
 * .py line, and the path from a root that holds it. */
static void print_python(FILE *f, const struct lc_report *rep, const struct lc_proc_result *p)
{
	const struct lc_python *py = &rep->python;
	for (size_t i = 0; py->pid == p->pid && i < py->ntypes; i++) {
		const struct lc_pytype *y = &py->types[i];
		char rounds[200] = "";
		for (size_t k = 0; k < y->nrounds; k++)
			lc__appendf(rounds, sizeof rounds, "%s%+ld", k ? " " : "", y->rounds[k]);
		const char *base = strrchr(y->file, '/');
		fprintf(f, "      python: %+.2f %s per connection (rounds: %s)", nz(y->per_connection), y->type, rounds);
		if (y->file[0])
			fprintf(f, " at %s:%u in %s", base ? base + 1 : y->file, y->line, y->function);
		else if (rep->have_exit) /* the run read an exit report: not traced (run/python.c) */
			fputs(" (its .py line is not traced here: tracing would change the exit report; --native traces it)", f);
		fputc('\n', f);
		for (size_t h = 0; h < y->nholders; h++)
			fprintf(f, "        %s %s [%lu of %lu sampled]\n", h ? "also" : "held by:", y->holders[h].path,
				y->holders[h].objects, y->samples);
	}
}

static void print_heap(FILE *f, const struct lc_report *rep, const struct lc_proc_result *p, bool multi)
{
	char what[320], blocks[200], bytes[240], title[64];
	bool leak = p->retained || p->bytes_grew, grew_some = p->blocks_per_cycle > 0 || p->bytes_per_cycle >= 1;
	rounds_text(p->rounds, p->nrounds, M_BLOCKS, blocks, sizeof blocks);
	rounds_text(p->rounds, p->nrounds, M_BYTES, bytes, sizeof bytes);
	snprintf(title, sizeof title, multi ? "retained (pid %d)" : "retained while running", p->pid);
	snprintf(what, sizeof what, "%+.2f blocks, %+.1f B per connection (rounds: %s blocks)", nz(p->blocks_per_cycle),
		 nz(p->bytes_per_cycle), blocks);
	fprintf(f, "  %-24s %-52s %s\n", title, p->nrounds ? what : "not measured",
		leak ? "LEAK" : p->nrounds ? "ok" : "-");
	bool bounded = p->confirm.connections && !p->confirm.scaled;
	if (p->nrounds)
		fprintf(f, "      bytes per round: %s%s\n", bytes,
			!leak && grew_some && !bounded ? " (growth not in every round: one-time, not a leak)" : "");
	if (p->nrounds && p->measure == LC_MEASURE_ALLOCATOR) {
		char pages[240];
		rounds_text(p->rounds, p->nrounds, M_PAGES, pages, sizeof pages);
		fprintf(f, "      pages per round: %s B (anonymous memory: malloc's and what it does not see)\n", pages);
	}
	if (leak)
		print_python(f, rep, p);
	for (size_t i = 0; leak && i < p->nsites - p->nsmall && i < 5; i++) {
		const struct lc_site *s = &p->sites[i];
		fprintf(f, "      %+ld blocks %+ld B %s: ", s->dblocks, s->dbytes,
			p->measure == LC_MEASURE_ALLOCATOR ? "live" : lc_kind_running_name(s->rec.kind));
		print_site(f, &s->rec);
		fputc('\n', f);
		if (p->held[i].searched) {
			char held[1024];
			lc_retainer_text(&p->held[i], held, sizeof held);
			fprintf(f, "        held by: %s\n", held);
		} else if (s->dbytes < (long)lc_bytes_floor(rep)) { /* every site says why it has no holder */
			fprintf(f, "        held by: not searched (it grew %ld B in the last round; the search starts at "
				   "%lu B a round)\n", s->dbytes, lc_bytes_floor(rep));
		} else {
			fprintf(f, "        held by: not searched (%s)\n", rep->retain_calls ? "the search did not reach it" :
				"no holder search in this run");
		}
	}
	for (size_t i = p->nsites - p->nsmall; leak && i < p->nsites; i++) {
		const struct lc_site *s = &p->sites[i];
		fprintf(f, "      apart, 2%% of the connections a round or less, beside the leak (as a runtime's cache grows: "
			   "glibc's thread stacks, a pool; not searched for holders): %+ld blocks %+ld B: ", s->dblocks, s->dbytes);
		print_site(f, &s->rec);
		fputc('\n', f);
	}
	other_growth(f, p, leak);
	if (leak && p->some_rounds.sites)
		fprintf(f, "      %u more site%s grew in some rounds only (%+ld B in all): a connection caught in "
			   "flight by a snapshot, or one-time growth; not listed\n", p->some_rounds.sites,
			p->some_rounds.sites > 1 ? "s" : "", p->some_rounds.bytes);
	(void)rep;
}

/* struct lc_phases, in the run's order. */
enum { NPHASES = 10 };
static const char *const phase_names[NPHASES] = { "ready", "warmup", "baseline", "rounds", "extra", "confirm",
						  "settling", "holders", "exit", "other" };

static double phase_seconds(const struct lc_phases *ph, int i)
{
	const double v[NPHASES] = { ph->ready, ph->warmup, ph->baseline, ph->rounds, ph->extra, ph->confirm,
				    ph->settling, ph->holders, ph->exit, ph->other };
	return v[i];
}

/* One line: where the run's time went (the phases that took 0.05 s or more). */
static void print_phases(FILE *f, const struct lc_report *rep)
{
	fputs("  time:", f);
	for (int i = 0, n = 0; i < NPHASES; i++)
		if (phase_seconds(&rep->phases, i) >= 0.05)
			fprintf(f, "%s %s %.1fs", n++ ? "," : "", phase_names[i], phase_seconds(&rep->phases, i));
	fprintf(f, " (%.1fs in all)\n", rep->seconds);
}

/* The confirming round (leakcheck.h's lc_confirm), under the memory rows. */
static void print_confirm(FILE *f, const struct lc_proc_result *p)
{
	const struct lc_confirm *c = &p->confirm;
	if (!c->connections)
		return;
	fprintf(f, "      %s: a round of %u connections (%ux)%s grew %.1fx the smallest round's %s, its second half "
		   "%.1fx its first: %s\n", c->scaled ? "confirmed" : "bounded", c->connections / (c->again + 1), c->times,
		c->again ? ", measured again as its halves fell off," : "", c->ratio, c->unit, c->second,
		c->scaled ? "a leak grows with the connections" : "a cache filling, not a leak");
}

/* One process's rows: its counter, memory, fds and threads. */
static void print_proc(FILE *f, const struct lc_report *rep, const struct lc_proc_result *p, bool multi)
{
	char what[320], fds[200];
	if (p->base_objects >= 0 && p->nrounds)
		print_count(f, p, M_OBJECTS, "objects (--stats)", p->base_objects, p->objects_grew);
	if (p->measure == LC_MEASURE_PAGES)
		print_native_memory(f, rep, p, multi);
	else
		print_heap(f, rep, p, multi);
	print_confirm(f, p);
	rounds_text(p->rounds, p->nrounds, M_FDS, fds, sizeof fds);
	snprintf(what, sizeof what, "%d at baseline, per round: %s", p->base_fds, fds);
	fprintf(f, "  %-24s %-52s %s\n", "open fds", p->nrounds ? what : "not measured",
		p->fds_leaked ? "LEAK" : p->nrounds ? "ok" : "-");
	if (p->base_threads > 0)
		print_count(f, p, M_THREADS, "threads", p->base_threads, p->threads_leaked);
}

static void print_running(FILE *f, const struct lc_report *rep)
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	size_t judged = 0;
	for (size_t i = 0; i < rep->nprocs; i++)
		judged += rep->procs[i].judged;
	if (judged <= 1) {
		print_proc(f, rep, top, false); /* the primary process, or procs[0] unmeasured */
	} else {
		for (size_t i = 0; i < rep->nprocs; i++)
			if (rep->procs[i].judged) {
				fprintf(f, "  process %d (%s)%s\n", rep->procs[i].pid, rep->procs[i].name,
					rep->procs[i].accepted ? ": serves the connections" : "");
				print_proc(f, rep, &rep->procs[i], true);
			}
	}
	for (size_t i = 0; i < rep->nprocs; i++) {
		const struct lc_proc_result *p = &rep->procs[i];
		if (p->judged || !p->pid)
			continue;
		if (top->nrounds && p->nrounds >= top->nrounds) /* an error ended the run before the verdict */
			fprintf(f, "  process %d (%s): measured in all %zu rounds, not judged: the run ended first\n",
				p->pid, p->name, p->nrounds);
		else
			fprintf(f, "  process %d (%s): short-lived, not judged (alive for %zu of %zu rounds)\n", p->pid,
				p->name, p->nrounds, top->nrounds);
	}
	if (rep->settle_waits)
		fprintf(f, "  settling: %u snapshot%s re-sampled until the heap stopped shrinking, %.2fs%s\n",
			rep->settle_waits, rep->settle_waits > 1 ? "s" : "", rep->settle_seconds,
			rep->unsettled ? " (some still shrinking at the timeout)" : "");
	if (rep->extra_rounds)
		fprintf(f, "  extra rounds: %u (the first rounds did not grow and the last did, as when frees are "
			   "pending at the unsettled baseline; or, natively, every round grew unevenly, as a "
			   "garbage collector's pending cycles make them): the last %zu rounds are judged\n",
			rep->extra_rounds, top->nrounds);
	if (rep->decay_rounds)
		fprintf(f, "  warm-up?: a few blocks a round, so %u more round%s measured until one stayed flat "
			   "(warm-up) or the rate held (a leak): the last %zu rounds are judged\n", rep->decay_rounds,
			rep->decay_rounds > 1 ? "s were" : " was", top->nrounds);
	if (rep->retain_calls)
		fprintf(f, "  holders: found with %u monitor commands, %.2fs\n", rep->retain_calls, rep->retain_seconds);
	if (rep->pending_left > 0)
		fprintf(f, "  warning: a snapshot went ahead while the server still held up to %d of the round's "
			   "connections open (its socket fds, or its sockets in the TCP tables, stayed for 0.25 s): what "
			   "they hold may be counted as growth. A server that keeps a connection after the client "
			   "closed it does this (a lingering close, a timer)%s\n", rep->pending_left,
			rep->no_reply ? "; with a script that expects no reply the harness cannot tell when one was "
					"served: add an expect step (--expect, or expect in --script) to make it exact" : "");
	/* a server that waits before it closes (an SMTP server's QUIT: 200 ms) made a native run of
	 * 1,650 connections take 105 s, where --close eof takes 0.5 ms a connection */
	if (rep->resets_unread)
		fprintf(f, "  resets: the server had not read %u connection%s' request %.2fs after it was sent%s\n",
			rep->resets_unread, rep->resets_unread > 1 ? "s" : "", LC_RESET_WAIT,
			rep->resets_unread >= LC_RESET_UNREAD ? ": resets stopped waiting (a request it leaves unread is lost "
			"with its reset; --close eof keeps every one)" : "");
	double each = rep->driven ? rep->drive_seconds / (double)rep->driven : 0;
	if (each >= LC_SLOW_CONNECTION)
		fprintf(f, "  slow: %.2fs a connection on average (%lu connections, %.0fs)%s%s%s\n", each, rep->driven,
			rep->drive_seconds, rep->slow[0] ? ": " : "", rep->slow,
			rep->per_round > 20 ? "; --cycles 20 shortens the run" : "");
	double close_ms = rep->server_closes ? 1000 * rep->server_close_seconds / (double)rep->server_closes : 0;
	if (close_ms >= 20)
		fprintf(f, "  slow closes: the server took %.0f ms on average to close after the quit line (%lu "
			   "connections, %.1fs in all): --close eof is faster\n", close_ms, rep->server_closes,
			rep->server_close_seconds);
	if (rep->snapshots[0] && strcmp(rep->snapshots, "vgdb relay") != 0)
		fprintf(f, "  snapshots: %s\n", rep->snapshots);
	if (rep->wakes)
		fprintf(f, "  snapshots: %u connection%s opened only to wake a multi-threaded process without the ticker "
			   "(liblcwake.so): counted in no round, but served: the figures may include them\n", rep->wakes,
			   rep->wakes > 1 ? "s" : "");
	if (rep->measure != LC_MEASURE_HEAP && rep->nprocs)
		fprintf(f, "  measure: %s\n", rep->measure == LC_MEASURE_PAGES ?
			"pages (the allocator preload is not in the process: a static binary, its environment cleared of "
			"LD_PRELOAD, or no preload): anonymous memory, first use of memory mapped at the baseline not "
			"counted (the brk heap's is)" :
			"allocator (live blocks and bytes counted by the preload in the server, per call site)");
	for (size_t i = 0; rep->measure == LC_MEASURE_ALLOCATOR && i < rep->nprocs; i++)
		if (rep->procs[i].judged && rep->procs[i].measure == LC_MEASURE_PAGES)
			fprintf(f, "  measure: pid %d (%s) in pages only: the allocator preload is not in it (a static "
				   "binary, or its environment cleared of LD_PRELOAD, as a master that cleans it before "
				   "starting its services): anonymous memory, no sites\n", rep->procs[i].pid,
				rep->procs[i].name);
	if (strcmp(rep->python.agent, "on") == 0)
		fprintf(f, "  python: agent on: a full collection before each snapshot (%.3fs holding the interpreter "
			   "in all); the collector freed %.2f objects per connection in the rounds (reference cycles: "
			   "garbage, not a leak)\n",
			rep->python.seconds, python_freed(rep));
	else if (rep->python.agent[0])
		fprintf(f, "  python: agent %s: cyclic garbage waiting for the collector may read as growth\n",
			rep->python.agent);
	if (rep->measure == LC_MEASURE_PAGES && rep->per_round)
		fprintf(f, "  detection limit: %.1f B per connection (%lu B per round over %u connections; idle "
			   "noise %lu B): less growth is invisible natively, memcheck sees one block\n",
			lc_detection_limit(rep), lc_bytes_floor(rep), rep->per_round, rep->noise);
}

void lc_report_print(FILE *f, const struct lc_report *rep, const struct lc_options *o, bool quiet)
{
	alloc_fns = o->alloc_fns;
	if (!quiet) {
		fprintf(f, "leakcheck: %s  (%u cycles x %u rounds, warmup %u, close %s, concurrency %u)\n",
			lc__server_name(o), o->cycles, o->rounds,
			o->warmup, lc_close_name(o->close), o->concurrency);
		if (rep->verdict != LC_ERROR || lc_report_primary(rep)->nrounds || rep->have_exit) {
			print_exit(f, rep);
			print_running(f, rep);
			if (o->write_suppressions && rep->have_exit)
				fprintf(f, "  suppressions: %u written to %s for review (each loss at exit)\n",
					rep->suppressions_written, o->write_suppressions);
		}
		print_phases(f, rep);
		if (rep->kept)
			fprintf(f, "  raw logs kept in %s\n", rep->workdir);
	}
	fprintf(f, "verdict: %s: %s (%.1fs)\n", lc_verdict_name(rep->verdict), rep->reason, rep->seconds);
}

const char *lc__server_name(const struct lc_options *o)
{
	return o->server_argv && o->server_argv[0] ? o->server_argv[0] : "server";
}

void lc_markup_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(ch < 0x20 && ch != '\t' && ch != '\n' ? '?' : ch, f);
		}
	}
}

void lc__json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* "retainer": {"root_kind": ..., "root": ... | null, "chain": [{"site", "file", "line",
 * "offset", "count"}, ...], "holders": [{"root_kind", "root", "blocks", "bytes"}, ...],
 * "blocks", "bytes", "new_blocks", "unreached_blocks"}: the first three as CI scripts read them; the holders
 * ranked, each with its share of the record's blocks searched ("blocks", "bytes": those new
 * since the snapshot before the last when "new_blocks"). */
static void json_retainer(FILE *f, const struct lc_retainer *r)
{
	fputs(", \"retainer\": {\"root_kind\": ", f);
	lc__json_str(f, lc_root_kind_name(r->kind));
	fputs(", \"root\": ", f);
	if (r->root[0])
		lc__json_str(f, r->root);
	else
		fputs("null", f);
	fputs(", \"chain\": [", f);
	for (size_t i = 0; i < r->nchain; i++) {
		const struct lc_link *l = &r->chain[i];
		fputs(i ? ", {\"site\": " : "{\"site\": ", f);
		lc__json_str(f, l->at.fn);
		fputs(", \"file\": ", f);
		lc__json_str(f, l->at.file);
		fprintf(f, ", \"line\": %u, \"offset\": %ld, \"count\": %lu}", l->at.line, l->offset, l->count);
	}
	fputs("], \"holders\": [", f);
	for (size_t i = 0; i < r->nholders; i++) {
		fputs(i ? ", {\"root_kind\": " : "{\"root_kind\": ", f);
		lc__json_str(f, lc_root_kind_name(r->holders[i].kind));
		fputs(", \"root\": ", f);
		lc__json_str(f, r->holders[i].root);
		fprintf(f, ", \"blocks\": %lu, \"bytes\": %lu}", r->holders[i].blocks, r->holders[i].bytes);
	}
	fprintf(f, "], \"blocks\": %lu, \"bytes\": %lu, \"new_blocks\": %s, \"unreached_blocks\": %lu", r->blocks,
		r->bytes, r->new_blocks ? "true" : "false", r->unreached);
	fputs(", \"alike\": ", f); /* another root as near to the top holder's blocks, or null */
	if (r->alike.blocks) {
		fputs("{\"root_kind\": ", f);
		lc__json_str(f, lc_root_kind_name(r->alike.kind));
		fputs(", \"root\": ", f);
		lc__json_str(f, r->alike.root);
		fprintf(f, ", \"blocks\": %lu, \"bytes\": %lu}}", r->alike.blocks, r->alike.bytes);
	} else {
		fputs("null}", f);
	}
}

/* growth: the site's growth in each of nrounds rounds, or NULL (a loss at exit). */
/* live: a site of the allocator measure, whose blocks have no kind of memcheck's ("live", as
 * the text says; what reaches them is the holder's, "lost" among them) */
static void json_record(FILE *f, const struct lc_record *rec, long dblocks, long dbytes, bool delta, bool live,
			const struct lc_retainer *held, const struct lc_site_rounds *growth, size_t nrounds,
			const char *apart)
{
	const struct lc_frame *s = alloc_site(rec);
	fputs("{\"kind\": ", f);
	lc__json_str(f, live ? "live" : lc_kind_name(rec->kind));
	fprintf(f, ", \"bytes\": %lu, \"blocks\": %lu, \"holds_indirect_bytes\": %lu", lc_record_own_bytes(rec),
		rec->blocks, rec->indirect);
	if (delta)
		fprintf(f, ", \"grew_blocks\": %ld, \"grew_bytes\": %ld", dblocks, dbytes);
	fputs(", \"site\": ", f);
	lc__json_str(f, s ? s->fn : "");
	fputs(", \"file\": ", f);
	lc__json_str(f, s ? s->file : "");
	fprintf(f, ", \"line\": %u, \"stack\": [", s ? s->line : 0);
	for (size_t i = 0; i < rec->nframes; i++) {
		fprintf(f, "%s{\"fn\": ", i ? ", " : "");
		lc__json_str(f, rec->frames[i].fn);
		fputs(", \"file\": ", f);
		lc__json_str(f, rec->frames[i].file);
		fprintf(f, ", \"line\": %u}", rec->frames[i].line);
	}
	fputc(']', f);
	if (held)
		json_retainer(f, held);
	if (growth) {
		fputs(", \"rounds\": [", f);
		for (size_t k = 0; k < nrounds; k++)
			fprintf(f, "%s{\"blocks\": %ld, \"bytes\": %ld}", k ? ", " : "", growth->blocks[k], growth->bytes[k]);
		fputc(']', f);
	}
	if (apart) { /* listed apart (struct lc_proc_result's nsmall) */
		fputs(", \"apart\": ", f);
		lc__json_str(f, apart);
	}
	fputc('}', f);
}

static void json_exit(FILE *f, const struct lc_report *rep)
{
	const struct lc_exit_report *x = &rep->exit;
	fprintf(f, "  \"exit\": {\"report\": %s, \"status\": ", rep->have_exit ? "true" : "false");
	lc__json_str(f, rep->exit_status);
	fprintf(f, ", \"definitely_lost_bytes\": %lu, \"definitely_lost_blocks\": %lu,"
		   " \"indirectly_lost_bytes\": %lu, \"indirectly_lost_blocks\": %lu,"
		   " \"possibly_lost_bytes\": %lu, \"possibly_lost_blocks\": %lu,"
		   " \"still_reachable_bytes\": %lu, \"other_errors\": %lu, \"one_time\": %s, \"records\": [",
		x->bytes[LC_DEFINITE], x->blocks[LC_DEFINITE], x->bytes[LC_INDIRECT], x->blocks[LC_INDIRECT],
		x->bytes[LC_POSSIBLE], x->blocks[LC_POSSIBLE], x->bytes[LC_REACHABLE], x->other_errors,
		rep->exit_one_time ? "true" : "false");
	for (size_t i = 0, n = 0; i < x->nrecords; i++) {
		if (x->records[i].kind == LC_REACHABLE)
			continue;
		fputs(n++ ? ",\n    " : "\n    ", f);
		json_record(f, &x->records[i], 0, 0, false, false, NULL, NULL, 0, NULL);
	}
	fputs("]},\n", f);
}

/* retained.python: null for a server with no CPython process. */
static void json_python(FILE *f, const struct lc_report *rep)
{
	fputs(", \"python\": ", f);
	if (!rep->python.agent[0]) {
		fputs("null", f);
		return;
	}
	fputs("{\"agent\": ", f);
	lc__json_str(f, rep->python.agent);
	fprintf(f, ", \"agent_seconds\": %.6f, \"collector_freed_per_connection\": %.4f, \"pid\": %d, \"types\": [",
		rep->python.seconds, python_freed(rep), rep->python.pid);
	for (size_t i = 0; i < rep->python.ntypes; i++) {
		const struct lc_pytype *y = &rep->python.types[i];
		fputs(i ? ", {\"type\": " : "{\"type\": ", f);
		lc__json_str(f, y->type);
		fprintf(f, ", \"class\": %s, \"per_connection\": %.4f, \"rounds\": [", y->is_class ? "true" : "false",
			y->per_connection);
		for (size_t k = 0; k < y->nrounds; k++)
			fprintf(f, "%s%ld", k ? ", " : "", y->rounds[k]);
		fputs("], \"site\": ", f);
		if (y->file[0]) {
			fputs("{\"file\": ", f);
			lc__json_str(f, y->file);
			fprintf(f, ", \"line\": %u, \"function\": ", y->line);
			lc__json_str(f, y->function);
			fprintf(f, ", \"objects\": %lu}", y->site_objects);
		} else {
			fputs("null", f);
		}
		fprintf(f, ", \"samples\": %lu, \"holders\": [", y->samples);
		for (size_t h = 0; h < y->nholders; h++) {
			fputs(h ? ", {\"path\": " : "{\"path\": ", f);
			lc__json_str(f, y->holders[h].path);
			fprintf(f, ", \"objects\": %lu}", y->holders[h].objects);
		}
		fputs("]}", f);
	}
	fputs("]}", f);
}

/* "confirm": the confirming round of growth that scales, or null when none was needed. */
static void json_confirm(FILE *f, const struct lc_confirm *c)
{
	fputs(", \"confirm\": ", f);
	if (!c->connections) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"connections\": %u, \"times\": %u, \"again\": %u, \"halves\": [", c->connections, c->times,
		c->again);
	for (int h = 0; h < 2; h++)
		fprintf(f, "%s{\"blocks\": %ld, \"bytes\": %ld, \"fds\": %d, \"threads\": %d, \"objects\": %ld}",
			h ? ", " : "", c->halves[h].dblocks, c->halves[h].dbytes, c->halves[h].dfds, c->halves[h].dthreads,
			c->halves[h].dobjects);
	fputs("], \"unit\": ", f);
	lc__json_str(f, c->unit);
	fprintf(f, ", \"ratio\": %.3f, \"second_half\": %.3f, \"scaled\": %s}", c->ratio, c->second,
		c->scaled ? "true" : "false");
}

static void json_running(FILE *f, const struct lc_report *rep)
{
	const struct lc_proc_result *top = lc_report_primary(rep); /* what the verdict shows */
	fputs("  \"retained\": {\"measure\": ", f);
	lc__json_str(f, lc_measure_name(rep->measure));
	fprintf(f, ", \"leaked\": %s, \"connections_per_round\": %u,"
		   " \"blocks_per_cycle\": %.4f, \"bytes_per_cycle\": %.4f,"
		   " \"baseline_blocks\": %lu, \"baseline_bytes\": %lu, \"rounds\": [",
		top->retained ? "true" : "false", rep->per_round, top->blocks_per_cycle, top->bytes_per_cycle,
		lc_snapshot_blocks(&rep->baseline), lc_snapshot_bytes(&rep->baseline));
	for (size_t i = 0; i < top->nrounds; i++)
		fprintf(f, "%s{\"blocks\": %ld, \"bytes\": %ld, \"threads\": %d, \"objects\": %ld}", i ? ", " : "",
			top->rounds[i].dblocks, top->rounds[i].dbytes, top->rounds[i].dthreads, top->rounds[i].dobjects);
	fputs("], \"sites\": [", f);
	for (size_t i = 0; i < top->nsites; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		json_record(f, &top->sites[i].rec, top->sites[i].dblocks, top->sites[i].dbytes, true,
			    rep->measure == LC_MEASURE_ALLOCATOR,
			    top->held[i].searched ? &top->held[i] : NULL, &top->site_rounds[i], top->nrounds,
			    i >= top->nsites - top->nsmall ? "2% of the connections a round or less, beside the leak: as a runtime's cache grows" : NULL);
	}
	fprintf(f, "], \"some_rounds_only\": {\"sites\": %u, \"bytes\": %ld", top->some_rounds.sites,
		top->some_rounds.bytes);
	fputs("}, \"series\": [", f);
	for (size_t i = 0; i < rep->nseries; i++) {
		const struct lc_point *p = &rep->series[i];
		fprintf(f, "%s{\"connections\": %lu, \"pid\": %d, \"blocks\": %lu, \"bytes\": %lu, \"settled\": %s}",
			i ? ", " : "", p->connections, p->pid, p->blocks, p->bytes, p->settled ? "true" : "false");
	}
	fprintf(f, "], \"bytes_grew\": %s, \"threads_leaked\": %s, \"objects_grew\": %s, \"objects_per_cycle\": %.4f, "
		   "\"bytes_floor_per_round\": %lu, \"settle\": {\"resampled\": %u, \"seconds\": %.3f, \"unsettled\": %u,"
		   " \"extra_rounds\": %u, \"decay_rounds\": %u},"
		   " \"pending_sockets_left\": %d, \"snapshots\": ",
		top->bytes_grew ? "true" : "false", top->threads_leaked ? "true" : "false",
		top->objects_grew ? "true" : "false", top->objects_per_cycle, lc_bytes_floor(rep), rep->settle_waits, rep->settle_seconds, rep->unsettled,
		rep->extra_rounds, rep->decay_rounds,
		rep->pending_left);
	lc__json_str(f, rep->snapshots);
	fprintf(f, ", \"wake_connections\": %u", rep->wakes);
	json_confirm(f, &top->confirm);
	json_python(f, rep);
	fputs(", \"processes\": [", f);
	for (size_t i = 0; i < rep->nprocs; i++) {
		const struct lc_proc_result *p = &rep->procs[i];
		fprintf(f, "%s{\"pid\": %d, \"name\": ", i ? ", " : "", p->pid);
		lc__json_str(f, p->name);
		fputs(", \"measure\": ", f);
		lc__json_str(f, lc_measure_name(p->measure));
		fprintf(f, ", \"served_connections\": %s, \"judged\": %s, \"leaked\": %s, \"bytes_grew\": %s,"
			   " \"fds_leaked\": %s, \"rounds\": [", p->accepted ? "true" : "false", p->judged ? "true" : "false",
			p->retained ? "true" : "false", p->bytes_grew ? "true" : "false", p->fds_leaked ? "true" : "false");
		for (size_t k = 0; k < p->nrounds; k++)
			fprintf(f, "%s{\"blocks\": %ld, \"bytes\": %ld, \"fds\": %d, \"threads\": %d, \"objects\": %ld}",
				k ? ", " : "", p->rounds[k].dblocks, p->rounds[k].dbytes, p->rounds[k].dfds,
				p->rounds[k].dthreads, p->rounds[k].dobjects);
		fputs("]}", f);
	}
	fprintf(f, "]},\n  \"fds\": {\"leaked\": %s, \"baseline\": %d, \"per_round\": [",
		top->fds_leaked ? "true" : "false", top->base_fds);
	for (size_t i = 0; i < top->nrounds; i++)
		fprintf(f, "%s%d", i ? ", " : "", top->rounds[i].dfds);
	fputs("]}\n", f);
}

int lc_report_json(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	alloc_fns = o->alloc_fns;
	fputs("{\n  \"verdict\": ", f);
	lc__json_str(f, lc_verdict_name(rep->verdict));
	fputs(",\n  \"reason\": ", f);
	lc__json_str(f, rep->reason);
	fputs(",\n  \"server\": ", f);
	lc__json_str(f, lc__server_name(o));
	fprintf(f, ",\n  \"cycles\": %lu, \"rounds\": %u, \"cycles_per_round\": %u, \"warmup\": %u,"
		   " \"close\": \"%s\", \"concurrency\": %u, \"seconds\": %.3f,\n",
		rep->connections, o->rounds, o->cycles, o->warmup, lc_close_name(o->close), o->concurrency, rep->seconds);
	fputs("  \"phases\": {", f);
	for (int i = 0; i < NPHASES; i++)
		fprintf(f, "%s\"%s\": %.3f", i ? ", " : "", phase_names[i], phase_seconds(&rep->phases, i));
	fputs("},\n  \"engine\": ", f);
	lc__json_str(f, lc_engine_name(rep->engine));
	if (rep->measure != LC_MEASURE_HEAP) /* the allocator's counts or pages: no valgrind */
		fprintf(f, ", \"native\": {\"memory\": \"%s\", \"noise_bytes\": %lu, \"bytes_floor_per_round\": %lu,"
			   " \"detection_limit_bytes_per_connection\": %.3f}",
			rep->measure == LC_MEASURE_PAGES ? "anonymous" : "allocator", rep->noise, lc_bytes_floor(rep),
			lc_detection_limit(rep));
	fputs(",\n", f);
	json_exit(f, rep);
	json_running(f, rep);
	fputs("}\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

/* Whether a frame of rec has no function name (a stripped program: "obj:" in its entry). */
static bool stripped(const struct lc_record *rec)
{
	for (size_t i = 0; i < rec->nframes; i++)
		if (!rec->frames[i].fn[0] || strncmp(rec->frames[i].fn, "???", 3) == 0)
			return true;
	return false;
}

int lc_write_suppressions(const char *path, const struct lc_report *rep, const struct lc_options *o)
{
	const char *server = lc__server_name(o);
	const char *base = strrchr(server, '/') ? strrchr(server, '/') + 1 : server;
	FILE *f = fopen(path, "w");
	unsigned n = 0;
	if (!f)
		return -1;
	alloc_fns = o->alloc_fns;
	fprintf(f, "# Written by leakcheck --write-suppressions: every loss at exit of %s.\n"
		   "# Review each entry before you commit it: suppress what is lost once (at start-up, at\n"
		   "# shutdown), never what grows with connections. Then: leakcheck --suppressions %s\n",
		server, path);
	if (rep->exit_one_time)
		fputs("# This run's losses are one-time: no memory grew lost in any round while it ran.\n", f);
	for (size_t i = 0; i < rep->exit.nrecords; i++) {
		const struct lc_record *rec = &rep->exit.records[i];
		const char *name;
		if ((rec->kind != LC_DEFINITE && rec->kind != LC_INDIRECT) || !rec->suppression ||
		    !(name = strstr(rec->suppression, "NAME")))
			continue;
		fprintf(f, "\n# %lu bytes in %lu blocks %s at exit: ", rec->bytes, rec->blocks, lc_kind_name(rec->kind));
		print_site(f, rec);
		if (stripped(rec))
			fputs("\n# its program has no symbols here: valgrind's suppressions cannot name a frame by its "
			      "offset,\n# so obj: lines match any loss along the same chain of objects in it", f);
		fprintf(f, "\n%.*sleakcheck-%s-%u%s", (int)(name - rec->suppression), rec->suppression, base, ++n,
			name + 4);
	}
	((struct lc_report *)rep)->suppressions_written = n;
	return fclose(f) == 0 ? 0 : -1;
}

/* The verdict: pure functions over measured numbers, unit-tested in tests/suites/test_judge.c. */
#include <stdio.h>
#include <string.h>

#include "analysis/judge.h"
#include "lc/leakcheck.h"
#include "util/text.h"

bool lc__grows_every_round_by(const long *deltas, size_t n, long floor)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (deltas[i] < floor)
			return false;
	return true;
}

/* CPython's regrtest -R settled on this: a leak only if *every* round grew. One-time growth
 * (a cache filling up, a lazily allocated table) shows in one round and not in the others. */
bool lc__grows_every_round(const long *deltas, size_t n)
{
	return lc__grows_every_round_by(deltas, n, 1);
}

/* Natively memory moves by noise too: a round's growth is told from it only when the rounds
 * agree, the smallest at least the spread between them (min >= max - min). A leak adds about
 * the same to every round; an allocator's noise does not (+73728 +4096 +12288 B from a clean
 * Python server, each above a page: tests/suites/test_judge.c). memcheck's counts are exact: there,
 * every round above the floor is enough. */
bool lc_steady(const long *d, size_t n)
{
	long lo = 0, hi = 0;
	for (size_t i = 0; i < n; i++) {
		lo = i == 0 || d[i] < lo ? d[i] : lo;
		hi = i == 0 || d[i] > hi ? d[i] : hi;
	}
	return n > 0 && lo >= hi - lo;
}

enum { M_BLOCKS, M_BYTES, M_FDS, M_THREADS, M_OBJECTS, M_COUNT };
static const char *const metric_units[M_COUNT] = { "blocks", "bytes", "fds", "threads", "objects" };

static long metric(const struct lc_round *r, int k)
{
	switch (k) {
	case M_BLOCKS: return r->dblocks;
	case M_BYTES: return r->dbytes;
	case M_FDS: return r->dfds;
	case M_THREADS: return r->dthreads;
	default: return r->dobjects;
	}
}

/* p's rule k: whether it flagged p, and the rule's growth over all judged rounds. */
static bool *metric_flag(struct lc_proc_result *p, int k)
{
	bool *flags[M_COUNT] = { &p->retained, &p->bytes_grew, &p->fds_leaked, &p->threads_leaked, &p->objects_grew };
	return flags[k];
}

static long metric_total(const struct lc_proc_result *p, int k)
{
	long t = 0;
	for (size_t i = 0; i < p->nrounds; i++)
		t += metric(&p->rounds[i], k);
	return t;
}

static bool flagged(const struct lc_proc_result *p, int k)
{
	const bool flags[M_COUNT] = { p->retained, p->bytes_grew, p->fds_leaked, p->threads_leaked, p->objects_grew };
	return flags[k];
}

bool lc__confirm_needed(const struct lc_proc_result *p, unsigned per_round)
{
	double connections = (double)p->nrounds * per_round;
	bool any = false;
	for (int k = 0; k < M_COUNT; k++) {
		if (!flagged(p, k) || (k == M_BYTES && p->retained))
			continue; /* bytes: only without the block rule (a realloc'd buffer, pages) */
		if (k != M_BYTES && (double)metric_total(p, k) >= connections)
			return false; /* a unit a connection or more: no cache fills so */
		any = true;
	}
	return any;
}

bool lc__confirm_again(struct lc_proc_result *p, const struct lc_report *rep)
{
	struct lc_confirm c = p->confirm;
	bool again = false;
	p->confirm.connections = 0; /* the rules' own flags, before the confirming round's verdict */
	lc__judge_proc(p, rep);
	for (int k = 0; k < M_COUNT; k++) {
		long h1 = metric(&c.halves[0], k), h2 = metric(&c.halves[1], k);
		again |= flagged(p, k) && h2 > 0 && h2 * 10 < h1 * 9;
	}
	p->confirm = c;
	lc__judge_proc(p, rep);
	return again;
}

static long metric_min(const struct lc_proc_result *p, int k)
{
	long lo = 0;
	for (size_t i = 0; i < p->nrounds; i++)
		lo = i == 0 || metric(&p->rounds[i], k) < lo ? metric(&p->rounds[i], k) : lo;
	return lo;
}

/* The confirming round's verdict on each rule that flagged p (leakcheck.h's lc_confirm): it
 * stays only if that rule's growth scaled with the connections. */
static void apply_confirm(struct lc_proc_result *p)
{
	struct lc_confirm *c = &p->confirm;
	if (!c->connections || !p->nrounds)
		return;
	c->unit[0] = '\0';
	c->scaled = false;
	for (int k = 0; k < M_COUNT; k++) {
		bool *flag = metric_flag(p, k);
		if (!*flag)
			continue;
		long h1 = metric(&c->halves[0], k), h2 = metric(&c->halves[1], k), lo = metric_min(p, k);
		double ratio = lo > 0 ? (double)(h1 + h2) / (double)lo : 0;
		double second = h1 > 0 ? (double)h2 / (double)h1 : h2 > 0 ? 1 : 0;
		if (!c->unit[0]) {
			snprintf(c->unit, sizeof c->unit, "%s", metric_units[k]);
			c->ratio = ratio;
			c->second = second;
		}
		*flag = second * 2 >= 1 && ratio * 3 >= c->times;
		c->scaled |= *flag;
	}
}

/* Memory the allocator does not see, beside its counts: anonymous memory grown in every round
 * by LC_OUTSIDE_FLOOR at least and by 8 times malloc's live bytes' growth or more. */
static void outside_malloc(struct lc_proc_result *p, double connections)
{
	long total = 0;
	bool every = p->measure == LC_MEASURE_ALLOCATOR && p->nrounds > 0;
	for (size_t i = 0; i < p->nrounds; i++) {
		const struct lc_round *r = &p->rounds[i];
		long malloc_grew = r->dbytes > 0 ? r->dbytes : 0;
		every = every && r->dpages >= LC_OUTSIDE_FLOOR && r->dpages >= 8 * malloc_grew;
		total += r->dpages;
	}
	p->outside_grew = every;
	p->pages_per_cycle = connections > 0 ? total / connections : 0;
}

/* The rules for one process's series of rounds. Blocks: +1 in every round. Bytes: +bytes_floor
 * in every round, even with a flat block count (a buffer or an array grown with realloc keeps
 * its one block). fds, threads and the server's own counter: +1 in every round. Sets p's
 * findings and its means per connection. */
static void judge_rounds(struct lc_proc_result *p, unsigned per_round, unsigned long bytes_floor, bool noisy)
{
	long blocks[LC_MAX_ROUNDS], bytes[LC_MAX_ROUNDS], fds[LC_MAX_ROUNDS], threads[LC_MAX_ROUNDS],
		objects[LC_MAX_ROUNDS], total_blocks = 0, total_bytes = 0, total_objects = 0;
	size_t n = p->nrounds;
	for (size_t i = 0; i < n; i++) {
		const struct lc_round *r = &p->rounds[i];
		blocks[i] = r->dblocks;
		bytes[i] = r->dbytes;
		fds[i] = r->dfds;
		threads[i] = r->dthreads;
		objects[i] = r->dobjects;
		total_blocks += r->dblocks;
		total_bytes += r->dbytes;
		total_objects += r->dobjects;
	}
	double connections = (double)n * per_round;
	p->blocks_per_cycle = connections > 0 ? total_blocks / connections : 0;
	p->bytes_per_cycle = connections > 0 ? total_bytes / connections : 0;
	p->objects_per_cycle = connections > 0 ? total_objects / connections : 0;
	p->retained = lc__grows_every_round(blocks, n);
	p->bytes_grew = lc__grows_every_round_by(bytes, n, (long)bytes_floor) && (!noisy || lc_steady(bytes, n));
	p->fds_leaked = lc__grows_every_round(fds, n);
	p->threads_leaked = lc__grows_every_round(threads, n);
	p->objects_grew = lc__grows_every_round(objects, n);
	apply_confirm(p);
	outside_malloc(p, connections);
}

/* Counts of blocks (memcheck's, the allocator preload's) are exact: one byte a connection. Pages
 * move by themselves: the noise floor measured at the baseline, at least that. */
unsigned long lc__measure_floor(const struct lc_report *rep, enum lc_measure m)
{
	unsigned long f = (unsigned long)rep->per_round * LC_BYTES_FLOOR;
	return m == LC_MEASURE_PAGES && rep->bytes_floor > f ? rep->bytes_floor : f;
}

unsigned long lc_bytes_floor(const struct lc_report *rep)
{
	return lc__measure_floor(rep, rep->measure);
}

double lc_detection_limit(const struct lc_report *rep)
{
	return rep->per_round ? (double)lc_bytes_floor(rep) / rep->per_round : 0;
}

/* Length of the run of rounds at the end of d[0..n) that grew by floor or more. */
static size_t growing_tail(const long *d, size_t n, long floor)
{
	size_t j = 0;
	while (j < n && d[n - 1 - j] >= floor)
		j++;
	return j;
}

/* The baseline is not settled (that would cost every clean verdict --settle seconds), so frees
 * still pending at it understate round 1, and a snapshot that stopped growing while they came
 * in understates the next round too. Only rounds at the start can be hit, and a round that
 * grows is settled, so a true base follows it. So when the last rounds grew and the first did
 * not, by the block or the byte rule, as many rounds more are measured and the last n judged:
 * the rule stays n growing rounds in a row. */
unsigned lc__extra_rounds(const struct lc_round *r, size_t n, unsigned long bytes_floor)
{
	long blocks[LC_MAX_ROUNDS], bytes[LC_MAX_ROUNDS];
	size_t need = 0;
	for (size_t i = 0; i < n && i < LC_MAX_ROUNDS; i++) {
		blocks[i] = r[i].dblocks;
		bytes[i] = r[i].dbytes;
	}
	size_t tails[2] = { growing_tail(blocks, n, 1), growing_tail(bytes, n, (long)bytes_floor) };
	for (int t = 0; t < 2; t++)
		if (tails[t] > 0 && tails[t] < n && n - tails[t] > need)
			need = n - tails[t];
	return (unsigned)need;
}

static long sum(const long *d, size_t n)
{
	long t = 0;
	for (size_t i = 0; i < n; i++)
		t += d[i];
	return t;
}

/* d[0..total): the first n rounds, then the rounds measured more. Undecided while the last n
 * all grew by floor and the rounds measured more (n of them at least) have not kept the rate
 * of the first n. */
static bool undecided(const long *d, size_t total, size_t n, long floor)
{
	size_t more = total - n;
	if (!lc__grows_every_round_by(d + more, n, floor))
		return false; /* a round stayed flat */
	if (more >= n && sum(d + n, more) * (long)n >= sum(d, n) * (long)more)
		return false; /* the rate held */
	return true;
}

bool lc__warming(const struct lc_round *r, size_t total, size_t n, unsigned per_round, unsigned long bytes_floor)
{
	long blocks[LC_MAX_ROUNDS], bytes[LC_MAX_ROUNDS], most = 0;
	if (n == 0 || total < n || total > LC_MAX_ROUNDS)
		return false;
	for (size_t i = 0; i < total; i++) {
		blocks[i] = r[i].dblocks;
		bytes[i] = r[i].dbytes;
		most = blocks[i] > most ? blocks[i] : most;
	}
	if (most * 4 >= (long)per_round) /* a block for every four connections or more */
		return false;
	return undecided(blocks, total, n, 1) || undecided(bytes, total, n, (long)bytes_floor);
}

bool lc__proc_warming(const struct lc_proc_result *p, const struct lc_report *rep, size_t n)
{
	/* memcheck's heap only: natively uneven rounds are measured again anyway (lc__uneven_rounds) */
	if (p->measure != LC_MEASURE_HEAP)
		return false;
	return lc__warming(p->rounds, p->nrounds, n, rep->per_round, lc_bytes_floor(rep));
}

/* A garbage collector frees by allocation count, not by time, so settling cannot wait for it:
 * with CPython's objects counted one by one (the allocator measure) a fixed server's rounds
 * grew +402 +133 +305 blocks, its cycles collected only every ~2,000 connections. A leak adds
 * about the same to every round (+3044 +3856 +2866 for the leaky twin, +1500 each in C). Pages
 * are uneven at the start of a leak too: first use of the heap's mapped and untouched top is
 * forgiven, so a static binary keeping 352 B per connection gave +65536 +176128 +176128 B. So
 * rounds that all grew, but unevenly in blocks and in bytes, are measured again: as many rounds
 * more, the last n judged (the rule stays n growing rounds in a row). */
unsigned lc__uneven_rounds(const struct lc_round *r, size_t n, unsigned long bytes_floor)
{
	long blocks[LC_MAX_ROUNDS], bytes[LC_MAX_ROUNDS];
	for (size_t i = 0; i < n && i < LC_MAX_ROUNDS; i++) {
		blocks[i] = r[i].dblocks;
		bytes[i] = r[i].dbytes;
	}
	bool b = lc__grows_every_round(blocks, n), B = lc__grows_every_round_by(bytes, n, (long)bytes_floor);
	bool steady = (b && lc_steady(blocks, n)) || (B && lc_steady(bytes, n)); /* a leak's, as it is */
	return (b || B) && !steady ? (unsigned)n : 0;
}

void lc__judge_proc(struct lc_proc_result *p, const struct lc_report *rep)
{
	judge_rounds(p, rep->per_round, lc__measure_floor(rep, p->measure), p->measure == LC_MEASURE_PAGES);
}

static bool leaks(const struct lc_proc_result *p)
{
	return p->retained || p->bytes_grew || p->fds_leaked || p->threads_leaked || p->objects_grew;
}

/* "in pid 123 (worker)" when more than one process was measured. */
static void where(const struct lc_report *rep, const struct lc_proc_result *p, char *buf, size_t len)
{
	buf[0] = '\0';
	if (rep->nprocs > 1)
		snprintf(buf, len, " in pid %d (%s)", p->pid, p->name);
}

static void add(char *reason, size_t cap, int *n, const char *text)
{
	lc__appendf(reason, cap, "%s%s", *n ? "; " : "", text);
	++*n;
}

/* The reasons one process's running measurement gives. */
static void running_reasons(const struct lc_report *rep, const struct lc_proc_result *p, char *reason,
			    size_t cap, int *n)
{
	char why[300], at[80];
	int before = *n;
	where(rep, p, at, sizeof at);
	if (p->retained) {
		snprintf(why, sizeof why, "%.2f blocks (%.1f bytes) retained per connection while running%s",
			 p->blocks_per_cycle, p->bytes_per_cycle, at);
		add(reason, cap, n, why);
	} else if (p->bytes_grew && p->measure == LC_MEASURE_PAGES) {
		snprintf(why, sizeof why, "anonymous memory grew in every round (%.1f bytes per connection, above "
			 "the noise floor of %lu bytes per round)%s", p->bytes_per_cycle,
			 lc__measure_floor(rep, LC_MEASURE_PAGES), at);
		add(reason, cap, n, why);
	} else if (p->bytes_grew) {
		snprintf(why, sizeof why, "heap bytes grew in every round (%.1f bytes per connection) while the block "
			 "count did not: a buffer or array grown with realloc%s", p->bytes_per_cycle, at);
		add(reason, cap, n, why);
	}
	if (p->objects_grew) {
		snprintf(why, sizeof why, "the server's own counter (--stats) grew in every round (%.2f per "
			 "connection)%s", p->objects_per_cycle, at);
		add(reason, cap, n, why);
	}
	if (p->fds_leaked) {
		snprintf(why, sizeof why, "open fds grew in every round%s", at);
		add(reason, cap, n, why);
	}
	if (p->threads_leaked) {
		snprintf(why, sizeof why, "threads grew in every round: a thread outlives its connection%s", at);
		add(reason, cap, n, why);
	}
	if (*n > before && p->confirm.connections)
		lc__appendf(reason, cap, " (confirmed: %ux the connections, %.1fx the growth)", p->confirm.times,
			   p->confirm.ratio);
}

/* A loss at exit is one-time when the heap the rounds measured (memcheck's: natively nothing is
 * lost while running) never grew lost memory: a re-exec'd daemon's 336 B definite, 1600 B
 * indirect at exit were the same with 65 connections or 620. The rounds of every judged
 * process count; without rounds nothing can be said. */
bool lc__lost_one_time(const struct lc_report *rep)
{
	size_t rounds = 0;
	for (size_t i = 0; i < rep->nprocs; i++) {
		const struct lc_proc_result *p = &rep->procs[i];
		if (!p->judged || p->measure != LC_MEASURE_HEAP)
			continue;
		for (size_t k = 0; k < p->nrounds; k++, rounds++)
			if (p->rounds[k].dlost > 0)
				return false;
	}
	return rounds > 0;
}

/* A judged process whose memory outside malloc grew (top first), or NULL. */
static const struct lc_proc_result *outside(const struct lc_report *rep, const struct lc_proc_result *top)
{
	if (top->outside_grew)
		return top;
	for (size_t i = 0; i < rep->nprocs; i++)
		if (rep->procs[i].judged && rep->procs[i].outside_grew)
			return &rep->procs[i];
	return NULL;
}

/* A process whose growth did not scale with its confirming round's connections (top first), or
 * NULL; their number into rep->bounded. */
static const struct lc_proc_result *bounded(struct lc_report *rep, const struct lc_proc_result *top)
{
	const struct lc_proc_result *first = NULL;
	rep->bounded = 0;
	for (size_t i = 0; i < rep->nprocs; i++) {
		const struct lc_proc_result *p = &rep->procs[i];
		if (p->judged && p->confirm.connections && !p->confirm.scaled) {
			rep->bounded++;
			first = first ? first : p;
		}
	}
	return top->confirm.connections && !top->confirm.scaled ? top : first;
}

/* The process the top-level fields show: the first judged one that leaks, else the first
 * judged one that served connections, else the first judged one. */
static void pick_primary(struct lc_report *rep)
{
	size_t best = rep->nprocs;
	for (size_t i = 0; i < rep->nprocs; i++) {
		struct lc_proc_result *p = &rep->procs[i];
		if (!p->judged)
			continue;
		lc__judge_proc(p, rep);
		if (best == rep->nprocs || (leaks(p) && !leaks(&rep->procs[best])) ||
		    (!leaks(p) && p->accepted && !rep->procs[best].accepted))
			best = i;
	}
	rep->primary = best < rep->nprocs ? best : 0;
	rep->measure = rep->procs[rep->primary].measure;
}

void lc__judge(struct lc_report *rep)
{
	if (rep->nprocs) /* an error too shows what was measured before it */
		pick_primary(rep);
	if (rep->verdict == LC_ERROR)
		return; /* the reason was set where it failed */
	/* nothing measured: procs[0], all zero, judged clean of growth */
	struct lc_proc_result *top = &rep->procs[rep->nprocs ? rep->primary : 0];
	lc__judge_proc(top, rep);
	unsigned long lost = rep->exit.bytes[LC_DEFINITE] + rep->exit.bytes[LC_INDIRECT];
	char why[160];
	int n = 0;
	rep->reason[0] = '\0';
	rep->exit_one_time = lost > 0 && lc__lost_one_time(rep);
	if (lost > 0) {
		snprintf(why, sizeof why, "%lu bytes lost at exit (%lu definite, %lu indirect)%s", lost,
			 rep->exit.bytes[LC_DEFINITE], rep->exit.bytes[LC_INDIRECT],
			 rep->exit_one_time ? ", one-time: no memory grew lost while running" : "");
		add(rep->reason, sizeof rep->reason, &n, why);
	}
	running_reasons(rep, top, rep->reason, sizeof rep->reason, &n);
	for (size_t i = 0; i < rep->nprocs; i++)
		if (i != rep->primary && rep->procs[i].judged)
			running_reasons(rep, &rep->procs[i], rep->reason, sizeof rep->reason, &n);
	rep->verdict = n ? LC_LEAK : LC_CLEAN;
	const struct lc_proc_result *o = outside(rep, top);
	if (n == 0 && o) { /* blind to what grew: never clean */
		char at[80];
		where(rep, o, at, sizeof at);
		rep->verdict = LC_ERROR;
		snprintf(rep->reason, sizeof rep->reason, "memory outside malloc grew in every round (%.1f B per connection) "
			 "while malloc's live bytes did not%s: a managed heap (V8's, the JVM's, Go's) or mmap, which the "
			 "native engine does not see, so it cannot say clean; a runtime that collects garbage must collect "
			 "before each snapshot (--stats with its own heap count)", o->pages_per_cycle, at);
		return;
	}
	const struct lc_proc_result *b = bounded(rep, top);
	if (n == 0 && b)
		snprintf(rep->reason, sizeof rep->reason, "no leak at exit; the growth while running did not scale "
			 "with connections (%ux the connections, %.1fx the growth, its second half %.1fx its first: a "
			 "cache filling, not a leak)", b->confirm.times, b->confirm.ratio, b->confirm.second);
	else if (n == 0)
		snprintf(rep->reason, sizeof rep->reason, "no leak at exit, no growth while running");
}

/* A snapshot of every measured process of the server, for lc_run: the quiescence scheme of
 * run.c's header (steps 1 to 3), which process serves the probe, each process measured by the
 * engine, and a snapshot that grew re-sampled until settled. See run.h. */
#include "run/run.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "util/assert.h"

void lc__snapshot_wait_closed(struct lc_run_state *r)
{
	int pids[LC_MAX_PROCS];
	size_t n = lc__engine_pids(&r->eng, pids, LC_MAX_PROCS);
	int left = lc__quiesce_wait(&r->quiet, r->port, pids, n, lc__script_expects(&r->script), r->o->timeout);
	if (left > r->rep->pending_left)
		r->rep->pending_left = left;
}

static bool grew(const struct lc_snapshot *prev, const struct lc_snapshot *cur, unsigned long bytes_floor)
{
	return lc_snapshot_blocks(cur) > lc_snapshot_blocks(prev) ||
	       lc_snapshot_bytes(cur) >= lc_snapshot_bytes(prev) + bytes_floor || cur->threads > prev->threads ||
	       cur->objects > prev->objects;
}

/* --stats: the server's own counter, asked on the probe connection. */
static int read_counter(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	char why[300];
	if (lc__read_counter(r->probe, o->stats, o->stats_len, o->stats_field ? o->stats_field : "objects=([0-9]+)", o->timeout, &r->counter, why, sizeof why) < 0)
		return lc__server_failed(r, "reading --stats", why);
	return 0;
}

/* Re-sample process i until its heap has not shrunk for --settle seconds, or --timeout passes.
 * cur keeps its loss records; its totals become the settled ones. Only a snapshot that grew
 * needs it: waiting can only shrink a heap, and a round that did not grow already makes the
 * verdict clean. It does not stop once the growth is gone: a snapshot taken while frees still
 * come in would understate the next round (a leaking server whose warmup left frees pending
 * gives rounds like -103 -100 +50). The baseline is not settled (that would cost
 * every clean verdict --settle seconds): see lc__extra_rounds(). */
static int settle(struct lc_run_state *r, size_t i, struct lc_snapshot *cur)
{
	struct lc_snapshot *s = &r->snaps[2 * LC_MAX_PROCS];
	double t0 = lc__now(), shrank = t0;
	/* re-sample a few times within the window, at most every 0.1 s */
	int gap = 10, cap = (int)(r->o->settle * 250);
	lc__progress_phase(r, "settling: a snapshot that grew, re-sampled until it stops shrinking");
	cap = cap < 10 ? 10 : cap > 100 ? 100 : cap;
	while (lc__now() - shrank < r->o->settle) {
		if (lc__now() - t0 >= r->o->timeout || lc__cancelled()) {
			r->rep->unsettled++;
			break;
		}
		lc__sleep_ms(gap);
		gap = gap * 2 < cap ? gap * 2 : cap;
		if (lc__engine_snapshot(&r->eng, i, false, s, r->err, sizeof r->err) < 0)
			return lc__server_lost(r);
		s->objects = cur->objects;
		if (cur->objects >= 0 && read_counter(r) == 0)
			s->objects = r->counter;
		else if (cur->objects >= 0)
			return -1;
		if (lc_snapshot_blocks(s) < lc_snapshot_blocks(cur) || lc_snapshot_bytes(s) < lc_snapshot_bytes(cur) ||
		    s->threads < cur->threads || s->objects < cur->objects)
			shrank = lc__now();
		memcpy(cur->bytes, s->bytes, sizeof cur->bytes);
		memcpy(cur->blocks, s->blocks, sizeof cur->blocks);
		/* not fds: step 1 of quiescence left them exact, and a wake connection opened for an
		 * earlier re-sample would count now */
		cur->threads = s->threads;
		cur->objects = s->objects;
		cur->pages = s->pages;
	}
	r->rep->settle_waits++;
	r->rep->settle_seconds += lc__now() - t0;
	return 0;
}

/* lc__engine_discover, and forget what was recorded of a slot the engine gave to a new process. */
static size_t discover(struct lc_run_state *r)
{
	size_t alive = lc__engine_discover(&r->eng);
	for (size_t i = 0; i < r->eng.nprocs; i++)
		if (r->slot[i].pid != r->eng.procs[i].pid) {
			r->slot[i].pid = r->eng.procs[i].pid;
			r->slot[i].first = -1;
			r->slot[i].accepts = 0;
			r->slot[i].alive_at = 0;
			r->slot[i].nhist = 0; /* its history's entries are cleared as they are taken */
			memset(&r->rep->procs[i], 0, sizeof r->rep->procs[i]);
		}
	return alive;
}

/* Which process holds the probe's server end: it must be one we measure. A child forked for
 * this very connection may not have its vgdb FIFO yet: give it a second. */
static int check_acceptor(struct lc_run_state *r)
{
	int pids[LC_MAX_PROCS];
	size_t n = lc__engine_pids(&r->eng, pids, LC_MAX_PROCS);
	int owner = lc__socket_owner(r->port, lc__local_port(r->probe), pids, n);
	r->acceptor = -1;
	if (owner <= 0)
		return 0; /* not found (a proxy, a race with the accept): nothing to say */
	int i = lc__engine_find(&r->eng, owner);
	for (double t0 = lc__now(); i < 0 && lc__now() - t0 < 1 && !lc__cancelled();) {
		discover(r); /* a child forked since: one per connection */
		if ((i = lc__engine_find(&r->eng, owner)) < 0)
			lc__sleep_ms(20);
	}
	if (i >= 0) {
		r->acceptor = i;
		r->rep->procs[i].accepted = true;
		r->slot[i].accepts++;
		return 0;
	}
	char exe[160] = "?", link[64], msg[512];
	snprintf(link, sizeof link, "/proc/%d/exe", owner);
	ssize_t len = readlink(link, exe, sizeof exe - 1);
	exe[len > 0 ? len : 1] = '\0';
	lc__engine_unmeasured(&r->eng, owner, exe, msg, sizeof msg);
	return lc__run_fail(r, "%s", msg);
}

/* Record process i's snapshot idx: its baseline, or a round against its previous one. */
static int measure_proc(struct lc_run_state *r, size_t i, unsigned idx)
{
	struct lc_snapshot *prev = &r->snaps[2 * i], *cur = &r->snaps[2 * i + 1];
	struct lc_proc_result *p = &r->rep->procs[i];
	struct lc_proc *m = &r->eng.procs[i];
	/* run.h: slot i, the engine's procs[i] and the report's procs[i] are one process */
	lc_assert(r->slot[i].pid == m->pid && (r->slot[i].first < 0 || p->pid == m->pid));
	if (lc__engine_snapshot(&r->eng, i, true, cur, r->err, sizeof r->err) < 0) {
		if (m->pid != r->pid && (m->unreachable || lc__gone(m->pid))) {
			m->alive = false; /* a child that finished meanwhile: not an error */
			return 0;
		}
		return lc__server_lost(r);
	}
	/* the counter belongs to the process that answered the probe (the root if unknown) */
	bool counted = r->o->stats && (r->acceptor >= 0 ? r->acceptor == (int)i : m->pid == r->pid);
	cur->objects = counted ? r->counter : -1;
	bool settled = r->slot[i].first >= 0; /* a baseline is taken as it is */
	if (r->slot[i].first < 0) { /* first seen: its baseline */
		r->slot[i].first = (int)idx;
		m->pinned = idx == 0; /* judged: its slot stays */
		p->pid = m->pid;
		p->measure = cur->measure;
		snprintf(p->name, sizeof p->name, "%s", m->name);
		p->base_blocks = lc_snapshot_blocks(cur);
		p->base_bytes = lc_snapshot_bytes(cur);
		p->base_fds = cur->fds;
		p->base_threads = cur->threads;
		p->base_objects = cur->objects;
	} else {
		if (grew(prev, cur, lc__measure_floor(r->rep, p->measure)) && settle(r, i, cur) < 0)
			return -1;
		struct lc_round *d = &p->rounds[p->nrounds++];
		d->dblocks = (long)lc_snapshot_blocks(cur) - (long)lc_snapshot_blocks(prev);
		d->dbytes = (long)lc_snapshot_bytes(cur) - (long)lc_snapshot_bytes(prev);
		d->dfds = cur->fds - prev->fds;
		d->dthreads = cur->threads >= 0 && prev->threads >= 0 ? cur->threads - prev->threads : 0;
		d->dobjects = cur->objects >= 0 && prev->objects >= 0 ? cur->objects - prev->objects : 0;
		d->dpages = cur->pages >= 0 && prev->pages >= 0 ? cur->pages - prev->pages : 0;
		d->dlost = (long)(cur->bytes[LC_DEFINITE] + cur->bytes[LC_INDIRECT]) -
			   (long)(prev->bytes[LC_DEFINITE] + prev->bytes[LC_INDIRECT]);
		memcpy(p->sites, cur->sites, sizeof p->sites);
		p->nsites = cur->nsites;
		lc__sites_record(r, i, p->nrounds - 1, cur);
	}
	if (r->rep->nseries < LC_MAX_SERIES)
		r->rep->series[r->rep->nseries++] = (struct lc_point){ r->rep->connections, p->pid, lc_snapshot_blocks(cur),
								       lc_snapshot_bytes(cur), settled };
	memcpy(prev, cur, sizeof *cur);
	return 0;
}

/* Steps 1 to 3 of the quiescence scheme in the header comment, then every live process. */
int lc__snapshot_take(struct lc_run_state *r, unsigned idx)
{
	lc__snapshot_wait_closed(r);
	r->probe = lc__traffic_open(r);
	if (r->probe < 0)
		return -1;
	r->rep->connections++;
	if (idx == 0)
		lc__engine_mark_ready(&r->eng); /* workers forked at start-up are there by now */
	if (discover(r) == 0) {
		lc__engine_lost(&r->eng, r->err, sizeof r->err);
		return lc__server_lost(r);
	}
	if (check_acceptor(r) < 0 || (r->o->stats && read_counter(r) < 0))
		return -1;
	for (size_t i = 0; i < r->eng.nprocs; i++)
		r->slot[i].alive_at += r->eng.procs[i].alive;
	r->rep->nprocs = r->eng.nprocs;
	if (lc__python_collect(r, idx) < 0)
		return -1;
	if (idx == 0)
		lc__python_state(r);
	/* After the baseline only processes measured at it can be judged: leave newcomers (a
	 * child per connection) alone, each snapshot of them would cost time for nothing. */
	for (size_t i = 0; i < r->eng.nprocs; i++)
		if (r->eng.procs[i].alive && (idx == 0 || r->slot[i].first == 0) && measure_proc(r, i, idx) < 0)
			return -1;
	if (idx == 0)
		lc__engine_baseline(&r->eng, r->rep);
	return 0;
}

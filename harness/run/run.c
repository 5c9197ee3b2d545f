/* lc_run: one leakcheck run, start to verdict. See include/lc/leakcheck.h.
 *
 * Timeline: start the server under its engine (engines/engine.h: memcheck, or as it is with
 * --native) → wait until ready → warmup connections → baseline snapshot → R rounds of N
 * connections, a snapshot after each → SIGTERM → the engine's exit report → judge.
 * Each step lives in its file (run.h): server.c, traffic.c, snapshot.c; who holds what grew
 * is analysis/retain.c's.
 *
 * Quiescence (a snapshot must see every disconnect of its round handled, without racing):
 *  1. wait until the server has closed every connection of the round: it holds no socket fd
 *     beyond its idle ones (recorded before the warmup), or, where that cannot tell (no idle
 *     set yet, a script that expects no reply), the TCP tables show no socket on its port that
 *     it has yet to close (ESTABLISHED, SYN_RECV, CLOSE_WAIT): every FIN we sent was acted on;
 *  2. then open a probe connection and wait for its reply. An event-loop server handles
 *     readiness in order, so once it answers a connection made after every earlier FIN/RST
 *     reached it, it has also handled those (resets are invisible to step 1, this covers them);
 *  3. take the vgdb snapshot with the probe still open, and close the probe as the first
 *     connection of the next round. Every snapshot thus holds exactly one idle connection,
 *     and exactly N connections close between two snapshots.
 * Beyond one event loop (threads, forked workers) step 2 proves nothing about the other
 * threads, so step 1 also waits for socket fds the server holds after a reset took them off
 * the TCP tables (lc__sockets_pending), and a snapshot that shows growth is only trusted once
 * the heap has settled: re-sampled until it has not shrunk for --settle seconds (deferred
 * frees, a thread still closing). Waiting can only shrink a snapshot, so one that shows no
 * growth is taken as it is: the clean path pays nothing.
 * Every process of the server under valgrind (forked workers, an exec'd server) is measured
 * and judged on its own; the probe's server end shows which one serves connections, and a
 * run whose connections are served by a process outside valgrind ends in an error. */
#define _GNU_SOURCE
#include "run/run.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "drive/proc.h"
#include "util/assert.h"

int lc__run_fail(struct lc_run_state *r, const char *fmt, const char *detail)
{
	snprintf(r->rep->reason, sizeof r->rep->reason, fmt, detail);
	r->rep->verdict = LC_ERROR;
	return -1;
}

void lc_options_init(struct lc_options *o, enum lc_engine_kind engine)
{
	memset(o, 0, sizeof *o);
	o->engine = engine;
	lc__engine_defaults(engine, o); /* --cycles, --warmup */
	o->rounds = 3;
	o->confirm = LC_CONFIRM_TIMES;
	o->concurrency = 1;
	o->close = LC_CLOSE_MIX;
	strcpy(o->send, "ping\n");
	strcpy(o->expect, "ping\n");
	strcpy(o->quit, "QUIT\n");
	o->timeout = 10;
	o->ready_timeout = 60;
	/* 0.5 s natively too: nothing shrinks there when a deferred free comes (the allocator keeps
	 * the memory), but the next round reuses it; with 0.05 s a server freeing each connection
	 * 300 ms after its close (tests/servers/shapes.c deferred) grew in every round: a leak */
	o->settle = 0.5;
	o->valgrind = "valgrind";
}

/* Never clean without having measured what serves: a process that served the probe at two
 * snapshots or more is long-lived (a forked worker), so it must have been judged. A child
 * per connection serves each probe with a new pid: the parent is what lives on. Which
 * process serves cannot always be seen (a server that closes right after its reply, as
 * HTTP/1.0 does, has closed the probe's socket by then), so a process alive at two
 * snapshots or more, and at the end, must have been judged too: it may be the one that
 * serves (nginx's worker, respawned after the baseline, was). */
static int check_served(struct lc_run_state *r)
{
	char msg[500], reach[64];
	snprintf(reach, sizeof reach, "; %s cannot reach it: ", r->eng.ops->reacher);
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		bool lived = r->slot[i].alive_at >= 2 && r->eng.procs[i].alive;
		if (p->judged || (r->slot[i].accepts < 2 && !lived))
			continue;
		const struct lc_proc *m = &r->eng.procs[i];
		snprintf(msg, sizeof msg, "pid %d (%s) %s but could not be measured in every round: no verdict on "
			 "what it holds%s%.220s", m->pid, m->name[0] ? m->name : "?",
			 r->slot[i].accepts >= 2 ? "served the connections" : "lived through the run (it may be what serves the connections)",
			 m->unreachable ? reach : "", m->unreachable ? m->why : "");
		(void)p;
		return lc__run_fail(r, "%s", msg);
	}
	return 0;
}

/* Rounds to add for the processes judged (judge.c's lc__extra_rounds, the largest). */
static unsigned extra_rounds(const struct lc_run_state *r)
{
	unsigned need = 0;
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		unsigned long floor = lc__measure_floor(r->rep, p->measure);
		unsigned k = r->slot[i].first == 0 && p->nrounds == r->o->rounds ? lc__extra_rounds(p->rounds, p->nrounds, floor) : 0;
		if (k == 0 && r->slot[i].first == 0 && p->nrounds == r->o->rounds && p->measure != LC_MEASURE_HEAP)
			k = lc__uneven_rounds(p->rounds, p->nrounds, floor);
		need = k > need ? k : need;
	}
	return need;
}

/* Whether a process that will be judged grows by so little that more rounds must tell warm-up
 * from a leak (judge.c's lc__warming); k rounds were measured more so far. */
static bool warming(const struct lc_run_state *r, unsigned k)
{
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		if (r->slot[i].first == 0 && p->nrounds == r->o->rounds + k && lc__proc_warming(p, r->rep, r->o->rounds))
			return true;
	}
	return false;
}

/* The first k rounds left out: the last R are the ones judged. */
static void drop_first_rounds(struct lc_run_state *r, unsigned k)
{
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		struct lc_proc_result *p = &r->rep->procs[i];
		if (r->slot[i].first != 0 || p->nrounds != r->o->rounds + k)
			continue;
		memmove(p->rounds, p->rounds + k, (p->nrounds - k) * sizeof *p->rounds);
		p->nrounds -= k;
		lc__sites_drop(r, i, k);
	}
}

/* One round: exactly n connections closed, the probe of the last snapshot first, then new
 * ones; snapshot idx after them. */
static int measure_round_of(struct lc_run_state *r, const char *phase, unsigned idx, unsigned n)
{
	int closed = lc__traffic_close_probe(r);
	if (closed < 0)
		return -1;
	n = n > (unsigned)closed ? n - (unsigned)closed : 0;
	if (lc__traffic_drive(r, n, phase) < 0)
		return -1;
	return lc__snapshot_take(r, idx);
}

/* A round of --cycles connections. */
static int measure_round(struct lc_run_state *r, const char *phase, unsigned idx)
{
	return measure_round_of(r, phase, idx, r->o->cycles);
}

/* Growth that scales (leakcheck.h's lc_confirm): when a process to be judged grows by less than
 * a unit a connection, one round of --confirm x --cycles connections more, in two halves
 * (snapshots idx and idx + 1); each such process keeps them as its confirming round, not as
 * judged rounds. */
static int confirm(struct lc_run_state *r, unsigned idx)
{
	const struct lc_options *o = r->o;
	size_t n = o->rounds;
	bool need = false, needs[LC_MAX_PROCS] = { false };
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		struct lc_proc_result *p = &r->rep->procs[i];
		if (r->slot[i].first != 0 || p->nrounds != n)
			continue;
		lc__judge_proc(p, r->rep);
		needs[i] = lc__confirm_needed(p, o->cycles);
		need |= needs[i];
	}
	if (!need || o->confirm == 0 || n + 2 > LC_MAX_ROUNDS)
		return 0;
	/* once, and once more where the halves fell off but not to nothing (lc__confirm_again):
	 * a cache still filling falls off further, a leak beside one keeps its rate */
	for (unsigned pass = 0; pass < 2 && need; pass++) {
		unsigned half = o->cycles * o->confirm / 2;
		if (measure_round_of(r, pass ? "confirming again, first half" : "confirming round, first half", idx, half) < 0 ||
		    measure_round_of(r, pass ? "confirming again, second half" : "confirming round, second half", idx + 1,
				     half) < 0)
			return -1;
		need = false;
		for (size_t i = 0; i < r->rep->nprocs; i++) {
			struct lc_proc_result *p = &r->rep->procs[i];
			if (r->slot[i].first != 0 || p->nrounds != n + 2)
				continue;
			if (needs[i]) /* the others' growth needed no confirming */
				p->confirm = (struct lc_confirm){ .connections = p->confirm.connections + 2 * half,
								  .times = o->confirm, .again = pass,
								  .halves = { p->rounds[n], p->rounds[n + 1] } };
			memset(&p->rounds[n], 0, 2 * sizeof p->rounds[n]);
			p->nrounds = n;
			lc__sites_forget(r, i, n);
			lc__sites_forget(r, i, n + 1);
			needs[i] = needs[i] && pass == 0 && lc__confirm_again(p, r->rep);
			need |= needs[i];
		}
		lc__python_forget_snapshot(r);
		lc__python_forget_snapshot(r);
		idx += 2;
	}
	return 0;
}

/* The time since the last mark, less the settling in it, into *slot (struct lc_phases). */
static void phase_mark(struct lc_run_state *r, double *slot)
{
	double now = lc__now(), settled = r->rep->settle_seconds - r->settled_at_mark;
	*slot += now - r->mark - settled;
	r->rep->phases.settling += settled;
	r->mark = now;
	r->settled_at_mark = r->rep->settle_seconds;
}

static int measure(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	int rc = -1;
	r->snaps = calloc(2 * LC_MAX_PROCS + 1, sizeof *r->snaps);
	if (!r->snaps)
		return lc__run_fail(r, "%s", "out of memory");
	r->rep->at_ready = lc__now() - r->t0;
	phase_mark(r, &r->rep->phases.ready);
	int pids[LC_MAX_PROCS];
	if (lc__engine_discover(&r->eng) > 0) /* known before the warmup, the baseline needs no TCP table either */
		lc__quiesce_record(&r->quiet, pids, lc__engine_pids(&r->eng, pids, LC_MAX_PROCS));
	if (lc__traffic_drive(r, o->warmup, "warmup") < 0)
		goto out;
	phase_mark(r, &r->rep->phases.warmup);
	if (lc__snapshot_take(r, 0) < 0)
		goto out;
	phase_mark(r, &r->rep->phases.baseline);
	r->rep->at_baseline = lc__now() - r->t0;
	r->rep->per_round = o->cycles;
	for (unsigned i = 0; i < o->rounds; i++) {
		char phase[32];
		snprintf(phase, sizeof phase, "round %u/%u", i + 1, o->rounds);
		if (measure_round(r, phase, i + 1) < 0)
			goto out;
	}
	phase_mark(r, &r->rep->phases.rounds);
	unsigned extra = extra_rounds(r);
	if (o->rounds + extra > LC_MAX_ROUNDS)
		extra = 0;
	for (unsigned i = 0; i < extra; i++)
		if (measure_round(r, "extra round", o->rounds + 1 + i) < 0)
			goto out;
	r->rep->extra_rounds = extra;
	drop_first_rounds(r, extra);
	unsigned next = o->rounds + 1 + extra, k = 0;
	while (k < LC_MAX_DECAY_ROUNDS && o->rounds + k < LC_MAX_ROUNDS && warming(r, k)) {
		if (measure_round(r, "warm-up round", next++) < 0)
			goto out;
		k++;
	}
	r->rep->decay_rounds = k;
	drop_first_rounds(r, k);
	phase_mark(r, &r->rep->phases.extra);
	if (confirm(r, next) < 0)
		goto out;
	phase_mark(r, &r->rep->phases.confirm);
	for (size_t i = 0; i < r->rep->nprocs; i++)
		r->rep->procs[i].judged = r->slot[i].first == 0 && r->rep->procs[i].nrounds == o->rounds;
	if (check_served(r) < 0)
		goto out;
	for (size_t i = 0; i < r->rep->nprocs; i++)
		if (r->rep->procs[i].judged)
			lc__sites_select(r, i);
	r->rep->at_measured = lc__now() - r->t0;
	lc__progress_phase(r, "holders: who keeps what grew");
	lc__holders_run(r);
	phase_mark(r, &r->rep->phases.holders);
	/* The SIGTERM only once the server has closed the probe too: a server that abandons its open
	 * connections at exit would have the probe's reported as lost at exit (tests/shapes
	 * --linger: 1096 B "lost" without this wait). */
	rc = lc__traffic_close_probe(r) < 0 ? -1 : 0;
	if (rc == 0)
		lc__snapshot_wait_closed(r);
	if (rc == 0)
		rc = lc__python_explain(r);
out:
	if (o->progress)
		fputs("\r\033[K", stderr);
	free(r->snaps);
	r->snaps = NULL;
	return rc;
}

static int check_options(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	if (!o->server_argv || !o->server_argv[0])
		return lc__run_fail(r, "%s", "no server command given");
	if (o->confirm == 1 || o->confirm > 1000 || (unsigned long)o->cycles * o->confirm > 10000000ul)
		return lc__run_fail(r, "%s", "--confirm must be 0 (never) or 2 to 1000, and --confirm x --cycles at most "
			    "10,000,000 connections");
	if (o->cycles < 1 || o->rounds < 2 || o->rounds > LC_MAX_ROUNDS)
		return lc__run_fail(r, "%s", "--cycles must be >= 1 and --rounds between 2 and 100 (one round cannot tell "
			    "one-time growth from a leak)");
	if (o->settle < 0)
		return lc__run_fail(r, "%s", "--settle must be >= 0");
	if (o->concurrency < 1 || o->concurrency > 256)
		return lc__run_fail(r, "%s", "--concurrency must be between 1 and 256");
	if (o->timeout <= 0 || o->ready_timeout <= 0)
		return lc__run_fail(r, "%s", "--timeout and --ready-timeout must be > 0");
	if (lc__engine_check(o->engine, o, r->err, sizeof r->err) < 0)
		return lc__run_fail(r, "%s", r->err);
	if (o->stats_field && !o->stats)
		return lc__run_fail(r, "%s", "--stats-field without --stats: nothing asks the server for its counter");
	return 0;
}

/* --write-baseline records today's growing sites; --baseline forgives them (baseline.c). */
static void known_leaks(struct lc_run_state *r)
{
	char err[300];
	if (r->rep->verdict == LC_ERROR)
		return;
	if (r->o->write_baseline && lc__baseline_write(r->o->write_baseline, r->rep, r->o) < 0)
		lc__run_fail(r, "cannot write --write-baseline file: %s", strerror(errno));
	else if (r->o->baseline && lc__baseline_apply(r->o->baseline, r->rep, r->o, err, sizeof err) < 0)
		lc__run_fail(r, "%s", err);
}

/* LEAKCHECK_KEEP_FAILED=1 (CI): a verdict other than clean keeps its raw logs to upload. */
static bool keep_failed_env(void)
{
	const char *keep_failed = getenv("LEAKCHECK_KEEP_FAILED");
	return keep_failed && strcmp(keep_failed, "1") == 0;
}

bool lc__run_keeps_failed(const struct lc_options *o)
{
	return o->keep_dir || keep_failed_env();
}

/* The run, in r (zeroed). */
static void run_in(struct lc_run_state *r, const struct lc_options *o, struct lc_report *rep)
{
	double t0 = lc__now();
	/* A relay's vgdb exits with its process (a forked child that is done): writing to it
	 * then must be an error we handle, not a SIGPIPE that kills us. Restored at the end. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigaction(SIGPIPE, &ign, &old_pipe);
	/* a server that daemonizes leaves its processes to us, not to init: we can say so, and
	 * stop them (every child reaped) */
	int was_subreaper = 0;
	pid_t before[256]; /* the caller's own children: never ours to reap */
	size_t nbefore = lc__children(before, 256, false);
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	r->o = o;
	r->rep = rep;
	r->pid = r->probe = r->acceptor = -1;
	r->dog = (struct lc_watchdog){ -1, -1 };
	r->t0 = t0;
	r->mark = t0;
	lc__quiesce_init(&r->quiet);
	for (size_t i = 0; i < LC_MAX_PROCS; i++)
		r->slot[i].first = -1;
	memset(rep, 0, sizeof *rep);
	rep->engine = o->engine;
	rep->measure = lc__engine_measure(o->engine); /* until measured */
	if (check_options(r) < 0 || lc__traffic_script(r) < 0 || lc__workdir_make(r) < 0)
		goto out;
	snprintf(r->cmd.dir, sizeof r->cmd.dir, "%s", r->dir);
	r->eng.wake = lc__traffic_wake; /* before open: lc__engine_open keeps them */
	r->eng.wake_arg = r;
	rep->exit_expected = lc__engine_has_exit_report_of(o->engine);
	if (lc__engine_open(&r->eng, o, r->dir, r->err, sizeof r->err) < 0 ||
	    lc__command_read_config(&r->cmd, o->config, r->err, sizeof r->err) < 0)
		lc__run_fail(r, "%s", r->err);
	else if (lc__server_start(r) == 0 && measure(r) == 0)
		lc__server_finish(r);
	if (r->mark > 0 && rep->at_measured > 0) /* measured to the end: the probe, SIGTERM, the exit */
		phase_mark(r, &rep->phases.exit);
	if (o->progress)
		fputs("\r\033[K", stderr);
	lc__command_free(&r->cmd);
	lc__python_free(r);
	lc__engine_describe(&r->eng, rep->snapshots, sizeof rep->snapshots);
	lc__engine_close(&r->eng);
	for (unsigned i = 0; i < r->nwakes; i++) /* what an error left open */
		close(r->wakes[i]);
	for (unsigned i = 0; i < r->nagent_wakes; i++)
		close(r->agent_wakes[i]);
	if (r->probe >= 0)
		close(r->probe);
	if (r->pid > 0) /* an error left it running: no report, but no orphan either */
		lc__stop(r->pid, 1);
	if (r->dog.pid > 0 && nbefore < 256)
		before[nbefore++] = r->dog.pid; /* still on watch: lc__watchdog_stop reaps it */
	lc__reap_new_children(before, nbefore); /* a daemonized server's processes, orphans of a vgdb */
	if (lc__cancelled())
		lc__run_fail(r, "%s", "interrupted by a signal: the server was stopped and its work dir removed");
	lc__judge(rep);
	known_leaks(r);
	rep->kept = o->keep_dir || (keep_failed_env() && rep->verdict != LC_CLEAN && !lc__cancelled());
	if (!rep->kept)
		lc__workdir_remove(r);
	else
		lc__workdir_release(r->dir); /* kept: no later run may sweep it */
out:
	/* last: killed before the work dir is gone, the run leaves it to its watchdog */
	lc__watchdog_stop(&r->dog);
	prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
	sigaction(SIGPIPE, &old_pipe, NULL);
	rep->seconds = lc__now() - t0;
	const struct lc_phases *ph = &rep->phases;
	double known = ph->ready + ph->warmup + ph->baseline + ph->rounds + ph->extra + ph->confirm + ph->settling +
		       ph->holders + ph->exit;
	rep->phases.other = rep->seconds > known ? rep->seconds - known : 0;
}

enum lc_verdict lc_run(const struct lc_options *o, struct lc_report *rep)
{
	struct lc_run_state *r = calloc(1, sizeof *r); /* 1 MB of snapshots and state: on the heap */
	if (!r) {
		memset(rep, 0, sizeof *rep);
		rep->verdict = LC_ERROR;
		snprintf(rep->reason, sizeof rep->reason, "out of memory for the run's state");
		return LC_ERROR;
	}
	run_in(r, o, rep);
	free(r);
	return rep->verdict;
}

void lc_report_free(struct lc_report *rep)
{
	lc_exit_report_free(&rep->exit);
	rep->have_exit = false;
}

struct lc_report *lc_report_new(void)
{
	return calloc(1, sizeof(struct lc_report));
}

const struct lc_proc_result *lc_report_primary(const struct lc_report *rep)
{
	lc_assert(rep->nprocs == 0 || rep->primary < rep->nprocs);
	return &rep->procs[rep->nprocs ? rep->primary : 0];
}

void lc_report_delete(struct lc_report *rep)
{
	if (!rep)
		return;
	lc_report_free(rep);
	free(rep);
}

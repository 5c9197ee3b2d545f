/* lc_run: one leakcheck run, start to verdict. See include/lc/leakcheck.h.
 *
 * Timeline: start the server under memcheck (or as it is: --native, native.h) → wait until
 * ready → warmup connections → baseline snapshot → R rounds of N connections, a snapshot
 * after each → SIGTERM → parse the exit XML (memcheck only) → judge.
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
 * the TCP tables (lc_sockets_pending), and a snapshot that shows growth is only trusted once
 * the heap has settled: re-sampled until it has not shrunk for --settle seconds (deferred
 * frees, a thread still closing). Waiting can only shrink a snapshot, so one that shows no
 * growth is taken as it is: the clean path pays nothing.
 * Every process of the server under valgrind (forked workers, an exec'd server) is measured
 * and judged on its own; the probe's server end shows which one serves connections, and a
 * run whose connections are served by a process outside valgrind ends in an error. */
#define _GNU_SOURCE
#include "lc/leakcheck.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc/command.h"
#include "lc/native.h"
#include "lc/proc.h"
#include "lc/quiesce.h"


struct run {
	const struct lc_options *o;   /* borrowed */
	struct lc_report *rep;        /* borrowed */
	pid_t pid;                    /* the process valgrind was started as */
	unsigned port;
	char dir[512];
	char path[4][600];            /* see enum below */
	char err[512];
	int probe;                    /* fd of the probe held across a snapshot, -1 if none */
	struct mc_engine mc;
	struct lc_snapshot *snaps;    /* owned: 2 * LC_MAX_PROCS + 1: prev and cur per process, tmp */
	int first[LC_MAX_PROCS];      /* the snapshot a process was first measured at, -1: never */
	unsigned accepts[LC_MAX_PROCS];/* snapshots at which it held the probe's server end */
	int slot_pid[LC_MAX_PROCS];   /* the pid first[] and accepts[] describe: a reused slot resets */
	unsigned alive_at[LC_MAX_PROCS];/* snapshots at which it was alive */
	struct lc_script script;      /* what each connection says and waits for */
	unsigned long opened;         /* connections opened so far: {n} in the script */
	struct lc_command cmd;        /* the server's command line and --config copy (owned) */
	int acceptor;                 /* the slot that holds the current probe's server end, -1 */
	long counter;                 /* --stats: the server's counter read on the current probe */
	double t0;                    /* when the run started (lc_now) */
	struct lc_quiesce quiet;      /* the server's idle sockets, for step 1 */
};

enum { OUT, ERR, VGDB, VGDB_OUT, NPATHS }; /* server stdout/stderr, vgdb prefix and answers */

void lc_options_init(struct lc_options *o)
{
	memset(o, 0, sizeof *o);
	o->cycles = 200;
	o->rounds = 3;
	o->warmup = 20;
	o->concurrency = 1;
	o->close = LC_CLOSE_MIX;
	strcpy(o->send, "ping\n");
	strcpy(o->expect, "ping\n");
	strcpy(o->quit, "QUIT\n");
	o->timeout = 10;
	o->ready_timeout = 60;
	o->settle = 0.5;
	o->valgrind = "valgrind";
}

void lc_options_init_native(struct lc_options *o)
{
	lc_options_init(o);
	o->native = true;
	o->cycles = NAT_CYCLES;
	o->warmup = NAT_WARMUP;
}

static int fail(struct run *r, const char *fmt, const char *detail)
{
	snprintf(r->rep->reason, sizeof r->rep->reason, fmt, detail);
	r->rep->verdict = LC_ERROR;
	return -1;
}

/* After a failed exchange: say whether the server died, or else what failed (why: NULL for
 * strerror(errno)). A crashing server resets its sockets a moment before it can be reaped
 * (valgrind still writes its report), so give it that moment before calling it alive. */
/* The first process exited, cleanly, and a process of the server lives on, adopted by us: it
 * daemonized. Writes the reason into msg and returns true then. */
static bool daemonized(int status, char *msg, size_t len)
{
	pid_t pids[4];
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lc_adopted(pids, 4) == 0)
		return false;
	snprintf(msg, len, "the server's process exited (exit status 0) and left pid %d running in the background: "
		 "it daemonized; run it in the foreground (redis: --daemonize no; nginx: daemon off;; memcached: "
		 "without -d)", (int)pids[0]);
	return true;
}

/* A server that stopped answering may be halted rather than busy: say so. */
static void halted_note(struct run *r, char *msg, size_t len)
{
	int pids[LC_MAX_PROCS];
	char state;
	size_t n = mc_pids(&r->mc, pids, LC_MAX_PROCS), used = strlen(msg);
	pid_t halted = lc_halted(pids, n, &state);
	if (halted > 0)
		snprintf(msg + used, len - used, " (pid %d is halted: state %c)", (int)halted, state);
}

static int server_failed(struct run *r, const char *what, const char *why)
{
	int status, e = errno;
	char how[96], msg[400];
	if (lc_wait(r->pid, 0.5, &status) == 0) {
		lc_status_str(status, how, sizeof how);
		r->pid = -1;
		if (!daemonized(status, msg, sizeof msg))
			snprintf(msg, sizeof msg, "server died during the run (%s) while %s", how, what);
	} else {
		snprintf(msg, sizeof msg, "server %s: %s: %s", why ? "did not answer as expected" : "stopped answering",
			 what, why ? why : strerror(e));
		halted_note(r, msg, sizeof msg);
	}
	return fail(r, "%s", msg);
}

/* Connect and exchange send/expect. Returns the fd, or -1 (reason set). */
static int open_conn(struct run *r)
{
	const struct lc_options *o = r->o;
	static char got[4096];
	char why[600], path[700];
	size_t got_len;
	int fd = lc_connect(r->port, o->timeout);
	if (fd < 0)
		return server_failed(r, "connecting", NULL);
	int rc = lc_script_run(&r->script, fd, r->opened++, o->timeout, why, sizeof why, got, sizeof got, &got_len);
	if (rc == 0)
		return fd;
	int e = errno;
	close(fd);
	if (rc == -2) { /* the reply, for --keep */
		snprintf(path, sizeof path, "%s/reply.bin", r->dir);
		FILE *f = fopen(path, "w");
		if (f && fwrite(got, 1, got_len, f) == got_len)
			snprintf(why + strlen(why), sizeof why - strlen(why), " (kept in reply.bin)");
		if (f)
			fclose(f);
	}
	errno = e;
	return server_failed(r, "waiting for the reply", rc == -2 ? why : NULL);
}

static int close_conn(struct run *r, int fd, enum lc_close how)
{
	const struct lc_options *o = r->o;
	if (how == LC_CLOSE_RESET) {
		if (lc_close_reset(fd) < 0)
			return fail(r, "cannot reset a connection (SO_LINGER): %s", strerror(errno));
		return 0;
	}
	if (how == LC_CLOSE_SERVER) {
		if (lc_send_all(fd, r->script.quit.data, r->script.quit.len, o->timeout) < 0 ||
		    lc_wait_eof(fd, o->timeout) < 0) {
			close(fd);
			return server_failed(r, "waiting for the server to close after the quit line", NULL);
		}
	}
	close(fd);
	return 0;
}

static void progress(struct run *r, const char *phase, unsigned done, unsigned total)
{
	if (r->o->progress && (done % 50 == 0 || done == total))
		fprintf(stderr, "\r\033[Kleakcheck: %s: %u/%u connections", phase, done, total);
}

/* n connections in batches of `concurrency`, each closed the way the options say. */
/* --every N: a series point per measured process, taken as the heap is (not settled, no
 * quiescence): for plots, not for the verdict. A failed one is skipped, not an error. */
static void series_point(struct run *r)
{
	struct lc_snapshot *s = &r->snaps[2 * LC_MAX_PROCS];
	char err[512];
	for (size_t i = 0; i < r->mc.nprocs && r->rep->nseries < LC_MAX_SERIES; i++)
		if (r->mc.procs[i].alive && r->first[i] == 0 &&
		    mc_snapshot(&r->mc, &r->mc.procs[i], LC_SNAPSHOT_SUMMARY, r->path[VGDB_OUT], s, err, sizeof err) == 0)
			r->rep->series[r->rep->nseries++] = (struct lc_point){ r->rep->cycles, r->mc.procs[i].pid,
									       lc_snapshot_blocks(s), lc_snapshot_bytes(s), false };
}

static int drive(struct run *r, unsigned n, const char *phase)
{
	int fds[256];
	unsigned k = r->o->concurrency;
	for (unsigned done = 0; done < n;) {
		if (lc_cancelled())
			return fail(r, "%s", "interrupted by a signal");
		unsigned batch = n - done < k ? n - done : k, opened = 0;
		int rc = 0;
		while (opened < batch && (fds[opened] = open_conn(r)) >= 0)
			opened++;
		if (opened < batch)
			rc = -1;
		for (unsigned i = 0; i < opened; i++) {
			unsigned idx = (unsigned)r->rep->cycles++;
			enum lc_close how = r->o->close == LC_CLOSE_MIX ? (enum lc_close)(idx % 3) : r->o->close;
			if (rc == 0)
				rc = close_conn(r, fds[i], how);
			else
				close(fds[i]);
		}
		if (rc < 0)
			return -1;
		if (r->o->every && r->snaps && r->rep->cycles / r->o->every != (r->rep->cycles - opened) / r->o->every)
			series_point(r);
		done += batch;
		progress(r, phase, done, n);
	}
	return 0;
}

/* Step 1 (quiesce.h): the largest rest of unclosed connections goes into the report. */
static void wait_closed(struct run *r)
{
	int pids[LC_MAX_PROCS];
	size_t n = mc_pids(&r->mc, pids, LC_MAX_PROCS);
	int left = lc_quiesce_wait(&r->quiet, r->port, pids, n, lc_script_expects(&r->script), r->o->timeout);
	if (left > r->rep->pending_left)
		r->rep->pending_left = left;
}

/* A failed snapshot: the server died, or vgdb failed. */
static int snapshot_failed(struct run *r)
{
	int status;
	char how[96];
	/* A crashing server is still there for a moment (valgrind writes its report), and the
	 * relay may see the exit first: give it that moment before calling it vgdb's failure. */
	if (lc_wait(r->pid, 0.5, &status) < 0)
		return fail(r, "%s", r->err);
	lc_status_str(status, how, sizeof how);
	r->pid = -1;
	char msg[400];
	if (daemonized(status, msg, sizeof msg))
		return fail(r, "%s", msg);
	return fail(r, "server died during the run (%s) while taking a heap snapshot", how);
}

static bool grew(const struct lc_snapshot *prev, const struct lc_snapshot *cur, unsigned long bytes_floor)
{
	return lc_snapshot_blocks(cur) > lc_snapshot_blocks(prev) ||
	       lc_snapshot_bytes(cur) >= lc_snapshot_bytes(prev) + bytes_floor || cur->threads > prev->threads ||
	       cur->objects > prev->objects;
}

/* --stats: the server's own counter, asked on the probe connection. */
static int read_counter(struct run *r)
{
	const struct lc_options *o = r->o;
	char why[300];
	if (nat_stats(r->probe, o->stats, o->stats_len, o->stats_field ? o->stats_field : "objects=([0-9]+)", o->timeout, &r->counter, why, sizeof why) < 0)
		return server_failed(r, "reading --stats", why);
	return 0;
}

/* Re-sample process i until its heap has not shrunk for --settle seconds, or --timeout passes.
 * cur keeps its loss records; its totals become the settled ones. Only a snapshot that grew
 * needs it: waiting can only shrink a heap, and a round that did not grow already makes the
 * verdict clean. It does not stop once the growth is gone: a snapshot taken while frees still
 * come in would understate the next round (seen here: rounds -103 -100 +50 on a leaking
 * server whose warmup left frees pending). The baseline is not settled (that would cost
 * every clean verdict --settle seconds): see extra_rounds(). */
static int settle(struct run *r, size_t i, struct lc_snapshot *cur)
{
	struct lc_snapshot *s = &r->snaps[2 * LC_MAX_PROCS];
	double t0 = lc_now(), shrank = t0;
	/* re-sample a few times within the window, at most every 0.1 s */
	int gap = 10, cap = (int)(r->o->settle * 250);
	cap = cap < 10 ? 10 : cap > 100 ? 100 : cap;
	while (lc_now() - shrank < r->o->settle) {
		if (lc_now() - t0 >= r->o->timeout || lc_cancelled()) {
			r->rep->unsettled++;
			break;
		}
		lc_sleep_ms(gap);
		gap = gap * 2 < cap ? gap * 2 : cap;
		if (mc_snapshot(&r->mc, &r->mc.procs[i], LC_SNAPSHOT_SUMMARY, r->path[VGDB_OUT], s, r->err,
				sizeof r->err) < 0)
			return snapshot_failed(r);
		s->objects = cur->objects;
		if (cur->objects >= 0 && read_counter(r) == 0)
			s->objects = r->counter;
		else if (cur->objects >= 0)
			return -1;
		if (lc_snapshot_blocks(s) < lc_snapshot_blocks(cur) || lc_snapshot_bytes(s) < lc_snapshot_bytes(cur) ||
		    s->threads < cur->threads || s->objects < cur->objects)
			shrank = lc_now();
		memcpy(cur->bytes, s->bytes, sizeof cur->bytes);
		memcpy(cur->blocks, s->blocks, sizeof cur->blocks);
		cur->fds = s->fds;
		cur->threads = s->threads;
		cur->objects = s->objects;
	}
	r->rep->settle_waits++;
	r->rep->settle_seconds += lc_now() - t0;
	return 0;
}

/* mc_discover, and forget what was recorded of a slot the engine gave to a new process. */
static size_t discover(struct run *r)
{
	size_t alive = mc_discover(&r->mc);
	for (size_t i = 0; i < r->mc.nprocs; i++)
		if (r->slot_pid[i] != r->mc.procs[i].pid) {
			r->slot_pid[i] = r->mc.procs[i].pid;
			r->first[i] = -1;
			r->accepts[i] = 0;
			r->alive_at[i] = 0;
			memset(&r->rep->procs[i], 0, sizeof r->rep->procs[i]);
		}
	return alive;
}

/* Which process holds the probe's server end: it must be one we measure. A child forked for
 * this very connection may not have its vgdb FIFO yet: give it a second. */
static int check_acceptor(struct run *r)
{
	int pids[LC_MAX_PROCS];
	size_t n = mc_pids(&r->mc, pids, LC_MAX_PROCS);
	int owner = lc_socket_owner(r->port, lc_local_port(r->probe), pids, n);
	r->acceptor = -1;
	if (owner <= 0)
		return 0; /* not found (a proxy, a race with the accept): nothing to say */
	for (double t0 = lc_now(); !mc_find(&r->mc, owner) && lc_now() - t0 < 1 && !lc_cancelled();) {
		discover(r); /* a child forked since: one per connection */
		if (!mc_find(&r->mc, owner))
			lc_sleep_ms(20);
	}
	for (size_t i = 0; i < r->mc.nprocs; i++)
		if (r->mc.procs[i].pid == owner) {
			r->acceptor = (int)i;
			r->rep->procs[i].accepted = true;
			r->accepts[i]++;
			return 0;
		}
	char exe[160] = "?", link[64], msg[512];
	snprintf(link, sizeof link, "/proc/%d/exe", owner);
	ssize_t len = readlink(link, exe, sizeof exe - 1);
	exe[len > 0 ? len : 1] = '\0';
	if (r->o->native)
		snprintf(msg, sizeof msg, "connections are served by pid %d (%s), which is not a process of the server "
			 "(a proxy, a server started by a service manager): nothing that serves them can be measured",
			 owner, exe);
	else if (r->mc.skipped)
		snprintf(msg, sizeof msg, "connections are served by pid %d (%s), one of more than %d processes of the "
			 "server alive at once: only %d can be measured", owner, exe, LC_MAX_PROCS, LC_MAX_PROCS);
	else if (strstr(exe, "/valgrind/"))
		snprintf(msg, sizeof msg, "connections are served by pid %d, which runs under valgrind but has no vgdb "
			 "FIFO to be measured through (a child that valgrind does not trace: --trace-children-skip?)",
			 owner);
	else
		snprintf(msg, sizeof msg, "connections are served by pid %d (%s), which does not run under valgrind: "
			 "nothing that serves them can be measured (a launcher that starts the server without exec, "
			 "or --trace-children-skip): run the server program itself", owner, exe);
	return fail(r, "%s", msg);
}

/* Record process i's snapshot idx: its baseline, or a round against its previous one. */
static int measure_proc(struct run *r, size_t i, unsigned idx)
{
	struct lc_snapshot *prev = &r->snaps[2 * i], *cur = &r->snaps[2 * i + 1];
	struct lc_proc_result *p = &r->rep->procs[i];
	if (mc_snapshot(&r->mc, &r->mc.procs[i], LC_SNAPSHOT_FULL, r->path[VGDB_OUT], cur, r->err, sizeof r->err) < 0) {
		if (r->mc.procs[i].pid != r->pid && (r->mc.procs[i].unreachable || lc_gone(r->mc.procs[i].pid))) {
			r->mc.procs[i].alive = false; /* a child that finished meanwhile: not an error */
			return 0;
		}
		return snapshot_failed(r);
	}
	/* the counter belongs to the process that answered the probe (the root if unknown) */
	bool counted = r->o->stats && (r->acceptor >= 0 ? r->acceptor == (int)i : r->mc.procs[i].pid == r->pid);
	cur->objects = counted ? r->counter : -1;
	bool settled = r->first[i] >= 0; /* a baseline is taken as it is */
	if (r->first[i] < 0) { /* first seen: its baseline */
		r->first[i] = (int)idx;
		r->mc.procs[i].pinned = idx == 0; /* judged: its slot stays */
		p->pid = r->mc.procs[i].pid;
		snprintf(p->name, sizeof p->name, "%s", r->mc.procs[i].name);
		p->base_blocks = lc_snapshot_blocks(cur);
		p->base_bytes = lc_snapshot_bytes(cur);
		p->base_fds = cur->fds;
		p->base_threads = cur->threads;
		p->base_objects = cur->objects;
	} else {
		if (grew(prev, cur, lc_bytes_floor(r->rep)) && settle(r, i, cur) < 0)
			return -1;
		struct lc_round *d = &p->rounds[p->nrounds++];
		d->dblocks = (long)lc_snapshot_blocks(cur) - (long)lc_snapshot_blocks(prev);
		d->dbytes = (long)lc_snapshot_bytes(cur) - (long)lc_snapshot_bytes(prev);
		d->dfds = cur->fds - prev->fds;
		d->dthreads = cur->threads >= 0 && prev->threads >= 0 ? cur->threads - prev->threads : 0;
		d->dobjects = cur->objects >= 0 && prev->objects >= 0 ? cur->objects - prev->objects : 0;
		memcpy(p->sites, cur->sites, sizeof p->sites);
		p->nsites = cur->nsites;
	}
	if (r->rep->nseries < LC_MAX_SERIES)
		r->rep->series[r->rep->nseries++] = (struct lc_point){ r->rep->cycles, p->pid, lc_snapshot_blocks(cur),
								       lc_snapshot_bytes(cur), settled };
	memcpy(prev, cur, sizeof *cur);
	return 0;
}

/* Native: the byte rule's floor, from the noise of the processes measured at the baseline. */
static void native_floor(struct run *r)
{
	int pids[LC_MAX_PROCS];
	r->rep->bytes_floor = nat_floor(pids, mc_pids(&r->mc, pids, LC_MAX_PROCS), &r->rep->noise);
}

/* Steps 1 to 3 of the quiescence scheme in the header comment, then every live process. */
static int snapshot(struct run *r, unsigned idx)
{
	wait_closed(r);
	r->probe = open_conn(r);
	if (r->probe < 0)
		return -1;
	r->rep->cycles++;
	if (idx == 0)
		mc_mark_ready(&r->mc); /* workers forked at start-up are there by now */
	if (discover(r) == 0) {
		snprintf(r->err, sizeof r->err, r->o->native ? "pid %d cannot be read in /proc any more" :
			 "pid %d does not run under valgrind any more: it exec'd a program valgrind does not follow "
			 "(--trace-children-skip, a setuid program): run the server itself", (int)r->pid);
		return snapshot_failed(r);
	}
	if (check_acceptor(r) < 0 || (r->o->stats && read_counter(r) < 0))
		return -1;
	for (size_t i = 0; i < r->mc.nprocs; i++)
		r->alive_at[i] += r->mc.procs[i].alive;
	r->rep->nprocs = r->mc.nprocs;
	/* After the baseline only processes measured at it can be judged: leave newcomers (a
	 * child per connection) alone, each snapshot of them would cost time for nothing. */
	for (size_t i = 0; i < r->mc.nprocs; i++)
		if (r->mc.procs[i].alive && (idx == 0 || r->first[i] == 0) && measure_proc(r, i, idx) < 0)
			return -1;
	if (idx == 0 && r->o->native)
		native_floor(r);
	return 0;
}

static int close_probe(struct run *r)
{
	int fd = r->probe;
	r->probe = -1;
	return fd >= 0 ? close_conn(r, fd, LC_CLOSE_EOF) : 0;
}

/* What each connection says and waits for: --script, else --send/--expect. */
static int build_script(struct run *r)
{
	const struct lc_options *o = r->o;
	struct lc_script *s = &r->script;
	char err[300];
	size_t q = o->quit_len ? o->quit_len : strlen(o->quit), sl = o->send_len ? o->send_len : strlen(o->send),
	       el = o->expect_len ? o->expect_len : strlen(o->expect);
	memset(s, 0, sizeof *s);
	s->quit.len = q;
	memcpy(s->quit.data, o->quit, q);
	if (o->script && lc_script_load(o->script, s, err, sizeof err) < 0)
		return fail(r, "bad --script: %s", err);
	if (!o->script && sl)
		lc_script_add(s, LC_STEP_SEND, o->send, sl);
	if (!o->script && (el || o->expect_any))
		lc_script_add(s, LC_STEP_EXPECT, o->expect, el);
	return 0;
}

static bool in_path(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	char dir[4096];
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, prog);
		if (access(dir, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static int make_workdir(struct run *r)
{
	const char *keep = r->o->keep_dir;
	if (keep) {
		snprintf(r->dir, sizeof r->dir, "%s", keep);
		if (mkdir(r->dir, 0755) < 0 && errno != EEXIST)
			return fail(r, "cannot create --keep directory: %s", strerror(errno));
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(r->dir, sizeof r->dir, "%s/leakcheck-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(r->dir))
			return fail(r, "cannot create a temp directory: %s", strerror(errno));
	}
	static const char *const names[NPATHS] = { "server.out", "server.err", "vgdb", "vgdb.out" };
	for (int i = 0; i < NPATHS; i++) {
		snprintf(r->path[i], sizeof r->path[i], "%s/%s", r->dir, names[i]);
		remove(r->path[i]);
	}
	snprintf(r->rep->workdir, sizeof r->rep->workdir, "%s", r->dir);
	return 0;
}

/* Only for the temp dir we made: valgrind may leave vgdb FIFOs there after a SIGKILL. */
static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* The work dir and all in it: a server given {dir} may make folders of its own there (nginx
 * makes its temp folders under its prefix). */
static void remove_workdir(struct run *r)
{
	nftw(r->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (access(r->dir, F_OK) == 0)
		fprintf(stderr, "leakcheck: warning: could not remove %s\n", r->dir);
}

/* vgdb must match the valgrind that runs the server: take the one beside --valgrind. */
static void find_vgdb(const char *valgrind, char *out, size_t len)
{
	const char *slash = strrchr(valgrind, '/');
	snprintf(out, len, "vgdb");
	if (slash) {
		char beside[600];
		snprintf(beside, sizeof beside, "%.*s/vgdb", (int)(slash - valgrind), valgrind);
		if (access(beside, X_OK) == 0)
			snprintf(out, len, "%s", beside);
	}
}

static void engine_init(struct run *r)
{
	struct mc_engine *e = &r->mc;
	e->native = r->o->native;
	r->rep->native = r->o->native;
	e->valgrind = r->o->valgrind;
	e->suppressions = r->o->suppressions;
	e->trace_skip = r->o->trace_skip;
	e->gen_suppressions = r->o->write_suppressions != NULL;
	e->timeout = r->o->timeout;
	find_vgdb(e->valgrind, e->vgdb, sizeof e->vgdb);
	snprintf(e->prefix, sizeof e->prefix, "%s", r->path[VGDB]);
	snprintf(e->xml, sizeof e->xml, "%s/memcheck.%%p.xml", r->dir);
}

/* Ready means: the readiness line (and its port, unless we chose it) and, with {port},
 * the port accepts a connection; within --ready-timeout, not --timeout: under valgrind on a
 * loaded machine redis took over 10 s to listen (eight test suites on two cores). */
static int wait_ready(struct run *r, bool chose_port)
{
	const struct lc_options *o = r->o;
	const char *re = o->ready ? o->ready : LC_READY_REGEX;
	unsigned port = 0;
	if (!chose_port || o->ready) {
		if (lc_wait_line(r->path[OUT], r->path[ERR], re, r->pid, o->ready_timeout, chose_port ? NULL : &port, r->err,
				 sizeof r->err) < 0) {
			if (!lc_alive(r->pid, NULL))
				r->pid = -1; /* reaped by lc_wait_line */
			return fail(r, "%s", r->err);
		}
		if (!chose_port && (port == 0 || port > 65535))
			return fail(r, "%s", "the readiness line has no valid port: use {port} in ARGS or a --ready REGEX with a (port) group");
		if (!chose_port)
			r->port = port;
	}
	double deadline = lc_now() + o->ready_timeout;
	for (;;) {
		int fd = lc_connect(r->port, 1), status;
		if (fd >= 0) {
			close(fd);
			r->rep->cycles++;
			if (!lc_alive(r->pid, &status)) { /* it answered, but its first process is gone */
				char msg[400];
				r->pid = -1;
				if (daemonized(status, msg, sizeof msg))
					return fail(r, "%s", msg);
				lc_status_str(status, msg, sizeof msg);
				return fail(r, "server exited right after it accepted a connection (%s)", msg);
			}
			return 0;
		}
		if (!lc_alive(r->pid, &status)) {
			char how[96];
			lc_status_str(status, how, sizeof how);
			r->pid = -1;
			return fail(r, "server exited before it accepted connections (%s)", how);
		}
		if (lc_now() >= deadline) {
			char msg[128];
			snprintf(msg, sizeof msg, "server did not accept connections on its port within %gs (--ready-timeout)",
				 o->ready_timeout);
			return fail(r, "%s", msg);
		}
		lc_sleep_ms(20);
	}
}

static int start_server(struct run *r)
{
	const struct lc_options *o = r->o;
	bool chose_port = lc_command_wants_port(&r->cmd, o->server_argv) || o->port;
	char opt[4][640], **server = NULL, **argv = NULL;
	int rc = -1;
	if (!o->native && !in_path(o->valgrind))
		return fail(r, "%s not found: install valgrind (apt-get install valgrind)", o->valgrind);
	if (o->port) {
		int fd = lc_connect(o->port, 0.5);
		r->port = o->port;
		if (fd >= 0) { /* we would measure whatever listens there */
			close(fd);
			return fail(r, "%s", "--port: something already accepts connections on that port");
		}
	} else if (chose_port && lc_free_port(&r->port) < 0) {
		return fail(r, "no free loopback port: %s", strerror(errno));
	}
	r->cmd.port = r->port;
	if (lc_command_write_config(&r->cmd) < 0)
		return fail(r, "cannot write the --config copy: %s", strerror(errno));
	server = lc_command_argv(&r->cmd, o->server_argv);
	argv = server && !o->native ? mc_argv(&r->mc, server, opt) : NULL; /* natively: as it is */
	if (!server || (!o->native && !argv)) {
		fail(r, "%s", "out of memory");
		goto out;
	}
	r->pid = lc_spawn(o->native ? server : argv, r->path[OUT], r->path[ERR], r->err, sizeof r->err);
	if (r->pid < 0) {
		fail(r, "%s", r->err);
		goto out;
	}
	r->mc.root = r->pid;
	rc = wait_ready(r, chose_port);
	if (rc == 0)
		mc_mark_ready(&r->mc); /* again at the baseline; this one covers the warmup */
	if (rc < 0 && r->pid < 0) { /* it exited: valgrind's or the server's own words help most */
		char last[256];
		size_t len = strlen(r->rep->reason);
		lc_last_line(r->path[ERR], last, sizeof last);
		if (last[0])
			snprintf(r->rep->reason + len, sizeof r->rep->reason - len, ": %s", last);
	}
out:
	free(argv);
	lc_command_free_argv(server);
	return rc;
}

/* Never clean without having measured what serves: a process that served the probe at two
 * snapshots or more is long-lived (a forked worker), so it must have been judged. A child
 * per connection serves each probe with a new pid: the parent is what lives on. Which
 * process serves cannot always be seen (a server that closes right after its reply, as
 * HTTP/1.0 does, has closed the probe's socket by then), so a process alive at two
 * snapshots or more, and at the end, must have been judged too: it may be the one that
 * serves (nginx's worker, respawned after the baseline, was). */
static int check_served(struct run *r)
{
	char msg[500];
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		bool lived = r->alive_at[i] >= 2 && r->mc.procs[i].alive;
		if (p->judged || (r->accepts[i] < 2 && !lived))
			continue;
		const struct mc_proc *m = &r->mc.procs[i];
		snprintf(msg, sizeof msg, "pid %d (%s) %s but could not be measured in every round: no verdict on "
			 "what it holds%s%.220s", m->pid, m->name[0] ? m->name : "?",
			 r->accepts[i] >= 2 ? "served the connections" : "lived through the run (it may be what serves the connections)",
			 m->unreachable ? "; vgdb cannot reach it: " : "", m->unreachable ? m->why : "");
		(void)p;
		return fail(r, "%s", msg);
	}
	return 0;
}

struct holder_ctx {
	struct run *r;                /* borrowed */
	size_t i;                     /* the process searched */
};

static int monitor(void *ctx, const char *cmd, char **text, char *err, size_t errlen)
{
	struct holder_ctx *c = ctx;
	return mc_command(&c->r->mc, &c->r->mc.procs[c->i], cmd, c->r->path[VGDB_OUT], text, err, errlen);
}

/* For each process that leaks, who holds each site that grew by the byte rule's floor at
 * least (retain.h). The process stays halted for the whole search, so every command sees
 * one heap. A clean verdict costs nothing. */
static void find_holders(struct run *r)
{
	double t0 = lc_now();
	static struct lc_site pick[LC_MAX_SITES];
	static struct lc_retainer found[LC_MAX_SITES];
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		struct lc_proc_result *p = &r->rep->procs[i];
		size_t n = 0, idx[LC_MAX_SITES];
		if (!p->judged || r->o->native) /* natively there are no sites to search from */
			continue;
		lc_judge_proc(p, r->rep);
		for (size_t j = 0; (p->retained || p->bytes_grew) && j < p->nsites; j++)
			if (p->sites[j].dbytes >= (long)lc_bytes_floor(r->rep)) {
				idx[n] = j;
				pick[n++] = p->sites[j];
			}
		if (n == 0)
			continue;
		struct holder_ctx c = { r, i };
		unsigned budget = r->mc.no_relay ? 20 : 10 * (unsigned)n; /* one vgdb each costs ~0.1 s */
		r->rep->retain_calls += lc_retain_search(monitor, &c, pick, n, r->o->alloc_fns, found, budget);
		for (size_t j = 0; j < n; j++)
			p->held[idx[j]] = found[j];
		size_t kept = 0; /* sites whose growth was freed since the snapshot are not growing */
		for (size_t j = 0; j < p->nsites; j++)
			if (!p->held[j].gone) {
				p->sites[kept] = p->sites[j];
				p->held[kept++] = p->held[j];
			}
		p->nsites = kept;
		char why[256];
		mc_resume(&r->mc, &r->mc.procs[i], why, sizeof why);
	}
	r->rep->retain_seconds = lc_now() - t0;
}

/* Rounds to add for the processes judged (judge.c's lc_extra_rounds, the largest). */
static unsigned extra_rounds(const struct run *r)
{
	unsigned need = 0;
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		unsigned k = r->first[i] == 0 && p->nrounds == r->o->rounds ?
			lc_extra_rounds(p->rounds, p->nrounds, lc_bytes_floor(r->rep)) : 0;
		need = k > need ? k : need;
	}
	return need;
}

/* The first k rounds left out: the last R are the ones judged. */
static void drop_first_rounds(struct run *r, unsigned k)
{
	for (size_t i = 0; i < r->rep->nprocs; i++) {
		struct lc_proc_result *p = &r->rep->procs[i];
		if (r->first[i] != 0 || p->nrounds != r->o->rounds + k)
			continue;
		memmove(p->rounds, p->rounds + k, (p->nrounds - k) * sizeof *p->rounds);
		p->nrounds -= k;
	}
}

static int measure(struct run *r)
{
	const struct lc_options *o = r->o;
	int rc = -1;
	r->snaps = calloc(2 * LC_MAX_PROCS + 1, sizeof *r->snaps);
	if (!r->snaps)
		return fail(r, "%s", "out of memory");
	r->rep->at_ready = lc_now() - r->t0;
	int pids[LC_MAX_PROCS];
	if (discover(r) > 0) /* known before the warmup, the baseline needs no TCP table either */
		lc_quiesce_record(&r->quiet, pids, mc_pids(&r->mc, pids, LC_MAX_PROCS));
	if (drive(r, o->warmup, "warmup") < 0 || snapshot(r, 0) < 0)
		goto out;
	r->rep->at_baseline = lc_now() - r->t0;
	r->rep->per_round = o->cycles;
	for (unsigned i = 0; i < o->rounds; i++) {
		char phase[32];
		snprintf(phase, sizeof phase, "round %u/%u", i + 1, o->rounds);
		if (close_probe(r) < 0 || drive(r, o->cycles - 1, phase) < 0 || snapshot(r, i + 1) < 0)
			goto out;
	}
	unsigned extra = extra_rounds(r);
	if (o->rounds + extra > LC_MAX_ROUNDS)
		extra = 0;
	for (unsigned i = 0; i < extra; i++)
		if (close_probe(r) < 0 || drive(r, o->cycles - 1, "extra round") < 0 || snapshot(r, o->rounds + 1 + i) < 0)
			goto out;
	r->rep->extra_rounds = extra;
	drop_first_rounds(r, extra);
	for (size_t i = 0; i < r->rep->nprocs; i++)
		r->rep->procs[i].judged = r->first[i] == 0 && r->rep->procs[i].nrounds == o->rounds;
	if (check_served(r) < 0)
		goto out;
	r->rep->at_measured = lc_now() - r->t0;
	find_holders(r);
	/* The SIGTERM only once the server has closed the probe too: a server that abandons its open
	 * connections at exit would have the probe's reported as lost at exit (tests/shapes
	 * --linger: 1096 B "lost" without this wait). */
	rc = close_probe(r);
	if (rc == 0)
		wait_closed(r);
out:
	if (o->progress)
		fputs("\r\033[K", stderr);
	free(r->snaps);
	r->snaps = NULL;
	return rc;
}

/* SIGTERM, wait, read the XML. A server that does not exit in time gets SIGKILL: no report. */
static int finish(struct run *r)
{
	struct lc_report *rep = r->rep;
	int status;
	char how[96], xml[700];
	/* The relays stay attached: they pass every signal through (QPassSignals), and a detach
	 * costs ~110 ms per process while vgdb notices it (measured here); after the exit each
	 * vgdb has seen it and goes at once. */
	lc_sleep_ms(10); /* a signal right after a resume can still be reported to the relay */
	kill(r->pid, SIGTERM);
	int waited = lc_wait(r->pid, 1, &status);
	if (waited < 0) {
		/* Still there: the SIGTERM may have been stopped at a relay after all (the process
		 * halted, the signal taken). Detaching resumes it; then the signal once more. */
		mc_close(&r->mc);
		kill(r->pid, SIGTERM);
		waited = lc_wait(r->pid, r->o->timeout, &status);
	}
	if (waited < 0) {
		lc_stop(r->pid, 0);
		r->pid = -1;
		char msg[128];
		snprintf(msg, sizeof msg, "no exit report: the server did not exit within %gs after SIGTERM (killed)",
			 r->o->timeout);
		return fail(r, "%s", msg);
	}
	r->pid = -1;
	mc_close(&r->mc);
	lc_status_str(status, how, sizeof how);
	snprintf(rep->exit_status, sizeof rep->exit_status, "%s", how);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		return fail(r, "server crashed at shutdown (%s)", how);
	if (r->o->native)
		return 0; /* no exit report natively: what is freed at exit proves nothing anyway */
	mc_xml_path(&r->mc, r->mc.root, xml, sizeof xml);
	if (lc_exit_report_parse_file(xml, &rep->exit, r->err, sizeof r->err) < 0)
		return fail(r, "no exit report: %s", r->err);
	rep->have_exit = true;
	if (r->o->write_suppressions && lc_write_suppressions(r->o->write_suppressions, rep, r->o) < 0)
		return fail(r, "cannot write --write-suppressions file: %s", strerror(errno));
	return 0;
}

static int check_options(struct run *r)
{
	const struct lc_options *o = r->o;
	if (!o->server_argv || !o->server_argv[0])
		return fail(r, "%s", "no server command given");
	if (o->cycles < 1 || o->rounds < 2 || o->rounds > LC_MAX_ROUNDS)
		return fail(r, "%s", "--cycles must be >= 1 and --rounds between 2 and 100 (one round cannot tell "
			    "one-time growth from a leak)");
	if (o->settle < 0)
		return fail(r, "%s", "--settle must be >= 0");
	if (o->concurrency < 1 || o->concurrency > 256)
		return fail(r, "%s", "--concurrency must be between 1 and 256");
	if (o->timeout <= 0 || o->ready_timeout <= 0)
		return fail(r, "%s", "--timeout and --ready-timeout must be > 0");
	if (o->native && (o->suppressions || o->write_suppressions || o->trace_skip))
		return fail(r, "%s", "--suppressions, --write-suppressions and --trace-children-skip are for the memcheck "
			    "engine, not --native");
	if (o->stats_field && !o->stats)
		return fail(r, "%s", "--stats-field without --stats: nothing asks the server for its counter");
	return 0;
}

/* --write-baseline records today's growing sites; --baseline forgives them (baseline.c). */
static void known_leaks(struct run *r)
{
	char err[300];
	if (r->rep->verdict == LC_ERROR)
		return;
	if (r->o->write_baseline && lc_baseline_write(r->o->write_baseline, r->rep, r->o) < 0)
		fail(r, "cannot write --write-baseline file: %s", strerror(errno));
	else if (r->o->baseline && lc_baseline_apply(r->o->baseline, r->rep, r->o, err, sizeof err) < 0)
		fail(r, "%s", err);
}

enum lc_verdict lc_run(const struct lc_options *o, struct lc_report *rep)
{
	static struct run r;
	double t0 = lc_now();
	/* A relay's vgdb exits with its process (a forked child that is done): writing to it
	 * then must be an error we handle, not a SIGPIPE that kills us. Restored at the end. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigaction(SIGPIPE, &ign, &old_pipe);
	/* a server that daemonizes leaves its processes to us, not to init: we can say so, and
	 * stop them (every child reaped) */
	int was_subreaper = 0;
	static pid_t before[256]; /* the caller's own children: never ours to reap */
	size_t nbefore = lc_children(before, 256, false);
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	memset(&r, 0, sizeof r);
	r.o = o;
	r.rep = rep;
	r.pid = r.probe = r.acceptor = -1;
	r.t0 = t0;
	lc_quiesce_init(&r.quiet);
	for (size_t i = 0; i < LC_MAX_PROCS; i++)
		r.first[i] = -1;
	memset(rep, 0, sizeof *rep);
	if (check_options(&r) < 0 || build_script(&r) < 0)
		goto out;
	if (make_workdir(&r) < 0)
		goto out;
	engine_init(&r);
	snprintf(r.cmd.dir, sizeof r.cmd.dir, "%s", r.dir);
	if (lc_command_read_config(&r.cmd, o->config, r.err, sizeof r.err) < 0)
		fail(&r, "%s", r.err);
	else if (start_server(&r) == 0 && measure(&r) == 0)
		finish(&r);
	lc_command_free(&r.cmd);
	mc_close(&r.mc);
	snprintf(rep->snapshots, sizeof rep->snapshots, "%s", o->native ? "native: Anonymous from /proc/PID/smaps_rollup, "
		 "/proc/PID/fd and /proc/PID/task" : r.mc.no_relay ? r.mc.relay_note : "vgdb relay");
	if (r.probe >= 0)
		close(r.probe);
	if (r.pid > 0) /* an error left it running: no report, but no orphan either */
		lc_stop(r.pid, 1);
	lc_reap_new_children(before, nbefore); /* a daemonized server's processes, orphans of a vgdb */
	if (lc_cancelled())
		fail(&r, "%s", "interrupted by a signal: the server was stopped and its work dir removed");
	lc_judge(rep);
	known_leaks(&r);
	/* LEAKCHECK_KEEP_FAILED=1 (CI): a verdict other than clean keeps its raw logs to upload */
	const char *keep_failed = getenv("LEAKCHECK_KEEP_FAILED");
	rep->kept = o->keep_dir || (keep_failed && strcmp(keep_failed, "1") == 0 && rep->verdict != LC_CLEAN &&
				    !lc_cancelled());
	if (!rep->kept)
		remove_workdir(&r);
out:
	prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
	sigaction(SIGPIPE, &old_pipe, NULL);
	rep->seconds = lc_now() - t0;
	return rep->verdict;
}

void lc_report_free(struct lc_report *rep)
{
	lc_exit_report_free(&rep->exit);
	rep->have_exit = false;
}

/* The connections lc_run makes: what each says and waits for (the script), batches of
 * --concurrency, the close modes, the probe held across a snapshot. See run.h. */
#include "run/run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "drive/pyagent.h"
#include "util/text.h"

int lc__traffic_open(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	char *got = r->reply, why[600], path[700];
	size_t got_len;
	int fd = lc__connect(r->port, o->timeout);
	if (fd < 0)
		return lc__server_failed(r, "connecting", NULL);
	int rc = lc__script_run(&r->script, fd, r->opened++, o->timeout, why, sizeof why, got, sizeof r->reply, &got_len);
	if (rc == 0)
		return fd;
	int e = errno;
	close(fd);
	if (rc == -2 && lc__run_keeps_failed(o)) { /* the reply, in the work dir that is kept */
		snprintf(path, sizeof path, "%s/reply.bin", r->dir);
		FILE *f = fopen(path, "w");
		if (f && fwrite(got, 1, got_len, f) == got_len)
			lc__appendf(why, sizeof why, " (kept in reply.bin)");
		if (f)
			fclose(f);
	} else if (rc == -2) {
		lc__appendf(why, sizeof why, " (--keep DIR keeps the whole reply in DIR/reply.bin)");
	}
	errno = e;
	return lc__server_failed(r, "waiting for the reply", rc == -2 ? why : NULL);
}

/* A reset throws away what the server has not read yet: without a reply to wait for, wait
 * instead until the server has taken what the connection sent (its receive queue is empty),
 * so a reset connection did its work as the others did. Bounded by LC_RESET_WAIT: a server
 * that never reads some requests cost mosquitto's fixed build 7.7 s where eof took 1.4 s; and
 * after LC_RESET_UNREAD such connections no reset waits any more (the report says so). */
static void served(struct lc_run_state *r, int fd)
{
	if (lc__script_expects(&r->script) || r->rep->resets_unread >= LC_RESET_UNREAD)
		return; /* the reply came: the request was read; or this server leaves some unread */
	unsigned peer = lc__local_port(fd);
	double wait = r->o->timeout < LC_RESET_WAIT ? r->o->timeout : LC_RESET_WAIT;
	for (double until = lc__now() + wait; lc__now() < until && !lc__cancelled(); lc__sleep_ms(1))
		if (lc__server_unread(r->port, peer) <= 0)
			return;
	r->rep->resets_unread++;
}

static int close_conn(struct lc_run_state *r, int fd, enum lc_close how)
{
	const struct lc_options *o = r->o;
	if (how == LC_CLOSE_RESET) {
		served(r, fd);
		if (lc__close_reset(fd) < 0)
			return lc__run_fail(r, "cannot reset a connection (SO_LINGER): %s", strerror(errno));
		return 0;
	}
	if (how == LC_CLOSE_SERVER) {
		double t0 = lc__now();
		if (lc__send_all(fd, r->script.quit.data, r->script.quit.len, o->timeout) < 0 ||
		    lc__wait_eof(fd, o->timeout) < 0) {
			close(fd);
			return lc__server_failed(r, "waiting for the server to close after the quit line (a protocol "
						"without one, or a server that does not close on it: --close eof)", NULL);
		}
		r->rep->server_closes++;
		r->rep->server_close_seconds += lc__now() - t0;
	}
	close(fd);
	return 0;
}

/* On a terminal (--progress): the phase, connections done of its total, the rate and what is
 * left of the phase, at most four times a second. Once a phase shows connections slower than
 * LC_SLOW_CONNECTION each, it says so at once, with a shorter run, and the report says it too. */
static void progress(struct lc_run_state *r, const char *phase, unsigned done, unsigned total, double t0)
{
	double now = lc__now(), took = now - t0, rate = took > 0 ? done / took : 0;
	if (done >= 3 && took / done >= LC_SLOW_CONNECTION && !r->slow_said) {
		r->slow_said = true;
		snprintf(r->rep->slow, sizeof r->rep->slow, "%s", lc__engine_slow_reason(r->o->engine));
		if (r->o->progress)
			fprintf(stderr, "\r\033[Kleakcheck: slow: %.1fs a connection (%s): %u connections a round take "
				"~%.0fs%s\n", took / done, lc__engine_slow_reason(r->o->engine), r->o->cycles,
				r->o->cycles * took / done, r->o->cycles > 20 ? "; --cycles 20 shortens the run" : "");
	}
	if (!r->o->progress || (now - r->progress_at < 0.25 && done != total))
		return;
	r->progress_at = now;
	fprintf(stderr, "\r\033[Kleakcheck: %s: %u/%u connections, %.0f/s", phase, done, total, rate);
	if (rate > 0 && done < total)
		fprintf(stderr, ", ~%.0fs left of it", (total - done) / rate);
	fprintf(stderr, " (%.0fs in all)", now - r->t0);
}

void lc__progress_phase(struct lc_run_state *r, const char *phase)
{
	if (r->o->progress)
		fprintf(stderr, "\r\033[Kleakcheck: %s (%.0fs in all)", phase, lc__now() - r->t0);
}

/* --every N: a series point per measured process, taken as the heap is (not settled, no
 * quiescence): for plots, not for the verdict. A failed one is skipped, not an error. */
static void series_point(struct lc_run_state *r)
{
	struct lc_snapshot *s = &r->snaps[2 * LC_MAX_PROCS];
	char err[512];
	for (size_t i = 0; i < r->eng.nprocs && r->rep->nseries < LC_MAX_SERIES; i++)
		if (r->eng.procs[i].alive && r->slot[i].first == 0 &&
		    lc__engine_snapshot(&r->eng, i, false, s, err, sizeof err) == 0)
			r->rep->series[r->rep->nseries++] = (struct lc_point){ r->rep->connections, r->eng.procs[i].pid,
									       lc_snapshot_blocks(s), lc_snapshot_bytes(s), false };
}

int lc__traffic_drive(struct lc_run_state *r, unsigned n, const char *phase)
{
	int fds[256];
	unsigned k = r->o->concurrency;
	double t0 = lc__now();
	for (unsigned done = 0; done < n;) {
		if (lc__cancelled())
			return lc__run_fail(r, "%s", "interrupted by a signal");
		unsigned batch = n - done < k ? n - done : k, opened = 0;
		int rc = 0;
		while (opened < batch && (fds[opened] = lc__traffic_open(r)) >= 0)
			opened++;
		if (opened < batch)
			rc = -1;
		for (unsigned i = 0; i < opened; i++) {
			unsigned idx = (unsigned)r->rep->connections++;
			enum lc_close how = r->o->close == LC_CLOSE_MIX ? (enum lc_close)(idx % 3) : r->o->close;
			if (rc == 0)
				rc = close_conn(r, fds[i], how);
			else
				close(fds[i]);
		}
		if (rc < 0)
			return -1;
		if (r->o->every && r->snaps && r->rep->connections / r->o->every != (r->rep->connections - opened) / r->o->every)
			series_point(r);
		done += batch;
		progress(r, phase, done, n, t0);
	}
	r->rep->driven += n;
	r->rep->drive_seconds += lc__now() - t0;
	return 0;
}

int lc__traffic_close_probe(struct lc_run_state *r)
{
	int fd = r->probe, closed = 0;
	r->probe = -1;
	if (fd >= 0 && close_conn(r, fd, LC_CLOSE_EOF) < 0)
		fd = -2;
	closed += fd >= 0;
	for (unsigned i = 0; i < r->nwakes; i++) /* not connections of the round: no script ran */
		close(r->wakes[i]);
	r->nwakes = 0;
	for (unsigned i = 0; i < r->nagent_wakes; i++) /* not the server's connections */
		close(r->agent_wakes[i]);
	r->nagent_wakes = 0;
	return fd == -2 ? -1 : closed;
}

/* The ping is sent and its answer left unread (the process is halted until vgdb is done): the
 * agent answers and closes its end once it runs again; ours is closed with the probe. */
static bool wake_agent(struct lc_run_state *r, int pid)
{
	char path[200];
	if (r->nagent_wakes == LC_MAX_WAKES || !lc__pyagent_socket(r->dir, pid, path, sizeof path))
		return false;
	int fd = lc__pyagent_send(path, "ping");
	if (fd >= 0)
		r->agent_wakes[r->nagent_wakes++] = fd;
	return fd >= 0;
}

void lc__traffic_wake(void *arg, int pid)
{
	struct lc_run_state *r = arg;
	if (wake_agent(r, pid) || r->nwakes == LC_MAX_WAKES || r->port == 0)
		return;
	int fd = lc__connect(r->port, 1); /* the kernel completes it, the server need not run */
	if (fd < 0)
		return; /* the server is going away: the wait that nudged ends on its own */
	r->wakes[r->nwakes++] = fd;
	r->rep->wakes++;
}

/* What each connection says and waits for: --script, else --send/--expect. */
int lc__traffic_script(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	struct lc_script *s = &r->script;
	char err[300];
	size_t q = o->quit_len ? o->quit_len : strlen(o->quit), sl = o->send_len ? o->send_len : strlen(o->send),
	       el = o->expect_len ? o->expect_len : strlen(o->expect);
	memset(s, 0, sizeof *s);
	s->quit.len = q;
	memcpy(s->quit.data, o->quit, q);
	if (o->script && lc__script_load(o->script, s, err, sizeof err) < 0)
		return lc__run_fail(r, "bad --script: %s", err);
	if (!o->script && sl)
		lc__script_add(s, LC_STEP_SEND, o->send, sl);
	if (!o->script && (el || o->expect_any))
		lc__script_add(s, LC_STEP_EXPECT, o->expect, el);
	r->rep->no_reply = !lc__script_expects(s);
	return 0;
}

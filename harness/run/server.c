/* The server's lifecycle and work folder, for lc_run: start it under the engine, wait until it
 * is ready, tell a server that died from one that stopped answering, SIGTERM it and read the
 * engine's exit report. See run.h. */
#define _GNU_SOURCE
#include "run/run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "drive/watchdog.h"
#include "util/text.h"

/* The first process exited, cleanly, and a process of the server lives on, adopted by us: it
 * daemonized. Writes the reason into msg and returns true then. */
static bool daemonized(int status, char *msg, size_t len)
{
	pid_t pids[4];
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lc__adopted(pids, 4) == 0)
		return false;
	snprintf(msg, len, "the server's process exited (exit status 0) and left pid %d running in the background: "
		 "it daemonized; run it in the foreground (redis: --daemonize no; nginx: daemon off;; memcached: "
		 "without -d)", (int)pids[0]);
	return true;
}

/* A server that stopped answering may be halted rather than busy: say so. */
static void halted_note(struct lc_run_state *r, char *msg, size_t len)
{
	int pids[LC_MAX_PROCS];
	char state;
	size_t n = lc__engine_pids(&r->eng, pids, LC_MAX_PROCS);
	pid_t halted = lc__halted(pids, n, &state);
	if (halted > 0)
		lc__appendf(msg, len, " (pid %d is halted: state %c)", (int)halted, state);
}

/* The engine's hint on what of the failure it caused: from why and the server's output. */
static void failure_hint(struct lc_run_state *r, const char *why, char *msg, size_t len)
{
	char text[2048] = "";
	if (why)
		snprintf(text, sizeof text, "%s\n", why);
	for (int i = 0; i < LC_NPATHS; i++) {
		FILE *f = fopen(r->path[i], "r");
		if (!f)
			continue;
		size_t at = strlen(text);
		if (fseek(f, -1000, SEEK_END) < 0)
			rewind(f);
		text[at + fread(text + at, 1, (sizeof text - 1 - at) / (LC_NPATHS - i), f)] = '\0';
		fclose(f);
	}
	lc__engine_failure_hint(&r->eng, text, msg, len);
}

/* A crashing server resets its sockets a moment before it can be reaped (valgrind still writes
 * its report), so give it that moment before calling it alive. */
int lc__server_failed(struct lc_run_state *r, const char *what, const char *why)
{
	int status, e = errno;
	char how[96], msg[512];
	if (lc__wait(r->pid, 0.5, &status) == 0) {
		lc__status_str(status, how, sizeof how);
		r->pid = -1;
		if (!daemonized(status, msg, sizeof msg))
			snprintf(msg, sizeof msg, "server died during the run (%s) while %s", how, what);
	} else {
		snprintf(msg, sizeof msg, "server %s: %s: %s", why ? "did not answer as expected" : "stopped answering",
			 what, why ? why : strerror(e));
		halted_note(r, msg, sizeof msg);
	}
	failure_hint(r, why, msg, sizeof msg);
	return lc__run_fail(r, "%s", msg);
}

int lc__server_lost(struct lc_run_state *r)
{
	int status;
	char how[96];
	/* A crashing server is still there for a moment (valgrind writes its report), and the
	 * engine may see the exit first: give it that moment before calling it the engine's failure. */
	if (lc__wait(r->pid, 0.5, &status) < 0)
		return lc__run_fail(r, "%s", r->err);
	lc__status_str(status, how, sizeof how);
	r->pid = -1;
	char msg[400];
	if (daemonized(status, msg, sizeof msg))
		return lc__run_fail(r, "%s", msg);
	return lc__run_fail(r, "server died during the run (%s) while taking a heap snapshot", how);
}

/* mkdir -p: dir and every missing parent. */
static int make_dirs(const char *dir)
{
	char path[512];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int lc__workdir_make(struct lc_run_state *r)
{
	const char *keep = r->o->keep_dir;
	if (keep) {
		snprintf(r->dir, sizeof r->dir, "%s", keep);
		if (make_dirs(r->dir) < 0)
			return lc__run_fail(r, "cannot create --keep directory: %s", strerror(errno));
	} else {
		const char *tmp = getenv("TMPDIR");
		tmp = tmp && *tmp ? tmp : "/tmp";
		lc__workdir_sweep(tmp); /* what runs killed before us left */
		/* the watchdog first, for the folder's name: a harness killed between making the
		 * folder and starting a watchdog for it would leave it (and no owner file yet) */
		char prefix[sizeof r->dir - 8];
		snprintf(prefix, sizeof prefix, "%.400s/leakcheck-%d-", tmp, (int)getpid());
		lc__watchdog_start(&r->dog, 0, prefix, true);
		snprintf(r->dir, sizeof r->dir, "%sXXXXXX", prefix);
		if (!mkdtemp(r->dir))
			return lc__run_fail(r, "cannot create a temp directory: %s", strerror(errno));
		lc__workdir_claim(r->dir);
	}
	static const char *const names[LC_NPATHS] = { "server.out", "server.err" };
	for (int i = 0; i < LC_NPATHS; i++) {
		snprintf(r->path[i], sizeof r->path[i], "%s/%s", r->dir, names[i]);
		remove(r->path[i]);
	}
	snprintf(r->rep->workdir, sizeof r->rep->workdir, "%s", r->dir);
	if (keep) /* from now on nothing of the run outlives us */
		lc__watchdog_start(&r->dog, 0, r->dir, false);
	return 0;
}

void lc__workdir_remove(struct lc_run_state *r)
{
	lc__remove_tree(r->dir);
	if (access(r->dir, F_OK) == 0)
		fprintf(stderr, "leakcheck: warning: could not remove %s\n", r->dir);
}

/* Ready means: the readiness line (and its port, unless we chose it) and, with {port},
 * the port accepts a connection; within --ready-timeout, not --timeout: under valgrind on a
 * loaded machine redis took over 10 s to listen (eight test suites on two cores). */
static int wait_ready(struct lc_run_state *r, bool chose_port)
{
	const struct lc_options *o = r->o;
	const char *re = o->ready ? o->ready : LC_READY_REGEX;
	unsigned port = 0;
	if (!chose_port || o->ready) {
		if (lc__wait_line(r->path[LC_PATH_OUT], r->path[LC_PATH_ERR], re, r->pid, o->ready_timeout, chose_port ? NULL : &port, r->err,
				 sizeof r->err) < 0) {
			if (!lc__alive(r->pid, NULL))
				r->pid = -1; /* reaped by lc__wait_line */
			failure_hint(r, NULL, r->err, sizeof r->err);
			return lc__run_fail(r, "%s", r->err);
		}
		if (!chose_port && (port == 0 || port > 65535))
			return lc__run_fail(r, "%s", "the readiness line has no valid port: use {port} in ARGS or a --ready REGEX with a (port) group");
		if (!chose_port)
			r->port = port;
	}
	double deadline = lc__now() + o->ready_timeout;
	for (;;) {
		int fd = lc__connect(r->port, 1), status;
		if (fd >= 0) {
			close(fd);
			r->rep->connections++;
			if (!lc__alive(r->pid, &status)) { /* it answered, but its first process is gone */
				char msg[400];
				r->pid = -1;
				if (daemonized(status, msg, sizeof msg))
					return lc__run_fail(r, "%s", msg);
				lc__status_str(status, msg, sizeof msg);
				return lc__run_fail(r, "server exited right after it accepted a connection (%s)", msg);
			}
			return 0;
		}
		if (!lc__alive(r->pid, &status)) {
			char how[96];
			lc__status_str(status, how, sizeof how);
			r->pid = -1;
			return lc__run_fail(r, "server exited before it accepted connections (%s)", how);
		}
		if (lc__cancelled()) /* every connect fails at once then: this loop would hold the whole --ready-timeout */
			return lc__run_fail(r, "%s", "interrupted by a signal");
		if (lc__now() >= deadline) {
			char msg[128];
			snprintf(msg, sizeof msg, "server did not accept connections on its port within %gs (--ready-timeout)",
				 o->ready_timeout);
			return lc__run_fail(r, "%s", msg);
		}
		lc__sleep_ms(20);
	}
}

int lc__server_start(struct lc_run_state *r)
{
	const struct lc_options *o = r->o;
	bool chose_port = lc__command_wants_port(&r->cmd, o->server_argv) || o->port;
	char **server = NULL, **argv = NULL;
	int rc = -1;
	if (o->port) {
		int fd = lc__connect(o->port, 0.5);
		r->port = o->port;
		if (fd >= 0) { /* we would measure whatever listens there */
			close(fd);
			return lc__run_fail(r, "%s", "--port: something already accepts connections on that port");
		}
	} else if (chose_port && lc__free_port(&r->port) < 0) {
		return lc__run_fail(r, "no free loopback port: %s", strerror(errno));
	}
	r->cmd.port = r->port;
	if (lc__command_write_config(&r->cmd) < 0)
		return lc__run_fail(r, "cannot write the --config copy: %s", strerror(errno));
	server = lc__command_argv(&r->cmd, o->server_argv);
	argv = server ? lc__engine_argv(&r->eng, server) : NULL;
	if (!argv) {
		lc__run_fail(r, "%s", "out of memory");
		goto out;
	}
	r->pid = lc__spawn_env(argv, lc__python_env(r), r->path[LC_PATH_OUT],
			      r->path[LC_PATH_ERR], r->err, sizeof r->err);
	if (r->pid < 0) {
		lc__run_fail(r, "%s", r->err);
		goto out;
	}
	r->eng.root = r->pid;
	/* the server's own process group (lc__spawn): the watchdog kills it if we die */
	lc__watchdog_group(&r->dog, r->pid);
	rc = wait_ready(r, chose_port);
	if (rc == 0)
		lc__engine_mark_ready(&r->eng); /* again at the baseline; this one covers the warmup */
	if (rc < 0 && r->pid < 0) { /* it exited: valgrind's or the server's own words help most */
		char last[256];
		size_t len = strlen(r->rep->reason);
		lc__last_line(r->path[LC_PATH_ERR], last, sizeof last);
		if (last[0])
			snprintf(r->rep->reason + len, sizeof r->rep->reason - len, ": %s", last);
	}
out:
	free(argv);
	lc__command_free_argv(server);
	return rc;
}

/* A server that does not exit in time gets SIGKILL: no report. */
int lc__server_finish(struct lc_run_state *r)
{
	struct lc_report *rep = r->rep;
	int status;
	char how[96];
	/* The engine stays attached: memcheck's relays pass every signal through (QPassSignals),
	 * and a detach costs ~110 ms per process while vgdb notices it; after the exit each vgdb
	 * has seen it and goes at once. */
	lc__sleep_ms(10); /* a signal right after a resume can still be reported to the relay */
	lc__progress_phase(r, "SIGTERM sent: waiting for the server to exit");
	kill(r->pid, SIGTERM);
	int waited = lc__wait(r->pid, 1, &status);
	if (waited < 0) {
		/* Still there: the SIGTERM may have been stopped at a relay after all (the process
		 * halted, the signal taken). Detaching resumes it; then the signal once more. */
		lc__engine_detach(&r->eng);
		kill(r->pid, SIGTERM);
		waited = lc__wait(r->pid, r->o->timeout, &status);
	}
	if (waited < 0) {
		lc__stop(r->pid, 0);
		r->pid = -1;
		char msg[128];
		snprintf(msg, sizeof msg, "no exit report: the server did not exit within %gs after SIGTERM (killed)",
			 r->o->timeout);
		return lc__run_fail(r, "%s", msg);
	}
	r->pid = -1;
	lc__engine_detach(&r->eng);
	lc__status_str(status, how, sizeof how);
	snprintf(rep->exit_status, sizeof rep->exit_status, "%s", how);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		return lc__run_fail(r, "server crashed at shutdown (%s)", how);
	if (lc__engine_exit_report(&r->eng, rep, r->err, sizeof r->err) < 0)
		return lc__run_fail(r, "%s", r->err);
	rep->exit_one_time = rep->have_exit && rep->exit.bytes[LC_DEFINITE] + rep->exit.bytes[LC_INDIRECT] > 0 &&
			     lc__lost_one_time(rep); /* for the suppressions' header; lc__judge sets it again */
	if (r->o->write_suppressions && rep->have_exit && lc_write_suppressions(r->o->write_suppressions, rep, r->o) < 0)
		return lc__run_fail(r, "cannot write --write-suppressions file: %s", strerror(errno));
	return 0;
}

/* lc_run: one leakcheck run, start to verdict. See include/lc/leakcheck.h.
 *
 * Timeline: start the server under memcheck → wait until ready → warmup connections →
 * baseline snapshot → R rounds of N connections, a snapshot after each → SIGTERM → parse the
 * exit XML → judge.
 *
 * Quiescence (a snapshot must see every disconnect of its round handled, without racing):
 *  1. wait until /proc/net/tcp{,6} shows no socket on the server's port that the server has
 *     yet to close (ESTABLISHED, SYN_RECV, CLOSE_WAIT): every FIN we sent has been acted on;
 *  2. then open a probe connection and wait for its reply. An event-loop server handles
 *     readiness in order, so once it answers a connection made after every earlier FIN/RST
 *     reached it, it has also handled those (resets are invisible to step 1, this covers them);
 *  3. take the vgdb snapshot with the probe still open, and close the probe as the first
 *     connection of the next round. Every snapshot thus holds exactly one idle connection,
 *     and exactly N connections close between two snapshots. */
#define _GNU_SOURCE
#include "lc/leakcheck.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc/proc.h"


struct run {
	const struct lc_options *o;   /* borrowed */
	struct lc_report *rep;        /* borrowed */
	pid_t pid;
	unsigned port;
	char dir[512];
	char path[5][600];            /* see enum below */
	char err[512];
	int probe;                    /* fd of the probe held across a snapshot, -1 if none */
};

enum { OUT, ERR, XML, VGDB, VGDB_OUT, NPATHS }; /* server stdout/stderr, exit report, vgdb */

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
	o->valgrind = "valgrind";
}

int lc_unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case '\\': *w++ = '\\'; break;
		default: return -1;
		}
	}
	*w = '\0';
	return 0;
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
static int server_failed(struct run *r, const char *what, const char *why)
{
	int status, e = errno;
	char how[96], msg[400];
	if (lc_wait(r->pid, 0.5, &status) == 0) {
		lc_status_str(status, how, sizeof how);
		r->pid = -1;
		snprintf(msg, sizeof msg, "server died during the run (%s) while %s", how, what);
	} else {
		snprintf(msg, sizeof msg, "server %s: %s: %s", why ? "did not answer as expected" : "stopped answering",
			 what, why ? why : strerror(e));
	}
	return fail(r, "%s", msg);
}

/* Connect and exchange send/expect. Returns the fd, or -1 (reason set). */
static int open_conn(struct run *r)
{
	const struct lc_options *o = r->o;
	char buf[4096];
	const char *why = NULL;
	int fd = lc_connect(r->port, o->timeout);
	if (fd < 0)
		return server_failed(r, "connecting", NULL);
	size_t slen = strlen(o->send), elen = strlen(o->expect);
	if (slen && lc_send_all(fd, o->send, slen, o->timeout) < 0)
		goto broken;
	if (elen || o->expect_any) {
		/* lc_recv_until also returns at EOF or a full buffer: check what came */
		long n = lc_recv_until(fd, buf, sizeof buf, o->expect, elen, o->timeout);
		if (n < 0)
			goto broken;
		if (n == 0)
			why = "the server closed the connection without replying";
		else if (elen && !memmem(buf, (size_t)n, o->expect, elen))
			why = "the reply does not contain the expected text";
		if (why)
			goto broken;
	}
	return fd;
broken:
	close(fd);
	return server_failed(r, "waiting for the reply", why);
}

static int close_conn(struct run *r, int fd, enum lc_close how)
{
	const struct lc_options *o = r->o;
	if (how == LC_CLOSE_RESET) {
		lc_close_reset(fd);
		return 0;
	}
	if (how == LC_CLOSE_SERVER) {
		if (lc_send_all(fd, o->quit, strlen(o->quit), o->timeout) < 0 || lc_wait_eof(fd, o->timeout) < 0) {
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
static int drive(struct run *r, unsigned n, const char *phase)
{
	int fds[256];
	unsigned k = r->o->concurrency;
	for (unsigned done = 0; done < n;) {
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
		done += batch;
		progress(r, phase, done, n);
	}
	return 0;
}

/* Steps 1 to 3 of the quiescence scheme in the header comment. */
static int snapshot(struct run *r, struct lc_snapshot *snap)
{
	double deadline = lc_now() + r->o->timeout;
	while (lc_server_pending(r->port) > 0 && lc_now() < deadline)
		lc_sleep_ms(2);
	r->probe = open_conn(r);
	if (r->probe < 0)
		return -1;
	r->rep->cycles++;
	if (lc_vgdb_snapshot(r->path[VGDB], r->pid, r->path[VGDB_OUT], r->o->timeout, snap,
			     r->err, sizeof r->err) < 0) {
		int status;
		char how[96];
		if (lc_alive(r->pid, &status)) /* vgdb's own failure, not a dead server */
			return fail(r, "%s", r->err);
		lc_status_str(status, how, sizeof how);
		r->pid = -1;
		return fail(r, "server died during the run (%s) while taking a heap snapshot", how);
	}
	snap->fds = lc_count_fds(r->pid);
	return 0;
}

static int close_probe(struct run *r)
{
	int fd = r->probe;
	r->probe = -1;
	return fd >= 0 ? close_conn(r, fd, LC_CLOSE_EOF) : 0;
}

static bool has_port_placeholder(char **argv)
{
	for (; *argv; argv++)
		if (strstr(*argv, "{port}"))
			return true;
	return false;
}

/* SERVER ARGS with {port} replaced; owned strings in a NULL-terminated array. */
static char **expand_args(char **argv, unsigned port)
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **out = calloc(n + 1, sizeof *out);
	char num[16];
	snprintf(num, sizeof num, "%u", port);
	for (size_t i = 0; out && i < n; i++) {
		const char *a = argv[i], *p;
		size_t len = strlen(a) + 16 * 4, w = 0;
		out[i] = malloc(len);
		if (!out[i])
			break;
		while ((p = strstr(a, "{port}")) && w + (size_t)(p - a) + strlen(num) < len) {
			w += (size_t)snprintf(out[i] + w, len - w, "%.*s%s", (int)(p - a), a, num);
			a = p + 6;
		}
		snprintf(out[i] + w, len - w, "%s", a);
	}
	return out;
}

static void free_args(char **args)
{
	for (size_t i = 0; args && args[i]; i++)
		free(args[i]);
	free(args);
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
	static const char *const names[NPATHS] = { "server.out", "server.err", "memcheck.xml", "vgdb", "vgdb.out" };
	for (int i = 0; i < NPATHS; i++) {
		snprintf(r->path[i], sizeof r->path[i], "%s/%s", r->dir, names[i]);
		remove(r->path[i]);
	}
	snprintf(r->rep->workdir, sizeof r->rep->workdir, "%s", r->dir);
	return 0;
}

/* Only for the temp dir we made: valgrind may leave vgdb FIFOs there after a SIGKILL. */
static void remove_workdir(struct run *r)
{
	DIR *d = opendir(r->dir);
	struct dirent *e;
	char p[800];
	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", r->dir, e->d_name);
		remove(p);
	}
	if (d)
		closedir(d);
	if (rmdir(r->dir) < 0)
		fprintf(stderr, "leakcheck: warning: could not remove %s: %s\n", r->dir, strerror(errno));
}

/* valgrind SERVER ARGS, as an owned NULL-terminated array of borrowed/owned strings. */
static char **valgrind_argv(struct run *r, char **server, char opt[][640])
{
	const struct lc_options *o = r->o;
	size_t n = 0, s = 0;
	while (server[s])
		s++;
	char **argv = calloc(s + 16, sizeof *argv);
	if (!argv)
		return NULL;
	argv[n++] = (char *)o->valgrind;
	static const char *const fixed[] = {
		"--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all",
		"--errors-for-leak-kinds=definite,indirect", "--xml=yes", "--vgdb=yes",
		"--vgdb-poll=50", "--child-silent-after-fork=yes", NULL,
	};
	for (size_t i = 0; fixed[i]; i++)
		argv[n++] = (char *)fixed[i];
	snprintf(opt[0], 640, "--xml-file=%s", r->path[XML]);
	snprintf(opt[1], 640, "--vgdb-prefix=%s", r->path[VGDB]);
	argv[n++] = opt[0];
	argv[n++] = opt[1];
	if (o->suppressions) {
		snprintf(opt[2], 640, "--suppressions=%s", o->suppressions);
		argv[n++] = opt[2];
	}
	for (size_t i = 0; i < s; i++)
		argv[n++] = server[i];
	return argv;
}

/* Ready means: the readiness line (and its port, unless we chose it) and, with {port},
 * the port accepts a connection. */
static int wait_ready(struct run *r, bool chose_port)
{
	const struct lc_options *o = r->o;
	const char *re = o->ready ? o->ready : LC_READY_REGEX;
	unsigned port = 0;
	if (!chose_port || o->ready) {
		if (lc_wait_line(r->path[OUT], re, r->pid, o->timeout, chose_port ? NULL : &port, r->err,
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
	double deadline = lc_now() + o->timeout;
	for (;;) {
		int fd = lc_connect(r->port, 1), status;
		if (fd >= 0) {
			close(fd);
			r->rep->cycles++;
			return 0;
		}
		if (!lc_alive(r->pid, &status)) {
			char how[96];
			lc_status_str(status, how, sizeof how);
			r->pid = -1;
			return fail(r, "server exited before it accepted connections (%s)", how);
		}
		if (lc_now() >= deadline)
			return fail(r, "server did not accept connections on its port within the timeout%s", "");
		lc_sleep_ms(20);
	}
}

static int start_server(struct run *r)
{
	const struct lc_options *o = r->o;
	bool chose_port = has_port_placeholder(o->server_argv);
	char opt[3][640], **server = NULL, **argv = NULL;
	int rc = -1;
	if (!in_path(o->valgrind))
		return fail(r, "%s not found: install valgrind (apt-get install valgrind)", o->valgrind);
	if (chose_port && lc_free_port(&r->port) < 0)
		return fail(r, "no free loopback port: %s", strerror(errno));
	server = expand_args(o->server_argv, r->port);
	argv = server ? valgrind_argv(r, server, opt) : NULL;
	if (!argv) {
		fail(r, "%s", "out of memory");
		goto out;
	}
	r->pid = lc_spawn(argv, r->path[OUT], r->path[ERR], r->err, sizeof r->err);
	if (r->pid < 0) {
		fail(r, "%s", r->err);
		goto out;
	}
	rc = wait_ready(r, chose_port);
	if (rc < 0 && r->pid < 0) { /* it exited: valgrind's or the server's own words help most */
		char last[256];
		size_t len = strlen(r->rep->reason);
		lc_last_line(r->path[ERR], last, sizeof last);
		if (last[0])
			snprintf(r->rep->reason + len, sizeof r->rep->reason - len, ": %s", last);
	}
out:
	free(argv);
	free_args(server);
	return rc;
}

static void round_delta(struct lc_round *d, const struct lc_snapshot *prev, const struct lc_snapshot *cur)
{
	d->dblocks = (long)lc_snapshot_blocks(cur) - (long)lc_snapshot_blocks(prev);
	d->dbytes = (long)lc_snapshot_bytes(cur) - (long)lc_snapshot_bytes(prev);
	d->dfds = cur->fds - prev->fds;
}

static int measure(struct run *r)
{
	const struct lc_options *o = r->o;
	struct lc_report *rep = r->rep;
	struct lc_snapshot *prev = &rep->baseline, *cur = calloc(2, sizeof *cur);
	int rc = -1;
	if (!cur)
		return fail(r, "%s", "out of memory");
	if (drive(r, o->warmup, "warmup") < 0 || snapshot(r, prev) < 0)
		goto out;
	rep->fds_baseline = prev->fds;
	rep->per_round = o->cycles;
	for (unsigned i = 0; i < o->rounds; i++) {
		char phase[32];
		struct lc_snapshot *s = &cur[i % 2];
		snprintf(phase, sizeof phase, "round %u/%u", i + 1, o->rounds);
		if (close_probe(r) < 0 || drive(r, o->cycles - 1, phase) < 0 || snapshot(r, s) < 0)
			goto out;
		round_delta(&rep->rounds[rep->nrounds++], prev, s);
		prev = s;
	}
	memcpy(rep->sites, prev->sites, sizeof rep->sites);
	rep->nsites = prev->nsites;
	rc = close_probe(r);
out:
	if (o->progress)
		fputs("\r\033[K", stderr);
	free(cur);
	return rc;
}

/* SIGTERM, wait, read the XML. A server that does not exit in time gets SIGKILL: no report. */
static int finish(struct run *r)
{
	struct lc_report *rep = r->rep;
	int status;
	char how[96];
	kill(r->pid, SIGTERM);
	if (lc_wait(r->pid, r->o->timeout, &status) < 0) {
		lc_stop(r->pid, 0);
		r->pid = -1;
		char msg[128];
		snprintf(msg, sizeof msg, "no exit report: the server did not exit within %gs after SIGTERM (killed)",
			 r->o->timeout);
		return fail(r, "%s", msg);
	}
	r->pid = -1;
	lc_status_str(status, how, sizeof how);
	snprintf(rep->exit_status, sizeof rep->exit_status, "%s", how);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		return fail(r, "server crashed at shutdown (%s)", how);
	if (vg_report_parse_file(r->path[XML], &rep->exit, r->err, sizeof r->err) < 0)
		return fail(r, "no exit report: %s", r->err);
	rep->have_exit = true;
	return 0;
}

static int check_options(struct run *r)
{
	const struct lc_options *o = r->o;
	if (!o->server_argv || !o->server_argv[0])
		return fail(r, "%s", "no server command given");
	if (o->cycles < 1 || o->rounds < 1 || o->rounds > LC_MAX_ROUNDS)
		return fail(r, "%s", "--cycles must be >= 1 and --rounds between 1 and 100");
	if (o->concurrency < 1 || o->concurrency > 256)
		return fail(r, "%s", "--concurrency must be between 1 and 256");
	if (o->timeout <= 0)
		return fail(r, "%s", "--timeout must be > 0");
	return 0;
}

enum lc_verdict lc_run(const struct lc_options *o, struct lc_report *rep)
{
	struct run r = { .o = o, .rep = rep, .pid = -1, .probe = -1 };
	double t0 = lc_now();
	memset(rep, 0, sizeof *rep);
	if (check_options(&r) < 0)
		goto out;
	if (make_workdir(&r) < 0)
		goto out;
	if (start_server(&r) == 0 && measure(&r) == 0)
		finish(&r);
	if (r.probe >= 0)
		close(r.probe);
	if (r.pid > 0) /* an error left it running: no report, but no orphan either */
		lc_stop(r.pid, 1);
	if (!o->keep_dir)
		remove_workdir(&r);
	lc_judge(rep);
out:
	rep->seconds = lc_now() - t0;
	return rep->verdict;
}

void lc_report_free(struct lc_report *rep)
{
	vg_report_free(&rep->exit);
	rep->have_exit = false;
}

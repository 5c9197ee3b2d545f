/* The fault suite: leakcheck against servers that misbehave on purpose (tests/servers/misbehave.c),
 * a missing valgrind, vgdb that hangs or outlives its server, bad usage, and two runs at once.
 *
 * Every run must end in verdict 2 (exit status 2 for the CLI) with a reason that names the
 * problem, within a bound (the waits that must time out, plus MARGIN for valgrind's start-up
 * and shutdown), and leave nothing behind: no process with this run's tag or temp dir in its
 * command line (server, valgrind, vgdb), no unreaped child, no leakcheck-* temp dir. The
 * harness's temp dirs go to a private TMPDIR, so suites running in parallel do not interfere. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "drive/proc.h"
#include "drive/watchdog.h"
#include "support.h"

/* A run that must time out waits T (--timeout; --ready-timeout too when the fault is in the
 * readiness) and must end within T + MARGIN of the server's readiness: valgrind's start-up is
 * not counted, as on a loaded machine it alone took over 3 s. A run whose fault is not a
 * timeout gets PATIENT and must end within PROMPT: before any of its waits could time out. */
#define T 2.0
#define TS "2s"      /* T as the reason words it */
#define MARGIN 3.0   /* valgrind start-up (~0.5 s, more on a loaded CI box) and shutdown */
#define PATIENT 30.0
#define PROMPT 15.0

static char tmpdir[64];   /* private TMPDIR of this test */
static bool ready_in_t;   /* the fault is in the readiness: --ready-timeout T too */
static char tag[96];      /* marker in the current server's argv, to find it in /proc */

static void setup(void)
{
	test_tmpdir(tmpdir, sizeof tmpdir, "faults");
	setenv("TMPDIR", tmpdir, 1);
	/* Every run here must leave nothing behind, which is the default: CI's workflow sets
	 * LEAKCHECK_KEEP_FAILED=1 for make check, and every fault run would keep its work dir. */
	unsetenv("LEAKCHECK_KEEP_FAILED");
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (tmpdir[0] && system(cmd) != 0)
		cr_log_error("cannot remove %s", tmpdir);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 30);

/* ---- what a run may leave behind ---- */

/* Processes (other than us) whose command line contains needle; with comm, only that program. */
static int count_procs(const char *needle, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[4096], name[64] = "";
		int pid = atoi(e->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
		FILE *f = fopen(path, "r");
		size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		for (size_t i = 0; i < len; i++)
			buf[i] = buf[i] ? buf[i] : ' ';
		buf[len] = '\0';
		snprintf(path, sizeof path, "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (f && fgets(name, sizeof name, f))
			name[strcspn(name, "\n")] = '\0';
		if (f)
			fclose(f);
		if (strstr(buf, needle) && (!comm || strcmp(name, comm) == 0))
			n++;
	}
	closedir(d);
	return n;
}

static int count_workdirs(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, "leakcheck-", 10) == 0;
	if (d)
		closedir(d);
	return n;
}

static void assert_no_trace(const char *what)
{
	int status;
	if (tag[0])
		cr_assert_eq(count_procs(tag, NULL), 0, "%s: a server process (%s) survived the run", what, tag);
	cr_assert_eq(count_procs(tmpdir, "vgdb"), 0, "%s: a vgdb process survived the run", what);
	cr_assert_eq(count_procs(tmpdir, NULL), 0, "%s: a process of the run (valgrind?) survived", what);
	errno = 0;
	cr_assert(waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD, "%s: a child was not reaped", what);
	cr_assert_eq(count_workdirs(), 0, "%s: a leakcheck-* temp dir was left in %s", what, tmpdir);
}

/* ---- running the harness ---- */

/* argv of misbehave MODE [--after K] [{port}] --tag TAG; a fresh tag for each run. */
static char **misbehave(const char *mode, const char *after, const char *port)
{
	static char *argv[10];
	static unsigned runs;
	size_t n = 0;
	snprintf(tag, sizeof tag, "lcfault-%d-%u", (int)getpid(), runs++);
	argv[n++] = strdup(built("tests/misbehave"));
	argv[n++] = (char *)mode;
	if (after) {
		argv[n++] = "--after";
		argv[n++] = (char *)after;
	}
	if (port)
		argv[n++] = (char *)port;
	argv[n++] = "--tag";
	argv[n++] = tag;
	argv[n] = NULL;
	return argv;
}

static void small_run(struct lc_options *o, char **server)
{
	lc_options_init(o, LC_ENGINE_MEMCHECK);
	o->server_argv = server;
	o->cycles = 10;
	o->rounds = 2;
	o->warmup = 3;
	o->timeout = PATIENT;
}

/* lc_run within bound seconds, verdict 2, every substring in the reason, nothing left. */
static void expect_error(const char *what, struct lc_options *o, double bound, const char *const *subs)
{
	struct lc_report rep;
	double t0 = lc__now();
	enum lc_verdict v = lc_run(o, &rep);
	double took = lc__now() - t0;
	cr_assert_eq(v, LC_ERROR, "%s: verdict %d, reason: %s", what, v, rep.reason);
	cr_assert_eq(rep.verdict, LC_ERROR, "%s", what);
	cr_assert_lt(took - rep.at_ready, bound, "%s: took %.1fs (ready at %.1fs), bound %.1fs (%s)", what, took,
		     rep.at_ready, bound, rep.reason);
	for (; *subs; subs++)
		cr_assert(strstr(rep.reason, *subs), "%s: reason lacks '%s': %s", what, *subs, rep.reason);
	cr_assert_not(strchr(rep.reason, '\n'), "%s: reason is not one line: %s", what, rep.reason);
	lc_report_free(&rep);
	assert_no_trace(what);
}

#define EXPECT_ERROR(what, o, bound, ...) \
	expect_error(what, o, bound, (const char *const[]){ __VA_ARGS__, NULL })

/* The server in one misbehaving mode, default options but short; with timeout T if the fault
 * is one that must be waited out, and then within T + MARGIN, else within PROMPT. */
static void fault(const char *mode, const char *after, const char *port, double timeout, const char *const *subs)
{
	struct lc_options o;
	small_run(&o, misbehave(mode, after, port));
	o.timeout = timeout;
	if (ready_in_t)
		o.ready_timeout = T;
	expect_error(mode, &o, timeout == T ? T + MARGIN : PROMPT, subs);
}

#define FAULT(mode, after, port, ...) \
	fault(mode, after, port, PATIENT, (const char *const[]){ __VA_ARGS__, NULL })
#define TIMEOUT_FAULT(mode, after, port, ...) \
	fault(mode, after, port, T, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- the server misbehaves ---- */

/* The 8th connection: after the baseline (ready probe, 3 warmup, snapshot probe), mid-round. */
Test(faults, crash_mid_run)
{
	FAULT("crash", "8", NULL, "server died during the run", "signal 11", "Segmentation fault");
}

Test(faults, exits_early)
{
	FAULT("exit", "8", "{port}", "server died during the run", "exit status 3");
}

/* Dies while nobody talks to it: right after the baseline snapshot. */
Test(faults, crash_between_rounds)
{
	FAULT("idle", "5", NULL, "server died during the run", "signal 11");
}

/* A server that forks into the background: named, and its daemon stopped (no survivor). */
Test(faults, daemonizes)
{
	FAULT("daemon", NULL, NULL, "daemonized", "run it in the foreground");
}

Test(faults, never_answers)
{
	TIMEOUT_FAULT("hang", NULL, NULL, "server stopped answering", "waiting for the reply", "timed out");
}

/* Halted (SIGSTOP) mid-run: the reason says it is halted, not only that it stopped answering. */
Test(faults, halted_mid_run)
{
	TIMEOUT_FAULT("halt", "8", NULL, "server stopped answering", "is halted: state T");
}

Test(faults, never_becomes_ready)
{
	ready_in_t = true;
	TIMEOUT_FAULT("silent", NULL, NULL, "not ready within " TS, "listening on");
}

Test(faults, never_listens_on_its_port)
{
	ready_in_t = true;
	TIMEOUT_FAULT("silent", NULL, "{port}", "did not accept connections on its port");
}

/* A server slower to start than --timeout: --ready-timeout (60 s) is its bound, not --timeout;
 * and with --ready-timeout shorter than its start, it is not ready. */
Test(faults, slow_start_is_not_a_timeout)
{
	struct lc_options o;
	struct lc_report rep;
	small_run(&o, misbehave("slow", "3", NULL));
	o.timeout = 1;
	enum lc_verdict v = lc_run(&o, &rep);
	cr_assert_eq(v, LC_CLEAN, "slow start, --timeout 1: %s", rep.reason);
	cr_assert_geq(rep.at_ready, 3, "slow start: ready after %.1fs, it sleeps 3 s first", rep.at_ready);
	lc_report_free(&rep);
	assert_no_trace("slow start");
	small_run(&o, misbehave("slow", "3", NULL));
	o.ready_timeout = 1;
	EXPECT_ERROR("slow start, --ready-timeout 1", &o, PROMPT, "not ready within 1s");
}

Test(faults, garbage_instead_of_the_readiness_line)
{
	ready_in_t = true;
	TIMEOUT_FAULT("garbage", NULL, NULL, "not ready within " TS, "no line matching");
}

Test(faults, readiness_line_with_an_impossible_port)
{
	FAULT("badport", NULL, NULL, "no valid port");
}

Test(faults, closes_every_connection_at_once)
{
	struct lc_options o;
	struct lc_report rep;
	small_run(&o, misbehave("slam", NULL, "{port}"));
	double t0 = lc__now();
	cr_assert_eq(lc_run(&o, &rep), LC_ERROR, "slam: %s", rep.reason);
	cr_assert_lt(lc__now() - t0, PROMPT, "slam: %s", rep.reason);
	cr_assert(strstr(rep.reason, "waiting for the reply"), "slam: %s", rep.reason);
	/* unread request bytes make the close a reset; an early close is a plain EOF */
	cr_assert(strstr(rep.reason, "reset") || strstr(rep.reason, "closed the connection without replying"),
		  "slam: %s", rep.reason);
	assert_no_trace("slam");
}

Test(faults, answers_the_wrong_thing)
{
	FAULT("wrong", NULL, NULL, "did not answer as expected", "does not contain the expected text");
}

/* The whole run works, then SIGTERM is ignored: SIGKILL, and valgrind never writes its report. */
Test(faults, ignores_sigterm)
{
	struct lc_options o;
	struct lc_report rep;
	small_run(&o, misbehave("noterm", NULL, NULL));
	o.timeout = T;
	double t0 = lc__now();
	cr_assert_eq(lc_run(&o, &rep), LC_ERROR, "noterm: %s", rep.reason);
	double took = lc__now() - t0;
	cr_assert(strstr(rep.reason, "no exit report") && strstr(rep.reason, "within " TS " after SIGTERM") &&
		  strstr(rep.reason, "killed"),
		  "noterm: %s", rep.reason);
	cr_assert_eq(lc_report_primary(&rep)->nrounds, 2, "noterm: every round measured before the stop");
	cr_assert_not(rep.have_exit, "noterm");
	took -= rep.at_measured; /* from the end of the rounds: the SIGTERM, the waits, the SIGKILL */
	cr_assert_lt(took, T + MARGIN + 1, "noterm: took %.1fs after the rounds", took);
	cr_assert_geq(took, T, "noterm: %.1fs, less than the wait after SIGTERM it must make", took);
	lc_report_free(&rep);
	assert_no_trace("noterm");
}

/* {port} was free when the harness chose it, but the server cannot bind it. */
Test(faults, port_in_use)
{
	FAULT("inuse", NULL, "{port}", "server exited before it accepted connections", "exit status 2",
	      "Address already in use");
}

/* A fixed PORT that another process holds: no readiness line ever comes. */
Test(faults, port_held_by_another_process)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	char port[16];
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
	FAULT("echo", NULL, port, "server exited before it was ready", "Address already in use");
	close(fd);
}

Test(faults, missing_server_binary)
{
	struct lc_options o;
	char **argv = misbehave("echo", NULL, NULL);
	argv[0] = "/nonexistent/server";
	small_run(&o, argv);
	EXPECT_ERROR("no server binary", &o, PROMPT, "server exited before it was ready", "/nonexistent/server",
		     "No such file");
}

Test(faults, missing_valgrind)
{
	struct lc_options o;
	small_run(&o, misbehave("echo", NULL, NULL));
	o.valgrind = "/nonexistent/valgrind";
	EXPECT_ERROR("no valgrind", &o, 1, "/nonexistent/valgrind not found", "install valgrind");
}

/* valgrind refuses a setuid program ("can't execute setuid/setgid/setcap executable"): the run
 * ended in "exit status 126 ... Permission denied" with valgrind's reason unshown; now the check
 * says it before anything starts. */
Test(faults, setuid_server_refused_with_valgrinds_reason)
{
	struct lc_options o;
	char **argv = misbehave("echo", NULL, NULL), copy[400];
	snprintf(copy, sizeof copy, "%s/lc-setuid-%d", tmpdir, (int)getpid());
	char cmd[900];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod u+s '%s'", argv[0], copy, copy);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	argv[0] = copy;
	small_run(&o, argv);
	EXPECT_ERROR("setuid", &o, PROMPT, "is setuid: valgrind cannot run it", "chmod u-s", "--native");
	unlink(copy);
}

/* valgrind keeps fds of its own: a server that sets RLIMIT_NOFILE to a value of its own fails
 * under it (vsftpd: "500 OOPS: setrlimit NOFILE"). The reason names valgrind as the cause and
 * the way out; natively the same server runs and is clean. */
Test(faults, setrlimit_refused_by_valgrind_is_named)
{
	struct lc_options o;
	small_run(&o, misbehave("rlimit", NULL, NULL));
	EXPECT_ERROR("rlimit", &o, PROMPT, "setrlimit NOFILE", "valgrind keeps fds of its own", "prlimit --nofile=N",
		     "--native");
	struct lc_report rep;
	small_run(&o, misbehave("rlimit", NULL, NULL));
	o.engine = LC_ENGINE_NATIVE;
	cr_expect_eq(lc_run(&o, &rep), LC_CLEAN, "rlimit natively: %s", rep.reason);
	lc_report_free(&rep);
}

/* A server that never reads a request, reset connections, no reply to wait for: each reset
 * waited --timeout for the server to read (5 s here, 23 connections: two minutes); now a
 * quarter second for the first three, then none, and the report counts them. */
Test(faults, resets_of_requests_never_read_are_bounded)
{
	struct lc_options o;
	struct lc_report rep;
	small_run(&o, misbehave("hang", NULL, NULL));
	o.close = LC_CLOSE_RESET;
	o.expect[0] = '\0';
	o.expect_len = 0;
	o.timeout = 5;
	double t0 = lc__now();
	enum lc_verdict v = lc_run(&o, &rep);
	double took = lc__now() - t0 - rep.at_ready;
	cr_expect_eq(v, LC_CLEAN, "hang, resets: %s", rep.reason);
	cr_expect_eq(rep.resets_unread, LC_RESET_UNREAD, "%u resets waited out", rep.resets_unread);
	cr_expect_lt(took, 15, "resets of unread requests took %.1fs after ready", took);
	lc_report_free(&rep);
	assert_no_trace("hang, resets");
}

Test(faults, bad_ready_regex)
{
	struct lc_options o;
	small_run(&o, misbehave("echo", NULL, NULL));
	o.ready = "listening on (";
	EXPECT_ERROR("bad regex", &o, PROMPT, "bad --ready regex");
}

/* ---- vgdb misbehaves: a fake vgdb first in PATH ---- */

static void fake_vgdb(const char *script)
{
	char dir[128], path[160], newpath[4096];
	snprintf(dir, sizeof dir, "%s/bin", tmpdir);
	snprintf(path, sizeof path, "%s/vgdb", dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", script);
	fclose(f);
	cr_assert_eq(chmod(path, 0755), 0);
	snprintf(newpath, sizeof newpath, "%s:%s", dir, getenv("PATH"));
	setenv("PATH", newpath, 1);
}

/* A vgdb that never answers (the server cannot be reached): the snapshot's own timeout. */
Test(faults, vgdb_never_answers)
{
	struct lc_options o;
	fake_vgdb("while :; do sleep 0.05; done");
	small_run(&o, misbehave("echo", NULL, NULL));
	o.timeout = T;
	EXPECT_ERROR("vgdb hangs", &o, T + MARGIN, "vgdb got no answer from the server within " TS);
}

/* The server dies while vgdb talks to it: say so, not just that vgdb failed. */
Test(faults, server_dies_during_snapshot)
{
	struct lc_options o;
	fake_vgdb("for a; do case $a in --pid=*) kill -SEGV ${a#--pid=};; esac; done\n"
		  "sleep 0.5; echo 'vgdb: no connection' >&2; exit 1");
	small_run(&o, misbehave("echo", NULL, NULL));
	EXPECT_ERROR("dies in snapshot", &o, PROMPT, "server died during the run", "signal 11",
		     "while taking a heap snapshot");
}

/* ---- the CLI ---- */

struct cli {
	int status;
	const char *out, *err;   /* owned: malloc'd contents of its stdout and stderr */
	double took;
};

/* build/harness/leakcheck ARGS within bound seconds. */
static struct cli run_cli(const char *const *args, double bound)
{
	char *argv[32], out[128], err[128], why[256];
	struct cli c = { 0 };
	size_t n = 0;
	static unsigned calls;
	argv[n++] = strdup(built("harness/leakcheck"));
	while (*args && n < 31)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	snprintf(out, sizeof out, "%s/cli%u.out", tmpdir, calls);
	snprintf(err, sizeof err, "%s/cli%u.err", tmpdir, calls++);
	double t0 = lc__now();
	pid_t pid = lc__spawn(argv, out, err, why, sizeof why);
	cr_assert_gt(pid, 0, "%s", why);
	if (lc__wait(pid, bound, &c.status) < 0) {
		lc__stop(pid, 1);
		cr_assert_fail("leakcheck %s did not finish within %.0fs", argv[1], bound);
	}
	c.took = lc__now() - t0;
	c.out = slurp_text(NULL, out);
	c.err = slurp_text(NULL, err);
	free(argv[0]);
	return c;
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Usage errors: exit 2 at once, nothing on stdout, one line on stderr naming the problem. */
Test(faults, cli_bad_usage)
{
	static const struct {
		const char *args[6];
		const char *says;
	} bad[] = {
		{ { "--bogus", "--", "x" }, "--bogus" },
		{ { "--cycles", "0", "--", "x" }, "bad value for --cycles: 0" },
		{ { "--close", "bogus", "--", "x" }, "bad value for --close: bogus" },
		{ { "--timeout", "-1", "--", "x" }, "bad value for --timeout: -1" },
		{ { "--timeout", "soon", "--", "x" }, "bad value for --timeout: soon" },
		{ { "--ready-timeout", "0", "--", "x" }, "bad value for --ready-timeout: 0" },
		{ { "--concurrency", "0", "--", "x" }, "bad value for --concurrency" },
		{ { "--send", "\\q", "--", "x" }, "bad value for --send" },
		{ { "--suppressions", "/nonexistent.supp", "--", "x" }, "bad value for --suppressions" },
		{ { "--cycles" }, "missing value" },
		{ { "--keep", "--json", "out.json", "--", "x" }, "missing value for --keep (the next word is an option): --json" },
		{ { "--json", "--native", "--", "x" }, "missing value for --json" },
		{ { "--" }, "no server command" },
		{ { NULL }, "no server command" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cli c = run_cli(bad[i].args, 5);
		cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 2, "case %zu (%s): status 0x%x", i,
			  bad[i].says, c.status);
		cr_assert_str_empty(c.out, "case %zu: stdout: %s", i, c.out);
		cr_assert_eq(lines(c.err), 1, "case %zu: stderr is not one line: %s", i, c.err);
		cr_assert(strncmp(c.err, "leakcheck: ", 11) == 0 && strstr(c.err, bad[i].says),
			  "case %zu: stderr lacks '%s': %s", i, bad[i].says, c.err);
		cr_assert_lt(c.took, 1, "case %zu: a usage error took %.1fs", i, c.took);
	}
	assert_no_trace("bad usage");
}

/* The verdict line of a CLI run that could not judge: exit 2, last stdout line. */
static void expect_cli_error(const char *what, const char *const *args, double bound, const char *says)
{
	struct cli c = run_cli(args, bound + 5);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 2, "%s: status 0x%x\n%s%s", what, c.status, c.out,
		  c.err);
	cr_assert_lt(c.took, bound, "%s: took %.1fs", what, c.took);
	cr_assert(strstr(c.out, "verdict: error: ") && strstr(c.out, says), "%s: stdout lacks '%s':\n%s", what, says,
		  c.out);
	cr_assert_eq(lines(c.out), 1, "%s: -q prints one line:\n%s", what, c.out);
	assert_no_trace(what);
}

Test(faults, cli_missing_valgrind)
{
	char **m = misbehave("echo", NULL, NULL);
	const char *args[] = { "-q", "--valgrind", "/nonexistent/valgrind", "--", m[0], m[1], m[2], m[3], NULL };
	expect_cli_error("cli no valgrind", args, 1, "/nonexistent/valgrind not found: install valgrind");
}

Test(faults, cli_crash)
{
	char **m = misbehave("crash", "6", NULL);
	const char *args[] = { "-q", "--timeout", "30", "--warmup", "3", "--cycles", "10", "--rounds", "2", "--",
			       m[0], m[1], m[2], m[3], m[4], m[5], NULL };
	expect_cli_error("cli crash", args, PROMPT, "server died during the run (killed by signal 11");
}

/* Two runs at once on the echo server: each its own port and temp dir, both clean. */
Test(faults, two_runs_at_once_do_not_collide)
{
	char out[2][128], json[2][128], why[256], *echo = strdup(built("runtime/echo"));
	char *lc = strdup(built("harness/leakcheck"));
	pid_t pid[2];
	int status[2] = { 0 }, most = 0;
	for (int i = 0; i < 2; i++) {
		snprintf(out[i], sizeof out[i], "%s/run%d.out", tmpdir, i);
		snprintf(json[i], sizeof json[i], "%s/run%d.json", tmpdir, i);
		char *argv[] = { lc, "-q", "--json", json[i], "--cycles", "50", "--rounds", "2", "--warmup", "5",
				 "--timeout", "10", "--", echo, "{port}", NULL };
		pid[i] = lc__spawn(argv, out[i], out[i], why, sizeof why);
		cr_assert_gt(pid[i], 0, "%s", why);
	}
	/* while both run, their temp dirs are two, in our TMPDIR */
	bool running[2] = { true, true };
	double deadline = lc__now() + 20;
	while ((running[0] || running[1]) && lc__now() < deadline) {
		int n = count_workdirs();
		most = n > most ? n : most;
		for (int i = 0; i < 2; i++)
			running[i] = running[i] && lc__alive(pid[i], &status[i]); /* reaps once, keeps the status */
		lc__sleep_ms(10);
	}
	for (int i = 0; i < 2; i++) {
		if (running[i]) {
			lc__stop(pid[i], 1);
			cr_assert_fail("run %d did not finish in 20s", i);
		}
		cr_assert(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0, "run %d: status 0x%x:\n%s", i, status[i],
			  slurp_text(NULL, out[i]));
		cr_assert(strstr(slurp_text(NULL, json[i]), "\"verdict\": \"clean\""), "run %d:\n%s", i, slurp_text(NULL, json[i]));
	}
	cr_assert_eq(most, 2, "saw at most %d leakcheck-* temp dirs in %s at once, want 2", most, tmpdir);
	assert_no_trace("two runs");
}

/* ---- the harness killed: nothing of its run may outlive it ---- */

/* leakcheck killed with SIGKILL at random moments (start-up, warmup, rounds, snapshots, exit),
 * four runs at a time: 2 s later no process of any run is left (prefork: a parent and a
 * worker, under valgrind or natively; the worker has no PR_SET_PDEATHSIG of its own), nor a
 * work dir. The
 * moments come from a seed printed on failure. */
Test(faults, killed_harness_leaves_nothing, .timeout = 120)
{
	unsigned seed = (unsigned)getpid();
	srand(seed);
	for (int batch = 0; batch < 5; batch++) {
		pid_t pid[4];
		double at[4], t0 = lc__now();
		char tags[4][64], why[256];
		for (int i = 0; i < 4; i++) {
			snprintf(tags[i], sizeof tags[i], "lckilled-%u-%d-%d", seed, batch, i);
			/* one run in four natively: its server is not valgrind's, nor named by its work dir */
			char *argv[] = { strdup(built("harness/leakcheck")), i == 3 ? "--native" : "-q", "--",
					 strdup(built("tests/shapes")), "prefork", "--tag", tags[i], NULL };
			pid[i] = lc__spawn(argv, NULL, NULL, why, sizeof why);
			cr_assert_gt(pid[i], 0, "%s", why);
			at[i] = 0.05 + 3.0 * rand() / RAND_MAX;
			free(argv[0]);
			free(argv[3]);
		}
		for (int done = 0; done < 4;) {
			lc__sleep_ms(10);
			for (int i = 0; i < 4; i++)
				if (pid[i] > 0 && lc__now() - t0 >= at[i]) {
					kill(pid[i], SIGKILL);
					lc__wait(pid[i], 5, NULL);
					pid[i] = -1;
					done++;
				}
		}
		lc__sleep_ms(2000);
		for (int i = 0; i < 4; i++)
			cr_assert_eq(count_procs(tags[i], NULL), 0, "seed %u: a process of a run killed after %.2fs is "
				     "left 2 s later (%s)", seed, at[i], tags[i]);
		/* the work dirs go after the processes: the watchdog removes them last, and a loaded
		 * machine (make check's) may take it more than the 2 s */
		for (int t = 0; t < 100 && count_workdirs(); t++)
			lc__sleep_ms(100);
		if (count_workdirs()) { /* what is left, and when its run was killed */
			char cmd[256];
			snprintf(cmd, sizeof cmd, "ls -la --time-style=+%%T.%%N %s/leakcheck-* >&2", tmpdir);
			for (int i = 0; i < 4; i++)
				fprintf(stderr, "run %d killed after %.2fs\n", i, at[i]);
			cr_expect_eq(system(cmd), 0);
		}
		cr_assert_eq(count_workdirs(), 0, "seed %u: a killed run's work dir is left in %s 12 s later", seed, tmpdir);
	}
}

/* A work dir whose owner is gone (a run killed together with its watchdog) is removed by the
 * next run, FIFOs and all; one whose owner still runs, or that has no owner, is left alone. */
Test(faults, next_run_sweeps_dead_runs_work_dirs)
{
	char dead[128], reused[128], live[128], bare[128], path[200];
	snprintf(dead, sizeof dead, "%s/leakcheck-deadrun", tmpdir);
	snprintf(reused, sizeof reused, "%s/leakcheck-reusedpid", tmpdir);
	snprintf(live, sizeof live, "%s/leakcheck-liverun", tmpdir);
	snprintf(bare, sizeof bare, "%s/leakcheck-noowner", tmpdir);
	const char *dirs[] = { dead, reused, live, bare };
	for (int i = 0; i < 4; i++)
		cr_assert_eq(mkdir(dirs[i], 0700), 0);
	snprintf(path, sizeof path, "%s/owner", dead);
	FILE *f = fopen(path, "w");
	fprintf(f, "%d 1\n", 999999); /* no such process */
	fclose(f);
	snprintf(path, sizeof path, "%s/vgdb-from-vgdb-to-1-by-x-on-y", dead); /* a killed valgrind's FIFO */
	cr_assert_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof path, "%s/owner", reused);
	f = fopen(path, "w");
	fprintf(f, "%d 0\n", (int)getpid()); /* alive, but another start time: the pid was reused */
	fclose(f);
	lc__workdir_claim(live); /* us */
	struct lc_options o;
	struct lc_report *rep = lc_report_new();
	char *argv[] = { strdup(built("tests/misbehave")), "echo", NULL };
	lc_options_init(&o, LC_ENGINE_NATIVE);
	o.server_argv = argv;
	o.cycles = 20;
	lc_run(&o, rep);
	cr_expect_eq(rep->verdict, LC_CLEAN, "%s", rep->reason);
	cr_expect_neq(access(dead, F_OK), 0, "the dead run's work dir is still there");
	cr_expect_neq(access(reused, F_OK), 0, "a reused pid (another start time) is a dead run too");
	cr_expect_eq(access(live, F_OK), 0, "a live run's work dir was removed");
	cr_expect_eq(access(bare, F_OK), 0, "a work dir without an owner was removed");
	lc__remove_tree(live);
	lc__remove_tree(bare);
	lc_report_delete(rep);
	free(argv[0]);
}

/* The tests' own dirs: a runner killed outright (SIGKILL at a CI timeout) never removes its
 * /tmp/lc-test-RUNNER-* dirs; the next runner's start does, and leaves a live runner's alone. */
Test(faults, dead_runners_test_dirs_are_swept)
{
	char dead[128], live[128], file[160];
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0)
		_exit(0);
	cr_assert_eq(waitpid(child, NULL, 0), child); /* its pid now names no process */
	snprintf(dead, sizeof dead, "/tmp/lc-test-%d-sweep-XXXXXX", (int)child);
	snprintf(live, sizeof live, "/tmp/lc-test-%d-sweep-XXXXXX", (int)getpid());
	cr_assert_not_null(mkdtemp(dead));
	cr_assert_not_null(mkdtemp(live));
	snprintf(file, sizeof file, "%s/server.out", dead);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	test_tmpdir_sweep();
	cr_expect_neq(access(dead, F_OK), 0, "a dead runner's dir %s is still there", dead);
	cr_expect_eq(access(live, F_OK), 0, "a live runner's dir %s was removed", live);
	lc__remove_tree(dead);
	lc__remove_tree(live);
}

/* SIGTERM while the harness waits for its server to be ready: it stops the server, removes its
 * work dir and exits at once, whatever it waits for (the readiness line, or a connection on
 * the port it chose: every connect fails at once once a signal came, and that wait kept
 * trying until --ready-timeout, 60 s; seen on beanstalkd when a test runner was stopped). */
Test(faults, sigterm_while_waiting_for_the_server, .timeout = 60)
{
	const char *ports[] = { "{port}", NULL };
	for (int i = 0; i < 2; i++) {
		char **m = misbehave("silent", NULL, ports[i]);
		char *argv[16], out[200], err[200], why[256];
		size_t n = 0;
		argv[n++] = strdup(built("harness/leakcheck"));
		argv[n++] = "-q";
		argv[n++] = "--";
		for (size_t k = 0; m[k]; k++)
			argv[n++] = m[k];
		argv[n] = NULL;
		snprintf(out, sizeof out, "%s/term%d.out", tmpdir, i);
		snprintf(err, sizeof err, "%s/term%d.err", tmpdir, i);
		pid_t pid = lc__spawn(argv, out, err, why, sizeof why);
		cr_assert_gt(pid, 0, "%s", why);
		lc__sleep_ms(1500); /* valgrind has started the server, which never gets ready */
		kill(pid, SIGTERM);
		double t0 = lc__now();
		int status;
		bool ended = lc__wait(pid, 10, &status) == 0;
		double took = lc__now() - t0;
		if (!ended)
			lc__stop(pid, 1);
		free(argv[0]);
		char *said = slurp_text(NULL, out), *said_err = slurp_text(NULL, err);
		cr_assert(ended, "%s: leakcheck still waits 10 s after SIGTERM", ports[i] ? ports[i] : "readiness line");
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status 0x%x", status);
		cr_expect(strstr(said, "interrupted by a signal"), "%s: said %s%s", ports[i] ? ports[i] : "line", said, said_err);
		cr_expect_lt(took, 5, "%s: %.1fs from SIGTERM to its exit", ports[i] ? ports[i] : "line", took);
		free(said);
		free(said_err);
		lc__sleep_ms(500);
		cr_assert_eq(count_procs(tag, NULL), 0, "a server process (%s) survived the run", tag);
		cr_assert_eq(count_workdirs(), 0, "a work dir is left");
	}
}

/* A process with one thread when its relay came is woken with ptrace (vgdb's invoker); one
 * that starts a thread later (a pool made on first use) must not be ptraced from then on
 * (valgrind/FACTS.md): its relay is opened again, without ptrace, and the halts of an idle
 * server with every thread asleep in a system call then need wake connections. blocked_calls
 * --late-thread 15: one thread until its 15th connection (the probe and the 5 warm-up ones
 * come first, then the baseline snapshot opens the relay), then two. Before the relay was
 * reopened, the run made no wake connection at all: every halt after the 15th connection was
 * a ptrace. A process with the ticker (liblcwake.so) has two threads from the start and needs
 * neither: this is the path of a process without it, so the ticker is not found here. */
Test(faults, thread_started_later_is_not_ptraced, .timeout = 90)
{
	char json[128];
	setenv("LEAKCHECK_PRELOAD", "/nonexistent/liblcalloc.so", 1); /* no liblcwake.so beside it */
	snprintf(json, sizeof json, "%s/late.json", tmpdir);
	char *bin = strdup(built("tests/blocked_calls"));
	const char *args[] = { "-q", "--json", json, "--cycles", "30", "--rounds", "2", "--warmup", "5", "--",
			       bin, "{port}", "--late-thread", "15", NULL };
	struct cli c = run_cli(args, 60);
	free(bin);
	const char *text = slurp_text(NULL, json), *w = strstr(text, "\"wake_connections\": ");
	unsigned wakes = 0;
	cr_assert(w && sscanf(w, "\"wake_connections\": %u", &wakes) == 1, "no wake_connections in %s", json);
	cr_expect_eq(WEXITSTATUS(c.status), 0, "verdict: %s%s", c.out, c.err);
	cr_assert_gt(wakes, 0, "the late thread's halts were ptraced: no wake connection (%s)", c.out);
	free((char *)text);
	free((char *)c.out);
	free((char *)c.err);
}

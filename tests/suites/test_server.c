/* The runtime's server as a real child process on 127.0.0.1: protocol, bad input, shutdown. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "valgrind/relay.h"
#include "valgrind/vgdb.h"
#include "support.h"

static struct served srv;

static void start_echo(void) { served_start(&srv, "runtime/echo", false); }
static void stop_echo(void)
{
	if (srv.pid > 0)
		served_stop(&srv, 5);
	served_cleanup(&srv);
}

/* Send text and read until the expected reply; returns the reply in a static buffer. */
static const char *ask(int fd, const char *text, size_t len, const char *expect)
{
	static char buf[8192];
	cr_assert_eq(lc__send_all(fd, text, len, 5), 0, "send: %s", strerror(errno));
	long n = lc__recv_until(fd, buf, sizeof buf - 1, expect, strlen(expect), 5);
	cr_assert_geq(n, 0, "no reply to %.20s: %s", text, strerror(errno));
	buf[n] = '\0';
	return buf;
}

static int conn(void)
{
	int fd = lc__connect(srv.port, 5);
	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	return fd;
}

TestSuite(server, .init = start_echo, .fini = stop_echo, .timeout = 30);

Test(server, echoes_lines)
{
	int fd = conn();
	cr_assert_str_eq(ask(fd, "hello\n", 6, "hello\n"), "hello\n");
	cr_assert_str_eq(ask(fd, "a\r\nb\n", 5, "b\n"), "a\nb\n", "CR stripped, lines in order");
	close(fd);
}

Test(server, quit_closes_the_connection)
{
	int fd = conn();
	cr_assert_eq(lc__send_all(fd, "QUIT\n", 5, 5), 0);
	cr_assert_eq(lc__wait_eof(fd, 5), 0, "server must close after QUIT");
	close(fd);
}

Test(server, stats_counts_open_connections)
{
	int a = conn(), b = conn();
	ask(a, "x\n", 2, "x\n"); /* both accepted before STATS */
	ask(b, "x\n", 2, "x\n");
	cr_assert_str_eq(ask(a, "STATS\n", 6, "\n"), "STATS open=2 objects=0\n");
	close(b);
	lc__sleep_ms(50);
	cr_assert_str_eq(ask(a, "STATS\n", 6, "\n"), "STATS open=1 objects=0\n");
	close(a);
}

Test(server, long_line_is_refused_then_recovers)
{
	int fd = conn();
	static char big[5000];
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\n';
	cr_assert_str_eq(ask(fd, big, sizeof big, "ERR line too long\n"), "ERR line too long\n");
	cr_assert_str_eq(ask(fd, "ok\n", 3, "ok\n"), "ok\n", "the rest of the long line is discarded");
	close(fd);
}

Test(server, nul_bytes_are_echoed)
{
	int fd = conn();
	const char *r = ask(fd, "a\0b\n", 4, "b\n");
	cr_assert_eq(memcmp(r, "a\0b\n", 4), 0);
	close(fd);
}

Test(server, survives_partial_lines_resets_and_many_clients)
{
	enum { N = 300 };
	static int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = conn();
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			lc__send_all(fds[i], "no newline", 10, 5);
			close(fds[i]);
		} else if (i % 3 == 1) {
			lc__close_reset(fds[i]);
		} else {
			ask(fds[i], "x\n", 2, "x\n");
			close(fds[i]);
		}
	}
	int fd = conn();
	cr_assert_str_eq(ask(fd, "STATS\n", 6, "\n"), "STATS open=1 objects=0\n");
	close(fd);
}

Test(server, sigterm_exits_zero_with_clients_connected)
{
	int fd = conn();
	ask(fd, "x\n", 2, "x\n");
	int status = served_stop(&srv, 5);
	srv.pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	cr_assert_eq(lc__wait_eof(fd, 5), 0, "shutdown must close live connections");
	close(fd);
}

Test(server, sigint_shuts_down_like_sigterm)
{
	int fd = conn(), status;
	ask(fd, "x\n", 2, "x\n");
	kill(srv.pid, SIGINT);
	cr_assert_eq(lc__wait(srv.pid, 5, &status), 0, "SIGINT must stop the server");
	srv.pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	cr_assert_eq(lc__wait_eof(fd, 5), 0, "shutdown must close live connections");
	close(fd);
}

Test(server_usage, bad_port_is_a_clear_error, .timeout = 10)
{
	char dir[128], err[256], path[200];
	test_tmpdir(dir, sizeof dir, "usage");
	snprintf(path, sizeof path, "%s/err", dir);
	char *argv[] = { (char *)built("runtime/echo"), "99999", NULL };
	pid_t pid = lc__spawn(argv, NULL, path, err, sizeof err);
	cr_assert_gt(pid, 0, "%s", err);
	int status;
	cr_assert_eq(lc__wait(pid, 5, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	cr_assert(strstr(slurp_text(dir, "err"), "usage:"), "got: %s", slurp_text(dir, "err"));
	unlink(path);
	rmdir(dir);
}

/* Issue #2's bar: 500 mixed cycles (client close, QUIT, reset), SIGTERM, all heap freed. */
Test(server_valgrind, mixed_cycles_then_all_heap_freed, .timeout = 120)
{
#ifdef LC_SANITIZE
	cr_skip_test("echo is built with ASan (LC_SANITIZE), which cannot run under valgrind");
#endif
	struct served vs;
	served_start(&vs, "runtime/echo", true);
	srv = vs;
	for (int i = 0; i < 500; i++) {
		int fd = conn();
		ask(fd, "ping\n", 5, "ping\n");
		if (i % 3 == 0) {
			close(fd);
		} else if (i % 3 == 1) {
			lc__send_all(fd, "QUIT\n", 5, 5);
			cr_assert_eq(lc__wait_eof(fd, 5), 0);
			close(fd);
		} else {
			lc__close_reset(fd);
		}
	}
	int status = served_stop(&vs, 20);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	const char *log = slurp_text(vs.dir, "valgrind.log");
	cr_assert(strstr(log, "All heap blocks were freed -- no leaks are possible"), "valgrind said:\n%s", log);
	cr_assert(strstr(log, "ERROR SUMMARY: 0 errors"), "valgrind said:\n%s", log);
	served_cleanup(&vs);
}

/* BIN (built(), argument "0") under valgrind with vgdb on, its FIFOs at DIR/vgdb (prefix) in
 * a fresh dir; *port gets its port when port is not NULL. */
static pid_t serve_bin_with_vgdb(const char *rel, char *dir, size_t dirlen, char *prefix, size_t len, unsigned *port)
{
	char opt[200], err[256];
	unsigned p;
	test_tmpdir(dir, dirlen, "vgdb");
	snprintf(prefix, len, "%s/vgdb", dir);
	snprintf(opt, sizeof opt, "--vgdb-prefix=%s", prefix);
	char *bin = strdup(built(rel));
	char *vg[] = { "valgrind", "-q", "--vgdb=yes", "--vgdb-poll=50", opt, bin, "0", NULL };
	pid_t pid = lc__serve(vg, dir, 20, port ? port : &p, err, sizeof err);
	free(bin);
	cr_assert_gt(pid, 0, "%s", err);
	return pid;
}

/* echo under valgrind with vgdb on, its FIFOs at DIR/vgdb (prefix) in a fresh dir. */
static pid_t serve_with_vgdb(char *dir, size_t dirlen, char *prefix, size_t len)
{
	return serve_bin_with_vgdb("runtime/echo", dir, dirlen, prefix, len, NULL);
}

static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* The relay's interrupt right after its resume, with no gap: gdbserver may read the "c" and
 * the 0x03 in one chunk and never act on the 0x03 (on a loaded machine the 5 ms gap does not
 * prevent that either). Every interrupt must still be answered, well within its timeout. */
Test(server_valgrind, relay_interrupt_right_after_resume, .timeout = 120)
{
#ifdef LC_SANITIZE
	cr_skip_test("echo is built with ASan (LC_SANITIZE), which cannot run under valgrind");
#endif
	char dir[128], prefix[160], err[256];
	pid_t pid = serve_with_vgdb(dir, sizeof dir, prefix, sizeof prefix);
	struct lc_relay r;
	cr_assert_eq(lc__relay_open(&r, "vgdb", prefix, pid, NULL, 10, err, sizeof err), 0, "%s", err);
	unsigned failed = 0, rounds = 10;
	double worst = 0;
	for (unsigned i = 0; i < rounds && !failed; i++) {
		cr_assert_eq(lc__relay_resume(&r, err, sizeof err), 0, "%s", err);
		r.resumed_at = -1e9; /* no gap */
		double t0 = lc__now();
		failed += lc__relay_interrupt(&r, 3.0, err, sizeof err) < 0;
		worst = lc__now() - t0 > worst ? lc__now() - t0 : worst;
	}
	cr_log_info("%u interrupts, %u sent again, slowest answered in %.3fs", rounds, r.resends, worst);
	lc__relay_close(&r);
	lc__stop(pid, 10);
	remove_dir(dir);
	cr_assert_eq(failed, 0, "an interrupt right after a resume went unanswered for 3 s: %s", err);
	cr_assert_lt(worst, 1.5, "an interrupt took %.3fs", worst);
}

/* A server that is gone, its vgdb FIFOs left behind (valgrind killed: a zombie not yet
 * reaped): vgdb would wait for it for ever, so a vgdb command and a relay end at once with
 * "the server exited", not at their timeout (a daemonizing server's first process, a
 * zombie, would hold a 30 s --timeout to its end). */
Test(server_valgrind, vgdb_to_an_exited_server_ends_at_once, .timeout = 60)
{
#ifdef LC_SANITIZE
	cr_skip_test("echo is built with ASan (LC_SANITIZE), which cannot run under valgrind");
#endif
	char dir[128], prefix[160], err[256], out[200];
	pid_t pid = serve_with_vgdb(dir, sizeof dir, prefix, sizeof prefix);
	snprintf(out, sizeof out, "%s/vgdb.out", dir);
	kill(pid, SIGKILL); /* no clean-up: the FIFOs stay; not reaped yet: a zombie */
	for (int i = 0; i < 100 && !lc__gone(pid); i++)
		lc__sleep_ms(10);
	cr_assert(lc__gone(pid), "the killed server is still running");
	char *text = NULL;
	double t0 = lc__now();
	int rc = lc__vgdb_command("vgdb", "leak_check summary", prefix, pid, out, 20, NULL, &text, err, sizeof err);
	double took = lc__now() - t0;
	free(text);
	cr_expect_eq(rc, -1, "vgdb answered for a dead server");
	cr_expect(strstr(err, "the server exited"), "vgdb command: %s", err);
	cr_expect_lt(took, 3, "the vgdb command to a dead server took %.1fs (its timeout: 20 s)", took);
	struct lc_relay r;
	t0 = lc__now();
	rc = lc__relay_open(&r, "vgdb", prefix, pid, NULL, 20, err, sizeof err);
	took = lc__now() - t0;
	if (rc == 0)
		lc__relay_close(&r);
	cr_expect_eq(rc, -1, "a relay opened to a dead server");
	cr_expect(strstr(err, "the server exited"), "relay: %s", err);
	cr_expect_lt(took, 3, "the relay to a dead server took %.1fs (its timeout: 20 s)", took);
	int status;
	waitpid(pid, &status, 0);
	remove_dir(dir);
}

/* Wakes a server with all its threads asleep: a connection, as the harness does. */
static void connect_to(void *arg)
{
	int fd = lc__connect(*(unsigned *)arg, 1.0);
	if (fd >= 0)
		close(fd);
}

/* Halting a multi-threaded server must never change what its blocked system calls return.
 * gdbserver, told "c", re-stored the registers of the process's first thread; when that
 * thread's epoll_wait returned in between, its result became the call's number (232), and
 * memcached aborted in libevent. tests/servers/blocked_calls.c checks every result its main thread
 * gets while a feeder process ends its calls at random moments; before the relay resumed from
 * the stopped thread ("Hc"), it died after 25, 118 and 311 halts ("BAD epoll_wait returned
 * 232"). HALTS halts (1500), or 25 s, whichever comes first. */
Test(server_valgrind, relay_halts_leave_blocked_calls_alone, .timeout = 120)
{
#ifdef LC_SANITIZE
	cr_skip_test("blocked_calls is built with ASan (LC_SANITIZE), which cannot run under valgrind");
#endif
	char dir[128], prefix[160], err[256], errpath[200];
	unsigned port = 0, halts = 0, want = getenv("HALTS") ? (unsigned)atoi(getenv("HALTS")) : 1500;
	pid_t pid = serve_bin_with_vgdb("tests/blocked_calls", dir, sizeof dir, prefix, sizeof prefix, &port);
	struct lc_nudge nudge = { connect_to, &port };
	struct lc_relay r;
	cr_assert_eq(lc__relay_open(&r, "vgdb", prefix, pid, &nudge, 10, err, sizeof err), 0, "%s", err);
	double end = lc__now() + 25;
	int failed = 0;
	while (halts < want && lc__now() < end && !failed) {
		char *text = NULL;
		failed = lc__relay_interrupt(&r, 5, err, sizeof err) < 0 ||
			 lc__relay_monitor(&r, "v.info n_errs_found", &text, 5, err, sizeof err) < 0 ||
			 lc__relay_resume(&r, err, sizeof err) < 0;
		free(text);
		halts += !failed;
	}
	bool alive = !lc__gone(pid);
	lc__relay_close(&r);
	lc__stop(pid, 10);
	snprintf(errpath, sizeof errpath, "%s/server.err", dir);
	char said[200];
	lc__last_line(errpath, said, sizeof said);
	remove_dir(dir);
	cr_log_info("%u halts, %u interrupts sent again", halts, r.resends);
	cr_assert(alive && !failed, "the server died after %u halts: %s (%s)", halts, said, failed ? err : "");
	cr_assert_gt(halts, 300, "only %u halts in 25 s: nothing was measured", halts);
}

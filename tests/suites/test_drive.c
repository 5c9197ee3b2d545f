/* Driving servers set up like real daemons (tests/servers/confserver.c): the port only in a config file
 * (--config with {port}, {config}), a fixed --port, readiness on stderr, a binary protocol
 * with NUL bytes and a greeting sent first (--script), a wrong reply quoted and kept, and the
 * suppression workflow for a one-time loss at exit (--write-suppressions, then --suppressions). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "drive/net.h"
#include "drive/proc.h"
#include "drive/pyagent.h"
#include "support.h"

static struct lc_report rep;
static char dir[256], conf[300], script[300];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* A config template and a script in a fresh directory. */
static void setup_files(const char *conf_text, const char *script_text)
{
	test_tmpdir(dir, sizeof dir, "drive");
	snprintf(conf, sizeof conf, "%s/server.conf", dir);
	snprintf(script, sizeof script, "%s/proto.script", dir);
	write_file(conf, conf_text);
	write_file(script, script_text);
}

static void cleanup(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

static const char proto[] = "# a greeting first, then a binary request with a NUL byte\n"
			    "expect \\0HELLO\\n\nsend \\x01\\0ping\nexpect \\x02\\0OK\\n\n";

static enum lc_verdict run(const char *conf_path, struct lc_options *o)
{
	static char *argv[3];
	argv[0] = strdup(built("tests/confserver"));
	argv[1] = strdup(conf_path);
	o->server_argv = argv;
	o->cycles = 50;
	o->rounds = 2;
	o->warmup = 5;
	o->ready = "server started";
	o->script = script;
	enum lc_verdict v = lc_run(o, &rep);
	free(argv[0]);
	free(argv[1]);
	return v;
}

TestSuite(drive, .timeout = 60);

Test(drive, port_in_a_config_file_ready_on_stderr_binary_script)
{
	struct lc_options o;
	setup_files("port {port}\ngreeting yes\n", proto);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.config = conf;
	enum lc_verdict v = run("{config}", &o);
	cr_expect_eq(v, LC_CLEAN, "clean server: %s", rep.reason);
	lc_report_free(&rep);
	write_file(conf, "port {port}\ngreeting yes\nleak yes\n");
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.config = conf;
	v = run("{config}", &o);
	cr_expect_eq(v, LC_LEAK, "leak yes: positive control NOT caught: %s", rep.reason);
	cr_expect_eq(lc_report_primary(&rep)->blocks_per_cycle, 1.0, "leak yes: %.2f blocks per connection", lc_report_primary(&rep)->blocks_per_cycle);
	lc_report_free(&rep);
	cleanup();
}

Test(drive, fixed_port)
{
	struct lc_options o;
	unsigned port;
	char text[64];
	cr_assert_eq(lc__free_port(&port), 0);
	snprintf(text, sizeof text, "port %u\ngreeting yes\n", port);
	setup_files(text, proto);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.port = port;
	o.ready = NULL;
	enum lc_verdict v = run(conf, &o);
	cr_expect_eq(v, LC_CLEAN, "--port %u: %s", port, rep.reason);
	lc_report_free(&rep);

	/* something else already listens there: measuring it would judge the wrong process */
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int other = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	cr_assert(bind(other, (struct sockaddr *)&a, sizeof a) == 0 && listen(other, 4) == 0, "cannot hold %u", port);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.port = port;
	v = run(conf, &o);
	close(other);
	cr_expect_eq(v, LC_ERROR, "--port %u taken: %s", port, rep.reason);
	cr_expect(strstr(rep.reason, "already accepts connections"), "%s", rep.reason);
	lc_report_free(&rep);
	cleanup();
}

Test(drive, a_wrong_reply_is_quoted_and_kept)
{
	struct lc_options o;
	char keep[300], reply[320];
	setup_files("port {port}\n", "send hello\nexpect \\x02\\0OK\n");
	snprintf(keep, sizeof keep, "%s/keep/its/parents/missing", dir); /* made as mkdir -p does */
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.config = conf;
	o.keep_dir = keep;
	o.timeout = 4; /* the wrong reply is waited out (the right text might still come); the server
			 * is ready within it too, under valgrind, on a loaded machine */
	enum lc_verdict v = run("{config}", &o);
	cr_expect_eq(v, LC_ERROR);
	cr_expect(strstr(rep.reason, "expected text '\\x02\\x00OK'") && strstr(rep.reason, "got '\\x15ERR\\n'"),
		  "reason: %s", rep.reason);
	snprintf(reply, sizeof reply, "%s/reply.bin", keep);
	struct stat st;
	cr_expect(stat(reply, &st) == 0 && st.st_size == 5, "--keep has no reply.bin of 5 bytes");
	lc_report_free(&rep);
	/* without --keep nothing is kept, and the reason does not say it is */
	o.keep_dir = NULL;
	v = run("{config}", &o);
	cr_expect_eq(v, LC_ERROR);
	cr_expect(!strstr(rep.reason, "(kept in") && strstr(rep.reason, "--keep DIR keeps the whole reply"),
		  "reason: %s", rep.reason);
	lc_report_free(&rep);
	cleanup();
}

Test(drive, suppressions_for_a_one_time_loss)
{
	struct lc_options o;
	char supp[300];
	setup_files("port {port}\ngreeting yes\nlose yes\n", proto);
	snprintf(supp, sizeof supp, "%s/confserver.supp", dir);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.config = conf;
	o.write_suppressions = supp;
	enum lc_verdict v = run("{config}", &o);
	cr_expect_eq(v, LC_LEAK, "lose yes: 33 bytes lost at exit NOT caught: %s", rep.reason);
	cr_expect_eq(rep.suppressions_written, 1, "%u suppressions written", rep.suppressions_written);
	/* lost once at shutdown, nothing lost while it ran: named one-time */
	cr_expect(rep.exit_one_time && strstr(rep.reason, "one-time: no memory grew lost while running"),
		  "a one-time loss not named: %s", rep.reason);
	lc_report_free(&rep);
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.config = conf;
	o.suppressions = supp;
	v = run("{config}", &o);
	cr_expect_eq(v, LC_CLEAN, "with the written suppressions: %s", rep.reason);
	lc_report_free(&rep);
	cleanup();
}

/* A reset throws away what the server has not read: with no reply to wait for, the harness
 * resets a connection only once the server's receive queue is empty (lc__server_unread). Here
 * the queue itself, on real sockets: a server that never reads keeps the 6 bytes unread; one
 * that echoes takes them. */
Test(drive, unread_bytes_of_the_server_end)
{
	char tmp[64], err[256];
	test_tmpdir(tmp, sizeof tmp, "unread");
	const char *modes[] = { "hang", "echo" };
	for (int m = 0; m < 2; m++) {
		unsigned port;
		char *argv[] = { strdup(built("tests/misbehave")), (char *)modes[m], NULL };
		char sub[96];
		snprintf(sub, sizeof sub, "%s/%s", tmp, modes[m]); /* its own server.out */
		cr_assert_eq(mkdir(sub, 0700), 0);
		pid_t pid = lc__serve(argv, sub, 20, &port, err, sizeof err);
		cr_assert_gt(pid, 0, "%s", err);
		int fd = lc__connect(port, 5);
		cr_assert_geq(fd, 0, "%s: cannot connect to port %u: %s", modes[m], port, strerror(errno));
		cr_assert_eq(lc__send_all(fd, "hello\n", 6, 5), 0);
		long unread = -1;
		for (int i = 0; i < 200 && unread != (m == 0 ? 6 : 0); i++) {
			lc__sleep_ms(5);
			unread = lc__server_unread(port, lc__local_port(fd));
		}
		cr_expect_eq(unread, m == 0 ? 6 : 0, "%s: %ld bytes unread by the server", modes[m], unread);
		close(fd);
		lc__stop(pid, 1);
		free(argv[0]);
	}
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	cr_expect_eq(system(cmd), 0);
}

/* End to end, the same rule: a server whose per-connection work starts when it reads the
 * request (alloc_shapes --leak keeps a session made from the first line) and that drops a
 * connection with an error before reading it (--errors-first, as event loops do), a script that
 * sends and expects nothing, and --close mix (a third of the connections reset). Every
 * connection must have done its work: exactly 2 blocks per connection. Reset as soon as sent,
 * a reset connection's request was dropped unread: 1.4 blocks per connection. */
Test(drive, reset_connections_did_their_work)
{
	char *argv[] = { strdup(built("tests/alloc_shapes")), "0", "--leak", "--errors-first", NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = 60;
	o.rounds = 3;
	o.warmup = 5;
	o.close = LC_CLOSE_MIX;
	snprintf(o.send, sizeof o.send, "%s", "hello\n");
	o.expect[0] = '\0';
	o.expect_any = false;
	enum lc_verdict v = lc_run(&o, &rep);
	free(argv[0]);
	cr_assert_eq(v, LC_LEAK, "alloc_shapes --leak not caught: %s", rep.reason);
	cr_expect_eq(lc_report_primary(&rep)->blocks_per_cycle, 2.0, "%.2f blocks per connection, not 2: reset connections did no work",
		     lc_report_primary(&rep)->blocks_per_cycle);
	lc_report_free(&rep);
}

/* A Python agent that accepts nothing (its process halted by vgdb): each wake's connection waits
 * in its backlog, and once that is full a wake fails at once instead of blocking the harness. */
Test(drive, agent_wake_never_blocks, .timeout = 10)
{
	char dir[256], path[300];
	test_tmpdir(dir, sizeof dir, "agent");
	snprintf(path, sizeof path, "%s/py.%d.sock", dir, (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%.100s", path);
	cr_assert(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0, "listen %s", path);
	int fds[20], failed = 0;
	double t0 = lc__now();
	for (int i = 0; i < 20; i++)
		failed += (fds[i] = lc__pyagent_send(path, "ping")) < 0;
	cr_expect_lt(lc__now() - t0, 1.0, "20 wakes of a halted agent took %.1fs", lc__now() - t0);
	cr_expect_gt(failed, 0, "a full backlog took every wake");
	char *text = NULL, err[300];
	cr_expect_eq(lc__pyagent_ask(dir, (int)getpid(), "ping", 0.3, &text, err, sizeof err), -1, "an answer from nobody");
	for (int i = 0; i < 20; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(l);
	unlink(path);
}

/* The benchmark behind `make bench`: figures measured in one run on this machine, printed
 * as absolutes and as ratios against a baseline measured in the same run. Not a test:
 * nothing here asserts a time. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "engines/native.h"
#include "drive/proc.h"
#include "valgrind/relay.h"
#include "drive/net.h"
#include "valgrind/vgdb.h"

struct server {
	pid_t pid;
	unsigned port;
	char dir[64];
};

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(2);
}

/* Start argv (optionally under memcheck with vgdb) and wait for its readiness line. */
static void server_start(struct server *s, char **argv, bool valgrind)
{
	char prefix[128], err[256];
	snprintf(s->dir, sizeof s->dir, "/tmp/lc-bench-XXXXXX");
	if (!mkdtemp(s->dir))
		die("mkdtemp");
	snprintf(prefix, sizeof prefix, "--vgdb-prefix=%s/vgdb", s->dir);
	char *vg[16] = { "valgrind", "--tool=memcheck", "--leak-check=full", "--vgdb=yes", "--vgdb-poll=50",
			 "--log-file=/dev/null", prefix };
	size_t n = 7;
	for (size_t i = 0; argv[i] && n < 15; i++)
		vg[n++] = argv[i];
	s->pid = lc__serve(valgrind ? vg : argv, s->dir, 60, &s->port, err, sizeof err);
	if (s->pid < 0)
		die(err);
}

static void server_stop(struct server *s)
{
	char cmd[128];
	lc__stop(s->pid, 60);
	snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", s->dir);
}

/* The minimal loop: blocking connect/send/recv/close, no timeouts, no checks beyond errors. */
static double rate_minimal(unsigned port, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char buf[64];
	double t0 = lc__now();
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 || write(fd, "ping\n", 5) != 5 ||
		    read(fd, buf, sizeof buf) <= 0)
			die("minimal client failed");
		close(fd);
	}
	return n / (lc__now() - t0);
}

/* The harness's client: the same calls run.c makes for one eof cycle (connect with a deadline,
 * send_all, recv_until the echo, close). */
static double rate_harness(unsigned port, int n)
{
	char buf[64];
	double t0 = lc__now();
	for (int i = 0; i < n; i++) {
		int fd = lc__connect(port, 10);
		if (fd < 0 || lc__send_all(fd, "ping\n", 5, 10) < 0 || lc__recv_until(fd, buf, sizeof buf, "ping\n", 5, 10) <= 0)
			die("harness client failed");
		close(fd);
	}
	return n / (lc__now() - t0);
}

static const char *build(const char *rel)
{
	static char path[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(path[i], sizeof path[i], "%s/%s", LC_BUILD_DIR, rel);
	return path[i];
}

static void bench_client(void)
{
	enum { N_NATIVE = 10000, N_VG = 5000 };
	char *echo[] = { (char *)build("runtime/echo"), "0", NULL };
	struct server s;
	printf("\n1. Cycle rate (connect, ping, echo, close) against build/runtime/echo\n");
	printf("   %-22s %14s %14s %8s\n", "server", "minimal loop/s", "harness/s", "ratio");
	for (int vg = 0; vg < 2; vg++) {
		server_start(&s, echo, vg);
		int n = vg ? N_VG : N_NATIVE;
		rate_minimal(s.port, 200); /* warm up both paths */
		double m = rate_minimal(s.port, n), h = rate_harness(s.port, n);
		printf("   %-22s %14.0f %14.0f %8.2f\n", vg ? "under memcheck" : "native", m, h, h / m);
		server_stop(&s);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median5(double *v)
{
	qsort(v, 5, sizeof *v, cmp_double);
	return v[2];
}

static double verdict_settle(char **argv, unsigned cycles, double settle, struct lc_report *rep)
{
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = cycles;
	o.timeout = 60;
	if (settle >= 0)
		o.settle = settle;
	lc_run(&o, rep);
	return rep->seconds;
}

static double verdict(char **argv, unsigned cycles, struct lc_report *rep)
{
	return verdict_settle(argv, cycles, -1, rep);
}

/* Settling: the same verdicts with --settle 0 (no waiting) and the default, and the
 * valgrind floor: the server started under memcheck and stopped at once, exit report written. */
static void bench_settle(void)
{
	static const char *const servers[][3] = {
		{ "cases/global_list/fixed", NULL, NULL }, { "cases/global_list/leaky", NULL, NULL },
		{ "tests/shapes", "deferred", NULL }, { "tests/shapes", "deferred", "--leak" },
	};
	printf("\n2b. Cost of settling (seconds per verdict; 0.5 s is the default --settle)\n");
	printf("   %-32s %8s %10s %10s %10s\n", "server", "verdict", "settle 0", "default", "re-sampled");
	for (size_t i = 0; i < 4; i++) {
		char *argv[] = { (char *)build(servers[i][0]), (char *)servers[i][1], (char *)servers[i][2], NULL };
		struct lc_report a, b;
		double t0 = verdict_settle(argv, 200, 0, &a), t1 = verdict_settle(argv, 200, -1, &b);
		char name[64];
		snprintf(name, sizeof name, "%s%s%s%s%s", servers[i][0], servers[i][1] ? " " : "",
			 servers[i][1] ? servers[i][1] : "", servers[i][2] ? " " : "", servers[i][2] ? servers[i][2] : "");
		printf("   %-32s %8s %10.2f %10.2f %10u\n", name, b.verdict == LC_LEAK ? "leak" : b.verdict == LC_CLEAN ? "clean" : "error",
		       t0, t1, b.settle_waits);
		lc_report_free(&a);
		lc_report_free(&b);
	}
	/* the floor and the verdict, 5 of each alternately, their medians: one slow start on a
	 * busy machine must not decide the ratio */
	struct server s;
	char *echo[] = { (char *)build("runtime/echo"), "0", NULL };
	char *echo_v[] = { (char *)build("runtime/echo"), NULL };
	double floors[5], verdicts[5], at[5][3];
	struct lc_report rep;
	for (int k = 0; k < 5; k++) {
		double t0 = lc__now();
		server_start(&s, echo, true);
		server_stop(&s);
		floors[k] = lc__now() - t0;
		verdicts[k] = verdict(echo_v, 200, &rep);
		at[k][0] = rep.at_ready;
		at[k][1] = rep.at_baseline - rep.at_ready;
		at[k][2] = rep.at_measured - rep.at_baseline;
		lc_report_free(&rep);
	}
	double floor = median5(floors), v = median5(verdicts), phase[3];
	for (int j = 0; j < 3; j++) {
		double col[5];
		for (int k = 0; k < 5; k++)
			col[k] = at[k][j];
		phase[j] = median5(col);
	}
	printf("   valgrind floor (echo started under memcheck, then SIGTERM): %.2f s; verdict %.2f s: %.2fx (medians of 5)\n",
	       floor, v, v / floor);
	printf("   the verdict's phases (medians): ready %.2f s, warmup + baseline %.2f s, 3 rounds %.2f s, the rest "
	       "(SIGTERM, exit report) %.2f s\n", phase[0], phase[1], phase[2], v - phase[0] - phase[1] - phase[2]);
}

/* The retainer search: its commands and time inside leaky verdicts (a clean one runs none). */
static void bench_holders(void)
{
	static const char *const servers[][2] = {
		{ "cases/global_list/leaky", NULL }, { "cases/static_registry/leaky", NULL },
		{ "cases/mutual_refs/leaky", NULL }, { "tests/holders", "array" }, { "tests/holders", "cycle" },
	};
	printf("\n2c. Cost of the retainer search (\"held by:\"), inside a leaky verdict with the defaults\n");
	printf("   %-32s %8s %8s %8s %10s %10s\n", "server", "verdict", "seconds", "sites", "commands", "search ms");
	for (size_t i = 0; i < 6; i++) {
		bool big = i == 5; /* a list of over 1,000 blocks: 3 x 400 cycles */
		char *argv[] = { (char *)build(big ? "tests/holders" : servers[i][0]), (char *)(big ? "list" : servers[i][1]),
				 NULL };
		struct lc_report rep;
		double t = verdict(argv, big ? 400 : 200, &rep);
		size_t searched = 0;
		for (size_t j = 0; j < lc_report_primary(&rep)->nsites; j++)
			searched += lc_report_primary(&rep)->held[j].searched;
		char name[64];
		snprintf(name, sizeof name, "%s%s%s%s", big ? "tests/holders" : servers[i][0], argv[1] ? " " : "",
			 argv[1] ? argv[1] : "", big ? " (x1240)" : "");
		printf("   %-32s %8s %8.2f %8zu %10u %10.1f\n", name, rep.verdict == LC_LEAK ? "leak" : "other", t, searched,
		       rep.retain_calls, rep.retain_seconds * 1000);
		lc_report_free(&rep);
	}
	/* the search reads the whole heap: its time against the live blocks beside the leak */
	static const char *const sizes[] = { "10000", "60000", "200000" };
	double ms[3] = { 0 };
	for (size_t i = 0; i < 3; i++) {
		char *argv[] = { (char *)build("tests/holder_shapes"), "big_heap", NULL };
		struct lc_report rep;
		setenv("HOLDER_SHAPES_BLOCKS", sizes[i], 1);
		double t = verdict(argv, 200, &rep);
		unsetenv("HOLDER_SHAPES_BLOCKS");
		ms[i] = rep.retain_seconds * 1000;
		char name[64];
		snprintf(name, sizeof name, "holder_shapes big_heap (+%s)", sizes[i]);
		printf("   %-32s %8s %8.2f %8zu %10u %10.1f\n", name, rep.verdict == LC_LEAK ? "leak" : "other", t,
		       lc_report_primary(&rep)->nsites, rep.retain_calls, ms[i]);
		lc_report_free(&rep);
	}
	printf("   the search with 60,000 unrelated blocks: %.0f ms (target <= 1000 ms: %s); 200,000 against 10,000: "
	       "%.1fx the time for 20x the blocks\n", ms[1], ms[1] <= 1000 ? "met" : "NOT met", ms[0] > 0 ? ms[2] / ms[0] : 0);
}

static void bench_variants(void)
{
	static const char *const variants[] = {
		"cases/global_list/leaky", "cases/global_list/fixed", "cases/static_registry/leaky",
		"cases/static_registry/fixed", "cases/mutual_refs/leaky", "cases/mutual_refs/fixed",
		"cases/mutual_refs/fixed_break", NULL,
	};
	printf("\n2. Wall time of one full verdict (defaults: 20 warmup + 3 x 200 cycles, close mix)\n");
	printf("   %-32s %8s %8s\n", "variant", "verdict", "seconds");
	for (size_t i = 0; variants[i]; i++) {
		char *argv[] = { (char *)build(variants[i]), NULL };
		struct lc_report rep;
		double t = verdict(argv, 200, &rep);
		printf("   %-32s %8s %8.2f\n", variants[i] + 6, rep.verdict == LC_LEAK ? "leak" : rep.verdict == LC_CLEAN ? "clean" : "error", t);
		lc_report_free(&rep);
	}
}

static void bench_cycles(void)
{
	static const unsigned counts[] = { 100, 1000, 10000 };
	char *echo[] = { (char *)build("runtime/echo"), "{port}", NULL };
	double base = 0;
	printf("\n3. Verdict time against cycles (echo server, 3 rounds of N cycles)\n");
	printf("   %-10s %10s %10s %16s\n", "N", "seconds", "ratio", "cycles/s overall");
	for (size_t i = 0; i < 3; i++) {
		struct lc_report rep;
		double t = verdict(echo, counts[i], &rep);
		if (i == 0)
			base = t;
		printf("   %-10u %10.2f %10.2f %16.0f%s\n", counts[i], t, t / base, rep.connections / t,
		       rep.verdict == LC_CLEAN ? "" : "  (not clean!)");
		lc_report_free(&rep);
	}
}

/* Average cost of one vgdb snapshot, over 3, of a server under memcheck: one vgdb per
 * command, and through a relay (interrupt, monitor command, resume; as lc_run does). */
static unsigned vgdb_hangs; /* one-vgdb snapshots that got no answer and were retried */

static double snapshot_cost(struct server *s, double *relay_cost)
{
	char prefix[128], out[128], err[256], *text;
	struct lc_snapshot *snap = malloc(sizeof *snap);
	struct lc_relay r;
	snprintf(prefix, sizeof prefix, "%s/vgdb", s->dir);
	snprintf(out, sizeof out, "%s/vgdb.out", s->dir);
	double t0 = lc__now(), lost = 0;
	for (int i = 0; i < 3; i++) {
		double t1 = lc__now();
		if (!snap)
			die("out of memory");
		/* seen twice here, never reproduced alone: a vgdb started right after heap_server's
		 * start got no answer. Counted and retried (its wait left out), not fatal. */
		if (lc__vgdb_snapshot(prefix, s->pid, out, 20, snap, err, sizeof err) < 0) {
			vgdb_hangs++;
			lost += lc__now() - t1;
			if (lc__vgdb_snapshot(prefix, s->pid, out, 20, snap, err, sizeof err) < 0)
				die(err);
		}
	}
	double per_command = (lc__now() - t0 - lost) / 3;
	if (lc__relay_open(&r, "vgdb", prefix, s->pid, NULL, 60, err, sizeof err) < 0)
		die(err);
	lc__sleep_ms(20);
	t0 = lc__now();
	for (int i = 0; i < 3; i++) {
		if (lc__relay_interrupt(&r, 60, err, sizeof err) < 0 ||
		    lc__relay_monitor(&r, LC_SNAPSHOT_FULL, &text, 60, err, sizeof err) < 0 ||
		    lc__vgdb_parse(text, snap, err, sizeof err) < 0 || lc__relay_resume(&r, err, sizeof err) < 0)
			die(err);
		free(text);
	}
	*relay_cost = (lc__now() - t0) / 3;
	lc__relay_close(&r);
	free(snap);
	return per_command;
}

static void bench_snapshots(void)
{
	struct server s;
	char *echo[] = { (char *)build("runtime/echo"), "0", NULL };
	printf("\n4. Cost of one leak snapshot (leak_check full reachable increased)\n");
	printf("   %-34s %10s %8s %10s %8s\n", "server state", "vgdb ms", "ratio", "relay ms", "speedup");
	server_start(&s, echo, true);
	double base = 0, done = 0;
	static const unsigned after[] = { 100, 1000, 10000 };
	for (size_t i = 0; i < 3; i++) {
		rate_harness(s.port, (int)(after[i] - done));
		done = after[i];
		double rc, c = snapshot_cost(&s, &rc);
		if (i == 0)
			base = c;
		printf("   echo after %-6u cycles             %10.1f %8.2f %10.1f %8.1f\n", after[i], c * 1000, c / base,
		       rc * 1000, c / rc);
	}
	server_stop(&s);
	static const char *const mbs[] = { "1", "10", "100" };
	for (size_t i = 0; i < 3; i++) {
		char *heap[] = { (char *)build("bench/heap_server"), (char *)mbs[i], "0", NULL };
		server_start(&s, heap, true);
		double rc, c = snapshot_cost(&s, &rc);
		printf("   heap_server holding %-4s MB         %10.1f %8.2f %10.1f %8.1f\n", mbs[i], c * 1000, c / base,
		       rc * 1000, c / rc);
		server_stop(&s);
	}
	if (vgdb_hangs)
		printf("   (a vgdb per command got no answer %u time(s) and was retried; not counted above)\n", vgdb_hangs);
}

/* The native engine: every case variant with its defaults, beside memcheck's time in this run;
 * the per-round noise of the fixed variants (5 runs each, the largest |growth| of a round),
 * which the floor of a page must clear; and the cost of one native snapshot. */
static void bench_native(void)
{
	static const char *const variants[] = {
		"cases/global_list/leaky", "cases/global_list/fixed", "cases/static_registry/leaky",
		"cases/static_registry/fixed", "cases/mutual_refs/leaky", "cases/mutual_refs/fixed",
		"cases/mutual_refs/fixed_break", NULL,
	};
	printf("\n6. Native engine (--native defaults: 50 warmup + 3 x 500 cycles, close mix) beside memcheck's defaults\n");
	printf("   %-28s %8s %8s %10s %10s %10s %12s\n", "variant", "verdict", "native s", "memcheck s", "anon B/conn",
	       "limit B", "noise B/rnd");
	for (size_t i = 0; variants[i]; i++) {
		char *argv[] = { (char *)build(variants[i]), NULL };
		struct lc_options o;
		struct lc_report rep, mc;
		double t_mc = verdict(argv, 200, &mc);
		lc_report_free(&mc);
		bool fixed = strstr(variants[i], "fixed") != NULL;
		long noise = 0;
		double t = 0;
		for (int run = 0; run < (fixed ? 5 : 1); run++) {
			lc_options_init(&o, LC_ENGINE_NATIVE);
			o.server_argv = argv;
			lc_run(&o, &rep);
			t += rep.seconds;
			for (size_t k = 0; k < lc_report_primary(&rep)->nrounds; k++) {
				long d = lc_report_primary(&rep)->rounds[k].dbytes < 0 ? -lc_report_primary(&rep)->rounds[k].dbytes : lc_report_primary(&rep)->rounds[k].dbytes;
				noise = d > noise ? d : noise;
			}
			if (run + 1 < (fixed ? 5 : 1))
				lc_report_free(&rep);
		}
		char nz[16] = "-";
		if (fixed)
			snprintf(nz, sizeof nz, "%ld", noise);
		printf("   %-28s %8s %8.2f %10.2f %10.1f %10.1f %12s\n", variants[i] + 6,
		       rep.verdict == LC_LEAK ? "leak" : rep.verdict == LC_CLEAN ? "clean" : "error", t / (fixed ? 5 : 1),
		       t_mc, lc_report_primary(&rep)->bytes_per_cycle, lc_detection_limit(&rep), nz);
		lc_report_free(&rep);
	}
	struct server s;
	char *echo[] = { (char *)build("runtime/echo"), "0", NULL };
	struct lc_snapshot snap;
	char err[256];
	server_start(&s, echo, false);
	double t0 = lc__now();
	for (int i = 0; i < 1000; i++)
		if (lc__native_measure(s.pid, &snap, err, sizeof err) < 0)
			die(err);
	printf("   one native snapshot (smaps_rollup, fds, threads) of the echo server: %.1f us\n",
	       (lc__now() - t0) * 1000);
	server_stop(&s);
}

/* Both engines on the server shapes of tests/servers/shapes.c, each clean and with --leak: the table
 * README's "The native engine" quotes. */
static void bench_engines(void)
{
	static const char *const modes[] = { "bytes", "records", "deferred", "threads", "pool", "prefork", "forkper" };
	printf("\n7. Both engines on tests/shapes (each with its defaults): verdict (seconds)\n");
	printf("   %-10s %-18s %-18s %-18s %-18s\n", "shape", "memcheck: clean", "memcheck: --leak", "native: clean",
	       "native: --leak");
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		printf("   %-10s", modes[i]);
		for (int native = 0; native < 2; native++)
			for (int leak = 0; leak < 2; leak++) {
				char *argv[] = { (char *)build("tests/shapes"), (char *)modes[i], leak ? "--leak" : NULL, NULL };
				struct lc_options o;
				struct lc_report rep;
				char cell[32];
				if (native)
					lc_options_init(&o, LC_ENGINE_NATIVE);
				else
					lc_options_init(&o, LC_ENGINE_MEMCHECK);
				o.server_argv = argv;
				o.timeout = 60;
				lc_run(&o, &rep);
				snprintf(cell, sizeof cell, "%s (%.1f)", rep.verdict == LC_LEAK ? "leak" :
					 rep.verdict == LC_CLEAN ? "clean" : "error", rep.seconds);
				printf(" %-18s", cell);
				lc_report_free(&rep);
			}
		printf("\n");
	}
}

/* The test run as make check makes it, and its CPU time: on 2 cores no schedule of the tests
 * beats half of it, so CPU is the figure a faster make check has to cut. */
static void bench_check(void)
{
	char cmd[600];
	struct rusage before, after;
	snprintf(cmd, sizeof cmd, "ctest --test-dir %s -j%d >/dev/null 2>&1", LC_BUILD_DIR, LC_CHECK_JOBS);
	getrusage(RUSAGE_CHILDREN, &before);
	double t0 = lc__now();
	int rc = system(cmd);
	double wall = lc__now() - t0;
	getrusage(RUSAGE_CHILDREN, &after);
	double cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec -
			      before.ru_stime.tv_sec) +
		     (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec -
			      before.ru_stime.tv_usec) / 1e6;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	printf("\n8. make check's test run (ctest -j%d, build up to date): %.1f s%s; CPU %.1f s, so at least "
	       "%.1f s on %ld cores (%.0f%% used)\n", LC_CHECK_JOBS, wall, rc == 0 ? "" : " (FAILED)", cpu,
	       cpu / (double)cores, cores, 100 * cpu / (wall * (double)cores));
}

/* Per-connection time of one server with and without the allocator preload (liblcalloc.so
 * counting into a folder of its own), the median of 5 alternating runs of n connections: walk
 * NULL runs it without the preload, "" with the preload's default walk, "fp" or "cfi" with
 * that walk alone (LC_ALLOC_UNWIND). */
static double per_connection_us(char **argv, const char *walk, int n)
{
	char lib[4096], dir[] = "/dev/shm/lc-bench-alloc-XXXXXX", cmd[160];
	struct server s;
	if (walk && (lc__native_preload(lib, sizeof lib) < 0 || !mkdtemp(dir)))
		die("no liblcalloc.so beside the bench, or no /dev/shm");
	if (walk) { /* the bench is one thread: its own environment is the server's */
		setenv("LD_PRELOAD", lib, 1);
		setenv("LC_ALLOC_DIR", dir, 1);
		if (*walk)
			setenv("LC_ALLOC_UNWIND", walk, 1);
	}
	server_start(&s, argv, false);
	unsetenv("LD_PRELOAD");
	unsetenv("LC_ALLOC_DIR");
	unsetenv("LC_ALLOC_UNWIND");
	rate_minimal(s.port, 200);
	double us = 1e6 / rate_minimal(s.port, n);
	server_stop(&s);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (walk && system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	return us;
}

static double native_verdict(const char *rel, struct lc_report *rep)
{
	char *argv[] = { (char *)build(rel), NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_NATIVE);
	o.server_argv = argv;
	lc_run(&o, rep);
	return rep->seconds;
}

static void bench_preload(void)
{
	static const char *const servers[][2] = {
		{ "runtime/echo", "0" }, { "cases/global_list/fixed", "0" }, { "cases/mutual_refs/fixed", "0" },
	};
	printf("\n9. The allocator preload: per-connection time of the server without and with it (median of 5 "
	       "runs of 3000 connections each), and native verdicts (median of 5)\n");
	printf("   %-32s %12s %12s %8s\n", "server", "plain us", "preload us", "ratio");
	for (size_t i = 0; i < sizeof servers / sizeof *servers; i++) {
		char *argv[] = { (char *)build(servers[i][0]), (char *)servers[i][1], NULL };
		double plain[5], pre[5];
		for (int k = 0; k < 5; k++) {
			plain[k] = per_connection_us(argv, NULL, 3000);
			pre[k] = per_connection_us(argv, "", 3000);
		}
		double a = median5(plain), b = median5(pre);
		printf("   %-32s %12.1f %12.1f %8.2f\n", servers[i][0], a, b, b / a);
	}
	printf("   %-32s %8s %8s %10s\n", "native verdict", "verdict", "seconds", "measure");
	static const char *const variants[] = { "cases/global_list/fixed", "cases/global_list/leaky" };
	for (size_t i = 0; i < 2; i++) {
		double t[5];
		struct lc_report *rep = lc_report_new();
		if (!rep)
			die("out of memory");
		for (int k = 0; k < 5; k++) {
			t[k] = native_verdict(variants[i], rep);
			lc_report_free(rep);
		}
		printf("   %-32s %8s %8.2f %10s\n", variants[i] + 6, lc_verdict_name(rep->verdict), median5(t),
		       lc_measure_name(rep->measure));
		lc_report_delete(rep);
	}
}

/* Nanoseconds per malloc and free, and per strdup and free, of build/bench/PROG (alloc_loop.c:
 * 200,000 of each, 8 frames below main) under the preload's walk (per_connection_us's walk). */
static void alloc_ns(const char *prog, const char *walk, double ns[2])
{
	char lib[4096], dir[] = "/dev/shm/lc-bench-alloc-XXXXXX", cmd[5000];
	if (walk && (lc__native_preload(lib, sizeof lib) < 0 || !mkdtemp(dir)))
		die("no liblcalloc.so beside the bench, or no /dev/shm");
	if (walk) /* in the command, so that the shell itself is not preloaded */
		snprintf(cmd, sizeof cmd, "LD_PRELOAD=%s LC_ALLOC_DIR=%s%s%s exec %s 200000 8", lib, dir,
			 *walk ? " LC_ALLOC_UNWIND=" : "", walk, build(prog));
	else
		snprintf(cmd, sizeof cmd, "exec %s 200000 8", build(prog));
	FILE *p = popen(cmd, "r");
	if (!p || fscanf(p, "malloc %lf strdup %lf", &ns[0], &ns[1]) != 2)
		die("bench/alloc_loop gave no figures");
	pclose(p);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (walk && system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
}

static const char *const walks[] = { NULL, "fp", "cfi", "" }; /* none, then the preload's walks */

/* The preload's stack walk (lcalloc.c's unwind()): what an allocation costs with the
 * frame-pointer walk alone (which stops inside glibc), the CFI walk alone (libgcc's unwinder,
 * through glibc) and the default (the frame-pointer walk where it is known to hold, else a
 * replayed or a new CFI walk), each the median of 5 taken alternately; and what a connection
 * costs, on a C server built with frame pointers and on CPython (Debian's: without). */
static void bench_unwind(void)
{
	static const struct {
		const char *prog, *name;
		int fn; /* 0 malloc, 1 strdup */
	} rows[] = {
		{ "bench/alloc_loop", "malloc, code with frame pointers", 0 },
		{ "bench/alloc_loop", "strdup, code with frame pointers", 1 },
		{ "bench/alloc_loop_nofp", "malloc, code without them", 0 },
		{ "bench/alloc_loop_nofp", "strdup, code without them", 1 },
	};
	printf("\n9b. The preload's stack walk: ns per allocation and free (bench/alloc_loop, 8 frames deep; median of 5)\n");
	printf("   %-34s %9s %9s %9s %9s %8s %10s\n", "allocation", "none", "fp walk", "CFI walk", "default", "CFI/fp",
	       "default/fp");
	for (size_t r = 0; r < sizeof rows / sizeof *rows; r += 2) {
		double ns[2][4][5];
		for (int k = 0; k < 5; k++)
			for (int w = 0; w < 4; w++) {
				double both[2];
				alloc_ns(rows[r].prog, walks[w], both);
				ns[0][w][k] = both[0];
				ns[1][w][k] = both[1];
			}
		for (int f = 0; f < 2; f++) {
			double m[4];
			for (int w = 0; w < 4; w++)
				m[w] = median5(ns[f][w]);
			printf("   %-34s %9.1f %9.1f %9.1f %9.1f %8.2f %10.2f\n", rows[r + f].name, m[0], m[1], m[2], m[3],
			       m[2] / m[1], m[3] / m[1]);
		}
	}
	char py[600];
	snprintf(py, sizeof py, "%s/cases/global_list/fixed.py", LC_SOURCE_DIR);
	char *servers[][4] = { { (char *)build("cases/global_list/fixed"), "0", NULL, NULL },
			       { "/usr/bin/python3", py, "0", NULL } };
	printf("   per connection, us (median of 5 runs of 2000)  %9s %9s %9s %9s %8s %10s\n", "none", "fp walk", "CFI walk",
	       "default", "CFI/fp", "default/fp");
	setenv("PYTHONMALLOC", "malloc", 1); /* as the native engine runs CPython: each object a block */
	for (size_t i = 0; i < 2; i++) {
		double us[4][5], m[4];
		for (int k = 0; k < 5; k++)
			for (int w = 0; w < 4; w++)
				us[w][k] = per_connection_us(servers[i], walks[w], 2000);
		for (int w = 0; w < 4; w++)
			m[w] = median5(us[w]);
		printf("   %-46s %9.1f %9.1f %9.1f %9.1f %8.2f %10.2f\n", i ? "cases/global_list/fixed.py (python3)" :
		       "cases/global_list/fixed (C)", m[0], m[1], m[2], m[3], m[2] / m[1], m[3] / m[1]);
	}
	unsetenv("PYTHONMALLOC");
}

/* The Python agent's cost: bench/python_agent.py (Python measures Python best), with Debian's
 * interpreter, the one a fresh Debian 12 has. */
static void bench_python(void)
{
	char cmd[1024];
	fflush(stdout);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/bench/python_agent.py /usr/bin/python3", LC_SOURCE_DIR);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: bench/python_agent.py failed\n");
}

/* leakcheck-bench [SECTION...]: every section, or the ones named. */
int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} sections[] = {
		{ "client", bench_client }, { "variants", bench_variants }, { "settle", bench_settle },
		{ "holders", bench_holders }, { "cycles", bench_cycles }, { "snapshots", bench_snapshots },
		{ "native", bench_native }, { "engines", bench_engines }, { "check", bench_check },
		{ "preload", bench_preload }, { "unwind", bench_unwind }, { "python", bench_python },
	};
	size_t n = sizeof sections / sizeof sections[0];
	for (int a = 1; a < argc; a++) {
		size_t i = 0;
		while (i < n && strcmp(argv[a], sections[i].name) != 0)
			i++;
		if (i == n) {
			fprintf(stderr, "leakcheck-bench: no section '%s' (client variants settle holders cycles snapshots "
					"native engines check preload unwind python)\n", argv[a]);
			return 2;
		}
	}
	printf("leakcheck benchmark: %ld cores online\n", sysconf(_SC_NPROCESSORS_ONLN));
	for (size_t i = 0; i < n; i++) {
		bool chosen = argc == 1;
		for (int a = 1; a < argc && !chosen; a++)
			chosen = strcmp(argv[a], sections[i].name) == 0;
		if (chosen)
			sections[i].run();
	}
	return 0;
}

/* Verdicts on server shapes that once fooled leakcheck (tests/servers/shapes.c): growth in bytes
 * without new blocks, frees deferred past the snapshot, closes handled by other threads,
 * forked workers, a launcher that execs the server, too few rounds. Each shape runs clean and
 * leaky: the leaky twin is the positive control, the clean twin shows no false alarm.
 *   ctest -R trust        (one process)      ctest -R trust_procs   (several processes) */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "drive/proc.h"
#include "util/records.h"
#include "support.h"

#define CYCLES 100

static struct lc_report rep;
static unsigned warmup = 10, cycles = CYCLES; /* a test may change them: each runs in its own process */
static const char *extra[4];   /* more shapes options, NULL-terminated */

/* shapes MODE [--leak] [more args] through lc_run, under an optional launcher. */
static enum lc_verdict judge_shape(const char *launcher, const char *mode, bool leak, double settle,
				   const char *skip)
{
	char *argv[12];
	int n = 0;
	if (launcher)
		argv[n++] = strdup(launcher);
	argv[n++] = strdup(built("tests/shapes"));
	argv[n++] = strdup(mode);
	if (leak)
		argv[n++] = strdup("--leak");
	for (size_t i = 0; extra[i]; i++)
		argv[n++] = strdup(extra[i]);
	argv[n] = NULL;
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = cycles;
	o.warmup = warmup;
	o.timeout = 20;
	if (settle >= 0)
		o.settle = settle;
	o.trace_skip = skip;
	lc_run(&o, &rep);
	for (int i = 0; i < n; i++)
		free(argv[i]);
	return rep.verdict;
}

static __attribute__((unused)) void expect_clean(const char *mode)
{
	enum lc_verdict v = judge_shape(NULL, mode, false, -1, NULL);
	cr_expect_eq(v, LC_CLEAN, "%s: a clean server called %d: %s", mode, v, rep.reason);
	lc_report_free(&rep);
}

/* The leaky twin: caught, in every round, with the reason's words. */
static __attribute__((unused)) void expect_leak(const char *mode, const char *words)
{
	enum lc_verdict v = judge_shape(NULL, mode, true, 0.3, NULL);
	cr_expect_eq(v, LC_LEAK, "%s --leak: positive control NOT caught (%d): %s", mode, v, rep.reason);
	cr_expect(strstr(rep.reason, words), "%s --leak: reason lacks '%s': %s", mode, words, rep.reason);
	lc_report_free(&rep);
}

#ifdef LC_SUITE_TRUST
TestSuite(trust, .timeout = 90);

Test(trust, bytes_without_blocks)
{
	expect_leak("bytes", "heap bytes grew in every round");
	cr_expect(lc_report_primary(&rep)->bytes_grew && !lc_report_primary(&rep)->retained, "bytes: the byte rule, not the block rule, must catch it");
	expect_clean("bytes");
}

Test(trust, realloc_array_of_records)
{
	expect_leak("records", "heap bytes grew in every round");
	expect_clean("records");
}

/* Sessions freed 300 ms after close: growth at the snapshot, gone once settled. */
Test(trust, deferred_frees_settle)
{
	enum lc_verdict v = judge_shape(NULL, "deferred", false, -1, NULL);
	cr_expect_eq(v, LC_CLEAN, "deferred: %s", rep.reason);
	cr_expect_gt(rep.settle_waits, 0, "deferred: nothing was re-sampled: settling did not run");
	for (size_t i = 0; i < lc_report_primary(&rep)->nrounds; i++)
		cr_expect_leq(lc_report_primary(&rep)->rounds[i].dblocks, 0, "deferred: round %zu still +%ld blocks after settling", i + 1,
			      lc_report_primary(&rep)->rounds[i].dblocks);
	lc_report_free(&rep);
	v = judge_shape(NULL, "deferred", true, -1, NULL);
	cr_expect_eq(v, LC_LEAK, "deferred --leak: %s", rep.reason);
	cr_expect(lc_report_primary(&rep)->blocks_per_cycle > 0.9 && lc_report_primary(&rep)->blocks_per_cycle < 1.1,
		  "deferred --leak: %.2f blocks per connection, want the one retained block", lc_report_primary(&rep)->blocks_per_cycle);
	lc_report_free(&rep);
}

/* The baseline is not settled: a warmup twice as long as a round leaves more frees pending at
 * it than a round leaks, so the first rounds show no growth. More rounds must be measured,
 * not a clean verdict given. */
Test(trust, unsettled_baseline_gets_extra_rounds)
{
	warmup = 100;
	cycles = 50;
	enum lc_verdict v = judge_shape(NULL, "deferred", true, -1, NULL);
	char rounds[200] = "";
	for (size_t i = 0; i < lc_report_primary(&rep)->nrounds; i++)
		snprintf(rounds + strlen(rounds), sizeof rounds - strlen(rounds), " %+ld", lc_report_primary(&rep)->rounds[i].dblocks);
	cr_expect_eq(v, LC_LEAK, "deferred --leak, long warmup: positive control NOT caught (rounds%s): %s", rounds,
		     rep.reason);
	cr_expect_gt(rep.extra_rounds, 0, "deferred --leak, long warmup: the first rounds grew, no extra round");
	lc_report_free(&rep);
	v = judge_shape(NULL, "deferred", false, -1, NULL);
	cr_expect_eq(v, LC_CLEAN, "deferred, long warmup: %s", rep.reason);
	cr_expect_eq(rep.extra_rounds, 0, "deferred, long warmup: %u extra rounds for a clean server", rep.extra_rounds);
	lc_report_free(&rep);
}

Test(trust, thread_per_connection)
{
	expect_clean("threads");
	expect_leak("threads", "retained per connection");
}

/* A thread per connection: glibc keeps a cache of thread stacks, and its TLS blocks
 * (pthread_create, 272 B) grew +1 +3 +2 in rounds of 200 beside the leak of one record a
 * connection, a site of its own that was listed as the leak's equal, "held by: no root found".
 * Growth of 2% of the connections a round or less beside a larger site is listed apart, and
 * not searched for holders; the leak stays first, with its holder. */
Test(trust, thread_stack_cache_listed_apart)
{
	cycles = 200;
	enum lc_verdict v = judge_shape(NULL, "threads", true, 0.3, NULL);
	const struct lc_proc_result *p = lc_report_primary(&rep);
	cr_assert_eq(v, LC_LEAK, "threads --leak: %s", rep.reason);
	cr_assert_gt(p->nsites, 0);
	const struct lc_frame *top = lc__alloc_frame(&p->sites[0].rec, NULL);
	cr_expect(top && strcmp(top->fn, "keep_push") == 0, "the first site is %s, not keep_push", top ? top->fn : "?");
	cr_expect(p->held[0].searched && strcmp(p->held[0].root, "kept") == 0, "keep_push's holder: %s", p->held[0].root);
	for (size_t i = 0; i < p->nsites; i++) {
		const struct lc_frame *at = lc__alloc_frame(&p->sites[i].rec, NULL);
		bool stacks = at && strncmp(at->fn, "pthread_create", 14) == 0;
		cr_expect(!stacks || i >= p->nsites - p->nsmall, "site %zu, %s (%+ld blocks), is listed as the leak's "
			  "equal, not apart (%zu apart of %zu)", i, at->fn, p->sites[i].dblocks, p->nsmall, p->nsites);
	}
	lc_report_free(&rep);
}

/* A multi-threaded server idle in poll(-1) between connections (tests/servers/cache_server.c
 * --block) keeps a 4 KB session per open connection and one 64 B record per request: the leak
 * is +100 blocks, +6400 B a round of 100, exactly. Under valgrind such a server runs nothing
 * between rounds, and gdbserver only answers a process that runs: it was woken by connections
 * of ours, whose sessions sat in the snapshots and which counted as the round's connections
 * (rounds +103 +95 +90 blocks, 142.1 B per connection, 41 wake connections). The ticker
 * (harness/preload/lcwake.c) wakes it instead, and it is no thread of the server's. Nor are
 * valgrind's own fds the server's. The server takes SIGTERM in a thread of its own
 * (--sigwait-thread): the ticker must never take it. */
Test(trust, idle_threads_woken_without_connections)
{
	char *argv[] = { strdup(built("tests/cache_server")), "{port}", "--slots", "0", "--leak-every", "1",
			 "--per-request", "--session", "4096", "--block", "--sigwait-thread", NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.cycles = 100;
	o.warmup = 10;
	o.timeout = 20;
	enum lc_verdict v = lc_run(&o, &rep);
	free(argv[0]);
	const struct lc_proc_result *p = lc_report_primary(&rep);
	cr_assert_eq(v, LC_LEAK, "--block, a record per request: %s", rep.reason);
	cr_expect_eq(rep.wakes, 0, "%u connections opened to wake the server", rep.wakes);
	cr_expect_eq(p->nrounds, 3);
	for (size_t k = 0; k < p->nrounds; k++) {
		cr_expect(p->rounds[k].dblocks == 100 && p->rounds[k].dbytes == 6400, "round %zu: %+ld blocks %+ld B, "
			  "not the leak's +100 +6400", k + 1, p->rounds[k].dblocks, p->rounds[k].dbytes);
		/* valgrind's own FIFO to vgdb, opened at the first snapshot, was counted: +1 +0 +0 */
		cr_expect_eq(p->rounds[k].dfds, 0, "round %zu: %+d open fds", k + 1, p->rounds[k].dfds);
	}
	cr_expect(p->bytes_per_cycle > 63.99 && p->bytes_per_cycle < 64.01, "%.2f B per connection, not 64",
		  p->bytes_per_cycle);
	cr_expect_eq(p->nsites, 1, "%zu sites listed: the sessions of connections of ours among them?", p->nsites);
	cr_expect_eq(p->base_threads, 4, "%d threads at the baseline: the server has 4", p->base_threads);
	/* the ticker blocks every signal: SIGTERM, which the server takes in a thread of its own,
	 * killed the process when the ticker took it instead ("killed by signal 15"; the kernel
	 * picks one of the threads that do not block it, so without the mask 1 run in 4 or so) */
	cr_expect(strcmp(rep.exit_status, "exit status 0") == 0, "the server ended with %s", rep.exit_status);
	lc_report_free(&rep);
}

Test(trust, thread_pool)
{
	expect_clean("pool");
	expect_leak("pool", "retained per connection");
}

/* A server that acts on a peer's close 200 ms late and abandons its open connections at
 * SIGTERM: the probe, closed last, must be closed by the server before the SIGTERM, or its
 * session is "lost at exit" (1096 B, as the harness reported before it waited). */
Test(trust, connection_still_open_at_sigterm)
{
	extra[0] = "--linger";
	extra[1] = "200";
	expect_clean("bytes");
}

Test(trust, connection_still_open_at_sigterm_leaky)
{
	extra[0] = "--linger";
	extra[1] = "200";
	expect_leak("bytes", "heap bytes grew in every round");
}

Test(trust, one_round_is_refused)
{
	char *argv[] = { (char *)built("tests/shapes"), "bytes", NULL };
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	o.server_argv = argv;
	o.rounds = 1;
	cr_expect_eq(lc_run(&o, &rep), LC_ERROR);
	cr_expect(strstr(rep.reason, "--rounds"), "%s", rep.reason);
	lc_report_free(&rep);
}

#endif

#ifdef LC_SUITE_TRUST_PROCS
TestSuite(trust_procs, .timeout = 120);

/* The worker, not the parent, serves: it is measured and named. */
Test(trust_procs, prefork_worker)
{
	enum lc_verdict v = judge_shape(NULL, "prefork", true, 0.3, NULL);
	cr_expect_eq(v, LC_LEAK, "prefork --leak: positive control NOT caught: %s", rep.reason);
	cr_expect(strstr(rep.reason, "in pid"), "prefork --leak: the reason must name the worker: %s", rep.reason);
	cr_expect_geq(rep.nprocs, 2, "prefork: the worker was not measured");
	cr_expect(rep.procs[rep.primary].accepted, "prefork: the leaking process must be the one that served");
	lc_report_free(&rep);
	expect_clean("prefork");
}

/* nginx's shape: the worker switches to another user, so vgdb cannot reach it (its FIFOs are
 * root's), and every connection is closed right after the reply, so the probe never shows
 * who serves. Only the idle parent can be measured: never clean, and the worker is not
 * poked by a vgdb it would die of. */
Test(trust_procs, worker_out_of_reach)
{
	if (geteuid() != 0)
		cr_skip_test("switching the worker's user needs root");
	extra[0] = "--once";
	extra[1] = "--user";
	extra[2] = "65534";
	enum lc_verdict v = judge_shape(NULL, "prefork", true, 0.3, NULL);
	cr_expect_eq(v, LC_ERROR, "an unreachable worker was judged %d: %s", v, rep.reason);
	cr_expect(strstr(rep.reason, "could not be measured") && strstr(rep.reason, "switched user"),
		  "the reason must say which process and why: %s", rep.reason);
	lc_report_free(&rep);
}

/* A child per connection: the parent lives on and is judged; the children come and go. Each
 * child under memcheck costs ~60 ms (its fork of valgrind, its exit-time leak search), so 20
 * connections a round: the parent's record is one exact block each, +20 in every round. */
Test(trust_procs, fork_per_connection)
{
	cycles = 20;
	enum lc_verdict v = judge_shape(NULL, "forkper", true, 0.3, NULL);
	cr_expect_eq(v, LC_LEAK, "forkper --leak: positive control NOT caught: %s", rep.reason);
	lc_report_free(&rep);
}

Test(trust_procs, fork_per_connection_clean)
{
	cycles = 20;
	expect_clean("forkper");
}

/* #!/bin/sh + exec: followed, the real server judged. */
Test(trust_procs, launcher_that_execs)
{
	char launcher[512];
	snprintf(launcher, sizeof launcher, "%s/tests/servers/launcher.sh", LC_SOURCE_DIR);
	enum lc_verdict v = judge_shape(launcher, "bytes", true, 0.3, NULL);
	cr_expect_eq(v, LC_LEAK, "launcher: %s", rep.reason);
	lc_report_free(&rep);
	v = judge_shape(launcher, "bytes", true, 0.3, "*/shapes");
	cr_expect_eq(v, LC_ERROR, "launcher with the server skipped: %d: %s", v, rep.reason);
	cr_expect(strstr(rep.reason, "does not run under valgrind"), "%s", rep.reason);
	lc_report_free(&rep);
}

/* The harness's own fds (and its caller's) stay out of the server. */
Test(trust_procs, children_inherit_no_fds)
{
	char dir[128], out[600], err[256];
	test_tmpdir(dir, sizeof dir, "fds");
	int leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: as a careless caller's */
	cr_assert_geq(leaked, 3);
	snprintf(out, sizeof out, "%s/fds", dir);
	char *argv[] = { "/bin/sh", "-c", "ls /proc/$$/fd", NULL };
	pid_t pid = lc__spawn(argv, out, NULL, err, sizeof err);
	cr_assert_gt(pid, 0, "%s", err);
	int status;
	cr_assert_eq(lc__wait(pid, 10, &status), 0);
	FILE *f = fopen(out, "r");
	char line[64];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += atoi(line) >= 3;
	if (f)
		fclose(f);
	cr_expect_eq(n, 0, "the child holds %d fds above 2 (the caller's fd %d among them?)", n, leaked);
	close(leaked);
	remove(out);
	rmdir(dir);
}
#endif

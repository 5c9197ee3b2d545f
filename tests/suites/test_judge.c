/* The decision rule (harness/analysis/judge.c) on hand-built numbers: no valgrind, no server.
 *
 * lc__grows_every_round is CPython regrtest -R's rule (a leak only if every round grew);
 * lc__judge combines it with the exit check's definite + indirect bytes and the open-fd count.
 * Every expectation is an exact value, so a changed rule or message fails here. */
#include <criterion/criterion.h>
#include <string.h>

#include "analysis/judge.h"
#include "lc/leakcheck.h"

static struct lc_report rep;   /* one per test: each test runs in its own worker */

/* A report with n measured rounds of per_round connections, nothing else set. */
static void init_report(size_t n, unsigned per_round)
{
	memset(&rep, 0, sizeof rep);
	rep.verdict = LC_CLEAN;
	rep.nprocs = 1; /* one process, as a run fills it */
	rep.procs[0].nrounds = n;
	rep.per_round = per_round;
	rep.procs[0].base_fds = 5;
}

static void set_round(size_t i, long dblocks, long dbytes, int dfds)
{
	cr_assert_lt(i, LC_MAX_ROUNDS);
	rep.procs[0].rounds[i].dblocks = dblocks;
	rep.procs[0].rounds[i].dbytes = dbytes;
	rep.procs[0].rounds[i].dfds = dfds;
}

static void expect_verdict(enum lc_verdict v, const char *reason)
{
	cr_expect_eq(rep.verdict, v, "verdict %d, want %d (reason: %s)", rep.verdict, v, rep.reason);
	cr_expect_str_eq(rep.reason, reason);
}

/* ---- lc__grows_every_round ---- */

TestSuite(grows, .timeout = 10);

Test(grows, empty_is_no_leak)
{
	long d[1] = { 5 };

	cr_expect_not(lc__grows_every_round(NULL, 0));
	cr_expect_not(lc__grows_every_round(d, 0), "n = 0 must not read the array");
}

Test(grows, every_round_is_a_leak)
{
	long d[] = { 3, 3, 3 };

	cr_expect(lc__grows_every_round(d, 3));
}

/* The threshold is >= 1: a single block per round is enough. */
Test(grows, one_per_round_is_a_leak)
{
	long d[] = { 1, 1, 1, 1, 1 };
	long one[] = { 1 };

	cr_expect(lc__grows_every_round(d, 5));
	cr_expect(lc__grows_every_round(one, 1));
}

/* A cache filling up, a lazily allocated table: growth in the first round only. */
Test(grows, first_round_only_is_no_leak)
{
	long d[] = { 500, 0, 0 };

	cr_expect_not(lc__grows_every_round(d, 3));
	cr_expect(lc__grows_every_round(d, 1), "the first round alone did grow");
}

Test(grows, zero_anywhere_is_no_leak)
{
	long first[] = { 0, 7, 7 }, middle[] = { 7, 0, 7 }, last[] = { 7, 7, 0 }, zero[] = { 0 };

	cr_expect_not(lc__grows_every_round(first, 3));
	cr_expect_not(lc__grows_every_round(middle, 3));
	cr_expect_not(lc__grows_every_round(last, 3));
	cr_expect_not(lc__grows_every_round(zero, 1));
}

Test(grows, negative_anywhere_is_no_leak)
{
	long first[] = { -1, 7, 7 }, middle[] = { 7, -300, 7 }, last[] = { 7, 7, -1 };

	cr_expect_not(lc__grows_every_round(first, 3));
	cr_expect_not(lc__grows_every_round(middle, 3));
	cr_expect_not(lc__grows_every_round(last, 3));
}

/* Only the first n deltas count: a shrinking round past n must not matter. */
Test(grows, reads_only_n)
{
	long d[] = { 2, 2, -5 };

	cr_expect(lc__grows_every_round(d, 2));
	cr_expect_not(lc__grows_every_round(d, 3));
}

/* ---- lc__judge ---- */

TestSuite(judge, .timeout = 10);

Test(judge, clean)
{
	init_report(3, 100);
	lc__judge(&rep);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
	cr_expect_not(rep.procs[0].retained);
	cr_expect_not(rep.procs[0].fds_leaked);
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 0.0);
	cr_expect_eq(rep.procs[0].bytes_per_cycle, 0.0);
}

/* No rounds at all (per_round 0): no division by zero, no leak. */
Test(judge, no_rounds)
{
	init_report(0, 0);
	lc__judge(&rep);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 0.0);
	cr_expect_eq(rep.procs[0].bytes_per_cycle, 0.0);
}

/* The mutual_refs shape: a definite record carrying indirect bytes. */
Test(judge, lost_at_exit)
{
	init_report(3, 100);
	rep.have_exit = true;
	rep.exit.bytes[LC_DEFINITE] = 192;
	rep.exit.blocks[LC_DEFINITE] = 4;
	rep.exit.bytes[LC_INDIRECT] = 384;
	rep.exit.blocks[LC_INDIRECT] = 8;
	lc__judge(&rep);
	expect_verdict(LC_LEAK, "576 bytes lost at exit (192 definite, 384 indirect)");
	cr_expect_not(rep.procs[0].retained);
}

Test(judge, definite_only)
{
	init_report(3, 100);
	rep.exit.bytes[LC_DEFINITE] = 1;
	lc__judge(&rep);
	expect_verdict(LC_LEAK, "1 bytes lost at exit (1 definite, 0 indirect)");
}

/* Indirect without definite (the XML counts definite as direct only): still lost. */
Test(judge, indirect_only)
{
	init_report(3, 100);
	rep.exit.bytes[LC_INDIRECT] = 4560;
	lc__judge(&rep);
	expect_verdict(LC_LEAK, "4560 bytes lost at exit (0 definite, 4560 indirect)");
}

/* Possibly lost and still reachable at exit are not errors (valgrind's default either). */
Test(judge, possible_and_reachable_only)
{
	init_report(3, 100);
	rep.exit.bytes[LC_POSSIBLE] = 11040;
	rep.exit.blocks[LC_POSSIBLE] = 90;
	rep.exit.bytes[LC_REACHABLE] = 368;
	rep.exit.blocks[LC_REACHABLE] = 3;
	lc__judge(&rep);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

/* 3 rounds of 100 connections, +300 blocks each: 900 / 300 = 3 blocks per cycle. */
Test(judge, retained_every_round)
{
	init_report(3, 100);
	for (size_t i = 0; i < 3; i++)
		set_round(i, 300, 36800, 0);
	lc__judge(&rep);
	cr_expect(rep.procs[0].retained);
	cr_expect_not(rep.procs[0].fds_leaked);
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 3.0, "blocks/cycle %f", rep.procs[0].blocks_per_cycle);
	cr_expect_eq(rep.procs[0].bytes_per_cycle, 368.0, "bytes/cycle %f", rep.procs[0].bytes_per_cycle);
	expect_verdict(LC_LEAK, "3.00 blocks (368.0 bytes) retained per connection while running");
}

/* The average is over every round and connection: (250 + 300 + 200) / (3 * 100) = 2.5. */
Test(judge, retained_uneven_rounds)
{
	init_report(3, 100);
	set_round(0, 250, 10000, 0);
	set_round(1, 300, 12000, 0);
	set_round(2, 200, 8000, 0);
	lc__judge(&rep);
	cr_expect(rep.procs[0].retained);
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 2.5, "blocks/cycle %f", rep.procs[0].blocks_per_cycle);
	cr_expect_eq(rep.procs[0].bytes_per_cycle, 100.0, "bytes/cycle %f", rep.procs[0].bytes_per_cycle);
	expect_verdict(LC_LEAK, "2.50 blocks (100.0 bytes) retained per connection while running");
}

/* Growth in the first round only (+500, 0, 0) is a one-time allocation, not a leak. */
Test(judge, one_time_growth)
{
	init_report(3, 100);
	set_round(0, 500, 20000, 0);
	lc__judge(&rep);
	cr_expect_not(rep.procs[0].retained);
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 500.0 / 300, "blocks/cycle %f", rep.procs[0].blocks_per_cycle);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

/* Heap that grows, shrinks, grows: the shrinking round clears it. */
Test(judge, shrinking_round)
{
	init_report(3, 100);
	set_round(0, 300, 36800, 0);
	set_round(1, -10, -400, 0);
	set_round(2, 300, 36800, 0);
	lc__judge(&rep);
	cr_expect_not(rep.procs[0].retained);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

Test(judge, fds_every_round)
{
	init_report(3, 100);
	for (size_t i = 0; i < 3; i++)
		set_round(i, 0, 0, 100);
	lc__judge(&rep);
	cr_expect(rep.procs[0].fds_leaked);
	cr_expect_not(rep.procs[0].retained);
	expect_verdict(LC_LEAK, "open fds grew in every round");
}

Test(judge, fds_one_time)
{
	init_report(3, 100);
	set_round(0, 0, 0, 2);
	lc__judge(&rep);
	cr_expect_not(rep.procs[0].fds_leaked);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

/* Every reason at once, in a fixed order, joined by "; ". */
Test(judge, all_reasons)
{
	init_report(2, 50);
	rep.exit.bytes[LC_DEFINITE] = 64;
	rep.exit.bytes[LC_INDIRECT] = 336;
	set_round(0, 200, 20000, 1);
	set_round(1, 200, 20000, 1);
	lc__judge(&rep);
	cr_expect(rep.procs[0].retained);
	cr_expect(rep.procs[0].fds_leaked);
	expect_verdict(LC_LEAK, "400 bytes lost at exit (64 definite, 336 indirect); "
		       "4.00 blocks (400.0 bytes) retained per connection while running; "
		       "open fds grew in every round");
}

Test(judge, two_reasons)
{
	init_report(2, 50);
	rep.exit.bytes[LC_DEFINITE] = 64;
	set_round(0, 0, 0, 1);
	set_round(1, 0, 0, 1);
	lc__judge(&rep);
	expect_verdict(LC_LEAK, "64 bytes lost at exit (64 definite, 0 indirect); "
		       "open fds grew in every round");
}

/* An error verdict is final: its reason was set where the run failed, nothing is computed. */
Test(judge, error_is_kept)
{
	init_report(3, 100);
	rep.verdict = LC_ERROR;
	strcpy(rep.reason, "the server exited before it was ready");
	rep.exit.bytes[LC_DEFINITE] = 576;
	for (size_t i = 0; i < 3; i++)
		set_round(i, 300, 36800, 1);
	lc__judge(&rep);
	expect_verdict(LC_ERROR, "the server exited before it was ready");
	cr_expect_not(rep.procs[0].retained);
	cr_expect_not(rep.procs[0].fds_leaked);
	cr_expect_eq(rep.procs[0].blocks_per_cycle, 0.0);
}

/* A stale verdict from a previous judgement is replaced, not kept. */
Test(judge, rejudge_replaces_leak)
{
	init_report(3, 100);
	rep.verdict = LC_LEAK;
	strcpy(rep.reason, "stale");
	lc__judge(&rep);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

/* Extra rounds (the baseline is not settled): only a failing start before growing rounds. */
static unsigned extra(long r1, long r2, long r3, long b1, long b2, long b3)
{
	struct lc_round r[3] = { { .dblocks = r1, .dbytes = b1 }, { .dblocks = r2, .dbytes = b2 }, { .dblocks = r3, .dbytes = b3 } };
	return lc__extra_rounds(r, 3, 100);
}

Test(extra, a_failing_start_before_growth)
{
	cr_expect_eq(extra(-103, -100, 50, -3000, -3000, 3200), 2, "blocks: two rounds to replace");
	cr_expect_eq(extra(-60, 50, 50, 0, 0, 0), 1, "blocks: one round");
	cr_expect_eq(extra(0, 0, 0, -20000, 6400, 6400), 1, "bytes, by their floor of 1 B per connection");
}

Test(extra, nothing_to_add)
{
	cr_expect_eq(extra(0, 0, 0, 0, 0, 0), 0, "flat");
	cr_expect_eq(extra(4, 0, 0, 16, 0, 0), 0, "one-time growth at the start");
	cr_expect_eq(extra(0, 3, 0, 0, 552, 0), 0, "growth in the middle only");
	cr_expect_eq(extra(50, 50, 50, 3200, 3200, 3200), 0, "every round grew: judged as it is");
	cr_expect_eq(extra(0, 0, 0, 0, 50, 99), 0, "bytes under the floor (100 per round) are no growth");
}

/* Warm-up or a slow leak (a few blocks a round): more rounds until one stays flat or the rate
 * holds. The rounds are blocks; bytes follow at 16 B a block, under the floor of 200. */
static bool warming(const long *blocks, size_t total)
{
	struct lc_round r[16];
	for (size_t i = 0; i < total; i++)
		r[i] = (struct lc_round){ .dblocks = blocks[i], .dbytes = 16 * blocks[i] };
	return lc__warming(r, total, 3, 200, 200);
}

Test(warm_up, small_growth_is_measured_more)
{
	cr_expect(warming((long[]){ 4, 2, 1 }, 3), "memcached's evmap: +4 +2 +1");
	cr_expect(warming((long[]){ 7, 1, 2 }, 3), "+7 +1 +2: the rate fell");
	cr_expect(warming((long[]){ 2, 2, 2 }, 3), "a slow leak and a slow warm-up look alike in 3 rounds");
	cr_expect(warming((long[]){ 7, 1, 2, 1, 1 }, 5), "2 more rounds: still growing, the rate not held yet");
}

Test(warm_up, decided)
{
	cr_expect_not(warming((long[]){ 7, 1, 2, 1, 0 }, 5), "a round stayed flat: warm-up");
	cr_expect_not(warming((long[]){ 2, 2, 2, 2, 2, 2 }, 6), "3 more rounds at the same rate: a leak");
	cr_expect_not(warming((long[]){ 3, 1, 2, 2, 3, 2 }, 6), "the rate held (7 then 7)");
	cr_expect_not(warming((long[]){ 60, 55, 50 }, 3), "a block for every four connections: not a few");
	cr_expect_not(warming((long[]){ 0, 2, 1 }, 3), "not every round grew: judged as it is");
}

/* ---- the native engine: memory in pages, a floor from noise, rounds that must agree ---- */

static void native_rounds(long b1, long b2, long b3)
{
	init_report(3, 500);
	rep.engine = LC_ENGINE_NATIVE;
	rep.measure = rep.procs[0].measure = LC_MEASURE_PAGES; /* the rules follow the measure, not the engine */
	rep.bytes_floor = 4096;
	set_round(0, 0, b1, 0);
	set_round(1, 0, b2, 0);
	set_round(2, 0, b3, 0);
	lc__judge(&rep);
}

Test(native, a_steady_leak)
{
	native_rounds(413696, 417792, 413696); /* global_list/leaky natively */
	expect_verdict(LC_LEAK, "anonymous memory grew in every round (830.1 bytes per connection, above the noise "
				"floor of 4096 bytes per round)");
}

Test(native, uneven_growth_is_noise)
{
	native_rounds(73728, 4096, 12288); /* a clean Python server, seen once */
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
	native_rounds(4096, 8192, 4096); /* a small leak, in pages: the smallest equals the spread */
	cr_expect_eq(rep.verdict, LC_LEAK, "%s", rep.reason);
}

Test(native, below_the_floor)
{
	native_rounds(4095, 4095, 4095);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
	cr_expect_eq(lc_detection_limit(&rep), 4096.0 / 500, "the floor over a round's connections");
}

Test(native, threads_and_the_servers_counter)
{
	init_report(3, 100);
	for (size_t i = 0; i < 3; i++) {
		rep.procs[0].rounds[i].dthreads = 100;
		rep.procs[0].rounds[i].dobjects = 100;
	}
	lc__judge(&rep);
	expect_verdict(LC_LEAK, "the server's own counter (--stats) grew in every round (1.00 per connection); "
				"threads grew in every round: a thread outlives its connection");
	rep.procs[0].rounds[1].dthreads = 0;
	rep.procs[0].rounds[1].dobjects = 0;
	lc__judge(&rep);
	expect_verdict(LC_CLEAN, "no leak at exit, no growth while running");
}

Test(native, steady)
{
	long a[] = { 10, 10, 10 }, b[] = { 10, 5, 10 }, c[] = { 10, 4, 10 }, d[] = { -1, 5, 5 };
	cr_expect(lc_steady(a, 3));
	cr_expect(lc_steady(b, 3), "the smallest equals the spread");
	cr_expect_not(lc_steady(c, 3));
	cr_expect_not(lc_steady(d, 3));
	cr_expect_not(lc_steady(a, 0), "no rounds");
}

/* Natively, rounds that all grew but disagree are measured again (lc__uneven_rounds). */
static unsigned uneven(long b1, long b2, long b3, long B1, long B2, long B3)
{
	struct lc_round r[3] = { { .dblocks = b1, .dbytes = B1 }, { .dblocks = b2, .dbytes = B2 },
				 { .dblocks = b3, .dbytes = B3 } };
	return lc__uneven_rounds(r, 3, 500);
}

Test(native, uneven_rounds_are_measured_again)
{
	cr_expect_eq(uneven(402, 133, 305, 30584, 7623, 22140), 3, "a collector's pending cycles (fixed.py)");
	cr_expect_eq(uneven(0, 0, 0, 65536, 176128, 176128), 3, "first use forgiven at a leak's start (pages)");
	cr_expect_eq(uneven(3044, 3856, 2866, 289736, 343403, 275202), 0, "the leaky twin: steady, judged as it is");
	cr_expect_eq(uneven(1500, 1500, 1500, 184000, 184000, 184000), 0, "a C leak: exact");
	cr_expect_eq(uneven(0, 0, 0, 176128, 176128, 176128), 0, "bytes only, steady: judged as it is");
	cr_expect_eq(uneven(402, -133, 305, 30584, -7623, 22140), 0, "not every round grew: clean as it is");
}

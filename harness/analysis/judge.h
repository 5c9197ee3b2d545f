/* The decision rules (judge.c) and known leaks (baseline.c): what run/ calls to reach the
 * verdict, and the tests and the bench check. Private to the library (leakcheck_internal); the
 * figures a report reader wants (lc_bytes_floor, lc_detection_limit, lc_steady) are public. */
#ifndef LC_JUDGE_H
#define LC_JUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "lc/leakcheck.h"

bool lc__grows_every_round(const long *deltas, size_t n);   /* CPython regrtest -R rule */
/* Every delta >= floor (floor >= 1). */
bool lc__grows_every_round_by(const long *deltas, size_t n, long floor);
/* Rounds to measure more (0 to n - 1) when the last rounds grew and the first did not, as
 * when frees are pending at the unsettled baseline: the last n are then judged. */
unsigned lc__extra_rounds(const struct lc_round *r, size_t n, unsigned long bytes_floor);
/* Warm-up grows less as it goes and stops (a table sized by the highest fd seen, a pool that
 * fills, one entry per thread and fd: +7 +1 +2 blocks, then flat); a leak keeps its rate. Growth
 * of a few blocks a round (under one block for four connections) cannot tell them apart in n
 * rounds: lc_run measures more, up to LC_MAX_DECAY_ROUNDS, while this says undecided: r[0..n)
 * the first rounds, r[n..total) those measured more; decided once one of the last n rounds
 * stays flat (warm-up) or the rounds measured more (n at least) keep the first n's rate. The
 * last n rounds are then judged as usual. */
bool lc__warming(const struct lc_round *r, size_t total, size_t n, unsigned per_round, unsigned long bytes_floor);
#define LC_MAX_DECAY_ROUNDS 8
/* lc__warming for one process of rep, n its first rounds; never for memory in pages. */
bool lc__proc_warming(const struct lc_proc_result *p, const struct lc_report *rep, size_t n);
/* Natively (allocator, pages): rounds to measure more (n, or 0) when every round grew but
 * unevenly, in blocks and in bytes (lc_steady), as a garbage collector's pending cycles make
 * them, or first use forgiven at the start of a leak (pages). */
unsigned lc__uneven_rounds(const struct lc_round *r, size_t n, unsigned long bytes_floor);
/* Judges one process's rounds by rep's rules (its connections per round, byte floor, engine):
 * sets retained, bytes_grew, fds_leaked, threads_leaked, objects_grew and the means. */
void lc__judge_proc(struct lc_proc_result *p, const struct lc_report *rep);
/* Whether p, judged (lc__judge_proc) on its rounds alone, leaks only by growth so small per
 * connection that a cache filling could be it: every rule that flagged it is under one unit
 * (block, fd, thread, object) a connection, or bytes grew with a flat block count; per_round
 * its connections a round. */
bool lc__confirm_needed(const struct lc_proc_result *p, unsigned per_round);
/* Whether p's confirming round must be measured again: in a rule that flagged p its second
 * half grew, but less than 9/10 of its first (a cache still filling falls off further, a leak
 * beside one keeps the rate it ends with). Judges p as lc__judge_proc does. */
bool lc__confirm_again(struct lc_proc_result *p, const struct lc_report *rep);
/* The byte rule's floor per round for memory measured in m: one byte per connection for the
 * heap and the allocator, the noise floor (at least that) for pages. */
unsigned long lc__measure_floor(const struct lc_report *rep, enum lc_measure m);
void lc__judge(struct lc_report *rep);                      /* sets verdict and reason */
/* Whether a loss at exit would be one-time: the judged processes' rounds (memcheck's heap)
 * never grew lost memory, and there were rounds. */
bool lc__lost_one_time(const struct lc_report *rep);

/* Known leaks (baseline.c): write today's growing sites per connection; apply a file: a LEAK
 * verdict whose only cause is growth at known sites, no faster than recorded, becomes clean. */
int lc__baseline_write(const char *path, const struct lc_report *rep, const struct lc_options *o);
int lc__baseline_apply(const char *path, struct lc_report *rep, const struct lc_options *o, char *err, size_t errlen);

#endif

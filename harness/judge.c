/* The verdict: pure functions over measured numbers, unit-tested in tests/test_judge.c. */
#include <stdio.h>
#include <string.h>

#include "lc/leakcheck.h"

/* CPython's regrtest -R settled on this: a leak only if *every* round grew. One-time growth
 * (a cache filling up, a lazily allocated table) shows in one round and not in the others. */
bool lc_grows_every_round(const long *deltas, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (deltas[i] < 1)
			return false;
	return true;
}

static void judge_running(struct lc_report *rep)
{
	long blocks[LC_MAX_ROUNDS], fds[LC_MAX_ROUNDS], total_blocks = 0, total_bytes = 0;
	for (size_t i = 0; i < rep->nrounds; i++) {
		blocks[i] = rep->rounds[i].dblocks;
		fds[i] = rep->rounds[i].dfds;
		total_blocks += rep->rounds[i].dblocks;
		total_bytes += rep->rounds[i].dbytes;
	}
	double cycles = (double)rep->nrounds * rep->per_round;
	rep->blocks_per_cycle = cycles > 0 ? total_blocks / cycles : 0;
	rep->bytes_per_cycle = cycles > 0 ? total_bytes / cycles : 0;
	rep->retained = lc_grows_every_round(blocks, rep->nrounds);
	rep->fds_leaked = lc_grows_every_round(fds, rep->nrounds);
}

void lc_judge(struct lc_report *rep)
{
	if (rep->verdict == LC_ERROR)
		return; /* the reason was set where it failed */
	judge_running(rep);
	unsigned long lost = rep->exit.bytes[VG_DEFINITE] + rep->exit.bytes[VG_INDIRECT];
	char why[3][160];
	int n = 0;
	if (lost > 0)
		snprintf(why[n++], sizeof why[0], "%lu bytes lost at exit (%lu definite, %lu indirect)",
			 lost, rep->exit.bytes[VG_DEFINITE], rep->exit.bytes[VG_INDIRECT]);
	if (rep->retained)
		snprintf(why[n++], sizeof why[0], "%.2f blocks (%.1f bytes) retained per cycle while running",
			 rep->blocks_per_cycle, rep->bytes_per_cycle);
	if (rep->fds_leaked)
		snprintf(why[n++], sizeof why[0], "open fds grew in every round");
	rep->verdict = n ? LC_LEAK : LC_CLEAN;
	if (n == 0)
		snprintf(rep->reason, sizeof rep->reason, "no leak at exit, no growth while running");
	else
		snprintf(rep->reason, sizeof rep->reason, "%s%s%s%s%s", why[0], n > 1 ? "; " : "",
			 n > 1 ? why[1] : "", n > 2 ? "; " : "", n > 2 ? why[2] : "");
}

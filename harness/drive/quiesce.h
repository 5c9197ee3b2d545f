/* Step 1 of a snapshot's quiescence (see the top of harness/run/run.c): wait until the server has
 * closed every connection of the round. */
#ifndef LC_QUIESCE_H
#define LC_QUIESCE_H

#include <stdbool.h>
#include <stddef.h>

#define LC_MAX_IDLE 256

struct lc_quiesce {
	unsigned long idle[LC_MAX_IDLE]; /* the server's socket inodes with no connection of ours
	                                  * open: its listeners and other sockets of its own */
	long nidle;                      /* how many; -1: not known yet, or too many */
};

void lc__quiesce_init(struct lc_quiesce *q);
/* Records the sockets the processes pids hold now as their idle ones. */
void lc__quiesce_record(struct lc_quiesce *q, const int *pids, size_t n);
/* Waits until the server (pids, listening on port) has closed every connection; replies: every
 * connection got a reply, so the server accepted it. Gives up once the count of unclosed ones
 * has not moved for a quarter second, or at timeout. Then records the idle sockets again.
 * Returns how many were left unclosed (0: all closed; -1: unreadable). */
int lc__quiesce_wait(struct lc_quiesce *q, unsigned port, const int *pids, size_t n, bool replies, double timeout);

#endif

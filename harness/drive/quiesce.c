/* The wait for a round's connections to be closed: see quiesce.h.
 *
 * Once the server's idle sockets are known, and every connection got a reply (so the server
 * accepted it: none waits in its accept queue), the connections it has yet to close are the
 * socket fds it holds beyond them: no TCP table is read. A dump of the tables walks every
 * bucket of the kernel's hash (~20 ms here with thousands of TIME_WAIT sockets): it was the
 * largest cost of a snapshot, for what /proc/PID/fd tells in ~0.1 ms. Otherwise (no idle set
 * yet, a script that expects no reply) the TCP tables are read (lc__sockets_pending). */
#include "drive/quiesce.h"

#include "drive/net.h"
#include "drive/proc.h"

void lc__quiesce_init(struct lc_quiesce *q)
{
	q->nidle = -1;
}

/* An inode of a connection still closing that slips in does no harm: socket inodes are not
 * reused, so it only ever matches itself. */
void lc__quiesce_record(struct lc_quiesce *q, const int *pids, size_t n)
{
	size_t k = lc__socket_inodes(pids, n, q->idle, LC_MAX_IDLE);
	q->nidle = n == 0 || k > LC_MAX_IDLE ? -1 : (long)k; /* no process known: nothing to record */
}

/* Socket fds the server holds beyond its idle set: connections it has yet to close. */
static int held_beyond_idle(const struct lc_quiesce *q, const int *pids, size_t n)
{
	unsigned long cur[LC_MAX_IDLE];
	size_t k = lc__socket_inodes(pids, n, cur, LC_MAX_IDLE);
	int extra = 0;
	for (size_t i = 0; i < k && i < LC_MAX_IDLE; i++) {
		bool idle = false;
		for (long j = 0; j < q->nidle && !idle; j++)
			idle = q->idle[j] == cur[i];
		extra += !idle;
	}
	return k > LC_MAX_IDLE ? LC_MAX_IDLE : extra;
}

/* A server that never closes some connections (an fd leak) would hold us to the timeout at
 * every snapshot, so give up once the count has not moved for a quarter second. */
int lc__quiesce_wait(struct lc_quiesce *q, unsigned port, const int *pids, size_t n, bool replies, double timeout)
{
	int left, last = -1;
	double deadline = lc__now() + timeout, moved = lc__now();
	bool by_fds = q->nidle >= 0 && replies;
	while ((left = by_fds ? held_beyond_idle(q, pids, n) : lc__sockets_pending(port, pids, n)) > 0 &&
	       !lc__cancelled()) {
		if (left != last)
			moved = lc__now();
		last = left;
		if (lc__now() - moved > 0.25 || lc__now() >= deadline)
			break;
		lc__sleep_ms(2);
	}
	lc__quiesce_record(q, pids, n);
	return left;
}

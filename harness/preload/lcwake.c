/* liblcwake.so: the memcheck engine's ticker. LD_PRELOADed into the server under valgrind (and,
 * LD_PRELOAD being inherited, into every process it execs), it starts one thread, "lc-wake",
 * that sleeps 10 ms and then runs a few hundred basic blocks, for ever.
 *
 * Why: vgdb reaches valgrind's gdbserver only once the process has run --vgdb-poll basic blocks
 * (valgrind/FACTS.md). An idle server runs none: every thread sleeps in a system call. vgdb's
 * ptrace invoker corrupts a blocked call's result in a multi-threaded process, a signal is
 * restarted by valgrind without running client code, and a connection opened to wake the server
 * is served: its session sat in the snapshot and it counted as a connection of the round
 * (redis: 141.9 B per connection measured for a 26 B leak). This thread runs code of its own
 * instead, and nothing of the server's: no connection, no allocation after it starts.
 *
 * Rules it keeps:
 *  1. it does nothing outside valgrind (RUNNING_ON_VALGRIND), so a program run natively by a
 *     process under test is untouched;
 *  2. it blocks every signal, so a signal meant for the server (a SIGTERM the server takes
 *     with sigwait() in one thread) is never delivered to it;
 *  3. it never allocates after pthread_create: what it holds is the same at every snapshot;
 *  4. a forked child gets a ticker of its own (pthread_atfork), as fork() copies only the
 *     thread that called it; a child made by a raw clone() has none, and is woken by ptrace
 *     as a single-threaded process is (engines/memcheck.c).
 * The harness finds the thread by its name (LC_WAKE_THREAD in /proc/PID/task/TID/comm) and
 * leaves it out of the server's thread counts. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>
#include <valgrind/valgrind.h>

#include "preload/lcwake.h"

#define TICK_NS 10000000L /* 10 ms: a snapshot waits at most this long for gdbserver */
#define TICK_CALLS 200    /* each a call and a return: >= 400 blocks, past --vgdb-poll=50 */

__attribute__((noinline)) static void tick_block(void)
{
	__asm__ volatile("" ::: "memory"); /* a function of its own: VEX cannot fold the loop away */
}

/* Through a volatile pointer: every call is an indirect jump, so it ends a superblock. */
static void (*volatile tick_fn)(void) = tick_block;

static void *tick(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, LC_WAKE_THREAD, 0, 0, 0);
	for (;;) {
		struct timespec ts = { 0, TICK_NS };
		nanosleep(&ts, NULL);
		for (int i = 0; i < TICK_CALLS; i++)
			tick_fn();
	}
	return NULL;
}

/* Rule 2: the thread starts with every signal blocked (it inherits the mask it is made with). */
static void tick_start(void)
{
	sigset_t all, was;
	pthread_attr_t attr;
	pthread_t t;
	if (pthread_attr_init(&attr) != 0) /* under valgrind: only lcwake_init arms it */
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &was);
	pthread_create(&t, &attr, tick, NULL);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	pthread_attr_destroy(&attr);
}

__attribute__((constructor)) static void lcwake_init(void)
{
	if (!RUNNING_ON_VALGRIND)
		return;
	pthread_atfork(NULL, NULL, tick_start); /* rule 4 */
	tick_start();
}

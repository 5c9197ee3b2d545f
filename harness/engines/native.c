/* The native engine: the server runs as it is (no valgrind), and each snapshot reads what the
 * kernel knows of its processes: anonymous memory (Anonymous + Swap of /proc/PID/smaps_rollup:
 * heap, stacks, anonymous mappings, where a leak grows; not RSS, which library pages move, and
 * not USS, which a forked child's copy-on-write sharing hides), open fds and threads.
 *
 * Its limits, which the report states: memory moves in pages and an allocator keeps freed
 * memory for reuse, so growth below the noise floor (at least a page per round) cannot be
 * seen; the detection limit is that floor over the connections of a round. See engine.h. */
#include "engines/native.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/engine.h"
#include "drive/net.h"
#include "drive/proc.h"

/* The "Name:   N kB" field of a smaps_rollup text, in bytes; -1 if absent. */
static long field_kb(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			return strtol(p + n + 1, NULL, 10) * 1024;
	return -1;
}

/* Anonymous memory: heap, stacks, anonymous mappings, where a leak grows; not file pages
 * (library code touched late moves RSS and USS alike), and swapped-out anonymous pages count.
 * Not USS either: a forked child shares its parent's heap copy-on-write, so while the probe's
 * child lives (a child per connection) the parent's leaked pages are not private: a parent
 * leaking 96 B per connection shows +0 USS in every round (tests/shapes forkper --leak). */
static long anon(int pid)
{
	char path[64], text[2048];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	errno = 0;
	if (lc_read_file(path, text, sizeof text) == 0)
		return -1;
	long bytes = field_kb(text, "Anonymous"), swap = field_kb(text, "Swap");
	if (bytes < 0)
		return -1;
	return bytes + (swap > 0 ? swap : 0);
}

int lc_native_measure(int pid, struct lc_snapshot *snap, char *err, size_t errlen)
{
	long bytes = anon(pid);
	memset(snap, 0, sizeof *snap);
	snap->objects = -1;
	if (bytes < 0) {
		snprintf(err, errlen, "cannot read /proc/%d/smaps_rollup: %s", pid,
			 errno ? strerror(errno) : "the process is gone");
		return -1;
	}
	snap->bytes[LC_REACHABLE] = (unsigned long)bytes;
	snap->fds = lc_count_fds(pid);
	snap->threads = lc_count_threads(pid);
	return 0;
}

long lc_native_noise(int pid, int n, int gap_ms)
{
	long lo = -1, hi = -1;
	for (int i = 0; i < n; i++) {
		long b = anon(pid);
		if (b < 0)
			return -1;
		lo = lo < 0 || b < lo ? b : lo;
		hi = b > hi ? b : hi;
		if (i + 1 < n)
			lc_sleep_ms(gap_ms);
	}
	return hi - lo;
}

/* The floor: twice the largest idle spread, and never below a page, the unit memory moves in.
 * The detection limit is this floor over a round's connections. */
unsigned long lc_native_floor(const int *pids, size_t n, unsigned long *noise)
{
	long most = 0, page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < n; i++) {
		long spread = lc_native_noise(pids[i], 5, 5);
		most = spread > most ? spread : most;
	}
	*noise = (unsigned long)most;
	return (unsigned long)(2 * most > page ? 2 * most : page);
}

static int nat_check(const struct lc_options *o, char *err, size_t errlen)
{
	if (!o->suppressions && !o->write_suppressions && !o->trace_skip)
		return 0;
	snprintf(err, errlen, "--suppressions, --write-suppressions and --trace-children-skip are for the memcheck "
		 "engine, not --native");
	return -1;
}

static int nat_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen)
{
	(void)e, (void)o, (void)dir, (void)err, (void)errlen;
	return 0;
}

static char **nat_argv(struct lc_engine *e, char *const server[])
{
	(void)e;
	size_t n = 0;
	while (server[n])
		n++;
	char **argv = calloc(n + 1, sizeof *argv);
	for (size_t i = 0; argv && i < n; i++)
		argv[i] = server[i];
	return argv;
}

static bool nat_traced(struct lc_engine *e, int pid)
{
	(void)e, (void)pid;
	return true; /* every process of the tree */
}

static void nat_nothing(struct lc_engine *e)
{
	(void)e;
}

static void nat_slot(struct lc_engine *e, size_t i)
{
	(void)e, (void)i;
}

static int nat_snapshot(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *s, char *err, size_t errlen)
{
	(void)full; /* natively there are no loss records */
	return lc_native_measure(e->procs[i].pid, s, err, errlen);
}

static int nat_resume(struct lc_engine *e, size_t i, char *err, size_t errlen)
{
	(void)e, (void)i, (void)err, (void)errlen;
	return 0; /* never halted */
}

/* The byte rule's floor, from the noise of the processes measured at the baseline. */
static void nat_baseline(struct lc_engine *e, struct lc_report *rep)
{
	int pids[LC_MAX_PROCS];
	rep->bytes_floor = lc_native_floor(pids, lc_engine_pids(e, pids, LC_MAX_PROCS), &rep->noise);
}

/* No exit report natively: what is freed at exit proves nothing anyway. */
static int nat_exit_report(struct lc_engine *e, struct lc_report *rep, char *err, size_t errlen)
{
	(void)e, (void)rep, (void)err, (void)errlen;
	return 0;
}

static void nat_describe(const struct lc_engine *e, char *buf, size_t len)
{
	(void)e;
	snprintf(buf, len, "native: Anonymous from /proc/PID/smaps_rollup, /proc/PID/fd and /proc/PID/task");
}

static void nat_unmeasured(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len)
{
	(void)e;
	snprintf(buf, len, "connections are served by pid %d (%s), which is not a process of the server "
		 "(a proxy, a server started by a service manager): nothing that serves them can be measured",
		 pid, exe);
}

static void nat_lost(const struct lc_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "pid %d cannot be read in /proc any more", e->root);
}

const struct lc_engine_ops lc_native_ops = {
	.name = "native",
	.check = nat_check,
	.open = nat_open,
	.argv = nat_argv,
	.traced = nat_traced,
	.check_proc = nat_slot,
	.forks = nat_nothing,
	.gone = nat_slot,
	.snapshot = nat_snapshot,
	.command = NULL,
	.resume = nat_resume,
	.baseline = nat_baseline,
	.detach = nat_nothing,
	.exit_report = nat_exit_report,
	.describe = nat_describe,
	.unmeasured = nat_unmeasured,
	.lost = nat_lost,
	.close = nat_nothing,
};

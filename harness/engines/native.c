/* The native engine's measurements: see include/lc/native.h. */
#include "lc/native.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc/net.h"
#include "lc/proc.h"

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
 * child lives (a child per connection) the parent's leaked pages are not private (seen here:
 * a parent leaking 96 B per connection showed +0 USS in every round). */
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

int nat_measure(int pid, struct lc_snapshot *snap, char *err, size_t errlen)
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

long nat_noise(int pid, int n, int gap_ms)
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

int nat_stats(int fd, const char *req, size_t len, const char *field, double timeout, long *value, char *err,
	      size_t errlen)
{
	regex_t re;
	regmatch_t m[2];
	char buf[4096];
	size_t got = 0;
	int rc = -1;
	if (regcomp(&re, field, REG_EXTENDED | REG_NEWLINE) != 0) {
		snprintf(err, errlen, "bad --stats-field regex: %s", field);
		return -1;
	}
	double deadline = lc_now() + timeout;
	if (lc_send_all(fd, req, len, timeout) < 0) {
		snprintf(err, errlen, "cannot send --stats: %s", strerror(errno));
		goto out;
	}
	while (got < sizeof buf - 1) {
		double left = deadline - lc_now();
		long n = left > 0 ? lc_recv_until(fd, buf + got, sizeof buf - 1 - got, "\n", 1, left) : -1;
		if (n <= 0) {
			snprintf(err, errlen, "no line matching --stats-field '%s' in the reply to --stats (%s)", field,
				 n == 0 ? "the server closed the connection" : "timeout");
			goto out;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (regexec(&re, buf, 2, m, 0) == 0 && m[1].rm_so >= 0) {
			*value = strtol(buf + m[1].rm_so, NULL, 10);
			rc = 0;
			goto out;
		}
	}
	snprintf(err, errlen, "no line matching --stats-field '%s' in 4 KiB of reply to --stats", field);
out:
	regfree(&re);
	return rc;
}

/* The floor: twice the largest idle spread, and never below a page, the unit memory moves in.
 * The detection limit is this floor over a round's connections. */
unsigned long nat_floor(const int *pids, size_t n, unsigned long *noise)
{
	long most = 0, page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < n; i++) {
		long spread = nat_noise(pids[i], 5, 5);
		most = spread > most ? spread : most;
	}
	*noise = (unsigned long)most;
	return (unsigned long)(2 * most > page ? 2 * most : page);
}

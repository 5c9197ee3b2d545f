/* Adversarial clients against every fixed case variant (LC_FIXED_VARIANTS, from CMake).
 *
 * Each variant runs under valgrind (text log) and gets, one after the other: a reset storm,
 * garbage and NUL bytes, lines at and over SERVER_LINE_MAX, bytes without a newline then a
 * close, half-closed sockets, 200 connections at once, slow senders, and a client that never
 * reads its replies. Afterwards one connection's STATS must equal the baseline taken on the
 * first connection (open=1, the case's objects back to one connection's worth), SIGTERM must
 * give exit status 0, and valgrind must say "All heap blocks were freed" and "0 errors".
 * A positive control runs the same STATS check on the leaky twins (natively): it must differ. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "rt/server.h"
#include "support.h"

#define WAIT 5.0   /* every wait on the server */

struct variant {
	char rel[96];   /* "cases/<pattern>/<variant>", inline: params cross into the worker */
};

static const char *vname;   /* for assertion messages */

TestSuite(adversary, .timeout = 30);

static int conn(unsigned port)
{
	int fd = lc__connect(port, WAIT);
	cr_assert_geq(fd, 0, "%s: connect: %s", vname, strerror(errno));
	return fd;
}

/* Send, then read until expect; returns the bytes read in a static buffer (NUL-terminated). */
static const char *ask(int fd, const void *data, size_t len, const char *expect, size_t *got)
{
	static char buf[1 << 16];
	cr_assert_eq(lc__send_all(fd, data, len, WAIT), 0, "%s: send: %s", vname, strerror(errno));
	long n = lc__recv_until(fd, buf, sizeof buf - 1, expect, strlen(expect), WAIT);
	cr_assert_gt(n, 0, "%s: no reply containing '%.30s': %s", vname, expect, n < 0 ? strerror(errno) : "EOF");
	buf[n] = '\0';
	cr_assert_not_null(memmem(buf, (size_t)n, expect, strlen(expect)), "%s: want '%.30s', got '%.60s'", vname,
			   expect, buf);
	if (got)
		*got = (size_t)n;
	return buf;
}

static char *stats(unsigned port)
{
	int fd = conn(port);
	char *s = strdup(ask(fd, "STATS\n", 6, "\n", NULL));
	close(fd);
	return s;
}

/* ---- the attacks, each bounded by WAIT per call ---- */

static void reset_storm(unsigned port)
{
	for (int i = 0; i < 100; i++) {
		int fd = conn(port);
		if (i % 3 == 1)
			lc__send_all(fd, "ping\n", 5, WAIT);          /* unread request, then RST */
		else if (i % 3 == 2)
			ask(fd, "ping\n", 5, "ping\n", NULL);        /* answered, then RST */
		lc__close_reset(fd);
	}
}

static void garbage(unsigned port)
{
	static char junk[4096];
	unsigned x = 12345;
	int fd = conn(port);
	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (char)(x >> 16);
		if (junk[i] == 'Q' || junk[i] == 'S') /* never a QUIT or STATS line by chance */
			junk[i] = '?';
		if (i % 97 == 0)
			junk[i] = '\n';
		if (i % 89 == 0)
			junk[i] = '\0';
	}
	lc__send_all(fd, junk, sizeof junk, WAIT);
	ask(fd, "\nend-of-junk\n", 13, "end-of-junk\n", NULL);
	size_t n;
	const char *r = ask(fd, "a\0b\r\n", 5, "b\n", &n);
	cr_assert(n == 4 && memcmp(r, "a\0b\n", 4) == 0, "%s: NUL line not echoed as is", vname);
	close(fd);
}

static void long_lines(unsigned port)
{
	static char big[100000];
	int fd = conn(port);
	memset(big, 'x', sizeof big);
	big[SERVER_LINE_MAX - 1] = '\n';                   /* the longest line accepted */
	size_t n;
	ask(fd, big, SERVER_LINE_MAX, "\n", &n);
	cr_assert_eq(n, SERVER_LINE_MAX, "%s: the longest line was not echoed whole", vname);
	big[SERVER_LINE_MAX - 1] = 'x';
	big[SERVER_LINE_MAX] = '\n';                       /* one byte more */
	ask(fd, big, SERVER_LINE_MAX + 1, "ERR line too long\n", NULL);
	big[SERVER_LINE_MAX] = 'x';
	big[sizeof big - 1] = '\n';
	ask(fd, big, sizeof big, "ERR line too long\n", NULL);
	ask(fd, "ok\n", 3, "ok\n", NULL);                  /* recovered */
	lc__send_all(fd, big, sizeof big - 1, WAIT);        /* a long line, unfinished at close */
	close(fd);
}

static void no_newline_then_close(unsigned port)
{
	for (int i = 0; i < 20; i++) {
		int fd = conn(port);
		lc__send_all(fd, "partial line", 12, WAIT);
		if (i % 2)
			lc__close_reset(fd);
		else
			close(fd);
	}
}

/* Everything up to EOF, in a static buffer. */
static const char *read_to_eof(int fd)
{
	static char buf[4096];
	size_t got = 0;
	double deadline = lc__now() + WAIT;
	for (;;) {
		cr_assert_lt(lc__now(), deadline, "%s: no EOF after a half-close", vname);
		long n = lc__recv_until(fd, buf + got, sizeof buf - 1 - got, "", 0, deadline - lc__now());
		cr_assert_geq(n, 0, "%s: half-close read: %s", vname, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return buf;
}

static void half_close(unsigned port)
{
	for (int i = 0; i < 10; i++) {
		int fd = conn(port);
		cr_assert_eq(lc__send_all(fd, "hello\n", 6, WAIT), 0);
		cr_assert_eq(shutdown(fd, SHUT_WR), 0);
		cr_assert_str_eq(read_to_eof(fd), "hello\n", "%s: reply to a half-closed request", vname);
		close(fd);
	}
}

static void many_at_once(unsigned port)
{
	enum { N = 200 };
	static int fds[N];
	char line[32];
	for (int i = 0; i < N; i++)
		fds[i] = conn(port);
	for (int i = 0; i < N; i++) {
		int len = snprintf(line, sizeof line, "c%d\n", i);
		ask(fds[i], line, (size_t)len, line, NULL);
	}
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			close(fds[i]);
		} else if (i % 3 == 1) {
			lc__close_reset(fds[i]);
		} else {
			lc__send_all(fds[i], "QUIT\n", 5, WAIT);
			cr_assert_eq(lc__wait_eof(fds[i], WAIT), 0, "%s: QUIT", vname);
			close(fds[i]);
		}
	}
}

/* Three clients send a line one byte at a time, interleaved; one more leaves mid-line. */
static void slow_senders(unsigned port)
{
	static const char line[] = "slowly\n";
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = conn(port);
	for (size_t b = 0; b < sizeof line - 1; b++) {
		for (int i = 0; i < 4; i++)
			if (i < 3 || b < 3)
				lc__send_all(fds[i], line + b, 1, WAIT);
		lc__sleep_ms(5);
	}
	close(fds[3]);
	for (int i = 0; i < 3; i++) {
		ask(fds[i], "", 0, line, NULL);
		close(fds[i]);
	}
}

/* Lines sent, replies never read: the server drops the client past SERVER_OUT_MAX. */
static void never_reads(unsigned port)
{
	static char lines[1 << 20];
	int fd = conn(port), small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	for (size_t i = 0; i < sizeof lines; i += 2)
		memcpy(lines + i, "x\n", 2);
	for (int i = 0; i < 2; i++)
		if (lc__send_all(fd, lines, sizeof lines, WAIT) < 0)
			break; /* dropped: EPIPE/ECONNRESET, or no room left in WAIT */
	lc__close_reset(fd);
}

/* ---- the check ---- */

/* Once every close is handled (the harness's quiescence rule), STATS equals the baseline. */
static void assert_back_to(unsigned port, const char *baseline)
{
	double deadline = lc__now() + WAIT;
	while (lc__server_pending(port) > 0 && lc__now() < deadline)
		lc__sleep_ms(5);
	char *now = stats(port);
	while (strcmp(now, baseline) != 0 && lc__now() < deadline) {
		free(now);
		lc__sleep_ms(50);
		now = stats(port);
	}
	cr_assert_str_eq(now, baseline, "%s: after the attacks, STATS is not back to its baseline", vname);
	free(now);
}

static void attack(unsigned port)
{
	reset_storm(port);
	garbage(port);
	long_lines(port);
	no_newline_then_close(port);
	half_close(port);
	many_at_once(port);
	slow_senders(port);
	never_reads(port);
}

/* "pattern/variant pattern/variant ..." into an array from alloc (cr_malloc for parameters:
 * they must outlive the generator; malloc in a test body, where cr_malloc crashes). */
static size_t fixed_variants(struct variant **out, void *(*alloc)(size_t))
{
	char list[] = LC_FIXED_VARIANTS, *save = NULL;
	size_t n = 0;
	*out = alloc(32 * sizeof **out);
	cr_assert_not_null(*out);
	for (char *w = strtok_r(list, " ", &save); w && n < 32; w = strtok_r(NULL, " ", &save))
		snprintf((*out)[n++].rel, sizeof (*out)[0].rel, "cases/%s", w);
	return n;
}

static void free_params(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(adversary, fixed_variant_survives)
{
	struct variant *v;
	size_t n = fixed_variants(&v, cr_malloc);
	return cr_make_param_array(struct variant, v, n, free_params);
}

ParameterizedTest(struct variant *v, adversary, fixed_variant_survives, .timeout = 60)
{
	struct served s;
	vname = v->rel;
	served_start(&s, v->rel, true);
	char *baseline = stats(s.port);
	cr_assert(strncmp(baseline, "STATS open=1 ", 13) == 0, "%s: baseline %s", vname, baseline);
	attack(s.port);
	assert_back_to(s.port, baseline);
	int status = served_stop(&s, 20);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status 0x%x after SIGTERM", vname, status);
	const char *log = slurp_text(s.dir, "valgrind.log");
	cr_assert(strstr(log, "All heap blocks were freed -- no leaks are possible"), "%s: valgrind said:\n%s", vname, log);
	cr_assert(strstr(log, "ERROR SUMMARY: 0 errors"), "%s: valgrind said:\n%s", vname, log);
	served_cleanup(&s);
	free(baseline);
}

/* The list is not empty, and names built binaries: a CMake slip cannot skip every variant. */
Test(adversary, every_fixed_variant_is_listed)
{
	struct variant *v;
	size_t n = fixed_variants(&v, malloc);
	cr_assert_geq(n, 3, "LC_FIXED_VARIANTS lists %zu variants: '%s'", n, LC_FIXED_VARIANTS);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(access(built(v[i].rel), X_OK), 0, "%s is not built", built(v[i].rel));
	free(v);
}

/* Positive control: the same check on each leaky twin (natively, fast) must see the leak. */
Test(adversary, stats_check_sees_the_leaky_twins)
{
	struct variant *v;
	size_t n = fixed_variants(&v, malloc), twins = 0;
	for (size_t i = 0; i < n; i++) {
		char *slash = strrchr(v[i].rel, '/');
		if (strcmp(slash, "/fixed") != 0)
			continue;
		strcpy(slash, "/leaky");
		twins++;
		struct served s;
		vname = v[i].rel;
		served_start(&s, v[i].rel, false);
		char *baseline = stats(s.port);
		reset_storm(s.port);
		many_at_once(s.port);
		char *now = stats(s.port);
		served_stop(&s, 5);
		served_cleanup(&s);
		cr_assert_str_neq(now, baseline, "%s: STATS after the attacks equals the baseline: the check is blind",
				  vname);
		free(now);
		free(baseline);
	}
	cr_assert_geq(twins, 3, "only %zu leaky twins checked", twins);
	free(v);
}

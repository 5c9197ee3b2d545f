/* vgdb monitor output reader (harness/valgrind/vgdb.c) on real answers recorded on Debian 12, valgrind
 * 3.19, gcc 12 -O0 -g (line numbers refer to the case sources as recorded).
 *
 * Fixtures (tests/fixtures/), each the stdout of one vgdb call:
 *  vgdb-global_list.txt   `build/harness/leakcheck --keep DIR --cycles 50 --rounds 2 --
 *                         build/cases/global_list/leaky`, DIR/vgdb.out: the last round's
 *                         `leak_check full reachable increased` (possibly lost, +50 per site)
 *  vgdb-mutual_refs.txt   the same for cases/mutual_refs/leaky (a definite record whose header
 *                         carries "(7,744 (+3,200) direct, 40,656 (+16,800) indirect)")
 *  vgdb-echo.txt          the same for `runtime/echo {port}`: nothing grew, summary only
 * and by hand: `valgrind --vgdb=yes --vgdb-poll=50 SERVER 0`, then connections (mutual_refs:
 * `python3 cases/drive.py PORT 10`; echo: a Python client holding 5), then `vgdb --pid=PID ...`:
 *  vgdb-first.txt         mutual_refs/leaky, the first `leak_check full reachable increased`
 *                         (lists every record: the deltas equal the totals)
 *  vgdb-summary.txt       right after it, `leak_check summary` (every delta +0)
 *  vgdb-any.txt           mutual_refs/leaky, first check `leak_check full reachable any`
 *                         (no deltas at all)
 *  vgdb-echo-open.txt     runtime/echo with 5 connections held open, the first
 *                         `leak_check full reachable increased`
 *  vgdb-echo-changed.txt  then the 5 closed, `leak_check full reachable changed`: negative
 *                         deltas "0 (-5,480) bytes in 0 (-5) blocks", "5,120 (-6,760) bytes"
 * The texts built in the tests below are marked as such. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "valgrind/vgdb.h"

static struct lc_snapshot snap;   /* one per test: each test runs in its own worker */
static char err[256];

static const struct lc_site *site(size_t i, enum lc_kind kind, unsigned long bytes,
				  unsigned long blocks, long dbytes, long dblocks)
{
	const struct lc_site *s;

	cr_assert_lt(i, snap.nsites, "site %zu of %zu", i, snap.nsites);
	s = &snap.sites[i];
	cr_expect_eq(s->rec.kind, kind, "site %zu kind %s, want %s", i, lc_kind_name(s->rec.kind),
		     lc_kind_name(kind));
	cr_expect_eq(s->rec.bytes, bytes, "site %zu bytes %lu, want %lu", i, s->rec.bytes, bytes);
	cr_expect_eq(s->rec.blocks, blocks, "site %zu blocks %lu, want %lu", i, s->rec.blocks,
		     blocks);
	cr_expect_eq(s->dbytes, dbytes, "site %zu dbytes %ld, want %ld", i, s->dbytes, dbytes);
	cr_expect_eq(s->dblocks, dblocks, "site %zu dblocks %ld, want %ld", i, s->dblocks, dblocks);
	return s;
}

/* ---- real answers ---- */

TestSuite(real, .timeout = 10);

/* Interior pointers make every retained block "possibly lost"; 3 sites, +50 blocks each. */
Test(real, global_list)
{
	const struct lc_site *s;

	load_vgdb("vgdb-global_list.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 0, 0);
	expect_kind(&snap, LC_INDIRECT, 0, 0);
	expect_kind(&snap, LC_POSSIBLE, 44528, 363);
	expect_kind(&snap, LC_REACHABLE, 6840, 8);
	cr_expect_eq(lc_snapshot_bytes(&snap), 44528 + 6840);
	cr_expect_eq(lc_snapshot_blocks(&snap), 363 + 8);
	cr_assert_eq(snap.nsites, 3);

	s = site(0, LC_POSSIBLE, 30976, 121, 12800, 50);   /* buf: 256 B each */
	cr_expect_eq(s->rec.nframes, 7);
	expect_frame(&s->rec, 0, "malloc", "", 0);                /* "(in /usr/libexec/...)": no file */
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 66);
	expect_frame(&s->rec, 2, "on_open", "leaky.c", 129);
	expect_frame(&s->rec, 3, "accept_all", "server.c", 207);
	expect_frame(&s->rec, 6, "main", "leaky.c", 176);

	s = site(1, LC_POSSIBLE, 9680, 121, 4000, 50);      /* struct conn: 80 B */
	expect_frame(&s->rec, 0, "calloc", "", 0);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 59);

	s = site(2, LC_POSSIBLE, 3872, 121, 1600, 50);      /* peer: 32 B */
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 65);
}

/* The definite record's header holds the direct/indirect split, each with its own delta:
 * "48,400 (+20,000) (7,744 (+3,200) direct, 40,656 (+16,800) indirect) bytes in 121 (+50)". */
Test(real, mutual_refs)
{
	const struct lc_site *s;

	load_vgdb("vgdb-mutual_refs.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 7744, 121);
	expect_kind(&snap, LC_INDIRECT, 40656, 363);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 6872, 9);
	cr_assert_eq(snap.nsites, 4, "the definite record must be kept too");

	/* A site's bytes are its own blocks': the definite record's 48,400 (+20,000) holds the
	 * indirect records' bytes too ("48,400 (7,744 direct, 40,656 indirect)"), listed below as
	 * their own sites. So the sites add up to the round: +20,000 B, as the summary's deltas. */
	long sum = 0;
	for (size_t i = 0; i < snap.nsites; i++)
		sum += snap.sites[i].dbytes;
	cr_expect_eq(sum, 20000, "the sites' growth adds up to %ld B, not the round's 20000 B", sum);

	s = site(0, LC_INDIRECT, 30976, 121, 12800, 50);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 136);

	s = site(1, LC_DEFINITE, 7744, 121, 3200, 50);
	cr_expect_eq(s->rec.nframes, 7);
	expect_frame(&s->rec, 0, "calloc", "", 0);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 130);
	expect_frame(&s->rec, 2, "on_open", "leaky.c", 163);
	expect_frame(&s->rec, 6, "main", "leaky.c", 198);

	s = site(2, LC_INDIRECT, 5808, 121, 2400, 50);
	cr_expect_eq(s->rec.nframes, 8);
	expect_frame(&s->rec, 1, "handler_new", "leaky.c", 94);
	expect_frame(&s->rec, 2, "conn_new", "leaky.c", 140);
	expect_frame(&s->rec, 7, "main", "leaky.c", 198);

	s = site(3, LC_INDIRECT, 3872, 121, 1600, 50);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 135);
}

/* A clean server: no record grew, so vgdb prints the summary alone. */
Test(real, echo_nothing_grew)
{
	load_vgdb("vgdb-echo.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 0, 0);
	expect_kind(&snap, LC_INDIRECT, 0, 0);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 6472, 5);
	cr_expect_eq(snap.nsites, 0);
}

/* The first check lists all 7 records, sorted by growth; ties keep valgrind's order. */
Test(real, first_check)
{
	/* the definite record's own 704 B (its "4,400 (704 direct, 3,696 indirect)"): the indirect
	 * records are sites of their own, so the sites add up to the heap's growth, 9,520 B */
	static const long want[] = { 4096, 2816, 704, 528, 512, 512, 352 };
	const struct lc_site *s;

	load_vgdb("vgdb-first.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 704, 11);
	expect_kind(&snap, LC_INDIRECT, 3696, 33);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 5120, 3);
	cr_assert_eq(snap.nsites, 7);
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(snap.sites[i].dbytes, want[i], "site %zu dbytes %ld, want %ld", i,
			     snap.sites[i].dbytes, want[i]);

	/* stdout's buffer: 13 frames, cut at LC_MAX_FRAMES; glibc's versioned names kept whole */
	s = site(0, LC_REACHABLE, 4096, 1, 4096, 1);
	cr_expect_eq(s->rec.nframes, LC_MAX_FRAMES);
	expect_frame(&s->rec, 1, "_IO_file_doallocate", "filedoalloc.c", 101);
	expect_frame(&s->rec, 4, "_IO_file_overflow@@GLIBC_2.2.5", "fileops.c", 744);
	expect_frame(&s->rec, 10, "listen_on", "server.c", 269);
	expect_frame(&s->rec, 11, "server_main", "server.c", 332);

	site(1, LC_INDIRECT, 2816, 11, 2816, 11);
	s = site(2, LC_DEFINITE, 704, 11, 704, 11);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 130);
	s = site(3, LC_INDIRECT, 528, 11, 528, 11);
	expect_frame(&s->rec, 1, "handler_new", "leaky.c", 94);
	s = site(4, LC_REACHABLE, 512, 1, 512, 1);
	expect_frame(&s->rec, 1, "pfds_reserve", "server.c", 219);
	s = site(5, LC_REACHABLE, 512, 1, 512, 1);
	expect_frame(&s->rec, 1, "pfds_reserve", "server.c", 223);
	s = site(6, LC_INDIRECT, 352, 11, 352, 11);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 135);
}

Test(real, summary_only)
{
	load_vgdb("vgdb-summary.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 704, 11);
	expect_kind(&snap, LC_INDIRECT, 3696, 33);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 5120, 3);
	cr_expect_eq(lc_snapshot_bytes(&snap), 9520);
	cr_expect_eq(lc_snapshot_blocks(&snap), 47);
	cr_expect_eq(snap.nsites, 0);
}

/* "reachable any" prints no deltas: the totals parse, and no record counts as growth. */
Test(real, any_without_deltas)
{
	load_vgdb("vgdb-any.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 704, 11);
	expect_kind(&snap, LC_INDIRECT, 3696, 33);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 5120, 3);
	cr_expect_eq(snap.nsites, 0);
}

/* Per-connection blocks of the server itself, connections held open. */
Test(real, echo_connections_open)
{
	const struct lc_site *s;

	load_vgdb("vgdb-echo-open.txt", &snap);
	expect_kind(&snap, LC_REACHABLE, 11880, 13);
	cr_assert_eq(snap.nsites, 5);
	s = site(0, LC_REACHABLE, 5480, 5, 5480, 5);
	expect_frame(&s->rec, 1, "accept_all", "server.c", 195);
	site(1, LC_REACHABLE, 4096, 1, 4096, 1);
	s = site(2, LC_REACHABLE, 1280, 5, 1280, 5);
	cr_expect_eq(s->rec.nframes, 9);
	expect_frame(&s->rec, 1, "server_send", "server.c", 70);
	expect_frame(&s->rec, 8, "main", "echo.c", 11);
}

/* After the close: records and summary shrink; "(-6,760)" must not derail the summary line,
 * and shrinking records are not growth sites. */
Test(real, echo_negative_deltas)
{
	load_vgdb("vgdb-echo-changed.txt", &snap);
	expect_kind(&snap, LC_DEFINITE, 0, 0);
	expect_kind(&snap, LC_INDIRECT, 0, 0);
	expect_kind(&snap, LC_POSSIBLE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 5120, 3);
	cr_expect_eq(snap.nsites, 0);
}

/* vgdb's "sending command ..." goes to stderr; merged into the text (2>&1) it is ignored. */
Test(real, stderr_merged)
{
	static const char hdr[] = "sending command leak_check full reachable increased to pid 21554\n";
	char *text = fixture("vgdb-mutual_refs.txt", NULL), *both = malloc(sizeof hdr + strlen(text));

	cr_assert_not_null(both);
	strcpy(both, hdr);
	strcat(both, text);
	cr_assert_eq(lc__vgdb_parse(both, &snap, err, sizeof err), 0, "%s", err);
	expect_kind(&snap, LC_INDIRECT, 40656, 363);
	cr_expect_eq(snap.nsites, 4);
	free(both);
	free(text);
}

/* A snapshot reused from an earlier parse starts over. */
Test(real, resets_snapshot)
{
	char *text = fixture("vgdb-echo.txt", NULL);

	memset(&snap, 0x5a, sizeof snap);
	cr_assert_eq(lc__vgdb_parse(text, &snap, err, sizeof err), 0, "%s", err);
	expect_kind(&snap, LC_DEFINITE, 0, 0);
	expect_kind(&snap, LC_REACHABLE, 6472, 5);
	cr_expect_eq(snap.nsites, 0);
	cr_expect_eq(snap.fds, -1);
	free(text);
}

/* ---- texts built here (valgrind's format, numbers chosen) ---- */

TestSuite(built, .timeout = 10);

static const char summary_text[] =
	"==1== LEAK SUMMARY:\n"
	"==1==    definitely lost: 0 (+0) bytes in 0 (+0) blocks\n"
	"==1==    indirectly lost: 0 (+0) bytes in 0 (+0) blocks\n"
	"==1==      possibly lost: 0 (+0) bytes in 0 (+0) blocks\n"
	"==1==    still reachable: 1,234,567 (+1,234) bytes in 1,001 (+10) blocks\n"
	"==1==         suppressed: 0 (+0) bytes in 0 (+0) blocks\n";

/* "changed" mode: a realloc to smaller plus one more block shrinks bytes, grows blocks. */
Test(built, negative_bytes_positive_blocks)
{
	static const char text[] =
		"==7== 80 (-80) bytes in 2 (+1) blocks are still reachable in loss record 1 of 1\n"
		"==7==    at 0x48417B4: realloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)\n"
		"==7==    by 0x1095B5: grow (x.c:12)\n"
		"==7== \n";
	char buf[1024];

	snprintf(buf, sizeof buf, "%s%s", text, summary_text);
	cr_assert_eq(lc__vgdb_parse(buf, &snap, err, sizeof err), 0, "%s", err);
	expect_kind(&snap, LC_REACHABLE, 1234567, 1001);
	cr_assert_eq(snap.nsites, 1);
	const struct lc_site *s = site(0, LC_REACHABLE, 80, 2, -80, 1);
	cr_expect_eq(s->rec.nframes, 2);
	expect_frame(&s->rec, 1, "grow", "x.c", 12);
}

/* clang's DWARF names files relative to the build's source dir; sites keep the basename,
 * like the XML reader, so "leaky.c" matches whichever compiler built the server. */
Test(built, file_paths_reduced_to_basename)
{
	static const char text[] =
		"==9== 5,472 (+1,600) bytes in 171 (+50) blocks are possibly lost in loss record 9 of 11\n"
		"==9==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)\n"
		"==9==    by 0x10A56D: conn_new (cases/global_list/leaky.c:75)\n"
		"==9==    by 0x10A3CC: on_open (/abs/path/cases/global_list/leaky.c:134)\n"
		"==9== \n";
	char buf[1024];

	snprintf(buf, sizeof buf, "%s%s", text, summary_text);
	cr_assert_eq(lc__vgdb_parse(buf, &snap, err, sizeof err), 0, "%s", err);
	const struct lc_site *s = site(0, LC_POSSIBLE, 5472, 171, 1600, 50);
	expect_frame(&s->rec, 1, "conn_new", "leaky.c", 75);
	expect_frame(&s->rec, 2, "on_open", "leaky.c", 134);
}

/* At most LC_MAX_SITES records are kept: the largest growth, largest first. */
Test(built, keeps_largest_sites)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (int i = 1; i <= 20; i++) /* growth 8, 16, ..., 160 bytes, file order ascending */
		len += (size_t)snprintf(buf + len, cap - len,
			"==1== %d (+%d) bytes in %d (+%d) blocks are still reachable in loss record %d of 20\n"
			"==1==    at 0x1: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)\n"
			"==1==    by 0x2: site%d (s.c:%d)\n"
			"==1== \n", 1000 + i * 8, i * 8, 100 + i, i, i, i, i);
	snprintf(buf + len, cap - len, "%s", summary_text);
	cr_assert_eq(lc__vgdb_parse(buf, &snap, err, sizeof err), 0, "%s", err);
	cr_assert_eq(snap.nsites, LC_MAX_SITES);
	for (size_t k = 0; k < LC_MAX_SITES; k++) {
		int i = 20 - (int)k;
		char fn[16];
		const struct lc_site *s = site(k, LC_REACHABLE, (unsigned long)(1000 + i * 8),
					       (unsigned long)(100 + i), i * 8, i);

		snprintf(fn, sizeof fn, "site%d", i);
		expect_frame(&s->rec, 1, fn, "s.c", (unsigned)i);
	}
	free(buf);
}

/* The 16th site grows in blocks only (malloc(0)): kept whole, not left as an empty slot. */
Test(built, sixteenth_site_blocks_only)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (int i = 1; i <= LC_MAX_SITES; i++)
		len += (size_t)snprintf(buf + len, cap - len,
			"==1== %d (+%d) bytes in 1 (+1) blocks are still reachable in loss record %d of 16\n"
			"==1==    by 0x2: site%d (s.c:%d)\n", i == LC_MAX_SITES ? 0 : 64,
			i == LC_MAX_SITES ? 0 : 64, i, i, i);
	snprintf(buf + len, cap - len, "%s", summary_text);
	cr_assert_eq(lc__vgdb_parse(buf, &snap, err, sizeof err), 0, "%s", err);
	cr_assert_eq(snap.nsites, LC_MAX_SITES);
	const struct lc_site *s = site(LC_MAX_SITES - 1, LC_REACHABLE, 0, 1, 0, 1);
	expect_frame(&s->rec, 0, "site16", "s.c", 16);
	free(buf);
}

/* A server with nothing on its heap (plain sockets, static buffers): valgrind prints no LEAK
 * SUMMARY then, only this line (recorded from tests/confserver). Every total is 0. */
Test(summary, empty_heap)
{
	memset(&snap, 0xff, sizeof snap);
	cr_assert_eq(lc__vgdb_parse("==6871== All heap blocks were freed -- no leaks are possible\n==6871== \n", &snap,
				   err, sizeof err), 0, "%s", err);
	cr_expect_eq(lc_snapshot_blocks(&snap), 0);
	cr_expect_eq(lc_snapshot_bytes(&snap), 0);
	cr_expect_eq(snap.nsites, 0);
}

/* ---- not a leak check: -1 and a reason, never a crash ---- */

TestSuite(bad, .timeout = 10);

static void expect_fails(const char *text, const char *what)
{
	err[0] = '\0';
	cr_expect_eq(lc__vgdb_parse(text, &snap, err, sizeof err), -1, "%s: accepted", what);
	cr_expect_not_null(strstr(err, "LEAK SUMMARY"), "%s: error '%s'", what, err);
}

Test(bad, empty)
{
	expect_fails("", "empty text");
	expect_fails("\n\n\n", "blank lines");
}

Test(bad, garbage)
{
	expect_fails("garbage, not a leak check\n\x01\x02\xff\xfe(((((+,,,,) bytes in", "garbage");
	expect_fails("==1== ", "a bare prefix");
	expect_fails("==", "half a prefix");
}

/* What vgdb prints when the process is gone, and valgrind's XML report. */
Test(bad, not_a_leak_check)
{
	char *xml = fixture("clean.xml", NULL);

	expect_fails("vgdb error: no FIFO found matching pid 22646\n", "vgdb error");
	expect_fails(xml, "memcheck XML");
	free(xml);
}

/* Records without the summary (vgdb killed mid-answer): refused. */
Test(bad, truncated_before_summary)
{
	char *text = fixture("vgdb-mutual_refs.txt", NULL);
	char *cut = strstr(text, "LEAK SUMMARY");

	cr_assert_not_null(cut);
	*cut = '\0';
	expect_fails(text, "truncated");
	free(text);
}

/* A line far longer than the parser's line buffer, then a real answer: still parsed. */
Test(bad, very_long_line)
{
	char *text = fixture("vgdb-echo.txt", NULL);
	size_t n = 10000, len = strlen(text);
	char *buf = malloc(n + 1 + len + 1);

	cr_assert_not_null(buf);
	memset(buf, '9', n);          /* one endless number: "99999..." */
	buf[n] = '\n';
	memcpy(buf + n + 1, text, len + 1);
	cr_expect_eq(lc__vgdb_parse(buf, &snap, err, sizeof err), 0, "%s", err);
	expect_kind(&snap, LC_REACHABLE, 6472, 5);
	buf[n] = '\0';
	expect_fails(buf, "long line alone");
	free(buf);
	free(text);
}

/* The reason is cut to the buffer given, and a zero-size buffer is not written. */
Test(bad, small_error_buffer)
{
	char small[8];

	memset(small, 'x', sizeof small);
	cr_expect_eq(lc__vgdb_parse("nothing", &snap, small, sizeof small), -1);
	cr_expect_eq(strlen(small), sizeof small - 1);
	memset(small, 'x', sizeof small);
	cr_expect_eq(lc__vgdb_parse("nothing", &snap, small, 0), -1);
	cr_expect_eq(small[0], 'x');
}

/* valgrind XML reader: real memcheck reports from tests/fixtures/ (each *.c there says what
 * valgrind must report and how it was recorded) and broken files that must fail cleanly.
 *
 * Fixtures made by hand: empty.xml (0 bytes); truncated.xml (the first 1500 bytes of
 * cycle.xml, cut inside an <ip> of a leak record); not_valgrind.xml (a JUnit report);
 * garbage.xml (valgrind's text log, as if --xml=yes had been forgotten); version3.xml
 * (possible.xml with <protocolversion>3); helgrind.xml is real `valgrind --tool=helgrind
 * --xml=yes` output for clean.c; killed.xml is real output of a SIGKILLed valgrind (killed.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "valgrind/vgxml.h"
#include "util/records.h"

static struct lc_exit_report rep;   /* one per test: each test runs in its own worker */
static char err[256];

static const struct lc_record *record(size_t i, enum lc_kind kind, unsigned long bytes,
				      unsigned long blocks)
{
	const struct lc_record *r;

	cr_assert_lt(i, rep.nrecords, "record %zu of %zu", i, rep.nrecords);
	r = &rep.records[i];
	cr_expect_eq(r->kind, kind, "record %zu kind %s, want %s", i, lc_kind_name(r->kind),
		     lc_kind_name(kind));
	cr_expect_eq(r->bytes, bytes, "record %zu bytes %lu, want %lu", i, r->bytes, bytes);
	cr_expect_eq(r->blocks, blocks, "record %zu blocks %lu, want %lu", i, r->blocks, blocks);
	return r;
}

static bool report_is_empty(const struct lc_exit_report *r)
{
	static const struct lc_exit_report zero;

	return memcmp(r, &zero, sizeof zero) == 0;
}

static void fini(void)
{
	lc_exit_report_free(&rep);
}

/* ---- real reports ---- */

TestSuite(report, .timeout = 10, .fini = fini);

Test(report, clean)
{
	load_xml("clean.xml", &rep);
	for (int k = 0; k < LC_NKINDS; k++)
		expect_kind(&rep, k, 0, 0);
	cr_expect_eq(rep.nrecords, 0);
	cr_expect_null(rep.records);
	cr_expect_eq(rep.other_errors, 0);
	cr_expect_eq(rep.pid, 3811);
}

/* 4 three-object cycles: leakedbytes 576 = 192 direct + 384 indirect, counted once. */
Test(report, cycle)
{
	const struct lc_record *r;

	load_xml("cycle.xml", &rep);
	cr_assert_eq(rep.nrecords, 3);
	expect_kind(&rep, LC_DEFINITE, 192, 4);
	expect_kind(&rep, LC_INDIRECT, 384, 8);
	expect_kind(&rep, LC_POSSIBLE, 0, 0);
	expect_kind(&rep, LC_REACHABLE, 0, 0);
	cr_expect_eq(rep.other_errors, 0);

	r = record(0, LC_INDIRECT, 128, 4);
	expect_frame(r, 1, "new_handler", "cycle.c", 33);
	r = record(1, LC_INDIRECT, 256, 4);
	expect_frame(r, 1, "new_buf", "cycle.c", 38);
	r = record(2, LC_DEFINITE, 576, 4);
	/* "576 (192 direct, 384 indirect)": its own bytes are 192, the 384 are the records above */
	cr_expect_eq(r->indirect, 384);
	cr_expect_eq(lc_record_own_bytes(r), 192);
	cr_expect_eq(r->nframes, 3);
	expect_frame(r, 0, "calloc", "", 0);
	expect_frame(r, 1, "new_conn", "cycle.c", 28);
	expect_frame(r, 2, "main", "cycle.c", 44);
}

/* Recorded from the cases by the harness itself (leakcheck --keep DIR --cycles 20 --rounds 2
 * --warmup 5): 47 connections of cases/mutual_refs/leaky, each a lost Connection<->Handler
 * cycle of 4 blocks, 400 bytes (64 direct + 336 indirect, as the file's header says). */
Test(report, case_mutual_refs_leaky)
{
	const struct lc_record *r;

	load_xml("case-mutual_refs-leaky.xml", &rep);
	cr_assert_eq(rep.nrecords, 4);
	expect_kind(&rep, LC_DEFINITE, 47 * 64, 47);
	expect_kind(&rep, LC_INDIRECT, 47 * 336, 3 * 47);
	expect_kind(&rep, LC_POSSIBLE, 0, 0);
	expect_kind(&rep, LC_REACHABLE, 0, 0);
	r = record(3, LC_DEFINITE, 47 * 400, 47);
	expect_frame(r, 0, "calloc", "", 0);
	expect_frame(r, 1, "conn_new", "leaky.c", 135);
	expect_frame(r, 2, "on_open", "leaky.c", 169);
}

/* cases/global_list/leaky under the same run: it retained 3 blocks per connection while
 * running, yet frees its list at shutdown, so its exit report holds no leak at all. */
Test(report, case_global_list_leaky_is_clean_at_exit)
{
	load_xml("case-global_list-leaky.xml", &rep);
	for (int k = 0; k < LC_NKINDS; k++)
		expect_kind(&rep, k, 0, 0);
	cr_expect_eq(rep.nrecords, 0);
	cr_expect_eq(rep.other_errors, 0);
}

/* Default --show-leak-kinds: no indirect records, so definite keeps the indirect bytes. */
Test(report, cycle_default_kinds)
{
	load_xml("cycle_default.xml", &rep);
	cr_assert_eq(rep.nrecords, 1);
	expect_kind(&rep, LC_DEFINITE, 576, 4);
	expect_kind(&rep, LC_INDIRECT, 0, 0);
	record(0, LC_DEFINITE, 576, 4);
	/* Same program as cycle.xml: definite + indirect agree. */
	cr_expect_eq(rep.bytes[LC_DEFINITE] + rep.bytes[LC_INDIRECT], 192 + 384);
}

Test(report, reachable)
{
	const struct lc_record *r;

	load_xml("reachable.xml", &rep);
	cr_assert_eq(rep.nrecords, 2);
	expect_kind(&rep, LC_DEFINITE, 0, 0);
	expect_kind(&rep, LC_INDIRECT, 0, 0);
	expect_kind(&rep, LC_POSSIBLE, 0, 0);
	expect_kind(&rep, LC_REACHABLE, 260, 6);
	r = record(0, LC_REACHABLE, 100, 1);
	expect_frame(r, 0, "malloc", "", 0);
	expect_frame(r, 1, "load_config", "reachable.c", 24);
	r = record(1, LC_REACHABLE, 160, 5);
	expect_frame(r, 1, "register_node", "reachable.c", 31);
	expect_frame(r, 2, "main", "reachable.c", 41);
}

Test(report, possible)
{
	const struct lc_record *r;

	load_xml("possible.xml", &rep);
	cr_assert_eq(rep.nrecords, 2);
	expect_kind(&rep, LC_DEFINITE, 24, 1);
	expect_kind(&rep, LC_INDIRECT, 0, 0);
	expect_kind(&rep, LC_POSSIBLE, 80, 1);
	expect_kind(&rep, LC_REACHABLE, 0, 0);
	r = record(0, LC_DEFINITE, 24, 1);
	expect_frame(r, 1, "main", "possible.c", 30);
	r = record(1, LC_POSSIBLE, 80, 1);
	expect_frame(r, 1, "alloc_wrapped", "possible.c", 23);
}

/* The read runs 3 times but is one error context; its allocation stack is not a record. */
Test(report, invalid_read)
{
	load_xml("invalid_read.xml", &rep);
	cr_expect_eq(rep.other_errors, 2);
	cr_expect_eq(rep.nrecords, 0);
	for (int k = 0; k < LC_NKINDS; k++)
		expect_kind(&rep, k, 0, 0);
}

/* Mid-run checks list 10, then 10 + 20 bytes; only the exit check (10 + 20) counts. */
Test(report, midrun_checks_superseded)
{
	const struct lc_record *r;

	load_xml("midrun.xml", &rep);
	cr_assert_eq(rep.nrecords, 2);
	expect_kind(&rep, LC_DEFINITE, 30, 2);
	r = record(0, LC_DEFINITE, 10, 1);
	expect_frame(r, 1, "first_leak", "midrun.c", 22);
	r = record(1, LC_DEFINITE, 20, 1);
	expect_frame(r, 1, "second_leak", "midrun.c", 27);
}

/* Two definite records holding indirect blocks: only the totals can be split. */
Test(report, mixed)
{
	const struct lc_record *r;
	unsigned long sum = 0, total = 0;

	load_xml("mixed.xml", &rep);
	cr_assert_eq(rep.nrecords, 6);
	expect_kind(&rep, LC_DEFINITE, 96, 3);
	expect_kind(&rep, LC_INDIRECT, 148, 3);
	expect_kind(&rep, LC_POSSIBLE, 72, 1);
	expect_kind(&rep, LC_REACHABLE, 200, 1);
	record(0, LC_INDIRECT, 48, 2);
	r = record(1, LC_POSSIBLE, 72, 1);
	expect_frame(r, 1, "new_cache", "mixed.c", 45);
	record(2, LC_INDIRECT, 100, 1);
	r = record(3, LC_DEFINITE, 116, 1);
	expect_frame(r, 1, "new_frame", "mixed.c", 35);
	r = record(4, LC_DEFINITE, 128, 2);
	expect_frame(r, 1, "new_session", "mixed.c", 25);
	expect_frame(r, 2, "main", "mixed.c", 54);
	r = record(5, LC_REACHABLE, 200, 1);
	expect_frame(r, 1, "main", "mixed.c", 61);

	/* valgrind's in-use total is the non-indirect records: nothing counted twice. */
	for (size_t i = 0; i < rep.nrecords; i++)
		if (rep.records[i].kind != LC_INDIRECT)
			sum += rep.records[i].bytes;
	for (int k = 0; k < LC_NKINDS; k++)
		total += rep.bytes[k];
	cr_expect_eq(total, sum);
	cr_expect_eq(total, 516);
}

Test(report, buffer_matches_file)
{
	struct lc_exit_report b;
	size_t len;
	char *buf = fixture("mixed.xml", &len);

	load_xml("mixed.xml", &rep);
	cr_assert_eq(lc__exit_report_parse_buffer(buf, len, &b, err, sizeof err), 0, "%s", err);
	cr_expect_eq(b.nrecords, rep.nrecords);
	cr_expect_eq(memcmp(b.records, rep.records, rep.nrecords * sizeof *b.records), 0);
	cr_expect_eq(memcmp(b.bytes, rep.bytes, sizeof b.bytes), 0);
	cr_expect_eq(memcmp(b.blocks, rep.blocks, sizeof b.blocks), 0);
	cr_expect_eq(b.pid, rep.pid);
	lc_exit_report_free(&b);
	free(buf);
}

/* ---- synthetic documents: streaming, limits ---- */

#define HEAD "<?xml version=\"1.0\"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n" \
	"<protocoltool>memcheck</protocoltool>\n<pid>42</pid>\n" \
	"<status><state>FINISHED</state></status>\n"
#define TAIL "</valgrindoutput>\n"
#define NBIG 2000

/* ~600 KB: many 64 KiB chunks, with element and text boundaries falling inside them. */
static char *big_report(size_t *len)
{
	size_t cap = NBIG * 400 + 1024, n = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	n += (size_t)snprintf(s + n, cap - n, HEAD);
	for (unsigned i = 0; i < NBIG; i++)
		n += (size_t)snprintf(s + n, cap - n,
			"<error>\n  <unique>0x%x</unique>\n  <kind>Leak_DefinitelyLost</kind>\n"
			"  <xwhat><text>%u bytes in 1 blocks are definitely lost</text>\n"
			"    <leakedbytes>%u</leakedbytes>\n    <leakedblocks>1</leakedblocks>\n"
			"  </xwhat>\n  <stack>\n    <frame><ip>0x1</ip><fn>malloc</fn></frame>\n"
			"    <frame><ip>0x2</ip><fn>site_%04u</fn><dir>/src</dir>"
			"<file>big.c</file><line>%u</line></frame>\n  </stack>\n</error>\n",
			i, i + 1, i + 1, i, i + 10);
	n += (size_t)snprintf(s + n, cap - n, TAIL);
	cr_assert_lt(n, cap);
	*len = n;
	return s;
}

static void check_big(const struct lc_exit_report *r)
{
	char fn[16];

	cr_assert_eq(r->nrecords, NBIG);
	cr_expect_eq(r->bytes[LC_DEFINITE], (unsigned long)NBIG * (NBIG + 1) / 2);
	cr_expect_eq(r->blocks[LC_DEFINITE], NBIG);
	cr_expect_eq(r->pid, 42);
	for (unsigned i = 0; i < NBIG; i++) {
		snprintf(fn, sizeof fn, "site_%04u", i);
		cr_assert_str_eq(r->records[i].frames[1].fn, fn, "record %u", i);
		cr_assert_str_eq(r->records[i].frames[1].file, "big.c", "record %u", i);
		cr_assert_eq(r->records[i].frames[1].line, i + 10, "record %u", i);
		cr_assert_eq(r->records[i].bytes, i + 1, "record %u", i);
	}
}

Test(stream, big_buffer, .timeout = 10)
{
	size_t len;
	char *s = big_report(&len);

	cr_assert_eq(lc__exit_report_parse_buffer(s, len, &rep, err, sizeof err), 0, "%s", err);
	check_big(&rep);
	lc_exit_report_free(&rep);
	free(s);
}

Test(stream, big_file, .timeout = 10)
{
	char path[] = "/tmp/test_vgxml_XXXXXX";
	size_t len;
	char *s = big_report(&len);
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, s, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(lc__exit_report_parse_file(path, &rep, err, sizeof err), 0, "%s", err);
	unlink(path);
	check_big(&rep);
	lc_exit_report_free(&rep);
	free(s);
}

static const char long_frames[] = HEAD
	"<error><kind>Leak_PossiblyLost</kind>"
	"<xwhat><leakedbytes>7</leakedbytes><leakedblocks>1</leakedblocks></xwhat><stack>"
	"<frame><fn>"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"</fn><file>deep/dir/leak.c</file><line>9</line></frame>"
	"<frame><fn>f1</fn></frame><frame><fn>f2</fn></frame><frame><fn>f3</fn></frame>"
	"<frame><fn>f4</fn></frame><frame><fn>f5</fn></frame><frame><fn>f6</fn></frame>"
	"<frame><fn>f7</fn></frame><frame><fn>f8</fn></frame><frame><fn>f9</fn></frame>"
	"<frame><fn>f10</fn></frame><frame><fn>f11</fn></frame><frame><fn>f12</fn></frame>"
	"<frame><fn>f13</fn></frame></stack></error>" TAIL;

Test(stream, long_names_and_deep_stacks, .timeout = 10)
{
	const struct lc_record *r;

	cr_assert_eq(lc__exit_report_parse_buffer(long_frames, strlen(long_frames), &rep, err,
					    sizeof err), 0, "%s", err);
	r = record(0, LC_POSSIBLE, 7, 1);
	cr_expect_eq(r->nframes, LC_MAX_FRAMES);
	cr_expect_eq(strlen(r->frames[0].fn), sizeof r->frames[0].fn - 1);
	cr_expect_str_eq(r->frames[0].file, "leak.c");
	cr_expect_eq(r->frames[0].line, 9);
	cr_expect_str_eq(r->frames[LC_MAX_FRAMES - 1].fn, "f11");
	cr_expect_str_eq(r->frames[LC_MAX_FRAMES - 1].file, "");
	cr_expect_eq(r->frames[LC_MAX_FRAMES - 1].line, 0);
	lc_exit_report_free(&rep);
}

/* memcached from Debian has no symbols: its frames are named by their object, as vgdb's text
 * does; with --gen-suppressions=all the record carries its suppression (recorded here from
 * memcached 1.6.18's exit report). */
Test(stream, frames_without_symbols_and_suppressions, .timeout = 10)
{
	static const char doc[] = HEAD
		"<error><kind>Leak_DefinitelyLost</kind>"
		"<xwhat><leakedbytes>40</leakedbytes><leakedblocks>1</leakedblocks></xwhat><stack>"
		"<frame><ip>0x48465EF</ip><obj>/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so</obj>"
		"<fn>calloc</fn></frame>"
		"<frame><ip>0x11A3C2</ip><obj>/usr/bin/memcached</obj></frame></stack>"
		"<suppression><sname>insert_a_suppression_name_here</sname><skind>Memcheck:Leak</skind>"
		"<skaux>match-leak-kinds: definite</skaux><sframe> <fun>calloc</fun> </sframe>"
		"<sframe> <obj>/usr/bin/memcached</obj> </sframe><rawtext><![CDATA[{ ignored }]]></rawtext>"
		"</suppression></error>" TAIL;
	cr_assert_eq(lc__exit_report_parse_buffer(doc, strlen(doc), &rep, err, sizeof err), 0, "%s", err);
	const struct lc_record *r = record(0, LC_DEFINITE, 40, 1);
	cr_expect_str_eq(r->frames[0].fn, "calloc");
	cr_expect_str_eq(r->frames[1].fn, "??? (in /usr/bin/memcached)");
	cr_assert_not_null(r->suppression);
	cr_expect_str_eq(r->suppression, "{\n   NAME\n   Memcheck:Leak\n   match-leak-kinds: definite\n"
					  "   fun:calloc\n   obj:/usr/bin/memcached\n}\n");
	lc_exit_report_free(&rep);
}

/* Non-leak errors carry a second (allocation) stack after <auxwhat>: never mix it in. */
Test(stream, first_stack_only, .timeout = 10)
{
	static const char doc[] = HEAD
		"<error><kind>Leak_DefinitelyLost</kind>"
		"<xwhat><leakedbytes>5</leakedbytes><leakedblocks>1</leakedblocks></xwhat>"
		"<stack><frame><fn>malloc</fn></frame><frame><fn>one</fn></frame></stack>"
		"<auxwhat>aux</auxwhat><stack><frame><fn>two</fn></frame></stack></error>" TAIL;
	const struct lc_record *r;

	cr_assert_eq(lc__exit_report_parse_buffer(doc, strlen(doc), &rep, err, sizeof err), 0, "%s", err);
	r = record(0, LC_DEFINITE, 5, 1);
	cr_expect_eq(r->nframes, 2);
	cr_expect_str_eq(r->frames[1].fn, "one");
	lc_exit_report_free(&rep);
}

Test(api, free_is_idempotent, .timeout = 10)
{
	struct lc_exit_report r;

	memset(&r, 0, sizeof r);
	lc_exit_report_free(&r);
	lc_exit_report_free(NULL);
	cr_assert_eq(lc__exit_report_parse_file(FIXTURES "cycle.xml", &r, err, sizeof err), 0, "%s", err);
	cr_assert_not_null(r.records);
	lc_exit_report_free(&r);
	cr_expect(report_is_empty(&r));
	lc_exit_report_free(&r);
	cr_expect(report_is_empty(&r));
}

Test(api, kind_names, .timeout = 10)
{
	cr_expect_str_eq(lc_kind_name(LC_DEFINITE), "definitely lost");
	cr_expect_str_eq(lc_kind_name(LC_INDIRECT), "indirectly lost");
	cr_expect_str_eq(lc_kind_name(LC_POSSIBLE), "possibly lost");
	cr_expect_str_eq(lc_kind_name(LC_REACHABLE), "still reachable");
	cr_expect_str_eq(lc_kind_name(LC_NKINDS), "unknown");
}

/* ---- files and documents that must be refused ---- */

/* Parse must fail with want (and want2, if any) in the message and leave the report empty. */
static void expect_fail_at(const char *path, const char *want, const char *want2)
{
	memset(&rep, 0xab, sizeof rep);   /* *out need not be initialised */
	memset(err, 'x', sizeof err);
	cr_assert_eq(lc__exit_report_parse_file(path, &rep, err, sizeof err), -1,
		     "%s: parsed, want error '%s'", path, want);
	cr_expect(strstr(err, want), "%s: error '%s', want '%s'", path, err, want);
	if (want2)
		cr_expect(strstr(err, want2), "%s: error '%s', want '%s'", path, err, want2);
	cr_expect_null(strchr(err, '\n'), "%s: newline in error", path);
	cr_expect(report_is_empty(&rep), "%s: report not left empty", path);
	lc_exit_report_free(&rep);
}

static void expect_fail(const char *name, const char *want, const char *want2)
{
	char path[512];

	snprintf(path, sizeof path, FIXTURES "%s", name);
	expect_fail_at(path, want, want2);
}

static void expect_fail_buf(const char *doc, const char *want, const char *want2)
{
	memset(&rep, 0xab, sizeof rep);
	cr_assert_eq(lc__exit_report_parse_buffer(doc, strlen(doc), &rep, err, sizeof err), -1,
		     "parsed, want error '%s'", want);
	cr_expect(strstr(err, want), "error '%s', want '%s'", err, want);
	if (want2)
		cr_expect(strstr(err, want2), "error '%s', want '%s'", err, want2);
	cr_expect(report_is_empty(&rep), "report not left empty");
}

TestSuite(bad, .timeout = 10);

Test(bad, empty_file)
{
	expect_fail("empty.xml", "empty report", NULL);
	cr_expect_str_eq(err, "empty report");
}

Test(bad, missing_file)
{
	expect_fail("no-such-report.xml", "cannot open", strerror(ENOENT));
}

Test(bad, garbage_is_not_xml)
{
	expect_fail("garbage.xml", "not XML: ", "line 1");
}

Test(bad, other_xml)
{
	expect_fail("not_valgrind.xml", "not a valgrind XML report", "<testsuites>");
}

Test(bad, truncated_mid_record)
{
	expect_fail("truncated.xml", "truncated report (no </valgrindoutput>)", "line 67");
}

Test(bad, sigkilled_valgrind)
{
	expect_fail("killed.xml", "truncated report (no </valgrindoutput>)", "line 37");
}

Test(bad, protocol_version_3)
{
	expect_fail("version3.xml", "unsupported protocol version 3", NULL);
}

Test(bad, helgrind_report)
{
	expect_fail("helgrind.xml", "not a memcheck report", "helgrind");
}

Test(bad, directory)
{
	expect_fail_at(LC_SOURCE_DIR "/tests/fixtures", "cannot read", strerror(EISDIR));
}

Test(bad, empty_buffers)
{
	expect_fail_buf("", "empty report", NULL);
	expect_fail_buf(" \n\t\n", "empty report", NULL);
}

Test(bad, malformed_mid_document)
{
	expect_fail_buf(HEAD "<error><kind>Leak_DefinitelyLost</stack></error>" TAIL,
			"malformed XML: mismatched tag", "line 7");
}

Test(bad, junk_after_document)
{
	expect_fail_buf(HEAD TAIL "<valgrindoutput/>", "malformed XML", NULL);
}

Test(bad, no_protocol_version)
{
	expect_fail_buf("<valgrindoutput><protocoltool>memcheck</protocoltool></valgrindoutput>",
			"no <protocolversion>", NULL);
}

Test(bad, no_protocol_tool)
{
	expect_fail_buf("<valgrindoutput><protocolversion>4</protocolversion></valgrindoutput>",
			"no <protocoltool>", NULL);
}

Test(bad, negative_leakedbytes)
{
	expect_fail_buf(HEAD "<error><kind>Leak_DefinitelyLost</kind><xwhat>"
			"<leakedbytes>-5</leakedbytes><leakedblocks>1</leakedblocks></xwhat>"
			"</error>" TAIL, "bad <leakedbytes> '-5'", NULL);
}

Test(bad, leak_without_counts)
{
	expect_fail_buf(HEAD "<error><kind>Leak_PossiblyLost</kind></error>" TAIL,
			"leak record without", NULL);
}

Test(bad, tiny_or_no_error_buffer)
{
	char small[8];

	cr_expect_eq(lc__exit_report_parse_file(FIXTURES "version3.xml", &rep, small, sizeof small), -1);
	cr_expect_str_eq(small, "unsuppo");
	cr_expect_eq(lc__exit_report_parse_file(FIXTURES "version3.xml", &rep, NULL, 0), -1);
	cr_expect(report_is_empty(&rep));
}

/* Allocator layers are skipped by a rule, not a list: a name that holds "alloc" in any case, or
 * ends in strdup (real servers' layers), names the caller without --alloc-fn. */
static const char *site_of(const char *const *fns)
{
	static struct lc_record rec;
	memset(&rec, 0, sizeof rec);
	for (rec.nframes = 0; fns[rec.nframes]; rec.nframes++)
		snprintf(rec.frames[rec.nframes].fn, sizeof rec.frames[0].fn, "%s", fns[rec.nframes]);
	return lc__alloc_frame(&rec, NULL)->fn;
}

Test(alloc_frame, allocator_layers_by_rule)
{
	cr_expect_str_eq(site_of((const char *[]){ "malloc", "ztrymalloc_usable", "zmalloc", "createClient", NULL }),
			 "createClient", "a key-value store's zmalloc -> ztrymalloc_usable -> malloc");
	cr_expect_str_eq(site_of((const char *[]){ "calloc", "mosquitto__calloc", "context__init", NULL }),
			 "context__init");
	cr_expect_str_eq(site_of((const char *[]){ "malloc", "PyMem_Malloc", "new_keys_object", NULL }),
			 "new_keys_object");
	cr_expect_str_eq(site_of((const char *[]){ "malloc", "ngx_alloc", "ngx_palloc", "ngx_http_init", NULL }),
			 "ngx_http_init");
	cr_expect_str_eq(site_of((const char *[]){ "malloc", "g_malloc0", "xstrdup", "parse", NULL }), "parse");
	cr_expect_str_eq(site_of((const char *[]){ "calloc", "conn_new", "on_open", NULL }), "conn_new",
			 "a constructor that does not say alloc is the site");
}

/* valgrind's sentence for a definite record: its indirect part, thousands separators and all. */
Test(alloc_frame, indirect_part_of_a_definite_record)
{
	cr_expect_eq(lc__indirect_of("87,080 (24,880 direct, 62,200 indirect) bytes in 622 blocks are definitely "
				    "lost in loss record 5 of 7"), 62200);
	cr_expect_eq(lc__indirect_of("576 (192 direct, 384 indirect) bytes in 4 blocks are definitely lost"), 384);
	cr_expect_eq(lc__indirect_of("64 bytes in 1 blocks are definitely lost in loss record 1 of 2"), 0);
	cr_expect_eq(lc__indirect_of("9 (1 direct, 2 indirect) bytes"), 0, "a split that does not add up");
}

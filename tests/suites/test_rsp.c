/* The gdb remote protocol codec (harness/valgrind/rsp.c) on byte streams recorded from real vgdb
 * relays on this machine (valgrind 3.19): acks, run-length encoded stop replies, console
 * output of a monitor command, exit packets; then broken input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "valgrind/rsp.h"

/* Recorded: the answers to QStartNoAckMode, '?', qRcmd "leak_check summary" (first packet),
 * and the exit after a SIGTERM passed through. */
static const char rec_ok[] = "+$OK#9a";
static const char rec_stop[] = "$T0506:700300ff1f0*\";07:f00200ff1f0*\";10:089395040*\"00;thread:1221;#bb";
static const char rec_out[] = "$O3d3d343634313d3d204c45414b2053554d4d4152593a0a#66";
static const char rec_exit[] = "$W00#b7";

static struct lc_rsp_reader rd;
static char out[LC_RSP_MAX];

static enum lc_rsp_result feed_next(const char *bytes, size_t len)
{
	cr_assert_eq(lc__rsp_feed(&rd, bytes, len), 0);
	return lc__rsp_next(&rd, out, sizeof out, NULL);
}

Test(rsp, frame_matches_gdb)
{
	char buf[64];
	cr_assert_eq(lc__rsp_frame("c", buf, sizeof buf), 5);
	cr_assert_str_eq(buf, "$c#63");
	lc__rsp_frame("QStartNoAckMode", buf, sizeof buf);
	cr_assert_str_eq(buf, "$QStartNoAckMode#b0");
	cr_assert_eq(lc__rsp_frame("toolong", buf, 8), -1);
}

Test(rsp, hex_round_trip)
{
	char hex[64], back[32];
	cr_assert_eq(lc__rsp_hex_encode("leak_check", 10, hex, sizeof hex), 0);
	cr_assert_str_eq(hex, "6c65616b5f636865636b");
	cr_assert_eq(lc__rsp_hex_decode(hex, strlen(hex), back, sizeof back), 10);
	cr_assert_str_eq(back, "leak_check");
	cr_assert_eq(lc__rsp_hex_decode("4", 1, back, sizeof back), -1, "odd length");
	cr_assert_eq(lc__rsp_hex_decode("zz", 2, back, sizeof back), -1, "bad digit");
	cr_assert_eq(lc__rsp_hex_encode("abc", 3, hex, 6), -1, "no room");
}

Test(rsp, recorded_ack_then_ok)
{
	memset(&rd, 0, sizeof rd);
	cr_assert_eq(feed_next(rec_ok, strlen(rec_ok)), LC_RSP_PACKET);
	cr_assert_str_eq(out, "OK");
	int n;
	cr_assert_eq(lc__rsp_classify(out, &n), LC_RSP_OK);
}

Test(rsp, recorded_stop_reply_run_length_decoded)
{
	memset(&rd, 0, sizeof rd);
	cr_assert_eq(feed_next(rec_stop, strlen(rec_stop)), LC_RSP_PACKET);
	/* '0*"' is '0' and 34-29 = 5 more zeros */
	cr_assert(strncmp(out, "T0506:700300ff1f000000;", 23) == 0, "got %s", out);
	int sig;
	cr_assert_eq(lc__rsp_classify(out, &sig), LC_RSP_STOPPED);
	cr_assert_eq(sig, 5);
}

Test(rsp, recorded_output_in_pieces)
{
	memset(&rd, 0, sizeof rd);
	size_t len = strlen(rec_out);
	for (size_t i = 0; i + 1 < len; i++)
		cr_assert_eq(feed_next(rec_out + i, 1), LC_RSP_NEED_MORE, "complete after %zu bytes?", i + 1);
	cr_assert_eq(feed_next(rec_out + len - 1, 1), LC_RSP_PACKET);
	int n;
	cr_assert_eq(lc__rsp_classify(out, &n), LC_RSP_OUTPUT);
	char text[128];
	lc__rsp_hex_decode(out + 1, strlen(out + 1), text, sizeof text);
	cr_assert_str_eq(text, "==4641== LEAK SUMMARY:\n");
}

Test(rsp, recorded_exit_and_two_packets_in_one_read)
{
	char both[128];
	int n;
	snprintf(both, sizeof both, "%s%s", rec_ok, rec_exit);
	memset(&rd, 0, sizeof rd);
	cr_assert_eq(feed_next(both, strlen(both)), LC_RSP_PACKET);
	cr_assert_str_eq(out, "OK");
	cr_assert_eq(lc__rsp_next(&rd, out, sizeof out, NULL), LC_RSP_PACKET);
	cr_assert_eq(lc__rsp_classify(out, &n), LC_RSP_EXITED);
	cr_assert_eq(n, 0);
	cr_assert_eq(lc__rsp_classify("X0f", &n), LC_RSP_KILLED);
	cr_assert_eq(n, 15);
	cr_assert_eq(lc__rsp_classify("E01", &n), LC_RSP_ERROR);
	cr_assert_eq(lc__rsp_classify("", &n), LC_RSP_OTHER);
}

Test(rsp, bad_checksum_escape_and_overflow)
{
	memset(&rd, 0, sizeof rd);
	cr_assert_eq(feed_next("$OK#00", 6), LC_RSP_BAD, "wrong checksum");
	cr_assert_eq(rd.len, 0, "the bad packet is consumed");
	char esc[32];
	lc__rsp_frame("a}\x03" "b", esc, sizeof esc); /* '}' escapes: 0x03 ^ 0x20 = '#' */
	cr_assert_eq(feed_next(esc, strlen(esc)), LC_RSP_PACKET);
	cr_assert_str_eq(out, "a#b");
	cr_assert_eq(feed_next("noise+-", 7), LC_RSP_NEED_MORE, "noise without '$' is dropped");
	cr_assert_eq(rd.len, 0);
	static char big[sizeof rd.buf + 1];
	memset(big, 'x', sizeof big);
	cr_assert_eq(lc__rsp_feed(&rd, big, sizeof big), -1, "over-long input is refused");
	char small[4];
	memset(&rd, 0, sizeof rd);
	cr_assert_eq(lc__rsp_feed(&rd, rec_out, strlen(rec_out)), 0);
	cr_assert_eq(lc__rsp_next(&rd, small, sizeof small, NULL), LC_RSP_BAD, "payload over cap");
}

/* The stopped thread of a stop reply (valgrind 3.19's, recorded): the relay points gdbserver's
 * resume at it ("Hc"), as gdbserver would otherwise re-store the first thread's registers. */
Test(rsp, stop_reply_names_its_thread)
{
	char id[24];
	cr_assert_eq(lc__rsp_stop_thread("T0506:0*,;07:701e24050*\"00;10:45c592040*\"00;thread:243e;", id, sizeof id), 0);
	cr_assert_str_eq(id, "243e");
	cr_assert_eq(lc__rsp_stop_thread("T05thread:p1f.2a;", id, sizeof id), 0);
	cr_assert_str_eq(id, "2a");
	cr_assert_eq(lc__rsp_stop_thread("T05thread:7", id, sizeof id), 0);
	cr_assert_str_eq(id, "7");
	cr_assert_eq(lc__rsp_stop_thread("T0506:00;", id, sizeof id), -1, "no thread named");
	cr_assert_eq(lc__rsp_stop_thread("S05", id, sizeof id), -1);
	cr_assert_eq(lc__rsp_stop_thread("T05thread:;", id, sizeof id), -1);
	cr_assert_eq(lc__rsp_stop_thread("T05thread:12zz;", id, sizeof id), -1);
	cr_assert_eq(lc__rsp_stop_thread("T05thread:123456;", id, 4), -1, "does not fit");
}

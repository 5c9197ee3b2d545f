/* Protocol scripts (harness/drive/script.c): escapes, the file format and its errors, and a run on a
 * socketpair: what is sent ({n} filled in), what an expect accepts, what a mismatch says. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drive/script.h"

Test(script, escapes_to_bytes)
{
	char out[64];
	const char *why;
	long n = lc_unescape_bytes("a\\x00b\\0\\r\\n\\t\\\\\\xfF", out, sizeof out, &why);
	cr_assert_eq(n, 9, "length %ld", n);
	cr_expect(memcmp(out, "a\0b\0\r\n\t\\\xff", 9) == 0, "bytes differ");
	cr_expect_eq(lc_unescape_bytes("\\q", out, sizeof out, &why), -1);
	cr_expect(why && strstr(why, "bad escape"), "why: %s", why ? why : "(null)");
	cr_expect_eq(lc_unescape_bytes("\\x4", out, sizeof out, &why), -1, "a half \\x escape is refused");
	cr_expect_eq(lc_unescape_bytes("abcd", out, 3, &why), -1, "too long for the buffer");
}

Test(script, escaped_for_a_reason)
{
	char out[64];
	lc__escape_bytes("ok\r\n\x01\xff\\", 7, out, sizeof out);
	cr_expect_str_eq(out, "ok\\r\\n\\x01\\xff\\\\");
	lc__escape_bytes("0123456789abcdef", 16, out, 10);
	cr_expect_str_eq(out, "012345...", "at most cap - 1 characters, the cut marked");
}

Test(script, file_format)
{
	struct lc_script s = { 0 };
	char err[200];
	const char *text = "# MQTT\n\n  send \\x10\\x02\\x00\\x04MQTT\nexpect \\x20\\x02\r\nexpect\nquit \\xe0\\x00\n";
	cr_assert_eq(lc__script_parse(text, &s, err, sizeof err), 0, "%s", err);
	cr_assert_eq(s.n, 3);
	cr_expect_eq(s.steps[0].kind, LC_STEP_SEND);
	cr_expect_eq(s.steps[0].len, 8);
	cr_expect(memcmp(s.steps[0].data, "\x10\x02\x00\x04MQTT", 8) == 0);
	cr_expect_eq(s.steps[1].kind, LC_STEP_EXPECT);
	cr_expect_eq(s.steps[1].len, 2, "the CR of a CRLF file is not part of the text");
	cr_expect_eq(s.steps[2].len, 0, "a bare expect waits for any byte");
	cr_expect_eq(s.quit.len, 2);
}

Test(script, errors_name_the_line)
{
	struct lc_script s;
	char err[200];
	memset(&s, 0, sizeof s);
	cr_expect_eq(lc__script_parse("send a\nsned b\n", &s, err, sizeof err), -1);
	cr_expect(strstr(err, "line 2") && strstr(err, "unknown step"), "%s", err);
	memset(&s, 0, sizeof s);
	cr_expect_eq(lc__script_parse("send \\z\n", &s, err, sizeof err), -1);
	cr_expect(strstr(err, "line 1") && strstr(err, "bad escape"), "%s", err);
	memset(&s, 0, sizeof s);
	cr_expect_eq(lc__script_parse("# nothing\n", &s, err, sizeof err), -1);
	cr_expect(strstr(err, "no steps"), "%s", err);
	memset(&s, 0, sizeof s);
	cr_expect_eq(lc__script_parse("send\n", &s, err, sizeof err), -1);
	cr_expect(strstr(err, "nothing to send"), "%s", err);
	memset(&s, 0, sizeof s);
	char many[400] = "";
	for (int i = 0; i < 17; i++)
		strcat(many, "send x\n");
	cr_expect_eq(lc__script_parse(many, &s, err, sizeof err), -1);
	cr_expect(strstr(err, "line 17"), "%s", err);
}

/* The peer's answer is written before the run: an expect finds it in the socket buffer. */
static int run_on_pair(const char *script, const char *answer, unsigned long conn, char *sent, size_t cap,
		       char *why, size_t whylen)
{
	struct lc_script s = { 0 };
	char err[200], got[256];
	size_t got_len;
	int sv[2];
	cr_assert_eq(lc__script_parse(script, &s, err, sizeof err), 0, "%s", err);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (answer)
		cr_assert_eq(write(sv[1], answer, strlen(answer)), (ssize_t)strlen(answer));
	else
		shutdown(sv[1], SHUT_WR); /* the server hangs up */
	int rc = lc__script_run(&s, sv[0], conn, 2, why, whylen, got, sizeof got, &got_len);
	close(sv[0]);
	ssize_t n = read(sv[1], sent, cap - 1);
	sent[n > 0 ? n : 0] = '\0';
	close(sv[1]);
	return rc;
}

Test(script, runs_with_the_connection_number)
{
	char sent[256], why[300];
	int rc = run_on_pair("send set k{n} 0 0 1\\r\\nx\\r\\n\nexpect STORED\nsend get k{n} t/{N} {x}\\r\\n\n",
			     "STORED\r\n", 42, sent, sizeof sent, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	cr_expect_str_eq(sent, "set k42 0 0 1\r\nx\r\nget k42 t/00000042 {x}\r\n");
}

Test(script, a_wrong_reply_is_quoted)
{
	char sent[256], why[300];
	int rc = run_on_pair("send version\\r\\n\nexpect VERSION\n", "ERROR\r\n\x01", 0, sent, sizeof sent, why,
			     sizeof why);
	cr_assert_eq(rc, -2);
	cr_expect(strstr(why, "'VERSION'") && strstr(why, "got 'ERROR\\r\\n\\x01'"), "why: %s", why);
	rc = run_on_pair("expect\n", NULL, 0, sent, sizeof sent, why, sizeof why);
	cr_assert_eq(rc, -2);
	cr_expect(strstr(why, "closed the connection without replying"), "why: %s", why);
}

/* The persistent vgdb relay: see relay.h.
 *
 * With no command (FACTS.md), vgdb relays between its stdin/stdout and
 * valgrind's gdbserver. On connect the target is halted; "QStartNoAckMode" saves the acks,
 * "QPassSignals" lets every signal through (otherwise a SIGTERM halts the server and reports
 * "T0f" to us), "c" resumes, a 0x03 byte halts it again ("T05"), "qRcmd,<hex>" runs a monitor
 * command ("O<hex>" packets, then "OK"). If vgdb dies while the target is halted, the target
 * stays stopped (state T) until a SIGCONT: close sends one when it had to kill vgdb.
 *
 * Why every "c" is preceded by "Hc<the stopped thread>" (valgrind/FACTS.md): on "c",
 * gdbserver makes the continue thread current (by default the process's first thread), reads
 * that thread's registers, then stores them back. When that thread is blocked in a system
 * call, it does not hold valgrind's lock, and a call that returns between the read and the
 * store has its result overwritten by the register's old value, the call's number: memcached's
 * main thread saw epoll_wait return 232 (libevent's "res <= epollop->nevents" assertion) and
 * accept4 return 288. The thread that stopped the target holds the lock while gdbserver runs,
 * so its registers cannot change under the store. */
#define _GNU_SOURCE
#include "valgrind/relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drive/proc.h"
#include "valgrind/vgdb.h"

#define RESUME_GAP 0.005       /* seconds between a resume and the next interrupt */
#define INTERRUPT_RESEND 0.1   /* seconds before an unanswered interrupt is sent again (doubling) */
#define HALTED_ANSWER 10.0     /* seconds a halted gdbserver may take to answer a packet */

static int relay_fail(struct lc_relay *r, char *err, size_t errlen, const char *what)
{
	char last[200];
	lc__last_line(r->err_path, last, sizeof last);
	snprintf(err, errlen, "vgdb relay: %s%s%s", what, last[0] ? ": " : "", last);
	return -1;
}

static int relay_write(struct lc_relay *r, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(r->to, data, len);
		if (n < 0 && errno == EINTR && !lc__cancelled())
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_packet(struct lc_relay *r, const char *payload)
{
	char framed[LC_RSP_MAX + 8];
	int n = lc__rsp_frame(payload, framed, sizeof framed);
	return n < 0 ? -1 : relay_write(r, framed, (size_t)n);
}

/* The next packet within the deadline. A running target (running: not halted) that has not
 * answered after LC_NUDGE_AFTER is nudged, if the relay has a nudge; then again after 0.1 s,
 * 0.2 s, 0.4 s... (at most 1 s apart) while it stays silent: one wake may run fewer basic
 * blocks than gdbserver's poll interval (an accept that goes straight back to epoll_wait runs
 * ~40 of the 50). Returns 0, or -1 with a reason. */
static int read_packet(struct lc_relay *r, char *out, size_t cap, double deadline, bool running, const char **why)
{
	bool may = running && r->nudge.fn;
	double gap = LC_NUDGE_AFTER, next = lc__now() + gap;
	for (;;) {
		enum lc_rsp_result res = lc__rsp_next(&r->rd, out, cap, NULL);
		if (res == LC_RSP_PACKET)
			return 0;
		if (res == LC_RSP_BAD) {
			*why = "a garbled packet";
			return -1;
		}
		double left = deadline - lc__now();
		r->timed_out = left <= 0 && !lc__cancelled();
		if (left <= 0 || lc__cancelled()) {
			*why = r->timed_out ? "no answer in time" : "interrupted";
			return -1;
		}
		if (may && lc__now() >= next) {
			r->nudge.fn(r->nudge.arg);
			r->nudges++;
			gap = gap < 0.1 ? 0.1 : gap * 2 < 1.0 ? gap * 2 : 1.0;
			next = lc__now() + gap;
		}
		double slice = may ? next - lc__now() : 0.1;
		slice = slice < 0.001 ? 0.001 : slice > 0.1 ? 0.1 : slice;
		struct pollfd p = { .fd = r->from, .events = POLLIN };
		int pr = poll(&p, 1, left > slice ? (int)(slice * 1000) : (int)(left * 1000) + 1);
		char state = 0;
		if (pr == 0 && (lc__proc_stat(r->target, NULL, 0, &state) < 0 || state == 'Z' || state == 'X')) {
			r->gone = true; /* it exited without a word: no answer will come */
			*why = "the server exited";
			return -1;
		}
		if (pr == 0 && state == 'T') { /* stopped by a signal (SIGSTOP): nothing runs gdbserver */
			r->broken = true;
			*why = "the server is stopped by a signal (state T)";
			return -1;
		}
		if (pr <= 0)
			continue; /* timeout or EINTR: the checks above decide */
		char buf[4096];
		ssize_t n = read(r->from, buf, sizeof buf);
		if (n <= 0) {
			*why = "vgdb exited";
			return -1;
		}
		if (lc__rsp_feed(&r->rd, buf, (size_t)n) < 0) {
			*why = "an over-long packet";
			return -1;
		}
	}
}

/* Reads packets until one that is not console output; stop and exit packets update state. */
static int read_reply(struct lc_relay *r, char *out, size_t cap, double deadline, bool running,
		      enum lc_rsp_kind *kind, const char **why)
{
	int num;
	do {
		if (read_packet(r, out, cap, deadline, running, why) < 0)
			return -1;
		*kind = lc__rsp_classify(out, &num);
	} while (*kind == LC_RSP_OUTPUT);
	if (*kind == LC_RSP_STOPPED && lc__rsp_stop_thread(out, r->stop_thread, sizeof r->stop_thread) < 0)
		r->stop_thread[0] = '\0';
	if (*kind == LC_RSP_EXITED || *kind == LC_RSP_KILLED) {
		r->gone = true;
		*why = "the server exited";
		return -1;
	}
	return 0;
}

int lc__relay_open(struct lc_relay *r, const char *vgdb, const char *prefix, pid_t pid, const struct lc_nudge *nudge,
		  double timeout, char *err, size_t errlen)
{
	char reply[256], pass[400];
	struct lc_vgdb_argv args;
	char **argv = lc__vgdb_argv(&args, vgdb, prefix, (int)pid, NULL, !nudge || !nudge->fn);
	double deadline = lc__now() + timeout;
	const char *why = NULL;
	enum lc_rsp_kind kind;
	memset(r, 0, sizeof *r);
	r->target = pid;
	if (nudge)
		r->nudge = *nudge;
	r->stopped = true; /* gdbserver halts the target while a connection is set up */
	snprintf(r->err_path, sizeof r->err_path, "%s-relay-%d.err", prefix, (int)pid);
	r->vgdb = lc__spawn_piped(argv, &r->to, &r->from, r->err_path, err, errlen);
	if (r->vgdb < 0)
		return -1;
	/* QPassSignals takes hex signal numbers; 1..64 covers every signal a server may get. */
	size_t len = (size_t)snprintf(pass, sizeof pass, "QPassSignals:");
	for (int s = 1; s <= 64; s++)
		len += (size_t)snprintf(pass + len, sizeof pass - len, "%x%s", s, s < 64 ? ";" : "");
	/* the target runs until gdbserver reads the first packet: that wait may need a nudge. A
	 * relay that ended without a detach left gdbserver owing its "c" a stop reply: it comes
	 * first, before the answer to this packet. The reply to "?" names the thread to resume
	 * from (see the top of this file). */
	int first = send_packet(r, "QStartNoAckMode");
	while (first == 0 && (first = read_reply(r, reply, sizeof reply, deadline, true, &kind, &why)) == 0 &&
	       kind == LC_RSP_STOPPED)
		;
	if (first < 0 ||
	    kind != LC_RSP_OK || send_packet(r, pass) < 0 || read_reply(r, reply, sizeof reply, deadline, false, &kind, &why) < 0 ||
	    kind != LC_RSP_OK || send_packet(r, "?") < 0 || read_reply(r, reply, sizeof reply, deadline, false, &kind, &why) < 0 ||
	    kind != LC_RSP_STOPPED || lc__relay_resume(r, err, errlen) < 0) {
		relay_fail(r, err, errlen, why ? why : "the handshake was refused");
		r->broken = true; /* no detach: it would wait for an answer that does not come */
		lc__relay_close(r);
		return -1;
	}
	return 0;
}

int lc__relay_interrupt(struct lc_relay *r, double timeout, char *err, size_t errlen)
{
	char reply[512];
	const char *why = NULL;
	enum lc_rsp_kind kind;
	if (r->stopped)
		return 0;
	/* gdbserver reads its FIFO in chunks: a 0x03 that arrives together with the "c" before
	 * it is lost in its buffer, and the interrupt is never answered (FACTS.md). */
	double since = lc__now() - r->resumed_at;
	if (since < RESUME_GAP)
		lc__sleep_ms((int)((RESUME_GAP - since) * 1000) + 1);
	/* The gap is not enough when the server is not scheduled in time (a loaded machine), so
	 * an unanswered 0x03 is sent
	 * again: a halted gdbserver discards bytes before a packet's '$', so a spare one is
	 * harmless, and a new byte wakes a gdbserver that holds the lost one in its buffer. */
	double deadline = lc__now() + timeout;
	for (double wait = INTERRUPT_RESEND;; wait *= 2) {
		if (relay_write(r, "\x03", 1) < 0)
			return relay_fail(r, err, errlen, "cannot write to vgdb");
		/* A signal passed through may still report a stop first: wait for the interrupt's own. */
		double until = lc__now() + wait < deadline ? lc__now() + wait : deadline;
		if (read_reply(r, reply, sizeof reply, until, true, &kind, &why) == 0)
			break;
		if (until >= deadline || !r->timed_out)
			return relay_fail(r, err, errlen, why);
		r->resends++;
	}
	if (kind != LC_RSP_STOPPED)
		return relay_fail(r, err, errlen, "unexpected reply to an interrupt");
	r->stopped = true;
	return 0;
}

int lc__relay_monitor(struct lc_relay *r, const char *cmd, char **text, double timeout, char *err,
		     size_t errlen)
{
	char *pkt = r->pkt, *hex = r->hex;
	size_t cap = 1 << 16, len = 0;
	double deadline = lc__now() + timeout;
	const char *why = "the command is too long";
	char *out = malloc(cap);
	int num;
	*text = NULL;
	if (!out)
		return relay_fail(r, err, errlen, "out of memory");
	memcpy(pkt, "qRcmd,", 6);
	if (lc__rsp_hex_encode(cmd, strlen(cmd), pkt + 6, sizeof r->pkt - 6) < 0 || send_packet(r, pkt) < 0)
		goto fail;
	for (;;) {
		if (read_packet(r, pkt, sizeof r->pkt, deadline, false, &why) < 0)
			goto fail;
		enum lc_rsp_kind kind = lc__rsp_classify(pkt, &num);
		if (kind == LC_RSP_OK)
			break;
		why = kind == LC_RSP_ERROR ? "the monitor command failed" : "the server exited";
		if (kind == LC_RSP_EXITED || kind == LC_RSP_KILLED)
			r->gone = true;
		if (kind != LC_RSP_OUTPUT)
			goto fail;
		long n = lc__rsp_hex_decode(pkt + 1, strlen(pkt + 1), hex, sizeof r->hex);
		while (n > 0 && len + (size_t)n + 1 > cap) {
			char *bigger = realloc(out, cap * 2);
			if (!bigger)
				goto fail;
			out = bigger;
			cap *= 2;
		}
		if (n > 0) {
			memcpy(out + len, hex, (size_t)n);
			len += (size_t)n;
		}
	}
	out[len] = '\0';
	*text = out;
	return 0;
fail:
	free(out);
	return relay_fail(r, err, errlen, why);
}

int lc__relay_resume(struct lc_relay *r, char *err, size_t errlen)
{
	char pkt[40], reply[256];
	const char *why = NULL;
	enum lc_rsp_kind kind;
	if (!r->stopped)
		return 0;
	/* An unknown thread (it exited meanwhile) gets "E..": then "c" as before. */
	snprintf(pkt, sizeof pkt, "Hc%s", r->stop_thread);
	if (r->stop_thread[0] &&
	    (send_packet(r, pkt) < 0 || read_reply(r, reply, sizeof reply, lc__now() + HALTED_ANSWER, false, &kind, &why) < 0))
		return relay_fail(r, err, errlen, why ? why : "cannot write to vgdb");
	if (send_packet(r, "c") < 0)
		return relay_fail(r, err, errlen, "cannot write to vgdb");
	r->stopped = false;
	r->resumed_at = lc__now();
	return 0;
}

void lc__relay_drop(struct lc_relay *r)
{
	r->broken = true;
	lc__relay_close(r);
}

void lc__relay_close(struct lc_relay *r)
{
	char err[256], reply[64];
	const char *why;
	enum lc_rsp_kind kind;
	int status;
	if (r->vgdb <= 0)
		return;
	/* Detach cleanly if we can: halt (D wants a halted target), D, then vgdb exits itself. */
	if (!r->gone && !r->broken && lc__relay_interrupt(r, 1.0, err, sizeof err) == 0 && send_packet(r, "D") == 0)
		read_reply(r, reply, sizeof reply, lc__now() + 1.0, false, &kind, &why);
	close(r->to);
	close(r->from);
	if (lc__wait(r->vgdb, r->broken ? 0.1 : 1.0, &status) < 0) {
		lc__stop(r->vgdb, 0.2);
		if (!r->gone)
			kill(r->target, SIGCONT); /* vgdb died holding the target halted */
	}
	r->vgdb = -1;
	r->to = r->from = -1;
}

/* One `vgdb --pid=P` relay per measured process, kept for the whole run: leakcheck speaks the
 * gdb remote protocol (rsp.h) to it on its stdin/stdout. A monitor command then costs an
 * interrupt (~4 ms) and the command itself (~1-3 ms), against ~110 ms for starting a vgdb per
 * command. Signals pass straight through to the server (QPassSignals), so a SIGTERM or a
 * crash is never held up by the relay.
 *
 * Ownership: lc__relay_open starts the vgdb process and the relay owns it (and its pipes) until
 * lc__relay_close, which always leaves the server running and the vgdb process reaped. */
#ifndef LC_RELAY_H
#define LC_RELAY_H

#include <stdbool.h>
#include <sys/types.h>

#include "valgrind/rsp.h"
#include "valgrind/vgdb.h"

struct lc_relay {
	pid_t vgdb;                 /* the relay process (owned), -1 when closed */
	pid_t target;               /* the server process it talks to (borrowed) */
	int to, from;               /* pipes to vgdb's stdin and from its stdout (owned) */
	bool stopped;               /* the target is halted in valgrind's gdbserver */
	char stop_thread[24];       /* the thread the latest stop reply named (hex), "" if none */
	double resumed_at;          /* when "c" was sent (lc__now) */
	unsigned resends;           /* interrupts sent again because one went unanswered */
	bool broken;                /* close without detaching (a failed handshake, lc__relay_drop, the
	                             * target stopped by a signal) */
	bool gone;                  /* the target exited or was killed (an exit packet came) */
	bool timed_out;             /* the latest wait for a packet got no answer in time */
	struct lc_nudge nudge;      /* how to wake the target without ptrace; fn NULL: vgdb's invoker */
	unsigned nudges;            /* times it was called */
	char err_path[600];         /* vgdb's stderr */
	struct lc_rsp_reader rd;
	char pkt[LC_RSP_MAX + 8];   /* lc__relay_monitor's packet, sent and received */
	char hex[LC_RSP_MAX];       /* and its output decoded */
};

/* Start the relay (vgdb is the vgdb program; prefix valgrind's --vgdb-prefix), turn acks off,
 * let every signal pass, and resume the target. nudge: NULL (vgdb's ptrace invoker wakes the
 * target), or how to wake it without ptrace whenever an answer is overdue. Returns 0, or -1
 * with a reason (the relay is closed then, the target left running). */
int lc__relay_open(struct lc_relay *r, const char *vgdb, const char *prefix, pid_t pid, const struct lc_nudge *nudge,
		  double timeout, char *err, size_t errlen);
/* Halt the target (no-op if halted). */
int lc__relay_interrupt(struct lc_relay *r, double timeout, char *err, size_t errlen);
/* Run a monitor command on the halted target; *text gets its output (malloc'd, NUL-ended,
 * the caller frees it). */
int lc__relay_monitor(struct lc_relay *r, const char *cmd, char **text, double timeout, char *err,
		     size_t errlen);
/* Let the target run again (no-op if running), resuming from the thread that stopped it
 * ("Hc" first: see relay.c). */
int lc__relay_resume(struct lc_relay *r, char *err, size_t errlen);
/* Detach and reap the relay; the target runs on whatever happened before. Safe to call twice. */
void lc__relay_close(struct lc_relay *r);
/* End the relay without a detach (whose halt may be a ptrace): vgdb exits at the end of its
 * input, gdbserver sees it gone at its next poll and owes the next relay the stop reply of
 * this one's last "c". The target must be running (resumed). */
void lc__relay_drop(struct lc_relay *r);

#endif

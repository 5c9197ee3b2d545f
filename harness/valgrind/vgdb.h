/* Mid-run heap snapshots of a server under memcheck, taken with vgdb's monitor command
 * "leak_check full reachable increased". vgdb prints text (never XML), so this module reads
 * its LEAK SUMMARY and the loss records that grew since the previous check. */
#ifndef LC_VGDB_H
#define LC_VGDB_H

#include <stdbool.h>
#include <stddef.h>

#include "valgrind/vgxml.h"

/* The next line of *text into line (cap bytes), its "==PID== " prefix removed (valgrind puts
 * one before every line of a monitor command's answer); false at the end. */
bool lc__vgdb_next_line(const char **text, char *line, size_t cap);

/* Parse vgdb's output text. Returns 0, or -1 with a reason when no LEAK SUMMARY is in it. */
int lc__vgdb_parse(const char *text, struct lc_snapshot *snap, char *err, size_t errlen);

/* Every loss record in text, in order, with its number: fn(site, arg) for each. Returns how
 * many, or -1 when there is no LEAK SUMMARY. */
int lc__vgdb_records(const char *text, void (*fn)(const struct lc_site *, void *), void *arg);

/* Appends one frame line ("at 0x4848899: malloc (vg_replace_malloc.c:381)", "by 0x1: ???
 * (in /usr/bin/memcached)") to rec's stack, if it has room. */
void lc__vgdb_frame(const char *line, struct lc_record *rec);

/* Run vgdb against pid (valgrind started with --vgdb-prefix=prefix) and parse its answer.
 * out_path receives vgdb's raw output. Returns 0, or -1 with a reason (timeout, no answer). */
int lc__vgdb_snapshot(const char *prefix, int pid, const char *out_path, double timeout,
		     struct lc_snapshot *snap, char *err, size_t errlen);

/* The monitor command of a snapshot: the totals and the loss records that grew since the
 * previous leak check (any leak check, a summary one too, restarts "increased" from itself). */
#define LC_SNAPSHOT_FULL "leak_check full reachable increased"

/* The same with a given vgdb program (the one beside --valgrind) and monitor command. */
int lc__vgdb_snapshot_with(const char *vgdb, const char *cmd, const char *prefix, int pid, const char *out_path,
			  double timeout, struct lc_snapshot *snap, char *err, size_t errlen);

/* How to make a target that sleeps in a system call run a few basic blocks, so that valgrind's
 * gdbserver reads its FIFO (it polls every --vgdb-poll blocks), without vgdb's ptrace invoker:
 * the invoker interrupts a blocked system call, and in a multi-threaded process that corrupts
 * the call's result (FACTS.md: memcached's epoll_wait returned more events than asked, or a
 * worker never returned to its loop). fn is called when an answer is overdue; NULL fn: use
 * the invoker (a process with one thread). */
struct lc_nudge {
	void (*fn)(void *arg);
	void *arg;                  /* borrowed: fn's */
};
#define LC_NUDGE_AFTER 0.01     /* seconds without an answer before fn is called */

/* vgdb's command line for process pid of a valgrind started with --vgdb-prefix=prefix: with
 * cmd, one monitor command; without (NULL), a relay speaking the gdb protocol on its stdin
 * and stdout. The one builder of vgdb's argv; its strings live in *a. */
struct lc_vgdb_argv {
	char prefix[600];
	char pid[32];
	char *argv[8];
};
char **lc__vgdb_argv(struct lc_vgdb_argv *a, const char *vgdb, const char *prefix, int pid, const char *cmd,
		    bool ptrace);

/* Run one monitor command with one vgdb (nudge: NULL, or how to wake the target without
 * ptrace): *text gets its output, maybe empty (malloc'd; the caller frees
 * it), also written to out_path. Returns 0, or -1 with a reason. */
int lc__vgdb_command(const char *vgdb, const char *cmd, const char *prefix, int pid, const char *out_path,
		    double timeout, const struct lc_nudge *nudge, char **text, char *err, size_t errlen);


#endif

/* An engine measures the server's processes: how it is started, what a snapshot of one process
 * reads, and what can be asked of a halted one. lc_run speaks to an engine only through
 * struct lc_engine_ops, as the kernel's VFS speaks to a file system through struct
 * file_operations, so adding an engine is a new table, not a new branch in run.c.
 *
 *   memcheck (memcheck.c)  the server under valgrind; a snapshot is a vgdb leak check
 *   native (native.c)      the server as it is; a snapshot reads the allocator preload's
 *                          counts (preload/lcalloc.c), or where it is absent, /proc's pages
 *
 * What every engine shares lives here (engine.c): the server's process tree, the slot each
 * measured process keeps for the whole run, and which of them can be measured.
 *
 * One rule for the table: an op left NULL means its default, and only engine.c calls the
 * table: everyone else calls the lc_engine_* wrapper below, which applies the default (as
 * redis's connection.h wraps its ConnectionType). Nothing outside engines/ tests which engine
 * it has: what a report needs to know is a capability (has_exit_report, the measure).
 *
 * Ownership: struct lc_engine is the caller's (run.c's); its state is the engine's own,
 * allocated by open and freed by close. Slots are indexes into procs[]: a slot stays the same
 * process until that process is dead and not pinned (engine.c's free_slot). */
#ifndef LC_ENGINE_H
#define LC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc/leakcheck.h"
#include "util/records.h"

struct lc_proc {
	int pid;
	char name[32];              /* its program (a valgrind'ed process's comm is the tool's) */
	bool unreachable;           /* the engine cannot measure it: not measured */
	char why[200];              /* why, when unreachable */
	bool alive;                 /* seen at the latest lc__engine_discover */
	bool pinned;                /* measured at the baseline: its slot is never reused */
};

struct lc_engine;

struct lc_engine_ops {
	const char *name;           /* "memcheck", "native": the report's engine */
	enum lc_measure measure;    /* what it measures until a snapshot says (native: allocator) */
	const char *reacher;        /* what reaches a process to measure it: "X cannot reach it" */
	const char *slow;           /* what makes a connection take seconds under it, for the user */
	const char *flag;           /* the CLI option that chooses it ("" for the default) */
	unsigned cycles, warmup;    /* its defaults of --cycles and --warmup (lc_options_init) */
	/* Options this engine cannot take. Returns 0, or -1 with a one-line reason. NULL: any. */
	int (*check)(const struct lc_options *o, char *err, size_t errlen);
	/* Allocate e->state for a run whose work folder is dir. Returns 0, or -1 with a reason. */
	int (*open)(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen);
	/* The command that starts the server: malloc'd, NULL-ended, strings borrowed from e and
	 * server. NULL: out of memory. */
	char **(*argv)(struct lc_engine *e, char *const server[]);
	/* NAME=VALUE entries the server's environment gets (NULL-ended, borrowed from e), or NULL:
	 * the native engine's allocator preload (LD_PRELOAD, its folder, PYTHONMALLOC). */
	char *const *(*env)(struct lc_engine *e);
	/* Whether process pid of the server's tree is the engine's to measure at all (memcheck:
	 * it has a vgdb FIFO; a child valgrind does not trace has none). */
	bool (*traced)(struct lc_engine *e, int pid);
	/* The name of process pid, for the report; NULL: its comm. */
	void (*name_of)(int pid, char *name, size_t len);
	/* Refresh slot i's unreachable/why: a live process may have become one the engine cannot
	 * reach (memcheck: a worker that switched user). */
	void (*check_proc)(struct lc_engine *e, size_t i);
	/* A process of the tree appeared after the server was ready: it forks while serving.
	 * NULL: nothing to do (so for check_proc, gone, baseline, detach). */
	void (*forks)(struct lc_engine *e);
	/* Slot i's process is dead: release what the engine holds of it. */
	void (*gone)(struct lc_engine *e, size_t i);
	/* One snapshot of slot i into s: heap totals, fds, threads; with full, the loss records
	 * that grew since the previous full one too. Returns 0, or -1 with a reason. */
	int (*snapshot)(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *s, char *err, size_t errlen);
	/* Who holds each of sites[0..n) (growing sites of slot i, halted or idle) into out; *calls
	 * gets the commands that took. 0, or -1: nothing could be searched. NULL: no search (-1). */
	int (*holders)(struct lc_engine *e, size_t i, const struct lc_site *sites, size_t n,
		       const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls);
	/* After the baseline: what the engine learns from it (native: the byte rule's floor). */
	void (*baseline)(struct lc_engine *e, struct lc_report *rep);
	/* Let go of every process (detach, resume), so signals reach the server as they are. */
	void (*detach)(struct lc_engine *e);
	/* After the server exited: the exit report into rep (memcheck: the XML). 0 or -1. NULL:
	 * the engine has no exit report (lc__engine_has_exit_report). */
	int (*exit_report)(struct lc_engine *e, struct lc_report *rep, char *err, size_t errlen);
	/* How snapshots were taken, for the report. */
	void (*describe)(const struct lc_engine *e, char *buf, size_t len);
	/* Why pid (program exe), which holds the server end of a connection, is not measured. */
	void (*unmeasured)(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len);
	/* Why the server's first process can no longer be measured while it still runs. */
	void (*lost)(const struct lc_engine *e, char *buf, size_t len);
	/* What in the server's failure (its reply or stderr: text) the engine itself caused, as a
	 * hint appended to buf; NULL: nothing (memcheck: valgrind's fd limit under setrlimit). */
	void (*failure_hint)(const char *text, char *buf, size_t len);
	void (*close)(struct lc_engine *e);
};

struct lc_engine {
	const struct lc_engine_ops *ops; /* borrowed: a static table */
	void *state;                /* owned by the engine (ops->open, ops->close) */
	double timeout;             /* every wait on the server, seconds */
	bool slow_commands;         /* each command costs a process start (~0.1 s): spend fewer */
	void (*wake)(void *arg, int pid); /* the run's: make process pid run a little (it opens a connection
	                             * to it), for an engine that must not interrupt it otherwise */
	void *wake_arg;             /* borrowed: wake's */
	int root;                   /* the server's first process */
	struct lc_proc procs[LC_MAX_PROCS];
	size_t nprocs;
	int ready[LC_MAX_PROCS * 4];/* the server's processes when it became ready */
	size_t nready;
	unsigned skipped;           /* processes of the tree over LC_MAX_PROCS, not measured */
};

extern const struct lc_engine_ops lc__memcheck_ops, lc__native_ops;

/* The table of engine k. */
const struct lc_engine_ops *lc__engine_ops_of(enum lc_engine_kind k);
/* The engine o names, opened for a run in dir. Returns 0, or -1 with a reason. */
int lc__engine_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen);
/* Detach, then free the engine's state; harmless twice. */
void lc__engine_close(struct lc_engine *e);
/* The table's ops, each with its default where the op is NULL (see the table's comments). */
int lc__engine_check(enum lc_engine_kind k, const struct lc_options *o, char *err, size_t errlen);
char **lc__engine_argv(struct lc_engine *e, char *const server[]);
char *const *lc__engine_env(struct lc_engine *e);
int lc__engine_snapshot(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *s, char *err, size_t errlen);
int lc__engine_holders(struct lc_engine *e, size_t i, const struct lc_site *sites, size_t n,
		      const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls);
void lc__engine_baseline(struct lc_engine *e, struct lc_report *rep);
void lc__engine_detach(struct lc_engine *e);
bool lc__engine_has_exit_report(const struct lc_engine *e);
bool lc__engine_has_exit_report_of(enum lc_engine_kind k);
int lc__engine_exit_report(struct lc_engine *e, struct lc_report *rep, char *err, size_t errlen);
void lc__engine_describe(const struct lc_engine *e, char *buf, size_t len);
void lc__engine_unmeasured(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len);
void lc__engine_lost(const struct lc_engine *e, char *buf, size_t len);
/* What the engine measures before any snapshot said. */
enum lc_measure lc__engine_measure(enum lc_engine_kind k);
/* ops->failure_hint for the server's failure text, appended to buf (nothing without one). */
void lc__engine_failure_hint(const struct lc_engine *e, const char *text, char *buf, size_t len);
/* What makes a connection take seconds under engine k, in the user's words. */
const char *lc__engine_slow_reason(enum lc_engine_kind k);
/* Engine k's defaults into o (--cycles, --warmup). */
void lc__engine_defaults(enum lc_engine_kind k, struct lc_options *o);

/* Remember the server's processes (at the baseline: workers forked at start-up are there by
 * then): one that appears later means it forks while serving. */
void lc__engine_mark_ready(struct lc_engine *e);
/* Refresh the measured processes: the root and its live descendants the engine traces. A new
 * process takes a free slot, else the slot of a dead one that is not pinned (a child per
 * connection would fill them all). Returns the count of live ones. */
size_t lc__engine_discover(struct lc_engine *e);
/* The live pids, for socket ownership checks. */
size_t lc__engine_pids(const struct lc_engine *e, int *pids, size_t cap);
/* The slot of pid, or -1. */
int lc__engine_find(const struct lc_engine *e, int pid);

#endif

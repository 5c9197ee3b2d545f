/* The server's measured processes, and the memcheck engine that measures them (with native
 * set, the native engine measures them instead: native.h, and nothing here speaks to vgdb).
 * The memcheck engine: the server tree runs under valgrind memcheck; every process of it that
 * has a vgdb FIFO (valgrind follows fork, and exec with --trace-children) can be snapshotted.
 * One relay per process (relay.h) makes a snapshot cost milliseconds; where a relay cannot
 * be opened, one vgdb per command (vgdb.h) is the fallback and the report says so. */
#ifndef LC_MEMCHECK_H
#define LC_MEMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lc/relay.h"
#include "lc/vgdb.h"

#define LC_MAX_PROCS 8

struct mc_proc {
	int pid;
	char name[32];              /* comm */
	struct lc_relay relay;      /* owned while has_relay */
	bool has_relay;
	bool relay_tried;           /* opened lazily, at the first snapshot */
	bool unreachable;           /* a process vgdb cannot talk to: not measured */
	char why[200];              /* why, when unreachable */
	bool alive;                 /* seen at the latest mc_discover */
	bool pinned;                /* measured at the baseline: its slot is never reused */
};

struct mc_engine {
	bool native;                /* the native engine: every process of the tree, read in /proc */
	const char *valgrind;       /* borrowed: the valgrind program */
	char vgdb[600];             /* vgdb beside that valgrind, else from PATH */
	char prefix[600];           /* --vgdb-prefix: a private dir, so runs never collide */
	char xml[600];              /* --xml-file pattern, with %p */
	const char *suppressions;   /* borrowed, or NULL */
	const char *trace_skip;     /* borrowed: --trace-children-skip patterns, or NULL */
	bool gen_suppressions;      /* --gen-suppressions=all: exit records carry theirs */
	double timeout;
	int root;                   /* the pid valgrind was started as */
	struct mc_proc procs[LC_MAX_PROCS];
	size_t nprocs;
	bool no_relay;              /* a relay failed: every snapshot starts a vgdb */
	char relay_note[320];       /* why, for the report */
	int ready[LC_MAX_PROCS * 4];/* the server's processes when it became ready */
	size_t nready;
	unsigned skipped;           /* processes of the tree over LC_MAX_PROCS, not measured */
};

/* valgrind [memcheck options] SERVER ARGS: the one builder of valgrind's argv. Returns a
 * malloc'd NULL-terminated array (strings borrowed from e, opt and server), or NULL. */
char **mc_argv(const struct mc_engine *e, char *const server[], char opt[][640]);
/* Path of process pid's exit report (the --xml-file pattern with %p filled in). */
void mc_xml_path(const struct mc_engine *e, int pid, char *out, size_t len);
/* Remember the server's processes (at the baseline: workers forked at start-up are there by
 * then): one that appears later means it forks while serving, and then relays are not used. */
void mc_mark_ready(struct mc_engine *e);
/* Refresh the list of measured processes: the root and its live descendants that have a vgdb
 * FIFO; relays are closed for the dead. A new process takes a free slot, else the slot of a
 * dead one that is not pinned (a child per connection would fill them all). Returns the
 * count of live ones. */
size_t mc_discover(struct mc_engine *e);
/* The live pids, for socket ownership checks. */
size_t mc_pids(const struct mc_engine *e, int *pids, size_t cap);
struct mc_proc *mc_find(struct mc_engine *e, int pid);
/* Run one monitor command on process p, which stays halted (with a relay) until mc_resume:
 * several commands then see one state of the heap. *text gets the output (malloc'd; the
 * caller frees it), out_path a copy. Returns 0, or -1 with a reason. */
int mc_command(struct mc_engine *e, struct mc_proc *p, const char *cmd, const char *out_path, char **text,
	       char *err, size_t errlen);
int mc_resume(struct mc_engine *e, struct mc_proc *p, char *err, size_t errlen);
/* One heap snapshot of one process (its open fds too) with the monitor command cmd
 * (LC_SNAPSHOT_FULL or _SUMMARY). out_path gets the raw answer. */
int mc_snapshot(struct mc_engine *e, struct mc_proc *p, const char *cmd, const char *out_path,
		struct lc_snapshot *snap, char *err, size_t errlen);
/* Close every relay: detach from live processes, reap the vgdb of those that exited. */
void mc_close(struct mc_engine *e);

#endif

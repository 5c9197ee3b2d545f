/* The state of one lc_run and the steps run.c strings together, each in its file:
 *   server.c    the server's lifecycle and work folder: start, readiness, SIGTERM, failures
 *   traffic.c   the connections: what each says (the script), batches, close modes, the probe
 *   snapshot.c  a snapshot of every measured process, quiescent and settled (run.c's header)
 *   sites.c     which allocation sites grew in every round
 *   holders.c   who holds the sites that grew, once the verdict is a leak
 *   python.c    the Python agent in a CPython server: armed at start, a collection per snapshot
 * Private to harness/run/: nothing here is installed. */
#ifndef LC_RUN_H
#define LC_RUN_H

#include <stdbool.h>
#include <sys/types.h>

#include "analysis/judge.h"
#include "drive/command.h"
#include "drive/quiesce.h"
#include "drive/script.h"
#include "drive/watchdog.h"
#include "engines/engine.h"
#include "lc/leakcheck.h"

enum lc_run_path { LC_PATH_OUT, LC_PATH_ERR, LC_NPATHS }; /* the server's stdout and stderr */

#define LC_MAX_WAKES 16           /* wake connections held open at once (each snapshot needs one or two) */
#define LC_MAX_HISTORY 32         /* sites followed per process across the rounds */

/* A site seen growing in some round of one process, and its growth in each round. */
struct lc_site_history {
	struct lc_site site;          /* as last seen */
	struct lc_site_rounds rounds;
};

/* What the run knows of the process in slot i: the same process as the engine's procs[i] and
 * the report's procs[i] (snapshot.c asserts it); a slot taken by a new process starts afresh. */
struct lc_slot {
	int pid;                      /* the process the fields below describe */
	int first;                    /* the snapshot it was first measured at, -1: never */
	unsigned accepts;             /* snapshots at which it held the probe's server end */
	unsigned alive_at;            /* snapshots at which it was alive */
	struct lc_site_history hist[LC_MAX_HISTORY]; /* sites.c: its sites seen growing */
	size_t nhist;
};

struct lc_run_state {
	const struct lc_options *o;   /* borrowed */
	struct lc_report *rep;        /* borrowed */
	pid_t pid;                    /* the server's first process, -1 once reaped */
	unsigned port;
	char dir[512];                /* the work folder */
	char path[LC_NPATHS][600];
	char err[512];
	int probe;                    /* fd of the probe held across a snapshot, -1 if none */
	struct lc_engine eng;         /* what measures the server (engines/engine.h) */
	struct lc_snapshot *snaps;    /* owned: 2 * LC_MAX_PROCS + 1: prev and cur per process, tmp */
	struct lc_slot slot[LC_MAX_PROCS]; /* slot i: the process of eng.procs[i] and rep->procs[i] */
	struct lc_script script;      /* what each connection says and waits for */
	unsigned long opened;         /* connections opened so far: {n} in the script */
	struct lc_command cmd;        /* the server's command line and --config copy (owned) */
	int acceptor;                 /* the slot that holds the current probe's server end, -1 */
	long counter;                 /* --stats: the server's counter read on the current probe */
	double t0;                    /* when the run started (lc__now) */
	double progress_at;           /* traffic.c: when the progress line was last written */
	double mark;                  /* run.c: where the current phase began (struct lc_phases) */
	double settled_at_mark;       /* run.c: the report's settle_seconds then */
	bool slow_said;               /* traffic.c: the slow-connection line was written */
	struct lc_quiesce quiet;      /* the server's idle sockets, for step 1 */
	int wakes[LC_MAX_WAKES];      /* connections opened to wake the server (engine.h's wake), owned */
	unsigned nwakes;
	int agent_wakes[LC_MAX_WAKES];/* the same to a process's Python agent (not the server's), owned */
	unsigned nagent_wakes;
	char reply[4096];             /* the reply of a connection whose script failed (--keep: reply.bin) */
	struct lc_watchdog dog;       /* kills the server if the harness dies (drive/watchdog.h) */
	char pyenv[2][1400];          /* python.c: PYTHONPATH=..., LEAKCHECK_PYAGENT=... */
	struct lc_pytrack *py;        /* python.c: owned, LC_MAX_PROCS x LC_PY_TRACK: type counts */
	char *env[16];                /* borrowed: the server's added environment, the engine's entries then pyenv */
	bool agent_armed;             /* the agent's folder was found and put on PYTHONPATH */
};

/* Whether a run that fails keeps its work dir: --keep, or LEAKCHECK_KEEP_FAILED=1. */
bool lc__run_keeps_failed(const struct lc_options *o);
/* The run ends in an error: the reason (fmt with one %s) into the report. Returns -1. */
int lc__run_fail(struct lc_run_state *r, const char *fmt, const char *detail);

/* server.c */
int lc__workdir_make(struct lc_run_state *r);
void lc__workdir_remove(struct lc_run_state *r);
/* Start the server under the engine and wait until it is ready. 0, or -1 (reason set). */
int lc__server_start(struct lc_run_state *r);
/* After a failed exchange: whether the server died, or else what failed (why: NULL for
 * strerror(errno)). Returns -1 with the reason set. */
int lc__server_failed(struct lc_run_state *r, const char *what, const char *why);
/* After a failed snapshot: the server died, or the engine failed (r->err). Returns -1. */
int lc__server_lost(struct lc_run_state *r);
/* SIGTERM, wait, the engine's exit report. 0, or -1 (reason set). */
int lc__server_finish(struct lc_run_state *r);

/* traffic.c */
int lc__traffic_script(struct lc_run_state *r);
/* Connect and exchange the script. Returns the fd, or -1 (reason set). */
int lc__traffic_open(struct lc_run_state *r);
/* n connections in batches of --concurrency, each closed as the options say. */
int lc__traffic_drive(struct lc_run_state *r, unsigned n, const char *phase);
/* On a terminal: the run is in phase now (settling, holders, the exit report). */
void lc__progress_phase(struct lc_run_state *r, const char *phase);
/* Close the probe, the first connection of a round, and the wake connections, which are no
 * round's (they ran no script). Returns how many of the round's it closed (0 or 1), or -1
 * (reason set). */
int lc__traffic_close_probe(struct lc_run_state *r);
/* engine.h's wake: a connection to the server, opened and left open (a listener that wakes to
 * accept it runs a few basic blocks); it is closed with the probe, and counted in no round: only
 * where the memcheck engine's ticker (preload/lcwake.c) is not in the process. A process that runs the Python agent is woken by a ping to the agent instead: a
 * server that serves one connection at a time would block reading a silent wake connection
 * and run nothing more. arg: the run. */
void lc__traffic_wake(void *arg, int pid);

/* sites.c: which sites grew in every round */
/* Slot i's sites of round k (the loss records that grew since the previous snapshot). */
void lc__sites_record(struct lc_run_state *r, size_t i, size_t k, const struct lc_snapshot *cur);
/* The first n rounds of slot i left out, as its rounds are. */
void lc__sites_drop(struct lc_run_state *r, size_t i, size_t n);
/* Round k of slot i forgotten (the confirming round: not a judged one). */
void lc__sites_forget(struct lc_run_state *r, size_t i, size_t k);
/* Slot i's growing sites: those that grew in every one of its rounds, into its result; the
 * others summarized (some_rounds). */
void lc__sites_select(struct lc_run_state *r, size_t i);

/* holders.c */
/* For each process that leaks, who holds each site that grew by the byte rule's floor at
 * least, searched by the engine (an engine without holders: nothing searched); a site whose
 * growth was freed since the snapshot is dropped from the growing sites. */
void lc__holders_run(struct lc_run_state *r);

/* python.c: the Python agent (harness/pyagent/) */
/* The server's added environment: the engine's entries, then the agent's (PYTHONPATH first
 * with the agent's folder, LEAKCHECK_PYAGENT the work folder). NULL-ended, in r. */
char *const *lc__python_env(struct lc_run_state *r);
/* Before snapshot idx: a full collection in every measured process that runs the agent; the
 * objects it freed counted for the rounds. 0, or -1 (reason set): an agent failed. */
int lc__python_collect(struct lc_run_state *r, unsigned idx);
/* The last snapshot's type counts forgotten (the confirming round's: not a judged round). */
void lc__python_forget_snapshot(struct lc_run_state *r);
/* At the baseline: whether the Python layer is on, or why it is off, into the report. */
void lc__python_state(struct lc_run_state *r);
/* Once judged and the probe closed, for the first leaking process that runs the agent: the
 * types that grew in every round, each with its allocation site and holders (the agent's
 * explain, after one more round traced), into the report. 0, or -1 (reason set). */
int lc__python_explain(struct lc_run_state *r);
/* Free what python.c allocated. */
void lc__python_free(struct lc_run_state *r);

/* snapshot.c */
/* Step 1 of the quiescence scheme; the largest rest of unclosed connections into the report. */
void lc__snapshot_wait_closed(struct lc_run_state *r);
/* Snapshot idx (0: the baseline) of every live process: steps 1 to 3, then each measured. */
int lc__snapshot_take(struct lc_run_state *r, unsigned idx);

#endif

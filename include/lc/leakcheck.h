/* leakcheck: start a TCP server under an engine (memcheck: valgrind; native: an allocator
 * preload), drive connect/disconnect cycles at it over loopback, and judge leaks at exit
 * (memcheck's XML report) and while it runs (snapshots of the heap, fds, threads; in a Python
 * server, the agent's counts of live objects per type), naming what holds what grew. The CLI
 * (harness/cli/main.c), leakcheck-demo and the regression tests all call lc_run(). */
#ifndef LC_LEAKCHECK_H
#define LC_LEAKCHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "lc/records.h"

enum lc_verdict { LC_CLEAN = 0, LC_LEAK = 1, LC_ERROR = 2 }; /* also the CLI's exit status */

/* What measures the server (harness/engines/): memcheck, the server under valgrind, a snapshot
 * a leak check through vgdb; native, the server as it is with an allocator preload, a snapshot
 * its counts (or /proc's pages where it cannot be preloaded). */
enum lc_engine_kind { LC_ENGINE_MEMCHECK, LC_ENGINE_NATIVE };
const char *lc_engine_name(enum lc_engine_kind k); /* "memcheck", "native" */
const char *lc_engine_flag(enum lc_engine_kind k); /* the CLI option that chooses it: "", "--native" */

#define LC_MAX_PROCS 8           /* processes of the server measured at once */

#define LC_MAX_ROUNDS 100
#define LC_TEXT_MAX 256
#define LC_MAX_SERIES 512
/* The byte rule's floor: heap bytes must grow by at least this much per connection in every
 * round. One byte is the smallest growth a connection can cause; the heap of a quiescent,
 * settled server does not drift by itself, so anything below it is noise we cannot tell. */
#define LC_BYTES_FLOOR 1

struct lc_options {
	char **server_argv;          /* borrowed: SERVER ARGS..., NULL-terminated; "{port}" replaced */
	unsigned cycles;             /* connections per round (default 200) */
	unsigned rounds;             /* measured rounds (default 3) */
	unsigned confirm;            /* growth under one block (fd, thread, object) a connection is
	                              * confirmed by a round of confirm x cycles connections: a leak
	                              * grows about confirm times a round's growth, a cache that fills
	                              * does not (default LC_CONFIRM_TIMES; 0: never) */
	unsigned warmup;             /* connections before the baseline (default 20) */
	unsigned concurrency;        /* connections open at once (default 1) */
	enum lc_close close;         /* default LC_CLOSE_MIX */
	char send[LC_TEXT_MAX];      /* default "ping\n"; "" sends nothing */
	char expect[LC_TEXT_MAX];    /* reply to wait for; "" with expect_any: any byte */
	bool expect_any;
	char quit[LC_TEXT_MAX];      /* default "QUIT\n" */
	size_t send_len, expect_len, quit_len; /* bytes of each (they may hold NUL); 0: strlen */
	const char *script;          /* borrowed: --script FILE (replaces send/expect), or NULL */
	unsigned port;               /* --port N: the server's fixed port (0: {port} or its line) */
	const char *config;          /* borrowed: --config TEMPLATE, copied with {port} and {dir}
	                              * filled in; {config} in ARGS is the copy's path. Or NULL */
	double timeout;              /* seconds, every wait on the server once it is ready (default 10) */
	double ready_timeout;        /* seconds for it to become ready: its line, its port (default 60:
	                              * a big server under valgrind on a busy machine starts slowly) */
	const char *ready;           /* borrowed: readiness regex, NULL for the default */
	const char *suppressions;    /* borrowed: valgrind suppressions file, or NULL */
	const char *baseline;        /* borrowed: known leaks (baseline.c) that do not fail, or NULL */
	const char *write_baseline;  /* borrowed: record today's growing sites there, or NULL */
	const char *write_suppressions; /* borrowed: write a suppression for every loss at exit
	                              * here (for review), or NULL */
	const char *keep_dir;        /* borrowed: keep raw logs here, or NULL (temp dir, removed) */
	const char *valgrind;        /* borrowed: valgrind program (default "valgrind") */
	const char *trace_skip;      /* borrowed: --trace-children-skip patterns, or NULL */
	double settle;               /* seconds the heap must stop shrinking for before a grown
	                              * snapshot is trusted (default 0.5) */
	unsigned every;              /* extra series snapshots every N connections (0: none) */
	const char *alloc_fns[LC_MAX_ALLOC_FNS + 1]; /* borrowed: --alloc-fn wrappers, NULL-ended */
	bool progress;               /* a progress line on stderr */
	enum lc_engine_kind engine;  /* chosen by lc_options_init */
	const char *stats;           /* borrowed: --stats TEXT, sent on the probe connection at each
	                              * snapshot, or NULL (escapes already undone; stats_len bytes) */
	size_t stats_len;
	const char *stats_field;     /* borrowed: --stats-field REGEX, group 1 = the counter */
	const char *source_dir;      /* borrowed: --source-dir DIR, where --html looks for the source
	                              * files of stack frames first, or NULL */
};

/* One growing site's growth in each measured round. */
struct lc_site_rounds {
	long blocks[LC_MAX_ROUNDS], bytes[LC_MAX_ROUNDS];
};

/* Sites that grew in some measured rounds only (a connection caught in flight, one-time growth):
 * not listed as growing sites, summarized. */
struct lc_some_rounds {
	unsigned sites;
	long bytes;                  /* their growth over all the measured rounds */
};

struct lc_round {
	long dblocks, dbytes;        /* heap growth over the round (all kinds); natively: blocks 0,
	                              * bytes of anonymous memory */
	int dfds;                    /* open-fd growth over the round */
	int dthreads;                /* thread growth over the round */
	long dobjects;               /* the server's counter (--stats), 0 without it */
	long dpages;                 /* natively with the allocator measure: anonymous memory grown
	                              * over the round (malloc's and the rest); else 0 */
	long dlost;                  /* memory memcheck calls lost (definite + indirect bytes) grown
	                              * over the round; natively 0 */
};

/* Growth that scales. Three rounds of a few hundred connections cannot tell a leak from a cache
 * that fills over a few thousand (a per-thread pool, a table keyed by the client: rounds
 * +9 +4 +2 blocks, then nothing). So growth that is small per connection (under one block, fd,
 * thread or object; bytes alone) is measured once more over a round LC_CONFIRM_TIMES times as
 * long, in two halves. A leak grows in proportion: the round about that many times the smallest
 * judged round, its second half as much as its first. A cache that fills falls off: little in
 * the round, its second half far less than its first. Scaled: the second half at least half the
 * first, and the round at least a third of the proportional growth (times/3 x the smallest
 * round: a small leak beside a filling cache is still a leak). */
#define LC_CONFIRM_TIMES 10
/* Natively, memory outside malloc counts only past this much a round (bytes): CPython's own
 * pages grew +8 KB a round beside malloc, a Node.js server's V8 heap +0.8 to +3 MB. */
#define LC_OUTSIDE_FLOOR 65536
/* A reset waits this long (seconds) for the server to read the request, when no reply is expected;
 * after LC_RESET_UNREAD connections it did not read in time, resets stop waiting. */
#define LC_RESET_WAIT 0.25
#define LC_RESET_UNREAD 3
/* A connection that takes this long (seconds, on average) is worth a word: the run is long. */
#define LC_SLOW_CONNECTION 0.2
struct lc_confirm {
	unsigned connections;        /* of the confirming round; 0: none was measured */
	unsigned times;              /* connections over a judged round's */
	struct lc_round halves[2];   /* what the process grew over each half of it (of the last
	                              * round, when it was measured again) */
	unsigned again;              /* rounds measured again: the halves fell off, but not to 0
	                              * (a cache still filling, or a leak beside one) */
	char unit[8];                /* what the figures are of: "blocks", "bytes", "fds", "threads",
	                              * "objects" (the first rule that flagged the process) */
	double ratio;                /* the round's growth over the smallest judged round's */
	double second;               /* the second half's growth over the first's (0 if neither grew) */
	bool scaled;                 /* some rule that flagged it scaled: a leak; else bounded (a
	                              * cache that filled): not one */
};

/* One measured process of the server: the valgrind'ed root, a forked worker, an exec'd server. */
struct lc_proc_result {
	int pid;
	char name[32];
	enum lc_measure measure;     /* what its memory was measured in (from its baseline) */
	bool accepted;               /* held the server end of a probe connection */
	bool judged;                 /* alive from the baseline to the last round: its rounds count */
	unsigned long base_blocks, base_bytes;
	int base_fds, base_threads;
	long base_objects;           /* -1: no counter read for this process */
	struct lc_round rounds[LC_MAX_ROUNDS];
	size_t nrounds;
	bool retained, bytes_grew, fds_leaked, threads_leaked, objects_grew;
	double blocks_per_cycle, bytes_per_cycle, objects_per_cycle;
	struct lc_confirm confirm;   /* its confirming round, if it needed one */
	bool outside_grew;           /* allocator measure: anonymous memory grew in every round by
	                              * LC_OUTSIDE_FLOOR at least and 8 times what malloc's live bytes
	                              * grew: memory malloc does not see (V8's heap, mmap) */
	double pages_per_cycle;      /* anonymous memory grown per connection (allocator measure) */
	struct lc_site sites[LC_MAX_SITES]; /* records that grew in every measured round (the
	                              * last round's figures), largest growth first */
	size_t nsites;
	size_t nsmall;               /* the last nsmall of sites grew by 2% of the connections or less
	                              * in every round, beside a site that grew more: a runtime's
	                              * cache (glibc's thread stacks, a pool), listed apart and not
	                              * searched for holders */
	struct lc_site_rounds site_rounds[LC_MAX_SITES]; /* sites[i]'s growth per round */
	struct lc_some_rounds some_rounds;
	struct lc_retainer held[LC_MAX_SITES]; /* who holds sites[i], when it leaks */
};

struct lc_point {                /* one snapshot, for retained.series */
	unsigned long connections;   /* served so far */
	int pid;
	unsigned long blocks, bytes;
	bool settled;                /* taken once the heap stopped shrinking (or not growing) */
};

/* A Python type whose live objects grew in every round, as the agent explains it: where its
 * new objects were allocated (the first frame outside the standard library and
 * site-packages) and the paths from a root that hold them, written as Python expressions. */
#define LC_MAX_PYTYPES 8
#define LC_MAX_PYHOLDERS 4
struct lc_pyholder {
	char path[240];               /* one example: "__main__._connections[17]", or "no root: ..." */
	unsigned long objects;        /* sampled objects held by paths of that shape ([*] for [17]) */
};
struct lc_pytype {
	char type[128];               /* module.QualName: "__main__.Connection" */
	bool is_class;                /* a class written in Python (the program's, a library's), not
	                               * one of C (list, dict, a lock): listed first */
	double per_connection;        /* live objects added per connection, over the judged rounds */
	long rounds[LC_MAX_ROUNDS];   /* growth per judged round */
	size_t nrounds;
	char file[256];               /* the allocation site: file, line, function ("" if unknown) */
	unsigned line;
	char function[96];
	unsigned long site_objects;   /* sampled objects allocated there */
	unsigned long samples;        /* objects sampled */
	struct lc_pyholder holders[LC_MAX_PYHOLDERS];
	size_t nholders;
};

struct lc_report {
	enum lc_verdict verdict;
	char reason[512];
	unsigned long connections;   /* every connection served: warmup, rounds, probes and wakes */
	unsigned per_round;          /* connections closed between two snapshots */
	unsigned long bytes_floor;   /* the byte rule for the pages measure: growth per round that
	                              * counts (the noise floor, at least a page); 0 if none */
	enum lc_engine_kind engine;  /* what measured it */
	enum lc_measure measure;     /* what the memory of procs[primary] was measured in: the
	                              * judge's rules follow it, not the engine (pages: the noise
	                              * floor and rounds that agree) */
	unsigned long noise;         /* pages: the spread of idle re-samples of memory, bytes */
	/* at exit */
	bool exit_expected;          /* the engine reads an exit report (memcheck's XML; natively
	                              * none): what the reports say of losses at exit follows it */
	bool have_exit;
	bool exit_one_time;          /* memory was lost at exit, but none grew lost while running (a
	                              * loss at start-up or shutdown: its size, not per connection) */
	struct lc_exit_report exit;       /* owned: parsed XML (free with lc_report_free) */
	char exit_status[96];
	/* while running */
	struct lc_snapshot baseline; /* after warmup */
	unsigned retain_calls;       /* monitor commands the retainer search ran */
	double retain_seconds;       /* and its time */
	/* per process, the only copy of each one's rounds, sites and holders; the verdict's figures
	 * are procs[primary]'s (lc_report_primary): the leaking one, else the acceptor */
	struct lc_proc_result procs[LC_MAX_PROCS];
	size_t nprocs, primary;
	struct lc_point series[LC_MAX_SERIES];
	size_t nseries;
	unsigned settle_waits;       /* snapshots that grew and were re-sampled until settled */
	double settle_seconds;       /* time spent on it */
	unsigned unsettled;          /* of them, still shrinking at the timeout */
	unsigned decay_rounds;       /* rounds measured more because the growth shrank round by round
	                              * (lc_decaying): the last --rounds of them are judged */
	unsigned extra_rounds;       /* the first rounds did not grow, the last did (the baseline
	                              * is not settled): that many more were measured, the first
	                              * ones left out */
	unsigned bounded;            /* processes whose growth did not scale: not leaks */
	int pending_left;            /* most sockets still unclosed when a snapshot had to go ahead */
	unsigned resets_unread;      /* reset connections whose request the server had not read
	                              * LC_RESET_WAIT after it was sent (at most LC_RESET_UNREAD:
	                              * then resets stop waiting) */
	unsigned long driven;        /* connections driven by the rounds and warmup (not probes, wakes) */
	double drive_seconds;        /* the time they took */
	char slow[160];              /* why connections took LC_SLOW_CONNECTION or more, if they did */
	unsigned long server_closes; /* connections the server closed after the quit line (--close
	                              * server, a third of mix) */
	double server_close_seconds; /* the time they took, quit line to end of file */
	bool no_reply;               /* the script expects no reply: when a connection was served is
	                              * read off the TCP tables, not a reply */
	char snapshots[320];         /* how snapshots were taken: "vgdb relay" or the fallback's reason */
	unsigned suppressions_written; /* entries --write-suppressions wrote */
	unsigned wakes;              /* connections opened only to wake a multi-threaded server for a
	                              * snapshot (it is never ptraced: harness/valgrind/FACTS.md); each
	                              * counts as one of the next round's connections */
	double seconds;              /* wall time of the whole run */
	struct lc_phases {           /* where it went, seconds, adding up to seconds: */
		double ready;        /* the server started and ready */
		double warmup;       /* the warmup's connections */
		double baseline;     /* the baseline snapshot */
		double rounds;       /* the measured rounds: connections and snapshots */
		double extra;        /* rounds measured more (extra, warm-up) */
		double confirm;      /* the confirming round of growth that scales */
		double settling;     /* re-sampling snapshots that grew, in any of the above */
		double holders;      /* who holds what grew */
		double exit;         /* the probe closed, the Python agent's explain, SIGTERM, the exit report */
		double other;        /* the rest: options, work dir, judging, cleaning up */
	} phases;
	double at_ready, at_baseline, at_measured; /* when the server was ready, the baseline taken,
	                              * the last round measured (seconds from the start; 0: never) */
	/* The Python layer (harness/run/python.c): an agent in each CPython process of the server,
	 * which runs a full collection before every snapshot, so cyclic garbage waiting for the
	 * oldest generation is not counted as growth. */
	struct lc_python {
		char agent[200];         /* "on", or "off: why"; "" when no process is CPython */
		double seconds;          /* the agent's time holding the interpreter, all commands */
		unsigned long collected; /* objects the collector freed in the rounds (every collection) */
		unsigned rounds;         /* snapshots after the baseline it collected before */
		int pid;                 /* the process the types below are of (0: none) */
		struct lc_pytype types[LC_MAX_PYTYPES]; /* types that grew in every round, most first */
		size_t ntypes;
	} python;
	char workdir[512];           /* where the raw logs are */
	bool kept;                   /* ... and they were kept: --keep, or LEAKCHECK_KEEP_FAILED=1 and
	                              * a verdict other than clean */
};

/* The defaults, those of engine (the one way to choose it: memcheck 200 connections a round
 * after a warmup of 20, native 500 after 50; the rest alike). */
void lc_options_init(struct lc_options *o, enum lc_engine_kind engine);

/* The whole run. Returns the verdict (also in rep->verdict); never hangs past the timeouts.
 * Its state is its own (allocated per run), but one run at a time in a process: it sets
 * process-wide things for the run (the child-subreaper flag, SIGPIPE ignored, lc_cancel). */
enum lc_verdict lc_run(const struct lc_options *o, struct lc_report *rep);
/* A report is large (about 1 MB: sites, stacks and holders for every process): take one from
 * lc_report_new (zeroed, or NULL) and give it back with lc_report_delete. lc_report_free only
 * frees what a run allocated inside it (a report kept elsewhere, as a static, can use it). */
struct lc_report *lc_report_new(void);
/* The process whose figures the verdict gives (procs[primary]); procs[0], all zero, when
 * nothing was measured. */
const struct lc_proc_result *lc_report_primary(const struct lc_report *rep);
void lc_report_delete(struct lc_report *rep);
void lc_report_free(struct lc_report *rep);
const char *lc_verdict_name(enum lc_verdict v); /* "clean", "leak", "error" */

/* Called by a signal handler (the CLI's, on SIGINT/SIGTERM; async-signal-safe): every wait of
 * the run gives up at once, and lc_run ends with verdict 2 after stopping the server and
 * removing its work dir. */
void lc_cancel(void);

/* Decodes the escapes of in (\\n \\r \\t \\\\ \\0 \\xNN) into out (cap bytes): --send, --expect,
 * --quit and --stats take them. Returns the length, or -1 with a reason (a bad escape, too long). */
long lc_unescape_bytes(const char *in, char *out, size_t cap, const char **why);

/* The figures behind a verdict (analysis/judge.c): the rules themselves are private. */
/* Natively, rounds of memory growth that agree: the smallest at least the spread (max - min). */
bool lc_steady(const long *d, size_t n);
/* lc__measure_floor for rep->measure, the primary process's. */
unsigned long lc_bytes_floor(const struct lc_report *rep);
/* The smallest growth per connection the run could see: lc_bytes_floor over a round. */
double lc_detection_limit(const struct lc_report *rep);

/* Output (report.c). */
void lc_report_print(FILE *f, const struct lc_report *rep, const struct lc_options *o, bool quiet);
int lc_report_json(const char *path, const struct lc_report *rep, const struct lc_options *o);
/* For CI systems (report_ci.c): JUnit XML, one testcase per check (lost at exit, retention,
 * each growing site, fds); SARIF 2.1.0, one result per growing site or loss at exit at its
 * allocation site's file:line; GitHub Actions "::error file=...,line=...::" lines. */
int lc_report_junit(const char *path, const struct lc_report *rep, const struct lc_options *o);
int lc_report_sarif(const char *path, const struct lc_report *rep, const struct lc_options *o);
/* One self-contained HTML page (html.c): the verdict, the heap against connections served as
 * SVG, each growing site with its source line and holder, losses at exit, fds, threads. Written
 * to a temp file beside path and renamed: path is whole or untouched. 0, or -1 (errno set). */
int lc_report_html(const char *path, const struct lc_report *rep, const struct lc_options *o);
void lc_report_annotations(FILE *f, const struct lc_report *rep, const struct lc_options *o);
/* s as text or an attribute value of HTML or XML: & < > " ' escaped, a control character other
 * than tab and newline written as '?' (XML 1.0 has none): the one escaper of --html, --junit
 * and leakcheck-demo's index. */
void lc_markup_text(FILE *f, const char *s);
/* A holder as one line (held.c), as every report writes it: "all_conns (data symbol) -> block
 * at conn_new leaky.c:68 (+32, x600, linked through +32) -> block at conn_new leaky.c:75 (x600)". */
void lc_retainer_text(const struct lc_retainer *r, char *buf, size_t len);
/* A valgrind suppression for every definite and indirect loss at exit (from the records'
 * --gen-suppressions text), each named and commented, for the user to review. */
int lc_write_suppressions(const char *path, const struct lc_report *rep, const struct lc_options *o);

#endif

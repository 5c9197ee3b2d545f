/* The records a leakcheck report holds, public with leakcheck.h: valgrind's loss records (a
 * kind, bytes, blocks, an allocation stack), the totals of a heap snapshot and the sites that
 * grew in it, and who holds a growing site (the retainer). */
#ifndef LC_RECORDS_H
#define LC_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

/* How a connection ends: the client closes (EOF), the server closes after the quit line, the
 * client resets (RST), or each in turn. */
enum lc_close { LC_CLOSE_EOF, LC_CLOSE_SERVER, LC_CLOSE_RESET, LC_CLOSE_MIX };
int lc_close_parse(const char *s, enum lc_close *out);
const char *lc_close_name(enum lc_close c);

enum lc_kind { LC_DEFINITE, LC_INDIRECT, LC_POSSIBLE, LC_REACHABLE, LC_NKINDS };

#define LC_MAX_FRAMES 12

struct lc_frame {
	char fn[128];     /* function name, "" if unknown */
	char file[128];   /* source file name (no directory), "" if unknown */
	unsigned line;    /* 0 if unknown */
};

struct lc_record {
	enum lc_kind kind;
	unsigned long bytes;   /* valgrind's leakedbytes: for LC_DEFINITE, direct + the indirect
	                        * bytes it holds (the XML has no per-record split) */
	unsigned long blocks;
	unsigned long indirect;  /* of bytes, a definite record's: the indirectly lost bytes its blocks
	                        * hold, listed as records of their own (from valgrind's "T (D direct, I
	                        * indirect) bytes" sentence; 0 where it has none). A record's own
	                        * bytes are bytes - indirect: lc_record_own_bytes */
	size_t nframes;
	struct lc_frame frames[LC_MAX_FRAMES]; /* frames[0] is the allocator (malloc...) */
	char *suppression;     /* owned by the lc_exit_report (exit reports only, with valgrind's
	                        * --gen-suppressions=all): the suppression-file entry that matches
	                        * this record, named NAME; NULL otherwise */
};

struct lc_exit_report {
	int pid;
	bool finished;                     /* <status><state>FINISHED</state> was seen */
	unsigned long bytes[LC_NKINDS];    /* totals per kind; definite = direct only, so the */
	unsigned long blocks[LC_NKINDS];   /* kinds add up without counting indirect twice
	                                    * (without indirect records, definite keeps them) */
	unsigned long other_errors;        /* non-leak error contexts (invalid read, ...) */
	struct lc_record *records;         /* owned: every leak record of the exit check
	                                    * (after FINISHED), in file order */
	size_t nrecords;
};

void lc_exit_report_free(struct lc_exit_report *r);
/* A record's own bytes: its blocks', without the indirect bytes they hold (listed apart). */
unsigned long lc_record_own_bytes(const struct lc_record *rec);
const char *lc_kind_name(enum lc_kind k); /* "definitely lost", ... */
/* The kind of a record that grew while the server runs, named for what it is: memcheck's
 * "possibly lost" there is memory a pointer into its middle still reaches (an intrusive list's
 * node, an allocator layer that returns p + 8), held, not lost: "reachable only through an
 * interior pointer". The other kinds keep valgrind's names. */
const char *lc_kind_running_name(enum lc_kind k);

#define LC_MAX_SITES 16

struct lc_site {
	struct lc_record rec;  /* kind, current bytes/blocks, allocation stack */
	long dbytes, dblocks;  /* growth since the previous check */
	unsigned nr;           /* "loss record NR of M": block_list's argument, valid until the
	                        * process's next leak check */
};

/* What a process's memory was measured in: memcheck's heap; natively, the allocator preload's
 * live blocks and bytes (exact, as memcheck's, with sites); or, where the allocator cannot be
 * interposed (a static binary), anonymous pages, with a noise floor and without sites. */
enum lc_measure { LC_MEASURE_HEAP, LC_MEASURE_ALLOCATOR, LC_MEASURE_PAGES };
const char *lc_measure_name(enum lc_measure m); /* "heap", "allocator", "pages" */

struct lc_snapshot {
	enum lc_measure measure;          /* what bytes[] and blocks[] count */
	unsigned long bytes[LC_NKINDS];  /* LEAK SUMMARY, per kind (reachable included) */
	unsigned long blocks[LC_NKINDS];
	struct lc_site sites[LC_MAX_SITES]; /* records that grew, largest growth in bytes first */
	size_t nsites;
	int fds;                          /* open fds of the server, -1 if unknown */
	int threads;                      /* its threads (/proc/PID/task), -1 if unknown */
	long objects;                     /* the server's own counter (--stats), -1 if not read */
	long pages;                       /* natively, beside the allocator's counts: the process's
	                                   * anonymous memory (smaps_rollup), -1 if not read */
};

/* Total heap in use: every kind added up. */
unsigned long lc_snapshot_blocks(const struct lc_snapshot *s);
unsigned long lc_snapshot_bytes(const struct lc_snapshot *s);

/* What holds a block: a global or static variable, a thread's stack, other mapped memory (an
 * anonymous mapping: an arena, thread-local storage); nothing, as blocks that form a cycle or
 * hang from a lost block (LC_ROOT_CYCLE, LC_ROOT_NONE); or not found (LC_ROOT_UNKNOWN). */
enum lc_root_kind { LC_ROOT_UNKNOWN, LC_ROOT_GLOBAL, LC_ROOT_STACK, LC_ROOT_CYCLE, LC_ROOT_NONE, LC_ROOT_MAPPING };

#define LC_MAX_CHAIN 6
#define LC_MAX_HOLDERS 4
#define LC_MAX_ALLOC_FNS 8

struct lc_link {                /* one step of the path: the blocks of one allocation site */
	struct lc_frame at;         /* the site (allocators and --alloc-fn wrappers skipped) */
	long offset;                /* where the pointer that holds them lands inside (interior > 0) */
	unsigned long count;        /* blocks of the site */
	long linked_at;             /* the site's blocks point at each other from this offset, or -1 */
};

struct lc_holder {              /* one root and the share of a record's blocks it holds */
	enum lc_root_kind kind;
	char root[128];
	unsigned long blocks, bytes;
};

struct lc_retainer {
	bool searched;
	bool gone;                  /* the site no longer holds what it grew by (freed since the
	                             * snapshot: frees that settling waited out): not a growing site */
	enum lc_root_kind kind;
	char root[128];             /* the data symbol, "thread 2's stack", or "" */
	struct lc_link chain[LC_MAX_CHAIN]; /* from the root's side to the growing site; for a
	                                     * cycle, its members, then the sites they hold */
	size_t nchain;
	size_t ncycle;              /* LC_ROOT_CYCLE: chain[0..ncycle) are the cycle's members */
	char note[160];             /* why a search ended without a root, or "" */
	struct lc_holder holders[LC_MAX_HOLDERS]; /* ranked, most blocks first: each of the
	                             * record's blocks counted for the one root nearest it */
	size_t nholders;
	unsigned long blocks, bytes;/* the record's blocks searched (holders' shares are of these) */
	unsigned long unreached;    /* of those, the blocks no root reaches (natively: lost) */
	bool new_blocks;            /* those are its blocks new since the snapshot before the
	                             * latest (else all its blocks: no list of that snapshot) */
	struct lc_holder alike;     /* another root that reaches the top holder's blocks just as
	                             * near (the tie the holder won on its address): both are named;
	                             * alike.blocks 0: none */
};

/* "global", "stack", "cycle", "none", "mapping", "unknown": the JSON's root_kind. */
const char *lc_root_kind_name(enum lc_root_kind k);

#endif

/* Reader for valgrind memcheck's XML report (--xml=yes), built on expat.
 *
 * It keeps what a leak verdict needs: the leak records (kind, bytes, blocks, allocation stack)
 * and totals per kind, plus the count of non-leak errors. Anything that is not a memcheck
 * XML report (empty, truncated, another tool, an unknown protocol version) is a clear error. */
#ifndef LC_VGXML_H
#define LC_VGXML_H

#include <stdbool.h>
#include <stddef.h>

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

/* Return 0 on success; on failure -1 with a one-line reason in err (no trailing newline),
 * and *out left empty (safe to lc_exit_report_free). */
int lc_exit_report_parse_file(const char *path, struct lc_exit_report *out, char *err, size_t errlen);
int lc_exit_report_parse_buffer(const char *buf, size_t len, struct lc_exit_report *out, char *err, size_t errlen);
void lc_exit_report_free(struct lc_exit_report *r);
const char *lc_kind_name(enum lc_kind k); /* "definitely lost", ... */
/* The frame that names where memory was asked for: the first that is neither an allocator
 * (malloc, calloc, operator new, ...) nor a wrapper of one (a name ending in "alloc",
 * "alloc0" or "strdup": ngx_alloc, xmalloc, g_malloc0, zmalloc; or one of extra, a
 * NULL-terminated list that may be NULL). NULL only without frames. */
const struct lc_frame *lc_alloc_frame(const struct lc_record *rec, const char *const *extra);

#endif

/* The recorded valgrind output in tests/fixtures/, and the checks on what its readers make of
 * it, for the suites of those readers: vgdb (vgdb's text) and vgxml (the XML exit report). */
#ifndef TESTS_FIXTURES_H
#define TESTS_FIXTURES_H

#include <stddef.h>

#include "lc/records.h"

#define FIXTURES LC_SOURCE_DIR "/tests/fixtures/"

/* The whole of fixtures/<name> (slurp()), NUL-terminated; *len its length when len is not
 * NULL. Fails the test if it cannot be read or is empty. malloc'd: the caller may free it, or
 * leave it to the worker's exit. */
char *fixture(const char *name, size_t *len);

/* Parse fixtures/<name>, which must succeed: vgdb's text into *snap (it has no fd count), or
 * valgrind's XML (lc__exit_report_parse_file) into *rep, a finished run's with its pid. */
void load_vgdb(const char *name, struct lc_snapshot *snap);
void load_xml(const char *name, struct lc_exit_report *rep);

/* The totals of kind k in of, a struct lc_snapshot * or struct lc_exit_report * (both have
 * bytes[] and blocks[] per kind). */
#define expect_kind(of, k, want_bytes, want_blocks) \
	expect_kind_in((of)->bytes, (of)->blocks, k, want_bytes, want_blocks)
void expect_kind_in(const unsigned long bytes[LC_NKINDS], const unsigned long blocks[LC_NKINDS],
		    enum lc_kind k, unsigned long want_bytes, unsigned long want_blocks);

/* Frame i of record r: its function, file and line. */
void expect_frame(const struct lc_record *r, size_t i, const char *fn, const char *file,
		  unsigned line);

#endif

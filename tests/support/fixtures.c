/* See fixtures.h. */
#include "fixtures.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"
#include "valgrind/vgdb.h"
#include "valgrind/vgxml.h"

char *fixture(const char *name, size_t *len)
{
	size_t n;
	char *text = slurp(LC_SOURCE_DIR "/tests/fixtures", name, &n);

	cr_assert_not_null(text, "cannot read " FIXTURES "%s: %s", name, strerror(errno));
	cr_assert_gt(n, 0, FIXTURES "%s is empty", name);
	if (len)
		*len = n;
	return text;
}

void load_vgdb(const char *name, struct lc_snapshot *snap)
{
	char err[256], *text = fixture(name, NULL);

	cr_assert_eq(lc__vgdb_parse(text, snap, err, sizeof err), 0, "%s: unexpected error: %s",
		     name, err);
	cr_expect_eq(snap->fds, -1, "%s: the text has no fd count", name);
	free(text);
}

void load_xml(const char *name, struct lc_exit_report *rep)
{
	char path[512], err[256];

	snprintf(path, sizeof path, FIXTURES "%s", name);
	cr_assert_eq(lc__exit_report_parse_file(path, rep, err, sizeof err), 0,
		     "%s: unexpected error: %s", name, err);
	cr_assert(rep->finished, "%s: no FINISHED status", name);
	cr_assert_gt(rep->pid, 0, "%s", name);
}

void expect_kind_in(const unsigned long bytes[LC_NKINDS], const unsigned long blocks[LC_NKINDS],
		    enum lc_kind k, unsigned long want_bytes, unsigned long want_blocks)
{
	cr_expect_eq(bytes[k], want_bytes, "%s bytes: %lu, want %lu", lc_kind_name(k), bytes[k],
		     want_bytes);
	cr_expect_eq(blocks[k], want_blocks, "%s blocks: %lu, want %lu", lc_kind_name(k),
		     blocks[k], want_blocks);
}

void expect_frame(const struct lc_record *r, size_t i, const char *fn, const char *file,
		  unsigned line)
{
	cr_assert_lt(i, r->nframes, "frame %zu of %zu", i, r->nframes);
	cr_expect_str_eq(r->frames[i].fn, fn, "frame %zu fn", i);
	cr_expect_str_eq(r->frames[i].file, file, "frame %zu file", i);
	cr_expect_eq(r->frames[i].line, line, "frame %zu line %u, want %u", i, r->frames[i].line,
		     line);
}

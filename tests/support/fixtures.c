/* See fixtures.h. */
#include "fixtures.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "slurp.h"

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

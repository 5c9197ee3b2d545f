/* Text helpers: see text.h. */
#include "util/text.h"
#include "util/assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lc__appendf(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strnlen(buf, cap);
	if (used + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

void lc__assert_fail(const char *what, const char *file, int line, const char *fn)
{
	fprintf(stderr, "leakcheck: internal error: %s:%d: %s: assertion '%s' failed\n", file, line, fn, what);
	abort();
}

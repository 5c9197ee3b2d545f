/* See slurp.h. */
#include "slurp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *slurp(const char *dir, const char *name, size_t *len)
{
	char *path = NULL, *buf;
	size_t n = 0, cap = 4096;
	FILE *f;
	int saved;

	if (dir) {
		size_t need = strlen(dir) + 1 + strlen(name) + 1;
		if (!(path = malloc(need)))
			return NULL;
		snprintf(path, need, "%s/%s", dir, name);
	}
	f = fopen(path ? path : name, "rb");
	free(path);
	if (!f)
		return NULL;
	/* Read until a read comes short (the end, or an error), the buffer doubled when full:
	 * /proc files and pipes have no size to ask for first. */
	buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - 1 - n, f);
		if (n < cap - 1)
			break;
		char *more = realloc(buf, cap * 2);
		if (!more) {
			free(buf);
			buf = NULL;
			errno = ENOMEM;
			break;
		}
		buf = more;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		saved = errno;
		free(buf);
		buf = NULL;
		errno = saved ? saved : EIO;
	}
	saved = errno;
	fclose(f);
	errno = saved;
	if (!buf)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

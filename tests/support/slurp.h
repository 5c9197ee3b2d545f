/* slurp: a whole file in memory, however long. The one file reader of the suites, their support
 * and the fuzz replay; plain C (no Criterion), so that the replay links it too. */
#ifndef TESTS_SLURP_H
#define TESTS_SLURP_H

#include <stddef.h>

/* The whole of DIR/NAME (NAME alone when dir is NULL), NUL-terminated, in malloc'd memory the
 * caller frees (a Criterion test may leave it to its worker's exit); *len, when len is not
 * NULL, gets its length (the bytes may hold NULs). NULL, errno set, when it cannot be read. */
char *slurp(const char *dir, const char *name, size_t *len);

#endif

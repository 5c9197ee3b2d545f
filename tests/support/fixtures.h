/* The recorded valgrind output in tests/fixtures/, read whole, for the suites of its readers
 * (vgdb, vgxml). */
#ifndef TESTS_FIXTURES_H
#define TESTS_FIXTURES_H

#include <stddef.h>

#define FIXTURES LC_SOURCE_DIR "/tests/fixtures/"

/* The whole of fixtures/<name> (slurp()), NUL-terminated; *len its length when len is not
 * NULL. Fails the test if it cannot be read or is empty. malloc'd: the caller may free it, or
 * leave it to the worker's exit. */
char *fixture(const char *name, size_t *len);

#endif

/* Test support: start a built server (optionally under valgrind) in a private temp dir. */
#ifndef TESTS_SUPPORT_H
#define TESTS_SUPPORT_H

#include <stdbool.h>
#include <sys/types.h>

#include "slurp.h"

struct served {
	pid_t pid;
	unsigned port;
	char dir[128];   /* private temp dir: server.out, server.err, valgrind.log */
};

/* A fresh private dir, /tmp/lc-test-RUNNER-TAG-XXXXXX, into dir (cap bytes; fails the test
 * if it cannot be made). RUNNER is the pid of the Criterion runner, which removes every such
 * dir of its own when all tests are done: a test's dir is gone even when an assertion cut the
 * test short or its worker was killed at its timeout. Returns dir. */
char *test_tmpdir(char *dir, size_t cap, const char *tag);
/* Removes the /tmp/lc-test-PID-* dirs whose PID is gone: a runner killed outright (SIGKILL)
 * never removed its own. Every runner calls it as it starts; the Python tests name their dirs
 * the same way (with their own pid), so theirs are swept too. */
void test_tmpdir_sweep(void);

/* Path of a built binary, relative to the build dir ("runtime/echo"). */
const char *built(const char *rel);
/* Start the binary with port 0; under valgrind (text log in dir/valgrind.log) if asked.
 * Fails the test (cr_assert) if it does not become ready in time. */
void served_start(struct served *s, const char *rel, bool valgrind);
/* SIGTERM, wait up to timeout seconds; returns the waitpid status (SIGKILL if it hung). */
int served_stop(struct served *s, double timeout);
/* Removes the temp dir. */
void served_cleanup(struct served *s);
/* The text of DIR/NAME (NAME alone when dir is NULL), whole (slurp()), or "" when it cannot be
 * read: what a run wrote, whose absence the test's own checks then report. Never NULL;
 * malloc'd (the caller may free it, or leave it to the worker's exit). */
char *slurp_text(const char *dir, const char *name);

#endif

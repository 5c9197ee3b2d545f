/* lc_assert: the invariants the comments state, checked in every build (assert() would be gone
 * with NDEBUG), as valgrind's tl_assert. A failed one is the harness's own bug: it says where,
 * on one line, and aborts (the watchdog then stops the server and removes the work folder). */
#ifndef LC_ASSERT_H
#define LC_ASSERT_H

#define lc_assert(cond) ((cond) ? (void)0 : lc__assert_fail(#cond, __FILE__, __LINE__, __func__))

_Noreturn void lc__assert_fail(const char *what, const char *file, int line, const char *fn);

#endif

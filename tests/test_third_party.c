/* A third-party server from Debian's packages through the harness: memcached, with the exact
 * setup the README documents (suppression file, RLIMIT_NOFILE = maxconns + valgrind's 12).
 * Expected: clean, no retention, no fd growth. Skipped when memcached is not installed. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lc/leakcheck.h"

#define MEMCACHED "/usr/bin/memcached"

Test(memcached, is_clean_under_the_harness, .timeout = 90)
{
	if (access(MEMCACHED, X_OK) != 0)
		cr_skip_test("%s is not installed (ci/install-deps installs it)", MEMCACHED);
	/* memcached sets RLIMIT_NOFILE to exactly -c; valgrind allows only its own reduced hard
	 * limit, 12 below ours: the README's `prlimit --nofile=1036`, for this worker only. */
	struct rlimit rl = { 1036, 1036 };
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	char *argv[] = { MEMCACHED, "-U", "0", "-l", "127.0.0.1", "-p", "{port}", "-u", "root",
			 "-c", "1024", "-t", "2", NULL };
	struct lc_options o;
	struct lc_report rep;
	lc_options_init(&o);
	o.server_argv = argv;
	o.suppressions = LC_SOURCE_DIR "/harness/suppressions/memcached.supp";
	strcpy(o.send, "version\r\n");
	strcpy(o.expect, "VERSION");
	strcpy(o.quit, "quit\r\n");
	o.cycles = 100;
	o.timeout = 20;
	lc_run(&o, &rep);
	cr_assert_eq(rep.verdict, LC_CLEAN, "memcached: %s", rep.reason);
	cr_expect_eq(rep.nrounds, 3, "memcached: the rounds must have been measured");
	cr_expect(rep.have_exit, "memcached: no exit report");
	cr_expect_not(rep.retained, "memcached: retention reported");
	cr_expect_not(rep.fds_leaked, "memcached: fd growth reported");
	lc_report_free(&rep);
}

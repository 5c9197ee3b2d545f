#define _GNU_SOURCE
#include "support.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drive/proc.h"
#include "drive/watchdog.h"

/* The runner's pid, in the environment before it starts any worker (Criterion's workers are
 * processes exec'd anew: they inherit the environment, not the runner's variables). Outside a
 * worker (--no-fork), the process's own pid. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char pid[24];
	(void)set;
	test_tmpdir_sweep();
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("LC_TEST_RUNNER", pid, 1);
}

/* Removes the test dirs of runner PID (0: of every runner that is gone). */
static void remove_dirs(int pid)
{
	glob_t g;
	if (glob("/tmp/lc-test-*", GLOB_NOSORT | GLOB_ONLYDIR, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int owner = atoi(g.gl_pathv[i] + strlen("/tmp/lc-test-"));
		bool remove = pid ? owner == pid : owner > 0 && kill(owner, 0) == -1 && errno == ESRCH;
		if (!remove)
			continue;
		lc__remove_tree(g.gl_pathv[i]);
		if (access(g.gl_pathv[i], F_OK) == 0)
			fprintf(stderr, "cannot remove %s\n", g.gl_pathv[i]);
	}
	globfree(&g);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	remove_dirs((int)getpid());
}

void test_tmpdir_sweep(void)
{
	remove_dirs(0);
}

char *test_tmpdir(char *dir, size_t cap, const char *tag)
{
	const char *runner = getenv("LC_TEST_RUNNER");
	snprintf(dir, cap, "/tmp/lc-test-%d-%s-XXXXXX", runner ? atoi(runner) : (int)getpid(), tag);
	cr_assert_not_null(mkdtemp(dir), "cannot make %s", dir);
	return dir;
}

const char *built(const char *rel)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", LC_BUILD_DIR, rel);
	return path;
}

void served_start(struct served *s, const char *rel, bool valgrind)
{
	char log[300], err[256];
	test_tmpdir(s->dir, sizeof s->dir, "served");
	snprintf(log, sizeof log, "--log-file=%s/valgrind.log", s->dir);
	char *bin = strdup(built(rel));
	char *plain[] = { bin, "0", NULL };
	char *vg[] = { "valgrind", "--leak-check=full", "--show-leak-kinds=all", log, bin, "0", NULL };
	s->pid = lc__serve(valgrind ? vg : plain, s->dir, 20, &s->port, err, sizeof err);
	free(bin);
	cr_assert_gt(s->pid, 0, "%s: %s", rel, err);
}

int served_stop(struct served *s, double timeout)
{
	return lc__stop(s->pid, timeout);
}

void served_cleanup(struct served *s)
{
	if (!s->dir[0])
		return;
	lc__remove_tree(s->dir);
	if (access(s->dir, F_OK) == 0)
		cr_log_error("cannot remove %s", s->dir);
}

char *slurp_text(const char *dir, const char *name)
{
	char *text = slurp(dir, name, NULL);
	if (!text)
		text = strdup("");
	cr_assert_not_null(text);
	return text;
}

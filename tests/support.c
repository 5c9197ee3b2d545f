#define _GNU_SOURCE
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive/proc.h"

const char *built(const char *rel)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", LC_BUILD_DIR, rel);
	return path;
}

void served_start(struct served *s, const char *rel, bool valgrind)
{
	char log[300], err[256];
	snprintf(s->dir, sizeof s->dir, "/tmp/lc-test-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(log, sizeof log, "--log-file=%s/valgrind.log", s->dir);
	char *bin = strdup(built(rel));
	char *plain[] = { bin, "0", NULL };
	char *vg[] = { "valgrind", "--leak-check=full", "--show-leak-kinds=all", log, bin, "0", NULL };
	s->pid = lc_serve(valgrind ? vg : plain, s->dir, 20, &s->port, err, sizeof err);
	free(bin);
	cr_assert_gt(s->pid, 0, "%s: %s", rel, err);
}

int served_stop(struct served *s, double timeout)
{
	return lc_stop(s->pid, timeout);
}

void served_cleanup(struct served *s)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (s->dir[0] && system(cmd) != 0)
		cr_log_error("cannot remove %s", s->dir);
}

const char *slurp(const char *dir, const char *name)
{
	static char buf[1 << 16];
	char path[300];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

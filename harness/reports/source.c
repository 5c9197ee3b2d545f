/* Where a frame's source file is: valgrind and libdw name a file by its base name only, and every
 * case has a leaky.c. The one locator of the reports: the HTML page shows the line, SARIF, JUnit
 * and the GitHub annotations point at the file. Looked for, in order: --source-dir (DIR/file,
 * then DIR plus the tails of the server's folder path: a build tree mirroring DIR), then under
 * the server program's folder and its parents, then under the current folder (see
 * source_under); a candidate must mention the frame's function. */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/leakcheck.h"
#include "reports/reports.h"

/* Where sources are looked for, in order: the server program's folder (resolved: a relative
 * name is relative to where leakcheck ran), then the current folder. */
struct roots {
	char dir[2][PATH_MAX];
	size_t n;
};

/* path is a regular file that mentions fn (when fn is known): a file of the same base name
 * elsewhere (every case has a leaky.c) must not lend its lines to the wrong frame. */
static bool source_fits(const char *path, const char *fn)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (!fn[0] || strcmp(fn, "???") == 0)
		return true;
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (f && !found && getline(&line, &cap, f) > 0)
		found = strstr(line, fn) != NULL;
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* dir/SUB/file for each folder SUB of dir (not hidden), into out. */
static bool source_in_subfolders(const char *dir, const char *file, const char *fn, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d)))
		if (e->d_name[0] != '.' && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
			snprintf(out, cap, "%s/%s/%s", dir, e->d_name, file);
			found = source_fits(out, fn);
		}
	if (d)
		closedir(d);
	return found;
}

/* The last resort: a folder beside root or beside one of its parents (runtime/server.c, which
 * cases/x/leaky.c includes, for build/cases/x/leaky). */
static bool source_beside(const char *root, const char *file, const char *fn, char *out, size_t cap)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", root);
	for (;;) {
		if (source_in_subfolders(dir, file, fn, out, cap))
			return true;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return false;
		*slash = '\0';
	}
}

/* Candidates under root, nearest first: root/file and each parent's; then the same with one
 * folder of root's path left out, for build trees that mirror the source tree
 * (build/cases/global_list/leaky is built from cases/global_list/leaky.c); then its neighbours. */
static bool source_under(const char *root, const char *file, const char *fn, char *out, size_t cap)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", root);
	for (;;) { /* root and its parents */
		snprintf(out, cap, "%s/%s", dir, file);
		if (source_fits(out, fn))
			return true;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	/* one folder left out: at each '/' of root, skip the component that follows it */
	for (const char *at = strrchr(root, '/'); at && at > root;) {
		const char *prev = at - 1;
		while (prev > root && *prev != '/')
			prev--;
		/* drop the component between prev and at */
		snprintf(out, cap, "%.*s%s/%s", (int)(prev - root), root, at, file);
		if (source_fits(out, fn))
			return true;
		at = prev;
	}
	return source_beside(root, file, fn, out, cap);
}

/* Where sources are looked for: the server program's folder (resolved: a relative name is
 * relative to where leakcheck ran), then the current folder. */
static void roots_of(const struct lc_options *o, struct roots *r)
{
	char prog[PATH_MAX], *slash;
	const char *argv0 = o->server_argv ? o->server_argv[0] : NULL;
	r->n = 0;
	if (argv0 && strchr(argv0, '/') && realpath(argv0, prog) && (slash = strrchr(prog, '/'))) {
		*slash = '\0';
		snprintf(r->dir[r->n++], sizeof r->dir[0], "%s", prog[0] ? prog : "/");
	}
	if (getcwd(prog, sizeof prog))
		snprintf(r->dir[r->n++], sizeof r->dir[0], "%s", prog);
}

static bool find_in(const struct lc_options *o, const struct roots *r, const struct lc_frame *at, char *out,
		    size_t cap)
{
	if (o->source_dir) {
		snprintf(out, cap, "%s/%s", o->source_dir, at->file);
		if (source_fits(out, at->fn))
			return true;
		for (const char *tail = r->n ? r->dir[0] : ""; (tail = strchr(tail, '/')); tail++) {
			snprintf(out, cap, "%s%s/%s", o->source_dir, tail, at->file);
			if (source_fits(out, at->fn))
				return true;
		}
	}
	for (size_t i = 0; i < r->n; i++)
		if (source_under(r->dir[i], at->file, at->fn, out, cap))
			return true;
	return false;
}

bool lc__source_find(const struct lc_options *o, const struct lc_frame *at, char *out, size_t cap)
{
	if (!at->file[0] || strchr(at->file, '/') || strcmp(at->file, "..") == 0)
		return false;
	struct roots *r = malloc(sizeof *r); /* 8 kB: off the stack */
	bool found = false;
	if (r) {
		roots_of(o, r);
		found = find_in(o, r, at, out, cap);
	}
	free(r);
	return found;
}

const char *lc__source_uri(const struct lc_options *o, const struct lc_frame *at, char *buf, size_t cap)
{
	char path[PATH_MAX + 200], cwd[PATH_MAX];
	if (!at->file[0] || !lc__source_find(o, at, path, sizeof path))
		return at->file;
	size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
	if (n == 0 || strncmp(path, cwd, n) != 0 || path[n] != '/')
		return at->file;
	snprintf(buf, cap, "%s", path + n + 1);
	return buf;
}

/* Line n of path (1-based) into buf, without its newline; false past the end. */
bool lc__source_line(const char *path, unsigned n, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len = 0;
	for (unsigned i = 0; f && i < n && (len = getline(&line, &lcap, f)) > 0; i++)
		;
	bool ok = f && len > 0 && line;
	if (ok) {
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(buf, cap, "%s", line);
	}
	free(line);
	if (f)
		fclose(f);
	return ok;
}

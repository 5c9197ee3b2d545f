/* The Python layer of a run. A CPython server's cyclic garbage waits for a full collection,
 * which runs when pending objects pass 25% of the long-lived ones: whether it falls inside the
 * rounds depends on the interpreter's start-up object count (Debian's 3.11.2 and a pyenv 3.11.7
 * differ), so exact allocator counts saw socketserver's per-request cycles as growth. The agent
 * (harness/pyagent/), armed in every Python process the server starts by a sitecustomize put
 * first on PYTHONPATH, runs a full collection before every snapshot; what it freed is reported,
 * since a cycle per connection is the lesson of mutual_refs even when nothing leaks. A server
 * the agent cannot reach (python -I or -E, not CPython) is judged as before, and the report
 * says the layer is off and why. See run.h. */
#define _GNU_SOURCE
#include "run/run.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drive/proc.h"
#include "drive/pyagent.h"

#define PY_TRACK 32             /* types followed per process */
#define PY_FRAMES 8             /* tracemalloc's frames: enough to leave the standard library
                                 * (logging.getLogger allocates its Logger 4 frames down) */
#define PY_SAMPLES 20           /* objects of a growing type the agent explains */

/* The live objects per type of one process at each snapshot: index 0 the baseline. The agent
 * lists the types whose count differs from the baseline; one not listed has its baseline's. */
struct lc_pytrack {
	int pid;                    /* the process these are of: another in the slot starts over */
	size_t nsnaps;
	size_t ntypes;
	struct {
		char type[128];
		bool cls;           /* a class written in Python (a heap type), not one of C */
		long counts[LC_MAX_ROUNDS + 1];
	} types[PY_TRACK];
};

/* The agent's folder: $LEAKCHECK_PYAGENT_DIR, else LC_PYAGENT_REL from the running program's
 * folder (build/harness/ and PREFIX/bin/ alike, as the preload). 0, or -1: not there. */
static int agent_dir(char *out, size_t len)
{
	const char *env = getenv("LEAKCHECK_PYAGENT_DIR");
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n;
	if (env && *env) {
		snprintf(path, sizeof path, "%s", env);
	} else if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		snprintf(path, sizeof path, "%.*s/%s", slash ? (int)(slash - exe) : 0, exe, LC_PYAGENT_REL);
	} else {
		return -1;
	}
	char real[PATH_MAX], site[PATH_MAX + 32];
	if (!realpath(path, real))
		return -1;
	snprintf(site, sizeof site, "%s/sitecustomize.py", real);
	if (access(site, R_OK) != 0 || strlen(real) >= len)
		return -1;
	snprintf(out, len, "%s", real);
	return 0;
}

char *const *lc__python_env(struct lc_run_state *r)
{
	char *const *eng = lc__engine_env(&r->eng);
	size_t n = 0;
	for (size_t i = 0; eng && eng[i] && n < 12; i++)
		r->env[n++] = eng[i];
	char dir[1024];
	if (agent_dir(dir, sizeof dir) == 0) {
		const char *was = getenv("PYTHONPATH"); /* the user's own entries stay, after ours */
		snprintf(r->pyenv[0], sizeof r->pyenv[0], "PYTHONPATH=%s%s%.300s", dir, was && *was ? ":" : "",
			 was ? was : "");
		snprintf(r->pyenv[1], sizeof r->pyenv[1], "LEAKCHECK_PYAGENT=%s", r->dir);
		r->env[n++] = r->pyenv[0];
		r->env[n++] = r->pyenv[1];
		r->agent_armed = true;
	}
	r->env[n] = NULL;
	return r->env;
}

/* Whether process pid is CPython: its program (valgrind's is the tool, so the engine's name
 * too) is python, python3, python3.11... */
static bool is_python(const struct lc_proc *m)
{
	char link[64], exe[PATH_MAX] = "";
	snprintf(link, sizeof link, "/proc/%d/exe", m->pid);
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return strncmp(base, "python", 6) == 0 || strncmp(m->name, "python", 6) == 0;
}

/* Why the agent is not in CPython process pid: its own flags, read from its command line. */
static void why_off(int pid, char *buf, size_t len)
{
	char path[64], args[4096];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(args, 1, sizeof args - 1, f) : 0;
	if (f)
		fclose(f);
	args[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(args + i) + 1) {
		const char *a = args + i;
		if (a[0] != '-' || a[1] == '-' || a[1] == '\0')
			continue; /* an interpreter's options come as -X... before the script */
		if (strchr(a + 1, 'I') || strchr(a + 1, 'E')) {
			snprintf(buf, len, "off: pid %d runs python %s, which ignores PYTHONPATH (the agent's way in)", pid, a);
			return;
		}
		if (strchr(a + 1, 'S')) {
			snprintf(buf, len, "off: pid %d runs python %s, which skips site (no sitecustomize)", pid, a);
			return;
		}
	}
	snprintf(buf, len, "off: pid %d is Python but its agent did not start (not CPython, or its own "
		 "sitecustomize or PYTHONPATH came first)", pid);
}

void lc__python_state(struct lc_run_state *r)
{
	char path[200], *agent = r->rep->python.agent;
	size_t len = sizeof r->rep->python.agent;
	bool on = false, python = false;
	agent[0] = '\0';
	for (size_t i = 0; i < r->eng.nprocs; i++) {
		const struct lc_proc *m = &r->eng.procs[i];
		if (!m->alive)
			continue;
		if (lc__pyagent_socket(r->dir, m->pid, path, sizeof path)) {
			on = true;
		} else if (is_python(m) && !python) {
			python = true;
			if (r->agent_armed)
				why_off(m->pid, agent, len);
			else
				snprintf(agent, len, "off: the agent is not installed (no pyagent/sitecustomize.py beside "
					 "the preload, nor $LEAKCHECK_PYAGENT_DIR)");
		}
	}
	if (on && !python)
		snprintf(agent, len, "on");
}

/* field k (0: the line's kind) of a tab-separated data line, unescaped (\t \n \\). */
static void field(const char *line, int k, char *out, size_t len)
{
	size_t n = 0;
	for (; k > 0 && *line && *line != '\n'; line++)
		k -= *line == '\t';
	for (; *line && *line != '\t' && *line != '\n' && n + 1 < len; line++) {
		char c = *line;
		if (c == '\\' && line[1]) {
			c = *++line;
			c = c == 't' ? '\t' : c == 'n' ? '\n' : c;
		}
		out[n++] = c;
	}
	out[n] = '\0';
}

/* The agent's "types" answer at snapshot t->nsnaps into t. */
static void track_types(struct lc_pytrack *t, const char *text)
{
	size_t s = t->nsnaps;
	if (s > LC_MAX_ROUNDS)
		return;
	for (size_t j = 0; j < t->ntypes; j++) /* not listed: as at the baseline */
		t->types[j].counts[s] = t->types[j].counts[0];
	for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
		char kind[16], name[128], now[32], base[32], what[16];
		field(line, 0, kind, sizeof kind);
		if (strcmp(kind, "type") != 0)
			continue;
		field(line, 1, name, sizeof name);
		field(line, 2, now, sizeof now);
		field(line, 3, base, sizeof base);
		size_t j = 0;
		while (j < t->ntypes && strcmp(t->types[j].type, name) != 0)
			j++;
		if (j == t->ntypes) {
			if (t->ntypes == PY_TRACK)
				continue;
			t->ntypes++;
			snprintf(t->types[j].type, sizeof t->types[j].type, "%s", name);
			for (size_t k = 0; k < s; k++)
				t->types[j].counts[k] = atol(base);
		}
		t->types[j].counts[s] = atol(now);
		field(line, 4, what, sizeof what);
		t->types[j].cls = strcmp(what, "class") == 0;
	}
	t->nsnaps++;
}

/* One command to slot i's agent; its time counted. 0, or -1 with err. */
static int ask(struct lc_run_state *r, size_t i, const char *cmd, char **text, char *err, size_t errlen)
{
	if (lc__pyagent_ask(r->dir, r->eng.procs[i].pid, cmd, r->o->timeout, text, err, errlen) < 0)
		return -1;
	r->rep->python.seconds += lc__pyagent_field(*text, "held_us", 0) / 1e6;
	return 0;
}

int lc__python_collect(struct lc_run_state *r, unsigned idx)
{
	char path[200], err[300], cmd[32];
	bool asked = false;
	if (!r->py && !(r->py = calloc(LC_MAX_PROCS, sizeof *r->py)))
		return lc__run_fail(r, "%s", "out of memory");
	for (size_t i = 0; i < r->eng.nprocs; i++) {
		const struct lc_proc *m = &r->eng.procs[i];
		struct lc_pytrack *t = &r->py[i];
		char *text = NULL;
		if (!m->alive || (idx > 0 && r->slot[i].first != 0) || !lc__pyagent_socket(r->dir, m->pid, path, sizeof path))
			continue;
		/* the baseline's counts of live objects per type; then each snapshot counts them again,
		 * after a full collection (no tracing yet: see lc__python_explain) */
		snprintf(cmd, sizeof cmd, idx == 0 ? "baseline 0" : t->pid == m->pid ? "types" : "collect");
		if (ask(r, i, cmd, &text, err, sizeof err) < 0) {
			if (lc__gone(m->pid))
				continue; /* a child that finished meanwhile */
			return lc__run_fail(r, "%s", err);
		}
		asked = true;
		if (idx == 0)
			*t = (struct lc_pytrack){ .pid = m->pid, .nsnaps = 1 };
		else if (t->pid == m->pid)
			track_types(t, text);
		if (idx > 0) /* every collection's, the interpreter's own too, since the last snapshot */
			r->rep->python.collected += (unsigned long)lc__pyagent_field(text, "collected", 0);
		free(text);
	}
	r->rep->python.rounds += asked && idx > 0;
	return 0;
}

void lc__python_forget_snapshot(struct lc_run_state *r)
{
	for (size_t i = 0; r->py && i < r->eng.nprocs; i++)
		if (r->py[i].pid == r->eng.procs[i].pid && r->py[i].nsnaps > 1)
			r->py[i].nsnaps--;
}

/* The agent's explain of type into y: the most common site, the holders most first. */
static void read_explain(const char *text, struct lc_pytype *y)
{
	for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
		char kind[16], a[256], b[256], c[96], d[32];
		field(line, 0, kind, sizeof kind);
		field(line, 1, a, sizeof a);
		field(line, 2, b, sizeof b);
		if (strcmp(kind, "site") == 0 && !y->file[0]) {
			field(line, 3, c, sizeof c);
			field(line, 4, d, sizeof d);
			char real[PATH_MAX]; /* "cases/x/../pyserver.py": a script's sys.path entry */
			snprintf(y->file, sizeof y->file, "%.255s", realpath(a, real) ? real : a);
			y->line = (unsigned)atoi(b);
			snprintf(y->function, sizeof y->function, "%s", c);
			y->site_objects = strtoul(d, NULL, 10);
		} else if (strcmp(kind, "holder") == 0 && y->nholders < LC_MAX_PYHOLDERS) {
			struct lc_pyholder *h = &y->holders[y->nholders++];
			h->objects = strtoul(a, NULL, 10);
			snprintf(h->path, sizeof h->path, "%.239s", b);
		}
	}
	y->samples = (unsigned long)lc__pyagent_field(text, "samples", 0);
}

/* Type j of t grew in each of the last n rounds: its growth per round into y. */
static bool grew_every_round(const struct lc_pytrack *t, size_t j, size_t n, struct lc_pytype *y)
{
	size_t last = t->nsnaps - 1;
	if (n == 0 || t->nsnaps < n + 1 || n > LC_MAX_ROUNDS)
		return false;
	for (size_t k = 0; k < n; k++) {
		y->rounds[k] = t->types[j].counts[last - n + k + 1] - t->types[j].counts[last - n + k];
		if (y->rounds[k] <= 0)
			return false;
	}
	y->nrounds = n;
	return true;
}

static long growth(const struct lc_pytype *y)
{
	long g = 0;
	for (size_t k = 0; k < y->nrounds; k++)
		g += y->rounds[k];
	return g;
}

/* Whether a comes before b: classes written in Python first (what a Python programmer fixes:
 * handler_registry's Logger, not the lists and locks it holds), then the most growth. */
static bool before(const struct lc_pytype *a, const struct lc_pytype *b)
{
	return a->is_class != b->is_class ? a->is_class : growth(a) > growth(b);
}

/* The growing types of slot i, in that order (at most LC_MAX_PYTYPES), into the report. */
static void select_types(struct lc_run_state *r, size_t i)
{
	const struct lc_pytrack *t = &r->py[i];
	const struct lc_proc_result *p = &r->rep->procs[i];
	struct lc_python *py = &r->rep->python;
	struct lc_pytype y;
	py->ntypes = 0;
	for (size_t j = 0; j < t->ntypes; j++) {
		memset(&y, 0, sizeof y);
		if (!grew_every_round(t, j, p->nrounds, &y))
			continue;
		snprintf(y.type, sizeof y.type, "%s", t->types[j].type);
		y.is_class = t->types[j].cls;
		y.per_connection = r->rep->per_round ? (double)growth(&y) / ((double)y.nrounds * r->rep->per_round) : 0;
		size_t k = py->ntypes; /* insertion in order; when full the last falls off */
		if (k == LC_MAX_PYTYPES && !before(&y, &py->types[k - 1]))
			continue;
		if (k == LC_MAX_PYTYPES)
			k--;
		else
			py->ntypes++;
		for (; k > 0 && before(&y, &py->types[k - 1]); k--)
			py->types[k] = py->types[k - 1];
		py->types[k] = y;
	}
}

/* Tracing (tracemalloc) starts only now, for one more round: its own tables are blocks of the
 * allocator too, so tracing through the judged rounds would have tripled their figures (the
 * global_list twin: 18.18 blocks per connection instead of 6.00). The objects of that round
 * are the ones explained: the newest, as the C holders count a record's new blocks. */
static int explain_round(struct lc_run_state *r, size_t i)
{
	char cmd[32], err[300], *text = NULL;
	/* CPython 3.11 under tracemalloc leaves objects at exit that memcheck calls lost (a thread
	 * that ran while traced: 1,296 B; the global_list twin's explain round: 30,768 B): where an
	 * exit report is read, no tracing, so holders without .py lines */
	if (lc__engine_has_exit_report(&r->eng))
		return 0;
	snprintf(cmd, sizeof cmd, "trace %d", PY_FRAMES);
	if (ask(r, i, cmd, &text, err, sizeof err) < 0)
		return lc__run_fail(r, "%s", err);
	free(text);
	if (lc__traffic_drive(r, r->o->cycles, "explain round") < 0)
		return -1;
	lc__snapshot_wait_closed(r);
	return 0;
}

int lc__python_explain(struct lc_run_state *r)
{
	char cmd[200], err[300];
	for (size_t i = 0; r->py && i < r->rep->nprocs; i++) {
		const struct lc_proc_result *p = &r->rep->procs[i];
		if (!p->judged || !(p->retained || p->bytes_grew) || r->py[i].pid != p->pid || r->py[i].nsnaps < 2)
			continue;
		select_types(r, i);
		r->rep->python.pid = p->pid;
		if (r->rep->python.ntypes && explain_round(r, i) < 0)
			return -1;
		for (size_t j = 0; j < r->rep->python.ntypes; j++) {
			struct lc_pytype *y = &r->rep->python.types[j];
			char *text = NULL;
			snprintf(cmd, sizeof cmd, "explain %.150s %d", y->type, PY_SAMPLES);
			if (ask(r, i, cmd, &text, err, sizeof err) == 0)
				read_explain(text, y);
			else
				snprintf(y->holders[0].path, sizeof y->holders[0].path, "not explained: %.200s", err);
			y->nholders += !text;
			free(text);
		}
		char *text = NULL; /* tracing stops: the rest of the run, and the exit, as without it */
		if (r->rep->python.ntypes && !lc__engine_has_exit_report(&r->eng) &&
		    ask(r, i, "trace 0", &text, err, sizeof err) < 0)
			return lc__run_fail(r, "%s", err);
		free(text);
		return 0; /* the first leaking process that runs the agent */
	}
	return 0;
}

void lc__python_free(struct lc_run_state *r)
{
	free(r->py);
	r->py = NULL;
}

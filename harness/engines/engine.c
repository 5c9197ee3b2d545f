/* What every engine shares: the server's processes and their slots. See engine.h. */
#include "engines/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive/proc.h"

/* Every engine, by the kind the options name: a new engine is a new line here. */
static const struct lc_engine_ops *const engines[] = {
	[LC_ENGINE_MEMCHECK] = &lc__memcheck_ops,
	[LC_ENGINE_NATIVE] = &lc__native_ops,
};

const struct lc_engine_ops *lc__engine_ops_of(enum lc_engine_kind k)
{
	return (size_t)k < sizeof engines / sizeof *engines && engines[k] ? engines[k] : &lc__memcheck_ops;
}

const char *lc_engine_name(enum lc_engine_kind k)
{
	return lc__engine_ops_of(k)->name;
}

int lc__engine_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen)
{
	void (*wake)(void *, int) = e->wake;
	void *wake_arg = e->wake_arg; /* the run's, set before */
	memset(e, 0, sizeof *e);
	e->wake = wake;
	e->wake_arg = wake_arg;
	e->ops = lc__engine_ops_of(o->engine);
	e->timeout = o->timeout;
	return e->ops->open(e, o, dir, err, errlen);
}

void lc__engine_close(struct lc_engine *e)
{
	if (!e->ops)
		return;
	lc__engine_detach(e);
	e->ops->close(e);
	e->state = NULL;
}

int lc__engine_check(enum lc_engine_kind k, const struct lc_options *o, char *err, size_t errlen)
{
	const struct lc_engine_ops *ops = lc__engine_ops_of(k);
	return ops->check ? ops->check(o, err, errlen) : 0;
}

char **lc__engine_argv(struct lc_engine *e, char *const server[])
{
	return e->ops->argv(e, server);
}

char *const *lc__engine_env(struct lc_engine *e)
{
	return e->ops->env ? e->ops->env(e) : NULL;
}

int lc__engine_snapshot(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *s, char *err, size_t errlen)
{
	return e->ops->snapshot(e, i, full, s, err, errlen);
}

int lc__engine_holders(struct lc_engine *e, size_t i, const struct lc_site *sites, size_t n,
		      const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls)
{
	*calls = 0;
	return e->ops->holders ? e->ops->holders(e, i, sites, n, alloc_fns, out, calls) : -1;
}

void lc__engine_baseline(struct lc_engine *e, struct lc_report *rep)
{
	if (e->ops->baseline)
		e->ops->baseline(e, rep);
}

void lc__engine_detach(struct lc_engine *e)
{
	if (e->ops->detach)
		e->ops->detach(e);
}

bool lc__engine_has_exit_report(const struct lc_engine *e)
{
	return e->ops->exit_report != NULL;
}

bool lc__engine_has_exit_report_of(enum lc_engine_kind k)
{
	return lc__engine_ops_of(k)->exit_report != NULL;
}

int lc__engine_exit_report(struct lc_engine *e, struct lc_report *rep, char *err, size_t errlen)
{
	return e->ops->exit_report ? e->ops->exit_report(e, rep, err, errlen) : 0;
}

void lc__engine_describe(const struct lc_engine *e, char *buf, size_t len)
{
	buf[0] = '\0';
	if (e->ops->describe)
		e->ops->describe(e, buf, len);
}

void lc__engine_unmeasured(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len)
{
	e->ops->unmeasured(e, pid, exe, buf, len);
}

void lc__engine_lost(const struct lc_engine *e, char *buf, size_t len)
{
	e->ops->lost(e, buf, len);
}

void lc__engine_failure_hint(const struct lc_engine *e, const char *text, char *buf, size_t len)
{
	if (e->ops && e->ops->failure_hint && text)
		e->ops->failure_hint(text, buf, len);
}

const char *lc_engine_flag(enum lc_engine_kind k)
{
	return lc__engine_ops_of(k)->flag;
}

void lc__engine_defaults(enum lc_engine_kind k, struct lc_options *o)
{
	const struct lc_engine_ops *ops = lc__engine_ops_of(k);
	o->cycles = ops->cycles;
	o->warmup = ops->warmup;
}

const char *lc__engine_slow_reason(enum lc_engine_kind k)
{
	return lc__engine_ops_of(k)->slow;
}

enum lc_measure lc__engine_measure(enum lc_engine_kind k)
{
	return lc__engine_ops_of(k)->measure;
}

void lc__engine_mark_ready(struct lc_engine *e)
{
	e->nready = lc__descendants(e->root, e->ready, LC_MAX_PROCS * 4);
}

int lc__engine_find(const struct lc_engine *e, int pid)
{
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i].pid == pid)
			return (int)i;
	return -1;
}

/* Processes the ready mark did not see: the server forks while serving. */
static bool new_since_ready(const struct lc_engine *e, const int *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool known = false;
		for (size_t j = 0; j < e->nready && !known; j++)
			known = e->ready[j] == pids[i];
		if (!known)
			return true;
	}
	return false;
}

/* A slot for a new process, zeroed: a fresh one, or that of a dead, unpinned process. */
static struct lc_proc *free_slot(struct lc_engine *e)
{
	size_t i = e->nprocs;
	if (e->nprocs < LC_MAX_PROCS)
		e->nprocs++;
	else
		for (i = 0; i < e->nprocs && (e->procs[i].alive || e->procs[i].pinned); i++)
			;
	if (i == e->nprocs)
		return NULL;
	memset(&e->procs[i], 0, sizeof e->procs[i]);
	return &e->procs[i];
}

/* The known ones first: a dead one frees its slot. */
static void refresh(struct lc_engine *e, const int *pids, size_t n)
{
	for (size_t i = 0; i < e->nprocs; i++) {
		struct lc_proc *p = &e->procs[i];
		p->alive = false;
		for (size_t j = 0; j < n && !p->alive; j++)
			p->alive = pids[j] == p->pid;
		p->alive = p->alive && !lc__gone(p->pid); /* the tree lists the root even once it exited */
		if (p->alive && !p->unreachable && e->ops->check_proc)
			e->ops->check_proc(e, i);
		if (!p->alive && e->ops->gone)
			e->ops->gone(e, i);
	}
}

size_t lc__engine_discover(struct lc_engine *e)
{
	int pids[64];
	size_t n = lc__descendants(e->root, pids, 64), alive = 0;
	if (new_since_ready(e, pids, n) && e->ops->forks)
		e->ops->forks(e);
	refresh(e, pids, n);
	for (size_t i = 0; i < n; i++) {
		if (lc__engine_find(e, pids[i]) >= 0 || !e->ops->traced(e, pids[i]))
			continue; /* known, or not the engine's (memcheck: --trace-children-skip) */
		struct lc_proc *p = free_slot(e);
		if (!p) {
			e->skipped++;
			continue;
		}
		p->pid = pids[i];
		lc__proc_stat(p->pid, p->name, sizeof p->name, NULL);
		if (e->ops->name_of)
			e->ops->name_of(p->pid, p->name, sizeof p->name);
		p->alive = true;
		if (e->ops->check_proc)
			e->ops->check_proc(e, (size_t)(p - e->procs));
	}
	for (size_t i = 0; i < e->nprocs; i++)
		alive += e->procs[i].alive;
	return alive;
}

size_t lc__engine_pids(const struct lc_engine *e, int *pids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nprocs && n < cap; i++)
		if (e->procs[i].alive)
			pids[n++] = e->procs[i].pid;
	return n;
}

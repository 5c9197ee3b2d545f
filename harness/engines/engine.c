/* What every engine shares: the server's processes and their slots. See engine.h. */
#include "engines/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive/proc.h"

/* Every engine, by the kind the options name: a new engine is a new line here. */
static const struct lc_engine_ops *const engines[] = {
	[LC_ENGINE_MEMCHECK] = &lc_memcheck_ops,
	[LC_ENGINE_NATIVE] = &lc_native_ops,
};

const struct lc_engine_ops *lc_engine_ops_of(enum lc_engine_kind k)
{
	return (size_t)k < sizeof engines / sizeof *engines && engines[k] ? engines[k] : &lc_memcheck_ops;
}

const char *lc_engine_name(enum lc_engine_kind k)
{
	return lc_engine_ops_of(k)->name;
}

int lc_engine_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen)
{
	void (*wake)(void *) = e->wake, *wake_arg = e->wake_arg; /* the run's, set before */
	memset(e, 0, sizeof *e);
	e->wake = wake;
	e->wake_arg = wake_arg;
	e->ops = lc_engine_ops_of(o->engine);
	e->timeout = o->timeout;
	return e->ops->open(e, o, dir, err, errlen);
}

void lc_engine_close(struct lc_engine *e)
{
	if (!e->ops)
		return;
	e->ops->detach(e);
	e->ops->close(e);
	e->state = NULL;
}

void lc_engine_mark_ready(struct lc_engine *e)
{
	e->nready = lc_descendants(e->root, e->ready, LC_MAX_PROCS * 4);
}

int lc_engine_find(const struct lc_engine *e, int pid)
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
		p->alive = p->alive && !lc_gone(p->pid); /* the tree lists the root even once it exited */
		if (p->alive && !p->unreachable)
			e->ops->check_proc(e, i);
		if (!p->alive)
			e->ops->gone(e, i);
	}
}

size_t lc_engine_discover(struct lc_engine *e)
{
	int pids[64];
	size_t n = lc_descendants(e->root, pids, 64), alive = 0;
	if (new_since_ready(e, pids, n))
		e->ops->forks(e);
	refresh(e, pids, n);
	for (size_t i = 0; i < n; i++) {
		if (lc_engine_find(e, pids[i]) >= 0 || !e->ops->traced(e, pids[i]))
			continue; /* known, or not the engine's (memcheck: --trace-children-skip) */
		struct lc_proc *p = free_slot(e);
		if (!p) {
			e->skipped++;
			continue;
		}
		p->pid = pids[i];
		lc_proc_stat(p->pid, p->name, sizeof p->name, NULL);
		if (e->ops->name_of)
			e->ops->name_of(p->pid, p->name, sizeof p->name);
		p->alive = true;
		e->ops->check_proc(e, (size_t)(p - e->procs));
	}
	for (size_t i = 0; i < e->nprocs; i++)
		alive += e->procs[i].alive;
	return alive;
}

size_t lc_engine_pids(const struct lc_engine *e, int *pids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nprocs && n < cap; i++)
		if (e->procs[i].alive)
			pids[n++] = e->procs[i].pid;
	return n;
}

uint64_t lc_record_key(const struct lc_record *r)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)r->kind;
	for (size_t i = 0; i < r->nframes; i++) {
		for (const char *p = r->frames[i].fn; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		for (const char *p = r->frames[i].file; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ r->frames[i].line) * 1099511628211ULL;
	}
	return h;
}

bool lc_seen_record(const struct lc_seen *s, const struct lc_record *r)
{
	uint64_t k = lc_record_key(r);
	for (size_t i = 0; s && i < s->nkeys; i++)
		if (s->keys[i] == k)
			return true;
	return false;
}

bool lc_seen_block(const struct lc_seen *s, uint64_t addr)
{
	size_t lo = 0, hi = s ? s->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->addrs[mid] == addr)
			return true;
		if (s->addrs[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void lc_seen_clear(struct lc_seen *s)
{
	free(s->addrs);
	free(s->keys);
	memset(s, 0, sizeof *s);
}

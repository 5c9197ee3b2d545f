/* The memcheck engine: see include/lc/memcheck.h. */
#define _GNU_SOURCE
#include "lc/memcheck.h"

#include <dirent.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/native.h"
#include "lc/net.h"
#include "lc/proc.h"

char **mc_argv(const struct mc_engine *e, char *const server[], char opt[][640])
{
	static const char *const fixed[] = {
		"--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all",
		"--errors-for-leak-kinds=definite,indirect", "--xml=yes", "--vgdb=yes", "--vgdb-poll=50",
		/* children: forked workers get FIFOs of their own only when traced (FIELD-NOTES), and
		 * a launcher's exec is followed; a forked child's own exit report stays silent. */
		"--trace-children=yes", "--child-silent-after-fork=yes", NULL,
	};
	size_t n = 0, s = 0;
	while (server[s])
		s++;
	char **argv = calloc(s + 20, sizeof *argv);
	if (!argv)
		return NULL;
	argv[n++] = (char *)e->valgrind;
	for (size_t i = 0; fixed[i]; i++)
		argv[n++] = (char *)fixed[i];
	snprintf(opt[0], 640, "--xml-file=%s", e->xml);
	snprintf(opt[1], 640, "--vgdb-prefix=%s", e->prefix);
	argv[n++] = opt[0];
	argv[n++] = opt[1];
	if (e->suppressions) {
		snprintf(opt[2], 640, "--suppressions=%s", e->suppressions);
		argv[n++] = opt[2];
	}
	if (e->trace_skip) {
		snprintf(opt[3], 640, "--trace-children-skip=%s", e->trace_skip);
		argv[n++] = opt[3];
	}
	if (e->gen_suppressions)
		argv[n++] = "--gen-suppressions=all";
	for (size_t i = 0; i < s; i++)
		argv[n++] = server[i];
	return argv;
}

void mc_xml_path(const struct mc_engine *e, int pid, char *out, size_t len)
{
	const char *p = strstr(e->xml, "%p");
	snprintf(out, len, "%.*s%d%s", (int)(p - e->xml), e->xml, pid, p + 2);
}

/* The owner of pid's vgdb FIFO, or -1 when it has none. */
static long fifo_owner(const struct mc_engine *e, int pid)
{
	char pat[700];
	glob_t g;
	struct stat st;
	long uid = -1;
	snprintf(pat, sizeof pat, "%s-from-vgdb-to-%d-*", e->prefix, pid);
	if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0 && stat(g.gl_pathv[0], &st) == 0)
		uid = (long)st.st_uid;
	globfree(&g);
	return uid;
}

static bool has_fifo(const struct mc_engine *e, int pid)
{
	return fifo_owner(e, pid) >= 0;
}

/* A process that switched to another user (nginx's worker as 'nobody', memcached -u) after
 * valgrind made its FIFOs can no longer open them: vgdb would wait for it until the timeout.
 * Returns true, with the reason in p->why, for such a process. */
static bool user_switched(const struct mc_engine *e, struct mc_proc *p)
{
	/* the effective uid from status: /proc/PID itself belongs to root once a setuid made the
	 * process undumpable, as it does unless the server sets PR_SET_DUMPABLE again */
	char path[64], buf[2048];
	unsigned real, uid;
	long owner = fifo_owner(e, p->pid);
	snprintf(path, sizeof path, "/proc/%d/status", p->pid);
	lc_read_file(path, buf, sizeof buf);
	const char *line = strstr(buf, "\nUid:");
	if (owner < 0 || !line || sscanf(line, "\nUid: %u %u", &real, &uid) != 2 || uid == 0 || (long)uid == owner)
		return false;
	snprintf(p->why, sizeof p->why, "it runs as uid %u, its vgdb FIFOs belong to uid %ld (it switched user: "
		 "nginx 'user', memcached -u): run it as root (nginx: 'user root;', memcached: -u root)", uid, owner);
	return true;
}

/* A valgrind'ed process's comm is "memcheck-amd64-": name it by its program instead, the
 * first argument after valgrind's options in /proc/PID/cmdline. */
static void program_name(int pid, char *name, size_t len)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	size_t n = lc_read_file(path, buf, sizeof buf);
	for (size_t i = strlen(buf) + 1; i < n; i += strlen(buf + i) + 1)
		if (buf[i] != '-') {
			const char *slash = strrchr(buf + i, '/');
			snprintf(name, len, "%s", slash ? slash + 1 : buf + i);
			return;
		}
}

/* Descendants of root (root first), breadth first. Returns the count. */
static size_t tree(int root, int *out, size_t cap)
{
	static int pid[32768], ppid[32768];
	size_t all = 0, n = 0;
	char comm[64];
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && all < 32768 && (e = readdir(d))) {
		int p = atoi(e->d_name);
		if (p > 0 && (ppid[all] = lc_proc_stat(p, comm, sizeof comm, NULL)) >= 0)
			pid[all++] = p;
	}
	if (d)
		closedir(d);
	out[n++] = root;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < all && n < cap; j++)
			if (ppid[j] == out[i])
				out[n++] = pid[j];
	return n;
}

struct mc_proc *mc_find(struct mc_engine *e, int pid)
{
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i].pid == pid)
			return &e->procs[i];
	return NULL;
}

/* A child forked while its parent had a relay attached inherits the parent's gdbserver
 * connection and answers nobody (seen here: vgdb "no ack mode: unexpected buflen"): such a
 * process, or one that exits meanwhile, is unreachable; only the root's failure means the
 * relay itself does not work, and then every snapshot falls back to one vgdb each. */
static void open_relay(struct mc_engine *e, struct mc_proc *p)
{
	char err[256];
	bool root = p->pid == e->root;
	double t = root || e->timeout < 2 ? e->timeout : 2;
	if (e->no_relay)
		return;
	if (lc_relay_open(&p->relay, e->vgdb, e->prefix, p->pid, t, err, sizeof err) == 0) {
		p->has_relay = true;
		return;
	}
	if (!root) {
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "no relay (%.80s); a child forked while a relay was attached to its "
			 "parent cannot be reached", err);
		return;
	}
	if (strstr(err, "no answer in time")) { /* vgdb hangs: one per command would hang as well */
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "vgdb got no answer from the server within %gs", t);
		return;
	}
	e->no_relay = true; /* one failure is enough to stop trying: the fallback always works */
	snprintf(e->relay_note, sizeof e->relay_note, "one vgdb per snapshot (relay unavailable: %s)", err);
}

void mc_mark_ready(struct mc_engine *e)
{
	e->nready = tree(e->root, e->ready, LC_MAX_PROCS * 4);
}

/* A process forked while its parent has a relay attached inherits the relay's connection
 * and can steal the parent's packets (seen here: the parent's interrupts went unanswered).
 * So a server that forks while serving (a child per connection, a respawned worker) gets
 * one vgdb per command: the server is halted for the whole of each, it cannot fork then. */
static void forks_while_serving(struct mc_engine *e, const int *pids, size_t n)
{
	for (size_t i = 0; i < n && !e->no_relay; i++) {
		bool known = false;
		for (size_t j = 0; j < e->nready && !known; j++)
			known = e->ready[j] == pids[i];
		if (known)
			continue;
		mc_close(e);
		e->no_relay = true;
		snprintf(e->relay_note, sizeof e->relay_note, "one vgdb per snapshot: the server forks while serving "
			 "(a relay's connection would be inherited by its children)");
	}
}

/* A slot for a new process, zeroed: a fresh one, or that of a dead, unpinned process. */
static struct mc_proc *free_slot(struct mc_engine *e)
{
	struct mc_proc *p = NULL;
	if (e->nprocs < LC_MAX_PROCS)
		p = &e->procs[e->nprocs++];
	for (size_t i = 0; !p && i < e->nprocs; i++)
		if (!e->procs[i].alive && !e->procs[i].pinned && !e->procs[i].has_relay)
			p = &e->procs[i];
	if (p)
		memset(p, 0, sizeof *p);
	return p;
}

size_t mc_discover(struct mc_engine *e)
{
	int pids[64];
	size_t n = tree(e->root, pids, 64), alive = 0;
	forks_while_serving(e, pids, n);
	for (size_t i = 0; i < e->nprocs; i++) { /* the known ones first: a dead one frees its slot */
		struct mc_proc *p = &e->procs[i];
		p->alive = false;
		for (size_t j = 0; j < n && !p->alive; j++)
			p->alive = pids[j] == p->pid;
		p->alive = p->alive && !lc_gone(p->pid); /* tree() lists the root even once it exited */
		/* a worker switches user after its fork: seen before it did, it may have done so since
		 * (and a vgdb poking it then ends it) */
		if (p->alive && !p->unreachable && !p->has_relay && !e->native)
			p->unreachable = user_switched(e, p);
		if (!p->alive && p->has_relay) {
			lc_relay_close(&p->relay);
			p->has_relay = false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (mc_find(e, pids[i]) || (!e->native && !has_fifo(e, pids[i])))
			continue; /* known, or not under valgrind (skipped by --trace-children-skip) */
		struct mc_proc *p = free_slot(e);
		if (!p) {
			e->skipped++;
			continue;
		}
		p->pid = pids[i];
		lc_proc_stat(p->pid, p->name, sizeof p->name, NULL);
		program_name(p->pid, p->name, sizeof p->name);
		p->alive = true;
		p->unreachable = !e->native && user_switched(e, p);
	}
	for (size_t i = 0; i < e->nprocs; i++)
		alive += e->procs[i].alive;
	return alive;
}

size_t mc_pids(const struct mc_engine *e, int *pids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nprocs && n < cap; i++)
		if (e->procs[i].alive)
			pids[n++] = e->procs[i].pid;
	return n;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int mc_command(struct mc_engine *e, struct mc_proc *p, const char *cmd, const char *out_path, char **text,
	       char *err, size_t errlen)
{
	*text = NULL;
	if (e->native) {
		snprintf(err, errlen, "no monitor commands in the native engine");
		return -1;
	}
	if (!p->has_relay && !p->unreachable && !has_fifo(e, p->pid)) { /* vgdb would wait until the timeout */
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "its vgdb FIFOs are gone");
	}
	/* never a vgdb at an unreachable process: a worker that switched user is ended by its own
	 * gdbserver when vgdb pokes it and it cannot open its FIFOs (seen here) */
	if (!p->has_relay && !p->relay_tried && !p->unreachable) { /* lazily: only those we measure */
		p->relay_tried = true;
		open_relay(e, p);
	}
	if (p->unreachable) {
		snprintf(err, errlen, "vgdb cannot reach pid %d (%s): %s", p->pid, p->name,
			 p->why[0] ? p->why : e->relay_note);
		return -1;
	}
	if (!p->has_relay)
		return lc_vgdb_command(e->vgdb, cmd, e->prefix, p->pid, out_path, e->timeout, text, err, errlen);
	if (lc_relay_interrupt(&p->relay, e->timeout, err, errlen) < 0 ||
	    lc_relay_monitor(&p->relay, cmd, text, e->timeout, err, errlen) < 0)
		return -1;
	write_text(out_path, *text); /* the copy on disk is for --keep only: failing it is no error */
	return 0;
}

int mc_resume(struct mc_engine *e, struct mc_proc *p, char *err, size_t errlen)
{
	(void)e;
	return p->has_relay ? lc_relay_resume(&p->relay, err, errlen) : 0;
}

int mc_snapshot(struct mc_engine *e, struct mc_proc *p, const char *cmd, const char *out_path,
		struct lc_snapshot *snap, char *err, size_t errlen)
{
	char *text = NULL, why[256];
	if (e->native)
		return nat_measure(p->pid, snap, err, errlen);
	int rc = mc_command(e, p, cmd, out_path, &text, err, errlen);
	if (rc == 0 && lc_vgdb_parse(text, snap, why, sizeof why) < 0) {
		char errpath[700], last[200] = "";
		snprintf(errpath, sizeof errpath, "%s.err", out_path);
		if (!p->has_relay)
			lc_last_line(errpath, last, sizeof last);
		snprintf(err, errlen, "vgdb could not take a leak snapshot (%s)", last[0] ? last : why);
		rc = -1;
	}
	if (mc_resume(e, p, why, sizeof why) < 0 && rc == 0) {
		snprintf(err, errlen, "%s", why);
		rc = -1;
	}
	free(text);
	if (rc == 0) {
		snap->fds = lc_count_fds(p->pid);
		snap->threads = lc_count_threads(p->pid);
		snap->objects = -1;
	}
	return rc;
}

void mc_close(struct mc_engine *e)
{
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i].has_relay) {
			lc_relay_close(&e->procs[i].relay);
			e->procs[i].has_relay = false;
			e->procs[i].relay_tried = false;
		}
}

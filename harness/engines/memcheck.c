/* The memcheck engine: the server tree runs under valgrind memcheck; every process of it that
 * has a vgdb FIFO (valgrind follows fork, and exec with --trace-children) can be snapshotted.
 * One relay per process (valgrind/relay.h) makes a snapshot cost milliseconds; where a relay
 * cannot be opened, one vgdb per command (valgrind/vgdb.h) is the fallback and the report
 * says so. The exit report is valgrind's XML (valgrind/vgxml.h). See engine.h. */
#define _GNU_SOURCE
#include "engines/heap.h"
#include "engines/engine.h"

#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drive/net.h"
#include "drive/proc.h"
#include "engines/native.h"
#include "preload/lcwake.h"
#include "valgrind/relay.h"
#include "util/text.h"
#include "valgrind/vgdb.h"

struct memcheck {
	const struct lc_options *o; /* borrowed */
	char vgdb[600];             /* vgdb beside that valgrind, else from PATH */
	char prefix[600];           /* --vgdb-prefix: a private dir, so runs never collide */
	char xml[600];              /* --xml-file pattern, with %p */
	char log[600];              /* --log-file pattern, with %p: valgrind's own messages */
	char supp[600];             /* the ticker's suppression (wake_supp), "" if not written */
	char wake_env[PATH_MAX + 600]; /* LD_PRELOAD with the ticker first, "" if it is not found */
	char *envp[3];              /* mc_env's: borrowed from wake_env and a literal */
	char out[600];              /* the latest command's raw answer, for --keep */
	char opt[6][640];           /* valgrind options built from the above */
	struct lc_relay relay[LC_MAX_PROCS]; /* owned while has_relay[i] */
	bool has_relay[LC_MAX_PROCS];
	bool relay_tried[LC_MAX_PROCS]; /* opened lazily, at the first snapshot */
	bool no_relay;              /* a relay failed: every snapshot starts a vgdb */
	char relay_note[320];       /* why, for the report */
	struct lc_seen seen[LC_MAX_PROCS][2]; /* the blocks of the records that grew, at the latest
	                             * full snapshot (seen[i][latest[i]]) and the one before */
	int latest[LC_MAX_PROCS];
	unsigned nfull[LC_MAX_PROCS];/* full snapshots listed */
	/* What grew at the summary snapshots since the latest full one (a series point of --every,
	 * a settling re-sample): every leak check restarts memcheck's "increased" from itself, so
	 * a full snapshot alone would miss what grew before them. Added to the next full one. */
	struct lc_site pending[LC_MAX_PROCS][LC_MAX_SITES];
	size_t npending[LC_MAX_PROCS];
	struct wake_slot { struct lc_engine *e; size_t i; } wakes[LC_MAX_PROCS]; /* nudge args: borrowed e */
};

#define SEEN_RECORDS 8          /* records listed per full snapshot at most: a command each */

/* prog as exec would find it (on PATH unless it has a '/'), into found; false if none is there. */
static bool find_program(const char *prog, char *found, size_t len)
{
	if (strchr(prog, '/')) {
		snprintf(found, len, "%s", prog);
		return access(prog, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(found, len, "%.*s/%s", (int)n, path, prog);
		if (access(found, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static bool in_path(const char *prog)
{
	char found[4096];
	return find_program(prog, found, sizeof found);
}

/* vgdb must match the valgrind that runs the server: take the one beside --valgrind. */
static void find_vgdb(const char *valgrind, char *out, size_t len)
{
	const char *slash = strrchr(valgrind, '/');
	snprintf(out, len, "vgdb");
	if (slash) {
		char beside[600];
		snprintf(beside, sizeof beside, "%.*s/vgdb", (int)(slash - valgrind), valgrind);
		if (access(beside, X_OK) == 0)
			snprintf(out, len, "%s", beside);
	}
}

/* valgrind's own fds (its log, its XML, the FIFO to vgdb that gdbserver opens at the first
 * snapshot: "+1 +0 +0" open fds in every run) are the VALGRIND_FDS below the real soft limit,
 * which it lowers by as many for the program (valgrind/FACTS.md). Returns the first of them, 0
 * if the limit is unreadable (then every fd is counted). */
#define VALGRIND_FDS 12
static long valgrind_fds_from(int pid)
{
	char path[64], text[2048];
	snprintf(path, sizeof path, "/proc/%d/limits", pid);
	lc__read_file(path, text, sizeof text);
	const char *line = strstr(text, "Max open files");
	long soft = line ? strtol(line + strlen("Max open files"), NULL, 10) : 0;
	return soft > VALGRIND_FDS ? soft - VALGRIND_FDS : 0;
}

/* valgrind keeps fds of its own at the top of the range and lowers the limit the program sees:
 * a server that raises RLIMIT_NOFILE (vsftpd: "500 OOPS: setrlimit NOFILE"; memcached -c) fails
 * under it and runs natively (harness/valgrind/FACTS.md). */
static void mc_failure_hint(const char *text, char *buf, size_t len)
{
	if (!strcasestr(text, "setrlimit") && !strcasestr(text, "RLIMIT_NOFILE") && !strcasestr(text, "NOFILE"))
		return;
	lc__appendf(buf, len, "; valgrind keeps fds of its own, so the server cannot raise RLIMIT_NOFILE: run "
		   "prlimit --nofile=N leakcheck ... (N: its limit + %d), or --native", VALGRIND_FDS);
}

/* valgrind refuses a setuid, setgid or setcap program ("can't execute setuid/setgid/setcap
 * executable"), and the run saw only exit status 126 and "Permission denied": said first. */
static int mc_check(const struct lc_options *o, char *err, size_t errlen)
{
	char found[4096];
	struct stat st;
	if (!o->server_argv || !o->server_argv[0] || !find_program(o->server_argv[0], found, sizeof found) ||
	    stat(found, &st) < 0)
		return 0; /* starting it says what is wrong */
	bool caps = getxattr(found, "security.capability", NULL, 0) > 0;
	if (!(st.st_mode & (S_ISUID | S_ISGID)) && !caps)
		return 0;
	snprintf(err, errlen, "%s is %s: valgrind cannot run it (\"can't execute setuid/setgid/setcap executable\"); "
		 "run a copy without the bit (cp, then chmod u-s,g-s or setcap -r), or --native", found,
		 caps ? "setcap (file capabilities)" : st.st_mode & S_ISUID ? "setuid" : "setgid");
	return -1;
}

/* The ticker's thread is alive at exit, and glibc's pointer to its TLS vector points inside
 * the block: "possibly lost", every run. Not the server's: suppressed (obj:, as the .so may
 * be stripped). */
static const char wake_supp[] = "{\n   leakcheck-ticker-thread\n   Memcheck:Leak\n   match-leak-kinds: possible\n"
				"   fun:calloc\n   ...\n   fun:pthread_create*\n   obj:*/" LC_WAKE_LIB "\n}\n";

/* The ticker (preload/lcwake.c), beside the allocator preload, first in the server's
 * LD_PRELOAD (the user's own preloads stay, after it), and its suppression in dir. Without
 * it, an idle multi-threaded process is woken by a connection (engine.h's wake). */
static void wake_open(struct memcheck *m, const char *dir)
{
	char lib[PATH_MAX];
	if (lc__native_preload(lib, sizeof lib) < 0)
		return;
	char *slash = strrchr(lib, '/');
	size_t at = slash ? (size_t)(slash + 1 - lib) : 0;
	snprintf(lib + at, sizeof lib - at, "%s", LC_WAKE_LIB);
	if (access(lib, R_OK) != 0)
		return;
	snprintf(m->supp, sizeof m->supp, "%s/lcwake.supp", dir);
	FILE *f = fopen(m->supp, "w");
	bool written = f && fputs(wake_supp, f) >= 0;
	if (f && fclose(f) != 0)
		written = false;
	if (!written) { /* no ticker either: its suppression would be missing */
		m->supp[0] = '\0';
		return;
	}
	const char *was = getenv("LD_PRELOAD");
	snprintf(m->wake_env, sizeof m->wake_env, "LD_PRELOAD=%s%s%s", lib, was && *was ? ":" : "", was ? was : "");
}

static int mc_open(struct lc_engine *e, const struct lc_options *o, const char *dir, char *err, size_t errlen)
{
	struct memcheck *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->state = m;
	m->o = o;
	find_vgdb(o->valgrind, m->vgdb, sizeof m->vgdb);
	snprintf(m->prefix, sizeof m->prefix, "%s/vgdb", dir);
	snprintf(m->xml, sizeof m->xml, "%s/memcheck.%%p.xml", dir);
	snprintf(m->log, sizeof m->log, "%s/valgrind.%%p.log", dir);
	snprintf(m->out, sizeof m->out, "%s/vgdb.out", dir);
	if (!in_path(o->valgrind)) {
		snprintf(err, errlen, "%s not found: install valgrind (apt-get install valgrind)", o->valgrind);
		return -1;
	}
	wake_open(m, dir);
	return 0;
}

/* valgrind [memcheck options] SERVER ARGS: the one builder of valgrind's argv. */
/* CPython's own allocator (pymalloc) hands out objects from 256 KB arenas memcheck sees as
 * few blocks: a Python twin keeping a Connection per connection grew in bytes only, and
 * without the Python agent was judged clean. One malloc block per object, as natively. */
static char *const *mc_env(struct lc_engine *e)
{
	struct memcheck *m = e->state;
	size_t k = 0;
	m->envp[k++] = "PYTHONMALLOC=malloc";
	if (m->wake_env[0])
		m->envp[k++] = m->wake_env;
	m->envp[k] = NULL;
	return m->envp;
}

static char **mc_argv(struct lc_engine *e, char *const server[])
{
	static const char *const fixed[] = {
		"--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all",
		"--errors-for-leak-kinds=definite,indirect", "--xml=yes", "--vgdb=yes", "--vgdb-poll=50",
		/* children: forked workers get FIFOs of their own only when traced (valgrind/FACTS.md), and
		 * a launcher's exec is followed; a forked child's own exit report stays silent. */
		"--trace-children=yes", "--child-silent-after-fork=yes", NULL,
	};
	struct memcheck *m = e->state;
	const struct lc_options *o = m->o;
	size_t n = 0, s = 0;
	while (server[s])
		s++;
	char **argv = calloc(s + 20, sizeof *argv);
	if (!argv)
		return NULL;
	argv[n++] = (char *)o->valgrind;
	for (size_t i = 0; fixed[i]; i++)
		argv[n++] = (char *)fixed[i];
	snprintf(m->opt[0], sizeof m->opt[0], "--xml-file=%s", m->xml);
	snprintf(m->opt[1], sizeof m->opt[1], "--vgdb-prefix=%s", m->prefix);
	/* valgrind's own messages ("could not unlink .../vgdb-...", from a process that switched
	 * user) in a file of their own, not on the server's stderr: a daemon's log process kept
	 * them as its errors, and grew by them (+3 blocks per connection, LEAK) */
	snprintf(m->opt[4], sizeof m->opt[4], "--log-file=%s", m->log);
	argv[n++] = m->opt[0];
	argv[n++] = m->opt[1];
	argv[n++] = m->opt[4];
	if (o->suppressions) {
		snprintf(m->opt[2], sizeof m->opt[2], "--suppressions=%s", o->suppressions);
		argv[n++] = m->opt[2];
	}
	if (m->supp[0]) {
		snprintf(m->opt[5], sizeof m->opt[5], "--suppressions=%s", m->supp);
		argv[n++] = m->opt[5];
	}
	if (o->trace_skip) {
		snprintf(m->opt[3], sizeof m->opt[3], "--trace-children-skip=%s", o->trace_skip);
		argv[n++] = m->opt[3];
	}
	if (o->write_suppressions) /* exit records carry their suppression */
		argv[n++] = "--gen-suppressions=all";
	for (size_t i = 0; i < s; i++)
		argv[n++] = server[i];
	return argv;
}

/* The owner of pid's vgdb FIFO, or -1 when it has none. */
static long fifo_owner(const struct memcheck *m, int pid)
{
	char pat[700];
	glob_t g;
	struct stat st;
	long uid = -1;
	snprintf(pat, sizeof pat, "%s-from-vgdb-to-%d-*", m->prefix, pid);
	if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0 && stat(g.gl_pathv[0], &st) == 0)
		uid = (long)st.st_uid;
	globfree(&g);
	return uid;
}

static bool mc_traced(struct lc_engine *e, int pid)
{
	return fifo_owner(e->state, pid) >= 0;
}

/* A process that switched to another user (nginx's worker as 'nobody', memcached -u) after
 * valgrind made its FIFOs can no longer open them: vgdb would wait for it until the timeout.
 * Returns true, with the reason in p->why, for such a process. */
static bool user_switched(const struct memcheck *m, struct lc_proc *p)
{
	/* the effective uid from status: /proc/PID itself belongs to root once a setuid made the
	 * process undumpable, as it does unless the server sets PR_SET_DUMPABLE again */
	char path[64], buf[2048];
	unsigned real, uid;
	long owner = fifo_owner(m, p->pid);
	snprintf(path, sizeof path, "/proc/%d/status", p->pid);
	lc__read_file(path, buf, sizeof buf);
	const char *line = strstr(buf, "\nUid:");
	if (owner < 0 || !line || sscanf(line, "\nUid: %u %u", &real, &uid) != 2 || uid == 0 || (long)uid == owner)
		return false;
	snprintf(p->why, sizeof p->why, "it runs as uid %u, its vgdb FIFOs belong to uid %ld (it switched user: "
		 "nginx 'user', memcached -u): run it as root (nginx: 'user root;', memcached: -u root)", uid, owner);
	return true;
}

/* A worker switches user after its fork: seen before it did, it may have done so since (and
 * a vgdb poking it then ends it). With a relay attached it can no longer switch unseen. */
static void mc_check_proc(struct lc_engine *e, size_t i)
{
	struct memcheck *m = e->state;
	if (!m->has_relay[i])
		e->procs[i].unreachable = user_switched(m, &e->procs[i]);
}

/* A valgrind'ed process's comm is "memcheck-amd64-": name it by its program instead, the
 * first argument after valgrind's options in /proc/PID/cmdline. */
static void mc_name(int pid, char *name, size_t len)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	size_t n = lc__read_file(path, buf, sizeof buf);
	for (size_t i = strlen(buf) + 1; i < n; i += strlen(buf + i) + 1)
		if (buf[i] != '-') {
			const char *slash = strrchr(buf + i, '/');
			snprintf(name, len, "%s", slash ? slash + 1 : buf + i);
			return;
		}
}

static void close_relay(struct memcheck *m, size_t i)
{
	if (m->has_relay[i])
		lc__relay_close(&m->relay[i]);
	m->has_relay[i] = m->relay_tried[i] = false;
}

static void mc_detach(struct lc_engine *e)
{
	struct memcheck *m = e->state;
	for (size_t i = 0; m && i < LC_MAX_PROCS; i++)
		close_relay(m, i);
}

/* A process forked while its parent has a relay attached inherits the relay's connection
 * and can steal the parent's packets (the parent's interrupts go unanswered). So a server
 * that forks while serving (a child per connection, a respawned worker) gets one vgdb per
 * command: the server is halted for the whole of each, it cannot fork then. */
static void mc_forks(struct lc_engine *e)
{
	struct memcheck *m = e->state;
	if (m->no_relay)
		return;
	mc_detach(e);
	m->no_relay = true;
	e->slow_commands = true;
	snprintf(m->relay_note, sizeof m->relay_note, "one vgdb per snapshot: the server forks while serving "
		 "(a relay's connection would be inherited by its children)");
}

static void mc_gone(struct lc_engine *e, size_t i)
{
	struct memcheck *m = e->state;
	lc__seen_clear(&m->seen[i][0]);
	lc__seen_clear(&m->seen[i][1]);
	m->nfull[i] = 0;
	m->npending[i] = 0;
	if (m->has_relay[i]) {
		lc__relay_close(&m->relay[i]);
		m->has_relay[i] = false;
	}
}

/* How vgdb may wake process i when it sleeps in a system call: a process with the ticker
 * (preload/lcwake.c) needs nothing; else with ptrace (vgdb's invoker) only when it has one
 * thread (a child made by a raw clone()); a multi-threaded process without the ticker (its
 * environment cleared of LD_PRELOAD) is woken by the run (a connection to the server), never
 * ptraced (valgrind/FACTS.md: the invoker corrupts the result of a blocked call there). */
static void wake_slot(void *arg)
{
	const struct wake_slot *w = arg;
	w->e->wake(w->e->wake_arg, w->e->procs[w->i].pid);
}

/* A process with the ticker runs blocks every 10 ms: there is nothing to do but wait. */
static void ticks_anyway(void *arg)
{
	(void)arg;
}

static struct lc_nudge nudge_for(struct lc_engine *e, size_t i)
{
	struct memcheck *m = e->state;
	struct lc_nudge n = { NULL, NULL };
	int pid = e->procs[i].pid;
	m->wakes[i] = (struct wake_slot){ e, i };
	if (lc__count_threads_named(pid, LC_WAKE_THREAD) > 0)
		n = (struct lc_nudge){ ticks_anyway, NULL };
	else if (e->wake && lc__count_threads(pid) > 1)
		n = (struct lc_nudge){ wake_slot, &m->wakes[i] };
	return n;
}

/* A child forked while its parent had a relay attached inherits the parent's gdbserver
 * connection and answers nobody (vgdb: "no ack mode: unexpected buflen"): such a process, or
 * one that exits meanwhile, is unreachable; only the root's failure means the relay itself
 * does not work, and then every snapshot falls back to one vgdb each. */
static void open_relay(struct lc_engine *e, size_t i)
{
	struct memcheck *m = e->state;
	struct lc_proc *p = &e->procs[i];
	char err[256];
	bool root = p->pid == e->root;
	double t = root || e->timeout < 2 ? e->timeout : 2;
	if (m->no_relay)
		return;
	struct lc_nudge nudge = nudge_for(e, i);
	if (lc__relay_open(&m->relay[i], m->vgdb, m->prefix, p->pid, &nudge, t, err, sizeof err) == 0) {
		m->has_relay[i] = true;
		return;
	}
	if (!root) {
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "no relay (%.80s); a child forked while a relay was attached to its "
			 "parent cannot be reached", err);
		return;
	}
	if (m->relay[i].timed_out) { /* vgdb hangs: one per command would hang as well */
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "vgdb got no answer from the server within %gs", t);
		return;
	}
	m->no_relay = true; /* one failure is enough to stop trying: the fallback always works */
	e->slow_commands = true;
	snprintf(m->relay_note, sizeof m->relay_note, "one vgdb per snapshot (relay unavailable: %s)", err);
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int mc_command(struct lc_engine *e, size_t i, const char *cmd, char **text, char *err, size_t errlen)
{
	struct memcheck *m = e->state;
	struct lc_proc *p = &e->procs[i];
	*text = NULL;
	if (!m->has_relay[i] && !p->unreachable && fifo_owner(m, p->pid) < 0) { /* vgdb would wait until the timeout */
		p->unreachable = true;
		snprintf(p->why, sizeof p->why, "its vgdb FIFOs are gone");
	}
	/* never a vgdb at an unreachable process: a worker that switched user is ended by its own
	 * gdbserver when vgdb pokes it and it cannot open its FIFOs */
	if (!m->has_relay[i] && !m->relay_tried[i] && !p->unreachable) { /* lazily: only those we measure */
		m->relay_tried[i] = true;
		open_relay(e, i);
	} else if (m->has_relay[i] && !m->relay[i].nudge.fn && nudge_for(e, i).fn) {
		/* It had one thread when its relay came (ptrace), it has more now (a pool started
		 * on first use): a new relay, without ptrace. The old one goes without a detach,
		 * whose halt would be a ptrace. */
		lc__relay_drop(&m->relay[i]);
		m->has_relay[i] = false;
		open_relay(e, i);
	}
	if (p->unreachable) {
		snprintf(err, errlen, "vgdb cannot reach pid %d (%s): %s", p->pid, p->name,
			 p->why[0] ? p->why : m->relay_note);
		return -1;
	}
	if (!m->has_relay[i]) {
		struct lc_nudge nudge = nudge_for(e, i);
		return lc__vgdb_command(m->vgdb, cmd, m->prefix, p->pid, m->out, e->timeout, &nudge, text, err, errlen);
	}
	if (lc__relay_interrupt(&m->relay[i], e->timeout, err, errlen) < 0 ||
	    lc__relay_monitor(&m->relay[i], cmd, text, e->timeout, err, errlen) < 0)
		return -1;
	write_text(m->out, *text); /* the copy on disk is for --keep only: failing it is no error */
	return 0;
}

static int mc_resume(struct lc_engine *e, size_t i, char *err, size_t errlen)
{
	struct memcheck *m = e->state;
	return m->has_relay[i] ? lc__relay_resume(&m->relay[i], err, errlen) : 0;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The blocks of the records that grew in the full snapshot snap, listed while the process is
 * still halted in it (block_list NR: NR is valid until the next leak check), as slot i's
 * latest generation. Only through a relay: a vgdb per command would cost ~0.1 s a record. */
static void list_grown(struct lc_engine *e, size_t i, const struct lc_snapshot *snap)
{
	struct memcheck *m = e->state;
	struct lc_seen *g = &m->seen[i][m->latest[i] ^ 1];
	size_t cap = 0;
	lc__seen_clear(g);
	g->keys = calloc(SEEN_RECORDS, sizeof *g->keys);
	for (size_t r = 0; g->keys && r < snap->nsites && r < SEEN_RECORDS; r++) {
		char cmd[64], line[256], err[200], *text = NULL;
		snprintf(cmd, sizeof cmd, "block_list %u", snap->sites[r].nr);
		if (lc__relay_monitor(&m->relay[i], cmd, &text, e->timeout, err, sizeof err) < 0)
			break;
		g->keys[g->nkeys++] = lc__record_key(&snap->sites[r].rec);
		for (const char *p = text; lc__vgdb_next_line(&p, line, sizeof line);) {
			unsigned long addr, size;
			if (sscanf(line, "0x%lx[%lu]", &addr, &size) != 2 || strstr(line, "indirect"))
				continue;
			if (g->n == cap) {
				uint64_t *n = realloc(g->addrs, (cap = cap ? cap * 2 : 256) * sizeof *n);
				if (!n)
					break;
				g->addrs = n;
			}
			g->addrs[g->n++] = addr;
		}
		free(text);
	}
	if (g->n)
		qsort(g->addrs, g->n, sizeof *g->addrs, by_value);
	m->latest[i] ^= 1;
	m->nfull[i]++;
}

static const struct lc_seen *mc_seen_before(struct lc_engine *e, size_t i)
{
	struct memcheck *m = e->state;
	return m->nfull[i] >= 2 ? &m->seen[i][m->latest[i] ^ 1] : NULL;
}

struct monitor_ctx {
	struct lc_engine *e;        /* borrowed */
	size_t i;                   /* the slot searched */
};

static int monitor(void *ctx, const char *cmd, char **text, char *err, size_t errlen)
{
	struct monitor_ctx *c = ctx;
	return mc_command(c->e, c->i, cmd, text, err, errlen);
}

/* From the heap graph (engines/heap.c gathers it, analysis/holders.c searches it). The
 * process stays halted for the whole search, so every command sees one heap. Where its memory
 * cannot be read, each site says why. */
static int mc_holders(struct lc_engine *e, size_t i, const struct lc_site *sites, size_t n,
		      const char *const *alloc_fns, struct lc_retainer *out, unsigned *calls)
{
	struct monitor_ctx c = { e, i };
	char err[200] = "";
	struct lc_heap_proc *h = lc__heap_proc_open(e->procs[i].pid, true, alloc_fns, err, sizeof err);
	int rc = -1;
	*calls = 0;
	if (h) {
		*calls = 3;
		rc = lc__heap_gather_memcheck(h, monitor, &c) < 0 ? -1 :
		     lc__holders_find(&h->heap, mc_seen_before(e, i), sites, n, out, err, sizeof err);
		if (rc < 0 && !err[0])
			snprintf(err, sizeof err, "%s", h->err);
		lc__heap_proc_close(h);
	}
	for (size_t j = 0; rc < 0 && j < n; j++) {
		memset(&out[j], 0, sizeof out[j]);
		out[j].searched = true;
		out[j].kind = LC_ROOT_UNKNOWN;
		snprintf(out[j].note, sizeof out[j].note, "%.150s", err);
	}
	mc_resume(e, i, err, sizeof err);
	return 0;
}

/* The site of sites[0..n) with s's record (kind and stack), or NULL. */
static struct lc_site *same_record(struct lc_site *sites, size_t n, const struct lc_site *s)
{
	for (size_t j = 0; j < n; j++)
		if (lc__same_record(&sites[j].rec, &s->rec))
			return &sites[j];
	return NULL;
}

/* A summary snapshot's growth, kept for the next full one. */
static void pend_add(struct memcheck *m, size_t i, const struct lc_snapshot *snap)
{
	for (size_t j = 0; j < snap->nsites; j++) {
		struct lc_site *p = same_record(m->pending[i], m->npending[i], &snap->sites[j]);
		if (p) {
			p->dblocks += snap->sites[j].dblocks;
			p->dbytes += snap->sites[j].dbytes;
			p->rec = snap->sites[j].rec;
		} else if (m->npending[i] < LC_MAX_SITES) {
			m->pending[i][m->npending[i]++] = snap->sites[j];
		}
	}
}

/* The full snapshot's growth is since the latest leak check: add what grew before it since the
 * previous full one, largest growth first again. */
static void pend_merge(struct memcheck *m, size_t i, struct lc_snapshot *snap)
{
	for (size_t j = 0; j < m->npending[i]; j++) {
		const struct lc_site *p = &m->pending[i][j];
		struct lc_site *s = same_record(snap->sites, snap->nsites, p);
		if (s) {
			s->dblocks += p->dblocks;
			s->dbytes += p->dbytes;
		} else if (snap->nsites < LC_MAX_SITES) {
			snap->sites[snap->nsites] = *p;
			snap->sites[snap->nsites++].nr = 0; /* a record of an earlier leak check */
		}
	}
	m->npending[i] = 0;
	for (size_t j = 1; j < snap->nsites; j++)
		for (size_t k = j; k > 0 && snap->sites[k - 1].dbytes < snap->sites[k].dbytes; k--) {
			struct lc_site t = snap->sites[k];
			snap->sites[k] = snap->sites[k - 1];
			snap->sites[k - 1] = t;
		}
}

static int mc_snapshot(struct lc_engine *e, size_t i, bool full, struct lc_snapshot *snap, char *err, size_t errlen)
{
	struct memcheck *m = e->state;
	char *text = NULL, why[256];
	/* fds first: a wake connection opened for this very command is not the server's own */
	int fds = lc__count_fds_below(e->procs[i].pid, valgrind_fds_from(e->procs[i].pid));
	/* a summary snapshot lists what grew too: it restarts "increased" all the same */
	int rc = mc_command(e, i, LC_SNAPSHOT_FULL, &text, err, errlen);
	if (rc == 0 && lc__vgdb_parse(text, snap, why, sizeof why) < 0) {
		char errpath[700], last[200] = "";
		snprintf(errpath, sizeof errpath, "%s.err", m->out);
		if (!m->has_relay[i])
			lc__last_line(errpath, last, sizeof last);
		snprintf(err, errlen, "vgdb could not take a leak snapshot (%s)", last[0] ? last : why);
		rc = -1;
	}
	if (rc == 0 && full && m->has_relay[i])
		list_grown(e, i, snap); /* before the merge: the pending sites' numbers are stale */
	if (rc == 0 && full)
		pend_merge(m, i, snap);
	else if (rc == 0) {
		pend_add(m, i, snap);
		snap->nsites = 0;
	}
	if (mc_resume(e, i, why, sizeof why) < 0 && rc == 0) {
		snprintf(err, errlen, "%s", why);
		rc = -1;
	}
	free(text);
	if (rc == 0) {
		snap->fds = fds;
		int pid = e->procs[i].pid, tickers = lc__count_threads_named(pid, LC_WAKE_THREAD);
		snap->threads = lc__count_threads(pid) - (tickers > 0 ? tickers : 0); /* the server's */
		snap->objects = -1;
		snap->pages = -1;
	}
	return rc;
}

/* The first process's report: valgrind writes one per process (--xml-file with %p). */
static int mc_exit_report(struct lc_engine *e, struct lc_report *rep, char *err, size_t errlen)
{
	struct memcheck *m = e->state;
	char xml[700], why[400];
	const char *p = strstr(m->xml, "%p");
	snprintf(xml, sizeof xml, "%.*s%d%s", (int)(p - m->xml), m->xml, e->root, p + 2);
	if (lc__exit_report_parse_file(xml, &rep->exit, why, sizeof why) < 0) {
		snprintf(err, errlen, "no exit report: %s", why);
		return -1;
	}
	rep->have_exit = true;
	return 0;
}

static void mc_describe(const struct lc_engine *e, char *buf, size_t len)
{
	const struct memcheck *m = e->state;
	snprintf(buf, len, "%s", m && m->no_relay ? m->relay_note : "vgdb relay");
}

static void mc_unmeasured(const struct lc_engine *e, int pid, const char *exe, char *buf, size_t len)
{
	if (e->skipped)
		snprintf(buf, len, "connections are served by pid %d (%s), one of more than %d processes of the "
			 "server alive at once: only %d can be measured", pid, exe, LC_MAX_PROCS, LC_MAX_PROCS);
	else if (strstr(exe, "/valgrind/"))
		snprintf(buf, len, "connections are served by pid %d, which runs under valgrind but has no vgdb "
			 "FIFO to be measured through (a child that valgrind does not trace: --trace-children-skip?)",
			 pid);
	else
		snprintf(buf, len, "connections are served by pid %d (%s), which does not run under valgrind: "
			 "nothing that serves them can be measured (a launcher that starts the server without exec, "
			 "or --trace-children-skip): run the server program itself", pid, exe);
}

static void mc_lost(const struct lc_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "pid %d does not run under valgrind any more: it exec'd a program valgrind does not follow "
		 "(--trace-children-skip, a setuid program): run the server itself", e->root);
}

static void mc_close(struct lc_engine *e)
{
	for (size_t i = 0; e->state && i < LC_MAX_PROCS; i++)
		mc_gone(e, i);
	free(e->state);
}

const struct lc_engine_ops lc__memcheck_ops = {
	.name = "memcheck",
	.measure = LC_MEASURE_HEAP,
	.reacher = "vgdb",
	.flag = "",
	.cycles = 200,
	.warmup = 20,
	.slow = "a process exec'd per connection starts valgrind again, ~0.5 s each; or the server is slow to answer",
	.check = mc_check,
	.open = mc_open,
	.argv = mc_argv,
	.env = mc_env,
	.traced = mc_traced,
	.name_of = mc_name,
	.check_proc = mc_check_proc,
	.forks = mc_forks,
	.gone = mc_gone,
	.snapshot = mc_snapshot,
	.holders = mc_holders,
	.detach = mc_detach,
	.exit_report = mc_exit_report,
	.describe = mc_describe,
	.unmeasured = mc_unmeasured,
	.lost = mc_lost,
	.failure_hint = mc_failure_hint,
	.close = mc_close,
};

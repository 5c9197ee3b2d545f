/* The watchdog and the sweep of dead runs' work folders: see watchdog.h. */
#define _GNU_SOURCE
#include "drive/watchdog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drive/proc.h"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void lc__remove_tree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void lc__workdir_shm(const char *dir, char *out, size_t len)
{
	const char *base = strrchr(dir, '/');
	snprintf(out, len, "/dev/shm/%s-alloc", base ? base + 1 : dir);
}

/* A run's work folder and its tmpfs twin. */
static void remove_run(const char *dir, bool workdir)
{
	char shm[600];
	lc__workdir_shm(dir, shm, sizeof shm);
	lc__remove_tree(shm);
	if (workdir)
		lc__remove_tree(dir);
}

/* SIGKILL every process whose command line contains marker. */
static void kill_marked(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[64], buf[8192];
		int pid = atoi(e->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
		size_t n = lc__read_file(path, buf, sizeof buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = buf[i] ? buf[i] : ' ';
		if (n && strstr(buf, marker))
			kill(pid, SIGKILL);
	}
	if (d)
		closedir(d);
}

/* Remove the run's folder (with remove, every folder named dir*: dir is its name's prefix) and
 * its tmpfs twin. Whether nothing is left. */
static bool remove_all(const char *dir, bool remove)
{
	char pattern[600];
	glob_t g;
	bool gone = true;
	if (!remove) {
		remove_run(dir, false);
		return true;
	}
	snprintf(pattern, sizeof pattern, "%s*", dir);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) { /* the folder, if it was made */
		for (size_t i = 0; i < g.gl_pathc; i++) {
			remove_run(g.gl_pathv[i], true);
			gone = gone && access(g.gl_pathv[i], F_OK) != 0;
		}
		globfree(&g);
	}
	return gone;
}

/* The watchdog itself: in a process group of its own (a signal to the harness's group does not
 * reach it), deaf to the signals that end a harness, holding no fd but its pipe's read end. */
static void watch(int rd, pid_t group, const char *dir, bool remove)
{
	char c;
	ssize_t n;
	setpgid(0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (int fd = 0; fd < 1024; fd++)
		if (fd != rd)
			close(fd);
	for (;;) { /* 'g' and a pid: the server's group; 'x': the run ended as it should */
		while ((n = read(rd, &c, 1)) < 0 && errno == EINTR)
			;
		if (n == 1 && c == 'g' && read(rd, &group, sizeof group) == (ssize_t)sizeof group)
			continue;
		if (n == 1)
			_exit(0);
		break; /* end of file: the harness is gone */
	}
	if (group > 0)
		kill(-group, SIGKILL);
	kill_marked(dir);
	/* A process that was starting (a server's worker forked a moment ago) can still make its
	 * files (valgrind's XML and FIFOs) while the folder is removed, and the folder stays: kill
	 * and remove again until it is gone, for up to 2 s. */
	for (int tries = 0; tries < 20 && !remove_all(dir, remove); tries++) {
		lc__sleep_ms(100);
		kill_marked(dir);
	}
	_exit(0);
}

void lc__watchdog_group(struct lc_watchdog *w, pid_t group)
{
	char msg[1 + sizeof group];
	msg[0] = 'g';
	memcpy(msg + 1, &group, sizeof group);
	if (w->fd >= 0 && write(w->fd, msg, sizeof msg) != (ssize_t)sizeof msg)
		kill(group, 0); /* nothing to do: the watchdog still kills by the work dir's name */
}

int lc__watchdog_start(struct lc_watchdog *w, pid_t group, const char *dir, bool remove)
{
	int p[2];
	w->pid = w->fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0)
		watch(p[0], group, dir, remove);
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -1;
	}
	w->pid = pid;
	w->fd = p[1];
	return 0;
}

void lc__watchdog_stop(struct lc_watchdog *w)
{
	int status;
	if (w->fd >= 0) {
		if (write(w->fd, "x", 1) != 1)
			kill(w->pid, SIGKILL); /* it cannot be told: it must not act */
		close(w->fd);
	}
	if (w->pid > 0 && lc__wait(w->pid, 1, &status) < 0)
		lc__stop(w->pid, 0);
	w->pid = w->fd = -1;
}

/* This process's start time (clock ticks since boot, /proc/PID/stat field 22); 0 if unknown. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	lc__read_file(path, buf, sizeof buf);
	const char *p = strrchr(buf, ')');
	/* fields after the comm: state is 3, starttime 22 */
	for (int field = 2; p && *p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

void lc__workdir_claim(const char *dir)
{
	char path[700];
	snprintf(path, sizeof path, "%s/owner", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%d %llu\n", (int)getpid(), start_time(getpid()));
	fclose(f);
}

void lc__workdir_release(const char *dir)
{
	char path[700];
	snprintf(path, sizeof path, "%s/owner", dir);
	unlink(path);
}

/* Whether the run that claimed dir still runs: its pid alive with the same start time. */
static bool owner_alive(const char *dir)
{
	char path[700], buf[64];
	int pid = 0;
	unsigned long long t = 0;
	snprintf(path, sizeof path, "%s/owner", dir);
	if (lc__read_file(path, buf, sizeof buf) == 0 || sscanf(buf, "%d %llu", &pid, &t) != 2 || pid <= 0)
		return true; /* unclaimed: being made, or not ours to judge */
	return kill(pid, 0) == 0 && start_time(pid) == t;
}

unsigned lc__workdir_sweep(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *e;
	unsigned n = 0;
	while (d && (e = readdir(d))) {
		char dir[700];
		if (strncmp(e->d_name, "leakcheck-", 10) != 0)
			continue;
		snprintf(dir, sizeof dir, "%s/%s", tmp, e->d_name);
		if (owner_alive(dir))
			continue;
		kill_marked(dir); /* a server a dead run left (its watchdog killed too) */
		remove_run(dir, true);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

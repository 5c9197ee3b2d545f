/* Child processes with deadlines: see proc.h. */
#define _GNU_SOURCE
#include "drive/proc.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double lc__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lc__sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int open_out(const char *path)
{
	return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static volatile sig_atomic_t cancelled;

void lc_cancel(void)
{
	cancelled = 1;
}

bool lc__cancelled(void)
{
	return cancelled;
}

/* Every fd above 2 closes at exec: ours (the caller's inherited ones too) must not leak into
 * the server, where they would show in its fd count and keep pipes open. close_range with
 * CLOEXEC (Linux 5.11) keeps errpipe usable until the exec; older kernels get the loop. */
static void cloexec_above_stderr(void)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd < 65536; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* In the child: wire stdio, then exec. Only async-signal-safe calls. in < 0: /dev/null. */
static void child_exec(char *const argv[], char *const envp[], int in, int out, int err, int errpipe, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before prctl: nobody would kill us */
		_exit(127);
	setpgid(0, 0);
	if (in < 0)
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	cloexec_above_stderr();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	execvpe(argv[0], argv, envp ? envp : environ);
fail:;
	int e = errno;
	(void)!write(errpipe, &e, sizeof e);
	_exit(127);
}

/* Fork and exec with the given stdio (in: -1 for /dev/null). Returns the pid or -1. */
static pid_t spawn_fds(char *const argv[], char *const envp[], int in, int out, int errfd, char *err, size_t errlen)
{
	int pipefd[2] = { -1, -1 }, e;
	pid_t parent = getpid(), pid = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0)
		snprintf(err, errlen, "fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(argv, envp, in, out, errfd, pipefd[1], parent);
	close(pipefd[1]);
	if (pid > 0 && read(pipefd[0], &e, sizeof e) == (ssize_t)sizeof e) { /* EOF means exec worked */
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(pipefd[0]);
	return pid;
}

pid_t lc__spawn(char *const argv[], const char *out_path, const char *err_path, char *err, size_t errlen)
{
	return lc__spawn_env(argv, NULL, out_path, err_path, err, errlen);
}

/* Our environment with add's NAME=VALUE entries in place of those of the same names: built
 * before the fork (the child of a threaded parent must not allocate). malloc'd, its strings
 * borrowed; NULL when out of memory. */
static char **merge_env(char *const add[])
{
	size_t n = 0, k = 0, m = 0;
	while (environ[n])
		n++;
	while (add[k])
		k++;
	char **envp = calloc(n + k + 1, sizeof *envp);
	for (size_t i = 0; envp && i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < k && !replaced; j++) {
			size_t len = strcspn(add[j], "=");
			replaced = strncmp(environ[i], add[j], len + 1) == 0;
		}
		if (!replaced)
			envp[m++] = environ[i];
	}
	for (size_t j = 0; envp && j < k; j++)
		envp[m++] = add[j];
	return envp;
}

pid_t lc__spawn_env(char *const argv[], char *const add_env[], const char *out_path, const char *err_path, char *err,
		   size_t errlen)
{
	int out = open_out(out_path), errfd = open_out(err_path);
	char **envp = add_env ? merge_env(add_env) : NULL;
	pid_t pid = -1;
	if (add_env && !envp)
		snprintf(err, errlen, "out of memory");
	else if (out < 0 || errfd < 0)
		snprintf(err, errlen, "cannot set up output files: %s", strerror(errno));
	else
		pid = spawn_fds(argv, envp, -1, out, errfd, err, errlen);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	free(envp);
	return pid;
}

pid_t lc__spawn_piped(char *const argv[], int *to_child, int *from_child, const char *err_path, char *err,
		     size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errfd = open_out(err_path);
	pid_t pid = -1;
	if (errfd < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot set up pipes: %s", strerror(errno));
		goto out;
	}
	pid = spawn_fds(argv, NULL, in[0], out[1], errfd, err, errlen);
	if (pid > 0) {
		*to_child = in[1];
		*from_child = out[0];
		in[1] = out[0] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (errfd >= 0)
		close(errfd);
	return pid;
}

bool lc__alive(pid_t pid, int *status)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid && status)
		*status = st;
	return r == 0;
}

int lc__wait(pid_t pid, double timeout, int *status)
{
	double deadline = lc__now() + timeout;
	int delay = 1;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (status)
				*status = r == pid ? st : 0;
			return 0;
		}
		if (lc__now() >= deadline || lc__cancelled())
			return -1;
		lc__sleep_ms(delay);
		delay = delay < 5 ? delay * 2 : 5; /* a server under valgrind exits ~40 ms after SIGTERM:
		                                    * a longer step would find it up to 20 ms late */
	}
}

int lc__stop(pid_t pid, double grace)
{
	int status = 0;
	kill(pid, SIGTERM);
	if (lc__wait(pid, grace, &status) == 0)
		return status;
	kill(-pid, SIGKILL); /* the whole group: valgrind may have forked helpers */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

void lc__status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", (unsigned)status);
}

/* Scans the file's complete lines for the regex. Returns 1 on match, 0 if none yet. */
static int scan_file(const char *path, const regex_t *re, unsigned *port)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		regmatch_t m[2];
		char *nl = strchr(line, '\n');
		if (!nl)
			continue; /* a line still being written */
		*nl = '\0';
		if (regexec(re, line, 2, m, 0) != 0)
			continue;
		found = 1;
		if (port)
			*port = m[1].rm_so >= 0 ? (unsigned)strtoul(line + m[1].rm_so, NULL, 10) : 0;
	}
	fclose(f);
	return found;
}

int lc__wait_line(const char *path, const char *path2, const char *regex, pid_t pid, double timeout, unsigned *port,
		 char *err, size_t errlen)
{
	regex_t re;
	int rc = regcomp(&re, regex, REG_EXTENDED);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &re, msg, sizeof msg);
		snprintf(err, errlen, "bad --ready regex '%s': %s", regex, msg);
		return -1;
	}
	double deadline = lc__now() + timeout;
	int result = -1, status;
	for (;;) {
		if (scan_file(path, &re, port) || (path2 && scan_file(path2, &re, port))) {
			result = 0;
			break;
		}
		if (!lc__alive(pid, &status)) {
			char how[96];
			lc__status_str(status, how, sizeof how);
			snprintf(err, errlen, "server exited before it was ready (%s)", how);
			break;
		}
		if (lc__cancelled()) {
			snprintf(err, errlen, "interrupted");
			break;
		}
		if (lc__now() >= deadline) {
			snprintf(err, errlen, "server not ready within %gs (no line matching '%s' on stdout%s)",
				 timeout, regex, path2 ? " or stderr" : "");
			break;
		}
		lc__sleep_ms(3); /* re-reads a small file: every wait here is time added to a verdict */
	}
	regfree(&re);
	return result;
}

void lc__last_line(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

pid_t lc__serve(char *const argv[], const char *dir, double timeout, unsigned *port, char *err, size_t errlen)
{
	char out[512], errpath[512];
	snprintf(out, sizeof out, "%s/server.out", dir);
	snprintf(errpath, sizeof errpath, "%s/server.err", dir);
	pid_t pid = lc__spawn(argv, out, errpath, err, errlen);
	if (pid < 0)
		return -1;
	if (lc__wait_line(out, NULL, LC_READY_REGEX, pid, timeout, port, err, errlen) < 0) {
		lc__stop(pid, 1);
		return -1;
	}
	return pid;
}

int lc__count_entries(const char *dir)
{
	return lc__count_entries_below(dir, 0);
}

int lc__count_entries_below(const char *dir, long below)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && (below <= 0 || strtol(e->d_name, NULL, 10) < below);
	closedir(d);
	return n;
}

int lc__count_threads(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	return lc__count_entries(path);
}

int lc__count_threads_named(int pid, const char *comm)
{
	char path[300], name[32];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/comm", pid, e->d_name);
		size_t len = lc__read_file(path, name, sizeof name);
		if (len > 0 && name[len - 1] == '\n')
			name[len - 1] = '\0';
		n += strcmp(name, comm) == 0;
	}
	closedir(d);
	return n;
}

size_t lc__read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return n;
}

bool lc__gone(pid_t pid)
{
	char state = 0;
	return lc__proc_stat(pid, NULL, 0, &state) < 0 || state == 'Z' || state == 'X';
}

pid_t lc__halted(const int *pids, size_t n, char *state)
{
	for (size_t i = 0; i < n; i++)
		if (lc__proc_stat(pids[i], NULL, 0, state) >= 0 && (*state == 't' || *state == 'T'))
			return pids[i];
	return 0;
}

int lc__proc_stat(int pid, char *comm, size_t len, char *state)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	lc__read_file(path, buf, sizeof buf);
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	int ppid;
	char st;
	if (!open || !close || sscanf(close + 1, " %c %d", &st, &ppid) != 2)
		return -1;
	if (comm)
		snprintf(comm, len, "%.*s", (int)(close - open - 1), open + 1);
	if (state)
		*state = st;
	return ppid;
}

/* Every process in /proc with its parent: pid[i], ppid[i]. Returns the count. */
static size_t proc_table(int *pid, int *ppid, size_t cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;
	while (d && n < cap && (e = readdir(d))) {
		int p = atoi(e->d_name);
		if (p > 0 && (ppid[n] = lc__proc_stat(p, NULL, 0, NULL)) >= 0)
			pid[n++] = p;
	}
	if (d)
		closedir(d);
	return n;
}

#define TABLE_MAX 32768 /* processes read from /proc at most */

/* Every process with its parent, on the heap (256 kB); NULL when out of memory. */
struct table {
	size_t n;
	int pid[TABLE_MAX], ppid[TABLE_MAX];
};

static struct table *table_read(void)
{
	struct table *t = malloc(sizeof *t);
	if (t)
		t->n = proc_table(t->pid, t->ppid, TABLE_MAX);
	return t;
}

size_t lc__children(pid_t *out, size_t cap, bool valgrind_only)
{
	struct table *t = table_read();
	size_t n = 0;
	char path[64], exe[300], state;
	for (size_t i = 0; t && i < t->n && n < cap; i++) {
		if (t->ppid[i] != getpid() || lc__proc_stat(t->pid[i], NULL, 0, &state) < 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/exe", t->pid[i]);
		ssize_t l = readlink(path, exe, sizeof exe - 1);
		exe[l > 0 ? l : 0] = '\0';
		if (!valgrind_only || (state != 'Z' && strstr(exe, "/valgrind/"))) /* a valgrind tool: a server */
			out[n++] = t->pid[i];
	}
	free(t);
	return n;
}

size_t lc__descendants(int root, int *out, size_t cap)
{
	struct table *t = table_read();
	size_t n = 0;
	out[n++] = root;
	for (size_t i = 0; t && i < n; i++)
		for (size_t j = 0; j < t->n && n < cap; j++)
			if (t->ppid[j] == out[i])
				out[n++] = t->pid[j];
	free(t);
	return n;
}

size_t lc__adopted(pid_t *out, size_t cap)
{
	return lc__children(out, cap, true);
}

void lc__reap_new_children(const pid_t *before, size_t nbefore)
{
	pid_t pids[256];
	size_t n = lc__children(pids, 256, false);
	for (size_t i = 0; i < n; i++) {
		bool old = false;
		for (size_t j = 0; j < nbefore && !old; j++)
			old = before[j] == pids[i];
		if (old)
			continue;
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
}

/* Child processes for the harness and the tests: every wait has a deadline, every child is reaped. */
#ifndef LC_PROC_H
#define LC_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lc/leakcheck.h" /* lc_cancel() */

/* Whether lc_cancel() was called: every wait of the run gives up then. */
bool lc__cancelled(void);
/* Monotonic clock in seconds. */
double lc__now(void);
/* Sleep ms milliseconds (EINTR-safe). */
void lc__sleep_ms(int ms);

/* Fork and exec argv[0] (PATH search) with stdout and stderr appended to the given files
 * (NULL: /dev/null), stdin from /dev/null, its own process group, and PR_SET_PDEATHSIG
 * SIGKILL so it dies with us. Returns the pid, or -1 with a reason in err. */
pid_t lc__spawn(char *const argv[], const char *out_path, const char *err_path, char *err, size_t errlen);
/* The same with add_env's NAME=VALUE entries (NULL-ended) added to our environment, replacing
 * those of the same names (add_env NULL: our environment as it is). */
pid_t lc__spawn_env(char *const argv[], char *const add_env[], const char *out_path, const char *err_path, char *err,
		   size_t errlen);

/* The same with the child's stdin and stdout on pipes: *to_child is our write end, *from_child
 * our read end (both CLOEXEC); stderr appended to err_path. */
pid_t lc__spawn_piped(char *const argv[], int *to_child, int *from_child, const char *err_path, char *err,
		     size_t errlen);

/* Wait up to timeout seconds for pid to exit. Returns 0 with *status set (waitpid format),
 * or -1 if it is still running at the deadline. pid must be a child not reaped yet: for one
 * already reaped (ECHILD) it returns 0 with status 0, which reads as "exit status 0". */
int lc__wait(pid_t pid, double timeout, int *status);
/* True while pid has not exited; reaps it (and stores *status) if it has. */
bool lc__alive(pid_t pid, int *status);
/* Processes under valgrind that are our children without our having started them: a server
 * that daemonized (forked, then its first process exited) leaves them to us once we are a
 * child subreaper (PR_SET_CHILD_SUBREAPER). Fills out[0..cap), returns how many. */
size_t lc__adopted(pid_t *out, size_t cap);
/* Entries of a folder but "." and "..", -1 if unreadable. */
int lc__count_entries(const char *dir);
/* The same, of the entries numbered under below (0: all): /proc/PID/fd's fds under a limit. */
int lc__count_entries_below(const char *dir, long below);
/* Threads of a process (/proc/PID/task), -1 if unreadable. */
int lc__count_threads(int pid);
/* Threads of a process named comm (/proc/PID/task/TID/comm), -1 if unreadable. */
int lc__count_threads_named(int pid, const char *comm);
/* Up to cap - 1 bytes of a (small) file into buf, NUL-ended; 0 if unreadable. */
size_t lc__read_file(const char *path, char *buf, size_t cap);
/* ppid of pid from /proc/PID/stat, its comm and state (R, S, Z, ...; either may be NULL); -1
 * if it is gone. */
/* True when pid no longer runs: no such process, or a zombie not yet reaped (kill(pid, 0)
 * still succeeds on a zombie, so a wait on something that talks to it cannot use that). */
bool lc__gone(pid_t pid);
/* The first of pids that is halted (state 't' or 'T': stopped by a debugger, valgrind's
 * gdbserver or SIGSTOP), its state in *state; 0 if none is. */
pid_t lc__halted(const int *pids, size_t n, char *state);
int lc__proc_stat(int pid, char *comm, size_t len, char *state);
/* The descendants of root, root first, breadth first (root is listed even once it exited).
 * Returns the count. */
size_t lc__descendants(int root, int *out, size_t cap);
/* Our children (all, or those under valgrind only), zombies included unless valgrind_only. */
size_t lc__children(pid_t *out, size_t cap, bool valgrind_only);
/* SIGKILL and reap every child of ours not in before[0..n): what a run left or adopted. */
void lc__reap_new_children(const pid_t *before, size_t n);
/* SIGTERM, wait grace seconds, then SIGKILL; always reaps. Returns the waitpid status. */
int lc__stop(pid_t pid, double grace);
/* Describes a waitpid status: "exit status 0", "killed by signal 11 (Segmentation fault)". */
void lc__status_str(int status, char *buf, size_t len);

/* Wait until a line of the file path, or of path2 (NULL: none), matches the POSIX extended
 * regex (with one capture group for the port when port is not NULL) or the deadline passes,
 * or pid exits. Returns 0 on match, -1 with a reason in err. */
int lc__wait_line(const char *path, const char *path2, const char *regex, pid_t pid, double timeout, unsigned *port,
		 char *err, size_t errlen);

/* The readiness line every server of this project prints. */
#define LC_READY_REGEX "^listening on 127\\.0\\.0\\.1:([0-9]+)"

/* Start a server that prints LC_READY_REGEX, with stdout and stderr in dir/server.out and
 * dir/server.err, and wait up to timeout seconds for it. Returns its pid with its port in
 * *port; on failure -1 with a reason in err, and nothing left running. */
pid_t lc__serve(char *const argv[], const char *dir, double timeout, unsigned *port, char *err, size_t errlen);

/* Last non-empty line of a file (for error messages), "" if none. */
void lc__last_line(const char *path, char *buf, size_t len);

#endif

/* The server dies with the harness, however the harness dies. The server's first process has
 * PR_SET_PDEATHSIG (lc__spawn), but the processes it forks do not inherit it, and a SIGKILLed
 * harness runs no cleanup: its workers, a child per connection, valgrind's traced children
 * would live on, and its work folder with them. So a watchdog process, forked at the server's
 * start, waits on a pipe whose only write end the harness holds: end of file without a word
 * means the harness is gone, and the watchdog kills the server's process group and every
 * process whose command line names the run's work folder (valgrind's --xml-file does; a
 * server that left the group by setsid is found so), then removes the work folder.
 *
 * Also: a run's work folder records its owner (pid and start time), and a later run removes
 * the work folders of owners that are gone (a watchdog that was SIGKILLed too). */
#ifndef LC_WATCHDOG_H
#define LC_WATCHDOG_H

#include <stdbool.h>
#include <sys/types.h>

struct lc_watchdog {
	pid_t pid;                  /* the watchdog process (owned: reaped by lc__watchdog_stop), -1 */
	int fd;                     /* the pipe's write end (owned), -1 */
};

/* Start a watchdog for the work folder dir (its path also the marker of the run's processes),
 * before the server starts: a harness killed then must not leave anything either. With
 * remove, dir is the prefix of the folder's name (TMPDIR/leakcheck-PID-): the watchdog starts
 * before the folder is made, and removes every folder of that name; without, dir is the
 * user's folder (--keep), left in place. group: the server's process group, or 0 until
 * lc__watchdog_group tells it. Returns 0, or -1 (none). */
int lc__watchdog_start(struct lc_watchdog *w, pid_t group, const char *dir, bool remove);
void lc__watchdog_group(struct lc_watchdog *w, pid_t group);
/* The run ended as it should: the watchdog exits without touching anything. Harmless twice. */
void lc__watchdog_stop(struct lc_watchdog *w);

/* dir and everything in it (a server given {dir} may make folders of its own there). */
void lc__remove_tree(const char *dir);
/* The tmpfs folder that belongs to work folder dir: /dev/shm/<its name>-alloc (the native
 * engine's allocator counts); removed with it by the watchdog and the sweep. */
void lc__workdir_shm(const char *dir, char *out, size_t len);
/* Write dir/owner (this process's pid and start time). */
void lc__workdir_claim(const char *dir);
/* Remove dir/owner: a folder the user keeps is nobody's to sweep. */
void lc__workdir_release(const char *dir);
/* Remove the folders tmp/leakcheck-* whose owner no longer runs. Returns how many. */
unsigned lc__workdir_sweep(const char *tmp);

#endif

/* The client of the Python agent (harness/pyagent/leakcheck_agent.py), which a Python server
 * runs in a thread of its own when the harness arms it (LEAKCHECK_PYAGENT names the run's work
 * folder): one Unix socket per process, DIR/py.PID.sock, one command per connection, answered
 * with data lines and a last line "ok key=value..." or "err reason", then closed by the agent.
 * The harness reads until that close, so no connection of its own is open in the server once a
 * command returns (the fd counts stay exact). */
#ifndef LC_PYAGENT_H
#define LC_PYAGENT_H

#include <stdbool.h>
#include <stddef.h>

/* The agent's socket of process pid in dir: its path into path; false: none (not a Python
 * process, or the agent is off), or the path does not fit a Unix socket's. */
bool lc__pyagent_socket(const char *dir, int pid, char *path, size_t len);
/* Send cmd (one line, no newline) and read the whole answer within timeout seconds. Returns 0
 * with the answer in *text (malloc'd; its last line "ok ..."), or -1 with a one-line reason
 * (the agent answered "err ...", did not answer, or is gone). */
int lc__pyagent_ask(const char *dir, int pid, const char *cmd, double timeout, char **text, char *err, size_t errlen);
/* Connect to the agent's socket path and send cmd, without waiting for the answer (the process
 * may be halted). Returns the fd, its answer unread, or -1 at once (its backlog is full). */
int lc__pyagent_send(const char *path, const char *cmd);
/* The number of key=NUMBER on text's last line, or def. */
double lc__pyagent_field(const char *text, const char *key, double def);

#endif

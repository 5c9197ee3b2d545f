/* The Python agent's client: see pyagent.h. */
#include "drive/pyagent.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "drive/proc.h"

#define MAX_ANSWER (4 << 20)    /* an answer larger than this is not the agent's */

bool lc__pyagent_socket(const char *dir, int pid, char *path, size_t len)
{
	struct stat st;
	size_t cap = sizeof ((struct sockaddr_un *)0)->sun_path;
	int n = snprintf(path, len, "%s/py.%d.sock", dir, pid);
	return n > 0 && (size_t)n < len && (size_t)n < cap && stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Non-blocking: a Unix connect blocks while the listener's backlog is full, and a process
 * halted by vgdb accepts nothing (the wakes of one halt can outnumber the agent's backlog of
 * 8); then it fails at once (EAGAIN). Reads are polled with a deadline (read_all). */
static int connect_to(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		snprintf(err, errlen, "cannot connect to the Python agent (%s): %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read until the agent closes, within the deadline, into a growing buffer. */
static int read_all(int fd, double deadline, char **text, char *err, size_t errlen)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	int rc = -1;
	while (buf) {
		int left = (int)((deadline - lc__now()) * 1000);
		struct pollfd p = { fd, POLLIN, 0 };
		if (left <= 0 || lc__cancelled() || poll(&p, 1, left) <= 0) {
			snprintf(err, errlen, "the Python agent did not answer in time");
			break;
		}
		if (n + 1 == cap) {
			char *g = cap < MAX_ANSWER ? realloc(buf, cap * 2) : NULL;
			if (!g) {
				snprintf(err, errlen, "the Python agent's answer is too large");
				break;
			}
			buf = g;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "reading the Python agent: %s", strerror(errno));
			break;
		}
		if (got == 0) {
			rc = 0;
			break;
		}
		n += (size_t)got;
	}
	if (rc == 0) {
		buf[n] = '\0';
		*text = buf;
		return 0;
	}
	free(buf);
	return -1;
}

/* The answer's last line. */
static const char *last_line(const char *text)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		n--;
	while (n > 0 && text[n - 1] != '\n')
		n--;
	return text + n;
}

int lc__pyagent_send(const char *path, const char *cmd)
{
	char err[300], line[256];
	int fd = connect_to(path, err, sizeof err);
	int n = snprintf(line, sizeof line, "%s\n", cmd);
	if (fd >= 0 && (n <= 0 || (size_t)n >= sizeof line || send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int lc__pyagent_ask(const char *dir, int pid, const char *cmd, double timeout, char **text, char *err, size_t errlen)
{
	char path[200], line[256];
	double deadline = lc__now() + timeout;
	*text = NULL;
	if (!lc__pyagent_socket(dir, pid, path, sizeof path)) {
		snprintf(err, errlen, "no Python agent in pid %d", pid);
		return -1;
	}
	int fd = connect_to(path, err, errlen);
	if (fd < 0)
		return -1;
	int n = snprintf(line, sizeof line, "%s\n", cmd);
	int rc = -1;
	if (n <= 0 || (size_t)n >= sizeof line || send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		snprintf(err, errlen, "cannot send %s to the Python agent", cmd);
	else
		rc = read_all(fd, deadline, text, err, errlen);
	close(fd);
	if (rc < 0)
		return -1;
	const char *last = last_line(*text);
	if (strncmp(last, "ok", 2) != 0) {
		snprintf(err, errlen, "the Python agent: %.*s", (int)strcspn(last, "\n"), last[0] ? last : "no answer");
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

double lc__pyagent_field(const char *text, const char *key, double def)
{
	size_t k = strlen(key);
	const char *line = last_line(text);
	for (const char *p = line; (p = strstr(p, key)) != NULL; p += k)
		if ((p == line || p[-1] == ' ') && p[k] == '=')
			return strtod(p + k + 1, NULL);
	return def;
}

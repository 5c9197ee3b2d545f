/* echo_leaky.c: echo.c with a connection leak that no exit-time check sees: every closed
 * connection is kept in a history list "for statistics" that nothing ever trims. It is freed at
 * shutdown, so valgrind's exit report is clean (0 bytes lost); memory grows by two blocks per
 * connection while the server runs, which is what leakcheck measures (the positive control of
 * the example: `diff echo.c echo_leaky.c` shows the whole bug).
 *
 * Usage: echo [PORT] | echo --port PORT   (0 or none: an ephemeral port)
 * Listens on 127.0.0.1 only and prints `listening on 127.0.0.1:PORT` when ready. Each line is
 * echoed; `QUIT` closes the connection. SIGTERM or SIGINT closes every connection and exits 0,
 * so valgrind's exit report sees everything freed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_MAX 64		/* connections served at once; more wait in the backlog */
#define CONN_BUF_SIZE 1024	/* longest line; a longer one closes the connection */

struct conn {
	int fd;
	size_t len;		/* bytes of a line not yet echoed */
	char *buf;		/* owned: CONN_BUF_SIZE bytes */
	struct conn *next;	/* owned: the next connection of the list it is in */
};

static struct conn *open_conns;	/* owned: connections being served */
static struct conn *closed_conns;	/* owned: every connection ever closed (the leak) */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->buf = malloc(CONN_BUF_SIZE);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	return c;
}

static void conn_free(struct conn *c)
{
	free(c->buf);
	free(c);
}

/* The one way out of a connection (EOF, QUIT, reset, error, shutdown). */
static void conn_close(struct conn *c)
{
	close(c->fd);
	c->next = closed_conns;	/* the bug: kept for statistics nobody reads, never trimmed */
	closed_conns = c;
}

/* Reads what arrived and echoes every complete line. Returns -1 when the connection is over. */
static int conn_serve(struct conn *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, CONN_BUF_SIZE - c->len, 0);
	if (n <= 0)
		return -1;	/* EOF or reset */
	c->len += (size_t)n;
	char *line = c->buf, *nl;
	while ((nl = memchr(line, '\n', c->len - (size_t)(line - c->buf)))) {
		size_t llen = (size_t)(nl - line) + 1;
		if (strncmp(line, "QUIT", 4) == 0 && (llen == 5 || (llen == 6 && line[4] == '\r')))
			return -1;
		if (send(c->fd, line, llen, MSG_NOSIGNAL) != (ssize_t)llen)
			return -1;
		line = nl + 1;
	}
	c->len -= (size_t)(line - c->buf);
	memmove(c->buf, line, c->len);
	return c->len == CONN_BUF_SIZE ? -1 : 0;	/* a full buffer with no newline: too long */
}

static int server_listen(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	socklen_t alen = sizeof a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		perror("echo: listen");
		return -1;
	}
	printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
	fflush(stdout);	/* a pipe is block-buffered: the harness waits for this line */
	return fd;
}

static int parse_port(int argc, char **argv, unsigned *port)
{
	const char *s = argc == 2 ? argv[1] : argc == 3 && strcmp(argv[1], "--port") == 0 ? argv[2] : NULL;
	char *end;
	if (argc == 1)
		return 0;
	if (!s)
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned port = 0;
	if (parse_port(argc, argv, &port) < 0) {
		fprintf(stderr, "usage: %s [PORT] | --port PORT\n", argv[0]);
		return 2;
	}
	/* No SA_RESTART: poll() returns EINTR and the loop sees `stopping`. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int lfd = server_listen(port);
	if (lfd < 0)
		return 1;

	while (!stopping) {
		struct pollfd pfd[CONN_MAX + 1] = { { .fd = lfd, .events = POLLIN } };
		struct conn *polled[CONN_MAX];	/* borrowed from open_conns for this pass */
		nfds_t n = 1;
		for (struct conn *c = open_conns; c && n <= CONN_MAX; c = c->next) {
			polled[n - 1] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		}
		if (n > CONN_MAX)
			pfd[0].events = 0;	/* full: new clients wait in the backlog */
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("echo: poll");
			break;
		}
		for (nfds_t i = 1; i < n; i++) {
			if (!pfd[i].revents || conn_serve(polled[i - 1]) == 0)
				continue;
			struct conn **pp = &open_conns;
			while (*pp != polled[i - 1])
				pp = &(*pp)->next;
			*pp = polled[i - 1]->next;
			conn_close(polled[i - 1]);
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			struct conn *c = fd >= 0 ? conn_new(fd) : NULL;
			if (c) {
				c->next = open_conns;
				open_conns = c;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	while (open_conns) {
		struct conn *c = open_conns;
		open_conns = c->next;
		conn_close(c);
	}
	while (closed_conns) {	/* freed at shutdown: the exit report sees nothing lost */
		struct conn *c = closed_conns;
		closed_conns = c->next;
		conn_free(c);
	}
	close(lfd);
	return 0;
}

/* The TCP line server loop: see include/rt/server.h.
 *
 * poll() rather than epoll: the loop rebuilds one pollfd array from the connection list each
 * turn, which keeps connection state in one place (the list) and is cheap for the hundreds of
 * connections a leak test opens; level-triggered readiness also gives the harness its
 * quiescence guarantee (an echo on a new connection means every earlier FIN/RST was handled).
 * ppoll() with SIGTERM/SIGINT blocked outside it closes the check-then-sleep race on shutdown. */
#define _GNU_SOURCE
#include "rt/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt/list.h"
#include "rt/obj.h"

struct server_conn {
	struct list node;          /* in server.conns */
	int fd;
	void *user;                /* borrowed: the case's object, released in ops->on_close */
	char in[SERVER_LINE_MAX];
	size_t in_len;
	bool discarding;           /* inside an over-long line: drop bytes until newline */
	bool closing;              /* close once output is flushed */
	char *out;                 /* owned: unsent reply bytes */
	size_t out_len, out_cap;
};

struct server {
	int listen_fd;
	bool accept_paused;        /* out of fds: stop accepting until a connection closes */
	struct list conns;         /* head: struct server_conn, owned */
	size_t nconns;
	struct pollfd *pfds;       /* owned: rebuilt every turn */
	struct server_conn **pconns; /* owned array of borrowed pointers, parallel to pfds */
	size_t pcap;
	const struct server_ops *ops; /* borrowed */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void server_send(struct server_conn *sc, const void *data, size_t len)
{
	if (sc->closing)
		return;
	if (sc->out_len + len > SERVER_OUT_MAX) {
		sc->closing = true; /* the client does not read: drop it instead of growing */
		sc->out_len = 0;
		return;
	}
	if (sc->out_len + len > sc->out_cap) {
		size_t cap = sc->out_cap ? sc->out_cap : 256;
		while (cap < sc->out_len + len)
			cap *= 2;
		char *p = realloc(sc->out, cap);
		if (!p) {
			sc->closing = true;
			return;
		}
		sc->out = p;
		sc->out_cap = cap;
	}
	memcpy(sc->out + sc->out_len, data, len);
	sc->out_len += len;
}

void server_close_later(struct server_conn *sc)
{
	sc->closing = true;
}

/* The one close path (order documented in server.h). */
static void conn_close(struct server *srv, struct server_conn *sc)
{
	list_unlink(&sc->node);
	srv->nconns--;
	if (srv->ops->on_close)
		srv->ops->on_close(sc, sc->user);
	sc->user = NULL;
	close(sc->fd);
	free(sc->out);
	free(sc);
	srv->accept_paused = false;
}

static void send_stats(struct server *srv, struct server_conn *sc)
{
	char types[512], line[640];
	obj_stats_format(types, sizeof types);
	int n = snprintf(line, sizeof line, "STATS open=%zu objects=%ld%s%s\n", srv->nconns,
			 obj_live_total(), types[0] ? " " : "", types);
	server_send(sc, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void handle_line(struct server *srv, struct server_conn *sc, char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
		sc->closing = true;
	} else if (len == 5 && memcmp(line, "STATS", 5) == 0) {
		send_stats(srv, sc);
	} else if (srv->ops->on_line) {
		srv->ops->on_line(sc, sc->user, line, len);
	} else {
		server_send(sc, line, len);
		server_send(sc, "\n", 1);
	}
}

/* Splits sc->in into lines; keeps a partial line; turns an over-long one into an error. */
static void scan_lines(struct server *srv, struct server_conn *sc)
{
	size_t start = 0;
	for (size_t i = 0; i < sc->in_len && !sc->closing; i++) {
		if (sc->in[i] != '\n')
			continue;
		if (!sc->discarding)
			handle_line(srv, sc, sc->in + start, i - start);
		sc->discarding = false;
		start = i + 1;
	}
	memmove(sc->in, sc->in + start, sc->in_len - start);
	sc->in_len -= start;
	if (sc->in_len == sizeof sc->in) {
		if (!sc->discarding)
			server_send(sc, "ERR line too long\n", 18);
		sc->discarding = true;
		sc->in_len = 0;
	}
}

/* Returns false when the connection must close now (EOF, error). */
static bool conn_read(struct server *srv, struct server_conn *sc)
{
	ssize_t n = read(sc->fd, sc->in + sc->in_len, sizeof sc->in - sc->in_len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	sc->in_len += (size_t)n;
	scan_lines(srv, sc);
	return true;
}

static bool conn_flush(struct server_conn *sc)
{
	while (sc->out_len > 0) {
		ssize_t n = send(sc->fd, sc->out, sc->out_len, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		memmove(sc->out, sc->out + n, sc->out_len - (size_t)n);
		sc->out_len -= (size_t)n;
	}
	return true;
}

static void conn_event(struct server *srv, struct server_conn *sc, short revents)
{
	bool ok = true;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		ok = conn_read(srv, sc);
	if (ok)
		ok = conn_flush(sc);
	if (!ok)
		conn_flush(sc); /* EOF after a request: best effort to deliver its reply */
	if (!ok || (sc->closing && sc->out_len == 0))
		conn_close(srv, sc);
}

static void accept_all(struct server *srv)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof peer;
		int fd = accept4(srv->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				srv->accept_paused = true;
			return; /* EAGAIN, ECONNABORTED...: nothing more to accept now */
		}
		struct server_conn *sc = calloc(1, sizeof *sc);
		if (!sc) {
			close(fd);
			continue;
		}
		sc->fd = fd;
		list_push(&srv->conns, &sc->node);
		srv->nconns++;
		if (srv->ops->on_open) {
			char addr[INET_ADDRSTRLEN], name[INET_ADDRSTRLEN + 8];
			inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
			snprintf(name, sizeof name, "%s:%u", addr, ntohs(peer.sin_port));
			sc->user = srv->ops->on_open(sc, name);
		}
		if (sc->closing && sc->out_len == 0) /* refused in on_open: no event would close it */
			conn_close(srv, sc);
	}
}

static bool pfds_reserve(struct server *srv, size_t n)
{
	if (n <= srv->pcap)
		return true;
	size_t cap = srv->pcap ? srv->pcap * 2 : 64;
	while (cap < n)
		cap *= 2;
	struct pollfd *p = realloc(srv->pfds, cap * sizeof *p);
	if (!p)
		return false;
	srv->pfds = p;
	struct server_conn **c = realloc(srv->pconns, cap * sizeof *c);
	if (!c)
		return false;
	srv->pconns = c;
	srv->pcap = cap;
	return true;
}

/* One turn of the loop. Returns false on a fatal poll error. */
static bool loop_turn(struct server *srv, const sigset_t *waitmask)
{
	if (!pfds_reserve(srv, srv->nconns + 1))
		return false;
	size_t n = 0;
	srv->pfds[n++] = (struct pollfd){ .fd = srv->accept_paused ? -1 : srv->listen_fd, .events = POLLIN };
	struct list *pos;
	for (pos = srv->conns.next; pos != &srv->conns; pos = pos->next) {
		struct server_conn *sc = list_entry(pos, struct server_conn, node);
		srv->pconns[n] = sc;
		srv->pfds[n++] = (struct pollfd){ .fd = sc->fd, .events = POLLIN | (sc->out_len ? POLLOUT : 0) };
	}
	if (ppoll(srv->pfds, n, NULL, waitmask) < 0)
		return errno == EINTR;
	for (size_t i = 1; i < n; i++)
		if (srv->pfds[i].revents)
			conn_event(srv, srv->pconns[i], srv->pfds[i].revents);
	if (srv->pfds[0].revents)
		accept_all(srv);
	return true;
}

static int listen_on(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		close(fd);
		return -1;
	}
	printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static int parse_port(int argc, char **argv, unsigned *port)
{
	const char *arg = NULL;
	if (argc == 2 && argv[1][0] != '-')
		arg = argv[1];
	else if (argc == 3 && strcmp(argv[1], "--port") == 0)
		arg = argv[2];
	else if (argc != 1)
		return -1;
	*port = 0;
	if (!arg)
		return 0;
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v > 65535 || arg[0] == '-')
		return -1;
	*port = (unsigned)v;
	return 0;
}

/* Shutdown: every live connection through the one close path, then the case's globals. */
static void server_shutdown(struct server *srv)
{
	struct list *pos, *tmp;
	list_each_safe(pos, tmp, &srv->conns)
		conn_close(srv, list_entry(pos, struct server_conn, node));
	if (srv->ops->on_shutdown)
		srv->ops->on_shutdown();
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	free(srv->pfds);
	free(srv->pconns);
}

int server_main(int argc, char **argv, const struct server_ops *ops)
{
	unsigned port;
	if (parse_port(argc, argv, &port) < 0) {
		fprintf(stderr, "usage: %s [PORT | --port PORT]   (0 or none: ephemeral)\n", argv[0]);
		return 2;
	}
	struct server srv = { .listen_fd = -1, .ops = ops };
	list_init(&srv.conns);

	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int status = 0;
	srv.listen_fd = listen_on(port);
	if (srv.listen_fd < 0) {
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u: %s\n", argv[0], port, strerror(errno));
		status = 2;
		goto out;
	}
	while (!stop_requested) {
		if (!loop_turn(&srv, &waitmask)) {
			fprintf(stderr, "%s: poll: %s\n", argv[0], strerror(errno));
			status = 2;
			break;
		}
	}
out:
	server_shutdown(&srv);
	return status;
}

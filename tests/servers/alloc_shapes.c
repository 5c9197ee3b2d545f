/* alloc_shapes: a TCP line server whose memory fools a checker that counts pages.
 *
 *   alloc_shapes [PORT] [--leak] [--record N] [--errors-first] [--line N]
 *
 * At start it mallocs a 1 MiB ring buffer (an mmap'd block of its own: glibc maps any block over
 * 128 KiB) and touches none of it. Each connection appends one record of --record N bytes (128)
 * to the ring, wrapping at its end: the ring is filled one write at a time, so its pages are
 * touched for the first time over the first 8,192 connections, though nothing new is allocated
 * after start. A replication backlog, a preallocated table, an arena are this shape. Clean:
 * +0 blocks, +0 B per connection; anonymous pages grow by the record's size per connection until
 * the ring wraps (first use, not growth).
 * --leak: plus a kept session per connection on a list (struct session 64 B + a 256 B copy of its
 * first line = 2 blocks, 320 B), as a registry that is never emptied: +2 blocks, +320 B.
 * --line N: the kept copy of the first line is N bytes (256; 0: no copy, the session alone:
 * +1 block, +64 B, small enough to stay inside the top of the heap malloc maps ahead).
 * --errors-first: a connection whose socket has an error (a reset) is closed without reading what
 * it sent, as an event loop that handles an error event before a read event does: a reset that
 * arrives before the server read the request loses the request, and its session.
 * Built twice: dynamically (the allocator preload counts it) and with -static (alloc_shapes_static:
 * the preload cannot be in it, the checker falls back to pages).
 * Protocol as tests/servers/shapes.c: echo each line, QUIT closes, "listening on 127.0.0.1:PORT" when
 * ready, SIGTERM frees everything and exits 0; SIGALRM after 120 s so it cannot outlive a test. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define RING_SIZE (1u << 20)

struct session {
	struct session *next;
	char *line;                 /* owned: 256 B, the connection's first line */
	char pad[48];
};

static volatile sig_atomic_t stop;
static char *ring;              /* owned: RING_SIZE bytes */
static size_t ring_at, record = 128, line_bytes = 256;
static struct session *kept;    /* owned: --leak's sessions */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The connection's record: the line, repeated to fill record bytes, at the ring's write head. */
static void ring_append(const char *line, size_t len)
{
	for (size_t i = 0; i < record; i++)
		ring[(ring_at + i) % RING_SIZE] = len ? line[i % len] : '.';
	ring_at = (ring_at + record) % RING_SIZE;
}

static void session_keep(const char *line, size_t len)
{
	struct session *s = malloc(sizeof *s);
	if (!s)
		return;
	s->line = line_bytes ? calloc(1, line_bytes) : NULL;
	if (s->line)
		memcpy(s->line, line, len < line_bytes - 1 ? len : line_bytes - 1);
	s->next = kept;
	kept = s;
}

static int errors_first;

/* One connection, to its end: echo lines until EOF, QUIT or a reset. */
static void serve(int fd, int leak)
{
	char buf[1024];
	size_t have = 0;
	int first = 1;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (errors_first && poll(&p, 1, -1) == 1 && (p.revents & (POLLERR | POLLHUP)))
			break;
		ssize_t n = recv(fd, buf + have, sizeof buf - have - 1, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			size_t len = (size_t)(nl - buf) + 1;
			if (first) {
				ring_append(buf, len);
				if (leak)
					session_keep(buf, len);
				first = 0;
			}
			if (len >= 5 && strncmp(buf, "QUIT", 4) == 0) {
				close(fd);
				return;
			}
			if (send(fd, buf, len, MSG_NOSIGNAL) < 0)
				goto out;
			memmove(buf, buf + len, have - len);
			have -= len;
		}
		if (have == sizeof buf - 1)
			break;
	}
out:
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned port = 0;
	int leak = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--leak") == 0)
			leak = 1;
		else if (strcmp(argv[i], "--errors-first") == 0)
			errors_first = 1;
		else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
			record = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--line") == 0 && i + 1 < argc)
			line_bytes = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			port = (unsigned)strtoul(argv[i], NULL, 10);
	}
	if (record == 0 || record > RING_SIZE) {
		fprintf(stderr, "alloc_shapes: --record must be between 1 and %u\n", RING_SIZE);
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	alarm(120);
	ring = malloc(RING_SIZE);
	int lfd = test_listen(port, 0);
	if (!ring || lfd < 0) {
		perror("alloc_shapes");
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", test_local_port(lfd));
	fflush(stdout);
	while (!stop) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			serve(fd, leak);
	}
	close(lfd);
	while (kept) {
		struct session *s = kept;
		kept = s->next;
		free(s->line);
		free(s);
	}
	free(ring);
	return 0;
}

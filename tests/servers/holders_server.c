/* holders: a TCP line server that keeps every connection's objects, held in one of five ways.
 *
 *   holders MODE [PORT]       MODE: list | registry | array | stack | cycle
 *
 * Serves one connection at a time (echoes lines, closes on "QUIT" or EOF), listens on
 * 127.0.0.1:PORT (0 or absent: ephemeral) and prints "listening on 127.0.0.1:PORT" when ready.
 * Per accepted connection it allocates a struct sess (64 B, in sess_new) and its 128 B name
 * (in name_new), and keeps both for good: +2 blocks, +192 B per cycle, whatever the mode.
 * What holds them, which a retainer search must name (leakcheck's "held by:"):
 *   list      the global `sessions`, a list linked through `struct node` 16 bytes into each
 *             sess: held by sessions (data symbol) -> sess (+16, linked through +16).
 *   registry  `slots`, a static array inside the function registry_add(): held by that data
 *             symbol (gcc names it "slots.0" or "slots.1") -> sess.
 *   array     the global `table`, a realloc'd array of pointers (in table_grow): held by
 *             table (data symbol) -> one block of table_grow -> sess (x N).
 *   stack     only the stack of a keeper thread (a local array of its function keeper()):
 *             the main thread hands it each sess through a pipe and waits for its receipt
 *             (no sess is in the pipe at a snapshot): held by thread 2's stack.
 *   cycle     no sess at all: three objects A -> B -> C -> A per connection (a_new, b_new,
 *             c_new, 48 B each) that nothing else points at: +3 blocks, +144 B per cycle,
 *             definitely/indirectly lost while running; no root: a cycle of the three.
 * SIGTERM/SIGINT: everything is freed (the cycles too: their addresses are kept XOR-masked,
 * which memcheck cannot read as pointers) and the process exits 0, so the exit report says
 * "All heap blocks were freed": only a measurement while it runs tells what is held.
 * Every process dies by SIGALRM after 120 s, so a harness bug cannot leave it running. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define MAX_KEPT 8192
#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aULL)

enum mode { LIST, REGISTRY, ARRAY, STACK, CYCLE, NMODES };
static const char *const mode_names[NMODES] = { "list", "registry", "array", "stack", "cycle" };
static enum mode mode;
static volatile sig_atomic_t stop;

struct node {
	struct node *next;          /* strong ref to the next session's node, or NULL */
};

struct sess {
	char *name;                 /* owned: 128 B */
	int fd;
	unsigned serial;
	struct node link;           /* in `sessions` (list mode): 16 bytes in, interior pointers */
	char pad[40];
};

struct tri {                    /* cycle mode: A -> B -> C -> A */
	struct tri *next;           /* strong ref, never released while running */
	char pad[40];
};

static struct node *sessions;   /* list: newest first */
static struct sess **table;     /* array: owned, realloc'd, ntable entries */
static size_t ntable;
static uintptr_t masked[MAX_KEPT]; /* cycle: the A of each cycle, XOR MASK: not a pointer */
static size_t nmasked;
static int keeper_pipe[2] = { -1, -1 };
static int keeper_ack[2] = { -1, -1 }; /* a byte back once a sess is on the keeper's stack */
static pthread_t keeper_thread;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Each object has an allocation function of its own, kept out of line, so that every site
 * is named by its function whatever the optimisation level. */
static __attribute__((noinline)) char *name_new(unsigned serial)
{
	char *name = malloc(128);
	if (name)
		snprintf(name, 128, "session %u", serial);
	return name;
}

static __attribute__((noinline)) struct sess *sess_new(int fd, unsigned serial)
{
	struct sess *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->fd = fd;
	s->serial = serial;
	s->name = name_new(serial);
	return s;
}

static void sess_free(struct sess *s)
{
	free(s->name);
	free(s);
}

/* The registry lives inside this function: a static local, data symbol "slots.N". */
static struct sess **registry_add(struct sess *s)
{
	static struct sess *slots[MAX_KEPT];
	static size_t n;
	if (s && n < MAX_KEPT)
		slots[n++] = s;
	return slots;
}

static void table_grow(struct sess *s)
{
	struct sess **t = realloc(table, (ntable + 1) * sizeof *t);
	if (!t)
		return;
	table = t;
	table[ntable++] = s;
}

/* The keeper thread: every session it is handed lives in its local array until the pipe
 * closes; no other pointer to it remains anywhere. */
static void *keeper(void *arg)
{
	struct sess *held[MAX_KEPT];
	size_t n = 0;
	struct sess *s;
	(void)arg;
	while (read(keeper_pipe[0], &s, sizeof s) == (ssize_t)sizeof s) {
		if (n < MAX_KEPT)
			held[n++] = s;
		(void)!write(keeper_ack[1], "k", 1);
	}
	for (size_t i = 0; i < n; i++)
		sess_free(held[i]);
	return NULL;
}

static __attribute__((noinline)) struct tri *a_new(void) { return calloc(1, sizeof(struct tri)); }
static __attribute__((noinline)) struct tri *b_new(void) { return calloc(1, sizeof(struct tri)); }
static __attribute__((noinline)) struct tri *c_new(void) { return calloc(1, sizeof(struct tri)); }

static void keep_cycle(void)
{
	struct tri *a = a_new(), *b = b_new(), *c = c_new();
	if (!a || !b || !c || nmasked == MAX_KEPT) {
		free(a), free(b), free(c);
		return;
	}
	a->next = b;
	b->next = c;
	c->next = a;
	masked[nmasked++] = (uintptr_t)a ^ MASK;
}

static void keep(int fd, unsigned serial)
{
	if (mode == CYCLE) {
		keep_cycle();
		return;
	}
	struct sess *s = sess_new(fd, serial);
	if (!s)
		return;
	switch (mode) {
	case LIST: s->link.next = sessions; sessions = &s->link; break;
	case REGISTRY: registry_add(s); break;
	case ARRAY: table_grow(s); break;
	case STACK:
		/* Wait for the receipt: a sess still in the pipe is unreachable to memcheck, and a
		 * snapshot then (a loaded machine, the keeper not yet scheduled) saw it lost. */
		if (write(keeper_pipe[1], &s, sizeof s) != (ssize_t)sizeof s)
			sess_free(s);
		else
			(void)!read(keeper_ack[0], &(char){ 0 }, 1);
		break;
	default: break;
	}
	s = NULL; /* no stale copy on this thread's stack */
}

static void free_all(void)
{
	while (sessions) {
		struct sess *s = (struct sess *)((char *)sessions - offsetof(struct sess, link));
		sessions = sessions->next;
		sess_free(s);
	}
	struct sess **slots = registry_add(NULL);
	for (size_t i = 0; i < MAX_KEPT && slots[i]; i++)
		sess_free(slots[i]);
	for (size_t i = 0; i < ntable; i++)
		sess_free(table[i]);
	free(table);
	for (size_t i = 0; i < nmasked; i++) {
		struct tri *a = (struct tri *)(masked[i] ^ MASK), *b = a->next, *c = b->next;
		free(a), free(b), free(c);
	}
	if (keeper_pipe[1] >= 0) {
		close(keeper_pipe[1]);
		pthread_join(keeper_thread, NULL);
		close(keeper_pipe[0]);
		close(keeper_ack[0]);
		close(keeper_ack[1]);
	}
}

/* Echo lines until EOF, "QUIT", an error or a stop. */
static void serve(int fd)
{
	char buf[512];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (!stop) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0 || (n >= 4 && memcmp(buf, "QUIT", 4) == 0))
			break;
		if (write(fd, buf, (size_t)n) != n)
			break;
	}
	close(fd);
}

static int listen_on(unsigned port)
{
	int fd = test_listen(port, 0);
	if (fd < 0) {
		perror("holders: listen");
		exit(2);
	}
	printf("listening on 127.0.0.1:%u\n", test_local_port(fd));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: accept() returns EINTR */
	int m = 0;
	while (m < NMODES && (argc < 2 || strcmp(argv[1], mode_names[m])))
		m++;
	if (m == NMODES) {
		fprintf(stderr, "usage: holders list|registry|array|stack|cycle [PORT]\n");
		return 2;
	}
	mode = (enum mode)m;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	alarm(120);
	if (mode == STACK && (pipe(keeper_pipe) < 0 || pipe(keeper_ack) < 0 || pthread_create(&keeper_thread, NULL, keeper, NULL) != 0)) {
		perror("holders: keeper");
		return 2;
	}
	int lfd = listen_on(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0);
	for (unsigned serial = 0; !stop;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				break;
			continue;
		}
		keep(fd, serial++);
		serve(fd);
	}
	close(lfd);
	free_all();
	return 0;
}

/* cache_server: a TCP line server whose memory grows per connection at first, then stops: a
 * bounded cache, which a checker that only asks "did every round grow?" calls a leak.
 *
 *   cache_server [PORT] [--threads N] [--slots N] [--leak-every N] [--per-request] [--session B] [--block]
 *                [--sigwait-thread]
 *
 * --threads N (2) threads each run a poll() loop over the shared listener and the connections
 * they accepted, as an event-driven proxy's threads do. Each thread has a cache of its own (a per-thread pool cache) of
 * --slots N (320) entries of 64 B, keyed by the client; entries come from slabs of four (one
 * 272 B block), and an entry, once made, stays: the cache is bounded, never evicted, never
 * freed before exit. The client here is a hash of the connection's serial number, so keys repeat
 * at random as a real client population's do: each connection makes a new entry with the
 * chance that its key is not cached yet. With 2 threads of 320 slots, the growth is ~0.2 blocks
 * per connection at first, ~0.05 after 1,000 connections, and nothing after about 3,000
 * (every slot full): clean, though the first rounds all grew.
 * --leak-every N: plus one 64 B record kept on a list every Nth connection (1/N blocks per
 * connection, forever): --leak-every 10 is the small leak that must still be caught.
 * --per-request: the record is kept every Nth request line served instead (a leak in a
 * command's path, as redis's MULTI/INCRBYFLOAT/EXEC was): a connection that says nothing
 * keeps nothing. --session B: each connection holds a B-byte session from accept to close (a
 * client struct with its buffers, as redis's createClient makes). --block: the threads sleep in
 * poll() until something happens (no 100 ms tick; SIGTERM ends them through a pipe), so a
 * harness that must halt the idle server under valgrind has to wake it.
 * With --slots 0 there is no cache: what grows is the leak alone, exactly. --sigwait-thread:
 * SIGTERM is taken by a thread of its own (sigwait), not by main, which blocks it and joins
 * that thread: the kernel gives a process's signal to a thread that does not block it, so a
 * thread someone else started in the process without blocking SIGTERM would die of it.
 * Protocol as tests/servers/shapes.c: echo each line, QUIT closes, "listening on 127.0.0.1:PORT" when
 * ready, SIGTERM frees everything (the caches, the kept records) and exits 0, so memcheck's exit
 * report is clean either way; SIGALRM after 300 s so it cannot outlive a test. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define MAX_THREADS 16
#define SLAB_ENTRIES 4
#define MAX_CONNS 256

struct entry {
	uint32_t key;
	bool used;
	char value[56];
};

struct slab {
	struct slab *next;                 /* owned: the thread's older slabs */
	struct entry entries[SLAB_ENTRIES];
};

struct cache {
	struct entry **slot;               /* owned array of --slots pointers, each borrowed from a slab */
	struct slab *slabs;                /* owned: the newest first */
	unsigned in_slab;                  /* entries taken from slabs (the newest) */
};

struct conn {
	int fd;
	size_t have;
	char buf[1024];
	char *session;                     /* owned: --session's block, or NULL */
};

struct record {
	struct record *next;               /* owned */
	char peer[56];
};

static unsigned nthreads = 2, nslots = 320, leak_every, session_bytes;
static bool per_request, block, sigwait_thread;
static int lfd = -1;
static int stop_pipe[2] = { -1, -1 }; /* --block: written once at SIGTERM, read by nobody */
static unsigned long requests;         /* request lines served, all threads (atomic) */
static volatile sig_atomic_t stop;
static unsigned long serial;           /* connections accepted, all threads (atomic) */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct record *kept;            /* owned: --leak-every's records */

/* splitmix64's finalizer: the serial number's "client", spread over the key space. */
static uint32_t client_of(unsigned long n)
{
	uint64_t z = n + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

/* The entry for key, made from the current slab (a new slab when it is full) if not cached. */
static void cache_touch(struct cache *c, uint32_t key)
{
	if (nslots == 0)
		return;
	unsigned i = key % nslots;
	if (c->slot[i])
		return;
	if (!c->slabs || c->in_slab == SLAB_ENTRIES) {
		struct slab *s = calloc(1, sizeof *s);
		if (!s)
			return;
		s->next = c->slabs;
		c->slabs = s;
		c->in_slab = 0;
	}
	struct entry *e = &c->slabs->entries[c->in_slab++];
	e->key = key;
	e->used = true;
	c->slot[i] = e;
}

static void cache_free(struct cache *c)
{
	while (c->slabs) {
		struct slab *s = c->slabs;
		c->slabs = s->next;
		free(s);
	}
	free(c->slot);
}

static void record_keep(unsigned long n)
{
	struct record *r = malloc(sizeof *r);
	if (!r)
		return;
	snprintf(r->peer, sizeof r->peer, "connection %lu", n);
	pthread_mutex_lock(&kept_lock);
	r->next = kept;
	kept = r;
	pthread_mutex_unlock(&kept_lock);
}

/* Reads what conn sent and echoes its lines; false once it is to be closed (EOF, QUIT, a reset). */
static bool conn_read(struct conn *c)
{
	ssize_t n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	c->have += (size_t)n;
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->have))) {
		size_t len = (size_t)(nl - c->buf) + 1;
		if (len >= 5 && strncmp(c->buf, "QUIT", 4) == 0)
			return false;
		if (send(c->fd, c->buf, len, MSG_NOSIGNAL) < 0)
			return false;
		unsigned long r = __atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
		if (per_request && leak_every && r % leak_every == 0)
			record_keep(r);
		memmove(c->buf, c->buf + len, c->have - len);
		c->have -= len;
	}
	return c->have < sizeof c->buf;
}

/* A new connection: its client's cache entry, --leak-every's record, a place in the loop. */
static void conn_accept(struct cache *cache, struct conn *conns, unsigned *nconns)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return; /* another thread took it (EAGAIN) */
	unsigned long n = __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
	cache_touch(cache, client_of(n));
	if (!per_request && leak_every && n % leak_every == 0)
		record_keep(n);
	if (*nconns == MAX_CONNS) {
		close(fd);
		return;
	}
	conns[(*nconns)++] = (struct conn){ .fd = fd, .session = session_bytes ? calloc(1, session_bytes) : NULL };
}

/* One thread: a poll() loop over the shared listener and the connections it accepted. */
static void *worker(void *arg)
{
	struct cache c = { .slot = calloc(nslots ? nslots : 1, sizeof *c.slot) };
	struct conn *conns = calloc(MAX_CONNS, sizeof *conns); /* owned: made once, not per connection */
	struct pollfd *p = calloc(MAX_CONNS + 2, sizeof *p);
	unsigned n = 0;
	(void)arg;
	while (c.slot && conns && p && !stop) {
		p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (unsigned i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
		p[n + 1] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN }; /* -1 unless --block */
		if (poll(p, n + 2, block ? -1 : 100) <= 0)
			continue;
		for (unsigned i = n; i-- > 0;)
			if (p[i + 1].revents && !conn_read(&conns[i])) {
				close(conns[i].fd);
				free(conns[i].session);
				conns[i] = conns[--n];
			}
		if (p[0].revents & POLLIN)
			conn_accept(&c, conns, &n);
	}
	while (n > 0) {
		close(conns[--n].fd);
		free(conns[n].session);
	}
	free(p);
	free(conns);
	cache_free(&c);
	return NULL;
}

static bool parse(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

/* SIGTERM or SIGINT, taken by sigwait (they are blocked in every thread). arg: the set. */
static void *sig_wait(void *arg)
{
	int sig;
	sigwait(arg, &sig);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned port = 0;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(argv[i], "--threads") == 0 && parse(v, 1, MAX_THREADS, &nthreads))
			i++;
		else if (strcmp(argv[i], "--slots") == 0 && parse(v, 0, 1u << 20, &nslots))
			i++;
		else if (strcmp(argv[i], "--leak-every") == 0 && parse(v, 1, 1u << 20, &leak_every))
			i++;
		else if (strcmp(argv[i], "--session") == 0 && parse(v, 1, 1u << 20, &session_bytes))
			i++;
		else if (strcmp(argv[i], "--per-request") == 0)
			per_request = true;
		else if (strcmp(argv[i], "--block") == 0)
			block = true;
		else if (strcmp(argv[i], "--sigwait-thread") == 0)
			sigwait_thread = true;
		else if (!parse(argv[i], 0, 65535, &port)) {
			fprintf(stderr, "usage: cache_server [PORT] [--threads N] [--slots N] [--leak-every N] [--per-request] "
					"[--session B] [--block] [--sigwait-thread]\n");
			return 2;
		}
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the threads inherit it: only sigwait takes them */
	alarm(300);
	if (block && pipe2(stop_pipe, O_CLOEXEC) < 0) {
		perror("cache_server: pipe");
		return 1;
	}
	if ((lfd = test_listen(port, SOCK_NONBLOCK)) < 0) {
		perror("cache_server");
		return 1;
	}
	pthread_t t[MAX_THREADS];
	unsigned started = 0;
	while (started < nthreads && pthread_create(&t[started], NULL, worker, NULL) == 0)
		started++;
	printf("listening on 127.0.0.1:%u\n", test_local_port(lfd));
	fflush(stdout);
	pthread_t waiter;
	if (sigwait_thread && pthread_create(&waiter, NULL, sig_wait, &set) == 0)
		pthread_join(waiter, NULL);
	else
		sig_wait(&set);
	stop = 1;
	if (block && write(stop_pipe[1], "x", 1) < 0)
		perror("cache_server: stop pipe");
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	close(lfd);
	if (block) {
		close(stop_pipe[0]);
		close(stop_pipe[1]);
	}
	while (kept) {
		struct record *r = kept;
		kept = r->next;
		free(r);
	}
	return started == nthreads ? 0 : 1;
}

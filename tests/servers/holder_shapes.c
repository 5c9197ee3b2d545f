/* holder_shapes: a TCP line server that keeps what each connection made, in the shapes real
 * daemons keep things, for the holder search (leakcheck's "held by:") to name.
 *
 *   holder_shapes MODE [PORT]   MODE: tree | two_globals | lost_and_kept | thread_slot | big_heap
 *                               | registry_slots | headers
 *
 * Listens on 127.0.0.1:PORT (0 or absent: ephemeral), prints "listening on 127.0.0.1:PORT" when
 * ready, echoes lines until "QUIT" or EOF. Per accepted connection it keeps, by mode:
 *   tree           a topic tree (an MQTT broker's retained messages): every node from one line
 *                  (topic_new), children in a hash table of buckets grown by realloc
 *                  (buckets_grow) with a table header (table_new), siblings doubly linked, a
 *                  parent pointer, and a retained payload (payload_new) pointing back at its
 *                  node, uthash style. Connection N adds the leaf "sensors/<N % 8>/<N>" and its
 *                  payload: +2 blocks. All of it still reachable from the global `db_root`:
 *                  held by db_root, for topic_new and payload_new alike.
 *   two_globals    two lists growing together: `users` (user_new) and `audits` (audit_new), each
 *                  audit pointing at its user: user_new held by users, audit_new by audits.
 *   lost_and_kept  one line (buf_new) per connection: an even connection's buffer is kept in the
 *                  global list `kept_bufs`, an odd one's is dropped (definitely lost): the kept
 *                  record held by kept_bufs, the lost record by no root at all.
 *   thread_slot    a thread per connection; every session (sess_new) stays in the list of the
 *                  server's state (`server`, a block of server_new: newest first), and the live
 *                  connection's session also sits in `thread_slots`, an array of one block
 *                  (slots_new) indexed by thread: held by server -> server_new -> sess_new, the
 *                  slot array holding the live ones at most.
 *   big_heap       60,000 unrelated live blocks made at start (a cache: `cache`, cache_fill;
 *                  HOLDER_SHAPES_BLOCKS=N in the environment: N of them),
 *                  and per connection a session kept in the list `kept` (kept_new): held by kept,
 *                  found within the search's time.
 *   registry_slots every session (reg_new) on the global list `registry`, newest first, and the
 *                  live connection's also in `live_slots`, a global array indexed by fd. At a
 *                  snapshot the live one is the harness's probe, and it heads the list: both
 *                  globals reach the list's blocks just as near (one pointer, one site), and
 *                  both must be named (the tie went to the lower address, naming only the slots).
 *   headers        a header per connection appended to the global list `headers` (tinyproxy's
 *                  orderedmap of a request's headers): the node from header_new, its name and its
 *                  value each strdup'd on two lines of header_add, as orderedmap_append does
 *                  (orderedmap.c:57 and :58). glibc's strdup keeps no frame pointer: a walk of
 *                  frame pointers stops inside it. +3 blocks: header_new's, and one at each strdup
 *                  line, each held by headers -> header_new.
 * SIGTERM/SIGINT: everything is freed and the process exits 0 (the lost buffers excepted), so
 * only a measurement while it runs tells what is held. Every process dies by SIGALRM after
 * 120 s, so a harness bug cannot leave it running. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define NSLOTS 64
#define CACHE 60000             /* big_heap's unrelated blocks; HOLDER_SHAPES_BLOCKS=N for N */

enum mode { TREE, TWO_GLOBALS, LOST_AND_KEPT, THREAD_SLOT, BIG_HEAP, REGISTRY_SLOTS, HEADERS, NMODES };
static const char *const mode_names[NMODES] = { "tree", "two_globals", "lost_and_kept", "thread_slot", "big_heap",
						 "registry_slots", "headers" };
static enum mode mode;
static volatile sig_atomic_t stop;

/* tree mode: uthash's shape, written out */
struct topic;
struct table {
	struct topic **buckets;     /* owned: nbuckets chains through topic.hnext */
	unsigned nbuckets, count;
	struct topic *tail;         /* borrowed: the last child in insertion order */
};

struct topic {
	struct topic *parent;       /* borrowed */
	struct topic *prev, *next;  /* borrowed: siblings in insertion order (next: strong ref) */
	struct topic *hnext;        /* borrowed: the next in its bucket */
	struct table *tbl;          /* owned by the first child: the parent's children table */
	struct topic *children;     /* strong ref: the first child, or NULL */
	struct payload *retained;   /* owned, or NULL */
	char name[24];
};

struct payload {
	struct topic *topic;        /* weak: the node that owns it */
	char msg[40];
};

struct user {
	struct user *next;          /* strong ref */
	char name[40];
};

struct audit {
	struct audit *next;         /* strong ref */
	struct user *who;           /* borrowed */
	char what[40];
};

struct buf {
	struct buf *next;           /* strong ref */
	char data[88];
};

struct header {
	struct header *next;        /* strong ref: the next older header of the list */
	char *name;                 /* owned: strdup'd */
	char *value;                /* owned: strdup'd */
};

struct sess {
	struct sess *next;          /* strong ref: the next older session of the list */
	int fd;
	char pad[52];
};

static struct topic *db_root;
static struct user *users;
static struct audit *audits;
static struct buf *kept_bufs;
struct server {                 /* thread_slot mode: the server's state, on the heap */
	struct sess *sessions;      /* strong ref: every session, newest first */
	unsigned nsessions;
	char pad[52];
};

static struct server *server;   /* owned */
static struct sess **thread_slots; /* owned: NSLOTS, the live sessions by thread */
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static void **cache;            /* owned: ncache unrelated blocks */
static unsigned ncache = CACHE;
static struct sess *kept;
static struct sess *registry;              /* owned: registry_slots' sessions, newest first */
static struct sess *live_slots[NSLOTS];    /* borrowed from registry: the live ones, by fd */
static struct header *headers;             /* owned: headers' nodes, newest first */

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Each object has an allocation function of its own, kept out of line, so that every site is
 * named by its function whatever the optimisation level. */
static __attribute__((noinline)) struct topic *topic_new(struct topic *parent, const char *name)
{
	struct topic *t = calloc(1, sizeof *t);
	if (t) {
		t->parent = parent;
		snprintf(t->name, sizeof t->name, "%s", name);
	}
	return t;
}

static __attribute__((noinline)) struct table *table_new(void) { return calloc(1, sizeof(struct table)); }

static __attribute__((noinline)) int buckets_grow(struct table *tb)
{
	unsigned n = tb->nbuckets ? tb->nbuckets * 2 : 4;
	struct topic **b = realloc(tb->buckets, n * sizeof *b);
	if (!b)
		return -1;
	memset(b, 0, n * sizeof *b); /* rehash every child into the new buckets */
	tb->buckets = b;
	tb->nbuckets = n;
	for (struct topic *c = tb->tail; c; c = c->prev)
		c->hnext = NULL;
	for (struct topic *c = tb->tail; c; c = c->prev) {
		unsigned h = (unsigned)strlen(c->name) * 31u + (unsigned char)c->name[0];
		c->hnext = b[h % n];
		b[h % n] = c;
	}
	return 0;
}

static __attribute__((noinline)) struct payload *payload_new(struct topic *t, unsigned serial)
{
	struct payload *p = calloc(1, sizeof *p);
	if (p) {
		p->topic = t;
		snprintf(p->msg, sizeof p->msg, "retained %u", serial);
	}
	return p;
}

static struct topic *child_find(struct topic *parent, const char *name)
{
	for (struct topic *c = parent->children; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* The child name of parent, made if missing: appended to the siblings, hashed into buckets
 * that double when the chains grow long. */
static struct topic *child_get(struct topic *parent, const char *name)
{
	struct topic *c = child_find(parent, name);
	if (c)
		return c;
	struct table *tb = parent->children ? parent->children->tbl : table_new();
	if (!tb || !(c = topic_new(parent, name)))
		return NULL;
	if (tb->count + 1 > tb->nbuckets * 2 && buckets_grow(tb) < 0) {
		free(c);
		return NULL;
	}
	c->tbl = tb;
	c->prev = tb->tail;
	if (tb->tail)
		tb->tail->next = c;
	else
		parent->children = c;
	tb->tail = c;
	tb->count++;
	unsigned h = (unsigned)strlen(c->name) * 31u + (unsigned char)c->name[0];
	c->hnext = tb->buckets[h % tb->nbuckets];
	tb->buckets[h % tb->nbuckets] = c;
	return c;
}

static void topic_free(struct topic *t)
{
	struct table *tb = t->children ? t->children->tbl : NULL;
	for (struct topic *c = t->children, *n; c; c = n) {
		n = c->next;
		topic_free(c);
	}
	if (tb) {
		free(tb->buckets);
		free(tb);
	}
	free(t->retained);
	free(t);
}

static void tree_keep(unsigned serial)
{
	char level[24], leaf[24];
	snprintf(level, sizeof level, "%u", serial % 8);
	snprintf(leaf, sizeof leaf, "%u", serial);
	struct topic *s = child_get(db_root, "sensors"), *l = s ? child_get(s, level) : NULL;
	struct topic *t = l ? child_get(l, leaf) : NULL;
	if (t && !t->retained)
		t->retained = payload_new(t, serial);
}

static __attribute__((noinline)) struct user *user_new(unsigned serial)
{
	struct user *u = calloc(1, sizeof *u);
	if (u)
		snprintf(u->name, sizeof u->name, "user %u", serial);
	return u;
}

static __attribute__((noinline)) struct audit *audit_new(struct user *who)
{
	struct audit *a = calloc(1, sizeof *a);
	if (a) {
		a->who = who;
		snprintf(a->what, sizeof a->what, "login");
	}
	return a;
}

static __attribute__((noinline)) struct buf *buf_new(unsigned serial)
{
	struct buf *b = calloc(1, sizeof *b);
	if (b)
		snprintf(b->data, sizeof b->data, "request %u", serial);
	return b;
}

static __attribute__((noinline)) struct sess *sess_new(int fd)
{
	struct sess *s = calloc(1, sizeof *s);
	if (s)
		s->fd = fd;
	return s;
}

static __attribute__((noinline)) struct sess **slots_new(void) { return calloc(NSLOTS, sizeof(struct sess *)); }
static __attribute__((noinline)) struct server *server_new(void) { return calloc(1, sizeof(struct server)); }

static __attribute__((noinline)) void *cache_fill(unsigned i)
{
	char *p = malloc(16 + i % 48);
	if (p)
		p[0] = (char)i;
	return p;
}

static __attribute__((noinline)) struct header *header_new(void) { return calloc(1, sizeof(struct header)); }

/* name and value copied with glibc's strdup, one line each (as tinyproxy's orderedmap_append):
 * two sites, whose callers only an unwinder that reads glibc's CFI can find. The strings are
 * made at run time: gcc turns strdup of a constant into malloc and memcpy. */
static __attribute__((noinline)) struct header *header_add(const char *name, const char *value)
{
	struct header *h = header_new();
	if (!h)
		return NULL;
	h->name = strdup(name);
	h->value = strdup(value);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		free(h);
		return NULL;
	}
	h->next = headers;
	headers = h;
	return h;
}

static __attribute__((noinline)) struct sess *kept_new(int fd) { return sess_new(fd); }
static __attribute__((noinline)) struct sess *reg_new(int fd) { return sess_new(fd); }

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
}

struct conn_arg {
	int fd;
	unsigned slot;
};

static int slot_done[NSLOTS];   /* set by a connection's thread as it ends (atomics) */

/* thread_slot: one thread per connection, its session in the list and in its slot while live. */
static void *conn_thread(void *arg)
{
	struct conn_arg a = *(struct conn_arg *)arg;
	free(arg);
	struct sess *s = sess_new(a.fd);
	if (s) {
		pthread_mutex_lock(&sessions_lock);
		s->next = server->sessions;
		server->sessions = s;
		server->nsessions++;
		thread_slots[a.slot] = s;
		pthread_mutex_unlock(&sessions_lock);
	}
	serve(a.fd);
	pthread_mutex_lock(&sessions_lock);
	thread_slots[a.slot] = NULL;
	pthread_mutex_unlock(&sessions_lock);
	close(a.fd);
	__atomic_store_n(&slot_done[a.slot], 1, __ATOMIC_RELEASE);
	return NULL;
}

static void keep(int fd, unsigned serial)
{
	switch (mode) {
	case TREE: tree_keep(serial); break;
	case TWO_GLOBALS: {
		struct user *u = user_new(serial);
		struct audit *a = u ? audit_new(u) : NULL;
		if (!a) {
			free(u);
			break;
		}
		u->next = users;
		users = u;
		a->next = audits;
		audits = a;
		break;
	}
	case LOST_AND_KEPT: {
		struct buf *b = buf_new(serial);
		if (b && serial % 2 == 0) {
			b->next = kept_bufs;
			kept_bufs = b;
		}
		b = NULL; /* an odd connection's buffer: lost, no copy left on the stack */
		break;
	}
	case REGISTRY_SLOTS: {
		struct sess *s = reg_new(fd);
		if (s) {
			s->next = registry;
			registry = s;
			live_slots[fd % NSLOTS] = s;
		}
		break;
	}
	case HEADERS: {
		char name[32], value[32];
		snprintf(name, sizeof name, "X-Serial-%u", serial % 4);
		snprintf(value, sizeof value, "%u", serial);
		header_add(name, value);
		break;
	}
	case BIG_HEAP: {
		struct sess *s = kept_new(fd);
		if (s) {
			s->next = kept;
			kept = s;
		}
		break;
	}
	default: break;
	}
}

static void free_all(void)
{
	if (db_root)
		topic_free(db_root);
	for (struct user *u = users, *n; u; u = n) {
		n = u->next;
		free(u);
	}
	for (struct audit *a = audits, *n; a; a = n) {
		n = a->next;
		free(a);
	}
	for (struct buf *b = kept_bufs, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	for (struct sess *s = server ? server->sessions : NULL, *n; s; s = n) {
		n = s->next;
		free(s);
	}
	free(server);
	for (struct sess *s = kept, *n; s; s = n) {
		n = s->next;
		free(s);
	}
	for (struct sess *s = registry, *n; s; s = n) {
		n = s->next;
		free(s);
	}
	for (struct header *h = headers, *n; h; h = n) {
		n = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	free(thread_slots);
	for (unsigned i = 0; cache && i < ncache; i++)
		free(cache[i]);
	free(cache);
}

static int setup(void)
{
	switch (mode) {
	case TREE: db_root = topic_new(NULL, ""); return db_root ? 0 : -1;
	case THREAD_SLOT:
		server = server_new();
		thread_slots = slots_new();
		return server && thread_slots ? 0 : -1;
	case BIG_HEAP:
		if (getenv("HOLDER_SHAPES_BLOCKS"))
			ncache = (unsigned)strtoul(getenv("HOLDER_SHAPES_BLOCKS"), NULL, 10);
		if (!(cache = calloc(ncache ? ncache : 1, sizeof *cache)))
			return -1;
		for (unsigned i = 0; i < ncache; i++)
			cache[i] = cache_fill(i);
		return 0;
	default: return 0;
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: accept() returns EINTR */
	int m = 0;
	while (m < NMODES && (argc < 2 || strcmp(argv[1], mode_names[m])))
		m++;
	if (m == NMODES) {
		fprintf(stderr, "usage: holder_shapes tree|two_globals|lost_and_kept|thread_slot|big_heap|registry_slots|headers [PORT]\n");
		return 2;
	}
	mode = (enum mode)m;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	alarm(120);
	if (setup() < 0) {
		perror("holder_shapes: setup");
		return 2;
	}
	int lfd = test_listen(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0, 0);
	if (lfd < 0) {
		perror("holder_shapes: listen");
		return 2;
	}
	printf("listening on 127.0.0.1:%u\n", test_local_port(lfd));
	fflush(stdout);
	pthread_t threads[NSLOTS];
	bool started[NSLOTS] = { false };
	for (unsigned serial = 0; !stop; serial++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				break;
			continue;
		}
		if (mode != THREAD_SLOT) {
			keep(fd, serial);
			serve(fd);
			live_slots[fd % NSLOTS] = NULL;
			close(fd);
			continue;
		}
		unsigned slot = 0; /* a free slot: never used, or its thread has ended */
		while (slot < NSLOTS && started[slot] && !__atomic_load_n(&slot_done[slot], __ATOMIC_ACQUIRE))
			slot++;
		if (slot == NSLOTS) {
			close(fd); /* NSLOTS connections at once: no room */
			continue;
		}
		if (started[slot])
			pthread_join(threads[slot], NULL);
		started[slot] = false;
		slot_done[slot] = 0;
		struct conn_arg *a = malloc(sizeof *a);
		if (a) {
			*a = (struct conn_arg){ fd, slot };
			started[slot] = pthread_create(&threads[slot], NULL, conn_thread, a) == 0;
		}
		if (!started[slot]) {
			free(a);
			close(fd);
		}
	}
	for (unsigned i = 0; i < NSLOTS; i++)
		if (started[i])
			pthread_join(threads[i], NULL);
	close(lfd);
	free_all();
	return 0;
}

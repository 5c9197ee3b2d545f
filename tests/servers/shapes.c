/* shapes: a TCP line server built in one of seven SHAPES that make a leak checker's job hard.
 *
 *   shapes MODE [PORT] [--bytes N] [--delay MS] [--workers N] [--leak] [--once] [--user UID]
 *          [--stuck] [--linger MS] [--clone] [--tag TAG]
 *
 * Like tests/servers/misbehave.c and the runtime it echoes lines, closes on "QUIT", listens on
 * 127.0.0.1:PORT (0 or absent: ephemeral) and prints "listening on 127.0.0.1:PORT" when ready.
 * Every connection is served to its end however the client leaves: EOF, "QUIT" (then the server
 * closes), or a reset. Each shape comes clean and, with --leak, leaky: the positive control.
 * SIGTERM/SIGINT: an orderly shutdown that frees EVERYTHING, --leak's retained memory included
 * (as a server that empties its registries at exit), then exit 0. So memcheck's exit report says
 * "All heap blocks were freed" for every mode, with or without --leak: only a measurement taken
 * while the server runs can tell clean from leaky.
 *
 * Per connection (x86_64): a session, struct sess 72 B + a 1024 B line buffer = 2 blocks, 1096 B,
 * malloc'd when the connection is served and freed when it closes. After K connect/disconnect
 * cycles (any close mode), with the server quiet, a checker must see:
 *   bytes     one poll() loop. The byte pool, ONE realloc'd block, grows by --bytes N (40) per
 *             accepted connection. Clean: it shrinks back at close (freed when empty): +0.
 *             --leak: it never shrinks: +N bytes per cycle but +0 blocks (count bytes, not blocks).
 *   records   one poll() loop. A realloc'd array of struct record {port, when, peer[24]} (40 B)
 *             gets one entry per accepted connection: Python's `_connections.append(conn)`.
 *             Clean: swap-removed at close, the array resized to fit (freed when empty): +0.
 *             --leak: never removed (no `_connections.remove(conn)`): +40 B, +0 blocks per cycle.
 *   deferred  one poll() loop; the session is 3 blocks (+ a 1024 B reply buffer: 2120 B). At close
 *             the fd is closed at once but the session is freed --delay MS (300) later, by a timer
 *             in the poll timeout (a graceful-close timer). Clean: +0 once the delay has passed;
 *             measured sooner it looks leaky. --leak: plus one 64 B block per connection on a list:
 *             +1 block, +64 B per cycle however long one waits (the deferred frees must not hide it).
 *   threads   a detached thread per connection, blocking reads; the main thread only accepts.
 *             Clean: +0. --leak: the thread keeps a 96 B copy of its session on a mutex-protected
 *             list: +1 block, +96 B per cycle. Each close is handled by its own thread, so an echo
 *             on a new connection no longer proves an older close was handled.
 *   pool      --workers N (4) threads, each its own poll() loop; the main thread accepts and deals
 *             the fds round-robin through one pipe per worker (memcached -t N). As threads: clean
 *             +0, --leak +1 block, +96 B per cycle, closes handled asynchronously.
 *   prefork   the parent listens, prints the readiness line, forks ONE worker and only waits (it
 *             closes its listener: it never accepts). The worker accepts and serves everything
 *             (one poll() loop). Sessions, and --leak's 96 B copies, live in the WORKER: the
 *             parent's heap stays empty, the worker must be measured (clean +0, --leak +1 block,
 *             +96 B per cycle). On SIGTERM the parent sends SIGTERM to the worker, waits for it
 *             and exits 0; if the worker dies (or exits non-zero) the parent exits 1.
 *   forkper   the parent accepts and forks a child per connection; the child serves it, frees
 *             everything (its copy of the parent's heap too) and exits 0; the parent reaps it.
 *             The parent holds a 16 B struct child per live child: +0 once reaped. --leak: the
 *             PARENT keeps a 96 B record per connection: +1 block, +96 B per cycle in the parent,
 *             every child clean. On SIGTERM: SIGTERM to every live child, reap them all, exit 0
 *             (1 if a child failed). --clone: each child is made with a raw clone(SIGCHLD), as
 *             a daemon that isolates a connection in a process of its own does (no fork(), so no
 *             pthread_atfork handler runs), and before serving it looks up its user's entry and
 *             sets PEER in its environment (NSS's and setenv's blocks, kept until it exits, as
 *             such a child does): the parent's heap must not count them (+0 in the parent).
 * memcheck follows fork() with no exec (no --trace-children needed): prefork's worker and
 * forkper's children write exit reports of their own, which must be clean as well.
 * --once: every connection is closed right after its first reply, as an HTTP/1.0 server does
 * (the client's probe is gone before anyone can see which process served it). --user UID
 * (prefork): the worker switches to that user after the fork, as nginx's worker does ('user
 * nobody'): valgrind made its vgdb FIFOs as root before, so vgdb can no longer reach it.
 * --stuck (threads): each connection's thread, once it has closed and freed its session, waits
 * for shutdown instead of exiting: a thread leak with nothing on the heap (+1 thread per cycle,
 * +0 blocks; natively its stack pages grow too); the threads end at SIGTERM.
 * --linger MS (bytes, records, deferred): a peer's EOF or reset is acted on MS ms later (its fd
 * stays open till then), and at SIGTERM every session still open is abandoned, not freed, as
 * nginx run as one process leaves its open connections' pools: a connection closed just before
 * the SIGTERM is "lost at exit" unless the checker waits for the server to close it first.
 * --tag TAG is ignored: a marker the tests look for in /proc to find survivors. Every process dies
 * by SIGALRM after 120 s, and a forked one gets SIGTERM when its parent dies, so a harness bug
 * cannot leave one running. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"

#define MAX_CONNS 512		/* open sessions per poll() loop; live threads in threads mode */
#define MAX_WORKERS 64
#define SESS_BUF 1024
#define PEER_MAX 24		/* "255.255.255.255:65535" and its NUL fit */
#define KEEP_SMALL 64		/* deferred --leak: bytes kept per connection */
#define KEEP_BIG 96		/* threads, pool, prefork, forkper --leak */
#define TICK_MS 100		/* longest sleep: ppoll's mask wakes us for signals, this is a backstop */
#define SAFETY_S 120

enum mode { BYTES, RECORDS, DEFERRED, THREADS, POOL, PREFORK, FORKPER, NMODES };

static const char *const mode_names[NMODES] = {
	"bytes", "records", "deferred", "threads", "pool", "prefork", "forkper",
};

static struct {
	enum mode mode;
	unsigned port, bytes, delay_ms, workers, user, linger_ms;
	bool leak, once, switch_user, stuck, clone;
} opt = { .bytes = 40, .delay_ms = 300, .workers = 4 };

static volatile sig_atomic_t stop;
/* Signals stay blocked except inside ppoll(), which lets these in: a SIGTERM or SIGCHLD between a
 * check and the sleep is not lost. Threads and forked children inherit the blocked mask, so only a
 * thread in ppoll() with run_mask ever runs a handler. */
static sigset_t run_mask;

/* ---- Time, signals ---- */

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec ms_to_ts(int ms)
{
	return (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_child(int sig)
{
	(void)sig; /* only to end ppoll() early: the loop reaps */
}

static void signals_setup(void)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa = (struct sigaction){ .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &run_mask);
}

/* Waits up to TICK_MS for fd (-1: nothing) to be readable; signals get in meanwhile. */
static bool fd_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = ms_to_ts(TICK_MS);
	return ppoll(&p, 1, &ts, &run_mask) > 0 && !stop;
}

/* A forked process: alarms are not inherited, and it must not outlive its parent. */
static void child_setup(pid_t parent)
{
	alarm(SAFETY_S);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		stop = 1; /* the parent died before prctl(): no signal will come */
}

/* ---- Sockets ---- */

static void peer_describe(int fd, char peer[PEER_MAX], unsigned *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	char ip[INET_ADDRSTRLEN] = "?";
	uint16_t p = 0;
	if (getpeername(fd, (struct sockaddr *)&a, &alen) == 0 && a.sin_family == AF_INET) {
		inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
		p = ntohs(a.sin_port);
	}
	*port = p;
	snprintf(peer, PEER_MAX, "%s:%u", ip, (unsigned)p);
}

/* ---- What a shape retains: the byte pool, the records, the kept copies ---- */

static char *byte_pool;		/* owned: --bytes N per open (clean) or accepted (--leak) connection */
static size_t byte_len;

static bool bytes_grow(void)
{
	char *p = realloc(byte_pool, byte_len + opt.bytes);
	if (!p)
		return false;
	memset(p + byte_len, 'b', opt.bytes); /* written, as a real buffer would be */
	byte_pool = p;
	byte_len += opt.bytes;
	return true;
}

/* Empty, the pool is freed: realloc(p, 0) is not a portable free. */
static void bytes_shrink(void)
{
	byte_len -= opt.bytes;
	if (byte_len == 0) {
		free(byte_pool);
		byte_pool = NULL;
	} else {
		char *p = realloc(byte_pool, byte_len);
		if (p)
			byte_pool = p; /* a failed shrink keeps the larger block, still ours */
	}
}

struct record {
	unsigned port;
	double when;		/* CLOCK_MONOTONIC seconds at accept */
	char peer[PEER_MAX];
};

static struct record *records;	/* owned: exactly nrecords entries, NULL when none */
static size_t nrecords;

/* One realloc per record, not doubling: --leak then grows by exactly one record per connection. */
static bool records_add(unsigned port, const char *peer)
{
	struct record *r = realloc(records, (nrecords + 1) * sizeof *r);
	if (!r)
		return false;
	records = r;
	r += nrecords++;
	r->port = port;
	r->when = (double)mono_ms() / 1000;
	memcpy(r->peer, peer, PEER_MAX);
	return true;
}

static void records_remove(unsigned port, const char *peer)
{
	size_t i = 0;
	while (i < nrecords && (records[i].port != port || strcmp(records[i].peer, peer) != 0))
		i++;
	if (i == nrecords)
		return;
	records[i] = records[--nrecords];
	if (nrecords == 0) {
		free(records);
		records = NULL;
	} else {
		struct record *r = realloc(records, nrecords * sizeof *r);
		if (r)
			records = r;
	}
}

struct keep {
	struct keep *next;	/* owned: the copy kept before this one */
	unsigned port;
	char peer[PEER_MAX];
	/* zeroes up to KEEP_SMALL or KEEP_BIG bytes: the fixed cost of one copy */
};
_Static_assert(sizeof(struct keep) <= KEEP_SMALL, "a kept copy fits its smallest block");

static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER; /* threads and pool push concurrently */
static struct keep *kept;	/* owned: --leak's per-connection copies, newest first; under keep_lock */

static bool keep_push(size_t size, unsigned port, const char *peer)
{
	struct keep *k = calloc(1, size);
	if (!k)
		return false;
	k->port = port;
	memcpy(k->peer, peer, PEER_MAX);
	pthread_mutex_lock(&keep_lock);
	k->next = kept;
	kept = k;
	pthread_mutex_unlock(&keep_lock);
	return true;
}

static void keep_free_all(void)
{
	pthread_mutex_lock(&keep_lock);
	while (kept) {
		struct keep *k = kept;
		kept = k->next;
		free(k);
	}
	pthread_mutex_unlock(&keep_lock);
}

struct child {
	struct child *next;	/* owned: the next live child */
	pid_t pid;		/* 0 until fork() returns in the parent */
};

static struct child *children;	/* owned: forkper's live (unreaped) children */

static bool children_forget(pid_t pid)
{
	for (struct child **pp = &children; *pp; pp = &(*pp)->next) {
		struct child *c = *pp;
		if (c->pid == pid) {
			*pp = c->next;
			free(c);
			return true;
		}
	}
	return false;
}

/* At exit, and in a forked child, which got a copy of all this and owns that copy. */
static void state_free(void)
{
	keep_free_all();
	free(byte_pool);
	byte_pool = NULL;
	byte_len = 0;
	free(records);
	records = NULL;
	nrecords = 0;
	while (children) {
		struct child *c = children;
		children = c->next;
		free(c);
	}
}

/* ---- Sessions ---- */

struct sess {
	struct sess *next;	/* owned: the next closed session in a deferred-free queue */
	int fd;			/* -1 once closed */
	unsigned port;		/* the peer's port: with peer, the key of its record */
	char peer[PEER_MAX];	/* "127.0.0.1:PORT" */
	size_t len;		/* bytes in in */
	char *in;		/* owned: SESS_BUF bytes, the unfinished line */
	char *out;		/* owned: SESS_BUF bytes, replies are built here (deferred; else NULL) */
	int64_t due_ms;		/* deferred: when the closed session may be freed; --linger: when
				 * the peer's close is acted on (0: not lingering) */
};

static void sess_free(struct sess *s)
{
	if (!s)
		return;
	free(s->in);
	free(s->out);
	free(s);
}

/* NULL when out of memory; fd stays the caller's to close either way. */
static struct sess *sess_new(int fd)
{
	struct sess *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->fd = fd;
	peer_describe(fd, s->peer, &s->port);
	s->in = malloc(SESS_BUF);
	s->out = opt.mode == DEFERRED ? malloc(SESS_BUF) : NULL;
	if (!s->in || (opt.mode == DEFERRED && !s->out)) {
		sess_free(s);
		s = NULL;
	}
	return s;
}

/* MSG_DONTWAIT: a client that does not read loses replies instead of stalling a loop or thread. */
static void sess_reply(struct sess *s, const char *line, size_t len)
{
	if (s->out) {
		memcpy(s->out, line, len);
		line = s->out;
	}
	(void)!send(s->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* One read: echo complete lines. False when the connection is over (EOF, QUIT, reset, error);
 * *peer then says whether the client ended it (EOF, reset) rather than QUIT or --once. */
static bool sess_feed(struct sess *s, bool *peer)
{
	ssize_t n = read(s->fd, s->in + s->len, SESS_BUF - s->len);
	char *nl;
	*peer = n <= 0;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	s->len += (size_t)n;
	while ((nl = memchr(s->in, '\n', s->len))) {
		size_t len = (size_t)(nl - s->in) + 1;
		if (len == 5 && memcmp(s->in, "QUIT", 4) == 0)
			return false;
		sess_reply(s, s->in, len);
		if (opt.once)
			return false; /* the reply is written: close, as HTTP/1.0 does */
		memmove(s->in, s->in + len, s->len - len);
		s->len -= len;
	}
	if (s->len == SESS_BUF)
		s->len = 0; /* an over-long line: dropped */
	return true;
}

/* What the shape holds from the connection's start. False when out of memory: the connection
 * is refused and nothing is held (so retain_on_close must not run). */
static bool retain_on_open(const struct sess *s)
{
	switch (opt.mode) {
	case BYTES:
		return bytes_grow();
	case RECORDS:
		return records_add(s->port, s->peer);
	case DEFERRED:
		return !opt.leak || keep_push(KEEP_SMALL, s->port, s->peer);
	case THREADS:
	case POOL:
	case PREFORK:
		return !opt.leak || keep_push(KEEP_BIG, s->port, s->peer);
	default:
		return true; /* forkper: the parent keeps its record at accept, before fork() */
	}
}

/* The clean shapes give back what retain_on_open took; --leak keeps it until exit. */
static void retain_on_close(const struct sess *s)
{
	if (opt.leak)
		return;
	if (opt.mode == BYTES)
		bytes_shrink();
	else if (opt.mode == RECORDS)
		records_remove(s->port, s->peer);
}

/* ---- The poll() loop: bytes, records, deferred, pool workers, the prefork worker, forkper
 *      children ---- */

struct loop {
	int lfd;			/* the listener (closed by its owner), or -1 */
	int feed_fd;			/* pool worker: the pipe fds arrive on (closed by pool); else -1 */
	bool watch_stop;		/* ends on SIGTERM; a pool worker ends at its pipe's EOF */
	bool single;			/* forkper child: ends with its one session */
	bool done;			/* the feed pipe hung up */
	const sigset_t *mask;		/* borrowed: the mask inside ppoll(), NULL to keep the thread's */
	struct sess *dq_head;		/* owned: closed sessions awaiting their deferred free, by due */
	struct sess *dq_tail;		/* borrowed: dq_head's last entry, NULL when empty */
	size_t n;
	struct sess *sess[MAX_CONNS];	/* owned: the open sessions */
};

/* One delay for all, so the queue is in due order. */
static void defer_push(struct loop *l, struct sess *s)
{
	s->due_ms = mono_ms() + opt.delay_ms;
	s->next = NULL;
	if (l->dq_tail)
		l->dq_tail->next = s;
	else
		l->dq_head = s;
	l->dq_tail = s;
}

static void defer_expire(struct loop *l, bool all)
{
	int64_t now = mono_ms();
	while (l->dq_head && (all || l->dq_head->due_ms <= now)) {
		struct sess *s = l->dq_head;
		l->dq_head = s->next;
		sess_free(s);
	}
	if (!l->dq_head)
		l->dq_tail = NULL;
}

/* The deferred-free timer and --linger's live in the poll timeout. */
static int loop_timeout_ms(const struct loop *l)
{
	int64_t left = l->dq_head ? l->dq_head->due_ms - mono_ms() : TICK_MS;
	for (size_t i = 0; i < l->n; i++)
		if (l->sess[i]->due_ms && l->sess[i]->due_ms - mono_ms() < left)
			left = l->sess[i]->due_ms - mono_ms();
	return left < 0 ? 0 : left < TICK_MS ? (int)left : TICK_MS;
}

static void loop_adopt(struct loop *l, int fd)
{
	struct sess *s = NULL;
	if (l->n == MAX_CONNS)
		goto refuse;
	s = sess_new(fd);
	if (!s || !retain_on_open(s))
		goto refuse;
	l->sess[l->n++] = s;
	return;
refuse:
	sess_free(s);
	close(fd);
}

/* Every way out (EOF, QUIT, reset, shutdown) ends here. The fd closes now, so a QUIT client
 * sees EOF at once; only the memory may wait. */
static void loop_drop(struct loop *l, size_t i)
{
	struct sess *s = l->sess[i];
	l->sess[i] = l->sess[--l->n];
	close(s->fd);
	s->fd = -1;
	retain_on_close(s);
	if (opt.mode == DEFERRED)
		defer_push(l, s);
	else
		sess_free(s);
}

/* Fds come through the pipe whole: 4-byte writes to a pipe are atomic. */
static void loop_feed(struct loop *l)
{
	int fd;
	ssize_t n = read(l->feed_fd, &fd, sizeof fd);
	if (n == (ssize_t)sizeof fd)
		loop_adopt(l, fd);
	else if (n == 0)
		l->done = true;
}

static void loop_accept(struct loop *l)
{
	int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		loop_adopt(l, fd);
}

/* p[0] the listener, p[1] the feed (poll skips a -1 fd), then the sessions. */
static void loop_turn(struct loop *l)
{
	struct pollfd p[MAX_CONNS + 2];
	struct timespec ts = ms_to_ts(loop_timeout_ms(l));
	p[0] = (struct pollfd){ .fd = l->lfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = l->feed_fd, .events = POLLIN };
	for (size_t i = 0; i < l->n; i++) /* a lingering session is out of the poll set (fd -1) */
		p[2 + i] = (struct pollfd){ .fd = l->sess[i]->due_ms ? -1 : l->sess[i]->fd, .events = POLLIN };
	int r = ppoll(p, 2 + l->n, &ts, l->mask);
	defer_expire(l, false);
	/* Backwards: loop_drop moves the last session into slot i, one already seen. */
	for (size_t i = l->n; i-- > 0;) {
		struct sess *s = l->sess[i];
		bool peer;
		if (s->due_ms && s->due_ms <= mono_ms())
			loop_drop(l, i);
		else if (r > 0 && (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR)) && !sess_feed(s, &peer)) {
			if (peer && opt.linger_ms)
				s->due_ms = mono_ms() + opt.linger_ms;
			else
				loop_drop(l, i);
		}
	}
	if (r <= 0)
		return;
	if (p[1].revents)
		loop_feed(l);
	if (p[0].revents & POLLIN)
		loop_accept(l);
}

/* Runs until told to end, then closes every session and frees every queued one. */
static void loop_run(struct loop *l)
{
	while (!l->done && !(l->watch_stop && stop) && !(l->single && l->n == 0))
		loop_turn(l);
	while (l->n && opt.linger_ms) { /* abandoned: closed, never freed */
		struct sess *s = l->sess[--l->n];
		close(s->fd);
	}
	while (l->n)
		loop_drop(l, l->n - 1);
	defer_expire(l, true);
}

static void loop_serve(int lfd)
{
	struct loop l = { .lfd = lfd, .feed_fd = -1, .watch_stop = true, .mask = &run_mask };
	loop_run(&l);
}

/* bytes, records, deferred. Each runner takes the listener and closes it. */
static int single_run(int lfd)
{
	loop_serve(lfd);
	close(lfd);
	return 0;
}

/* ---- threads: a detached thread per connection ---- */

static pthread_mutex_t thr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thr_gone = PTHREAD_COND_INITIALIZER;
static int thr_fds[MAX_CONNS];	/* under thr_lock: each live thread's fd, -1 in a free slot */
static unsigned thr_live;	/* under thr_lock: threads started and not yet finished */
static pthread_cond_t thr_release = PTHREAD_COND_INITIALIZER;
static bool thr_released;	/* under thr_lock: --stuck threads may end */

static void *thread_main(void *arg)
{
	size_t slot = (uintptr_t)arg;
	pthread_mutex_lock(&thr_lock);
	int fd = thr_fds[slot];
	pthread_mutex_unlock(&thr_lock);
	struct sess *s = sess_new(fd);
	if (s && retain_on_open(s)) {
		bool peer;
		while (sess_feed(s, &peer))
			;
		retain_on_close(s);
	}
	sess_free(s);
	pthread_mutex_lock(&thr_lock);
	close(fd); /* under the lock: threads_stop() must never shutdown() a reused number */
	thr_fds[slot] = -1;
	while (opt.stuck && !thr_released) /* --stuck: outlive the connection */
		pthread_cond_wait(&thr_release, &thr_lock);
	if (--thr_live == 0)
		pthread_cond_signal(&thr_gone);
	pthread_mutex_unlock(&thr_lock);
	return NULL;
}

static void threads_spawn(int fd)
{
	pthread_attr_t attr;
	pthread_t t;
	size_t slot = 0;
	pthread_mutex_lock(&thr_lock);
	while (slot < MAX_CONNS && thr_fds[slot] >= 0)
		slot++;
	if (slot == MAX_CONNS) {
		close(fd);
		goto out;
	}
	/* Registered before the thread exists: threads_stop() cannot miss it. */
	thr_fds[slot] = fd;
	thr_live++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, thread_main, (void *)(uintptr_t)slot) != 0) {
		thr_fds[slot] = -1;
		thr_live--;
		close(fd);
	}
	pthread_attr_destroy(&attr);
out:
	pthread_mutex_unlock(&thr_lock);
}

static size_t tasks_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A detached thread still runs glibc's teardown after it signals thr_gone. If we exit first,
 * memcheck finds its TLS block (dtv) reachable from a live stack: not "All heap blocks were
 * freed". No join exists for detached threads, so wait (up to 2 s) for the kernel tasks to go. */
static void threads_wait_exited(void)
{
	for (int i = 0; i < 200 && tasks_count() > 1; i++)
		usleep(10000);
}

/* shutdown() wakes each thread's blocking read with EOF; the thread closes and frees. */
static void threads_stop(void)
{
	pthread_mutex_lock(&thr_lock);
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (thr_fds[i] >= 0)
			shutdown(thr_fds[i], SHUT_RDWR);
	thr_released = true;
	pthread_cond_broadcast(&thr_release);
	while (thr_live)
		pthread_cond_wait(&thr_gone, &thr_lock);
	pthread_mutex_unlock(&thr_lock);
	threads_wait_exited();
}

static int threads_run(int lfd)
{
	for (size_t i = 0; i < MAX_CONNS; i++)
		thr_fds[i] = -1;
	while (!stop) {
		if (!fd_wait(lfd))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* blocking: the thread waits in read */
		if (fd >= 0)
			threads_spawn(fd);
	}
	close(lfd); /* first: no connection arrives after the roll call */
	threads_stop();
	return 0;
}

/* ---- pool: N worker threads, each its own poll() loop ---- */

struct worker {
	pthread_t thread;
	int feed[2];		/* pipe: the main thread writes accepted fds to [1], the worker reads [0] */
};

static struct worker workers[MAX_WORKERS];

/* Signals stay blocked here (mask NULL): the main thread takes them and closes the pipe. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop l = { .lfd = -1, .feed_fd = w->feed[0] };
	loop_run(&l);
	return NULL;
}

static bool worker_start(struct worker *w)
{
	if (pipe2(w->feed, O_CLOEXEC) < 0)
		return false;
	if (pthread_create(&w->thread, NULL, worker_main, w) == 0)
		return true;
	close(w->feed[0]);
	close(w->feed[1]);
	return false;
}

/* EOF on its pipe ends the worker after it has adopted (and so closes) every fd in flight. */
static void worker_stop(struct worker *w)
{
	close(w->feed[1]);
	pthread_join(w->thread, NULL);
	close(w->feed[0]);
}

static int pool_run(int lfd)
{
	unsigned started = 0, next = 0;
	int rc = 1;
	while (started < opt.workers && worker_start(&workers[started]))
		started++;
	if (started < opt.workers) {
		fprintf(stderr, "shapes: cannot start %u workers\n", opt.workers);
		goto cleanup;
	}
	rc = 0;
	while (!stop) {
		if (!fd_wait(lfd))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(workers[next].feed[1], &fd, sizeof fd) != (ssize_t)sizeof fd)
			close(fd);
		next = (next + 1) % opt.workers;
	}
cleanup:
	close(lfd);
	for (unsigned i = 0; i < started; i++)
		worker_stop(&workers[i]);
	return rc;
}

/* ---- prefork: one forked worker accepts and serves, the parent waits ---- */

/* 0 only for a worker that exited 0: one that failed its own shutdown must not look clean. */
static int prefork_wait(pid_t worker)
{
	int status = 0;
	while (!stop) {
		fd_wait(-1);
		if (stop)
			break; /* before waitpid: a group-wide SIGTERM can end the worker first */
		if (waitpid(worker, &status, WNOHANG) == worker) {
			fprintf(stderr, "shapes: prefork worker %d died\n", (int)worker);
			return 1;
		}
	}
	kill(worker, SIGTERM);
	while (waitpid(worker, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int prefork_run(int lfd)
{
	pid_t parent = getpid(), worker = fork();
	if (worker < 0) {
		perror("shapes: fork");
		close(lfd);
		return 1;
	}
	if (worker == 0) {
		child_setup(parent);
		if (opt.switch_user && (setgid(opt.user) < 0 || setuid(opt.user) < 0)) {
			perror("shapes: --user");
			return 1;
		}
		loop_serve(lfd);
		close(lfd);
		return 0; /* main frees what the worker holds, and it exits 0 */
	}
	close(lfd); /* the parent never accepts: the worker holds the only listener */
	return prefork_wait(worker);
}

/* ---- forkper: a forked child per connection ---- */

static unsigned forkper_failed;	/* children that did not exit 0 */

static void forkper_reap(int flags)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, flags)) > 0) {
		children_forget(pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "shapes: child %d failed (status 0x%x)\n", (int)pid, status);
			forkper_failed++;
		}
	}
}

/* The child: its one connection, then back to main, which frees its copy of the heap. */
static int forkper_child(int lfd, int fd, pid_t parent)
{
	struct loop l = { .lfd = -1, .feed_fd = -1, .watch_stop = true, .single = true,
			  .mask = &run_mask };
	child_setup(parent);
	close(lfd);
	if (opt.clone) {
		char peer[PEER_MAX];
		unsigned port;
		peer_describe(fd, peer, &port);
		if (!getpwuid(getuid()) || setenv("PEER", peer, 1) < 0)
			return 1;
	}
	loop_adopt(&l, fd);
	loop_run(&l);
	return 0;
}

/* Returns 0 in the child, the pid in the parent (which closes its copy of fd), -1 on failure. */
static pid_t forkper_spawn(int fd)
{
	char peer[PEER_MAX];
	unsigned port;
	pid_t pid = -1;
	struct child *c = malloc(sizeof *c);
	peer_describe(fd, peer, &port);
	if (!c || (opt.leak && !keep_push(KEEP_BIG, port, peer))) {
		free(c);
		goto out;
	}
	/* Linked before fork(): the child's copy goes with the rest of its copy of the heap. */
	*c = (struct child){ .next = children };
	children = c;
	/* --clone: clone(2) as the raw system call, fork()'s flags without glibc's fork */
	pid = opt.clone ? (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL) : fork();
	if (pid > 0)
		c->pid = pid;
	else if (pid < 0)
		children_forget(0);
out:
	if (pid != 0)
		close(fd);
	return pid;
}

static int forkper_run(int lfd)
{
	pid_t parent = getpid();
	while (!stop) {
		forkper_reap(WNOHANG);
		if (!fd_wait(lfd))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0 && forkper_spawn(fd) == 0)
			return forkper_child(lfd, fd, parent); /* the child's own way out */
	}
	close(lfd);
	for (struct child *c = children; c; c = c->next)
		kill(c->pid, SIGTERM);
	forkper_reap(0); /* blocks until ECHILD: every child reaped */
	return forkper_failed ? 1 : 0;
}

/* ---- main ---- */

static int (*const runners[NMODES])(int lfd) = {
	single_run, single_run, single_run, threads_run, pool_run, prefork_run, forkper_run,
};

static int usage(void)
{
	fprintf(stderr, "usage: shapes MODE [PORT] [--bytes N] [--delay MS] [--workers N] [--leak] "
			"[--once] [--user UID] [--stuck] [--linger MS] [--clone] [--tag TAG]; MODE: bytes records deferred threads pool prefork forkper\n");
	return 2;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

static int opts_parse(int argc, char **argv)
{
	bool have_port = false;
	if (argc < 2)
		return -1;
	for (opt.mode = 0; opt.mode < NMODES && strcmp(argv[1], mode_names[opt.mode]) != 0; opt.mode++)
		;
	if (opt.mode == NMODES)
		return -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(a, "--leak") == 0)
			opt.leak = true;
		else if (strcmp(a, "--tag") == 0 && i + 1 < argc)
			i++;
		else if (strcmp(a, "--bytes") == 0 && parse_uint(v, 1, 1u << 20, &opt.bytes))
			i++;
		else if (strcmp(a, "--delay") == 0 && parse_uint(v, 0, 60000, &opt.delay_ms))
			i++;
		else if (strcmp(a, "--workers") == 0 && parse_uint(v, 1, MAX_WORKERS, &opt.workers))
			i++;
		else if (strcmp(a, "--once") == 0)
			opt.once = true;
		else if (strcmp(a, "--stuck") == 0)
			opt.stuck = true;
		else if (strcmp(a, "--clone") == 0)
			opt.clone = true;
		else if (strcmp(a, "--linger") == 0 && parse_uint(v, 1, 60000, &opt.linger_ms))
			i++;
		else if (strcmp(a, "--user") == 0 && parse_uint(v, 0, 1u << 30, &opt.user))
			opt.switch_user = true, i++;
		else if (!have_port && parse_uint(a, 0, 65535, &opt.port))
			have_port = true;
		else
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (opts_parse(argc, argv) < 0)
		return usage();
	alarm(SAFETY_S);
	signals_setup();
	int lfd = test_listen(opt.port, SOCK_NONBLOCK);
	if (lfd < 0) {
		fprintf(stderr, "shapes: cannot listen on 127.0.0.1:%u: %s\n", opt.port, strerror(errno));
		return 2;
	}
	printf("listening on 127.0.0.1:%u\n", test_local_port(lfd));
	fflush(stdout);
	int rc = runners[opt.mode](lfd);
	state_free();
	return rc;
}

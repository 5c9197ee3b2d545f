/* misbehave: a TCP line server that fails in one chosen way, for tests/suites/test_faults.c.
 *
 *   misbehave MODE [PORT] [--after K] [--tag TAG]
 *
 * Plain sockets, no heap of its own: a run that ends normally is clean, so any verdict but
 * "clean" comes from the mode. Like the runtime it echoes lines, closes on "QUIT", listens on 127.0.0.1:PORT
 * (0: ephemeral) and prints "listening on 127.0.0.1:PORT" when ready, unless the mode says not.
 *   echo     behaves (the control: every fault test must go red with it)
 *   crash    SIGSEGV on the K-th accepted connection (default 5)
 *   exit     exit status 3 on the K-th accepted connection
 *   idle     after K connections, SIGSEGV at the first 10 ms without a client event: a pause
 *            such as the harness's heap snapshot (the server halted, the probe held open)
 *   hang     accepts, never reads, never replies (drops a client only when it hangs up)
 *   silent   never listens, never prints the readiness line
 *   slow     waits K seconds (--after, default 5) before it listens and announces, then behaves:
 *            a server slower to start than the harness's --timeout
 *   garbage  prints garbage (binary, NUL, a near miss, a long line) instead of the readiness
 *            line, then serves
 *   badport  prints "listening on 127.0.0.1:99999", then serves on its real port
 *   slam     closes every connection at once on accept
 *   wrong    answers every line with "ERR" and closes: never the expected reply
 *   noterm   ignores SIGTERM (only SIGKILL stops it)
 *   inuse    PORT is already taken (a socket of its own holds it): cannot listen, exit 2
 *   daemon   listens, announces, then daemonizes: forks, the first process exits 0 at once,
 *            the child (in a session of its own) serves as echo does
 *   halt     stops itself (SIGSTOP) on the K-th accepted connection: halted, not dead, not busy
 *   rlimit   sets RLIMIT_NOFILE to 1000 (as vsftpd sets a value of its own) before it listens; if
 *            that fails (under valgrind, which keeps fds of its own and refuses a limit other
 *            than its reduced one) it says "setrlimit NOFILE" on stderr and exits 1, else echoes
 * --tag TAG is ignored: a marker the tests look for in /proc to find survivors.
 * Every mode dies by SIGALRM after 60 s, so a harness bug cannot leave it running forever. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define MAX_CONNS 512
#define CONN_BUF 1024

enum mode { ECHO, CRASH, EXIT, IDLE, HANG, SILENT, SLOW, GARBAGE, BADPORT, SLAM, WRONG, NOTERM, INUSE, DAEMON,
	    HALT, RLIMIT, NMODES };

static const char *const mode_names[NMODES] = {
	"echo", "crash", "exit", "idle", "hang", "silent", "slow", "garbage", "badport", "slam", "wrong", "noterm",
	"inuse", "daemon", "halt", "rlimit",
};

struct conn {
	int fd;
	size_t len;
	char buf[CONN_BUF];
};

static struct conn conns[MAX_CONNS];
static size_t nconns;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void crash(void)
{
	fprintf(stderr, "misbehave: crashing on purpose\n");
	*(volatile int *)0 = 1; /* a real invalid write: memcheck reports it, then SIGSEGV */
}

static int usage(void)
{
	fprintf(stderr, "usage: misbehave MODE [PORT] [--after K] [--tag TAG]; MODE: echo crash exit "
			"idle hang silent slow garbage badport slam wrong noterm inuse daemon halt rlimit\n");
	return 2;
}

/* What goes on stdout instead of (or as) the readiness line. */
static void announce(enum mode m, unsigned port)
{
	if (m == GARBAGE) {
		static const char bin[] = "\x01\x02\xff\xfe garbage\0listening on 127.0.0.1:1\n";
		static char junk[6000];
		memset(junk, 'x', sizeof junk);
		fwrite(bin, 1, sizeof bin - 1, stdout);          /* binary, a NUL mid-line */
		printf("listening on localhost:%u\n", port);      /* near miss: not 127.0.0.1 */
		printf("Listening On 127.0.0.1:%u\n", port);      /* near miss: case */
		printf(" listening on 127.0.0.1:%u\n", port);     /* near miss: not at line start */
		fwrite(junk, 1, sizeof junk, stdout);             /* a long line, no newline */
	} else if (m == BADPORT) {
		printf("listening on 127.0.0.1:99999\n");
	} else {
		printf("listening on 127.0.0.1:%u\n", port);
	}
	fflush(stdout);
}

static void drop(size_t i)
{
	close(conns[i].fd);
	conns[i] = conns[--nconns];
}

/* Echo complete lines; "QUIT" closes. Returns false when the connection is gone. */
static bool serve(struct conn *c, enum mode m)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t len = (size_t)(nl - c->buf) + 1;
		if (len == 5 && memcmp(c->buf, "QUIT", 4) == 0)
			return false;
		if (m == WRONG) {
			(void)!send(c->fd, "ERR\n", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
			return false;
		}
		(void)!send(c->fd, c->buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		memmove(c->buf, c->buf + len, c->len - len);
		c->len -= len;
	}
	if (c->len == sizeof c->buf)
		c->len = 0; /* an over-long line: dropped */
	return true;
}

/* The K-th accepted connection triggers crash/exit; the others go by mode. */
static void accept_one(int lfd, enum mode m, unsigned after, unsigned *accepted)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	++*accepted;
	if (m == HALT && *accepted == after)
		raise(SIGSTOP);
	if (m == CRASH && *accepted >= after)
		crash();
	if (m == EXIT && *accepted >= after) {
		fprintf(stderr, "misbehave: exiting early on purpose\n");
		exit(3);
	}
	if (m == SLAM || nconns == MAX_CONNS) {
		close(fd);
		return;
	}
	conns[nconns].fd = fd;
	conns[nconns++].len = 0;
}

static int loop(int lfd, enum mode m, unsigned after)
{
	struct pollfd p[MAX_CONNS + 1];
	unsigned accepted = 0;
	while (!stop) {
		size_t n = 0;
		p[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < nconns; i++)
			p[n++] = (struct pollfd){ .fd = conns[i].fd, .events = m == HANG ? 0 : POLLIN };
		/* the timeout bounds how late a SIGTERM is noticed; idle's is its pause */
		int r = poll(p, n, m == IDLE ? 10 : 100);
		if (r == 0 && m == IDLE && accepted >= after)
			crash();
		if (r <= 0)
			continue;
		for (size_t i = n - 1; i >= 1; i--) {
			if (m == HANG && (p[i].revents & (POLLHUP | POLLERR)))
				drop(i - 1); /* reported even without events: do not spin on it */
			else if (m != HANG && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) && !serve(&conns[i - 1], m))
				drop(i - 1);
		}
		if (p[0].revents & POLLIN)
			accept_one(lfd, m, after, &accepted);
	}
	while (nconns)
		drop(nconns - 1);
	close(lfd);
	return 0;
}

static int parse_args(int argc, char **argv, enum mode *m, unsigned *port, unsigned *after)
{
	if (argc < 2)
		return -1;
	for (*m = 0; *m < NMODES && strcmp(argv[1], mode_names[*m]) != 0; (*m)++)
		;
	if (*m == NMODES)
		return -1;
	for (int i = 2; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc) {
			i++;
		} else if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
			*after = (unsigned)strtoul(argv[++i], &end, 10);
			if (*end || *after < 1)
				return -1;
		} else {
			*port = (unsigned)strtoul(argv[i], &end, 10);
			if (*end || *port > 65535)
				return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum mode m;
	unsigned port = 0, after = 5;
	if (parse_args(argc, argv, &m, &port, &after) < 0)
		return usage();
	alarm(60);
	struct sigaction sa = { .sa_handler = m == NOTERM ? SIG_IGN : on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit nofile = { 1000, 1000 };
	if (m == RLIMIT && setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
		fprintf(stderr, "misbehave: setrlimit NOFILE: %s\n", strerror(errno));
		return 1;
	}
	if (m == SILENT) {
		while (!stop)
			pause();
		return 0;
	}
	if (m == SLOW) {
		for (unsigned t = 0; t < after * 10 && !stop; t++)
			usleep(100 * 1000);
		if (stop)
			return 0;
	}
	int blocker = -1;
	if (m == INUSE) { /* another socket holds the port (bound, no SO_REUSEADDR, not listening) */
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		blocker = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (blocker < 0 || bind(blocker, (struct sockaddr *)&a, sizeof a) < 0)
			perror("misbehave: blocker");
	}
	int lfd = test_listen(port, SOCK_NONBLOCK);
	if (lfd < 0) {
		fprintf(stderr, "misbehave: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
		if (blocker >= 0)
			close(blocker);
		return 2;
	}
	announce(m, test_local_port(lfd));
	if (m == DAEMON) {
		fflush(stdout);
		pid_t child = fork();
		if (child != 0)
			_exit(child < 0 ? 2 : 0); /* the parent's part is done, as a daemon's is */
		setsid();
	}
	return loop(lfd, m, after);
}

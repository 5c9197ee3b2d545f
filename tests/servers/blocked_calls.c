/* blocked_calls: a TCP echo server whose main thread sleeps in system calls that other
 * processes end at any moment, and which checks what every one of them returns.
 *
 *   blocked_calls [PORT] [--late-thread K]
 *
 * Listens on 127.0.0.1:PORT (0 or absent: ephemeral) and prints "listening on 127.0.0.1:PORT"
 * when ready. The main thread is an event loop (memcached's and nginx's shape): one epoll_wait
 * with room for ONE event, over the listener and an eventfd. A feeder process (forked, so not
 * halted with this one) writes to the eventfd every 0-4 ms; a housekeeping thread (memcached's
 * clock, a cache's maintainer) wakes every 0.2 ms for a little work, so it is mostly another
 * thread than the main one that runs when the process is halted. Connections are echoed by the
 * main loop, line by line; "QUIT" closes the connection.
 * --late-thread K: no feeder, no housekeeping; the process has ONE thread until its K-th
 * connection, which starts a thread that sleeps in read() until shutdown (a pool started on
 * first use): from then on every thread sleeps in a system call while the server is idle.
 *
 * What the tools must report: nothing (memcheck: no errors; leakcheck: clean). SIGTERM/SIGINT:
 * an orderly exit (the feeder is killed and reaped, exit 0). The process must survive any
 * number of halts by a debugger or vgdb relay. Every result is checked:
 * epoll_wait must return 1 (it waits for ever and has room for one), the eventfd's read 8,
 * accept4 a socket. A wrong one (a halt that overwrote a blocked call's result with the call's
 * number: epoll_wait 232, read 0, accept4 288 on x86_64) prints "BAD <call> returned N" on
 * stderr and aborts. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void bad(const char *call, long res)
{
	fprintf(stderr, "BAD %s returned %ld (errno %d)\n", call, res, errno);
	abort();
}

/* The feeder: ends when the server is gone (its parent changes) or the eventfd fails. */
static void feed(int efd, pid_t parent)
{
	unsigned seed = (unsigned)getpid();
	while (getppid() == parent) {
		uint64_t one = 1;
		if (write(efd, &one, sizeof one) < 0 && errno != EAGAIN)
			break;
		struct timespec ts = { 0, (long)(rand_r(&seed) % 4000) * 1000 };
		nanosleep(&ts, NULL);
	}
	_exit(0);
}

/* The housekeeping thread: a little work every 0.2 ms until shutdown. */
static void *housekeep(void *arg)
{
	unsigned long *ticks = arg;
	while (!stopping) {
		struct timespec ts = { 0, 200 * 1000 };
		nanosleep(&ts, NULL);
		for (int i = 0; i < 2000; i++)
			*ticks += (unsigned long)i;
	}
	return NULL;
}

/* A thread that takes no SIGTERM/SIGINT: the main thread's epoll_wait must see them. */
static bool start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	bool ok = pthread_create(t, NULL, fn, arg) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* The late thread: sleeps until shutdown writes to its pipe. */
static void *idle(void *arg)
{
	char c;
	while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* A new connection joins the loop; accept4 must give a socket. Returns 1 if one came. */
static int serve(int lfd, int ep)
{
	int type = 0;
	socklen_t len = sizeof type;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return 0; /* the client left first */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		bad("accept4", fd);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		close(fd);
	return 1;
}

/* Echo what came; "QUIT", EOF or an error closes. */
static void echo(int ep, int fd)
{
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof buf);
	bool quit = n >= 4 && memcmp(buf, "QUIT", 4) == 0;
	if (n > 0 && !quit && write(fd, buf, (size_t)n) == n)
		return;
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned port = 0, late = 0, conns = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--late-thread") == 0 && i + 1 < argc)
			late = (unsigned)atoi(argv[++i]);
		else
			port = (unsigned)atoi(argv[i]);
	int lfd = test_listen(port, 0), wake[2] = { -1, -1 };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || efd < 0 || ep < 0) {
		perror("blocked_calls");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pid_t self = getpid(), feeder = late ? 0 : fork();
	if (!late && feeder == 0)
		feed(efd, self);
	unsigned long ticks = 0;
	pthread_t keeper;
	bool kept = !late && start_thread(&keeper, housekeep, &ticks);
	if (!late && !kept) {
		perror("blocked_calls: pthread_create");
		return 1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = efd }, got[1];
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("listening on 127.0.0.1:%u\n", test_local_port(lfd));
	fflush(stdout);
	while (!stopping) {
		int res = epoll_wait(ep, got, 1, -1);
		if (res < 0 && errno == EINTR)
			continue;
		if (res != 1)
			bad("epoll_wait", res);
		if (got[0].data.fd == lfd) {
			conns += serve(lfd, ep);
			if (late && conns == late && pipe(wake) == 0 && start_thread(&keeper, idle, &wake[0]))
				kept = true;
			continue;
		}
		if (got[0].data.fd != efd) {
			echo(ep, got[0].data.fd);
			continue;
		}
		uint64_t v;
		ssize_t n = read(efd, &v, sizeof v);
		if (n != (ssize_t)sizeof v && !(n < 0 && errno == EAGAIN))
			bad("read", (long)n);
	}
	if (wake[1] >= 0 && write(wake[1], "", 1) < 0)
		perror("blocked_calls: write");
	if (kept)
		pthread_join(keeper, NULL);
	if (wake[0] >= 0) {
		close(wake[0]);
		close(wake[1]);
	}
	if (feeder > 0) {
		kill(feeder, SIGKILL);
		waitpid(feeder, NULL, 0);
	}
	close(ep);
	close(efd);
	close(lfd);
	return 0;
}

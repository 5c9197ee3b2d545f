/* confserver: a server set up like many daemons are, for tests/suites/test_drive.c.
 *
 *   confserver CONFIG
 *
 * Everything comes from the CONFIG file, one "key value" per line: "port N" (required),
 * "greeting yes" (send "\0HELLO\n" first on every connection), "leak yes" (keep 100 bytes per
 * connection), "lose yes" (lose 33 bytes once at start-up: the one-time loss at exit that a
 * suppression is for). It says "server started" on STDERR, never on stdout. The protocol is
 * binary: a message starting with byte 0x01 is answered "\x02\0OK\n"; "QUIT" closes; anything
 * else is answered "\x15ERR\n". One connection at a time.
 * What a checker must see: clean while running (the leak yes twin: +1 block, +100 B per
 * connection, all freed at SIGTERM); at exit nothing lost, or with "lose yes" 33 bytes
 * definitely lost in 1 block (allocated in lose_once). */
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
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

struct kept {
	struct kept *next;          /* strong ref, freed at SIGTERM */
	char data[92];
};

static volatile sig_atomic_t stop;
static struct kept *kept;       /* owned: "leak yes" keeps one per connection */

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void *volatile sink;     /* so the compiler keeps the allocation it cannot see used */

static __attribute__((noinline)) void lose_once(void)
{
	sink = malloc(33);
	sink = NULL; /* lost for good: a one-time loss at exit */
}

static void serve(int fd, bool greeting, bool leak)
{
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (greeting && write(fd, "\0HELLO\n", 7) != 7)
		goto out;
	if (leak) {
		struct kept *k = calloc(1, sizeof *k);
		if (k) {
			k->next = kept;
			kept = k;
		}
	}
	while (!stop) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0 || (n >= 4 && memcmp(buf, "QUIT", 4) == 0))
			break;
		const char *reply = buf[0] == 0x01 ? "\x02\0OK\n" : "\x15" "ERR\n";
		size_t len = buf[0] == 0x01 ? 6 : 5;
		if (write(fd, reply, len) != (ssize_t)len)
			break;
	}
out:
	close(fd);
}

int main(int argc, char **argv)
{
	char key[64], value[64], line[256];
	unsigned port = 0;
	bool greeting = false, leak = false;
	FILE *f = argc == 2 ? fopen(argv[1], "r") : NULL;
	if (!f) {
		fprintf(stderr, "usage: confserver CONFIG (a readable file)\n");
		return 2;
	}
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%63s %63s", key, value) == 2) {
			bool yes = strcmp(value, "yes") == 0;
			if (strcmp(key, "port") == 0)
				port = (unsigned)strtoul(value, NULL, 10);
			greeting |= strcmp(key, "greeting") == 0 && yes;
			leak |= strcmp(key, "leak") == 0 && yes;
			if (strcmp(key, "lose") == 0 && yes)
				lose_once();
		}
	fclose(f);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	alarm(120);
	int lfd = port ? test_listen(port, 0) : -1;
	if (lfd < 0) {
		fprintf(stderr, "confserver: cannot listen on port %u\n", port);
		return 2;
	}
	fprintf(stderr, "server started\n");
	while (!stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve(fd, greeting, leak);
		else if (errno != EINTR && errno != ECONNABORTED)
			break;
	}
	close(lfd);
	while (kept) {
		struct kept *next = kept->next;
		free(kept);
		kept = next;
	}
	return 0;
}

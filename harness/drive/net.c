/* Loopback client helpers: see net.h. */
#define _GNU_SOURCE
#include "drive/net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "drive/proc.h"

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

int lc__free_port(unsigned *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof a;
	int rc = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
		*port = ntohs(a.sin_port);
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Wait for events on fd until the deadline; 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - lc__now();
		if (lc__cancelled()) {
			errno = EINTR;
			return -1;
		}
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int lc__connect(unsigned port, double timeout)
{
	double deadline = lc__now() + timeout;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = loopback(port);
	int err = 0;
	socklen_t elen = sizeof err;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
			errno = err ? err : errno;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int lc__send_all(int fd, const void *buf, size_t len, double timeout)
{
	double deadline = lc__now() + timeout;
	const char *p = buf;
	while (len > 0) {
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

long lc__recv_until(int fd, char *buf, size_t cap, const char *expect, size_t expect_len, double timeout)
{
	double deadline = lc__now() + timeout;
	size_t got = 0;
	while (got < cap) {
		int r = wait_fd(fd, POLLIN, deadline);
		if (r == 0 && got > 0)
			return (long)got; /* something else came: the caller says what */
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (long)got;
		got += (size_t)n;
		if (expect_len == 0 || memmem(buf, got, expect, expect_len))
			break;
	}
	return (long)got;
}

int lc__wait_eof(int fd, double timeout)
{
	double deadline = lc__now() + timeout;
	char buf[512];
	for (;;) {
		int r = wait_fd(fd, POLLIN, deadline);
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return errno == ECONNRESET ? 0 : -1;
	}
}

int lc__close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int rc = setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	return rc; /* -1: it closed with a FIN, not the reset the options asked for */
}

int lc__count_fds(int pid)
{
	return lc__count_fds_below(pid, 0);
}

int lc__count_fds_below(int pid, long below)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	return lc__count_entries_below(path, below);
}

/* ---- which process holds which TCP connection (quiescence beyond one event loop) ---- */

struct tcp_entry {
	unsigned long inode;
	unsigned lport, rport, state;
	unsigned rqueue;            /* bytes received, not read yet */
};

static int read_proc_tcp(struct tcp_entry *t, int cap);

#define DIAG_BUF 65536
#define TCP_TABLE 8192 /* sockets read from the tables at most (a table is 192 kB: on the heap) */

/* The family the connections to a port were last found in (diag_lookup): a dump walks every
 * bucket of the kernel's TCP hash, ~14 ms a family here, so the other family is dumped only
 * when it may hold something (see lc__sockets_pending). */
static struct {
	unsigned port;
	int family;
} seen;

/* A sock_diag socket whose reads give up after a second: the kernel answers at once, but no
 * wait here is without a deadline. -1 if sock_diag is not there. */
static int diag_socket(void)
{
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* One family's TCP sockets but TIME_WAIT ones, from the kernel's sock_diag netlink interface,
 * appended to t[n..cap). Returns the new count, -1 if the interface is not there. */
static int diag_dump(int family, struct tcp_entry *t, int n, int cap)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = ~(1u << 6) }, /* TCP_TIME_WAIT: no inode, and thousands of them */
	};
	char *buf = malloc(DIAG_BUF); /* a dump's datagrams are up to this large */
	int fd = diag_socket(), result = -1;
	if (!buf || fd < 0 || send(fd, &req, sizeof req, 0) != (ssize_t)sizeof req)
		goto out;
	for (;;) {
		ssize_t len = recv(fd, buf, DIAG_BUF, 0);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			goto out;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				result = n;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto out;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (n < cap)
				t[n++] = (struct tcp_entry){ .inode = m->idiag_inode, .lport = ntohs(m->id.idiag_sport),
							     .rport = ntohs(m->id.idiag_dport), .state = m->idiag_state,
							     .rqueue = m->idiag_rqueue };
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return result;
}

/* Every TCP socket but TIME_WAIT ones (up to cap). Returns the count, -1 if unreadable.
 * sock_diag first: /proc/net/tcp formats every entry as text, and took 22 ms here with
 * 6,000 TIME_WAIT entries left by earlier runs; a dump that skips them took ~4 ms. */
static int read_tcp(struct tcp_entry *t, int cap)
{
	int n = diag_dump(AF_INET, t, 0, cap);
	if (n >= 0 && (n = diag_dump(AF_INET6, t, n, cap)) >= 0)
		return n;
	return read_proc_tcp(t, cap);
}

/* Rows of /proc/net/tcp and tcp6 (up to cap). Returns the count, -1 if unreadable. */
static int read_proc_tcp(struct tcp_entry *t, int cap)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int n = 0;
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");
		char line[512];
		if (!f) {
			if (i == 0)
				return -1;
			continue;
		}
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		while (n < cap && fgets(line, sizeof line, f)) {
			char local[64], remote[64];
			struct tcp_entry e;
			if (sscanf(line, "%*s %63s %63s %x %*x:%x %*s %*s %*s %*s %lu", local, remote, &e.state, &e.rqueue,
				   &e.inode) != 5)
				continue;
			char *lc = strrchr(local, ':'), *rc = strrchr(remote, ':');
			e.lport = lc ? (unsigned)strtoul(lc + 1, NULL, 16) : 0;
			e.rport = rc ? (unsigned)strtoul(rc + 1, NULL, 16) : 0;
			t[n++] = e;
		}
		fclose(f);
	}
	return n;
}

int lc__server_pending(unsigned port)
{
	struct tcp_entry *t = malloc(TCP_TABLE * sizeof *t);
	int n = t ? read_proc_tcp(t, TCP_TABLE) : -1, pending = 0;
	for (int i = 0; i < n; i++) /* ESTABLISHED, SYN_RECV, CLOSE_WAIT */
		pending += t[i].lport == port && (t[i].state == 0x01 || t[i].state == 0x03 || t[i].state == 0x08);
	free(t);
	return n < 0 ? -1 : pending;
}

/* Is the inode listed in one of the other socket tables (udp, unix, netlink, raw)? Then it
 * is a socket of another kind, not a TCP connection that a reset already took off the tables. */
static bool other_socket(unsigned long inode)
{
	static const struct { const char *path; int col; } tabs[] = {
		{ "/proc/net/udp", 10 }, { "/proc/net/udp6", 10 }, { "/proc/net/raw", 10 },
		{ "/proc/net/raw6", 10 }, { "/proc/net/unix", 7 }, { "/proc/net/netlink", 9 },
	};
	for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
		FILE *f = fopen(tabs[i].path, "r");
		char line[1024];
		bool found = false;
		while (f && !found && fgets(line, sizeof line, f)) {
			char *tok = strtok(line, " \t\n");
			for (int c = 1; tok && c < tabs[i].col; c++)
				tok = strtok(NULL, " \t\n");
			found = tok && strtoul(tok, NULL, 10) == inode;
		}
		if (f)
			fclose(f);
		if (found)
			return true;
	}
	return false;
}

static const struct tcp_entry *find_inode(const struct tcp_entry *t, int n, unsigned long inode)
{
	for (int i = 0; i < n; i++)
		if (t[i].inode == inode)
			return &t[i];
	return NULL;
}

/* Calls fn(inode, arg) for every socket fd of pid; stops when fn returns true. */
static bool each_socket(int pid, bool (*fn)(unsigned long, void *), void *arg)
{
	char path[64], link[96], target[64];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	struct dirent *e;
	bool stop = false;
	while (d && !stop && (e = readdir(d))) {
		snprintf(link, sizeof link, "%s/%.20s", path, e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "socket:[", 8) == 0)
			stop = fn(strtoul(target + 8, NULL, 10), arg);
	}
	if (d)
		closedir(d);
	return stop;
}

struct pending_ctx {
	const struct tcp_entry *t;
	int n;
	unsigned port;
	int count;
};

static bool count_unclosed(unsigned long inode, void *arg)
{
	struct pending_ctx *c = arg;
	const struct tcp_entry *e = find_inode(c->t, c->n, inode);
	if (!e && !other_socket(inode))
		c->count++; /* reset by the peer, off the tables, fd still open: not handled yet */
	return false;
}

/* Pending sockets in t[0..n): the port's unclosed connections, and socket fds of pids that t
 * does not list (*missing counts them: reset, or in a table not read). */
static int count_pending_in(const struct tcp_entry *t, int n, unsigned port, const int *pids, size_t npids,
			    int *missing)
{
	struct pending_ctx c = { t, n, port, 0 };
	int listed = 0;
	for (int i = 0; i < n; i++)
		if (t[i].lport == port && (t[i].state == 0x01 || t[i].state == 0x03 || t[i].state == 0x08))
			listed++;
	for (size_t i = 0; i < npids; i++)
		each_socket(pids[i], count_unclosed, &c);
	*missing = c.count;
	return listed + c.count;
}

static int sockets_pending(struct tcp_entry *t, unsigned port, const int *pids, size_t npids)
{
	int missing, n, count;
	if (seen.port != port) { /* the family is not known yet: both */
		n = read_tcp(t, TCP_TABLE);
		return n < 0 ? -1 : count_pending_in(t, n, port, pids, npids, &missing);
	}
	/* The connections are all in one family; a socket fd missing from it may be in the other
	 * (a listener of each family): then that one too, before an fd is called unclosed. */
	n = diag_dump(seen.family, t, 0, TCP_TABLE);
	if (n < 0)
		n = read_proc_tcp(t, TCP_TABLE);
	else if ((count = count_pending_in(t, n, port, pids, npids, &missing)) >= 0 && missing == 0)
		return count;
	else
		n = diag_dump(seen.family == AF_INET ? AF_INET6 : AF_INET, t, n, TCP_TABLE);
	return n < 0 ? -1 : count_pending_in(t, n, port, pids, npids, &missing);
}

int lc__sockets_pending(unsigned port, const int *pids, size_t npids)
{
	struct tcp_entry *t = malloc(TCP_TABLE * sizeof *t);
	int n = t ? sockets_pending(t, port, pids, npids) : -1;
	free(t);
	return n;
}

struct inodes_ctx {
	unsigned long *out;
	size_t n, cap;
};

static bool add_inode(unsigned long inode, void *arg)
{
	struct inodes_ctx *c = arg;
	if (c->n < c->cap)
		c->out[c->n] = inode;
	c->n++;
	return c->n > c->cap; /* over: stop */
}

size_t lc__socket_inodes(const int *pids, size_t npids, unsigned long *out, size_t cap)
{
	struct inodes_ctx c = { out, 0, cap };
	for (size_t i = 0; i < npids && c.n <= cap; i++)
		each_socket(pids[i], add_inode, &c);
	return c.n > cap ? cap + 1 : c.n;
}

struct owner_ctx {
	unsigned long inode;
};

static bool is_inode(unsigned long inode, void *arg)
{
	return inode == ((struct owner_ctx *)arg)->inode;
}

/* The inode of the established TCP socket 127.0.0.1:port <-> 127.0.0.1:peer, looked up by the
 * kernel directly (no dump: a dump walks every TIME_WAIT socket, ~6 ms with 7,000 of them);
 * in AF_INET, then AF_INET6 (a dual-stack listener's v4-mapped sockets). 0 if none, -1 if
 * sock_diag is not there. */
static long diag_find(unsigned port, unsigned peer, unsigned *rqueue);

static long diag_lookup(unsigned port, unsigned peer)
{
	unsigned rq;
	return diag_find(port, peer, &rq);
}

long lc__server_unread(unsigned port, unsigned peer)
{
	unsigned rq = 0;
	long inode = diag_find(port, peer, &rq);
	if (inode > 0)
		return (long)rq;
	/* A connection the server has not accepted yet is not found by the kernel's lookup (it
	 * answers with the listener), though a dump lists it, with what it holds unread. */
	struct tcp_entry *t = malloc(TCP_TABLE * sizeof *t);
	int n = t ? read_tcp(t, TCP_TABLE) : -1;
	long unread = n < 0 ? inode : 0;
	for (int i = 0; i < n; i++)
		if (t[i].lport == port && t[i].rport == peer && t[i].state == 0x01) {
			unread = (long)t[i].rqueue;
			break;
		}
	free(t);
	return unread;
}

/* diag_lookup's work: also the bytes the server has not read yet from that connection. */
static long diag_find(unsigned port, unsigned peer, unsigned *rqueue)
{
	static const int families[] = { AF_INET, AF_INET6 };
	long result = -1;
	for (int f = 0; f < 2; f++) {
		struct {
			struct nlmsghdr nlh;
			struct inet_diag_req_v2 r;
		} req = {
			.nlh = { .nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST },
			.r = { .sdiag_family = (unsigned char)families[f], .sdiag_protocol = IPPROTO_TCP,
			       .idiag_states = 1u << 1, /* ESTABLISHED */
			       .id = { .idiag_sport = htons((uint16_t)port), .idiag_dport = htons((uint16_t)peer),
				       .idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } } },
		};
		uint32_t lo = htonl(INADDR_LOOPBACK);
		if (families[f] == AF_INET) {
			req.r.id.idiag_src[0] = req.r.id.idiag_dst[0] = lo;
		} else { /* ::ffff:127.0.0.1 */
			req.r.id.idiag_src[2] = req.r.id.idiag_dst[2] = htonl(0xffff);
			req.r.id.idiag_src[3] = req.r.id.idiag_dst[3] = lo;
		}
		char buf[1024];
		int fd = diag_socket();
		ssize_t len = fd >= 0 && send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req ? recv(fd, buf, sizeof buf, 0) : -1;
		if (fd >= 0)
			close(fd);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		if (len < (ssize_t)sizeof *h || !NLMSG_OK(h, (size_t)len))
			return result;
		const struct inet_diag_msg *m = NLMSG_DATA(h);
		/* the kernel's lookup falls back to the listener: only the connection itself counts */
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && m->idiag_state == 1 && ntohs(m->id.idiag_dport) == peer) {
			seen.port = port;
			seen.family = families[f];
			*rqueue = m->idiag_rqueue;
			return (long)m->idiag_inode;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
			return 0;
		result = 0; /* NLMSG_ERROR: not in this family (ENOENT) */
	}
	return result;
}

int lc__socket_owner(unsigned port, unsigned peer_port, const int *pids, size_t npids)
{
	struct owner_ctx c = { 0 };
	long inode = diag_lookup(port, peer_port);
	if (inode > 0)
		c.inode = (unsigned long)inode;
	struct tcp_entry *t = inode < 0 ? malloc(TCP_TABLE * sizeof *t) : NULL;
	for (int i = 0, n = t ? read_tcp(t, TCP_TABLE) : 0; i < n && !c.inode; i++)
		if (t[i].lport == port && t[i].rport == peer_port && t[i].state == 0x01)
			c.inode = t[i].inode;
	free(t);
	if (!c.inode)
		return 0;
	for (size_t i = 0; i < npids; i++)
		if (each_socket(pids[i], is_inode, &c))
			return pids[i];
	DIR *d = opendir("/proc"); /* not one of ours: whose, then? */
	struct dirent *e;
	int owner = 0;
	while (d && !owner && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 0 && each_socket(pid, is_inode, &c))
			owner = pid;
	}
	if (d)
		closedir(d);
	return owner;
}

unsigned lc__local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	return getsockname(fd, (struct sockaddr *)&a, &len) == 0 ? ntohs(a.sin_port) : 0;
}

int lc__read_counter(int fd, const char *req, size_t len, const char *field, double timeout, long *value, char *err,
		    size_t errlen)
{
	regex_t re;
	regmatch_t m[2];
	char buf[4096];
	size_t got = 0;
	int rc = -1;
	if (regcomp(&re, field, REG_EXTENDED | REG_NEWLINE) != 0) {
		snprintf(err, errlen, "bad --stats-field regex: %s", field);
		return -1;
	}
	double deadline = lc__now() + timeout;
	if (lc__send_all(fd, req, len, timeout) < 0) {
		snprintf(err, errlen, "cannot send --stats: %s", strerror(errno));
		goto out;
	}
	while (got < sizeof buf - 1) {
		double left = deadline - lc__now();
		long n = left > 0 ? lc__recv_until(fd, buf + got, sizeof buf - 1 - got, "\n", 1, left) : -1;
		if (n <= 0) {
			snprintf(err, errlen, "no line matching --stats-field '%s' in the reply to --stats (%s)", field,
				 n == 0 ? "the server closed the connection" : "timeout");
			goto out;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (regexec(&re, buf, 2, m, 0) == 0 && m[1].rm_so >= 0) {
			*value = strtol(buf + m[1].rm_so, NULL, 10);
			rc = 0;
			goto out;
		}
	}
	snprintf(err, errlen, "no line matching --stats-field '%s' in 4 KiB of reply to --stats", field);
out:
	regfree(&re);
	return rc;
}

/* Loopback client side of the harness: connects only to 127.0.0.1, every call has a deadline. */
#ifndef LC_NET_H
#define LC_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "lc/records.h"

/* A loopback port that was free a moment ago (bind to port 0, read it, close). */
int lc__free_port(unsigned *port);
/* Connect to 127.0.0.1:port within timeout seconds. Returns the fd (blocking, CLOEXEC) or -1. */
int lc__connect(unsigned port, double timeout);
/* Send all bytes within the deadline. Returns 0 or -1 (errno set, ETIMEDOUT on deadline). */
int lc__send_all(int fd, const void *buf, size_t len, double timeout);
/* Read into buf until it contains expect (or, with expect_len 0, until any byte arrives),
 * until EOF, or until the deadline. Returns bytes read (>= 0; at the deadline only if some
 * came), or -1 (errno set; ETIMEDOUT when nothing came in time). */
long lc__recv_until(int fd, char *buf, size_t cap, const char *expect, size_t expect_len, double timeout);
/* Wait until the peer closes (read returns 0). Returns 0, or -1 on timeout or error. */
int lc__wait_eof(int fd, double timeout);
/* Close abruptly: SO_LINGER 0, so the server sees ECONNRESET. Returns -1 (errno set) if
 * SO_LINGER could not be set: the fd is closed all the same, with an ordinary FIN. */
int lc__close_reset(int fd);
/* Server-side TCP sockets on local port `port` the server has not closed yet
 * (ESTABLISHED, SYN_RECV, CLOSE_WAIT in /proc/net/tcp and tcp6); -1 if unreadable. */
int lc__server_pending(unsigned port);
/* Bytes the server has not read yet from its end of the connection from local port peer (its
 * socket's receive queue, from sock_diag): 0 once it took what it was sent; 0 as well when the
 * connection is gone; -1 when sock_diag is not there. */
long lc__server_unread(unsigned port, unsigned peer);
/* Connections the server has yet to close: TCP sockets on `port` in ESTABLISHED, SYN_RECV or
 * CLOSE_WAIT, plus socket fds of the given processes that a reset took off the TCP tables
 * but that are still open (a thread has not handled the reset yet). -1 if unreadable. */
int lc__sockets_pending(unsigned port, const int *pids, size_t npids);
/* The pid holding the server end of the connection 127.0.0.1:peer_port -> port: one of pids
 * if it is theirs, else any process's; 0 if none is found. */
int lc__socket_owner(unsigned port, unsigned peer_port, const int *pids, size_t npids);
/* The socket inodes the processes hold (their /proc/PID/fd), up to cap. Returns how many, or
 * cap + 1 when there are more. */
size_t lc__socket_inodes(const int *pids, size_t npids, unsigned long *out, size_t cap);
/* The local port of a connected socket (0 on error). */
unsigned lc__local_port(int fd);
/* Open fds of a process (/proc/PID/fd), -1 if unreadable. */
int lc__count_fds(int pid);
/* The same, of the fds numbered under below (0: all). */
int lc__count_fds_below(int pid, long below);
/* Parse "eof|server|reset|mix". Returns 0 or -1. */
/* Send req (len bytes) on fd and read lines until the extended regex field (group 1: the
 * number) matches one, within timeout seconds: the server's own counter (--stats). Returns 0
 * with *value, or -1 with a reason. */
int lc__read_counter(int fd, const char *req, size_t len, const char *field, double timeout, long *value, char *err,
		    size_t errlen);

#endif

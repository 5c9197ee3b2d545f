/* The listening socket every test server opens (shapes, misbehave, holders, confserver): on
 * 127.0.0.1, with SO_REUSEADDR as the runtime does. Kept apart from the harness library: the
 * servers under test must not share code with what judges them. */
#ifndef LC_TEST_LISTEN_H
#define LC_TEST_LISTEN_H

/* Listen on 127.0.0.1:port (0: an ephemeral port); flags adds SOCK_NONBLOCK or 0. Returns the
 * fd, or -1 (errno set). */
int test_listen(unsigned port, int flags);
/* The port fd is bound to, or 0. */
unsigned test_local_port(int fd);

#endif

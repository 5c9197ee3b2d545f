/* A single-threaded TCP line server on 127.0.0.1: the loop every case pair runs on.
 *
 * Protocol: each line is echoed back (or handed to ops->on_line); "QUIT" makes the server
 * close that connection; "STATS" answers one line:
 *     STATS open=<connections> objects=<live objects> <Type>=<live> ...
 * A line longer than SERVER_LINE_MAX is answered "ERR line too long" and discarded.
 *
 * Every connection leaves through one close path (libuv's uv_close), in this order:
 *   1. unlink from the server's connection list,  2. ops->on_close (the case lets go),
 *   3. close the socket,  4. free the runtime's buffers.
 * Client EOF, QUIT, errors (ECONNRESET...) and shutdown (SIGTERM/SIGINT) all use it; after
 * shutdown ops->on_shutdown frees what the case keeps globally, and server_main returns 0. */
#ifndef RT_SERVER_H
#define RT_SERVER_H

#include <stddef.h>

#define SERVER_LINE_MAX 1024          /* longest line accepted, newline included */
#define SERVER_OUT_MAX (256 * 1024)   /* unsent reply bytes before a non-reading client is dropped */

struct server_conn;

struct server_ops {
	/* After accept. Returns the case's per-connection object (passed back below), or NULL
	 * for none. peer is "127.0.0.1:PORT", borrowed for the call. */
	void *(*on_open)(struct server_conn *sc, const char *peer);
	/* Each complete line, newline stripped; may contain NUL bytes. NULL: echo. */
	void (*on_line)(struct server_conn *sc, void *user, const char *line, size_t len);
	/* Step 2 of the close path: the case lets go of user. sc is still valid. */
	void (*on_close)(struct server_conn *sc, void *user);
	/* After every connection is closed at shutdown: free the case's globals. */
	void (*on_shutdown)(void);
};

/* Queue bytes for the client; the loop writes them when the socket is writable. */
void server_send(struct server_conn *sc, const void *data, size_t len);
/* Ask the loop to close sc once the current event is handled (after pending output). */
void server_close_later(struct server_conn *sc);

/* Parses "[PORT]" or "--port PORT" (0 = ephemeral), serves until SIGTERM/SIGINT.
 * Returns the process exit status: 0 after an orderly shutdown, 2 on bad usage or setup error. */
int server_main(int argc, char **argv, const struct server_ops *ops);

#endif

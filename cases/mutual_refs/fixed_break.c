/* mutual_refs/fixed_break.c: the strong cycle stays, and on_close, the one close path, breaks it.
 *
 * Python: conn.handler = ConnectionHandler(conn), and the handler keeps self.conn. The pair
 * outlives the client until the cyclic GC runs. C refcounting has no cycle collector: never.
 * fixed.c: the handler holds a weak reference, and a strong one only while handling a line.
 * fixed_break.c: the strong cycle stays; on_close, the one close path, breaks it.
 *
 * Per connection: struct conn 64 B + peer 32 B + buf 256 B + struct handler 48 B
 * = 4 blocks, 400 bytes (x86_64; fixed.c's handler is 64 B, a struct weak being 24 B).
 * What the tools report after N connections (any close mode), then SIGTERM:
 *
 *                                       leaky.c                        fixed.c, fixed_break.c
 *   retained while running, from        +4 blocks, +400 bytes per      +0
 *     vgdb leak_check ... reachable any   connection: 64 B in 1 block
 *                                         (conn) definitely lost, 336 B in 3
 *                                         (peer, buf, handler)
 *                                         indirectly lost (*)
 *   STATS on one more connection        open=1 objects=2N+2            open=1 objects=2
 *                                         Connection=N+1                 Connection=1
 *                                         ConnectionHandler=N+1          ConnectionHandler=1
 *   lost at exit (definite+indirect)    400N bytes in 4N blocks:       0
 *                                         "400N (64N direct, 336N
 *                                         indirect) bytes in N blocks
 *                                         are definitely lost"
 *   still reachable at exit             0                              0
 *
 * Connections still open at SIGTERM leave through on_close too, and leak the same way.
 * (*) While running, a stale pointer into the last echo's buf can move its 256 B from
 * indirectly to possibly lost; which block of a cycle is the direct one depends on allocation
 * order. Count definite + indirect (+ possible) together. A cycle has no outside pointer, so
 * unlike a list or a registry the exit check does see it.
 *
 * For tests/suites/test_cases.c: leaky.c per connection while running and at exit, and what
 * leakcheck names as the holder of every growing site ("held by:"; cycle: no root, a cycle):
 *   leakcheck-expect: retained_blocks=4 retained_bytes=400 lost_blocks=4 lost_bytes=400 holder=cycle
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/list.h"
#include "rt/obj.h"
#include "rt/server.h"

#define CONN_PEER_SIZE 32	/* fixed, so every connection costs the same bytes */
#define CONN_BUF_SIZE 256

struct handler;

/* ---- Connection ---- */

struct conn {
	struct obj obj;			/* first: refcount, weak refs, live count */
	struct handler *handler;	/* strong ref: this connection's handler */
	struct server_conn *sc;		/* borrowed: valid until on_close */
	char *peer;			/* owned: "127.0.0.1:PORT" */
	char *buf;			/* owned: CONN_BUF_SIZE bytes, the reply is built here */
};

static void conn_destroy(struct obj *o);
static struct obj_type conn_type = OBJ_TYPE_INIT("Connection", conn_destroy);

static struct conn *conn_of(struct obj *o)
{
	return o ? list_entry(o, struct conn, obj) : NULL;
}

static void conn_put(struct conn *c)
{
	obj_put(&c->obj);
}

/* One write per reply: the line and its newline, built in the connection's buffer. */
static void conn_send_line(struct conn *c, const char *line, size_t len)
{
	if (len >= CONN_BUF_SIZE) {
		server_send(c->sc, line, len);
		server_send(c->sc, "\n", 1);
		return;
	}
	memcpy(c->buf, line, len);
	c->buf[len] = '\n';
	server_send(c->sc, c->buf, len + 1);
}

/* ---- ConnectionHandler: the protocol logic of one connection ---- */

struct handler {
	struct obj obj;			/* first: refcount, weak refs, live count */
	struct conn *conn;		/* strong ref: the back-reference that closes the cycle */
	unsigned long lines;
};

static void handler_destroy(struct obj *o);
static struct obj_type handler_type = OBJ_TYPE_INIT("ConnectionHandler", handler_destroy);

static struct handler *handler_new(struct conn *c)
{
	struct handler *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	obj_init(&h->obj, &handler_type);
	h->conn = conn_of(obj_get(&c->obj));
	return h;
}

static void handler_destroy(struct obj *o)
{
	struct handler *h = list_entry(o, struct handler, obj);

	conn_put(h->conn);
	free(h);
}

static void handler_put(struct handler *h)
{
	if (h)
		obj_put(&h->obj);
}

/* Echo, through the connection; holds a reference to it for the duration of the call. */
static void handler_handle(struct handler *h, const char *line, size_t len)
{
	struct conn *c = conn_of(obj_get(&h->conn->obj));

	h->lines++;
	conn_send_line(c, line, len);
	conn_put(c);
}

/* ---- Connection, continued: it owns its handler ---- */

static struct conn *conn_new(struct server_conn *sc, const char *peer)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	obj_init(&c->obj, &conn_type);
	c->sc = sc;
	c->peer = malloc(CONN_PEER_SIZE);
	c->buf = malloc(CONN_BUF_SIZE);
	if (!c->peer || !c->buf)
		goto fail;
	snprintf(c->peer, CONN_PEER_SIZE, "%s", peer);
	c->handler = handler_new(c);
	if (!c->handler)
		goto fail;
	return c;
fail:
	conn_put(c);			/* conn_destroy frees what was allocated */
	return NULL;
}

static void conn_destroy(struct obj *o)
{
	struct conn *c = conn_of(o);

	handler_put(c->handler);
	free(c->buf);
	free(c->peer);
	free(c);
}

/* ---- server callbacks ---- */

static void *on_open(struct server_conn *sc, const char *peer)
{
	struct conn *c = conn_new(sc, peer);

	if (!c)
		server_close_later(sc);	/* out of memory: refuse this client */
	return c;			/* the server's reference, dropped in on_close */
}

static void on_line(struct server_conn *sc, void *user, const char *line, size_t len)
{
	struct conn *c = user;

	(void)sc;
	if (c)
		handler_handle(c->handler, line, len);
}

/* The one close path: client EOF, QUIT, reset, error and shutdown all come through here. */
static void on_close(struct server_conn *sc, void *user)
{
	struct conn *c = user;

	(void)sc;
	if (!c)
		return;
	c->sc = NULL;			/* the server frees sc after this call */
	handler_put(c->handler);	/* break the cycle: the handler drops its conn ref */
	c->handler = NULL;
	conn_put(c);			/* the server's reference */
}

int main(int argc, char **argv)
{
	static const struct server_ops ops = {
		.on_open = on_open,
		.on_line = on_line,
		.on_close = on_close,
	};
	return server_main(argc, argv, &ops);
}

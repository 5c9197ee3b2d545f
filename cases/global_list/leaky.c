/* global_list/leaky.c: every connection goes into a file-scope list that nothing ever leaves.
 *
 * Python: `_connections.append(conn)` on accept, no `_connections.remove(conn)` in a finally:.
 * C: conn_link() in on_open gives all_conns its own reference. fixed.c adds conn_unlink() to
 * on_close, the one close path of every way out (client EOF, QUIT, reset, error, shutdown).
 *
 * Per connection: struct conn 80 B + peer 32 B + buf 256 B = 3 blocks, 368 bytes (x86_64).
 * What the tools report after N connections (any close mode), then SIGTERM:
 *
 *                                       leaky.c                        fixed.c
 *   retained while running, from        +3 blocks, +368 bytes per      +0
 *     vgdb leak_check ... reachable any   connection, "possibly lost" (*)
 *   STATS on one more connection        open=1 objects=N+1             open=1 objects=1
 *                                         Connection=N+1                 Connection=1
 *   lost at exit (definite+indirect)    0 bytes in 0 blocks            0 bytes in 0 blocks
 *   still reachable at exit             0: "All heap blocks were       0 (the same)
 *                                         freed", on_shutdown
 *                                         empties all_conns
 *
 * The exit reports are identical, down to "total heap usage": only a measurement while the
 * server runs tells the two apart. (*) The list links point at &c->node, 32 bytes into each
 * struct conn: memcheck calls a block reached only through interior pointers "possibly lost",
 * and the blocks it points to as well. An open connection (the server holds a start pointer)
 * is "still reachable": count possibly lost + still reachable together.
 *
 * For tests/suites/test_cases.c: leaky.c per connection while running and at exit, and what
 * leakcheck names as the holder of every growing site ("held by:"; cycle: no root, a cycle):
 *   leakcheck-expect: retained_blocks=3 retained_bytes=368 lost_blocks=0 lost_bytes=0 holder=all_conns
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/list.h"
#include "rt/obj.h"
#include "rt/server.h"

#define CONN_PEER_SIZE 32	/* fixed, so every connection costs the same bytes */
#define CONN_BUF_SIZE 256

/* ---- Connection ---- */

struct conn {
	struct obj obj;			/* first: refcount, weak refs, live count */
	struct list node;		/* in all_conns while linked: the list's strong ref */
	struct server_conn *sc;		/* borrowed: valid until on_close */
	char *peer;			/* owned: "127.0.0.1:PORT" */
	char *buf;			/* owned: CONN_BUF_SIZE bytes, the reply is built here */
	unsigned long lines;
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

/* Returns a connection holding one reference, the caller's. */
static struct conn *conn_new(struct server_conn *sc, const char *peer)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	obj_init(&c->obj, &conn_type);
	list_node_init(&c->node);
	c->sc = sc;
	c->peer = malloc(CONN_PEER_SIZE);
	c->buf = malloc(CONN_BUF_SIZE);
	if (!c->peer || !c->buf)
		goto fail;
	snprintf(c->peer, CONN_PEER_SIZE, "%s", peer);
	return c;
fail:
	conn_put(c);			/* conn_destroy frees what was allocated */
	return NULL;
}

static void conn_destroy(struct obj *o)
{
	struct conn *c = conn_of(o);

	assert(!list_linked(&c->node) && "a linked connection holds a reference");
	free(c->buf);
	free(c->peer);
	free(c);
}

/* One write per reply: the line and its newline, built in the connection's buffer. */
static void conn_echo(struct conn *c, const char *line, size_t len)
{
	c->lines++;
	if (len >= CONN_BUF_SIZE) {
		server_send(c->sc, line, len);
		server_send(c->sc, "\n", 1);
		return;
	}
	memcpy(c->buf, line, len);
	c->buf[len] = '\n';
	server_send(c->sc, c->buf, len + 1);
}

/* ---- all_conns: every open connection (a real server would broadcast or count with it) ---- */

static struct list all_conns = { &all_conns, &all_conns }; /* head: struct conn, strong ref each */

/* The list keeps the pointer, so it takes its own reference (ref.h rule 2). */
static void conn_link(struct conn *c)
{
	obj_get(&c->obj);
	list_push(&all_conns, &c->node);
}

/* The only way out of all_conns. list_unlink() NULLs the node, so a second call is a no-op. */
static void conn_unlink(struct conn *c)
{
	if (!list_linked(&c->node))
		return;
	list_unlink(&c->node);
	conn_put(c);			/* the list's reference */
}

/* ---- server callbacks ---- */

static void *on_open(struct server_conn *sc, const char *peer)
{
	struct conn *c = conn_new(sc, peer);

	if (!c) {
		server_close_later(sc);	/* out of memory: refuse this client */
		return NULL;
	}
	conn_link(c);
	return c;			/* the server's reference, dropped in on_close */
}

static void on_line(struct server_conn *sc, void *user, const char *line, size_t len)
{
	(void)sc;
	if (user)
		conn_echo(user, line, len);
}

/* The one close path: client EOF, QUIT, reset, error and shutdown all come through here. */
static void on_close(struct server_conn *sc, void *user)
{
	struct conn *c = user;

	(void)sc;
	if (!c)
		return;
	c->sc = NULL;			/* the server frees sc after this call */
	/* missing: conn_unlink(c), so all_conns keeps its reference to c forever */
	conn_put(c);			/* the server's reference */
}

/* At exit, after every connection went through on_close: free what the module still holds. */
static void on_shutdown(void)
{
	struct list *pos, *tmp;

	list_each_safe(pos, tmp, &all_conns)
		conn_unlink(list_entry(pos, struct conn, node));
}

int main(int argc, char **argv)
{
	static const struct server_ops ops = {
		.on_open = on_open,
		.on_line = on_line,
		.on_close = on_close,
		.on_shutdown = on_shutdown,
	};
	return server_main(argc, argv, &ops);
}

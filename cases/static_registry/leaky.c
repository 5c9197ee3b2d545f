/* static_registry/leaky.c: the Connection "class" registers each instance and never lets go.
 *
 * Python: `Connection._instances.append(self)` in __init__, nothing in dispose(). A class
 * attribute lives as long as the program, so every instance stays alive with it.
 * C: conn_new() registers in the static chain conn_instances, which takes its own reference.
 * fixed.c adds conn_unregister() to conn_dispose(), called from on_close. Not to the
 * destructor: the registry's reference is exactly what keeps the destructor from running.
 *
 * Per connection: struct conn 80 B + peer 32 B + buf 256 B = 3 blocks, 368 bytes (x86_64).
 * What the tools report after N connections (any close mode), then SIGTERM:
 *
 *                                       leaky.c                        fixed.c
 *   retained while running, from        +3 blocks, +368 bytes per      +0
 *     vgdb leak_check ... reachable any   connection, "still reachable"
 *   STATS on one more connection        open=1 objects=N+1             open=1 objects=1
 *                                         Connection=N+1                 Connection=1
 *   lost at exit (definite+indirect)    0 bytes in 0 blocks            0 bytes in 0 blocks
 *   still reachable at exit             0: "All heap blocks were       0 (the same)
 *                                         freed", on_shutdown
 *                                         clears the registry
 *
 * The exit reports are identical, down to "total heap usage": only a measurement while the
 * server runs tells the two apart. The registry links are start pointers (conn_instances and
 * next_instance point at the struct conn itself), so memcheck calls them still reachable.
 *
 * For tests/suites/test_cases.c: leaky.c per connection while running and at exit, and what
 * leakcheck names as the holder of every growing site ("held by:"; cycle: no root, a cycle):
 *   leakcheck-expect: retained_blocks=3 retained_bytes=368 lost_blocks=0 lost_bytes=0 holder=conn_instances
 */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/list.h"
#include "rt/obj.h"
#include "rt/server.h"

#define CONN_PEER_SIZE 32	/* fixed, so every connection costs the same bytes */
#define CONN_BUF_SIZE 256

/* ---- Connection: the "class" and its registry of instances ---- */

struct conn {
	struct obj obj;			/* first: refcount, weak refs, live count */
	struct conn *next_instance;	/* strong ref (the registry's) to the next instance */
	struct server_conn *sc;		/* borrowed: valid until conn_dispose */
	char *peer;			/* owned: "127.0.0.1:PORT" */
	char *buf;			/* owned: CONN_BUF_SIZE bytes, the reply is built here */
	unsigned long lines;
	bool registered;		/* in conn_instances, which holds a reference */
};

/* Class-level state, like a Python class attribute: it lives as long as the program.
 * Kept for statistics (who is connected, since when); newest instance first. */
static struct conn *conn_instances;	/* strong ref (the registry's) to the newest instance */

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

/* The registry keeps the pointer, so it takes its own reference (ref.h rule 2). */
static void conn_register(struct conn *c)
{
	obj_get(&c->obj);
	c->next_instance = conn_instances;
	conn_instances = c;
	c->registered = true;
}

/* O(registered), like list.remove(); a second call is a no-op. */
static void conn_unregister(struct conn *c)
{
	struct conn **pp;

	if (!c->registered)
		return;
	for (pp = &conn_instances; *pp != c; pp = &(*pp)->next_instance)
		;
	*pp = c->next_instance;
	c->next_instance = NULL;
	c->registered = false;
	conn_put(c);			/* the registry's reference */
}

/* The constructor: returns an instance holding the caller's reference, and registers it. */
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
	conn_register(c);
	return c;
fail:
	conn_put(c);			/* conn_destroy frees what was allocated */
	return NULL;
}

/* Runs only once the last reference is gone, so never while the instance is registered. */
static void conn_destroy(struct obj *o)
{
	struct conn *c = conn_of(o);

	assert(!c->registered && "the registry holds a reference");
	free(c->buf);
	free(c->peer);
	free(c);
}

/* Python's dispose(): the instance is done, whoever still holds a reference. */
static void conn_dispose(struct conn *c)
{
	c->sc = NULL;			/* the server frees sc after on_close */
	/* missing: conn_unregister(c), so the class keeps a reference to c forever */
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
	conn_dispose(c);
	conn_put(c);			/* the server's reference */
}

/* At exit, after every connection went through on_close: the class clears its registry. */
static void on_shutdown(void)
{
	while (conn_instances)
		conn_unregister(conn_instances);
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

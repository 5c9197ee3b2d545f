#!/usr/bin/env python3
"""pyshapes: a Python TCP line server in one of the shapes Python servers leak in, and two
that look like leaks and are not. The Python layer's counterpart of tests/servers/shapes.c.

  pyshapes.py MODE [PORT]        (PORT 0 or absent: ephemeral)

Like the cases' twins it listens on 127.0.0.1, prints "listening on 127.0.0.1:PORT" when
ready, echoes lines, closes on "QUIT", and exits 0 on SIGTERM. One connection at a time, each
served to its end however the client leaves (EOF, QUIT, reset). Per connection a Session is
made; what keeps it is the shape:

  sessions    a dict of sessions in the module, keyed by a counter, never emptied
  history     an attribute list of a module-level object (server.history), never trimmed
  callbacks   a closure over the session kept in a module-level callback list
  prefork     the parent forks ONE worker (after the agent is armed) that serves everything
              and keeps its sessions in a module dict: the worker leaks, the parent does not
  cycle       a Session and its Peer hold each other and nothing else does: garbage the
              cyclic collector frees (clean: the collector runs before every snapshot)
  cache       sessions kept in a bounded cache of 32, the oldest dropped: full after the
              warmup (clean)

What the harness must report, natively (tests/suites/test_native.c reads these lines; SOURCE is the
text of the line that makes the object, HOLDER text of the path that holds it):
leakcheck-python sessions: __main__.Session | session = Session(n, peer) | __main__._sessions[
leakcheck-python history: __main__.Session | session = Session(n, peer) | __main__.server.history[
leakcheck-python callbacks: __main__.Session | session = Session(n, peer) | __main__._on_shutdown[
leakcheck-python prefork: __main__.Session | session = Session(n, peer) | __main__._sessions[
leakcheck-python cycle: clean
leakcheck-python cache: clean
Standard library only.
"""
import collections
import os
import signal
import socket
import sys

MODES = ("sessions", "history", "callbacks", "prefork", "cycle", "cache")
_sessions = {}
_on_shutdown = []
_cache = collections.OrderedDict()
CACHE_SIZE = 32


class Session:
    def __init__(self, n, peer):
        self.n = n
        self.peer = peer
        self.buf = bytearray(64)


class Peer:
    def __init__(self, session):
        self.session = session


class Server:
    def __init__(self):
        self.history = []


server = Server()


def keep(mode, session):
    """What the shape does with a served connection's session."""
    if mode in ("sessions", "prefork"):
        _sessions[session.n] = session
    elif mode == "history":
        server.history.append(session)
    elif mode == "callbacks":
        _on_shutdown.append(lambda: session.n)
    elif mode == "cycle":
        session.peer = Peer(session)
    elif mode == "cache":
        _cache[session.n] = session
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def serve_one(conn, n, mode):
    peer = conn.getpeername()
    session = Session(n, peer)
    keep(mode, session)
    f = conn.makefile("rb")
    try:
        for line in f:
            if line.rstrip(b"\r\n") == b"QUIT":
                return
            conn.sendall(line)
    except OSError:
        pass                             # a reset: served to its end all the same
    finally:
        f.close()


def serve(listener, mode):
    n = 0
    while True:
        conn, _ = listener.accept()
        n += 1
        try:
            serve_one(conn, n, mode)
        finally:
            conn.close()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit("usage: pyshapes.py %s [PORT]" % "|".join(MODES))
    mode = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0))
    listener.listen(128)
    print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    if mode != "prefork":
        serve(listener, mode)
    worker = os.fork()
    if worker == 0:
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
        serve(listener, mode)
    listener.close()
    signal.signal(signal.SIGTERM, lambda *a: os.kill(worker, signal.SIGTERM))
    while True:
        try:
            _, status = os.waitpid(worker, 0)
            sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
        except InterruptedError:
            continue


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""mutual_refs/leaky.py: Connection and ConnectionHandler hold strong references to each other.

The post's server made runnable (cases/pyserver.py adds the port argument, the listening line,
STATS and SIGTERM). `diff leaky.py fixed.py` is the fix: the handler holds a weakref.
Unlike the C leaky.c, leaky.py does not leak for ever: CPython's cyclic GC frees each pair,
later. With `--gc off` (reference counting only, as in C) leaky.py's STATS grows by one pair
per connection and fixed.py's stays flat: there is no cycle left to collect. With
`--gc saveall` the collector keeps what it finds in gc.garbage, as Python before 3.4 did with
cycles whose objects had __del__ (PEP 442): leaky.py grows again, fixed.py does not.
leakcheck-native: clean (the cyclic GC frees the pairs). With --gc off the Connection
count grows in leaky.py only, but memory grows in both: the standard library's server keeps
reference cycles of its own (measured: fixed.py --gc off, +1368 B per connection, its
Connection count flat), so without the collector no Python server is clean.
leakcheck-python (with --gc off): __main__.Connection | conn = Connection( | no root: a cycle (Connection.handler -> ConnectionHandler.conn)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyserver  # noqa: E402  (the protocol: port, listening line, STATS, SIGTERM)


class ConnectionHandler:
    def __init__(self, conn):
        self.conn = conn                # strong: closes the cycle conn -> handler -> conn
        self.lines = 0

    def handle(self, line):
        self.lines += 1
        self.conn.send(line)


class Connection:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = "%s:%d" % peer
        self.buf = bytearray(256)
        self.handler = ConnectionHandler(self)

    def send(self, line):
        self.sock.sendall(line)


class Handler(pyserver.StreamRequestHandler):
    def handle(self):
        conn = Connection(self.request, self.client_address)
        for line in self.rfile:
            if line.rstrip(b"\r\n") == b"QUIT":
                return
            conn.handler.handle(line)


if __name__ == "__main__":
    pyserver.serve(Handler, counted=[Connection, ConnectionHandler])

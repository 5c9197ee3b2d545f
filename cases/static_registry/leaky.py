#!/usr/bin/env python3
"""static_registry/leaky.py: the Connection class registers each instance and never lets go.

The post's server made runnable (cases/pyserver.py adds the port argument, the listening line,
STATS and SIGTERM). `diff leaky.py fixed.py` is the fix: dispose() undoes what __init__ did.
Not __del__: the registry's reference is exactly what keeps __del__ from ever running.
STATS after N connections: Connection=N+1 here, Connection=1 in fixed.py.
leakcheck-native: leak (memory grows with every connection kept in the class registry); fixed.py: clean.
leakcheck-python: __main__.Connection | conn = Connection( | __main__.Connection._instances[
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyserver  # noqa: E402  (the protocol: port, listening line, STATS, SIGTERM)


class Connection:
    _instances = []                     # class attribute: lives as long as the program

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = "%s:%d" % peer
        self.buf = bytearray(256)
        Connection._instances.append(self)

    def dispose(self):
        self.sock = None                # done with the socket, but still in _instances

    # Unregistering in __del__ would not help: while _instances refers to self,
    # the reference count never drops to zero and __del__ never runs.


class Handler(pyserver.StreamRequestHandler):
    def handle(self):
        conn = Connection(self.request, self.client_address)
        try:
            for line in self.rfile:
                if line.rstrip(b"\r\n") == b"QUIT":
                    return
                self.wfile.write(line)
        finally:
            conn.dispose()


if __name__ == "__main__":
    pyserver.serve(Handler, counted=[Connection])

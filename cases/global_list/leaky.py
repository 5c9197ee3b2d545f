#!/usr/bin/env python3
"""global_list/leaky.py: every connection goes into a module-level list that nothing empties.

The post's server made runnable (cases/pyserver.py adds the port argument, the listening line,
STATS and SIGTERM). `diff leaky.py fixed.py` is the fix: remove() in a finally:, because a
remove() after the loop would miss QUIT (the return) and a reset (the exception).
STATS after N connections: Connection=N+1 here, Connection=1 in fixed.py.
leakcheck-native: leak (memory grows with every connection kept in _connections); fixed.py: clean.
leakcheck-python: __main__.Connection | conn = Connection( | __main__._connections[
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyserver  # noqa: E402  (the protocol: port, listening line, STATS, SIGTERM)

_connections = []                       # module level: lives as long as the program


class Connection:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = "%s:%d" % peer
        self.buf = bytearray(256)


class Handler(pyserver.StreamRequestHandler):
    def handle(self):
        conn = Connection(self.request, self.client_address)
        _connections.append(conn)
        for line in self.rfile:         # EOF ends the loop, a reset raises ConnectionResetError
            if line.rstrip(b"\r\n") == b"QUIT":
                return
            self.wfile.write(line)
        # nothing ever removes conn from _connections


if __name__ == "__main__":
    pyserver.serve(Handler, counted=[Connection])

#!/usr/bin/env python3
"""global_list/fixed.py: the same server; a finally: removes every connection from the list.

The post's server made runnable (cases/pyserver.py adds the port argument, the listening line,
STATS and SIGTERM). `diff leaky.py fixed.py` is the fix: remove() in a finally:, because a
remove() after the loop would miss QUIT (the return) and a reset (the exception).
STATS after N connections: Connection=N+1 here, Connection=1 in fixed.py.
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
        try:
            for line in self.rfile:     # EOF ends the loop, a reset raises ConnectionResetError
                if line.rstrip(b"\r\n") == b"QUIT":
                    return
                self.wfile.write(line)
        finally:
            _connections.remove(conn)   # EOF, QUIT, reset, any exception


if __name__ == "__main__":
    pyserver.serve(Handler, counted=[Connection])

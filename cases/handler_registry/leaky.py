#!/usr/bin/env python3
"""handler_registry/leaky.py: a named logger and a handler per connection, kept by logging.

The post's server made runnable (cases/pyserver.py adds the port argument, the listening line,
STATS and SIGTERM). logging.getLogger(name) keeps every logger it ever made in
logging.Logger.manager.loggerDict, and each logger keeps its handlers: a name per connection
is a logger and a handler per connection, for ever. `diff leaky.py fixed.py` is the fix: one
logger, and the peer passed with each record (a LoggerAdapter).
STATS after N connections: Logger=N+1 StreamHandler=N+1 here, Logger=1 StreamHandler=1 in fixed.py.
Nothing is logged (INFO records, the WARNING default level): the leak needs no output.
leakcheck-native: leak (memory grows with every logger the manager keeps); fixed.py: clean.
leakcheck-python: logging.Logger | log = logging.getLogger(name) | .manager.loggerDict['conn.
"""
import itertools
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyserver  # noqa: E402  (the protocol: port, listening line, STATS, SIGTERM)


def conn_logger(name):
    log = logging.getLogger(name)       # the manager keeps it: there is no logging.forget(name)
    if not log.handlers:                # configured once per logger
        handler = logging.StreamHandler()   # stderr
        handler.setLevel(logging.WARNING)
        log.addHandler(handler)
    return log


conn_ids = itertools.count(1)           # a session id per connection, never reused


class Connection:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = "%s:%d" % peer
        self.id = next(conn_ids)
        self.log = conn_logger("conn.%d" % self.id)  # a name per connection: a logger each


class Handler(pyserver.StreamRequestHandler):
    def handle(self):
        conn = Connection(self.request, self.client_address)
        conn.log.info("connected")
        try:
            for line in self.rfile:
                if line.rstrip(b"\r\n") == b"QUIT":
                    return
                self.wfile.write(line)
        finally:
            conn.log.info("closed")


if __name__ == "__main__":
    pyserver.serve(Handler, counted=[Connection, logging.Logger, logging.StreamHandler])

"""The Python twins' runtime: what runtime/server.c is to the C cases.

Each case's leaky.py and fixed.py is the post's code made runnable. This module gives them the
protocol every server of this repository speaks, so that the same clients (cases/drive.py,
leakcheck) drive them:

  python3 cases/<pattern>/leaky.py [PORT | --port PORT] [--gc off|saveall]

  - 127.0.0.1 only; PORT 0 or none: ephemeral; "listening on 127.0.0.1:PORT" on stdout once
    the socket listens (flushed: a client waits for this line, never for a sleep);
  - each line is the case's to handle (echo); "STATS" is answered here:
        STATS open=<connections> objects=<live counted objects> <Type>=<live> ...
    and a line over 1024 bytes gets "ERR line too long" (both never reach the case's loop);
  - SIGTERM or SIGINT: the connection being served leaves through its handler (its
    finally: runs), then the process exits 0.

Connections are served one at a time, as socketserver.TCPServer does in the post: the next is
accepted only once the previous handle() has returned, so STATS on a new connection counts
after every earlier close was handled (the C runtime gives the same guarantee).

Live counts come from gc.get_objects(): every instance of a counted class that exists, whether
anything still uses it or not. STATS never runs the collector: a cycle waiting for the cyclic
GC is counted until the GC runs on its own, which is the point of mutual_refs.

--gc off: gc.disable(), reference counting only (what C's refcounting does: cycles are never
freed). --gc saveall: gc.set_debug(gc.DEBUG_SAVEALL): every cycle the collector finds goes to
gc.garbage instead of being freed, which is what Python before 3.4 did with cycles whose objects
had __del__ (PEP 442). Standard library only.
"""
import gc
import os
import selectors
import signal
import socketserver
import sys

LINE_MAX = 1024                 # longest line accepted, newline included (runtime/server.h)
USAGE = "usage: %s [PORT | --port PORT] [--gc off|saveall]"


class _Shutdown(BaseException):
    """Raised by SIGTERM/SIGINT wherever the server is: handle()'s finally: still runs."""


_stopping = False              # set by SIGTERM/SIGINT: the serving loop ends at its next wakeup


def _on_signal(signum, frame):
    # The raise ends a handle() blocked in a read. An exception raised while a finalizer or a
    # weakref callback runs (the cyclic GC, often, with --gc saveall) is only printed ("Exception
    # ignored in ..."), so the flag and the wakeup fd (see _serve_until_signal) end the loop
    # even then: seen once here, a server that went on waiting in select() after SIGTERM.
    global _stopping
    _stopping = True
    raise _Shutdown()


class _Lines:
    """The request's lines as the case sees them: STATS and over-long lines answered here."""

    def __init__(self, handler, rfile):
        self.handler = handler
        self.rfile = rfile

    def __iter__(self):
        for line in self.rfile:  # EOF ends it; a reset raises ConnectionResetError
            if len(line) > LINE_MAX:
                self.handler.wfile.write(b"ERR line too long\n")
            elif line.rstrip(b"\r\n") == b"STATS":
                self.handler.wfile.write(self.handler.server.stats_line())
            else:
                yield line

    def close(self):
        self.rfile.close()


class StreamRequestHandler(socketserver.StreamRequestHandler):
    """socketserver.StreamRequestHandler whose rfile yields the case's lines only."""

    def setup(self):
        super().setup()
        self.server.open_conns += 1
        self.rfile = _Lines(self, self.rfile)

    def finish(self):
        self.server.open_conns -= 1
        super().finish()


class _Server(socketserver.TCPServer):
    allow_reuse_address = True

    def __init__(self, port, handler_class, counted):
        super().__init__(("127.0.0.1", port), handler_class)
        self.counted = counted
        self.open_conns = 0

    def stats_line(self):
        live = {cls: 0 for cls in self.counted}
        for o in gc.get_objects():
            if type(o) in live:
                live[type(o)] += 1
        types = "".join(" %s=%d" % (cls.__name__, n) for cls, n in live.items())
        return ("STATS open=%d objects=%d%s\n" % (self.open_conns, sum(live.values()), types)).encode()

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return              # a client that reset or left mid-reply: a normal way out
        super().handle_error(request, client_address)


def _parse(argv):
    args = list(argv[1:])
    port, gcmode = 0, None
    if args[:1] == ["--port"]:
        args.pop(0)
        if not args:
            raise ValueError
    if args and not args[0].startswith("--"):
        port = int(args.pop(0))
    if args[:1] == ["--gc"] and len(args) >= 2 and args[1] in ("off", "saveall"):
        gcmode = args[1]
        args = args[2:]
    if args or not 0 <= port <= 65535:
        raise ValueError
    return port, gcmode


def serve(handler_class, counted):
    """Serves until SIGTERM/SIGINT; counted: the classes whose live instances STATS shows."""
    try:
        port, gcmode = _parse(sys.argv)
    except ValueError:
        print(USAGE % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    if gcmode == "off":
        gc.disable()
    elif gcmode == "saveall":
        gc.set_debug(gc.DEBUG_SAVEALL)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        server = _Server(port, handler_class, counted)
    except OSError as e:
        print("cannot listen on 127.0.0.1:%d: %s" % (port, e), file=sys.stderr)
        sys.exit(2)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        _serve_until_signal(server)
    except _Shutdown:
        pass
    finally:
        server.server_close()
    sys.exit(0)


def _serve_until_signal(server):
    """serve_forever() with no timer (idle means idle), woken by a signal as well: the C-level
    handler writes to the wakeup fd whatever the Python-level one manages to do."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    with selectors.DefaultSelector() as sel:
        sel.register(server, selectors.EVENT_READ)
        sel.register(wake_r, selectors.EVENT_READ)
        while not _stopping:
            for key, _ in sel.select():
                if key.fileobj == wake_r:
                    os.read(wake_r, 64)
                elif not _stopping:
                    server._handle_request_noblock()

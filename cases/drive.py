#!/usr/bin/env python3
"""Drive connect/echo/disconnect cycles against a case server, then print its STATS line.

usage: python3 cases/drive.py PORT [N] [eof|quit|rst]     (default: 100 cycles, eof)

Each cycle: connect, send "hello", read the echo, then leave by
  eof   the client closes (the server reads EOF),
  quit  the client sends QUIT and waits until the server has closed,
  rst   the client closes with SO_LINGER 0: a reset (the server reads ECONNRESET).
The STATS line comes from one more connection, so it counts that one as open (open=1).
It is answered only after every earlier close was handled (see runtime/server.c), and that
connection asks to QUIT after it: the server closes it, and drive.py returns once it has, so
a leak check run right afterwards sees no connection open (no sleep needed).
"""
import socket
import struct
import sys


def cycle(port, mode):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    s.sendall(b"hello\n")
    if f.readline() != b"hello\n":
        sys.exit("no echo")
    if mode == "quit":
        s.sendall(b"QUIT\n")
        if f.read() != b"":
            sys.exit("unexpected data after QUIT")
    elif mode == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    s.close()


def stats(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"STATS\nQUIT\n")
        f = s.makefile("rb")
        line = f.readline().decode().strip()
        if f.read() != b"":         # EOF: the server has run its close path for this one too
            sys.exit("unexpected data after QUIT")
        return line


def main():
    if not 2 <= len(sys.argv) <= 4:
        sys.exit(__doc__.strip().splitlines()[2])
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    mode = sys.argv[3] if len(sys.argv) > 3 else "eof"
    if mode not in ("eof", "quit", "rst"):
        sys.exit("mode must be eof, quit or rst")
    for _ in range(n):
        cycle(port, mode)
    print(stats(port))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python twins (cases/<pattern>/{leaky,fixed}.py), natively, no valgrind: each must start,
print its listening line, echo, answer STATS and an over-long line, and exit 0 on SIGTERM;
over N connect/disconnect cycles (eof, quit and reset in turn) a leaky twin's live count must
grow by at least one per connection and a fixed twin's must not grow at all.

usage: python3 tests/scripts/twins.py [--cycles N] [PATTERN...]     (default: 200, every pattern)
Exit status 0 if every twin behaved as expected, 1 otherwise. Run from anywhere.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pattern -> the live count that shows the leak, and the runs: (variant, extra args, "grow"|"flat").
# mutual_refs runs with --gc off: reference counting only, as in C, where leaky.py's cycles stay
# and fixed.py has none to leave (with the GC on, leaky.py's pairs are freed late, not never);
# --gc saveall keeps what the GC finds in gc.garbage, as Python < 3.4 did with __del__ cycles.
TWINS = {
    "global_list": ("Connection", [("leaky", [], "grow"), ("fixed", [], "flat")]),
    "static_registry": ("Connection", [("leaky", [], "grow"), ("fixed", [], "flat")]),
    "mutual_refs": ("Connection", [("leaky", ["--gc", "off"], "grow"), ("fixed", ["--gc", "off"], "flat"),
                                   ("leaky", ["--gc", "saveall"], "grow"), ("fixed", ["--gc", "saveall"], "flat")]),
    "handler_registry": ("Logger", [("leaky", [], "grow"), ("fixed", [], "flat")]),
}


def cycle(port, mode):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    s.sendall(b"ping\n")
    if f.readline() != b"ping\n":
        raise AssertionError("no echo")
    if mode == "quit":
        s.sendall(b"QUIT\n")
        if f.read() != b"":
            raise AssertionError("data after QUIT")
    elif mode == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    s.close()


def ask(port, line):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(line)
        return s.makefile("rb").readline().decode().strip()


def live(stats, name):
    m = re.search(r"\b%s=(\d+)" % name, stats)
    if not (stats.startswith("STATS open=") and m):
        raise AssertionError("bad STATS line: %r" % stats)
    return int(m.group(1))


def check(pattern, variant, extra, expect, counted, cycles):
    path = os.path.join(ROOT, "cases", pattern, variant + ".py")
    err = tempfile.TemporaryFile()  # not a pipe: a server that writes much to stderr must not block
    proc = subprocess.Popen([sys.executable, path, "0"] + extra, stdout=subprocess.PIPE, stderr=err,
                            env=dict(os.environ, PYTHONFAULTHANDLER="1"))  # SIGABRT dumps its stack
    try:
        line = proc.stdout.readline().decode()  # blocks until the listening line (or exit)
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            raise AssertionError("no listening line: %r" % line)
        port = int(m.group(1))
        for i in range(5):  # warmup
            cycle(port, "eof")
        if ask(port, b"x" * 2000 + b"\n") != "ERR line too long":
            raise AssertionError("no 'ERR line too long'")
        before = live(ask(port, b"STATS\n"), counted)
        for i in range(cycles):
            cycle(port, ("eof", "quit", "rst")[i % 3])
        stats = ask(port, b"STATS\n")
        grown = live(stats, counted) - before
        ok = grown >= cycles if expect == "grow" else grown == 0
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # say where it hangs
            proc.send_signal(signal.SIGABRT)
            proc.wait()
            err.seek(0)
            raise AssertionError("still running 10 s after SIGTERM: %s" % err.read().decode(errors="replace")[-2000:])
        if status != 0:
            raise AssertionError("exit status %d after SIGTERM" % status)
        err.seek(0)
        text = err.read().decode(errors="replace")
        if text:
            raise AssertionError("stderr not empty: %s" % text[-500:])
        return ok, "%s=%+d over %d connections (%s): %s" % (counted, grown, cycles, expect, stats)
    except (AssertionError, OSError, subprocess.TimeoutExpired) as e:
        return False, "%s" % e
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


def exit_on_signal(sig, frame):
    """SIGTERM or SIGHUP (a runner stopping us): exit through check()'s finally, which kills
    the server it started."""
    sys.exit(128 + sig)


def main():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, exit_on_signal)
    args = sys.argv[1:]
    cycles = 200
    if args[:1] == ["--cycles"]:
        cycles = int(args[1])
        args = args[2:]
    bad = 0
    for pattern in args or sorted(TWINS):
        if pattern not in TWINS:
            sys.exit("twins: no such pattern: %s" % pattern)
        counted, runs = TWINS[pattern]
        for variant, extra, expect in runs:
            t = time.monotonic()
            ok, what = check(pattern, variant, extra, expect, counted, cycles)
            bad += not ok
            print("%-4s %s/%s.py %s (%.1fs): %s" % ("ok" if ok else "FAIL", pattern, variant, " ".join(extra),
                                                   time.monotonic() - t, what))
    print("twins: %d failed" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

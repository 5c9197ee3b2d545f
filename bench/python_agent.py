#!/usr/bin/env python3
"""Section 10 of `make bench`: what the Python agent (harness/pyagent/) costs.

  a. per-connection time of cases/global_list/fixed.py without the agent, with it armed,
     and with it tracing (tracemalloc) at 1, 8 and 25 frames: tracemalloc's frames are the
     main cost, and the harness traces only the explain round, at 8 frames;
  b. on a server holding 100,000 live objects of its own (a list of Session instances
     appended to per connection): the time of one snapshot's command (types, after a full
     collection) and of explain (its site and holder paths, 20 samples);
  c. the agent's memory: the server's VmRSS idle without the agent and with it armed.

Figures, not assertions. usage: python3 bench/python_agent.py [PYTHON]  (default
/usr/bin/python3). Standard library only.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(ROOT, "harness", "pyagent")
PY = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3"

HOLDER = """
import os, socket, sys
class Session:
    def __init__(self, n):
        self.n = n
        self.peer = ("127.0.0.1", n)
_sessions = []
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
n = 0
while True:
    c, _ = s.accept()
    line = c.recv(64)
    for _ in range(int(line or b"1")):
        n += 1
        _sessions.append(Session(n))
    c.sendall(b"ok\\n")
    c.close()
"""


def start(argv, folder, armed):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if armed:
        env["PYTHONPATH"] = AGENT
        env["LEAKCHECK_PYAGENT"] = folder
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = p.stdout.readline()
    port = int(line.rsplit(":", 1)[1])
    sock = os.path.join(folder, "py.%d.sock" % p.pid)
    deadline = time.monotonic() + 10
    while armed and not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.01)
    return p, port, sock


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def ask(sock, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(sock)
    s.sendall((line + "\n").encode())
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    last = out.decode(errors="replace").rstrip("\n").rsplit("\n", 1)[-1]
    if not last.startswith("ok"):
        raise SystemExit("agent: %s: %s" % (line, last))
    fields = dict(f.split("=", 1) for f in last.split()[1:] if "=" in f)
    return int(fields.get("held_us", 0)), out


def echo_us(port, n):
    t0 = time.perf_counter()
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"ping\n")
        c.recv(64)
        c.close()
    return (time.perf_counter() - t0) / n * 1e6


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def median(v):
    return sorted(v)[len(v) // 2]


def per_connection(folder):
    fixed = os.path.join(ROOT, "cases", "global_list", "fixed.py")
    print("   a. per-connection time of cases/global_list/fixed.py (median of 3 runs of 2000)")
    print("      %-28s %10s %8s" % ("", "us", "ratio"))
    base = None
    for what, armed, frames in (("no agent", False, 0), ("agent armed", True, 0), ("tracing, 1 frame", True, 1),
                                ("tracing, 8 frames", True, 8), ("tracing, 25 frames", True, 25)):
        runs = []
        for _ in range(3):
            p, port, sock = start([PY, fixed, "0"], folder, armed)
            try:
                echo_us(port, 200)
                if frames:
                    ask(sock, "trace %d" % frames)
                runs.append(echo_us(port, 2000))
            finally:
                stop(p)
        us = median(runs)
        base = base or us
        print("      %-28s %10.1f %8.2f" % (what, us, us / base))


def big_heap(folder):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(HOLDER)
        script = f.name
    try:
        idle = {}
        for armed in (False, True):
            p, port, sock = start([PY, script], folder, armed)
            time.sleep(0.3)
            idle[armed] = rss_kb(p.pid)
            if not armed:
                stop(p)
        print("   b. a server holding 100,000 live objects (Session instances, one module list)")
        ask(sock, "baseline 0")
        for _ in range(5):                        # 50,000 before tracing
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"10000")
            c.recv(8)
            c.close()
        ask(sock, "trace 8")
        for _ in range(5):                        # 50,000 traced
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"10000")
            c.recv(8)
            c.close()
        types = [ask(sock, "types")[0] for _ in range(3)]
        collect = [ask(sock, "collect")[0] for _ in range(3)]
        explain = []
        for _ in range(3):
            us, out = ask(sock, "explain __main__.Session 20")
            explain.append(us)
        holders = [l for l in out.decode().split("\n") if l.startswith("holder")]
        print("      collect: %.1f ms; types (a snapshot's command): %.1f ms; explain, 20 samples: %.1f ms; "
              "together %.1f ms (target 500)" % (median(collect) / 1e3, median(types) / 1e3,
                                               median(explain) / 1e3, (median(types) + median(explain)) / 1e3))
        print("      explain's holders: %s" % "; ".join(h.split("\t", 1)[1] for h in holders[:2]))
        print("   c. the agent's memory: VmRSS idle %d kB without it, %d kB armed (+%d kB)"
              % (idle[False], idle[True], idle[True] - idle[False]))
        stop(p)
    finally:
        os.unlink(script)


def main():
    folder = tempfile.mkdtemp(prefix="lc-bench-py-")
    try:
        print("\n10. The Python agent (%s): its cost in the server" % PY)
        per_connection(folder)
        big_heap(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""leakcheck's in-process agent for CPython: counts, collects and explains objects.

The harness starts the server with this folder first on PYTHONPATH and
LEAKCHECK_PYAGENT=<folder>; sitecustomize calls arm(folder), which listens on
the Unix socket <folder>/py.<pid>.sock from a daemon thread named
"leakcheck-agent" (and again as py.<childpid>.sock in a forked child).

Protocol: one command per connection. The harness sends one ASCII line ending
in "\\n"; the agent answers zero or more data lines (tab-separated fields, the
first names the kind of line), then one final line, "ok key=value ..." (always
with held_us=<microseconds the command ran>) or "err <one-line reason>", and
closes its end before the harness sees end-of-file, so the harness's counts of
the server's descriptors are exact once it has read the answer.

  ping                       ok pid=P python=X.Y.Z impl=cpython held_us=N
  collect                    ok collected=N gc=on|off|saveall held_us=N  (N: found by every
                             collection since the previous answer, the interpreter's own too)
  baseline <nframes>         ok types=N nframes=F held_us=N   (0 frames: no tracing)
  trace <nframes>            ok nframes=F held_us=N   (tracemalloc from now on; 0: stop it)
  types                      type<TAB>mod.Qual<TAB>now<TAB>baseline<TAB>class|c ...
                             ok collected=N gc=... held_us=N
  explain <mod.Qual> <max>   site<TAB>file<TAB>line<TAB>function<TAB>count ...  (tracing only)
                             holder<TAB>objects<TAB>path ...
                             ok samples=N collected=N gc=... held_us=N

explain's samples are the newest objects of the type with an allocation traceback
(never one the agent's code allocated). Their holders are found in one walk for all
samples: breadth-first down gc.get_referents from every module's globals (and from the
running frames' locals), so each sample gets its shortest path from a root; a sample the
walk never reaches is then searched up its referrers (gc.get_referrers) to name the cycle
holding it, or to say that nothing does. Naming: among paths of one length, the first module
by _module_rank (__main__, then no '_'-prefixed part, then shorter) and the first global by
_name_rank (no leading '_', then shorter), and of a value's several names in one namespace
the one _name_rank prefers (logging.Logger, not logging._loggerClass).

Only the standard library; tracemalloc, sysconfig and ctypes are imported when
a command needs them (baseline), never at startup.
"""
import atexit
import gc
import itertools
import operator
import os
import socket
import sys
import threading
import time
import types

SOCKET_TIMEOUT = 10.0   # a slow or dead harness never blocks the agent for longer
MAX_LINE = 4096         # a command line is short; anything longer is an error
MAX_DEPTH = 12          # steps from a root down to a sample (and up, for the unreached)
MAX_FRONTIER = 2000     # referrers kept per step up (a class has one per instance)
SEARCH_BUDGET = 5.0     # seconds for all holder searches of one explain
LOCAL_SLACK = 3         # a module's global is kept over a frame's local this many steps shorter
MANAGED_DICT = 1 << 4   # Py_TPFLAGS_MANAGED_DICT (3.11): a pre-header before the object
HEAP_TYPE = 1 << 9      # Py_TPFLAGS_HEAPTYPE ...
IMMUTABLE_TYPE = 1 << 8 # ... without Py_TPFLAGS_IMMUTABLETYPE: a class written in Python (a C
                        # extension's types from specs are heap types too, but immutable: _thread.RLock)

_HERE = os.path.realpath(__file__)
_CODE_FILES = {__file__, _HERE, _HERE[:-1] if _HERE.endswith("c") else _HERE}


class _State:
    """Everything the agent keeps; one instance, _st."""
    pid = None          # the process this state's socket belongs to
    folder = None
    path = None         # our socket file
    listener = None
    conn = None         # the connection being served, if any
    thread = None
    baseline = None     # {type name: count}: str keys, int values, so never gc-tracked
    stopping = False    # set at exit: the serving thread ends
    freed = 0           # objects the collector found since the last collect, types or explain
    skip_dirs = None    # stdlib and site-packages folders, each ending in os.sep
    get_tb_raw = None   # ctypes _PyTraceMalloc_GetTraceback for managed-dict instances
    preheader = 0       # bytes before a managed-dict instance where its block starts


_st = _State()


class _Refusal(Exception):
    """A command that cannot run as asked; its message is the err line."""


# ---------------------------------------------------------------- socket and thread

def arm(folder):
    """Listen on folder/py.<pid>.sock from a daemon thread; idempotent per process."""
    if _st.pid == os.getpid():
        return
    first = _st.pid is None
    _st.folder = os.path.abspath(folder)
    _listen()
    if first:
        atexit.register(_stop)
        gc.callbacks.append(_on_gc)
        os.register_at_fork(after_in_child=_rearm_in_child)


def _listen():
    pid = os.getpid()
    path = os.path.join(_st.folder, "py.%d.sock" % pid)
    tmp = os.path.join(_st.folder, ".py.%d.sock.tmp" % pid)
    _remove(tmp)
    # Python sockets are created non-inheritable: close-on-exec already.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(tmp)
        sock.listen(8)
        # The harness looks for py.<pid>.sock: it appears only once it accepts.
        os.rename(tmp, path)
    except BaseException:
        sock.close()
        _remove(tmp)
        raise
    _st.pid, _st.path, _st.listener = pid, path, sock
    thread = threading.Thread(target=_serve, args=(sock,),
                              name="leakcheck-agent", daemon=True)
    _st.thread = thread
    thread.start()


def _rearm_in_child():
    """After os.fork(): the serving thread is gone; serve the child on its own socket."""
    if _st.pid is None:
        return
    # Close our copies only: the parent's socket file stays, it is the parent's.
    for sock in (_st.listener, _st.conn):
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    _st.listener = _st.conn = _st.thread = None
    _st.pid = None
    try:
        _listen()
    except Exception as err:
        sys.stderr.write("leakcheck agent not armed in child %d: %s: %s\n"
                         % (os.getpid(), err.__class__.__name__, err))


def _stop():
    """At exit: end the serving thread, then remove our socket file. A daemon thread still
    blocked in accept() when the interpreter ends keeps what its C stack points at out of
    finalization: memcheck called it lost at exit (30,876 B, in blocks of the interpreter).
    shutdown() wakes the accept (a close() from another thread would not)."""
    if _st.pid != os.getpid():
        return                  # inherited by a forked child that never re-armed
    _st.stopping = True
    thread, listener = _st.thread, _st.listener
    if listener is not None:
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    if thread is not None and thread is not threading.current_thread():
        thread.join(2.0)
    if listener is not None:
        listener.close()
    _unlink_own()
    if gc.isenabled():
        gc.collect()


def _unlink_own():
    # Inherited by forked children: only the process that made the file removes it.
    if _st.pid == os.getpid() and _st.path:
        _remove(_st.path)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _serve(listener):
    while True:
        try:
            conn, _addr = listener.accept()
        except OSError:
            if listener.fileno() < 0 or _st.stopping:
                return          # closed (a fork's child closes its copy), or exiting
            time.sleep(0.05)    # EMFILE and the like: do not spin
            continue
        _st.conn = conn
        try:
            _handle(conn)
        finally:
            _st.conn = None
            conn.close()        # before the harness reads end-of-file


def _handle(conn):
    conn.settimeout(SOCKET_TIMEOUT)
    try:
        line = _read_line(conn)
    except (OSError, ValueError):
        return
    reply = _run(line)
    try:
        conn.sendall(reply.encode("utf-8", "surrogateescape"))
    except OSError:
        pass


def _read_line(conn):
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(512)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise ValueError("command line too long")
    return data.split(b"\n", 1)[0].decode("ascii", "replace").strip()


# ---------------------------------------------------------------- commands

def _run(line):
    """The whole answer to one command line: data lines, then ok or err."""
    start = time.perf_counter_ns()
    try:
        words = line.split()
        if not words:
            return "err empty command\n"
        command = _COMMANDS.get(words[0])
        if command is None:
            return "err unknown command %s\n" % _field(words[0])
        data, fields = command(words[1:])
        held = (time.perf_counter_ns() - start) // 1000
        out = ["\t".join(_field(f) for f in row) + "\n" for row in data]
        out.append("ok %s held_us=%d\n" % (fields, held) if fields else "ok held_us=%d\n" % held)
        return "".join(out)
    except Exception as err:
        return "err %s: %s\n" % (type(err).__name__, _field(str(err)).replace("\t", " "))


def _field(value):
    # Fields never carry the separators of the protocol.
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _cmd_ping(args):
    v = sys.version_info
    version = "%d.%d.%d" % (v.major, v.minor, v.micro)
    if v.releaselevel != "final":   # as platform.python_version() spells it: 3.13.0rc1
        version += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "") + str(v.serial)
    return [], "pid=%d python=%s impl=%s" % (os.getpid(), version, sys.implementation.name)


def _collect():
    """A full collection unless the app turned the collector off (then none: its choice).

    First the interpreter's method cache is emptied (sys._clear_type_cache, which the docs give
    for "reference leak debugging"): its 4096 entries are keyed by the name's address, so each
    request's new 'do_GET' string of http.server took another entry and stayed, 0.4 blocks a
    connection for thousands of connections: a cache filling, not the program's growth."""
    sys._clear_type_cache()
    if not gc.isenabled():
        _st.freed = 0
        return 0, "off"
    gc.collect()
    freed, _st.freed = _st.freed, 0
    return freed, "saveall" if gc.get_debug() & gc.DEBUG_SAVEALL else "on"


def _on_gc(phase, info):
    """Every collection, the interpreter's own as well as ours: what the collector found since
    the last answer. Ours alone saw only the cycles that outlived the young generations (1.23
    objects a connection for mutual_refs' two-object cycle per connection)."""
    if phase == "stop":
        _st.freed += info["collected"]


def _cmd_collect(args):
    collected, mode = _collect()
    return [], "collected=%d gc=%s" % (collected, mode)


def _cmd_baseline(args):
    """baseline [nframes]: the type counts to compare with; tracing from now on with nframes
    frames (0: no tracing: tracemalloc's own tables are the allocator's blocks too, so a
    harness counting them sends trace later, for the objects it wants explained)."""
    nframes = int(args[0]) if args else 1
    if not 0 <= nframes <= 1000:
        raise _Refusal("nframes must be 0..1000")
    # Whatever explain will import is imported now, before tracing starts, so it is
    # part of the baseline and never a sample.
    _prepare_explain()
    import tracemalloc
    if nframes and not tracemalloc.is_tracing():
        tracemalloc.start(nframes)
    _collect()
    _st.baseline = None
    counts = _count_types()
    _st.baseline = counts
    return [], "types=%d nframes=%d" % (len(counts), tracemalloc.get_traceback_limit())


def _cmd_trace(args):
    """trace nframes: trace what is allocated from now on (explain's sites); trace 0: stop and
    drop every trace, so the process ends as it would have without the agent (a process still
    tracing at exit left its traces to memcheck as lost: 31,416 B in the global_list twin)."""
    nframes = int(args[0]) if args else 1
    if not 0 <= nframes <= 1000:
        raise _Refusal("nframes must be 0..1000")
    import tracemalloc
    if nframes == 0:
        tracemalloc.stop()
        return [], "nframes=0"
    _prepare_explain()
    if not tracemalloc.is_tracing():
        tracemalloc.start(nframes)
    return [], "nframes=%d" % tracemalloc.get_traceback_limit()


def _cmd_types(args):
    if _st.baseline is None:
        raise _Refusal("no baseline: send baseline first")
    collected, mode = _collect()
    classes = set()             # no comprehension over it: a closure's cell would be counted
    now = _count_types(classes)
    base = _st.baseline
    rows = []
    for name in sorted(set(now) | set(base)):
        n, b = now.get(name, 0), base.get(name, 0)
        if n != b:
            rows.append((b - n, name, n, b, "class" if name in classes else "c"))
    rows.sort()
    for i, (_, name, n, b, what) in enumerate(rows):
        rows[i] = ("type", name, n, b, what)
    return rows, "collected=%d gc=%s" % (collected, mode)


def _cmd_explain(args):
    if len(args) < 1:
        raise _Refusal("usage: explain <module.QualName> [max_samples]")
    name = args[0]
    limit = int(args[1]) if len(args) > 1 else 20
    # Not tracing: holders only, of the newest objects (no site). A harness whose engine reads
    # an exit report explains so: tracing changes what the interpreter leaves at exit.
    _prepare_explain()
    collected, mode = _collect()
    samples, tracebacks = _sample(name, limit)
    rows = _site_rows(tracebacks)
    rows += _holder_rows(samples)
    return rows, "samples=%d collected=%d gc=%s" % (len(samples), collected, mode)


_COMMANDS = {
    "ping": _cmd_ping,
    "collect": _cmd_collect,
    "baseline": _cmd_baseline,
    "trace": _cmd_trace,
    "types": _cmd_types,
    "explain": _cmd_explain,
}


# ---------------------------------------------------------------- counting

def _type_name(t):
    module = getattr(t, "__module__", None)
    qual = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
    return "%s.%s" % (module, qual) if isinstance(module, str) else str(qual)


def _not_counted():
    """The agent's own objects and running frames (a stack is not a heap leak), and the
    f_locals snapshot dicts of the app's running frames: 3.11 makes one the first time
    anyone reads f_locals (explain does) and keeps it while the frame runs, so it is
    refreshed here and left out of every count alike. Returns {id: object}."""
    out = {}
    for obj in (_st, _st.listener, _st.conn, _st.thread, _st.baseline, _app_names_cache):
        out[id(obj)] = obj
    for frame in _app_frames().values():
        while frame is not None:
            out[id(frame)] = frame
            if frame.f_code.co_flags & 0x1:  # CO_OPTIMIZED: a function, not module code
                local = frame.f_locals
                out[id(local)] = local
            frame = frame.f_back
    return out


def _app_frames():
    """{thread ident: innermost frame} of every thread but the agent's.

    The agent's own frames are dropped at once: a reference to one from its own locals
    (out[...] = frame) would make a cycle, garbage on every command, which with the
    collector off would pile up and show in the counts."""
    frames = sys._current_frames()
    frames.pop(threading.get_ident(), None)
    return frames


def _count_types(classes=None):
    """{type name: number of gc-tracked objects}, leaving out the agent and running frames;
    the names of classes written in Python (heap types) into the set classes, if given.

    Under tracemalloc every allocation is traced and costs ~10x, so the loop over the
    heap allocates nothing per object (no id(), no int arithmetic): it groups types
    into lists and counts them by len() afterwards."""
    skip = _not_counted()
    skipped = [obj for obj in skip.values() if gc.is_tracked(obj)]
    skipped.append(skip)
    if classes is not None:
        skipped.append(classes)     # the caller's: the agent's own
    objs = gc.get_objects()      # made after skip and skipped, which it lists
    groups = {}
    for t in map(type, objs):
        group = groups.get(t)
        if group is None:
            group = groups[t] = []
        group.append(t)
    del objs
    counts = {}
    for t, group in groups.items():
        name = _type_name(t)
        counts[name] = counts.get(name, 0) + len(group)
        if classes is not None and t.__flags__ & (HEAP_TYPE | IMMUTABLE_TYPE) == HEAP_TYPE:
            classes.add(name)
    for obj in skipped:
        name = _type_name(type(obj))
        counts[name] -= 1
        if not counts[name]:
            del counts[name]
    return counts


# ---------------------------------------------------------------- samples and sites

def _prepare_explain():
    """Import what explain needs (sysconfig, ctypes on 3.11) once, before a baseline count."""
    if _st.skip_dirs is None:
        import sysconfig
        dirs = set()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            try:
                path = sysconfig.get_path(key)
            except (KeyError, ValueError):
                continue
            if path:
                dirs.update((path, os.path.realpath(path)))
        # Debian's /usr/lib/python3/dist-packages is on sys.path but in no sysconfig scheme.
        for entry in sys.path:
            if isinstance(entry, str) and os.path.basename(entry) in ("site-packages", "dist-packages"):
                dirs.update((entry, os.path.realpath(entry)))
        _st.skip_dirs = tuple(sorted(d.rstrip(os.sep) + os.sep for d in dirs))
        # One-time caches of the calls explain makes (open()'s keyword tuple, ...).
        _scan_for_def(_HERE, 2)
    if sys.version_info < (3, 12) and _st.get_tb_raw is None:
        _st.get_tb_raw = _managed_dict_getter()


def _managed_dict_getter():
    """3.11's get_object_traceback looks one GC header before the object; an instance with
    a managed dict starts its block two pointers earlier still (fixed in 3.12). Ask
    _PyTraceMalloc_GetTraceback for the block's true start, derived from sys.getsizeof,
    which counts the whole pre-header (32 bytes on x86-64)."""
    try:
        import ctypes
        fn = ctypes.pythonapi._PyTraceMalloc_GetTraceback
        # It returns a new reference. restype py_object would take one more (ctypes increfs
        # what it returns): every traceback asked for was never freed, and memcheck called
        # them lost at exit. So the address, then one reference dropped.
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_uint, ctypes.c_size_t]
        decref = ctypes.pythonapi.Py_DecRef
        decref.restype = None
        decref.argtypes = [ctypes.c_void_p]
    except (ImportError, AttributeError, OSError):
        return False

    def get(domain, ptr):
        addr = fn(domain, ptr)
        if not addr:
            return None
        obj = ctypes.cast(addr, ctypes.py_object).value
        decref(addr)
        return obj

    class Probe:
        pass
    probe = Probe()
    _st.preheader = sys.getsizeof(probe) - probe.__sizeof__()
    return get


def _raw_traceback(obj, tracemalloc):
    """((filename, lineno), ...) most recent first, or None."""
    get = getattr(tracemalloc, "_get_object_traceback", None)
    if get is not None:
        raw = get(obj)
    else:
        tb = tracemalloc.get_object_traceback(obj)
        raw = tuple((f.filename, f.lineno) for f in reversed(list(tb))) if tb else None
    if raw is None and _st.get_tb_raw and type(obj).__flags__ & MANAGED_DICT:
        raw = _st.get_tb_raw(0, id(obj) - _st.preheader)
    return raw


def _sample(name, limit):
    """Up to limit objects of the named type with a traceback, newest first
    (gc.get_objects() lists the oldest generation last... survivors are appended)."""
    import tracemalloc
    traced = tracemalloc.is_tracing()
    skip = _not_counted()       # the agent's sockets and thread, running frames
    objs = gc.get_objects()
    samples, tracebacks = [], []
    names = {}
    seen_type = None
    for obj in reversed(objs):
        t = type(obj)
        tname = names.get(t)
        if tname is None:
            tname = names[t] = _type_name(t)
        if tname != name:
            continue
        seen_type = t
        if id(obj) in skip:
            continue
        raw = _raw_traceback(obj, tracemalloc) if traced else None
        if traced and (not raw or _agent_made(raw)):
            continue            # untraced: older than the tracing; or the agent's own
        samples.append(obj)
        if raw:
            tracebacks.append(raw)
        if len(samples) >= limit:
            break
    if not samples and seen_type is None and traced:
        _untracked_samples(objs, name, limit, samples, tracebacks, tracemalloc)
    del objs
    return samples, tracebacks


def _agent_made(raw):
    """The agent's code allocated it (its command's words, the f_locals snapshot it made
    of an app's frame): the agent's own, never a sample, as it is never counted."""
    for frame in raw:
        if frame[0] in _CODE_FILES:
            return True
    return False


def _untracked_samples(objs, name, limit, samples, tracebacks, tracemalloc):
    """Instances the collector does not track (str, bytes, ...) are found in containers."""
    deadline = time.monotonic() + 1.0
    seen = set()
    for container in reversed(objs):
        if time.monotonic() > deadline:
            break
        for obj in gc.get_referents(container):
            if id(obj) in seen or _type_name(type(obj)) != name:
                continue
            seen.add(id(obj))
            raw = _raw_traceback(obj, tracemalloc)
            if raw and not _agent_made(raw):
                samples.append(obj)
                tracebacks.append(raw)
                if len(samples) >= limit:
                    return


def _outside_lib(filename, cache):
    ok = cache.get(filename)
    if ok is None:
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        ok = not (filename.startswith("<frozen ")
                  or filename in _CODE_FILES or real in _CODE_FILES
                  or filename.startswith(_st.skip_dirs) or real.startswith(_st.skip_dirs))
        cache[filename] = ok
    return ok


def _site_rows(tracebacks):
    cache, counts, order = {}, {}, []
    for raw in tracebacks:
        frame = next((f for f in raw if _outside_lib(f[0], cache)), raw[0])
        if frame not in counts:
            order.append(frame)
            counts[frame] = 0
        counts[frame] += 1
    order.sort(key=lambda f: -counts[f])   # stable: ties keep the newest-first order
    files = {}
    for f in order:             # each file read once, as far as its last site
        files[f[0]] = max(files.get(f[0], 0), f[1])
    for filename, last in list(files.items()):
        files[filename] = _read_lines(filename, last)
    return [("site", f[0], f[1], _scan_for_def(f[0], f[1], files[f[0]]), counts[f])
            for f in order]


def _read_lines(filename, last):
    """The first `last` lines of filename, or None."""
    try:
        with open(filename, encoding="utf-8", errors="replace") as f:
            return [line for _, line in zip(range(last), f)]
    except OSError:
        return None


def _scan_for_def(filename, lineno, lines=None):
    """The def enclosing filename:lineno, by indentation ('<module>' at top level, '?' unknown)."""
    if lines is None:
        lines = _read_lines(filename, lineno)
    if lines is None or len(lines) < lineno:
        return "?"
    limit = _indent(lines[lineno - 1])
    if limit is None:
        return "?"
    for line in reversed(lines[:lineno - 1]):
        if limit == 0:
            break
        indent = _indent(line)
        if indent is None or indent >= limit:
            continue
        limit = indent
        word = line.strip()
        if word.startswith("async "):
            word = word[6:].lstrip()
        if word.startswith(("def ", "class ")):
            return word.split(None, 1)[1].split("(")[0].split(":")[0].strip()
    return "<module>" if limit == 0 else "?"


def _indent(line):
    line = line.expandtabs(8)
    stripped = line.lstrip()
    if not stripped or stripped.startswith("#"):
        return None
    return len(line) - len(stripped)


# ---------------------------------------------------------------- holders

class _Roots:
    """Where a search stops: module globals and the locals of the app's running frames."""

    def __init__(self, own):
        self.modules = {}   # id(module dict) -> module name   (ints and strs: untracked)
        self.locals = {}    # id(value) -> "<thread T> frame f (file:line) local name"
        self.dicts = []     # the module dicts, the preferred name's first (see _module_rank)
        self.values = []    # the running frames' local values, innermost frame first
        me = sys.modules.get(__name__)
        dicts = {}
        for name, module in list(sys.modules.items()):
            d = getattr(module, "__dict__", None)
            if type(d) is not dict or not isinstance(name, str):
                continue
            if module is me:
                own.add(id(d))   # the agent's globals never hold a sample, nor are a root
                continue
            known = self.modules.get(id(d))
            if known is None or _module_rank(name) < _module_rank(known):
                self.modules[id(d)] = name
                dicts[id(d)] = d
        self.dicts = sorted(dicts.values(), key=lambda d: _module_rank(self.modules[id(d)]))
        self._add_frames(own)

    def _add_frames(self, own):
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in _app_frames().items():
            thread = names.get(ident, "thread %d" % ident)
            while frame is not None:
                own.add(id(frame))
                code = frame.f_code
                if code.co_flags & 0x1:      # CO_OPTIMIZED: a function, not module code
                    where = "<thread %s> frame %s (%s:%d) local " % (
                        thread, code.co_name, os.path.basename(code.co_filename), frame.f_lineno)
                    local = frame.f_locals
                    own.add(id(local))
                    for key, value in local.items():
                        if id(value) not in self.locals:
                            self.locals[id(value)] = where + str(key)
                            self.values.append(value)
                frame = frame.f_back

    def start(self, node):
        """(text, node is a namespace) when node is a root, else None."""
        name = self.modules.get(id(node))
        if name is not None:
            return name, True
        where = self.locals.get(id(node))
        if where is not None:
            return where, False
        return None


def _module_rank(name):
    """Which of a module's names (or which module) a path starts from: the app's __main__,
    then names with no part starting with '_' (posixpath before _collections_abc's
    aliases), then the shorter (os.path before a package's re-export)."""
    if name == "__main__":
        return (0, 0, name)
    private = any(part.startswith("_") for part in name.split("."))
    return (1 + private, len(name), name)


def _name_rank(key):
    """Which of several names of one value in a namespace a path uses: a name not starting
    with '_' (logging.Logger, not its alias logging._loggerClass), then the shorter."""
    if not isinstance(key, str):
        return (2, 0)
    return (key.startswith("_"), len(key))


def _holder_rows(samples):
    if not samples:
        return []
    own = {id(samples)}
    roots = _Roots(own)
    deadline = time.monotonic() + SEARCH_BUDGET
    found = _reach(samples, roots, own, deadline)
    groups = {}
    order = []
    for target in samples:
        hit = found.get(id(target))
        if hit is not None:
            key, example = _render_path(*hit)
        elif time.monotonic() > deadline:
            key = example = "no root: search timed out"
        else:
            # Not reached from any root: say why (a cycle, nothing, too deep) the old way.
            key, example = _holder_path(target, roots, own, deadline)
        if key not in groups:
            groups[key] = [0, example]
            order.append(key)
        groups[key][0] += 1
    del found
    del _app_names_cache[:]
    order.sort(key=lambda k: -groups[k][0])
    return [("holder", groups[k][0], groups[k][1]) for k in order]


def _reach(samples, roots, own, deadline):
    """The shortest path from a root down to each sample, for all samples at once:
    {id(sample): ((root text, root is a namespace), [root node, ..., sample])}.

    One breadth-first walk down gc.get_referents from every module's globals, and one
    from the running frames' locals, level by level in step, each object entered once
    with the object it was reached from. Roots and namespaces are walked in the
    preferred order (_module_rank, _name_rank), so among paths of one length the first
    found starts from the preferred module and global name. A module's global is kept
    over a frame's local found up to LOCAL_SLACK levels sooner: a running frame holds
    what it last served (the harness's own probe connection), a global holds what stays.
    The walk's own tables live in this frame only; nothing of them is left afterwards."""
    want = {}
    tracked_only = True
    for s in samples:
        want[id(s)] = s
        if not gc.is_tracked(s):
            tracked_only = False
    gup = {}                    # id(object) -> the object it was reached from (None: root)
    lup = {}
    gfront = []
    for d in roots.dicts:
        gup[id(d)] = None
        gfront.append(d)
    lfront = []
    for v in roots.values:
        if id(v) not in gup and id(v) not in own:
            lup[id(v)] = None
            lfront.append(v)
    ghit, lhit = {}, {}         # id(sample) -> depth
    pending = set(want)
    depth = 0
    while True:
        for sid in pending:
            if sid in gup and sid not in ghit:
                ghit[sid] = depth
            if sid in lup and sid not in lhit:
                lhit[sid] = depth
        pending = {sid for sid in pending
                   if sid not in ghit and not (sid in lhit and depth >= lhit[sid] + LOCAL_SLACK)}
        if not pending or depth >= MAX_DEPTH or not (gfront or lfront) \
                or time.monotonic() > deadline:
            break
        gfront = _down(gfront, gup, own, None, tracked_only, depth == 0)
        lfront = _down(lfront, lup, own, gup, tracked_only)
        depth += 1
    out = {}
    for sid, s in want.items():
        if sid in ghit:
            up = gup
        elif sid in lhit:
            up = lup
        else:
            continue
        chain = [s]
        node = up[sid]
        while node is not None:
            chain.append(node)
            node = up[id(node)]
        chain.reverse()
        out[sid] = (roots.start(chain[0]), chain)
    return out


def _down(frontier, up, own, other, tracked_only, ns=False):
    """One level down: what the frontier refers to and no walk has entered yet
    (ns: the frontier is namespaces, walked in _name_rank order)."""
    nxt = []
    for node in frontier:
        for child in (_ns_referents(node) if ns else gc.get_referents(node)):
            if tracked_only and not gc.is_tracked(child):
                continue
            cid = id(child)
            if cid in up or cid in own or (other is not None and cid in other):
                continue
            if type(child) is _FrameType:
                continue    # a frame is a root only as a running frame (walked separately)
            up[cid] = node
            nxt.append(child)
    return nxt


def _ns_referents(d):
    """What a namespace refers to, its values by name, the preferred names' first
    (_name_rank: not starting with '_', then shorter)."""
    names = [k for k in list(d) if type(k) is str]
    names.sort(key=len)
    out = [d.get(k) for k in names if k[:1] != "_"]
    out += [d.get(k) for k in names if k[:1] == "_"]
    if len(names) < len(d):
        out += gc.get_referents(d)      # other keys, and what they name
    return out


def _holder_path(target, roots, own, deadline):
    """(grouping key, example) for the path from a root down to target."""
    down = {id(target): None}   # id(node) -> the node it refers to, one step nearer target
    nodes = {id(target): target}
    frontier = [target]
    mine = own | {id(down), id(nodes)}
    cycle = None
    local = None                # (root, node, depth): the first running frame's local found
    for depth in range(MAX_DEPTH + 1):
        for node in frontier:
            start = roots.start(node)
            if start is not None and start[1]:
                return _render_path(start, _chain(node, down, nodes))
            if start is not None and local is None:
                local = (start, node, depth)
        # A module's global is preferred to a frame's local a few steps nearer: a running
        # frame holds what it last served (the harness's own probe connection), a global
        # holds what stays.
        if local is not None and depth >= local[2] + LOCAL_SLACK:
            break
        if depth == MAX_DEPTH or not frontier or time.monotonic() > deadline:
            break
        frontier, found = _step(frontier, down, nodes, mine)
        if cycle is None and found is not None:
            cycle = found
    if local is not None:
        return _render_path(local[0], _chain(local[1], down, nodes))
    if cycle is not None:
        text = _render_cycle(cycle)
        what = "a cycle" if any(n is target for n in cycle) else "held by a cycle"
        return "no root: %s (%s)" % (what, text), "no root: %s (%s)" % (what, text)
    if not frontier:
        why = "no root: nothing in module globals or running frames reaches it"
    elif time.monotonic() > deadline:
        why = "no root: search timed out"
    else:
        why = "no root within %d steps" % MAX_DEPTH
    return why, why


def _step(frontier, down, nodes, mine):
    """One level up: the referrers of the whole frontier in ONE heap scan.
    Returns (next frontier, a cycle as [node, ..., node] or None)."""
    args = tuple(frontier)
    ids = {id(n) for n in frontier}
    refs = gc.get_referrers(*args)
    skip = mine | {id(args), id(refs), id(frontier)}
    nxt = []
    skip.add(id(nxt))
    cycle = None
    for r in refs:
        rid = id(r)
        if rid in skip or _is_frame(r):
            continue
        child = _child_in(r, frontier, ids)
        if child is None:
            continue
        if rid in down:
            if cycle is None:
                cycle = _cycle_through(r, child, down, nodes)
            continue
        down[rid] = child
        nodes[rid] = r
        nxt.append(r)
        if len(nxt) >= MAX_FRONTIER:
            break
    return nxt, cycle


def _is_frame(obj):
    # Frames are roots only as running frames (walked separately); the agent's own never.
    return type(obj).__name__ == "frame" and type(obj).__module__ == "builtins"


def _child_in(r, frontier, ids):
    refs = gc.get_referents(r)
    if len(frontier) <= 8:
        # Identity tests allocate nothing (id() would, and tracemalloc traces each).
        for c in refs:
            for f in frontier:
                if c is f:
                    return c
        return None
    for c in refs:
        if id(c) in ids:
            return c
    return None


def _chain(node, down, nodes):
    out = [node]
    nxt = down.get(id(node))
    while nxt is not None:
        out.append(nxt)
        nxt = down.get(id(nxt))
    return out


def _cycle_through(r, child, down, nodes):
    """r refers to child and r was already met nearer the target: a cycle when r lies on
    child's way down. Returns [r, child, ..., r] or None."""
    path = [r]
    node = child
    while node is not None:
        path.append(node)
        if node is r:
            return path
        node = down.get(id(node))
    return None


def _render_path(start, chain):
    text, ns = start
    parts = [(text, False)]
    for parent, child in zip(chain, chain[1:]):
        piece, abstract, ns, _cont = _edge(parent, child, ns)
        parts.append((piece, abstract))
    example = "".join(p for p, _ in parts)
    key = "".join("[*]" if a else p for p, a in parts)
    return key, example


def _render_cycle(cycle):
    steps = []
    ns = cont = False
    for parent, child in zip(cycle, cycle[1:]):
        piece, _abstract, ns_next, cont_next = _edge(parent, child, ns)
        if cont and steps:
            steps[-1] += piece
        else:
            steps.append(getattr(type(parent), "__qualname__", "?") + piece)
        ns, cont = ns_next, cont_next
    return " -> ".join(steps)


def _edge(parent, child, ns):
    """How parent reaches child, as a Python suffix.
    Returns (text, text is an index or key, child is a namespace dict, child continues
    the parent's step in a cycle's text)."""
    if isinstance(parent, dict):
        return _dict_edge(parent, child, ns)
    if isinstance(parent, (list, tuple)) or type(parent).__name__ == "deque":
        i = _position(parent, child)
        if i is None:
            return "[?]", True, False, False
        return "[%d]" % i, True, False, isinstance(child, _CellType)
    if isinstance(parent, (set, frozenset)):
        return "{...}", False, False, False
    if isinstance(parent, _CellType):
        return ".cell_contents", False, False, False
    if isinstance(parent, type):
        return _type_edge(parent, child)
    if isinstance(parent, _ModuleType):
        if getattr(parent, "__dict__", None) is child:
            return "", False, True, True
        return ".<?>", False, False, False
    special = _special_edge(parent, child)
    if special is not None:
        return special
    return _instance_edge(parent, child)


def _dict_edge(parent, child, ns):
    i = _position(parent.values(), child)
    if i is not None:
        try:
            key = next(itertools.islice(reversed(parent), len(parent) - 1 - i, None))
        except (StopIteration, RuntimeError):
            return "[?]", True, False, False
        if ns and operator.countOf(map(operator.is_, parent.values(), itertools.repeat(child)),
                                   True) > 1:
            # One value under several names of a namespace (an alias): the preferred name.
            names = [k for k, v in list(parent.items()) if v is child]
            if names:
                key = min(names, key=_name_rank)
        if ns and isinstance(key, str) and key.isidentifier():
            return "." + key, False, False, False
        return "[%s]" % _short_repr(key), True, False, False
    if any(key is child for key in parent):
        return ".keys(){...}", False, False, False
    return "[?]", True, False, False


def _position(items, child):
    """Position of child in items by identity (== could run app code), or None. Searched
    from the end (a sample is among the newest, appended last) by C loops that allocate
    nothing per item: a table of ids would trace an int per item under tracemalloc."""
    try:
        n = len(items)
        back = operator.indexOf(map(operator.is_, reversed(items), itertools.repeat(child)), True)
    except (ValueError, RuntimeError, TypeError):
        return None             # not there, or changed while searched
    return n - 1 - back


def _type_edge(parent, child):
    if type(child) is dict:          # the only dict a class refers to is its namespace
        return "", False, True, True
    for attr in ("__mro__", "__bases__"):
        if getattr(parent, attr, None) is child:
            return "." + attr, False, False, True
    return ".<?>", False, False, False


def _special_edge(parent, child):
    """Functions, bound methods and generators: parts the user can name."""
    if isinstance(parent, _FunctionType):
        for attr in ("__closure__", "__defaults__", "__kwdefaults__", "__globals__", "__dict__"):
            if getattr(parent, attr, None) is child:
                return "." + attr, False, attr in ("__globals__", "__dict__"), True
        return ".<?>", False, False, False
    if isinstance(parent, _MethodType):
        for attr in ("__self__", "__func__"):
            if getattr(parent, attr, None) is child:
                return "." + attr, False, False, False
    for prefix in ("gi", "cr", "ag"):
        if hasattr(parent, prefix + "_code") and hasattr(parent, prefix + "_running"):
            # Naming the local would make the generator's frame object (3.11): not done.
            return ".%s_frame.f_locals[?]" % prefix, False, False, False
    return None


def _instance_edge(parent, child):
    cls = type(parent)
    tried = _attr_names(cls)
    for name in tried:
        if _instance_attr(parent, cls, name) is child:
            return "." + name, False, False, False
    # Set from outside the class (obj.peer = ...): any name the app's code stores.
    tried = set(tried)
    for name in _app_names():
        if name not in tried and _instance_attr(parent, cls, name) is child:
            return "." + name, False, False, False
    if type(child) is dict:
        # An attribute dict already made (its attributes named above are not it): __dict__.
        return "", False, True, True
    return ".<?>", False, False, False


_MISSING = object()


def _attr_names(cls):
    """Names an instance of cls may carry: slots, class attributes, and every name the
    class's functions use (self.x = ... stores x through co_names). Read without
    touching instance.__dict__, which on 3.11 would make the dict and show in the counts."""
    names = {}
    for klass in getattr(cls, "__mro__", (cls,)):
        slots = klass.__dict__.get("__slots__", ())
        for name in ((slots,) if isinstance(slots, str) else slots):
            names[name] = True
        for name in getattr(klass, "__annotations__", {}) if "__annotations__" in klass.__dict__ else ():
            names[name] = True
        for name, value in list(klass.__dict__.items()):
            names[name] = True
            _code_names(getattr(getattr(value, "__func__", value), "__code__", None), names, 0)
            if isinstance(value, property):
                for fn in (value.fget, value.fset):
                    _code_names(getattr(fn, "__code__", None), names, 0)
    for name in ("__dict__", "__weakref__", "__class__"):
        names.pop(name, None)
    return [n for n in names if isinstance(n, str)]


# Names used by the app's own code (modules outside the standard library), for one explain.
_app_names_cache = []


def _app_names():
    if _app_names_cache:
        return _app_names_cache
    names = {}
    cache = {}
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not _outside_lib(filename, cache):
            continue
        for value in list(getattr(module, "__dict__", {}).values()):
            _code_names(getattr(value, "__code__", None), names, 0)
            if isinstance(value, type) and value.__module__ == module.__name__:
                for member in list(value.__dict__.values()):
                    member = getattr(member, "__func__", member)
                    _code_names(getattr(member, "__code__", None), names, 0)
    _app_names_cache.extend(n for n in names if isinstance(n, str))
    _app_names_cache.append("")   # never empty once computed
    return _app_names_cache


def _code_names(code, names, depth):
    if code is None or depth > 3 or not hasattr(code, "co_names"):
        return
    for name in code.co_names:
        names[name] = True
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            _code_names(const, names, depth + 1)


def _instance_attr(obj, cls, name):
    """obj's own attribute name, without running properties or __getattr__."""
    for klass in getattr(cls, "__mro__", (cls,)):
        attr = klass.__dict__.get(name, _MISSING)
        if attr is _MISSING:
            continue
        if type(attr).__name__ == "member_descriptor":
            break       # a slot: reading it runs no code
        if hasattr(type(attr), "__set__") or hasattr(type(attr), "__delete__"):
            return _MISSING   # a property or getset: reading it could run code
        break
    try:
        return object.__getattribute__(obj, name)
    except Exception:
        return _MISSING


def _short_repr(key):
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


_CellType = types.CellType
_FrameType = types.FrameType
_FunctionType = types.FunctionType
_MethodType = types.MethodType
_ModuleType = types.ModuleType

"""leakcheck's sitecustomize: the harness puts this folder first on PYTHONPATH.

Only the first `sitecustomize` on sys.path runs, so this one would shadow
Debian's (/usr/lib/python3.11/sitecustomize.py), a venv's or the app's own:
it runs that one first, then arms the in-process agent when the harness asked
for it (LEAKCHECK_PYAGENT names an existing folder). Without that variable it
imports nothing more, so the app starts as it would without leakcheck.
"""
import os
import sys

# The origin of the sitecustomize this one shadowed, or None (tests read it).
shadowed_origin = None
# That module, kept alive as site.py would have kept it (in sys.modules).
shadowed = None


def _here():
    return os.path.realpath(os.path.dirname(os.path.abspath(__file__)))


def _same_dir(entry, here):
    # '' on sys.path means the current directory.
    try:
        return os.path.realpath(entry or os.curdir) == here
    except (TypeError, ValueError):
        return False


def _entries_after_here():
    """The sys.path entries after this folder (all but it, if it is not on sys.path)."""
    here = _here()
    path = [p for p in sys.path if isinstance(p, str)]
    start = 0
    for i, entry in enumerate(path):
        if _same_dir(entry, here):
            start = i + 1
            break
    return [p for p in path[start:] if not _same_dir(p, here)]


def _find_shadowed():
    # importlib.machinery is already loaded by the import system: cheap.
    from importlib.machinery import PathFinder
    spec = PathFinder.find_spec("sitecustomize", _entries_after_here())
    if spec is None or spec.loader is None or not spec.origin:
        return None
    # A second copy of this very file (a symlink, a repeated entry): skip it.
    if os.path.realpath(spec.origin) == os.path.realpath(__file__):
        return None
    return spec


def _run_shadowed():
    """Run the shadowed sitecustomize; report errors the way site.py does, never fatal."""
    global shadowed, shadowed_origin
    try:
        spec = _find_shadowed()
        if spec is None:
            return
        import importlib.util
        module = importlib.util.module_from_spec(spec)
        shadowed_origin = spec.origin
        shadowed = module
        spec.loader.exec_module(module)
    except Exception as err:  # site.py's wording and behaviour
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write(
                "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                "%s: %s\n" % (err.__class__.__name__, err))


def _arm_agent():
    folder = os.environ.get("LEAKCHECK_PYAGENT")
    if not folder or not os.path.isdir(folder):
        return
    try:
        import leakcheck_agent
        leakcheck_agent.arm(folder)
    except Exception as err:
        # The app must run even when the agent cannot: the harness sees no socket.
        sys.stderr.write("leakcheck agent not armed: %s: %s\n"
                         % (err.__class__.__name__, err))


_run_shadowed()
_arm_agent()

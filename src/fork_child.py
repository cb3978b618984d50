"""The child half of the launcher: a process just forked from src/fork_server.py made into a fresh `python -m`.

A fresh interpreter starts with default signal handlers, streams over its own descriptors buffered as its
environment says, BLAS thread pools sized for the machine, and sys.path built from its cwd and PYTHONPATH; it
runs the module as `-m` does and shuts down in the interpreter's own order. The forked child inherits none of
that from the parent as a fresh process would have it, so src/fork_server.py calls these, in this order, after
it has handed the child the caller's descriptors, cwd and environment.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.machinery
import io
import os
import runpy
import signal
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_signals() -> None:
    """What a fresh interpreter starts with: Ctrl-C raises KeyboardInterrupt, SIGTERM and SIGCHLD act as default."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked since the fork: one sent now ends it


def fresh_streams() -> None:
    """sys.std* over the new descriptors, buffered as a fresh interpreter buffers them (PYTHONUNBUFFERED, tty)."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding, _, errors = os.environ.get("PYTHONIOENCODING", "").partition(":")
    encoding = encoding or (sys.__stdout__.encoding if sys.__stdout__ else "utf-8")

    def stream(fd: int, mode: str, err: str, line: bool) -> IO[str]:
        raw = io.FileIO(fd, mode, closefd=False)
        if mode == "r":
            return io.TextIOWrapper(io.BufferedReader(raw), encoding, errors or err)
        buffered = raw if unbuffered else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered, encoding, errors or err, line_buffering=line or os.isatty(fd), write_through=unbuffered
        )

    sys.stdin = sys.__stdin__ = stream(0, "r", "strict", False)
    sys.stdout = sys.__stdout__ = stream(1, "w", "strict", False)
    sys.stderr = sys.__stderr__ = stream(2, "w", "backslashreplace", True)


def thread_pools() -> None:
    """BLAS/OpenMP threads as a fresh process would have them: the env's count, else one per CPU."""
    if "threadpoolctl" not in sys.modules:
        return
    wanted = next((os.environ[v] for v in THREAD_VARS if os.environ.get(v, "").isdigit()), None)
    with contextlib.suppress(Exception):  # a BLAS that cannot be resized keeps one thread: slower, never wrong
        sys.modules["threadpoolctl"].threadpool_limits(int(wanted) if wanted else os.cpu_count())


def fresh_tempdir() -> None:
    """tempfile picks its folder once, from TMPDIR, at first use: a parent that used it must not pick for the child."""
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None


def module_path(cwd: str, env: dict[str, str], own_pythonpath: str) -> list[str]:
    """sys.path as `python -m` builds it: the cwd first, then PYTHONPATH, then the interpreter's own path."""
    inherited = {os.path.abspath(p) for p in own_pythonpath.split(os.pathsep) if p}
    base = [p for p in sys.path[1:] if os.path.abspath(p) not in inherited]
    extra = [os.path.join(cwd, p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [cwd, *extra, *base]


@dataclass(frozen=True)
class Preloaded:
    """The project's own modules the parent imported: where each package was found, and each file as it was."""

    roots: dict[str, str] = field(default_factory=dict)  # top-level package -> its __init__.py, as imported
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # module file -> (st_mtime_ns, st_size)

    @classmethod
    def record(cls, packages: Iterable[str]) -> Preloaded:
        """What the parent has imported of `packages`, taken once it imported them."""
        roots, files = {}, {}
        for name, module in list(sys.modules.items()):
            top, path = name.partition(".")[0], getattr(module, "__file__", None)
            if top not in packages or not path:
                continue
            if name == top:
                roots[top] = os.path.abspath(path)
            with contextlib.suppress(OSError):
                stat = os.stat(path)
                files[path] = (stat.st_mtime_ns, stat.st_size)
        return cls(roots, files)

    def current(self, path: list[str]) -> bool:
        """True when `python -m` on `path` would import these very files, unedited, and nothing else first."""
        if not self.roots:
            return False
        for top, origin in self.roots.items():  # the import system's own search: a module, a package, an extension
            spec = importlib.machinery.PathFinder.find_spec(top, path)
            if spec is None or spec.origin is None or os.path.abspath(spec.origin) != origin:
                return False  # not importable here, or another file first (a copy, `top.py`, a symlinked path)
        for file, stamp in self.files.items():
            try:
                stat = os.stat(file)
            except OSError:
                return False
            if (stat.st_mtime_ns, stat.st_size) != stamp:
                return False
        return True


def own_modules(preloaded: Preloaded, module: str) -> None:
    """sys.modules as a fresh `python -m module` in this cwd would build it.

    The parent's project modules stay only when this child would import the
    same files (same checkout, none edited since): another copy of the tree,
    a cwd without the project, or an edit means every one is imported fresh.
    The module `-m` executes (`module`, or a package's `__main__`) runs fresh
    either way: found already imported, runpy would warn. A package stays, or
    its submodules would no longer be its attributes.
    """
    fresh = {f"{module}.__main__"} | ({module} if not hasattr(sys.modules.get(module), "__path__") else set())
    if not preloaded.current(sys.path):
        fresh.update(n for n in sys.modules if n.partition(".")[0] in {*preloaded.roots, "src"})  # src: the parent's
    for name in fresh & set(sys.modules):
        del sys.modules[name]


def run_as_main(module: str) -> int:
    """Run `module` as `python -m` does (runpy's own entry for -m), then shut down as the interpreter would."""
    interrupted = False
    try:
        runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]  # what -m itself calls
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        code, interrupted = 1, True
    except BaseException:  # an uncaught exception: the traceback on stderr, exit 1
        sys.excepthook(*sys.exc_info())
        code = 1
    _shutdown()
    if interrupted:  # a fresh interpreter dies of the SIGINT it did not handle: Popen sees -2
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _shutdown() -> None:
    """The interpreter's own order: wait for non-daemon threads, run atexit handlers, flush the streams."""
    threading = sys.modules.get("threading")
    if threading is not None:
        with contextlib.suppress(Exception):
            threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()

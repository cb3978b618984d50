"""The launcher's parent: one interpreter that imported the stack once and forks each `python -m` child (a zygote).

Every uvicorn service and `python -m` CLI the suite starts pays ~2 s of CPU to import the same
third-party stack (scipy, sklearn, pandas, fastapi, skops) before it runs a line of project code.
This module is a fork server: one parent imports that stack once, listens on a unix socket, and for
each request forks a child that takes the caller's stdin/stdout/stderr (passed as file descriptors),
cwd, full environment and argv, and runs the module as `python -m` would.

The parent imports the third-party stack (PREIMPORT), then the project's own entry points (PROJECT): its
modules read settings and the environment when called, never when imported. A child keeps those only when a
fresh `python -m` in its cwd would import the very same files, unedited (src/fork_child.py `own_modules`);
a fresh copy of the tree in another folder, a cwd without the project or an edited file and the child imports
every project module fresh from its own sys.path. What the parent fixes for all children,
and a fresh interpreter would read from the child's environment instead: the BLAS/OpenMP thread pools are
created single-threaded (each child then sets the count a fresh process would pick, via threadpoolctl) and
OpenBLAS's idle spin (BLAS_SPIN), the hash seed (PYTHONHASHSEED), and the import-time settings of the
preimported libraries (e.g. SKLEARN_ASSUME_FINITE). Interpreter options (`python -X ... -m`) are not
forwarded: `launch` starts those as plain processes. What turns a forked child into a fresh `python -m`
is src/fork_child.py.

Children die with the parent (PR_SET_PDEATHSIG): stopping the launcher leaves
nothing behind, and a client whose launcher died sees its child killed (-9);
the launcher ends with its starter, and removes its socket whenever it ends.

    python -m src.fork_server PATH     serve on the unix socket PATH until SIGTERM

Callers never talk to it directly: `src.launcher.launch` does, and is a plain Popen whenever no launcher is named.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import types
from collections.abc import Sequence
from typing import Any

from src import fork_child

# Measured with `python -X importtime` over app.main, src.* and deploy.* (docs/ci.md): what every service and CLI
# imports; matplotlib (0.3 s, the card only) is left out: it reads MPLBACKEND/MPLCONFIGDIR when it is imported.
PREIMPORT = (
    "numpy",
    "pandas",
    "scipy.special",
    "scipy.stats",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "threadpoolctl",
    "skops.io",
    "pydantic",
    "pydantic.v1",  # fastapi imports it on the first route it builds, to tell v1 models apart: 38 ms a service
    "pydantic_settings",
    "fastapi",
    "fastapi.responses",
    "starlette.middleware",
    "prometheus_client",
    "httpx",
    "yaml",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.asyncio",
)
# The project's entry points (a service, the rollout, the gate, the tests' fixtures): 0.03-0.08 s of imports each
# child of the checkout the launcher runs in no longer pays. matplotlib stays out (src.card, src.pages import it).
PROJECT = (
    "app.main",
    "app.server",
    "deploy.rollout",
    "deploy.stack",
    "deploy.release_checks",
    "deploy.export",
    "src.gate.__main__",
    "src.drift.__main__",
    "src.train",
    "src.report",
    "src.signing",
    "tools.gated",
    "tools.keepalive",
    "tools.xdist_worker",
)
# Imported before the first child of the module forks, so a launcher that never runs it pays nothing: mlflow (the
# optional registry extra, no thread at import) took 0.9 s in each `src.registry` and `models:/` gate of tests/registry.
LATER = {"src.registry": ("mlflow", "mlflow.store.tracking.sqlalchemy_store")}
# Set before numpy loads: a thread pool created in the parent would not survive a fork.
SINGLE_THREADED = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# OpenBLAS workers spin 2**28 cycles (~0.1 s of CPU) after each wake before they sleep, and each child's pool
# resize wakes them; 2**20 (<1 ms) still bridges back-to-back calls. Read as numpy/scipy load OpenBLAS; unless set.
BLAS_SPIN = ("OPENBLAS_THREAD_TIMEOUT", "20")
MAX_REQUEST = 16 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------- the parent (the zygote)


def preimport(names: Sequence[str] = PREIMPORT) -> float:
    """Import `names` once (the third-party stack by default), single-threaded; returns the seconds it took."""
    os.environ.update(dict.fromkeys(SINGLE_THREADED, "1"))
    os.environ.setdefault(*BLAS_SPIN)
    started = time.perf_counter()
    for name in names:
        # An optional library missing, or a module that fails to import (a fork mid-edit), is left out, with
        # whatever imported it: each child imports it, and fails, on its own.
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()  # before forking, as its documentation advises: a child's full collection skips the stack
    return time.perf_counter() - started


def preimport_project(names: Sequence[str] = PROJECT) -> fork_child.Preloaded:
    """Import the project's entry points after the stack; what a child may keep of them (`own_modules`)."""
    preimport(names)
    return fork_child.Preloaded.record({name.partition(".")[0] for name in names} | {"src"})


def serve(listener: socket.socket) -> None:
    """Accept requests until SIGTERM; one child per request, its pid at once and its exit status when it ends.

    One thread, no event loop: a plain select over the socket and a SIGCHLD
    wake-up pipe, so nothing threaded exists when the parent forks. The stack
    is imported at the first request, so a session that never launches
    anything pays nothing for having a launcher.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, socket.socket] = {}
    watched: dict[socket.socket, int] = {}  # clients that take their child with them when they hang up
    preloaded: fork_child.Preloaded | None = None
    while True:
        readable, _, _ = select.select([listener, wake_r, *watched], [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        for conn in [c for c in readable if c in watched]:
            _client_gone(conn, watched)
        if listener in readable:
            conn, _ = listener.accept()
            if preloaded is None:
                preimport()
                preloaded = preimport_project()
            _handle(conn, listener, (wake_r, wake_w), children, watched, preloaded)
        _reap(children, watched)


def _client_gone(conn: socket.socket, watched: dict[socket.socket, int]) -> None:
    """A `python -m src.fork_client` that hung up died (it sends nothing after its request): kill its child,
    as its own death would have stopped a plain interpreter it had exec'd into."""
    with contextlib.suppress(OSError):
        if conn.recv(4096):
            return  # not an end: a client says nothing after its request, and anything it does say is dropped
    pid = watched.pop(conn)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(children: dict[int, socket.socket], watched: dict[socket.socket, int]) -> None:
    """Report every ended child to its client: Popen's returncode (a signal is negative) and its peak RSS."""
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            watched.pop(conn, None)
            with contextlib.suppress(OSError):  # the client went away: nobody to tell
                conn.sendall(_line({"returncode": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}))
            conn.close()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request: an 8-byte length, the JSON, and the caller's three descriptors (SCM_RIGHTS) with it."""
    conn.settimeout(REQUEST_TIMEOUT_S)
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if len(data) < 8:
        raise ValueError("a request starts with its 8-byte length")
    size = int.from_bytes(data[:8], "big")
    if size > MAX_REQUEST:
        raise ValueError(f"a request of {size} bytes is over {MAX_REQUEST}")
    body = bytearray(data[8:])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("the request ended early")
        body += chunk
    return json.loads(body), list(fds)


def _handle(
    conn: socket.socket,
    listener: socket.socket,
    wake: tuple[int, int],
    children: dict[int, socket.socket],
    watched: dict[socket.socket, int],
    preloaded: fork_child.Preloaded,
) -> None:
    fds: list[int] = []
    try:
        request, fds = _receive(conn)
        if request.get("executable") != sys.executable:
            raise ValueError(f"this launcher runs {sys.executable}, not {request.get('executable')}")
        if len(fds) != 3:
            raise ValueError(f"a request carries stdin, stdout and stderr, not {len(fds)} descriptors")
        if not isinstance(request.get("argv"), list) or len(request["argv"]) < 3 or request["argv"][1] != "-m":
            raise ValueError("a request's argv is [executable, '-m', module, ...]")
    except (OSError, ValueError) as exc:
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):
            conn.sendall(_line({"error": str(exc)}))
        conn.close()
        return
    if later := LATER.pop(str(request["argv"][2]), ()):
        preimport(later)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # never the launcher's handler in a child
    pid = os.fork()
    if pid == 0:
        _become_child(request, fds, parent, [listener, conn, *children.values()], wake, preloaded)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(_line({"pid": pid}))
    except OSError:  # the client is gone: the child still runs, as a Popen'd one would
        conn.close()
        return
    children[pid] = conn
    if request.get("die_with_client"):
        watched[conn] = pid


# ---------------------------------------------------------------- the child: a fresh `python -m`


def _become_child(
    request: dict[str, Any],
    fds: list[int],
    parent: int,
    sockets: list[socket.socket],
    wake: tuple[int, int],
    preloaded: fork_child.Preloaded,
) -> None:
    """Turn the forked parent into `python -m module args` in the caller's cwd and environment; never returns."""
    signal.set_wakeup_fd(-1)
    for sock in sockets:
        sock.close()
    for fd in wake:
        os.close(fd)
    if request.get("start_new_session"):
        os.setsid()
    _die_with(parent)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        os.close(fd)
    os.chdir(request["cwd"])
    own_pythonpath = os.environ.get("PYTHONPATH", "")  # the launcher's, already in its sys.path
    os.environ.clear()
    os.environ.update(request["env"])
    fork_child.default_signals()
    fork_child.fresh_streams()
    fork_child.thread_pools()
    fork_child.fresh_tempdir()
    sys.path[:] = fork_child.module_path(request["cwd"], request["env"], own_pythonpath)
    fork_child.own_modules(preloaded, request["argv"][2])
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.argv = ["-m", *request["argv"][3:]]
    sys.orig_argv = list(request["argv"])
    os._exit(fork_child.run_as_main(request["argv"][2]))


def _die_with(parent: int, sig: int = signal.SIGKILL) -> None:
    """`sig` when `parent` dies (PR_SET_PDEATHSIG): a child dies with the launcher, the launcher with its starter."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def _end_with(starter: int, path: str) -> None:
    """SIGTERM on a stop, and on the starter's death (-9, a whole group terminated): either way the launcher
    removes its socket and the socket's folder (rmdir: only if empty), then dies of SIGTERM."""

    def ended(_signum: int, _frame: object) -> None:
        for remove, target in ((os.unlink, path), (os.rmdir, os.path.dirname(path))):
            with contextlib.suppress(OSError):
                remove(target)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, ended)
    _die_with(starter, signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m src.fork_server PATH` (bind PATH) or `--fd N` (a socket already bound by `start`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "--fd":
        listener = socket.socket(fileno=int(args[1]))
        _end_with(os.getppid(), listener.getsockname())  # started by `start`: a starter killed -9 leaves nothing
    elif len(args) == 1 and not args[0].startswith("-"):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(args[0])
        except OSError as exc:
            print(f"launcher: cannot listen on {args[0]}: {exc.strerror}", file=sys.stderr)
            return 2
        listener.listen(128)
    else:
        print("usage: python -m src.fork_server PATH | --fd N", file=sys.stderr)
        return 2
    serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())

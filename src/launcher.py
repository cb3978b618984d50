"""Start `python -m` children in milliseconds: through the session's fork server when one is named, else Popen.

Every uvicorn service and `python -m` CLI the suite starts pays ~2 s of CPU to
import the same third-party stack before it runs a line of project code. With
CHURN_LAUNCHER naming a fork server's socket (src/fork_server.py: a parent
that imported that stack once), `launch` asks it to fork the child instead,
passing the caller's stdin/stdout/stderr, cwd, environment and argv; the
handle it returns (`Launched`) answers as a Popen does (pid, poll, wait,
returncode, signals, communicate). Unset, `0`, a command that is not
`python -m` with this interpreter, or a launcher that does not answer (said in
one line): a plain `subprocess.Popen`, same call, same semantics.

    launch([sys.executable, "-m", "uvicorn", ...], cwd=..., env=...)  -> Popen-like
    start() -> Server   one fork server for a test session (tests/conftest.py)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from src import fork_client

ENV = "CHURN_LAUNCHER"
OFF = "0"  # CHURN_LAUNCHER=0 (make LAUNCHER=0): no launcher, every start is a plain process


# ---------------------------------------------------------------- the client


class Launched:
    """The Popen surface src/processes.py and the tests use, for a child the launcher forked.

    The client holds the request's connection; the launcher writes the exit
    status on it when the child ends, so `poll`/`wait` read it from there.
    """

    def __init__(
        self, conn: socket.socket, pid: int, args: list[str], pipes: dict[str, IO[Any] | None], early: bytes = b""
    ) -> None:
        self._conn = conn
        self._buffer = early  # a child so quick that its status came with its pid
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self.peak_rss_kib: int | None = None  # the child's ru_maxrss, with the launcher's own memory it forked from
        self.stdin, self.stdout, self.stderr = pipes["stdin"], pipes["stdout"], pipes["stderr"]

    def _read_status(self, timeout: float | None) -> bool:
        """True once the exit status is known; a launcher that died killed its children with it (-9)."""
        if self.returncode is not None:
            return True
        if b"\n" not in self._buffer:
            if not select.select([self._conn], [], [], timeout)[0]:
                return False
            chunk = self._conn.recv(4096)
            if not chunk:
                self._conn.close()
                _wait_gone(self.pid)
                print(f"launcher: the launcher died, pid {self.pid} was killed with it", file=sys.stderr)
                self.returncode = -signal.SIGKILL
                return True
            self._buffer += chunk
            if b"\n" not in self._buffer:
                return False
        status = json.loads(self._buffer.split(b"\n", 1)[0])
        self.returncode, self.peak_rss_kib = int(status["returncode"]), status.get("maxrss_kib")
        self._conn.close()
        return True

    def poll(self) -> int | None:
        self._read_status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._read_status(None if deadline is None else max(0.0, deadline - time.monotonic())):
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never signal a pid that may already belong to someone else
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: bytes | str | None = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Popen.communicate for the pipes asked for: write stdin, read stdout and stderr to the end, wait."""

        results: dict[str, Any] = {}
        readers = [
            threading.Thread(target=_read_and_close, args=(stream, name, results), daemon=True)
            for name, stream in (("stdout", self.stdout), ("stderr", self.stderr))
            if stream is not None
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                if input:
                    self.stdin.write(input)
                self.stdin.close()
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return results.get("stdout"), results.get("stderr")

    def __enter__(self) -> Launched:
        return self

    def __exit__(self, *_: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


def _read_and_close(stream: IO[Any], name: str, results: dict[str, Any]) -> None:
    """As Popen.communicate: a pipe is read to its end, then closed."""
    with stream:
        results[name] = stream.read()


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Until pid (no longer anyone's child of ours) has exited: /proc has no entry, or only a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.02)


class LauncherSettings(BaseSettings):
    """Where `launch` finds the pre-imported launcher (src/launcher.py); the test session sets it."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    churn_launcher: str | None = Field(
        None,
        description="the launcher's unix socket, set by the test session; unset: the session starts one; "
        "0 (make LAUNCHER=0): every process starts as a plain interpreter",
    )


def socket_path() -> str | None:
    """The launcher's socket from CHURN_LAUNCHER, read at each call; None when unset or 0 (off)."""
    value = LauncherSettings().churn_launcher
    return None if value in (None, "", OFF) else value


def write_python_shim(path: Path, fresh: bool = False) -> Path:
    """An executable `python` at `path`: this interpreter, whose `-m` lines fork from the session's launcher.

    A workflow step or a docs line types `python -m ...` itself, so neither
    `launch` nor the Makefile's $(PY) is in its way; on PATH (or as the
    workflow's .venv/bin/python) this file gives that line what make's lines
    get: src/fork_client.py, run by its path so it works from any cwd, with
    the launcher named now, or the plain interpreter when there is none (or
    `fresh`: a sitecustomize on PYTHONPATH runs only when an interpreter starts).
    """
    target = None if fresh else socket_path()
    client = f' "{Path(fork_client.__file__).resolve()}" "{target}"' if target else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}"{client} "$@"\n')
    path.chmod(0o755)
    return path


def module_of(argv: Sequence[str]) -> str | None:
    """The module of `[sys.executable, "-m", module, ...]` with this very interpreter; None for anything else."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2] and not argv[2].startswith("-"):
        return argv[2]
    return None


def launch(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    start_new_session: bool = False,
    text: bool = False,
) -> subprocess.Popen | Launched:
    """`subprocess.Popen(argv, ...)`, forked from the launcher when CHURN_LAUNCHER names one and argv is
    `python -m` with this interpreter; the same call and the same semantics either way.

    A launcher that does not answer costs one line on stderr and a plain Popen,
    never a failed start.
    """
    popen_kwargs: dict[str, Any] = {
        "cwd": cwd,
        "env": env,
        "stdin": stdin,
        "stdout": stdout,
        "stderr": stderr,
        "start_new_session": start_new_session,
        "text": text,
    }
    path, module = socket_path(), module_of(argv)
    if path is None or module is None:
        return subprocess.Popen(list(argv), **popen_kwargs)
    try:
        return _launch(path, list(argv), popen_kwargs)
    except (OSError, ValueError, KeyError) as exc:
        print(f"launcher {path} did not start {module} ({exc}): starting it as a plain process", file=sys.stderr)
        return subprocess.Popen(list(argv), **popen_kwargs)


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    capture_output: bool = True,
    text: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, capture_output=True, text=True, timeout=...)` through `launch`: output as text.

    A child past `timeout` is killed and reaped before TimeoutExpired is raised, as subprocess.run does.
    """
    if not text:
        raise ValueError("launcher.run captures text; use launch() for bytes")
    pipe = subprocess.PIPE if capture_output else None
    proc = launch(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode if proc.returncode is not None else -9, out, err)


def _launch(path: str, argv: list[str], kw: dict[str, Any]) -> Launched:
    child_fds: list[int] = []
    ours: dict[str, IO[Any] | None] = {"stdin": None, "stdout": None, "stderr": None}
    to_close: list[int] = []
    try:
        for index, name in enumerate(("stdin", "stdout", "stderr")):
            spec = kw[name]
            if spec == subprocess.STDOUT and name == "stderr":
                child_fds.append(child_fds[1])
            elif spec == subprocess.PIPE:
                read, write = os.pipe()
                child, mine = (read, write) if name == "stdin" else (write, read)
                to_close.append(child)
                child_fds.append(child)
                mode = "w" if name == "stdin" else "r"
                ours[name] = open(mine, mode + ("" if kw["text"] else "b"))  # noqa: SIM115 - the caller's pipe
            elif spec == subprocess.DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                to_close.append(fd)
                child_fds.append(fd)
            elif spec is None:
                child_fds.append(index if _is_open(index) else _devnull(to_close))
            elif isinstance(spec, int):
                child_fds.append(spec)
            else:
                child_fds.append(spec.fileno())
        cwd = os.path.abspath(kw["cwd"] if kw["cwd"] is not None else os.getcwd())
        env = dict(os.environ if kw["env"] is None else kw["env"])
        conn, pid, early = fork_client.request(
            path, argv, cwd, env, child_fds, start_new_session=kw["start_new_session"]
        )
        return Launched(conn, pid, argv, ours, early)
    except BaseException:
        for stream in ours.values():
            if stream is not None:
                stream.close()
        raise
    finally:
        for fd in to_close:
            os.close(fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _devnull(to_close: list[int]) -> int:
    fd = os.open(os.devnull, os.O_RDWR)
    to_close.append(fd)
    return fd


# ---------------------------------------------------------------- starting and stopping one


class Server:
    """A launcher process for one test session; `stop()` ends it and every child it forked."""

    def __init__(self, proc: subprocess.Popen, path: str, folder: tempfile.TemporaryDirectory) -> None:
        self.proc, self.path, self._folder = proc, path, folder

    def stop(self, timeout: float = 10.0) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._folder.cleanup()


@contextlib.contextmanager
def session() -> Iterator[str | None]:
    """A launcher for everything started inside the block, named in CHURN_LAUNCHER: its socket, or None when off.

    An inherited launcher that still exists (a nested pytest, a surface run by
    `make test`) is used as it is, so one suite imports the stack once;
    CHURN_LAUNCHER=0 runs none. Leaving the block stops the launcher it started
    and every child it forked.
    """
    inherited = os.environ.get(ENV, "")
    if inherited == OFF or (inherited and os.path.exists(inherited)):
        yield socket_path()
        return
    server = start()
    os.environ[ENV] = server.path
    try:
        yield server.path
    finally:
        os.environ.pop(ENV, None)
        server.stop()


def start() -> Server:
    """Bind the socket here (so it answers at once), hand it to a launcher process, return its handle.

    The socket lives in a new 0700 temp folder: only this user can ask for a fork. The launcher removes
    it when it ends (src/fork_server.py), so cleaning it up here may find it gone.
    """
    folder = tempfile.TemporaryDirectory(prefix="churn-launcher-", ignore_cleanup_errors=True)
    os.chmod(folder.name, 0o700)
    path = os.path.join(folder.name, "launcher.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "src.fork_server", "--fd", str(listener.fileno())],
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
        )
    finally:
        listener.close()
    return Server(proc, path, folder)

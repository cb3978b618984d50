"""The client half of the launcher's protocol, and `python -m src.fork_client SOCKET ARGS...` for make.

`make test` runs each surface as the make target a user types, and a target
starts `python -m pytest` (the docs' pages start dozens more `python -m`
through make): each a fresh interpreter paying ~2 s of CPU for the stack.
Under the suite, the Makefile puts this client in front of `$(PY)`, so the
same target forks its `python -m` from the suite's launcher
(src/fork_server.py) and is otherwise the command a user types.

The client stays the process its caller knows: the child gets the client's
own stdin, stdout, stderr, cwd and environment; INT, TERM, HUP and QUIT sent
to the client (a Ctrl-C to make's process group, a test stopping a line) go
to the child; the client exits with the child's code, or dies of the child's
signal; and a client killed outright (-9) takes the child with it, because
the launcher kills a child whose client hung up. Anything but `-m MODULE`, or
no launcher answering (said in one line): the client becomes the plain
interpreter (exec), the very command without the launcher.

Standard library only: the client itself starts in tens of milliseconds.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def request(
    path: str, argv: Sequence[str], cwd: str, env: dict[str, str], fds: Sequence[int], **flags: Any
) -> tuple[socket.socket, int, bytes]:
    """Ask the launcher at `path` to fork `argv` with `fds` as its stdin/stdout/stderr.

    Returns the open connection (the exit status arrives on it), the child's
    pid, and whatever the launcher sent after the pid (a status, for a child
    that ended at once). Raises OSError or ValueError when it will not.
    """
    body = json.dumps({"executable": sys.executable, "argv": list(argv), "cwd": cwd, "env": env, **flags}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        conn.sendmsg(
            [len(body).to_bytes(8, "big") + body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        )
        reply, early = read_line(conn)
        if "error" in reply:
            raise ValueError(reply["error"])
        return conn, int(reply["pid"]), early
    except BaseException:
        conn.close()
        raise


def read_line(conn: socket.socket, data: bytes = b"") -> tuple[dict[str, Any], bytes]:
    """One JSON line from the launcher (the pid or why not; later the exit status) and what came after it.

    The first request of a session waits here while the launcher imports the stack.
    """
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("the launcher closed the connection")
        data += chunk
    line, rest = data.split(b"\n", 1)
    return json.loads(line), rest


def _exec_plain(args: Sequence[str]) -> None:
    os.execv(sys.executable, [sys.executable, *args])


def _become(status: dict[str, Any]) -> int:
    """The child's end as our own: its exit code, or death by its signal (as a shell would see it)."""
    code = int(status["returncode"])
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m src.fork_client SOCKET [python arguments]", file=sys.stderr)
        return 2
    path, args = args[0], args[1:]
    if len(args) < 2 or args[0] != "-m" or args[1].startswith("-"):
        _exec_plain(args)
    try:
        conn, pid, early = request(
            path, [sys.executable, *args], os.getcwd(), dict(os.environ), (0, 1, 2), die_with_client=True
        )
    except (OSError, ValueError) as exc:
        print(f"launcher {path} did not start {args[1]} ({exc}): starting it as a plain process", file=sys.stderr)
        _exec_plain(args)
    for sig in FORWARDED:
        signal.signal(sig, lambda number, _frame: _forward(pid, number))
    try:
        status, _ = read_line(conn, early)  # a forwarded signal interrupts nothing here (PEP 475 retries recv)
    except OSError:  # the launcher died, and killed the child with it
        print(f"launcher: the launcher died, pid {pid} was killed with it", file=sys.stderr)
        return 128 + signal.SIGKILL
    return _become(status)


def _forward(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


if __name__ == "__main__":
    sys.exit(main())

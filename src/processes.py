"""Real processes on 127.0.0.1: a free port, a wait that ends on the event, a stop that leaves nothing behind.

One home for what the stack, the tests, the labs and the benchmarks all do
with the servers they start (nginx, uvicorn, Prometheus), so a wait or a stop
behaves the same wherever it runs. It knows nothing of the model: it sits
beside `atomic` and `config` (the project root, the default working folder)
at the bottom of the import order.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import httpx

from src import launcher, loopback
from src.config import ROOT

HOST = "127.0.0.1"
# How often a wait looks again: short against a service's ~2 s start, long against a busy loop.
POLL_INTERVAL_S = 0.05
# A start that fails is seen at once (the process exits); a deadline only catches a hang, so it is
# generous: a machine at load 14 starts a service in tens of seconds, not 2.
STARTUP_TIMEOUT_S = 120.0
# Picked ports: below the kernel's ephemeral range, each handed out once per lease to this user's processes.
PORT_FLOOR = 15000  # above the usual development servers' well-known ports
PORT_LEASE_S = 900.0  # longer than the longest page a docs test walks through with its ports
PORT_TRIES = 200

T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on now, below the kernel's ephemeral range, leased to no other caller of this user.

    A port is picked now and bound later (a stack's start, a docs page's later
    line, a minute on). Meanwhile the kernel's own pick (bind to port 0) could
    hand it to another caller, and any outgoing connection could take it as its
    source port: both draw from the ephemeral range, and on a busy machine
    (three surfaces at once, thousands of proxied requests) that happened. So
    the pick is random below that range, and leased for PORT_LEASE_S in a
    folder every process of this user shares: only unrelated programs are left
    to collide with, and the bind check sees those that listen.
    """
    low, _ = _ephemeral_range()
    leases().mkdir(mode=0o700, exist_ok=True)
    pick = random.SystemRandom()  # never a seeded sequence two processes share
    for _ in range(PORT_TRIES):
        port = pick.randrange(PORT_FLOOR, max(low, PORT_FLOOR + 1000))
        if _leased(port) and _bindable(port):
            return port
    raise RuntimeError(f"no free port in {PORT_TRIES} tries between {PORT_FLOOR} and {low}")


def leases() -> Path:
    """The lease folder, in this process's temp folder (TMPDIR), read when a port is picked, not at import."""
    return Path(tempfile.gettempdir()) / f"churn-port-leases-{os.getuid()}"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):  # not Linux: the IANA dynamic range
        return 49152, 65535
    return low, high


def _leased(port: int) -> bool:
    """True when this call took the port's lease: none held it, or its holder's lease ran out."""
    lease = leases() / str(port)
    try:
        os.close(os.open(lease, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        try:
            if time.time() - lease.stat().st_mtime < PORT_LEASE_S:
                return False
            lease.unlink()
            os.close(os.open(lease, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError:  # another caller renewed or took it first
            return False
        return True


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    interval: float = POLL_INTERVAL_S,
) -> T:
    """The first truthy `probe()`; a `proc` that exits first fails at once, so `timeout` only catches a hang."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode} first")
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def answers(url: str, expect: dict | None = None) -> bool:
    """True when `url` answers 200 (and its JSON holds `expect`); a refused or half-open socket is just "not yet"."""
    try:
        response = loopback.get(url, timeout=1.0)
        return response.status_code == 200 and all(response.json().get(k) == v for k, v in (expect or {}).items())
    except (httpx.TransportError, ValueError):
        return False


def wait_healthy(
    url: str, proc: subprocess.Popen | None = None, timeout: float = STARTUP_TIMEOUT_S, expect: dict | None = None
) -> None:
    """Until `url` answers 200 (with `expect` in its JSON); the server dying ends the wait at once."""
    poll_until(
        lambda: answers(url, expect),
        timeout=timeout,
        what=f"{url} ready{f' with {expect}' if expect else ''}",
        proc=proc,
    )


def gone(pid: int) -> bool:
    """True once pid has exited; reaps it when it is our own (detached) child."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child: gone when signal 0 fails or only a zombie is left
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of `pid` so far (/proc/PID/stat); OSError where there is no /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_group(
    pid: int,
    sig: signal.Signals = signal.SIGTERM,
    proc: subprocess.Popen | None = None,
    timeout: float = 10.0,
    whole_group: bool = False,
) -> bool:
    """Signal the leader, wait for it, then SIGKILL its whole group (each server starts in a session of its own).

    The group catches what outlives the leader: nginx workers whose master was
    killed keep serving the old stage and holding the port until stopped.
    `whole_group` sends `sig` to every member, as a terminal sends Ctrl-C.
    True when the leader ended on `sig` within `timeout` (False: it needed the SIGKILL).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig) if whole_group else os.kill(pid, sig)
    try:
        poll_until(
            lambda: proc.poll() is not None if proc is not None else gone(pid),
            timeout=timeout,
            what=f"pid {pid} stopping",
        )
        stopped = True
    except TimeoutError:
        stopped = False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()
    else:
        gone(pid)
    return stopped


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `timeout`; always reaped (a child not in its own group)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    health_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen]:
    """Run argv until the block ends, healthy before it starts; its output goes to `log` (or is discarded)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    proc = launcher.launch(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(health_url, proc)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the project root, as a user types it, with env overrides."""
    return launcher.run([sys.executable, "-m", module, *args], cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


# A small parent between the caller and `argv`: a child's ru_maxrss includes the memory of whatever
# it was forked from (Python spawns with vfork, so `argv` would inherit the caller's own peak).
REPORTER = (
    "import json, os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(p.pid, 0); "
    "open(sys.argv[1], 'w').write(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))"
)


def run_to_exit(argv: Sequence[str], env: dict[str, str], logs: Path, timeout: float = 60.0) -> Finished:
    """`argv` (PATH and `env` only) until it exits: its exit code, output and own peak RSS (ru_maxrss).

    A `python -m` under a launcher is forked from it, and the launcher reports
    the peak, which then includes the stack the child was forked with (what a
    fresh service imports itself); anything else runs under REPORTER.
    """
    out, err = logs / "stdout.log", logs / "stderr.log"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        if launcher.socket_path() is not None and launcher.module_of(argv) is not None:
            code, peak_kib = _launched_to_exit(argv, {"PATH": "/usr/bin:/bin", **env}, stdout, stderr, timeout)
        else:
            usage = logs / "usage.json"
            subprocess.run(
                [sys.executable, "-S", "-c", REPORTER, str(usage), *argv],
                cwd=ROOT,
                env={"PATH": "/usr/bin:/bin", **env},
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
            code, peak_kib = json.loads(usage.read_text())
    return Finished(code, out.read_text(), err.read_text(), peak_kib / 1024)


def _launched_to_exit(
    argv: Sequence[str], env: dict[str, str], stdout: IO[str], stderr: IO[str], timeout: float
) -> tuple[int, int]:
    proc = launcher.launch(list(argv), cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    if not isinstance(proc, launcher.Launched):  # the launcher did not answer (said in one line): a plain child,
        return _wait4(proc, timeout)  # whose peak may include ours: an upper bound, never an under-count
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    if proc.peak_rss_kib is None:  # a launcher that died reports no peak: no figure, never a passing 0
        raise RuntimeError(f"{argv[2]}: the launcher reported no peak RSS (exit {code})")
    return code, proc.peak_rss_kib


def _wait4(proc: subprocess.Popen, timeout: float) -> tuple[int, int]:
    """A plain child's exit code and ru_maxrss (os.wait4 reaps it, so Popen.wait cannot), within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
            return proc.returncode, usage.ru_maxrss
        if time.monotonic() > deadline:
            proc.kill()
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(POLL_INTERVAL_S)

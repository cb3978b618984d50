"""Start real servers on 127.0.0.1 for a test, and always stop them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from src import artifacts
from src.config import ROOT
from src.launcher import launch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll until healthy; a server that dies is reported at once, so the bound only catches a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `timeout`; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running(
    argv: Sequence[str],
    health_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen]:
    """Run argv until the block ends; its output goes to `log` (or is discarded)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    proc = launch(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(health_url, proc)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the project root, as a user types it, with env overrides."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_pytest(
    target: str, env: dict[str, str], timeout: float = 300, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run one test surface (or file) in a fresh process, as CI would, with env overrides.

    How the suite proves its own gates go red: point them at a broken
    snapshot through the environment and read the real verdict.
    """
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, target],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pair_bytes(folder: Path) -> dict[str, bytes]:
    """The artifact pair in `folder`, byte for byte: what "unchanged" and "identical" compare."""
    return {name: (folder / name).read_bytes() for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE)}


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


# A small parent between the caller and `argv`: a child's ru_maxrss includes the memory of whatever
# it was forked from (Python spawns with vfork, so `argv` would inherit pytest's own peak).
REPORTER = (
    "import json, os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(p.pid, 0); "
    "open(sys.argv[1], 'w').write(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))"
)


def run_to_exit(argv: Sequence[str], env: dict[str, str], logs: Path, timeout: float = 60.0) -> Finished:
    """`argv` (PATH and `env` only) until it exits: its exit code, output and own peak RSS (ru_maxrss, KiB)."""
    out, err, usage = logs / "stdout.log", logs / "stderr.log", logs / "usage.json"
    with open(out, "w") as stdout, open(err, "w") as stderr:
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

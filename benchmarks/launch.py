"""What one process start costs, fresh and through the launcher (src/launcher.py): start-to-healthy, median of N.

Two starts the suite makes hundreds of times: a uvicorn service of the gated
model (start until /health answers 200) and a project CLI (`python -m labs
list`, start until it exits). Each is timed as a plain Popen of a fresh
interpreter and as a fork of the pre-imported launcher, alternating, so a
burst of load on a shared machine hits both columns alike. The launcher's
one-off import of the stack (its first request) is printed apart.

A service's start is also counted in CPU: every thread of the process from
its start until it has idled IDLE_S past /health. Wall time on a shared
machine says how long a test waits; CPU says what hundreds of starts take
from the other tests running beside it (a thread pool that spins after it
wakes shows here, not in the wall time).

    python -m benchmarks.launch [--runs N] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src import artifacts, launcher
from src.config import ROOT
from src.processes import cpu_seconds, free_port, stop_group, wait_healthy

CLI = [sys.executable, "-m", "labs", "list"]
IDLE_S = 0.3  # past /health: long enough for an idle thread pool's spin (OpenBLAS: ~0.1 s) to be counted


def _model(given: Path | None) -> Path | None:
    """The gated model to serve: --model, else the root's pair (`make model`)."""
    model = given or ROOT / artifacts.MODEL_FILE
    return model if model.is_file() else None


def _service_start(model: Path, log: Path, cpu: list[float | None]) -> float:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "MODEL_PATH": str(model)}
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = launcher.launch(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", proc)
            took = time.perf_counter() - started
            time.sleep(IDLE_S)
            try:
                cpu.append(cpu_seconds(proc.pid))
            except OSError:  # no procfs (macOS): the row is left out, said in one line
                cpu.append(None)
            return took
        finally:
            stop_group(proc.pid, proc=proc)


def _cli_run() -> float:
    started = time.perf_counter()
    proc = launcher.launch(CLI, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.wait(timeout=300) != 0:
        raise SystemExit(f"benchmarks.launch: {' '.join(CLI[1:])} exited {proc.returncode}")
    return time.perf_counter() - started


def _with(socket_path: str, run: object) -> float:
    os.environ[launcher.ENV] = socket_path
    return run()  # type: ignore[operator]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per column (median printed)")
    parser.add_argument("--model", type=Path, help="the gated model to serve (default: the root's)")
    args = parser.parse_args(argv)
    model = _model(args.model)
    if model is None:  # `make bench` never trains: without a gated pair this figure is skipped, said in one line
        print(f"(l) process start: no gated model at {args.model or ROOT / artifacts.MODEL_FILE}: run `make model`")
        return 0
    server = launcher.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            log = Path(folder) / "uvicorn.log"
            first = _with(server.path, _cli_run)  # the launcher imports the stack at its first request
            rows: dict[str, tuple[list[float], list[float]]] = {"service": ([], []), "cli": ([], [])}
            cpu: tuple[list[float | None], list[float | None]] = ([], [])
            for _ in range(args.runs):
                for column, socket_path in enumerate((launcher.OFF, server.path)):
                    rows["service"][column].append(
                        _with(socket_path, lambda c=column: _service_start(model, log, cpu[c]))
                    )
                    rows["cli"][column].append(_with(socket_path, _cli_run))
    finally:
        os.environ.pop(launcher.ENV, None)
        server.stop()
    load = os.getloadavg()[0]
    print(f"(l) process start, median of {args.runs} (load {load:.1f} on {os.cpu_count()} cpus):")
    print(f"    the launcher's one-off import of the stack (its first start): {first:.2f} s")
    for name, what in (("service", "uvicorn app.main:app until /health"), ("cli", " ".join(CLI[2:]) + " to exit")):
        fresh, forked = (statistics.median(times) for times in rows[name])
        print(f"    {what:<36} fresh {fresh:6.2f} s   launcher {forked:6.2f} s   x{fresh / forked:.1f}")
    what = f"its CPU, to {IDLE_S} s idle past /health"
    if None in cpu[0] + cpu[1]:
        print(f"    {what:<36} not measured: this system has no /proc to read a process's CPU from")
        return 0
    fresh, forked = (statistics.median(times) for times in cpu)
    print(f"    {what:<36} fresh {fresh:6.2f} s   launcher {forked:6.2f} s   x{fresh / forked:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make test`: every surface, cheapest first, stopping at the first red one, each one's wall time recorded.

Each surface is its own `make` target, run as a user would type it. The cheap
surfaces (up to and including `model`, the gate) run one after another with
their output streaming, so a lint or unit failure is seen in seconds. The
expensive surfaces after the gate mostly wait on real processes (uvicorn,
nginx, Prometheus, rollout windows) rather than burn CPU, so they run in
`--lanes N` lanes at once (`make test` gives 3, `make test LANES=1` one at a time),
longest first by their median wall time over the last 5 finished runs. Their output is kept per surface in
.bench/logs/ and printed whole when the surface ends, never interleaved.
While the cheap surfaces after lint run (one process, one core: the unit
tests take ~25 s) a lane beside them already runs surfaces from after the
gate, shortest first, their output printed once the gate is through (not
with LANES=1); after the gate that lane goes on, still from the short end,
beside the lanes that start from the long end.
After a red surface no new one starts; those already running finish.

The wall times go to .bench/suite.json with the commit and the machine's load,
so `make bench` can print them beside their targets without running the suite.

    python -m tools.suite [--lanes N] lint unit data model service ...

Exit codes are src/exits.py's: 1 when a surface is red (its own code is in the
message), 2 for a call without surfaces, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from src import atomic, exits, launcher
from src.config import ROOT

RECORD = ROOT / ".bench" / "suite.json"
HISTORY = ROOT / ".bench" / "suite-history.jsonl"  # every finished run, one JSON line each: what `make bench` medians
BURNERS_ENV = "BENCH_BURNERS"  # set by `python -m benchmarks.suite --burners N`: how many busy loops ran beside
LOGS = ROOT / ".bench" / "logs"
RECENT = 5  # finished runs whose median wall times order the surfaces
LAST_SERIAL = "model"  # the gate: everything up to it runs in order, streaming; the rest in lanes


def _commit() -> str:
    """The commit under test, marked when the tree differs from it (a timing of uncommitted code)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:  # no git (a downloaded archive): the timing is still worth keeping
        return "unknown"
    sha = head.stdout.strip() or "unknown"
    return f"{sha}+changes" if dirty.stdout.strip() else sha


def _save(record: dict[str, Any]) -> None:
    RECORD.parent.mkdir(exist_ok=True)
    atomic.write_text(RECORD, json.dumps(record, indent=2) + "\n")
    if record["complete"]:
        with open(HISTORY, "a") as history:  # one short line appended: a crash mid-write loses only that line
            history.write(json.dumps(record, sort_keys=True) + "\n")


def make_command(surface: str) -> list[str]:
    return ["make", "--no-print-directory", surface]


def split_serial(surfaces: Sequence[str]) -> tuple[list[str], list[str]]:
    """The surfaces up to the gate run in order; a list without the gate runs wholly in order."""
    if LAST_SERIAL not in surfaces:
        return list(surfaces), []
    cut = list(surfaces).index(LAST_SERIAL) + 1
    return list(surfaces[:cut]), list(surfaces[cut:])


def by_typical_time(surfaces: Sequence[str], previous: dict[str, float], longest: bool) -> list[str]:
    """By their typical wall time (`typical_times`); unknown surfaces keep their order, after the known ones.

    In the lanes the slowest start first, so the lanes end together; beside the
    gate the quickest go first, so a red gate waits little for the one running.
    """
    known = sorted((s for s in surfaces if s in previous), key=lambda s: previous[s], reverse=longest)
    return known + [s for s in surfaces if s not in previous]


def finished_runs(history: Path = HISTORY) -> list[dict[str, Any]]:
    """The complete records of `history`, oldest first; a torn or foreign line is skipped."""
    runs = []
    with contextlib.suppress(OSError):
        for line in history.read_text().splitlines():
            with contextlib.suppress(ValueError):
                runs.append(json.loads(line))
    return [r for r in runs if isinstance(r, dict) and r.get("complete") and isinstance(r.get("surfaces"), dict)]


def typical_times(history: Path = HISTORY, record: Path = RECORD) -> dict[str, float]:
    """Each surface's median wall time over the last RECENT finished runs; the last record when none finished.

    One red or disturbed run (a surface that hung to its timeout) must not
    reorder the next: the last record alone once put a 133 s `service` first
    and left `labs` to run alone at the end.
    """
    seen: dict[str, list[float]] = {}
    for run in finished_runs(history)[-RECENT:]:
        for surface, seconds in run["surfaces"].items():
            if isinstance(seconds, int | float):
                seen.setdefault(surface, []).append(float(seconds))
    if seen:
        return {surface: statistics.median(times) for surface, times in seen.items()}
    try:
        return dict(json.loads(record.read_text())["surfaces"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@dataclass
class _Running:
    surface: str
    proc: subprocess.Popen
    log: Path
    out: IO[bytes]
    beside: bool = False  # the lane beside the gate, not one of the LANES
    began: float = field(default_factory=time.perf_counter)


class Failed(Exception):
    def __init__(self, surface: str, code: int) -> None:
        super().__init__(surface, code)
        self.surface, self.code = surface, code


def run_head(
    serial: Sequence[str],
    beside: Sequence[str],
    times: dict[str, float],
    command: Callable[[str], list[str]] = make_command,
    logs: Path = LOGS,
) -> tuple[list[str], list[_Running]]:
    """The surfaces up to the gate in order, streaming; meanwhile `beside`, one at a time, in a lane next to them.

    The lane opens once the first head surface (lint, a second) is green, so a
    lint failure never costs a training run. Returns the surfaces of `beside`
    not yet started and the one still running.
    A red surface, in the head or beside it, stops anything new from starting;
    the one running beside the head finishes (said in one line), then the red
    head surface, else the red one beside it, is raised.
    """
    waiting, running, done = list(beside), None, []
    red: Failed | None = None
    proc: subprocess.Popen | None = None
    try:
        for index, surface in enumerate(serial):
            began, proc = time.perf_counter(), subprocess.Popen(command(surface), cwd=ROOT)
            code = None
            while code is None:
                if index > 0 and running is None and waiting and not any(r.proc.returncode for r in done):
                    running = _start(waiting.pop(0), command, logs, "beside the gate", beside=True)
                code = _wait(proc, 0.2)
                if running is not None and running.proc.poll() is not None:
                    done.append(_end(running, times))
                    running = None
            times[surface] = round(time.perf_counter() - began, 1)
            if code != 0:
                red = Failed(surface, code)
                break
        if red is not None and running is not None:
            print(f"make test: `make {red.surface}` is red; `make {running.surface}` (beside it) is finishing")
            running.proc.wait()
            done.append(_end(running, times))
            running = None
    except KeyboardInterrupt:  # Ctrl-C reached the head and the one beside it too: let them end
        for child in [p for p in (proc, running and running.proc) if p is not None]:
            child.wait()
        if running is not None:
            running.out.close()
        raise
    for run in done:
        _report(run, times)
    beside_red = next((Failed(r.surface, r.proc.returncode) for r in done if r.proc.returncode), None)
    if red is not None or beside_red is not None:
        raise red or beside_red
    return waiting, [running] if running is not None else []


def _wait(proc: subprocess.Popen, seconds: float) -> int | None:
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _start(
    surface: str, command: Callable[[str], list[str]], logs: Path, where: str = "", beside: bool = False
) -> _Running:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{surface}.log"
    out = open(log, "wb")  # noqa: SIM115 - closed when the surface ends
    proc = subprocess.Popen(command(surface), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    shown = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
    print(f"make test: `make {surface}` started{f' {where}' if where else ''} (output in {shown})", flush=True)
    return _Running(surface, proc, log, out, beside)


def _end(run: _Running, times: dict[str, float]) -> _Running:
    run.out.close()
    times[run.surface] = round(time.perf_counter() - run.began, 1)
    return run


def _report(run: _Running, times: dict[str, float]) -> int:
    code = run.proc.returncode
    verdict = "green" if code == 0 else f"RED (exit {code})"
    print(f"\n===== make {run.surface}: {verdict} in {times[run.surface]:.0f} s =====", flush=True)
    sys.stdout.buffer.write(run.log.read_bytes())
    sys.stdout.flush()
    return code


def _finish(run: _Running, times: dict[str, float]) -> int:
    return _report(_end(run, times), times)


def run_lanes(
    surfaces: Sequence[str],
    lanes: int,
    times: dict[str, float],
    command: Callable[[str], list[str]] = make_command,
    logs: Path = LOGS,
    running: Sequence[_Running] = (),
    beside: bool = False,
) -> None:
    """Up to `lanes` surfaces at once, in `surfaces`' order (`running`: already started); after a red one none
    starts, the rest finish.

    With `beside`, the lane that ran beside the gate goes on as well, one
    surface at a time from the other end of the list: the lanes start the
    longest, it works through the shortest, and a surface of middling length
    no longer waits for a lane to end the run alone.
    """
    waiting, running, failed = list(surfaces), list(running), None
    try:
        while waiting or running:
            while waiting and failed is None and sum(not r.beside for r in running) < lanes:
                running.append(_start(waiting.pop(0), command, logs))
            if beside and waiting and failed is None and not any(r.beside for r in running):
                running.append(_start(waiting.pop(), command, logs, "in the lane beside the gate", beside=True))
            time.sleep(0.2)
            for run in [r for r in running if r.proc.poll() is not None]:
                running.remove(run)
                code = _finish(run, times)
                if code != 0 and failed is None:
                    failed = Failed(run.surface, code)
            if failed is not None and not running:
                break
    except KeyboardInterrupt:
        for run in running:  # Ctrl-C reached them too (same process group): let them end, then say so once
            run.proc.wait()
            run.out.close()
        raise
    if failed is not None:
        raise failed


def main(argv: Sequence[str], command: Callable[[str], list[str]] = make_command) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.suite", description="make test's surfaces, cheapest first")
    parser.add_argument("--lanes", type=int, default=2, help="how many surfaces after the gate run at once")
    parser.add_argument("surfaces", nargs="*")
    args = parser.parse_args(argv)
    if not args.surfaces or args.lanes < 1:
        print("usage: python -m tools.suite [--lanes N>=1] SURFACE [SURFACE ...]  (make targets)", file=sys.stderr)
        return exits.REFUSED
    record: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "load_before": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "lanes": args.lanes,
        "launcher": os.environ.get("CHURN_LAUNCHER") != "0",
        "burners": int(os.environ.get(BURNERS_ENV, "0")) if os.environ.get(BURNERS_ENV, "0").isdigit() else 0,
        "surfaces": {},
        "complete": False,
    }
    serial, parallel = split_serial(args.surfaces)
    previous = typical_times()
    started = time.perf_counter()
    try:
        with launcher.session():  # one import of the stack for every surface, their pytest and docs lines
            beside = by_typical_time(parallel, previous, longest=False) if args.lanes > 1 else []
            left, running = run_head(serial, beside, record["surfaces"], command)
            rest = by_typical_time(left if beside else parallel, previous, longest=True)
            run_lanes(rest, args.lanes, record["surfaces"], command, running=running, beside=bool(beside))
    except KeyboardInterrupt:  # the last complete record stays as it was
        print("make test: interrupted; no timings recorded", file=sys.stderr)
        return exits.INTERRUPTED
    except Failed as red:
        record["failed"] = red.surface
        _save(record)
        print(
            f"make test: `make {red.surface}` failed (exit {red.code}); the surfaces after it did not start",
            file=sys.stderr,
        )
        return exits.NO
    record.update(
        complete=True, total_s=round(time.perf_counter() - started, 1), load_after=round(os.getloadavg()[0], 2)
    )
    _save(record)
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in record["surfaces"].items())
    print(f"make test: all {len(args.surfaces)} surfaces green in {record['total_s']:.0f} s ({times})")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

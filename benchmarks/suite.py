"""The test suite's wall time against its target, from the runs `make test` recorded (or runs it, `--runs N`).

`make test` (tools/suite.py) records each run in .bench/suite.json and appends
it to .bench/suite-history.jsonl with its commit, the machine's load, whether
the launcher was on and how many CPU burners ran beside it. This prints the
last run per surface, then the median of the last three complete runs of the
same commit, quiet and under burners, beside the target and the 495 s the
performance issue started from, with the deploy surface's share.

    python -m benchmarks.suite                         read the records (make bench)
    python -m benchmarks.suite --runs 3 [--burners 2]  run `make test` N times first (burners: busy loops beside it)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
from typing import Any

from src import exits
from src.config import ROOT
from tools.suite import BURNERS_ENV, RECORD, finished_runs

CHEAP = ("lint", "unit", "data", "model")
START_S = 495.0  # `make test` on a quiet 2-core machine when the performance issue was filed
TARGETS = {"cheap": 20.0, "test": 120.0}
MEDIAN_OF = 3


def _burn() -> None:
    while True:
        pass


def summary(runs: list[dict[str, Any]], burners: int) -> str | None:
    """`make test`'s median over the last MEDIAN_OF complete runs with `burners` burners, or None without any."""
    chosen = [r for r in runs if r.get("burners", 0) == burners][-MEDIAN_OF:]
    if not chosen:
        return None
    total = statistics.median(r["total_s"] for r in chosen)
    deploy = statistics.median(r["surfaces"].get("deploy", 0.0) for r in chosen)
    loads = ", ".join(f"{r['load_before']:.1f}" for r in chosen)
    commits = ", ".join(sorted({r["commit"] for r in chosen}))
    launcher = "on" if all(r.get("launcher", True) for r in chosen) else "off in some"
    return (
        f"make test, median of {len(chosen)} ({'quiet' if not burners else f'{burners} CPU burners beside it'}; "
        f"commit {commits}; load before {loads}; launcher {launcher}): "
        f"{total:.0f} s, target <= {TARGETS['test']:.0f} s, "
        f"at the issue {START_S:.0f} s (x{START_S / total:.2f}); the deploy surface {deploy:.0f} s "
        f"({deploy / total:.0%} of the wall)"
    )


def run(times: int, burners: int) -> int:
    """`make test` `times` times with `burners` busy loops beside it; each run records itself."""
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(burners)]
    for p in procs:
        p.start()
    try:
        for _ in range(times):
            env = {**os.environ, BURNERS_ENV: str(burners)}
            if subprocess.run(["make", "--no-print-directory", "test"], cwd=ROOT, env=env).returncode != 0:
                print("benchmarks.suite: `make test` was red; its record says where", file=sys.stderr)
                return exits.NO
    finally:
        for p in procs:
            p.terminate()
    return exits.OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=0, help="run `make test` this many times first")
    parser.add_argument("--burners", type=int, default=0, help="with --runs: CPU busy loops beside the suite")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.burners < 0:
        return exits.refuse("benchmarks.suite", "--runs and --burners are counts (0 or more)")
    if args.runs and (code := run(args.runs, args.burners)) != exits.OK:
        return code
    if not RECORD.is_file():
        print(f"(f) test suite: no record yet ({RECORD.name}): run `make test`, then `make bench` again")
        return exits.OK
    record = json.loads(RECORD.read_text())
    times: dict[str, float] = record["surfaces"]
    print(
        f"(f) test suite, wall time per surface from the last `make test` (commit {record['commit']}, "
        f"{record['started']}, load {record['load_before']} on {record['cpus']} cpus, {record.get('lanes')} lanes):"
    )
    print("    " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items()))
    if "failed" in record:
        print(f"    that run stopped at `make {record['failed']}`")
    if all(name in times for name in CHEAP):
        cheap = sum(times[name] for name in CHEAP)
        beside = " beside a lane of the later surfaces" if (record.get("lanes") or 1) > 1 else ""
        print(
            f"    make lint unit data model: {cheap:.1f} s in this run{beside} "
            f"(target <= {TARGETS['cheap']:.0f} s for them alone: `make lint unit data model`)"
        )
    runs = finished_runs()
    for burners in sorted({r.get("burners", 0) for r in runs} or {0}):
        line = summary(runs, burners)
        if line:
            print(f"    {line}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

"""`make test`: every surface, cheapest first, stopping at the first red one, each one's wall time recorded.

Each surface is its own `make` target, run as a user would type it, with its
output streaming as usual. The wall times go to .bench/suite.json with the
commit and the machine's load, so `make bench` can print them beside their
targets without running the suite itself.

    python -m tests.suite lint unit data model ...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from src import atomic
from src.config import ROOT

RECORD = ROOT / ".bench" / "suite.json"


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


def main(surfaces: list[str]) -> int:
    if not surfaces:
        print("usage: python -m tests.suite SURFACE [SURFACE ...]  (make targets, cheapest first)", file=sys.stderr)
        return 2
    record: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "load_before": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "surfaces": {},
        "complete": False,
    }
    started = time.perf_counter()
    for surface in surfaces:
        began = time.perf_counter()
        try:
            code = subprocess.run(["make", "--no-print-directory", surface], cwd=ROOT).returncode
        except KeyboardInterrupt:  # Ctrl-C reached the surface too; the last complete record stays as it was
            print(f"make test: interrupted during `make {surface}`; no timings recorded", file=sys.stderr)
            return 130
        record["surfaces"][surface] = round(time.perf_counter() - began, 1)
        if code != 0:
            record["failed"] = surface
            _save(record)
            print(
                f"make test: `make {surface}` failed (exit {code}); the surfaces after it did not run", file=sys.stderr
            )
            return code
    record.update(
        complete=True, total_s=round(time.perf_counter() - started, 1), load_after=round(os.getloadavg()[0], 2)
    )
    _save(record)
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in record["surfaces"].items())
    print(f"make test: all {len(surfaces)} surfaces green in {record['total_s']:.0f} s ({times})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

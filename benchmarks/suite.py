"""The test suite's wall times against their targets, read from the last `make test` (never runs a test).

`make test` (tools/suite.py) records each surface's wall time in
.bench/suite.json with its commit and the machine's load; this prints them
beside the targets and the figures the performance issue started from.
"""

from __future__ import annotations

import argparse
import json
import sys

from src import exits
from tools.suite import RECORD

CHEAP = ("lint", "unit", "data", "model")
# The issue's starting figures (warm venv, 2-core VM), printed beside today's.
ISSUE = {"cheap": "38 s", "test": "~180 s (512 s under load)"}
TARGETS = {"cheap": 20.0, "test": 120.0}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)  # --help, nothing else
    if not RECORD.is_file():
        print(f"(f) test suite: no record yet ({RECORD.name}): run `make test`, then `make bench` again")
        return exits.OK
    record = json.loads(RECORD.read_text())
    times: dict[str, float] = record["surfaces"]
    print(
        f"(f) test suite, wall time per surface from the last `make test` (commit {record['commit']}, "
        f"{record['started']}, load {record['load_before']} on {record['cpus']} cpus):"
    )
    print("    " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items()))
    if "failed" in record:
        print(f"    that run stopped at `make {record['failed']}`: the totals below cover what ran")
    rows = []
    if all(name in times for name in CHEAP):
        cheap = sum(times[name] for name in CHEAP)
        rows.append(
            ("make lint unit data model", "<= 20 s", ISSUE["cheap"], f"{cheap:.1f} s", TARGETS["cheap"] / cheap)
        )
    if record.get("complete"):
        total = record["total_s"]
        rows.append(("make test", "<= 120 s", ISSUE["test"], f"{total:.0f} s", TARGETS["test"] / total))
    head = ("figure", "target", "issue", "now", "ratio")
    table = [head, *[(*row[:4], f"{row[4]:.2f}") for row in rows]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("    " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

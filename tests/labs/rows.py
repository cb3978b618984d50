"""One row of the break-the-pipeline matrix, proven end to end in a throw-away copy of this tree.

`python -m labs start ID`, then `check` must report the lab's intended
surface as the first red one (every cheaper surface ran and stayed green),
printing the lab's hint, with 0 points and a non-zero exit; then the
reference solution is applied and committed, and `check` must report every
surface green, the contract untouched and full points, exiting 0.
"""

from __future__ import annotations

import time
from pathlib import Path

from labs.catalog import Lab
from tests.labs.conftest import check, commit_all, copy_tree, labs


def prove_row(lab: Lab, tmp_path: Path, cache: Path) -> None:
    root = copy_tree(tmp_path)
    started = labs(root, "start", lab.id)
    assert started.returncode == 0, f"start failed: {started.stderr}"
    assert lab.brief[:40] in started.stdout, "start must print the incident brief"

    started_at = time.monotonic()
    code, report = check(root, cache, "--quick")
    fault_s = time.monotonic() - started_at
    ran = [o["surface"] for o in report["outcomes"]]
    red = next(o for o in report["outcomes"] if not o["passed"]) if report["caught_by"] else None
    assert report["caught_by"] == lab.surface, (
        f"{lab.id}: expected {lab.surface} to catch the fault, got {report['caught_by']} (surfaces run: {ran}):\n"
        + (red["output"][-2500:] if red else "every surface green: the fault is invisible")
    )
    assert report["hint_seen"], (
        f"{lab.id}: {lab.surface} went red without its hint {lab.hint!r}:\n{red['output'][-2500:]}"
    )
    assert (code, report["points"]) == (1, 0), f"{lab.id}: an unsolved lab scored {report['points']} (exit {code})"

    solved = labs(root, "solve")
    assert solved.returncode == 0, solved.stderr
    commit_all(root, f"fix {lab.id}")
    started_at = time.monotonic()
    code, report = check(root, cache, "--quick")
    solved_s = time.monotonic() - started_at
    red = next((o for o in report["outcomes"] if not o["passed"]), None)
    assert report["fixed"], (
        f"{lab.id}: the reference solution leaves {report['caught_by']} red:\n{red and red['output'][-2500:]}"
    )
    assert report["contract_changes"] == [], f"{lab.id}: the reference solution moved the contract"
    assert (code, report["points"]) == (0, 100), f"{lab.id}: solved but scored {report['points']} (exit {code})"
    surfaces = ", ".join(
        f"{o['surface']} {o['seconds']}s{' (cached)' if o['cached'] else ''}" for o in report["outcomes"]
    )
    print(f"\n  {lab.id}: caught by {lab.surface} in {fault_s:.0f} s; solved check {solved_s:.0f} s [{surfaces}]")

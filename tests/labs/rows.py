"""One row of the break-the-pipeline matrix, proven end to end in a throw-away copy of this tree.

`python -m labs start ID`, then both views a student has, the full `check`
(hand-in) and `check --quick` (iterating), must name the lab's own surface as
the catcher, printing the lab's hint, with 0 points and a non-zero exit: the
matrix in docs/lab.md, `list`, the full check and the quick check say the same
thing. Then the reference solution is applied and committed, and `check`
must report every surface green, the contract untouched and full points.
"""

from __future__ import annotations

import time
from pathlib import Path

from labs.catalog import Lab
from tests.labs.conftest import check, commit_all, copy_tree, labs

VIEWS = (("full", ()), ("quick", ("--quick",)))


def prove_row(lab: Lab, tmp_path: Path, cache: Path) -> None:
    root = copy_tree(tmp_path)
    started = labs(root, "start", lab.id)
    assert started.returncode == 0, f"start failed: {started.stderr}"
    assert lab.brief[:40] in started.stdout, "start must print the incident brief"

    took: dict[str, float] = {}
    for view, flags in VIEWS:
        started_at = time.monotonic()
        code, report = check(root, cache, *flags)
        took[view] = time.monotonic() - started_at
        assert report["caught_by"] == lab.surface, (
            f"{lab.id}: the {view} check says caught by {report['caught_by']}, the catalog {lab.surface}:\n"
            + report["text"]
        )
        assert report["hint_seen"], f"{lab.id} ({view}): {lab.surface} went red without {lab.hint!r}:\n{report['text']}"
        assert (code, report["points"]) == (1, 0), f"{lab.id} ({view}): unsolved but scored {report['points']}"

    solved = labs(root, "solve")
    assert solved.returncode == 0, solved.stderr
    commit_all(root, f"fix {lab.id}")
    started_at = time.monotonic()
    code, report = check(root, cache, "--quick")
    solved_s = time.monotonic() - started_at
    assert report["fixed"], f"{lab.id}: the reference solution leaves {report['caught_by']} red:\n{report['text']}"
    assert report["contract_changes"] == [], f"{lab.id}: the reference solution moved the contract"
    assert (code, report["points"]) == (0, 100), f"{lab.id}: solved but scored {report['points']} (exit {code})"
    surfaces = ", ".join(
        f"{o['surface']} {o['seconds']}s{' (cached)' if o['cached'] else ''}" for o in report["outcomes"]
    )
    print(
        f"\n  {lab.id}: caught by {lab.surface}: full check {took['full']:.0f} s, quick {took['quick']:.0f} s; "
        f"solved check {solved_s:.0f} s [{surfaces}]"
    )

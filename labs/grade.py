"""`check`: run the surfaces a lab needs, cheapest first, and grade the tree.

Points (the rubric in docs/lab.md): 60 when every surface the lab needs is
green, 40 more when the contract is untouched as well. The last line is
`Points X/100`; the exit status is 0 only at full points, which is what
GitHub Classroom's command grader (classroom-resources/autograding-command-grader)
turns into its max-score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labs import contract, repo
from labs.catalog import BY_ID, SURFACES, Lab, Surface
from labs.surfaces import Outcome, Runner

FIXED_POINTS, CONTRACT_POINTS = 60, 40
MAX_POINTS = FIXED_POINTS + CONTRACT_POINTS
OFFLINE: tuple[Surface, ...] = ("code", "data", "model")


def _before_own(surface: Surface, lab: Lab) -> bool:
    """An offline surface cheaper than the lab's own: red there does not stop the check before the lab's own runs.

    "Caught by" means the lab's declared surface (docs/lab.md's matrix, `list`):
    a unit-test fixture that gates a small model sees a broken evaluation too,
    so the full check may find code red as well; it still runs the lab's own
    surface, reports both, and names the lab's own as the catcher.
    """
    return surface in OFFLINE and SURFACES.index(surface) < SURFACES.index(lab.surface)


def surfaces_for(lab: Lab) -> tuple[Surface, ...]:
    """Every offline surface, plus the live ones up to the lab's own: a fix must not break a cheaper gate."""
    upto = SURFACES[: SURFACES.index(lab.surface) + 1]
    return tuple(s for s in SURFACES if s in OFFLINE or s in upto)


@dataclass(frozen=True)
class Report:
    lab: str
    intended: Surface
    base: str
    started_from: str
    outcomes: list[Outcome]
    caught_by: Surface | None  # the lab's own surface when red, else the first red one
    hint_seen: bool
    contract_changes: list[str]
    points: int

    @property
    def fixed(self) -> bool:
        return self.caught_by is None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fixed": self.fixed, "max_points": MAX_POINTS, "text": render(self)}


def check(root: Path, quick: bool = False, use_cache: bool = True) -> Report:
    running = repo.running(root)
    if running.lab_id not in BY_ID:
        raise repo.RepoError(f"lab {running.lab_id!r} (commit {running.lab_commit[:8]}) is not in this catalog")
    lab = BY_ID[running.lab_id]
    runner = Runner(root, lab, running.base, quick=quick, use_cache=use_cache)
    outcomes: list[Outcome] = []
    for surface in surfaces_for(lab):
        outcomes.append(runner.run(surface))
        if not outcomes[-1].passed and not _before_own(surface, lab):
            break
    reds = [o for o in outcomes if not o.passed]
    red = next((o for o in reds if o.surface == lab.surface), reds[0] if reds else None)
    changes = contract.changes(root, running.base)
    fixed = red is None
    points = (FIXED_POINTS if fixed else 0) + (CONTRACT_POINTS if fixed and not changes else 0)
    return Report(
        lab.id,
        lab.surface,
        running.base,
        running.started_from,
        outcomes,
        red.surface if red else None,
        bool(red and lab.hint in red.output + red.key_lines),
        changes,
        points,
    )


def render(report: Report) -> str:
    lab = BY_ID[report.lab]
    lines = [f"lab {report.lab} (expected surface: {report.intended}; started from {report.base[:8]})"]
    for o in report.outcomes:
        state = "ok" if o.passed else "FAIL"
        note = " (cached: same tree as an earlier run)" if o.cached else ""
        lines.append(f"  {o.surface:<8}{state:<5}{o.seconds:>7.1f}s  {o.command}{note}")
        if not o.passed:  # the surface's summary (one line per failure, one per failed fixture), never a dump
            if o.key_lines and lab.hint not in o.output:
                lines += [f"      > {line}" for line in o.key_lines.splitlines()]
            lines += [f"      | {line}" for line in o.output.splitlines()]
    if report.caught_by is None:
        lines.append("caught by: nothing, every surface is green")
    elif report.caught_by == report.intended:
        with_hint = f'with its hint ("{lab.hint}")' if report.hint_seen else f'but without its hint ("{lab.hint}")'
        lines.append(f"caught by {report.caught_by}, the intended surface, {with_hint}")
    else:
        lines.append(f"caught by {report.caught_by} (this lab's fault belongs to {report.intended})")
    also = [o.surface for o in report.outcomes if not o.passed and o.surface != report.caught_by]
    if also:
        lines.append(f"also red: {', '.join(also)} (every surface must be green for the fix to count)")
    lines.append("fixed: yes, every surface is green" if report.fixed else f"fixed: no, {report.caught_by} is red")
    if report.contract_changes:
        lines.append("contract: CHANGED (a fix must not move the goalposts):")
        lines += [f"  - {c}" for c in report.contract_changes]
    else:
        lines.append(f"contract: untouched (gate thresholds, data contract, tests, grader as at {report.base[:8]})")
    lines.append(f"Points {report.points}/{MAX_POINTS}")
    return "\n".join(lines)

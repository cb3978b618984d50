"""What a fix must not touch: the gate's thresholds, the data contract, the tests and the grader.

A lab is solved by fixing the fault, never by moving the goalposts: loosening
AUC_FLOOR, widening a bound in src/schema.py, deleting the red test or
editing this grader would all turn a surface green. Each part is a declared
block (named top-level assignments, or the lines between two markers),
compared whole, as text, with the commit the lab started from; a block the
grader cannot find is an error, never a silent fallback to the whole file
(tests/labs proves every block exists).
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from pathlib import Path

from labs import edits
from labs.edits import definition
from labs.repo import TEACHER_ONLY, files_at, files_now, show

GRADER_OWNED = "labs/release.json"  # the one file under labs/ a student may change: the candidate's deployment


@dataclass(frozen=True)
class Part:
    """A declared block of the contract: the top-level statements binding `names`, or the lines between markers."""

    name: str
    path: str
    names: tuple[str, ...] = ()  # top-level assignments, compared whole (comments inside them included)
    start: str = ""  # ... or the lines from the one holding `start`
    end: str = ""  # ... up to the one holding `end` (excluded); both must exist

    def block(self, text: str) -> str | None:
        """The block's text in `text`, or None when any declared piece of it is missing (never a silent fallback)."""
        if self.names:
            try:
                tree = ast.parse(text)
            except SyntaxError:
                return None
            found = [definition(tree, name) for name in self.names]
            if any(stmt is None for stmt in found):
                return None
            lines = text.splitlines()
            return "\n".join("\n".join(lines[s.lineno - 1 : s.end_lineno]).rstrip() for s in found)
        lines = text.splitlines()
        first = next((i for i, line in enumerate(lines) if self.start in line), None)
        last = (
            next((i for i in range(first + 1, len(lines)) if self.end in lines[i]), None) if first is not None else None
        )
        if first is None or last is None:
            return None
        return "\n".join(line.rstrip() for line in lines[first:last]).strip()


PARTS: tuple[Part, ...] = (
    Part("gate thresholds", "src/gate/contract.py", start="# --- the contract", end="# -----"),
    Part(
        "data contract (COLUMNS and the snapshot rules)",
        "src/schema.py",
        names=("COLUMNS", "MIN_ROWS", "CHURN_RATE_BAND", "LEAKAGE_DENYLIST", "INVARIANT_FACTOR"),
    ),
)
FOLDERS: tuple[tuple[str, str], ...] = (("the tests", "tests"), ("the grader", "labs"))


def changes(root: Path, base: str) -> list[str]:
    """One line per part of the contract that differs from `base`; empty when untouched."""
    out: list[str] = []
    for part in PARTS:
        before = part.block(show(root, base, part.path))
        if before is None:
            raise RuntimeError(f"the grader's {part.name} block is not in {part.path} at {base[:8]}: labs/contract.py")
        now = part.block((root / part.path).read_text()) if (root / part.path).is_file() else None
        if now is None:
            out.append(f"{part.name} ({part.path}) changed: the block is gone")
        elif before != now:
            diff = [
                line
                for line in difflib.unified_diff(before.splitlines(), now.splitlines(), lineterm="", n=0)
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            ]
            out.append(f"{part.name} ({part.path}) changed: {' | '.join(' '.join(d.split()) for d in diff[:4])}")
    for name, folder in FOLDERS:
        before, now = files_at(root, base, folder), files_now(root, folder)
        for files in (before, now):  # the candidate's deployment is the student's; the solutions never were
            files.pop(GRADER_OWNED, None)
            for path in [p for p in files if p.startswith(TEACHER_ONLY)]:
                del files[path]
        touched = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
        if touched:
            out.append(f"{name} changed: {', '.join(touched[:5])}")
    return out


def check_ids(gate_source: str) -> list[str]:
    """The ids of the gate checks declared literally (`Check(id="...")`) in a src/gate/contract.py source."""
    try:
        tree = ast.parse(gate_source)
    except SyntaxError:
        return []
    return [
        str(edits.keyword(node, "id"))
        for node in ast.walk(tree)
        if edits.calls("Check")(node) and isinstance(edits.keyword(node, "id"), str)
    ]

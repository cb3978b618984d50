"""What a fix must not touch: the gate's thresholds, the data contract, the tests and the grader.

A lab is solved by fixing the fault, never by moving the goalposts: loosening
AUC_FLOOR, widening a bound in src/schema.py, deleting the red test or
editing this grader would all turn a surface green. Each part is compared,
as text, with the commit the lab started from.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from labs.repo import files_at, files_now, show

GRADER_OWNED = "labs/release.json"  # the one file under labs/ a student may change: the candidate's deployment


@dataclass(frozen=True)
class Part:
    name: str
    path: str
    start: str  # the block runs from the line holding `start` ...
    end: str  # ... up to the line holding `end` (excluded)

    def block(self, text: str) -> str:
        lines = text.splitlines()
        first = next((i for i, line in enumerate(lines) if self.start in line), None)
        if first is None:
            return ""
        last = next((i for i in range(first + 1, len(lines)) if self.end in lines[i]), len(lines))
        return "\n".join(line.rstrip() for line in lines[first:last]).strip()


PARTS: tuple[Part, ...] = (
    Part("gate thresholds", "src/gate.py", "# --- the contract", "# -----"),
    Part("data contract (COLUMNS and the snapshot rules)", "src/schema.py", "COLUMNS: tuple[Column", "def dtypes("),
)
FOLDERS: tuple[tuple[str, str], ...] = (("the tests", "tests"), ("the grader", "labs"))


def changes(root: Path, base: str) -> list[str]:
    """One line per part of the contract that differs from `base`; empty when untouched."""
    out: list[str] = []
    for part in PARTS:
        before = part.block(show(root, base, part.path))
        now = part.block((root / part.path).read_text()) if (root / part.path).is_file() else ""
        if before != now:
            diff = [
                line
                for line in difflib.unified_diff(before.splitlines(), now.splitlines(), lineterm="", n=0)
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            ]
            out.append(f"{part.name} ({part.path}) changed: {' | '.join(diff[:4])}")
    for name, folder in FOLDERS:
        before, now = files_at(root, base, folder), files_now(root, folder)
        before.pop(GRADER_OWNED, None)
        now.pop(GRADER_OWNED, None)
        touched = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
        if touched:
            out.append(f"{name} changed: {', '.join(touched[:5])}")
    return out


def check_ids(gate_source: str) -> list[str]:
    """The ids of the gate checks declared literally in a src/gate.py source."""
    return re.findall(r'^\s+id="(\w+)",$', gate_source, flags=re.MULTILINE)

"""Reference solutions, for teachers and the matrix test: `python -m labs solve` applies the running lab's.

Students work without these (docs/lab.md: hand them out after the session).
Each one is what a good fix looks like, made on the working tree and left
uncommitted, so `git diff` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labs.edits import RELEASE, SNAPSHOT, restore, restore_definition

Solution = Callable[[Path, str], None]  # (checkout root, the commit the lab started from)


def _reexport(root: Path, base: str) -> None:
    """The fix for a broken export is a good export: the snapshot as the last good run produced it."""
    restore(root, base, SNAPSHOT)


def _redeploy(root: Path, base: str) -> None:
    """Deploy the candidate as the service itself, with no drill settings."""
    restore(root, base, RELEASE)


def _definitions(*where: tuple[str, str]) -> Solution:
    """Put each faulty definition back as the start commit had it: the smallest fix, and `git diff` shows it."""

    def solve(root: Path, base: str) -> None:
        for path, name in where:
            restore_definition(root, base, path, name)

    return solve


SOLUTIONS: dict[str, Solution] = {
    "columns-reordered": _definitions(("src/features.py", "build_matrix")),
    "imputation-removed": _definitions(("src/features.py", "build_matrix")),
    "unknown-category-encoded": _definitions(("src/features.py", "_category")),
    "split-diverges": _definitions(("src/train.py", "fit")),
    "leaky-column": _reexport,
    "yes-no-label": _reexport,
    "duplicated-customers": _reexport,
    "charges-in-cents": _reexport,
    "truncated-export": _reexport,
    "auc-on-stay-column": _definitions(("src/train.py", "evaluate")),
    "calibration-check-removed": _definitions(("src/train.py", "train_model"), ("src/gate/contract.py", "CHECKS")),
    "leaky-charges": _reexport,
    "shuffled-labels": _reexport,
    "failing-slice": _reexport,
    "candidate-500s": _redeploy,
    "slower-candidate": _redeploy,
    "train-serve-skew": _reexport,
    "ab-decisions-differ": _redeploy,
}

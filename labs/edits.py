"""The small file edits that faults and solutions are made of.

Every edit names the exact text it expects to find, once: a lab written
against code that has since moved fails loudly at `start` instead of seeding
a fault somewhere else.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd

SNAPSHOT = "data/churn.csv"
RELEASE = "labs/release.json"  # how the candidate is deployed: its app and its extra environment


class EditError(Exception):
    """A lab's edit no longer applies to this tree."""


def replace(root: Path, path: str, old: str, new: str) -> None:
    """Replace `old` by `new` in `path`; `old` must occur exactly once."""
    file = root / path
    text = file.read_text()
    if text.count(old) != 1:
        raise EditError(f"{path}: expected the text to edit exactly once, found it {text.count(old)} times: {old!r}")
    file.write_text(text.replace(old, new))


def edit_snapshot(root: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """Rewrite the committed snapshot as text, so untouched cells keep their exact bytes."""
    file = root / SNAPSHOT
    raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    change(raw).to_csv(file, index=False, lineterminator="\n")


def restore(root: Path, base: str, path: str) -> None:
    """Put `path` back as it was at commit `base` (what a re-export or a revert does)."""
    blob = subprocess.run(["git", "show", f"{base}:{path}"], cwd=root, capture_output=True, check=True).stdout
    (root / path).write_bytes(blob)


def set_release(root: Path, **changes: object) -> None:
    file = root / RELEASE
    release = json.loads(file.read_text())
    release.update(changes)
    file.write_text(json.dumps(release, indent=2, sort_keys=True) + "\n")

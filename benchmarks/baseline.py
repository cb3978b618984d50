"""The baseline a benchmark measures beside this checkout: a git ref as a temporary worktree.

`make bench` prints today's figures beside BASELINE_REF's, measured in the
same run on the same machine (a figure from another day is another load).
benchmarks.service and benchmarks.hot_frames both take `--baseline REF`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from src.config import ROOT


class StepFailed(RuntimeError):
    """A bench step failed; the message carries the step's own output."""


@contextmanager
def checkout(ref: str | None, tmp: Path) -> Iterator[Path | None]:
    """A detached worktree of `ref` (the baseline to measure beside this checkout), removed afterwards."""
    if not ref:
        yield None
        return
    path = tmp / f"baseline-{ref}"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, capture_output=True, text=True
    )
    if added.returncode != 0:
        raise StepFailed(f"git worktree add {ref} failed:\n{added.stdout}{added.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)

"""This tree as a clone of it would be: tracked and unignored files only, optionally as a one-commit repository.

The runnable-docs tests, the lab tests and benchmarks.evidence each work on
such a copy, so nothing they do (artifacts, edits, a lab branch) touches the
checkout, and what they see is what a user who just cloned sees: no .stack,
no artifacts, no caches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from src.config import ROOT


def copy_tree(dest: Path, root: Path = ROOT) -> Path:
    """`root`'s tracked and new, unignored files copied to `dest`, mtimes kept (so make sees a built venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    return dest


def git_identity(who: str) -> dict[str, str]:
    """The environment with `who` as git author and committer (a throwaway repository needs one)."""
    email = f"{who}@example.invalid"
    names = {"GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": email}
    return {**os.environ, **names}


def one_commit(dest: Path, message: str, who: str) -> Path:
    """`dest` made a git repository on branch main with everything in it committed once, as `who`."""
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *argv], cwd=dest, check=True, capture_output=True, env=git_identity(who))
    return dest

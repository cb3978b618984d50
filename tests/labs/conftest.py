"""Throw-away clones for the lab tests: the real checkout is never switched, edited or branched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from src.config import ROOT


def copy_tree(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) in a fresh one-commit repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for path in listed:
        if (ROOT / path).is_file():
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, dest / path)
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "course repository"],
    ):
        subprocess.run(["git", *argv], cwd=dest, check=True, capture_output=True)
    return dest


def labs(root: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"LABS_CACHE_DIR": str(cache)} if cache else {})}
    return subprocess.run(
        [sys.executable, "-m", "labs", *args], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )


def check(root: Path, cache: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    done = labs(root, "check", "--json", *flags, cache=cache)
    assert done.returncode in (0, 1), f"check crashed ({done.returncode}): {done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout)


def commit_all(root: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", message],
        cwd=root,
        check=True,
    )


@pytest.fixture(scope="session")
def lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One verdict cache for every clone: a solved tree identical to another is judged once."""
    return tmp_path_factory.mktemp("labs-cache")

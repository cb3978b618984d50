"""Throw-away clones for the lab tests: the real checkout is never switched, edited or branched."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import labs.__main__ as cli
from src import launcher
from tools import copies
from tools.copies import one_commit


def copy_tree(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) in a fresh one-commit repository."""
    return one_commit(copies.copy_tree(dest), "course repository", who="t")


def labs(root: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"LABS_CACHE_DIR": str(cache)} if cache else {})}
    return launcher.run(
        [sys.executable, "-m", "labs", *args], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )


def labs_here(root: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m labs ...` in this process (the same `main`, rooted at `root`): no interpreter start per command.

    tests/labs/test_cli.py runs the commands as real processes; the every-lab
    test runs four commands for each of 18 labs, where a fresh interpreter
    (pandas, numpy) costs more than the command.
    """
    out, err = io.StringIO(), io.StringIO()
    saved_root, saved_cache = cli.ROOT, os.environ.get("LABS_CACHE_DIR")
    cli.ROOT = root
    if cache:
        os.environ["LABS_CACHE_DIR"] = str(cache)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        cli.ROOT = saved_root
        if saved_cache is None:
            os.environ.pop("LABS_CACHE_DIR", None)
        else:
            os.environ["LABS_CACHE_DIR"] = saved_cache
    return subprocess.CompletedProcess(["python", "-m", "labs", *args], code, out.getvalue(), err.getvalue())


def check(root: Path, cache: Path, *flags: str, here: bool = False) -> tuple[int, dict[str, Any]]:
    done = (labs_here if here else labs)(root, "check", "--json", *flags, cache=cache)
    assert done.returncode in (0, 1), f"check crashed ({done.returncode}): {done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout)


def commit_all(root: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", message],
        cwd=root,
        check=True,
    )


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def clone(course: Path, dest: Path) -> Path:
    """A student's clone of the course repository (on main, the start commit present)."""
    subprocess.run(["git", "clone", "-q", str(course), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One committed copy of this tree: the course repository every lab test clones."""
    return copy_tree(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One verdict cache for every clone: a solved tree identical to another is judged once."""
    return tmp_path_factory.mktemp("labs-cache")

"""The student's clone, through git: which lab is running, from where, and what the tree holds now.

Everything is read from the repository itself (the "lab: ID" commit and the
start commit its message names), never from a state file, so `check` gives the same answer on a fresh
clone, e.g. in GitHub Classroom's runner (which needs `fetch-depth: 0`).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

TEACHER_ONLY: tuple[str, ...] = ("labs/solutions/", "labs/faults.py")  # never in a student's tree (labs.handout)
COMMIT_AS = ["-c", "user.name=churn-service labs", "-c", "user.email=labs@churn-service.invalid"]


class RepoError(Exception):
    """The repository is not in a state this command can work from."""


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RepoError(f"git {' '.join(args)}: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return result.stdout.strip()


def dirty(root: Path) -> list[str]:
    """Uncommitted changes, as `git status --porcelain` lines."""
    return [line for line in git(root, "status", "--porcelain").splitlines() if line]


def current_branch(root: Path) -> str:
    return git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False) or git(root, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Running:
    """The lab this checkout is on: its id, the commit it started from, and the branch to go back to."""

    lab_id: str
    lab_commit: str
    base: str
    started_from: str


def _field(body: str, name: str) -> str:
    return next((ln.split(":", 1)[1].strip() for ln in body.splitlines() if ln.startswith(f"{name}:")), "")


def running(root: Path) -> Running:
    """The lab commit (subject `lab: ID`, no parent) and the start commit its message names (`base: <sha>`)."""
    out = git(root, "log", "-1", "--grep=^lab: ", "--format=%H%x1f%s%x1f%b", "HEAD", check=False)
    if not out:
        raise RepoError("no lab is running here: start one with `python -m labs start ID` (`python -m labs list`)")
    commit, subject, body = [*out.split("\x1f"), "", ""][:3]
    base = _field(body, "base")
    if not base:
        raise RepoError(f"the lab commit {commit[:8]} names no start commit (`base: <sha>`): start the lab again")
    if git(root, "cat-file", "-t", base, check=False) != "commit":
        where = _field(body, "course") or "the course repository"
        raise RepoError(
            f"the start commit {base[:8]} is not in this clone: `git fetch --no-tags --depth=1 {where} {base}`"
        )
    return Running(subject.removeprefix("lab: ").strip(), commit, base, _field(body, "started from"))


def files_now(root: Path, under: str = ".") -> dict[str, str]:
    """path -> git blob sha of every file in the working tree (tracked or new, not ignored)."""
    listed = git(root, "ls-files", "-co", "--exclude-standard", "--deduplicate", "--", under).splitlines()
    paths = sorted(p for p in set(listed) if (root / p).is_file())
    if not paths:
        return {}
    shas = subprocess.run(
        ["git", "hash-object", "--stdin-paths"], cwd=root, input="\n".join(paths), capture_output=True, text=True
    ).stdout.split()
    return dict(zip(paths, shas, strict=True))


def files_at(root: Path, ref: str, under: str = ".") -> dict[str, str]:
    """path -> git blob sha of every file under `under` at commit `ref`."""
    out = git(root, "ls-tree", "-r", ref, "--", under)
    return {line.split("\t", 1)[1]: line.split()[2] for line in out.splitlines()}


def tree_key(root: Path, exclude: str | tuple[str, ...] = "labs/") -> str:
    """A hash of the working tree's content outside `exclude`: same key, same surface verdicts."""
    files = {p: s for p, s in files_now(root).items() if not p.startswith(exclude)}
    return hashlib.sha256("".join(f"{p}\0{s}\n" for p, s in files.items()).encode()).hexdigest()[:16]


def show(root: Path, ref: str, path: str) -> str:
    return git(root, "show", f"{ref}:{path}", check=False)

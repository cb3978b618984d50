"""What a student is handed: the seeded tree as ONE commit, without the teacher's files.

Exam mode is the only mode. `start` puts the seeded tree on a new branch
whose first commit has no parent, so `git log` / `git show` show a whole
tree, never a one-line diff pointing at the fault; the commit the lab started
from is named in the lab commit's message (`base: <sha>`) for the grader,
which compares with it. `labs/solutions/` (the reference fixes) and
`labs/faults.py` (what each lab breaks) are left out of that tree, and
docs/lab.md's matrix is withheld from it: `solve` reads the solutions from the
start commit.

`export` writes the same tree as a standalone repository with a GitHub
Classroom autograding workflow: the starter repository of one assignment.
The grader there needs the start commit too; the workflow fetches it from
the course repository named at export (`course: <url>`).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

from labs import matrix, repo
from labs.catalog import Lab
from labs.edits import EditError
from labs.repo import TEACHER_ONLY

WORKFLOW = ".github/workflows/classroom.yml"
CHECK_MINUTES = 25  # the command grader's timeout: many times a full deploy-lab check (docs/benchmarks.md)


def seed_tree(root: Path, lab: Lab) -> None:
    """Seed `lab` into the tree at `root` and drop the teacher's files; EditError names the lab and the anchor."""
    from labs.faults import FAULTS  # the teacher's: present in the course repository, gone from the lab's tree

    try:
        FAULTS[lab.id].seed(root)
    except (EditError, OSError, ValueError, KeyError) as exc:
        raise EditError(f"lab {lab.id} does not apply to this tree: {exc}") from None
    for path in TEACHER_ONLY:
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    matrix.withhold(root / matrix.PAGE_PATH)


def message(lab: Lab, base: str, started_from: str, course: str = "") -> list[str]:
    """The lab commit's message: the subject `lab: ID`, then what the grader reads (repo.running)."""
    body = [f"base: {base}", f"started from: {started_from}"] + ([f"course: {course}"] if course else [])
    return ["-m", f"lab: {lab.id}", "-m", "\n".join(body)]


def start(root: Path, lab: Lab) -> str:
    """Seed `lab` on a new branch lab/ID whose one commit holds the whole seeded tree; returns the branch."""
    if repo.dirty(root):
        raise repo.RepoError("the working tree has uncommitted changes: commit or stash them, then start the lab")
    branch = f"lab/{lab.id}"
    if repo.git(root, "branch", "--list", branch):
        raise repo.RepoError(f"branch {branch} exists already: `python -m labs reset` or `git branch -D {branch}`")
    started_from = repo.current_branch(root)
    base = repo.git(root, "rev-parse", "HEAD")
    repo.git(root, "checkout", "-q", "--orphan", branch)  # keeps the tree and the index, forgets the history
    try:
        seed_tree(root, lab)
    except EditError:
        repo.git(root, "checkout", "-q", "-f", started_from)
        repo.git(root, "branch", "-q", "-D", branch, check=False)
        raise
    repo.git(root, "add", "-A")
    repo.git(root, *repo.COMMIT_AS, "commit", "-q", *message(lab, base, started_from))
    return branch


def solutions(root: Path, base: str) -> ModuleType:
    """The reference solutions as the start commit holds them (the lab's tree has none)."""
    source = repo.show(root, base, "labs/solutions/__init__.py")
    if not source:
        raise repo.RepoError(f"the start commit {base[:8]} holds no labs/solutions/: no reference solution to apply")
    spec = importlib.util.spec_from_loader("labs_solutions_at_base", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{base[:8]}:labs/solutions/__init__.py", "exec"), module.__dict__)
    return module


# --- a standalone starter repository (GitHub Classroom) -----------------------


def workflow(lab: Lab, base: str, course: str) -> str:
    """The assignment's autograding: fetch the start commit, then `labs check` (100 points on exit 0)."""
    return f"""# GitHub Classroom autograding for lab {lab.id} (written by `python -m labs export`).
name: Autograding
on:
  push:
  workflow_dispatch:
permissions:
  contents: read
  checks: write
  actions: read
jobs:
  lab:
    runs-on: ubuntu-24.04
    timeout-minutes: {CHECK_MINUTES + 10}
    steps:
      - name: Check out with the whole history (the grader finds the lab commit in it)
        uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2
        with:
          fetch-depth: 0
          persist-credentials: false
      - name: Set up Python 3.11
        uses: actions/setup-python@a309ff8b426b58ec0e2a45f0f869d46889d02405 # v6.2.0
        with:
          python-version: "3.11"
      - name: Fetch the start commit the grader compares with
        run: git fetch --no-tags --depth=1 "{course}" {base}
      - name: lab
        id: lab
        uses: classroom-resources/autograding-command-grader@v1 # v1
        with:
          test-name: lab {lab.id}
          setup-command: make venv system-deps
          command: .venv/bin/python -m labs check
          timeout: {CHECK_MINUTES}
          max-score: 100
      - name: Report the points
        uses: classroom-resources/autograding-grading-reporter@v1 # v1
        env:
          LAB_RESULTS: "${{{{ steps.lab.outputs.result }}}}"
        with:
          runners: lab
"""


def export(root: Path, lab: Lab, dest: Path, course: str) -> str:
    """Write `lab` as a one-commit repository at `dest`; returns the start commit it grades against."""
    if repo.dirty(root):
        raise repo.RepoError("the working tree has uncommitted changes: commit (and push) them, then export")
    if dest.exists() and any(dest.iterdir()):
        raise repo.RepoError(f"{dest} exists and is not empty: export into a new folder")
    base = repo.git(root, "rev-parse", "HEAD")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "base.tar"
        repo.git(root, "archive", "-o", str(archive), base)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    try:
        seed_tree(dest, lab)
    except EditError:
        shutil.rmtree(dest)
        raise
    (dest / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (dest / WORKFLOW).write_text(workflow(lab, base, course))
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"]):
        subprocess.run(["git", *argv], cwd=dest, check=True, capture_output=True)
    repo.git(dest, *repo.COMMIT_AS, "commit", "-q", *message(lab, base, "main", course))
    return base

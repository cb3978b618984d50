"""`python -m labs export`: a lab as a GitHub Classroom starter repository that its own workflow grades.

The exported repository is what a student's assignment copies: one commit
holding the seeded tree, no solutions, and `.github/workflows/classroom.yml`.
The workflow's own steps are run here as written (its fetch of the start
commit from the course repository, then the grader command), so a page
promising "export, push, assign" is proven, not described.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from labs.handout import WORKFLOW
from labs.repo import TEACHER_ONLY
from src import launcher
from tests.labs.conftest import check, clone, commit_all, git, labs

LAB = "imputation-removed"


def workflow_steps(dest: Path) -> list[dict]:
    doc = yaml.safe_load((dest / WORKFLOW).read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def test_an_exported_lab_is_one_commit_and_its_workflow_fetches_the_start_commit_and_grades_it(
    course: Path, tmp_path: Path, lab_cache: Path
) -> None:
    teacher = clone(course, tmp_path / "teacher")
    dest = tmp_path / "starter"
    done = labs(teacher, "export", LAB, str(dest), "--course", str(course))
    assert done.returncode == 0, done.stderr
    base = git(teacher, "rev-parse", "HEAD")
    assert base in done.stdout, f"the export must say which commit it grades against:\n{done.stdout}"
    assert [len(c.split()) for c in git(dest, "rev-list", "--parents", "HEAD").splitlines()] == [1], (
        "the starter must be one commit without a parent"
    )
    files = git(dest, "ls-files").splitlines()
    assert WORKFLOW in files, f"no autograding workflow in the starter: {WORKFLOW}"
    assert not [p for p in files if p.startswith(TEACHER_ONLY)], "the starter holds the teacher's solutions"

    actionlint = subprocess.run(
        [str(Path(sys.executable).parent / "actionlint"), WORKFLOW], cwd=dest, capture_output=True, text=True
    )
    assert actionlint.returncode == 0, f"actionlint on the exported workflow:\n{actionlint.stdout}"
    rules = launcher.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_workflow_contract.py"],
        cwd=dest,
        timeout=300,
    )
    assert rules.returncode == 0, (
        f"the starter's own workflow tests (its code surface) reject the workflow:\n{rules.stdout[-2000:]}"
    )

    refused = labs(dest, "check")
    assert refused.returncode == 2, refused.stdout
    assert "git fetch" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1, f"not one line: {refused.stderr!r}"

    steps = workflow_steps(dest)
    fetch = next(s["run"] for s in steps if "git fetch" in s.get("run", ""))
    subprocess.run(fetch, shell=True, cwd=dest, check=True, capture_output=True)
    grader = next(s for s in steps if str(s.get("uses", "")).startswith("classroom-resources/autograding-command"))
    assert grader["with"]["command"].split()[1:] == ["-m", "labs", "check"], grader["with"]
    assert grader["with"]["max-score"] == 100

    code, report = check(dest, lab_cache, "--quick", here=True)
    assert (code, report["points"], report["caught_by"]) == (1, 0, "code"), report["text"]
    assert labs(dest, "solve").returncode == 0
    commit_all(dest, "fix")
    code, report = check(dest, lab_cache, "--quick", here=True)
    assert (code, report["points"]) == (0, 100), report["text"]

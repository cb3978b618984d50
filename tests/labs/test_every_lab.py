"""Every lab of the catalog, seeded on a scratch copy of this tree, on every run of `make test`.

A lab is a promise to a teacher: `start` seeds exactly the files it declares,
as one commit that does not point at the fault; its own surface goes red,
printing its hint, in a report that fits on one screen; the reference
solution brings back the start tree and full points. The code, data and model
surfaces cost seconds, so those labs are graded here end to end (`check
--quick`); the service and deploy labs (uvicorn, nginx, a rollout: minutes)
are seeded and solved here, and graded end to end by `make lab-matrix`.

One course copy serves every lab (each clones it), and one verdict cache
serves every check: every solved tree is the start tree again, so its green
surfaces are judged once.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labs import matrix
from labs.catalog import LABS, Lab
from labs.faults import FAULTS
from labs.repo import TEACHER_ONLY
from tests.labs.conftest import check, clone, commit_all, git
from tests.labs.conftest import labs_here as labs

GRADED_HERE = ("code", "data", "model")  # surfaces of seconds; service and deploy are make lab-matrix's
SCREEN_LINES, SCREEN_WIDTH = 30, 200  # one terminal screen of a student's report
DUMPS = ("object at 0x", "CheckResult(", "GateVerdict(", "Traceback (most recent call last)")


def changed_files(root: Path, base: str) -> set[str]:
    """Files that differ between the start commit and HEAD, aside from what every lab tree withholds."""
    out = git(root, "diff", "--name-only", base, "HEAD").splitlines()
    return {path for path in out if not path.startswith(TEACHER_ONLY) and path != matrix.PAGE_PATH}


def test_every_lab_of_the_catalog_has_a_fault_and_every_fault_a_lab() -> None:
    assert set(FAULTS) == {lab.id for lab in LABS}, set(FAULTS) ^ {lab.id for lab in LABS}


def assert_one_screen(text: str, lab: Lab) -> None:
    lines = text.splitlines()
    assert len(lines) <= SCREEN_LINES, f"{lab.id}: the report is {len(lines)} lines, not one screen:\n{text}"
    wide = [line for line in lines if len(line) > SCREEN_WIDTH]
    assert not wide, f"{lab.id}: lines wider than {SCREEN_WIDTH} characters:\n" + "\n".join(wide)
    dumped = [d for d in DUMPS if d in text]
    assert not dumped, f"{lab.id}: the report dumps {dumped}:\n{text}"


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_the_lab_seeds_its_files_as_one_commit_is_caught_by_its_surface_and_solved(
    lab: Lab, course: Path, tmp_path: Path, lab_cache: Path
) -> None:
    root = clone(course, tmp_path / "student")
    base = git(root, "rev-parse", "HEAD")
    started = labs(root, "start", lab.id)
    assert started.returncode == 0, f"{lab.id} does not start on this tree: {started.stderr}"
    assert lab.brief[:40] in started.stdout, "start must print the incident brief"

    touches = set(FAULTS[lab.id].touches)
    assert changed_files(root, base) == touches, (
        f"{lab.id}: the seed changed {sorted(changed_files(root, base))}, labs/faults.py declares {sorted(touches)}"
    )
    history = git(root, "rev-list", "--parents", "HEAD").splitlines()
    assert [len(commit.split()) for commit in history] == [1], (
        f"{lab.id}: the lab branch must be one commit without a parent (its diff would show the fault): {history}"
    )
    shown = git(root, "show", "--stat", "--format=", "HEAD")
    assert {"README.md", "Makefile"} <= set(shown.split()), (
        f"{lab.id}: git show must show a whole tree:\n{shown[-500:]}"
    )
    leaked = [p for p in git(root, "ls-files").splitlines() if p.startswith(TEACHER_ONLY)]
    assert not leaked, f"{lab.id}: the student's tree holds the teacher's files: {leaked[:3]}"
    page = (root / matrix.PAGE_PATH).read_text()
    assert matrix.WITHHELD in page, f"{lab.id}: the lab's docs/lab.md still lists the faults"
    assert FAULTS[lab.id].fault not in page, f"{lab.id}: the lab's docs/lab.md names its fault"

    if lab.surface in GRADED_HERE:
        code, report = check(root, lab_cache, "--quick", here=True)
        assert report["caught_by"] == lab.surface, (
            f"{lab.id}: expected {lab.surface} to catch the fault, got {report['caught_by']}:\n{report['text']}"
        )
        assert report["hint_seen"], f"{lab.id}: {lab.surface} went red without its hint {lab.hint!r}:\n{report['text']}"
        assert (code, report["points"]) == (1, 0), f"{lab.id}: an unsolved lab scored {report['points']} (exit {code})"
        for needed in ("Points 0/100", lab.hint):
            assert needed in report["text"], (
                f"{lab.id}: a fresh start must score 0 and name the failure:\n{report['text']}"
            )
        assert_one_screen(report["text"], lab)

    solved = labs(root, "solve")
    assert solved.returncode == 0, f"{lab.id}: the reference solution does not apply: {solved.stderr}"
    commit_all(root, f"fix {lab.id}")
    assert changed_files(root, base) == set(), (
        f"{lab.id}: the reference solution leaves {sorted(changed_files(root, base))} unlike the start tree"
    )
    if lab.surface in GRADED_HERE:
        code, report = check(root, lab_cache, "--quick", here=True)
        assert (report["fixed"], report["contract_changes"]) == (True, []), f"{lab.id}: solved but:\n{report['text']}"
        assert (code, report["points"]) == (0, 100), f"{lab.id}: solved but scored {report['points']} (exit {code})"
        assert_one_screen(report["text"], lab)

    back = labs(root, "reset")
    assert back.returncode == 0, back.stderr
    assert git(root, "branch", "--show-current") == "main"
    assert git(root, "status", "--porcelain") == ""


def test_a_lab_whose_anchor_moved_names_the_lab_and_the_anchor_and_leaves_the_tree_as_it_was(
    course: Path, tmp_path: Path
) -> None:
    root = clone(course, tmp_path / "student")
    train = root / "src/train.py"
    source = train.read_text()
    assert "    X_train, X_hold, y_train, y_hold = split(X, y)\n" in source
    fit_start = source.index("def fit(")
    fit_end = source.index("\ndef ", fit_start + 1)
    fit = source[fit_start:fit_end].replace("= split(X, y)", "= split_again(X, y)")
    train.write_text(source[:fit_start] + fit + source[fit_end:])
    commit_all(root, "fit splits some other way")
    done = labs(root, "start", "split-diverges")
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1, f"not one line: {done.stderr!r}"
    for named in ("split-diverges", "src/train.py: fit: the call split(X, y)"):
        assert named in done.stderr, done.stderr
    assert git(root, "branch", "--show-current") == "main", "a failed start must leave the student where they were"
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "branch", "--list", "lab/*") == ""


def test_a_second_copy_of_the_anchored_line_elsewhere_does_not_move_the_fault(course: Path, tmp_path: Path) -> None:
    """The bug that broke split-diverges: `resplit` repeats fit's split line; the anchor is fit's call alone."""
    root = clone(course, tmp_path / "student")
    assert (root / "src/train.py").read_text().count("= split(X, y)") >= 2, "the regression this test guards is gone"
    assert labs(root, "start", "split-diverges").returncode == 0
    diff = git(root, "diff", "-U0", "main", "HEAD", "--", "src/train.py")
    removed = [line for line in diff.splitlines() if line.startswith("-    ")]
    assert removed == ["-    X_train, X_hold, y_train, y_hold = split(X, y)"], diff
    assert "def fit(" in git(root, "diff", "main", "HEAD", "--", "src/train.py"), "the fault must land in fit()"


def test_the_full_check_reports_a_lab_as_caught_by_its_own_surface_even_when_a_cheaper_one_is_red_too(
    course: Path, tmp_path: Path, lab_cache: Path
) -> None:
    """auc-on-stay-column breaks evaluation: tests/unit's small gated model fails too, yet the lab is the gate's."""
    root = clone(course, tmp_path / "student")
    assert labs(root, "start", "auc-on-stay-column").returncode == 0
    unit = root / "tests/unit"
    keep = {"test_contract.py", "__init__.py"}  # a unit test file whose fixture gates a small model
    for path in unit.glob("*.py"):
        if path.name not in keep:
            path.unlink()
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    commit_all(root, "a shorter tests/unit, for this test only")
    code, report = check(root, lab_cache, here=True)
    ran = {o["surface"]: o["passed"] for o in report["outcomes"]}
    assert ran.get("code") is False, f"the fixture gating a small model should be red:\n{report['text']}"
    assert (report["caught_by"], report["hint_seen"]) == ("model", True), report["text"]
    assert "also red: code" in report["text"], report["text"]
    assert "tests could not run, a fixture failed" in report["text"], "a failed fixture must be one line"
    assert_one_screen(report["text"], next(lab for lab in LABS if lab.id == "auc-on-stay-column"))
    assert code == 1

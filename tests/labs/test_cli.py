"""The lab commands a student types: one readable line when refused, and a grader that cannot be gamed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labs import matrix
from labs.catalog import LABS, SURFACES
from src import exits
from tests.labs.conftest import check, commit_all, copy_tree, labs


def test_list_shows_at_least_14_labs_spanning_every_surface(tmp_path: Path) -> None:
    out = labs(copy_tree(tmp_path), "list").stdout
    assert len(LABS) >= 14, f"only {len(LABS)} labs"
    assert {lab.surface for lab in LABS} == set(SURFACES), "a surface has no lab to prove it catches its faults"
    assert all(lab.id in out for lab in LABS), out


def test_the_docs_matrix_is_rendered_from_the_catalog() -> None:
    assert matrix.current(matrix.PAGE.read_text()) == matrix.markdown(), (
        "docs/lab.md's matrix is stale: run `python -m labs matrix --write`"
    )


def test_start_refuses_a_dirty_tree_in_one_line(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "README.md").write_text("local edit\n")
    done = labs(root, "start", LABS[0].id)
    assert done.returncode == exits.REFUSED, done.stdout
    assert "uncommitted changes" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, f"not one line: {done.stderr!r}"


def test_check_without_a_running_lab_says_how_to_start_one(tmp_path: Path) -> None:
    done = labs(copy_tree(tmp_path), "check")
    assert done.returncode == exits.REFUSED
    assert "python -m labs start" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, f"not one line: {done.stderr!r}"


def test_reset_returns_to_the_start_branch_and_deletes_the_lab_branch(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    assert labs(root, "start", "imputation-removed").returncode == 0
    (root / "src/features.py").write_text("# half-way through a fix\n")
    refused = labs(root, "reset")
    assert refused.returncode == exits.REFUSED, "reset dropped uncommitted work without --force"
    assert "uncommitted" in refused.stderr, refused.stderr
    assert labs(root, "reset", "--force").returncode == 0
    branches = subprocess.run(["git", "branch"], cwd=root, capture_output=True, text=True).stdout
    assert branches.split() == ["*", "main"], branches
    assert subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout == ""


def test_loosening_a_gate_threshold_to_solve_a_lab_costs_the_contract_points(tmp_path: Path, lab_cache: Path) -> None:
    root = copy_tree(tmp_path)
    assert labs(root, "start", "imputation-removed").returncode == 0
    assert labs(root, "solve").returncode == 0
    gate = root / "src/gate/contract.py"
    gate.write_text(gate.read_text().replace("AUC_FLOOR = 0.80", "AUC_FLOOR = 0.70"))
    test = root / "tests/unit/test_features.py"
    test.write_text(test.read_text().replace("def test_missing_required_column_raises", "def _missing_column_raises"))
    commit_all(root, "fix, and a little help")
    code, report = check(root, lab_cache, "--quick")
    assert report["fixed"], f"every surface should be green on this tree: {report['caught_by']} is red"
    assert code == exits.NO, "a lab solved by moving the goalposts must not exit 0"
    assert report["points"] == 60, report["points"]
    changed = " ".join(report["contract_changes"])
    assert "gate thresholds" in changed, changed
    assert "AUC_FLOOR = 0.70" in changed, changed
    assert "the tests changed: tests/unit/test_features.py" in changed, changed

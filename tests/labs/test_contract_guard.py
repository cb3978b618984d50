"""The contract guard compares whole declared blocks, and every block it compares exists in this tree.

A block the guard cannot find used to fall back silently to the end of the
file (the schema block ended at a `def dtypes(` long deleted); now a missing
block is an error, and these tests keep every declared block present.
"""

from __future__ import annotations

import ast
from pathlib import Path

from labs import contract
from src.config import ROOT
from src.gate.contract import CHECKS
from tests.labs.conftest import clone, commit_all, git

GATE_CONTRACT = "src/gate/contract.py"


def test_every_block_the_contract_guard_compares_exists_in_this_tree() -> None:
    for part in contract.PARTS:
        block = part.block((ROOT / part.path).read_text())
        assert block, f"{part.name}: no such block in {part.path}; labs/contract.py would compare nothing"


def test_the_thresholds_block_holds_every_numeric_constant_of_the_gate() -> None:
    part = next(p for p in contract.PARTS if p.path == GATE_CONTRACT)
    block = part.block((ROOT / part.path).read_text()) or ""
    tree = ast.parse((ROOT / GATE_CONTRACT).read_text())
    constants = [
        t.id
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, float)
        for t in stmt.targets
        if isinstance(t, ast.Name) and t.id.isupper()
    ]
    assert constants, f"{GATE_CONTRACT} declares no float threshold at top level"
    outside = [name for name in constants if f"{name} =" not in block]
    assert not outside, f"gate thresholds outside the guarded block (a student could loosen them): {outside}"


def test_a_block_whose_end_marker_is_gone_is_missing_never_the_rest_of_the_file() -> None:
    part = next(p for p in contract.PARTS if p.end)
    text = (ROOT / part.path).read_text()
    assert part.block(text) is not None
    assert part.block(text.replace(part.end, "# (end marker removed)")) is None


def test_a_named_block_whose_assignment_is_gone_is_missing() -> None:
    part = next(p for p in contract.PARTS if p.names)
    text = (ROOT / part.path).read_text()
    renamed = text.replace(f"\n{part.names[-1]} =", f"\n{part.names[-1]}_OLD =")
    assert part.block(renamed) is None


def test_the_literal_gate_check_ids_are_read_from_the_source() -> None:
    ids = contract.check_ids((ROOT / GATE_CONTRACT).read_text())
    assert "calibration" in ids, ids
    assert set(ids) <= {c.id for c in CHECKS}, f"ids that are no gate check: {set(ids) - {c.id for c in CHECKS}}"


def test_widening_a_bound_in_the_data_contract_is_reported(course: Path, tmp_path: Path) -> None:
    root = clone(course, tmp_path / "student")
    base = git(root, "rev-parse", "HEAD")
    schema = root / "src/schema.py"
    schema.write_text(schema.read_text().replace("maximum=600,", "maximum=6000,"))
    commit_all(root, "a longer tenure")
    changed = contract.changes(root, base)
    assert any("data contract" in line and "maximum=6000" in line for line in changed), changed

"""The quality gate's readable face: one test per check, red when the check failed.

The checks and their thresholds are declared once, at the top of
`src/gate/contract.py` (the contract); this file only shows their verdict, so a
student sees one red line per failing check with the message that says
what probably broke.
"""

from __future__ import annotations

import pytest

from src import artifacts, record
from src.gate import contract, stage


@pytest.mark.parametrize("check", contract.CHECKS, ids=[c.id for c in contract.CHECKS])
def test_gate_check(gated: stage.GateRun, check: contract.Check) -> None:
    assert gated.record.gate is not None, "the gate stage wrote no verdict"
    result = next(r for r in gated.record.gate.checks if r.id == check.id)
    if result.outcome == "skipped":
        pytest.skip(result.detail)
    assert result.outcome == "passed", f"{check.id}: {result.detail}"


def test_the_record_describes_the_file_that_ships(gated: stage.GateRun) -> None:
    on_disk = record.read(gated.folder / artifacts.METRICS_FILE)
    assert on_disk == gated.record, "the record on disk is not the one the gate judged"
    assert on_disk.model_sha256 == artifacts.sha256_file(gated.folder / artifacts.MODEL_FILE), (
        "metrics.json does not describe the model file beside it: the gated file is not the shipped file"
    )
    assert on_disk.n_holdout == len(gated.fitted.y_hold), "the record describes a different holdout than the gate's"

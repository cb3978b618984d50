"""The gate must go red when it should, and only then, whatever the test runner does.

The leak here hides inside an allowed column: monthly_charges was exported
after cancellation fees were added, so it encodes the label. The data tests
cannot see it; the leakage ceiling must.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src import artifacts, record
from src.gate import stage
from src.make_dataset import generate, write
from tests.processes import run_pytest


@pytest.fixture
def leaky_snapshot(tmp_path: Path) -> Path:
    customers = generate(seed=7, n=4000)  # large enough for every other check to judge (slices need 200 rows)
    noise = np.random.default_rng(0).normal(0, 3, len(customers))
    monthly = (40 + 45 * customers["churned"] + noise).round(2)
    total = (monthly * customers["tenure_months"]).where(customers["tenure_months"] > 0)  # billed as exported
    leaky = customers.assign(monthly_charges=monthly, total_charges=total)
    write(leaky, tmp_path / "leaky.csv")
    return tmp_path / "leaky.csv"


def _env(snapshot: Path, out: Path) -> dict[str, str]:
    return {"CHURN_DATA": str(snapshot), "ARTIFACT_DIR": str(out), "PROD_METRICS": str(out / "no_baseline.json")}


def test_a_leaky_model_fails_the_ceiling_and_never_replaces_the_gated_pair(
    tmp_path: Path, leaky_snapshot: Path, small_artifact: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):  # the last good pair
        (out / name).write_bytes((small_artifact / name).read_bytes())
    before = {name: (out / name).read_bytes() for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE)}
    result = stage.run(leaky_snapshot, out, 42, out / "no_baseline.json")
    assert not result.passed, "the gate passed a leaky model"
    assert result.record.gate is not None
    assert result.record.gate.failed == ["leakage_ceiling"], result.record.gate.failed
    assert {name: (out / name).read_bytes() for name in before} == before, "a failed gate replaced the gated pair"
    rejected = record.read(out / artifacts.REJECTED_DIR / artifacts.METRICS_FILE)
    assert rejected.gate is not None
    assert not rejected.gate.passed, "the rejected candidate's record must say failed"


def test_the_failing_check_is_the_one_red_line(tmp_path: Path, leaky_snapshot: Path) -> None:
    result = run_pytest("tests/model/test_gate.py", _env(leaky_snapshot, tmp_path / "out"))
    assert result.returncode == 1, f"the gate surface passed a leaky model:\n{result.stdout[-2000:]}"
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1, f"expected one red check:\n{result.stdout[-3000:]}"
    assert "leakage_ceiling" in failed[0], failed
    assert "too good to be true" in result.stdout, f"the ceiling did not explain itself:\n{result.stdout[-3000:]}"


def test_deselecting_the_failing_check_cannot_mint_a_pass(tmp_path: Path, leaky_snapshot: Path) -> None:
    out = tmp_path / "out"
    result = run_pytest("tests/model/test_gate.py", _env(leaky_snapshot, out), args=["-k", "not leakage_ceiling"])
    assert result.returncode == 0, result.stdout[-2000:]
    verdict = record.read(out / artifacts.REJECTED_DIR / artifacts.METRICS_FILE).gate
    assert verdict is not None
    assert not verdict.passed, "a `-k` subset recorded a leaky model as passed"
    assert verdict.failed == ["leakage_ceiling"]
    assert not (out / artifacts.METRICS_FILE).exists(), "a failed candidate landed where the gated pair lives"


def test_an_unrelated_failing_test_does_not_fail_a_good_gate(tmp_path: Path, small_artifact: Path) -> None:
    unrelated = tmp_path / "test_unrelated.py"
    unrelated.write_text("def test_something_else_is_broken():\n    assert 1 == 2\n")
    out = tmp_path / "out"
    result = run_pytest("tests/model/test_gate.py", _env(small_artifact / "snapshot.csv", out), args=[str(unrelated)])
    assert result.returncode == 1, "the unrelated test was meant to fail"
    verdict = record.read(out / artifacts.METRICS_FILE).gate
    assert verdict is not None
    assert verdict.passed, "a failure elsewhere in the session recorded the gate as failed"

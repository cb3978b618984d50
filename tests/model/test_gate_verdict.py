"""The gate must go red when it should: a leak the data tests cannot see, a partial run.

Here the leak hides inside an allowed column: monthly_charges was exported
after cancellation fees were added, so it encodes the label.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from src.make_dataset import write
from tests.processes import run_pytest


def test_label_leaking_through_a_feature_fails_the_ceiling(tmp_path: Path, small_customers: pd.DataFrame) -> None:
    noise = np.random.default_rng(0).normal(0, 3, len(small_customers))
    leaky = small_customers.assign(
        monthly_charges=(40 + 45 * small_customers["churned"] + noise).round(2),
        total_charges=np.nan,
    )
    write(leaky, tmp_path / "leaky.csv")
    result = run_pytest(
        "tests/model/test_gate.py",
        {
            "CHURN_DATA": str(tmp_path / "leaky.csv"),
            "ARTIFACT_DIR": str(tmp_path / "out"),
            "PROD_METRICS": str(tmp_path / "no_baseline.json"),
        },
    )
    assert result.returncode == 1, f"the gate passed a leaky model:\n{result.stdout[-2000:]}"
    assert "too good to be true" in result.stdout, f"the ceiling did not explain itself:\n{result.stdout[-3000:]}"
    verdict = json.loads((tmp_path / "out" / "metrics.json").read_text())["gate"]
    assert verdict["passed"] is False, "metrics.json records a failed gate as passed: the rollout would ship it"


def test_a_partial_gate_run_never_records_a_pass(tmp_path: Path, small_customers: pd.DataFrame) -> None:
    """`pytest -k` can select one easy check; the verdict CI and the rollout trust must not say passed."""
    write(small_customers, tmp_path / "snapshot.csv")
    env = {"CHURN_DATA": str(tmp_path / "snapshot.csv"), "ARTIFACT_DIR": str(tmp_path / "out")}
    result = run_pytest("tests/model/test_gate.py", env, args=["-k", "artifact_is_small"])
    assert result.returncode == 0, result.stdout[-2000:]
    verdict = json.loads((tmp_path / "out" / "metrics.json").read_text())["gate"]
    assert verdict["passed"] is False, "one selected check recorded the whole gate as passed"
    assert "test_auc_above_floor" in verdict["not_run"]

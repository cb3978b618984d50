"""Fixtures shared by all three surfaces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from src import artifacts, config, data
from src.make_dataset import generate, write
from tests.processes import run_pytest


@pytest.fixture(scope="session")
def snapshot() -> pd.DataFrame:
    """The snapshot under test: `CHURN_DATA`, default data/churn.csv."""
    return data.load(config.data_path())


@pytest.fixture(scope="session")
def small_customers() -> pd.DataFrame:
    """A small, valid, seeded customer frame for fast code-level tests."""
    return generate(seed=7, n=1500)


@pytest.fixture(scope="session")
def small_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with snapshot.csv and the artifact pair the real gate passed on it.

    4,000 customers: the smallest size at which every gate check can judge
    (contract slices need 200 holdout rows). The service refuses ungated files.
    """
    folder = tmp_path_factory.mktemp("artifact")
    write(generate(seed=7, n=4000), folder / "snapshot.csv")
    gate(folder / "snapshot.csv", folder)
    return folder


def gate(snapshot: Path, out: Path, baseline: Path | None = None, seed: int = 42) -> Path:
    """Train on `snapshot` and run the real gate in a fresh process; returns the gated model file."""
    env = {
        "CHURN_DATA": str(snapshot),
        "ARTIFACT_DIR": str(out),
        "PROD_METRICS": str(baseline or out / "no_baseline_yet.json"),
        "CHURN_SEED": str(seed),
    }
    result = run_pytest("tests/model/test_gate.py", env)
    assert result.returncode == 0, f"the model did not pass the gate:\n{result.stdout[-3000:]}"
    return out / artifacts.MODEL_FILE

"""Fixtures shared by all three surfaces."""

from __future__ import annotations

import pandas as pd
import pytest

from src import config, data
from src.make_dataset import generate, write
from src.train import run


@pytest.fixture(scope="session")
def snapshot() -> pd.DataFrame:
    """The snapshot under test: `CHURN_DATA`, default data/churn.csv."""
    return data.load(config.data_path())


@pytest.fixture(scope="session")
def small_customers() -> pd.DataFrame:
    """A small, valid, seeded customer frame for fast code-level tests."""
    return generate(seed=7, n=1500)


@pytest.fixture(scope="session")
def small_artifact(tmp_path_factory: pytest.TempPathFactory, small_customers: pd.DataFrame):
    """A gated-format artifact pair trained on the small frame: (folder, snapshot path)."""
    folder = tmp_path_factory.mktemp("artifact")
    write(small_customers, folder / "snapshot.csv")
    run(folder / "snapshot.csv", folder)
    return folder

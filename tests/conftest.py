"""Fixtures shared by every surface."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from src import config, data, launcher
from src.make_dataset import generate, write
from tools import xdist_worker
from tools.gated import gated


def pytest_configure(config: pytest.Config) -> None:
    """`-n N` workers fork from the launcher CHURN_LAUNCHER names, as every other `python -m` does.

    A plain worker is a fresh interpreter paying ~2.4 s of CPU to import pytest and the stack
    (tools/xdist_worker.py); without a live launcher, or with a --tx of the caller's own, nothing changes.
    """
    tx, socket = getattr(config.option, "tx", None), launcher.socket_path()
    if tx and socket and os.path.exists(socket) and set(tx) == {"popen"}:
        config.option.tx = xdist_worker.worker_spec(len(tx), socket)


@pytest.fixture(scope="session", autouse=True)
def process_launcher() -> Iterator[str | None]:
    """One pre-imported launcher for the session (src/launcher.py), named in CHURN_LAUNCHER for every start.

    A nested pytest (tests/surfaces), or a surface of `make test` (tools/suite.py
    runs one for the whole suite), finds CHURN_LAUNCHER set and uses that one;
    `make LAUNCHER=0` sets it to 0 and every start is a plain Popen. The stack
    is imported at the first start, so a session that starts nothing pays
    ~50 ms for this. Stopping it stops every child it forked.
    """
    with launcher.session() as path:
        yield path


@pytest.fixture(scope="session")
def snapshot() -> pd.DataFrame:
    """The snapshot under test, loaded strictly: `CHURN_DATA`, default data/churn.csv."""
    return data.load(config.settings().churn_data)


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
    gated(folder / "snapshot.csv", folder)
    return folder

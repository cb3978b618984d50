"""The snapshot as the data tests see it: read as text, then parsed leniently.

Training loads the snapshot strictly and stops at the first problem; the data
surface must instead let every check run, so that a Yes/No label fails the
label test, a missing column the schema test, cents the bounds test, each
with its own hint, and not one fixture error for all of them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from src import config, schema


@pytest.fixture(scope="session")
def raw() -> pd.DataFrame:
    path = config.settings().churn_data
    if not path.is_file():
        pytest.fail(f"no snapshot at {path}: set CHURN_DATA or run `make dataset`", pytrace=False)
    return schema.read_raw(path)


@pytest.fixture(scope="session")
def parsed(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    return schema.parse(raw)


@pytest.fixture(scope="session")
def typed(parsed: tuple[pd.DataFrame, dict[str, str]]) -> pd.DataFrame:
    """The snapshot with every contract column as its dtype; unparseable cells are blank."""
    return parsed[0]


def need(df: pd.DataFrame, *columns: str) -> None:
    """Skip a check whose column is missing: test_columns_are_exactly_the_contract reports that, once."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        pytest.skip(f"column(s) {missing} missing: see test_columns_are_exactly_the_contract")

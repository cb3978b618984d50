"""Load a snapshot strictly, by the data contract in `src/schema.py`.

Letting pandas guess types is how a label-encoded column or a stray string in
a numeric field slips through silently. Here every column is parsed as the
contract declares it, and the first problem stops training with one line
that names the column and a bad value. (The data tests read the same file
leniently, so that every check runs and names its own failure.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src import config, schema


class DataError(ValueError):
    """The snapshot cannot be read as the contract's columns."""


def load(path: str | Path | None = None) -> pd.DataFrame:
    """Read the snapshot; extra columns are kept so the data tests can see them."""
    path = Path(path) if path is not None else config.settings().churn_data
    if not path.is_file():
        raise DataError(f"no snapshot at {path}: set CHURN_DATA or run `python -m src.make_dataset`")
    try:
        raw = schema.read_raw(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c.name for c in schema.COLUMNS if c.name not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the contract is {list(schema.BY_NAME)}")
    typed, problems = schema.parse(raw)
    if problems:
        raise DataError(f"{path}: {next(iter(problems.values()))}; run `make data` for every problem")
    return typed

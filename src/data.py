"""Load the churn snapshot with explicit dtypes.

Letting pandas guess types is how a label-encoded column or a stray string in
a numeric field slips through silently; naming every dtype makes the CSV fail
here, loudly, instead of deep inside training.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src import config

# The schema of the snapshot, in file order (README "Data").
SCHEMA: dict[str, str] = {
    "customer_id": "string",
    "tenure_months": "Int64",
    "monthly_charges": "float64",
    "total_charges": "float64",
    "contract": "string",
    "churned": "Int64",
}
ID_COLUMN = "customer_id"
LABEL = "churned"


class DataError(ValueError):
    """The snapshot cannot be read as the churn schema."""


def load(path: str | Path | None = None) -> pd.DataFrame:
    """Read the snapshot; extra columns are kept so the data tests can see them."""
    path = Path(path) if path is not None else config.data_path()
    if not path.is_file():
        raise DataError(f"no snapshot at {path}: set CHURN_DATA or run `python -m src.make_dataset`")
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in SCHEMA if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected {list(SCHEMA)}")
    try:
        # Only blank cells count as missing: "NA" or "None" in a field is a value to reject.
        return pd.read_csv(path, dtype=SCHEMA, keep_default_na=False, na_values=[""])
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: a column does not match its dtype {SCHEMA}: {exc}") from exc

"""Turn customer records into the model's feature matrix.

Training and serving both call `build_features`, so a customer gets the same
numbers offline and online: train/serve skew is the most common production ML
bug, and one shared function is the cheapest cure. It holds no fitted state;
anything learned lives inside the model artifact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTRACTS: tuple[str, ...] = ("month-to-month", "one-year", "two-year")

# Order matters: the fitted model sees columns by position as well as name.
FEATURE_COLUMNS: list[str] = [
    "tenure_months",
    "log_tenure",
    "monthly_charges",
    "total_charges",
    "contract_one_year",
    "contract_two_year",
]
REQUIRED_INPUTS: tuple[str, ...] = ("tenure_months", "monthly_charges", "contract")
LABEL = "churned"


def _check_contract(contract: pd.Series) -> None:
    unknown = sorted(set(contract.dropna().astype(str)) - set(CONTRACTS))
    if unknown or contract.isna().any():
        bad = unknown[0] if unknown else "<missing>"
        raise ValueError(f"unknown contract {bad!r}; allowed: {', '.join(CONTRACTS)}")


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(values).any() or np.isinf(values).any():
        raise ValueError(f"{column} must be a finite number for every customer")
    return values


def build_features(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """Return (X, y); y is None when the frame has no `churned` column (serving).

    A blank total_charges belongs to a customer in their first month, who has
    not been billed yet: tenure x monthly is their true total, so imputing it
    needs no statistics from the training set.
    """
    missing = [c for c in REQUIRED_INPUTS if c not in df.columns]
    if missing:
        raise ValueError(f"missing input column(s): {', '.join(missing)}")
    _check_contract(df["contract"])
    tenure = _numeric(df, "tenure_months")
    monthly = _numeric(df, "monthly_charges")
    if (tenure < 0).any():
        raise ValueError("tenure_months must be >= 0 (months since the customer joined)")
    if (monthly <= 0).any():
        raise ValueError("monthly_charges must be > 0 (every plan costs something)")
    if "total_charges" in df.columns:
        total = pd.to_numeric(df["total_charges"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        total = np.where(np.isnan(total), tenure * monthly, total)
    else:
        total = tenure * monthly
    contract = df["contract"].astype(str).to_numpy()
    X = pd.DataFrame(
        {
            "tenure_months": tenure,
            "log_tenure": np.log1p(tenure),
            "monthly_charges": monthly,
            "total_charges": total,
            "contract_one_year": (contract == "one-year").astype("float64"),
            "contract_two_year": (contract == "two-year").astype("float64"),
        },
        index=df.index,
    )[FEATURE_COLUMNS]
    y = df[LABEL].astype("int64") if LABEL in df.columns else None
    return X, y

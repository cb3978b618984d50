"""Turn customer records into the model's feature matrix.

Training and serving share one numpy core, `build_matrix` (training through
`build_features`, which only names its columns), so a customer gets the same
numbers offline and online: train/serve skew is the most common production ML
bug, and one shared function is the cheapest cure. It holds no fitted state;
anything learned lives inside the model artifact. It works column-wise on
numpy arrays, so one call costs the same few tens of microseconds whether the
service scores one customer or training builds thousands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from src import schema


def _slug(value: object) -> str:
    """A category value as part of a column name: "Month-to-month" -> "month_to_month"."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(value).strip().lower()).strip("_")


def one_hot_columns(column: schema.Column) -> tuple[str, ...]:
    """The indicator columns of a category, one per allowed value after the first (the reference level).

    Derived from the contract's `allowed`, in its declared order, so a
    category renamed or added in src/schema.py reaches training, serving and
    the gate with no edit here; a spelling written here instead would be a
    column that is silently always 0 when the export spells it otherwise.
    """
    return tuple(f"{column.name}_{_slug(value)}" for value in column.allowed[1:])


CATEGORIES: dict[str, tuple[str, ...]] = {name: schema.BY_NAME[name].allowed for name in schema.CATEGORICAL}
CONTRACTS: tuple[str, ...] = CATEGORIES.get("contract", ())  # the contract's plans, for callers that name them

# Order matters: the fitted model sees columns by position as well as name;
# the matrix is built by name below, so this list alone decides the order.
# The numeric features are modelled here by name; every category of the
# contract is one-hot encoded from its declared values, after them.
NUMERIC_FEATURES: tuple[str, ...] = ("tenure_months", "log_tenure", "monthly_charges", "total_charges")
FEATURE_COLUMNS: list[str] = [
    *NUMERIC_FEATURES,
    *(name for category in schema.CATEGORICAL for name in one_hot_columns(schema.BY_NAME[category])),
]
if len(set(FEATURE_COLUMNS)) != len(FEATURE_COLUMNS):  # two spellings of one category slug to one name
    raise ValueError(f"feature columns collide: {FEATURE_COLUMNS}; give each allowed value a distinct spelling")
_FEATURE_INDEX = pd.Index(FEATURE_COLUMNS)  # built once: a new Index per call costs more than the features
# The single strongest input: the gate requires the full model to beat a model of it alone.
BASELINE_FEATURE = "tenure_months"
# Every input a customer must carry: the contract's non-blank inputs except the id, which is never a feature.
REQUIRED_INPUTS: tuple[str, ...] = tuple(c.name for c in schema.INPUTS if c.kind != "id" and not c.nullable)
LABEL = schema.LABEL


Frame = pd.DataFrame | Mapping[str, Sequence | np.ndarray]


def _column(df: Frame, column: str, dtype: str) -> np.ndarray:
    values = df[column]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=dtype, na_value=np.nan if dtype == "float64" else None)
    return np.asarray(values, dtype=dtype)


def _category(df: Frame, name: str) -> np.ndarray:
    """A category's values, refused whole when one is outside the contract's `allowed`."""
    allowed = CATEGORIES[name]
    values = _column(df, name, "object")
    unknown = set(values.tolist()) - set(allowed)
    if unknown:
        bad = sorted(map(str, unknown))[0]
        raise ValueError(f"unknown {name} {bad!r}; allowed: {', '.join(map(str, allowed))}")
    return values


def _one_hot(df: Frame, name: str) -> dict[str, np.ndarray]:
    """One indicator per non-reference value of `name`, compared with the contract's own spelling of it."""
    values = _category(df, name)
    column = schema.BY_NAME[name]
    return {
        feature: values == value for feature, value in zip(one_hot_columns(column), column.allowed[1:], strict=True)
    }


def _numbers(df: Frame, column: str, allow_blank: bool = False) -> np.ndarray:
    try:
        values = _column(df, column, "float64")
    except (TypeError, ValueError):
        raise ValueError(f"{column} must be numeric for every customer") from None
    if not (np.isfinite(values).all() or (allow_blank and not np.isinf(values).any())):
        raise ValueError(f"{column} must be a finite number for every customer")
    return values


def build_matrix(df: Frame) -> np.ndarray:
    """The feature matrix, float64 in FEATURE_COLUMNS order: the numpy core training and serving share.

    `df` is a DataFrame, or a plain mapping of column -> values: the service
    passes the latter and scores this matrix directly, because wrapping one
    row in a DataFrame cost more than scoring it (docs/benchmarks.md,
    "src/features.py").

    A blank total_charges belongs to a customer in their first month, who has
    not been billed yet: tenure x monthly is their true total, so imputing it
    needs no statistics from the training set.
    """
    missing = [c for c in REQUIRED_INPUTS if c not in df]
    if missing:
        raise ValueError(f"missing input column(s): {', '.join(missing)}")
    categories = {name: _one_hot(df, name) for name in schema.CATEGORICAL}
    tenure = _numbers(df, "tenure_months")
    monthly = _numbers(df, "monthly_charges")
    if (tenure < 0).any():
        raise ValueError("tenure_months must be >= 0 (months since the customer joined)")
    if (monthly <= 0).any():
        raise ValueError("monthly_charges must be > 0 (every plan costs something)")
    if "total_charges" in df:
        total = _numbers(df, "total_charges", allow_blank=True)
        total = np.where(np.isnan(total), tenure * monthly, total)
    else:
        total = tenure * monthly
    features = {
        "tenure_months": tenure,
        "log_tenure": np.log1p(tenure),
        "monthly_charges": monthly,
        "total_charges": total,
    }
    for indicators in categories.values():
        features.update(indicators)
    matrix = np.empty((len(tenure), len(FEATURE_COLUMNS)), dtype="float64")
    for position, name in enumerate(FEATURE_COLUMNS):
        matrix[:, position] = features[name]
    return matrix


def build_features(df: Frame) -> tuple[pd.DataFrame, pd.Series | None]:
    """Return (X, y); y is None when the frame has no `churned` column (serving).

    X is `build_matrix(df)` with the column names and the frame's index, so
    training, the gate and the service compute the very same numbers.
    """
    X = pd.DataFrame(build_matrix(df), columns=_FEATURE_INDEX, index=getattr(df, "index", None), copy=False)
    y = pd.Series(_column(df, LABEL, "int64"), index=X.index, name=LABEL) if LABEL in df else None
    return X, y

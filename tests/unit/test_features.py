"""Feature code: the one function both training and serving call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src import schema
from src.features import CONTRACTS, FEATURE_COLUMNS, build_features


def _customer(**overrides) -> pd.DataFrame:
    row = {**schema.EXAMPLE_CUSTOMER, "tenure_months": 12, "monthly_charges": 70.0, "total_charges": 840.0}
    return pd.DataFrame([{**row, **overrides}])


def test_columns_come_out_in_the_trained_order(small_customers: pd.DataFrame) -> None:
    X, _ = build_features(small_customers)
    assert list(X.columns) == FEATURE_COLUMNS, "column order changed: a fitted model would read the wrong columns"


def test_label_is_returned_when_present_and_none_when_serving(small_customers: pd.DataFrame) -> None:
    _, y = build_features(small_customers)
    assert y is not None
    assert y.tolist() == small_customers["churned"].tolist()
    _, y_serving = build_features(small_customers.drop(columns="churned"))
    assert y_serving is None, "serving input has no label; build_features must not invent one"


def test_blank_total_is_imputed_without_nan() -> None:
    X, _ = build_features(_customer(tenure_months=0, total_charges=np.nan))
    assert not X.isna().any().any(), "a new customer's blank total leaked NaN into the features"
    assert X.loc[0, "total_charges"] == 0.0, "a tenure-0 customer has been billed nothing: total must be 0"


def test_missing_total_column_is_imputed_from_tenure_and_monthly() -> None:
    X, _ = build_features(_customer(tenure_months=3, monthly_charges=50.0).drop(columns="total_charges"))
    assert X.loc[0, "total_charges"] == pytest.approx(150.0)


def test_unknown_contract_raises_naming_value_and_allowed() -> None:
    with pytest.raises(ValueError, match="unknown contract") as excinfo:
        build_features(_customer(contract="three-year"))
    message = str(excinfo.value)
    assert "three-year" in message, message
    assert all(c in message for c in CONTRACTS), f"the error must list the allowed contracts: {message}"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("tenure_months", -1, ">= 0"), ("monthly_charges", 0.0, "> 0"), ("monthly_charges", np.inf, "finite")],
)
def test_out_of_range_numbers_raise(field: str, value: float, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        build_features(_customer(**{field: value}))


def test_missing_required_column_raises() -> None:
    with pytest.raises(ValueError, match="missing input column"):
        build_features(_customer().drop(columns="contract"))


def test_input_frame_is_not_mutated(small_customers: pd.DataFrame) -> None:
    frame = small_customers.copy()
    frame.loc[frame.index[:5], "total_charges"] = np.nan
    before = frame.copy(deep=True)
    build_features(frame)
    pd.testing.assert_frame_equal(frame, before, obj="input frame after build_features")

"""Training code: determinism, persistence, and the model behaving like the business."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from src import artifacts
from src.features import build_features
from src.make_dataset import write
from src.train import main, split, train_model


@pytest.fixture(scope="module")
def fitted(small_customers: pd.DataFrame):
    X, y = build_features(small_customers)
    X_train, X_hold, y_train, _ = split(X, y)
    return train_model(X_train, y_train, seed=42), X_hold


def _customer(**overrides) -> pd.DataFrame:
    row = {"tenure_months": 12, "monthly_charges": 70.0, "contract": "month-to-month"}
    row.update(overrides)
    row.setdefault("total_charges", row["tenure_months"] * row["monthly_charges"])
    return pd.DataFrame([row])


def _p(model, **customer) -> float:
    X, _ = build_features(_customer(**customer))
    return float(model.predict_proba(X)[0, 1])


def test_split_is_stratified_and_fixed(small_customers: pd.DataFrame) -> None:
    X, y = build_features(small_customers)
    first, second = split(X, y), split(X, y)
    assert first[1].index.equals(second[1].index), "the holdout moved between calls: gate and training disagree"
    assert len(first[1]) == round(0.2 * len(X))
    assert abs(first[3].mean() - y.mean()) < 0.01, "holdout churn rate drifted: the split is not stratified"


def test_same_seed_gives_identical_predictions(small_customers: pd.DataFrame) -> None:
    X, y = build_features(small_customers)
    a = train_model(X, y, seed=42).predict_proba(X)
    b = train_model(X, y, seed=42).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_joblib_roundtrip_predicts_identically(fitted, tmp_path: Path) -> None:
    model, X_hold = fitted
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X_hold), model.predict_proba(X_hold))


def test_longer_tenure_lowers_churn_probability(fitted) -> None:
    model, _ = fitted
    assert _p(model, tenure_months=48) < _p(model, tenure_months=2)


def test_longer_contract_lowers_churn_probability(fitted) -> None:
    model, _ = fitted
    m2m, one, two = (_p(model, contract=c) for c in ("month-to-month", "one-year", "two-year"))
    assert two < one < m2m, f"month-to-month {m2m:.3f}, one-year {one:.3f}, two-year {two:.3f}"


def test_higher_monthly_charges_raise_churn_probability(fitted) -> None:
    model, _ = fitted
    assert _p(model, monthly_charges=105.0) > _p(model, monthly_charges=25.0)


def test_customer_id_never_changes_a_prediction(fitted) -> None:
    model, _ = fitted
    a, _ = build_features(_customer().assign(customer_id="1111-AAAAA"))
    b, _ = build_features(_customer().assign(customer_id="9999-ZZZZZ"))
    assert model.predict_proba(a)[0, 1] == model.predict_proba(b)[0, 1]


def test_cli_writes_a_verifiable_pair_and_is_deterministic(tmp_path: Path, small_customers: pd.DataFrame) -> None:
    write(small_customers, tmp_path / "snap.csv")
    for out in ("a", "b"):
        assert main(["--data", str(tmp_path / "snap.csv"), "--out", str(tmp_path / out)]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["model_sha256"] == b["model_sha256"], "same data + same seed produced a different model"
    assert a["holdout_auc"] == b["holdout_auc"]
    assert a["holdout_ece"] == b["holdout_ece"]
    artifacts.load_verified_model(tmp_path / "a" / "model_candidate.joblib")


def test_failed_training_leaves_the_good_artifacts_untouched(
    tmp_path: Path, small_customers: pd.DataFrame, capsys
) -> None:
    write(small_customers, tmp_path / "good.csv")
    assert main(["--data", str(tmp_path / "good.csv"), "--out", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("model_candidate.joblib", "metrics.json")}
    write(small_customers.assign(contract="lifetime"), tmp_path / "bad.csv")
    assert main(["--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, f"not one readable line: {err!r}"
    assert "unknown contract 'lifetime'" in err, err
    after = {name: (tmp_path / name).read_bytes() for name in before}
    assert after == before, "a failed run overwrote the last good artifact pair"
    assert not list(tmp_path.glob("*.tmp")), "a failed run left temp files behind"


def test_cli_reports_a_missing_snapshot_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no snapshot at" in err
    assert "\n" not in err

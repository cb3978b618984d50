"""The gate is only as honest as the numbers it reads: test the rulers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.metrics import expected_calibration_error, roc_auc, slice_metrics


def test_ece_is_near_zero_for_perfectly_calibrated_scores() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01


def test_ece_is_high_for_an_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(50_000)
    y = (rng.random(p.size) < p).astype(int)
    overconfident = np.where(p > 0.5, 0.99, 0.01)
    assert expected_calibration_error(y, overconfident) > 0.2


def test_ece_puts_probability_one_in_the_last_bin() -> None:
    assert expected_calibration_error(np.array([1, 1]), np.array([1.0, 1.0])) == pytest.approx(0.0)


def test_ece_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="at least one prediction"):
        expected_calibration_error(np.array([]), np.array([]))


def test_auc_reads_the_churn_column_not_the_stay_column() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    assert roc_auc(y, proba[:, 1]) == 1.0
    assert roc_auc(y, proba[:, 0]) == 0.0, "[:, 0] is P(stay): using it inverts the AUC"


def test_slice_metrics_reports_each_group_and_handles_one_class_slices() -> None:
    y = pd.Series([0, 1, 0, 1, 0, 0])
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.4])
    groups = pd.Series(["a", "a", "a", "a", "b", "b"])
    out = slice_metrics(y, p, groups)
    assert out["a"]["auc"] == 1.0
    assert out["a"]["n"] == 4
    assert out["b"]["auc"] is None, "AUC of a one-class slice is undefined, not 0.5"

"""The numbers the gate judges a model by.

Kept apart from training so the gate, the benchmark and the rollout all
measure a model the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ECE_BINS = 10


def roc_auc(y_true: np.ndarray | pd.Series, churn_probability: np.ndarray) -> float:
    """AUC of the churn (positive-class) score; pass predict_proba(X)[:, 1]."""
    return float(roc_auc_score(np.asarray(y_true), np.asarray(churn_probability)))


def expected_calibration_error(
    y_true: np.ndarray | pd.Series, churn_probability: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Weighted mean |observed rate - mean predicted| over equal-width bins.

    Callers read 0.7 as "70 % of these customers churn"; ECE measures how far
    that reading is from the truth. p = 1.0 falls in the last bin, not past it.
    """
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(churn_probability, dtype="float64")
    if len(y) == 0:
        raise ValueError("expected_calibration_error needs at least one prediction")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(ece)


def slice_metrics(
    y_true: pd.Series, churn_probability: np.ndarray, groups: pd.Series
) -> dict[str, dict[str, float | int | None]]:
    """AUC and ECE per group: a model can be good on average and bad for one segment."""
    y = np.asarray(y_true)
    p = np.asarray(churn_probability)
    g = np.asarray(groups)
    out: dict[str, dict[str, float | int | None]] = {}
    for name in sorted(set(g)):
        mask = g == name
        ys, ps = y[mask], p[mask]
        out[str(name)] = {
            "n": int(mask.sum()),
            "churn_rate": round(float(ys.mean()), 4),
            # AUC is undefined when a slice holds only one class.
            "auc": round(roc_auc(ys, ps), 4) if len(set(ys)) == 2 else None,
            "ece": round(expected_calibration_error(ys, ps), 4),
        }
    return out


def predict_latency_ms(
    predict: Callable[[pd.DataFrame], object], rows: pd.DataFrame, repeats: int = 300
) -> dict[str, float]:
    """p50/p99 wall time of one single-row call, after a warm-up."""
    singles = [rows.iloc[[i % len(rows)]] for i in range(repeats)]
    for row in singles[:20]:
        predict(row)
    timings = np.empty(repeats)
    for i, row in enumerate(singles):
        start = time.perf_counter()
        predict(row)
        timings[i] = (time.perf_counter() - start) * 1000.0
    return {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99))}

"""The rulers: the numbers the gate, drift and the rollout judge by.

Kept apart from training so the gate, the benchmark, drift and the rollout
all measure the same way: AUC, calibration, slices, latency, and the
population stability index (PSI) that drift applies to inputs and the
rollout's shadow analysis to scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ECE_BINS = 10
BINS = 10  # training deciles: every bin holds ~10 % of the training customers
# PSI takes ln(actual / expected), infinite when a bin is empty on one side.
# Flooring each share at 0.01 % keeps it finite; it is far below 1 / n for any
# batch we accept (MIN_ROWS), so it only touches bins that are truly empty, and
# a bin empty in training that receives share a still adds a * ln(a / 1e-4).
EPSILON = 1e-4


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


LATENCY_WARMUP = 20  # untimed calls first: the first few pay for caches and lazy imports, not for the model
LATENCY_REPEATS = 300  # timed calls: a p99 that rests on 3 of them


def predict_latency_ms(
    score: Callable[[Any], object], customers: Sequence[Any], repeats: int = LATENCY_REPEATS
) -> dict[str, float]:
    """p50/p99 of scoring one customer, in CPU time of the calling thread, after a warm-up.

    CPU time, not wall time: on a shared machine a neighbour's load stretches
    wall time (docs/benchmarks.md, "src/metrics.py") and would fail the gate
    for someone else's work. The thread's CPU time is what the
    model costs, and it is what the latency check is there to bound.
    """
    singles = [customers[i % len(customers)] for i in range(repeats)]
    for customer in singles[:LATENCY_WARMUP]:
        score(customer)
    timings = np.empty(repeats)
    for i, customer in enumerate(singles):
        start = time.thread_time_ns()
        score(customer)
        timings[i] = (time.thread_time_ns() - start) / 1e6
    return {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99))}


def quantile_edges(training_values: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Bin edges at the training quantiles, outer edges at -inf/+inf.

    Tied values (integer tenure, a plan price many customers share) repeat a
    quantile; repeated edges would make empty zero-width bins, so they are
    merged, leaving fewer, fatter bins. The open outer bins count values
    outside the training range instead of dropping them: out-of-range
    traffic is exactly the drift we are looking for.
    """
    values = np.asarray(training_values, dtype="float64")
    if values.size == 0 or np.isnan(values).any():
        raise ValueError("quantile_edges needs at least one training value and no NaN")
    inner = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return np.concatenate(([-np.inf], inner, [np.inf]))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin; bin i holds edges[i] <= v < edges[i + 1]."""
    values = np.asarray(values, dtype="float64")
    if values.size == 0:
        raise ValueError("bin_shares needs at least one value")
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=len(edges) - 1) / values.size


def psi_from_shares(expected_shares: np.ndarray, actual_shares: np.ndarray) -> float:
    """sum((a - e) * ln(a / e)) over bins, each share floored at EPSILON."""
    e = np.maximum(np.asarray(expected_shares, dtype="float64"), EPSILON)
    a = np.maximum(np.asarray(actual_shares, dtype="float64"), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected: np.ndarray, actual: np.ndarray, edges: np.ndarray) -> float:
    """PSI of a numeric feature: expected = training values, actual = recent values."""
    return psi_from_shares(bin_shares(expected, edges), bin_shares(actual, edges))


# --- the noise floor of PSI --------------------------------------------------
# How large PSI gets from sampling alone decides where a drift line belongs:
# at 10 bins it is roughly (1/n + 1/m) * chi2(9) for samples of n and m, so a
# fixed 0.1 sits at the 27th percentile of noise for n = 100 (it fired on 73 %
# of undrifted batches) and far out in the tail for n = 2,000.
# 20,000 draws: drift's retrain quantile (1 - 0.0025 / 4) rests on ~12 of them; cached per batch size in
# src.drift.judging, since each costs a noticeable fraction of a second (docs/benchmarks.md, "src/metrics.py").
NULL_DRAWS = 20_000


def psi_null(shares: np.ndarray, n: int, m: int, draws: int = NULL_DRAWS, seed: int = 0) -> np.ndarray:
    """Sorted PSI values between a sample of m (training) and one of n (recent) from the same shares.

    Simulated rather than taken from the chi-square approximation because the
    EPSILON floor and thin bins (ties merged, a category with a few % of the
    customers) make the small-sample tail heavier than chi-square says; the
    approximation is kept below as the cross-check a test holds it to.
    Seeded, so the same batch size and bins always give the same lines.
    """
    p = np.asarray(shares, dtype="float64")
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    e = np.maximum(rng.multinomial(m, p, size=draws) / m, EPSILON)
    a = np.maximum(rng.multinomial(n, p, size=draws) / n, EPSILON)
    return np.sort(np.sum((a - e) * np.log(a / e), axis=1))


def null_quantile(null: np.ndarray, q: float) -> float:
    """The q-quantile of a sorted null sample, interpolated as np.quantile's default does.

    Read off the order the null already has: np.quantile partitions all 20,000
    draws again on every call, and a bootstrap study asks twice per input per batch.
    """
    at = q * (len(null) - 1)
    below = min(int(at), len(null) - 1)
    above = min(below + 1, len(null) - 1)
    return float(null[below] + (at - below) * (null[above] - null[below]))


def null_p_value(null: np.ndarray, value: float) -> float:
    """Share of noise-only PSI values at least as large as `value` (add-one, so never 0)."""
    at_least = len(null) - int(np.searchsorted(null, value, side="left"))
    return (at_least + 1) / (len(null) + 1)


def psi_chi2_quantile(q: float, n: int, m: int, occupied_bins: int) -> float:
    """The chi-square approximation of the q-quantile: (1/n + 1/m) * chi2(occupied_bins - 1)."""
    from scipy.stats import chi2  # scipy comes with scikit-learn; imported here, only where it is used

    return float((1.0 / n + 1.0 / m) * chi2.ppf(q, occupied_bins - 1))

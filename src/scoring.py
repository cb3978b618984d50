"""A churn probability for raw customers, computed the one way the service computes it.

Two callers share it: the service scores every request with `scorer(model)`
(app/predictor.py), and training times that same call on one customer at a
time (src/train.py), so the gate's latency check bounds the path that serves.
Timing sklearn's `predict_proba` instead measured its per-call input
validation, ~1 ms a row that the service never pays for the shipped model
(docs/benchmarks.md, "src/scoring.py").

For a scaler + binary logistic regression the same arithmetic sklearn
performs is replayed on numpy arrays (bit-for-bit equal; a test holds it to
that); any other estimator is scored by sklearn on the named frame it was
fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src import schema
from src.features import Frame, build_features, build_matrix

Scorer = Callable[[Frame], np.ndarray]


def fast_churn_probability(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy replay of predict_proba(X)[:, 1] for scaler + binary logistic regression; None for anything else."""
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not isinstance(steps[1], LogisticRegression):
        return None
    scaler, clf = steps
    if len(clf.classes_) != 2 or not scaler.with_mean or not scaler.with_std:
        return None
    mean, scale, coef_t, intercept = scaler.mean_, scaler.scale_, clf.coef_.T, clf.intercept_

    def churn_probability(matrix: np.ndarray) -> np.ndarray:
        return expit(((matrix - mean) / scale @ coef_t + intercept).reshape(-1))

    return churn_probability


def scorer(model: Any) -> Scorer:
    """Raw customer columns -> churn probabilities, by the fastest path that gives sklearn's exact numbers."""
    fast = fast_churn_probability(model)
    if fast is not None:
        return lambda customers: fast(build_matrix(customers))
    return lambda customers: model.predict_proba(build_features(customers)[0])[:, 1]


def one_customer(row: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A snapshot row as the service hands it to the scorer: its request body, each field a one-item column."""
    return {name: [value] for name, value in schema.request_body(row).items()}

"""Load the verified artifact once and score customers with it.

Scoring goes through `src.features.build_matrix`, the numpy core training's
`build_features` calls. For the shipped model (StandardScaler + LogisticRegression) the same
arithmetic sklearn performs is replayed on numpy arrays, skipping sklearn's
per-call input validation (docs/benchmarks.md, "app/predictor.py"); the output is bit-for-bit equal,
and a test holds it to that. Any other estimator is scored by sklearn itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.settings import ServiceSettings
from src import artifacts, signing
from src.features import build_features, build_matrix


def fast_churn_probability(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy replay of predict_proba(X)[:, 1] for scaler + binary logistic regression."""
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


@dataclass(frozen=True)
class Predictor:
    model: Any
    version: str
    sha256: str
    holdout_auc: float | None
    threshold: float
    fast_path: Callable[[np.ndarray], np.ndarray] | None

    @classmethod
    def load(cls, settings: ServiceSettings) -> Predictor:
        """Check the signature (when TRUSTED_* names a signer), the record and the sha256, then load with skops."""
        signing.verify_trusted(settings.model_path, settings.metrics_path)
        model, rec = artifacts.load_verified(
            settings.model_path, settings.metrics_path, require_gate=settings.require_gate
        )
        return cls(
            model=model,
            version=settings.model_version or rec.model_version,
            sha256=rec.model_sha256,
            holdout_auc=rec.holdout_auc,
            threshold=settings.decision_threshold,
            fast_path=fast_churn_probability(model),
        )

    def churn_probability(self, customers: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """The fast path scores training's numpy core directly; sklearn gets the named frame it was fitted on."""
        if self.fast_path is not None:
            return self.fast_path(build_matrix(customers))
        X, _ = build_features(customers)
        return self.model.predict_proba(X)[:, 1]

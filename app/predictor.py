"""Load the verified artifact once and score customers with it.

Scoring is `src.scoring.scorer(model)`: the same call training times for the
gate's latency check, so the check bounds what serves (for the shipped model,
numpy arithmetic bit-for-bit equal to sklearn's, without its per-call
validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.settings import ServiceSettings
from src import artifacts, scoring, signing


@dataclass(frozen=True)
class Predictor:
    model: Any
    version: str
    sha256: str
    holdout_auc: float | None
    threshold: float
    score: scoring.Scorer

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
            score=scoring.scorer(model),
        )

    def churn_probability(self, customers: Mapping[str, Sequence[Any]]) -> np.ndarray:
        return self.score(customers)

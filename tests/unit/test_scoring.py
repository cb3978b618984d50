"""The gate's latency check times the call that serves: `src.scoring.scorer`, on one customer at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from src import metrics, scoring, train
from src.features import build_features

LATENCY_CALLS = metrics.LATENCY_WARMUP + metrics.LATENCY_REPEATS  # what the gate's latency check scores, one by one


class CountingPipeline(Pipeline):
    """The fitted pipeline itself, counting how many rows each sklearn `predict_proba` call carried."""

    calls: list[int]

    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        self.calls.append(len(X))
        return super().predict_proba(X, **params)


def counting(model: Pipeline) -> CountingPipeline:
    copy = CountingPipeline(model.steps)
    copy.calls = []
    return copy


@pytest.fixture(scope="module")
def fitted(small_customers: pd.DataFrame) -> train.Fitted:
    return train.fit(small_customers)


@pytest.fixture(scope="module")
def other(fitted: train.Fitted) -> Pipeline:
    """An estimator the numpy replay does not cover (no scaler in front): the service scores it with sklearn."""
    return Pipeline([("model", LogisticRegression(max_iter=1000))]).fit(fitted.X_train, fitted.y_train)


def test_the_scorer_gives_sklearns_own_numbers_one_customer_at_a_time(fitted: train.Fitted, other: Pipeline) -> None:
    rows = fitted.hold_rows.head(50)
    for model in (fitted.model, other):
        expected = [model.predict_proba(build_features(rows.iloc[[i]])[0])[0, 1] for i in range(len(rows))]
        score = scoring.scorer(model)
        served = [score(scoring.one_customer(row))[0] for row in rows.to_dict("records")]
        assert served == expected, f"{type(model[-1]).__name__}: one customer served differs from sklearn on that row"


def test_the_latency_check_does_not_time_sklearn_validation_the_service_skips(fitted: train.Fitted) -> None:
    model = counting(fitted.model)
    train.evaluate(model, fitted.X_hold, fitted.y_hold, fitted.hold_rows)
    assert model.calls == [len(fitted.X_hold)], (
        "for scaler + logistic regression the service scores with the numpy replay; the gate timed sklearn's "
        f"predict_proba instead ({len(model.calls) - 1} one-row calls), a path ~1 ms slower than what serves"
    )


def test_a_model_the_service_scores_with_sklearn_is_timed_through_sklearn_one_row_a_call(
    fitted: train.Fitted, other: Pipeline
) -> None:
    model = counting(other)
    result = train.evaluate(model, fitted.X_hold, fitted.y_hold, fitted.hold_rows)
    assert model.calls == [len(fitted.X_hold)] + [1] * LATENCY_CALLS, (
        "the latency check must time what the service runs for this model: sklearn on one customer per call"
    )
    assert 0 < result["predict_p50_ms"] <= result["predict_p99_ms"]

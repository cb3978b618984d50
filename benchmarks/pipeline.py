"""Pipeline figures: training time, holdout quality, and single-customer scoring
latency in-process (the test surfaces' wall times: benchmarks.suite, from the last `make test`).

Run with `make bench`. The machine is shared and noisy, so each timing is the
best (or the percentile) of several runs, and nothing here is a pass/fail.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier

from src import config, data, exits, metrics, scoring
from src.features import build_features
from src.train import run, split, train_model


def training(repeats: int = 5) -> None:
    X, y = build_features(data.load(config.settings().churn_data))
    X_train, X_hold, y_train, _ = split(X, y)
    fits = []
    for _ in range(repeats):
        started = time.perf_counter()
        model = train_model(X_train, y_train)
        fits.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run(config.settings().churn_data, Path(out))
        cli = time.perf_counter() - started
    rows = data.load(config.settings().churn_data).loc[X_hold.index]
    customers = [scoring.one_customer(row) for row in rows.to_dict("records")]
    served = metrics.predict_latency_ms(scoring.scorer(model), customers, repeats=1000)
    sklearn_rows = [X_hold.iloc[[i]] for i in range(len(X_hold))]
    latency = metrics.predict_latency_ms(model.predict_proba, sklearn_rows, repeats=1000)
    print(f"training on {config.settings().churn_data.name} ({len(X_train)} rows)")
    print(f"  fit                      min {min(fits) * 1000:7.1f} ms  median {statistics.median(fits) * 1000:7.1f} ms")
    print(f"  train+evaluate+write     {cli:7.2f} s")
    print(f"  holdout AUC / ECE        {result.holdout_auc:.4f} / {result.holdout_ece:.4f}")
    print(f"  one customer, as served  p50 {served['p50']:.3f} ms  p99 {served['p99']:.3f} ms  (the gate times this)")
    print(f"  sklearn predict_proba    p50 {latency['p50']:.3f} ms  p99 {latency['p99']:.3f} ms  (a one-row frame)")


def model_choice() -> None:
    """The measurement behind train.py's choice of logistic regression."""
    X, y = build_features(data.load(config.settings().churn_data))
    X_train, X_hold, y_train, y_hold = split(X, y)
    candidates = {
        "logistic regression (shipped)": lambda: train_model(X_train, y_train),
        "gradient boosting": lambda: HistGradientBoostingClassifier(random_state=config.SEED).fit(X_train, y_train),
        "gradient boosting + isotonic": lambda: CalibratedClassifierCV(
            HistGradientBoostingClassifier(random_state=config.SEED), method="isotonic", cv=5
        ).fit(X_train, y_train),
    }
    print(f"model choice on {config.settings().churn_data.name} holdout")
    for name, fit in candidates.items():
        started = time.perf_counter()
        model = fit()
        seconds = time.perf_counter() - started
        p = model.predict_proba(X_hold)[:, 1]
        auc, ece = metrics.roc_auc(y_hold, p), metrics.expected_calibration_error(y_hold, p)
        print(f"  {name:<32} AUC {auc:.4f}  ECE {ece:.4f}  fit {seconds:5.2f} s")


def main() -> int:
    model_choice()
    training()
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

"""The quality gate: the model ships only if every check below passes.

The thresholds are the contract (README "The gate"). Change one only in a reviewed
commit that says why.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from src import artifacts, config, metrics
from tests.model.conftest import Trained

AUC_FLOOR = 0.80  # below it the model is not good enough to ship
AUC_CEILING = 0.97  # "too good to be true": on churn data this means leakage
REGRESSION_TOLERANCE = 0.02  # not worse than production beyond holdout noise (~1 SE)
ECE_MAX = 0.08  # callers read 0.7 as 70 %; more miscalibration breaks that reading
BASELINE_MARGIN = 0.02  # the full model must earn its extra features over tenure alone
SLICE_MIN_ROWS = 200  # smaller slices are too noisy to judge (AUC SE > 0.04)
SLICE_AUC_FLOOR = 0.65  # measured lows 0.745 (ours) / 0.72 (IBM Telco); 0.65 ~ 2 SE below
PREDICT_P99_MS_MAX = 50.0  # one row must score well inside an API latency budget
ARTIFACT_MAX_MB = 50.0  # the image and every rollout copy stay small


def test_auc_above_floor(trained: Trained, gate) -> None:
    auc = trained.metrics["holdout_auc"]
    gate("holdout AUC >= floor", auc, AUC_FLOOR, ">=")
    assert auc >= AUC_FLOOR, f"holdout AUC {auc:.4f} < {AUC_FLOOR}: not good enough to ship"


def test_auc_below_leakage_ceiling(trained: Trained, gate) -> None:
    auc = trained.metrics["holdout_auc"]
    gate("holdout AUC <= leakage ceiling", auc, AUC_CEILING, "<=")
    assert auc <= AUC_CEILING, (
        f"holdout AUC {auc:.4f} > {AUC_CEILING}: too good to be true; look for a feature "
        "that is only known after churn, or customers duplicated across train and holdout"
    )


def test_no_regression_against_production(trained: Trained, gate) -> None:
    path = config.prod_metrics_path()
    if not path.is_file():
        pytest.skip(f"no production baseline at {path}: first model, nothing to regress against")
    prod_auc = artifacts.read_json(path)["holdout_auc"]
    floor = round(prod_auc - REGRESSION_TOLERANCE, 4)
    auc = trained.metrics["holdout_auc"]
    gate("holdout AUC >= production - tolerance", auc, floor, ">=", tolerance=REGRESSION_TOLERANCE)
    assert auc >= floor, (
        f"holdout AUC {auc:.4f} < production {prod_auc:.4f} - {REGRESSION_TOLERANCE}: "
        "this candidate would make predictions worse for users than the model they have now"
    )


def test_probabilities_are_calibrated(trained: Trained, gate) -> None:
    ece = trained.metrics["holdout_ece"]
    gate("holdout ECE <= max", ece, ECE_MAX, "<=")
    assert ece <= ECE_MAX, f"ECE {ece:.4f} > {ECE_MAX}: a score of 0.7 no longer means ~70 % churn"


def test_beats_majority_class(trained: Trained, gate) -> None:
    """A constant base-rate forecast has AUC 0.5; compare by Brier score, which it can win."""
    p = trained.model.predict_proba(trained.X_hold)[:, 1]
    y = trained.y_hold.to_numpy()
    brier_model = float(np.mean((p - y) ** 2))
    brier_majority = float(np.mean((trained.y_train.mean() - y) ** 2))
    gate("Brier score < base-rate forecast", brier_model, round(brier_majority, 4), "<")
    assert brier_model < brier_majority, (
        f"Brier {brier_model:.4f} >= base-rate forecast {brier_majority:.4f}: the model knows nothing"
    )


def test_beats_tenure_only_baseline(trained: Trained, gate) -> None:
    baseline = LogisticRegression().fit(trained.X_train[["tenure_months"]], trained.y_train)
    base_auc = metrics.roc_auc(trained.y_hold, baseline.predict_proba(trained.X_hold[["tenure_months"]])[:, 1])
    need = round(base_auc + BASELINE_MARGIN, 4)
    auc = trained.metrics["holdout_auc"]
    gate("holdout AUC >= tenure-only + margin", auc, need, ">=")
    assert auc >= need, (
        f"AUC {auc:.4f} vs tenure-only {base_auc:.4f}: the other features add less than "
        f"{BASELINE_MARGIN}; they are broken or the pipeline drops them"
    )


def test_every_large_contract_slice_above_floor(trained: Trained, gate) -> None:
    slices = trained.metrics["slices"]["contract"]
    judged = {k: s for k, s in slices.items() if s["n"] >= SLICE_MIN_ROWS}
    assert judged, f"no contract slice has >= {SLICE_MIN_ROWS} holdout rows; the slice check judged nothing"
    worst = min(judged, key=lambda k: judged[k]["auc"] if judged[k]["auc"] is not None else -1.0)
    worst_auc = judged[worst]["auc"]
    gate(f"worst contract slice AUC ({worst})", worst_auc, SLICE_AUC_FLOOR, ">=")
    assert worst_auc is not None, f"slice {worst} holds one class only: its AUC is undefined"
    assert worst_auc >= SLICE_AUC_FLOOR, (
        f"slice {worst} (n={judged[worst]['n']}) AUC {worst_auc} < {SLICE_AUC_FLOOR}: "
        "the model is fine on average but fails one customer segment"
    )


def test_single_row_predict_is_fast(trained: Trained, gate) -> None:
    p99 = trained.metrics["predict_p99_ms"]
    gate("single-row predict p99 ms <= max", p99, PREDICT_P99_MS_MAX, "<=")
    assert p99 <= PREDICT_P99_MS_MAX, f"p99 {p99:.1f} ms > {PREDICT_P99_MS_MAX} ms: too slow to serve one request"


def test_artifact_is_small(trained: Trained, gate) -> None:
    size_mb = (config.artifact_dir() / artifacts.MODEL_FILE).stat().st_size / 1e6
    gate("artifact size MB <= max", size_mb, ARTIFACT_MAX_MB, "<=")
    assert size_mb <= ARTIFACT_MAX_MB, f"artifact {size_mb:.1f} MB > {ARTIFACT_MAX_MB} MB: slow pulls, slow rollbacks"


def test_metrics_record_what_was_measured(trained: Trained) -> None:
    m = trained.metrics
    required = {
        "holdout_auc",
        "holdout_ece",
        "n_train",
        "n_holdout",
        "seed",
        "data_sha256",
        "model_sha256",
        "predict_p99_ms",
    }
    assert required <= m.keys(), (
        f"metrics.json lacks {sorted(required - m.keys())}: the interface the service and rollout read broke"
    )
    assert m["n_holdout"] == len(trained.y_hold), "metrics.json describes a different holdout than the gate checked"
    assert m["model_sha256"] == artifacts.sha256_file(config.artifact_dir() / artifacts.MODEL_FILE), (
        "metrics.json does not describe the artifact on disk: the gated file is not the shipped file"
    )

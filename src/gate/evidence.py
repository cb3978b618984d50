"""The gate's evidence: everything the checks judge, measured once on the holdout and the shipped model file.

Measured here, judged in `src.gate.contract`: the figures are plain numbers,
so a check reads the same value whichever test, page or CLI asks for it.
How much to measure (the smallest slice judged, shuffles per input, what
counts as a move) is the contract's, passed in as `Measuring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from src import metrics, record, schema, train
from src.features import BASELINE_FEATURE, build_features
from src.record import ArtifactRecord


@dataclass(frozen=True)
class Measuring:
    """How the evidence is measured; the values live in the contract's thresholds block (`contract.MEASURING`)."""

    slice_min_rows: int  # smaller slices are too noisy to judge
    permutation_repeats: int  # shuffles per input, averaged
    move_epsilon: float  # a probability "moves" beyond float noise


@dataclass(frozen=True)
class Evidence:
    """Everything the checks judge, measured once on the holdout and the shipped model file."""

    auc: float
    ece: float
    brier: float
    base_rate_brier: float
    single_input_auc: float
    worst_slice: str | None
    worst_slice_auc: float | None
    worst_slice_n: int
    p99_ms: float
    size_mb: float
    baseline_auc: float | None
    baseline_path: Path
    directions: dict[str, float]  # input -> largest log-odds step against the expected direction (< 0 agrees)
    id_effect: float  # |change in probability| when only the customer id changes
    dead_features: tuple[str, ...]  # feature columns constant or all blank on the training split
    importance: dict[str, float]  # input -> share of holdout probabilities that move when it alone is shuffled


def _probe(model: Any, rows: list[dict[str, Any]]) -> np.ndarray:
    X, _ = build_features(pd.DataFrame(rows))
    return model.predict_proba(X)[:, 1]


def _log_odds(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(clipped / (1 - clipped))


def behaviour(model: Any) -> tuple[dict[str, float], float]:
    """Directional and invariance probes around the example customer, on the model as shipped.

    Directions are steps in log-odds, not probability: near 0 or 1 a
    probability barely moves however strongly the model reads an input (a
    probe customer the model is sure about), while a dead encoding moves the
    log-odds by exactly 0, so "no measurable effect" means what it says.

    Nullable inputs are left blank so derived ones follow (a blank total is
    imputed from tenure and monthly charges, as for a new customer).
    """
    base = {c.name: (None if c.nullable else c.example) for c in schema.INPUTS}
    directions: dict[str, float] = {}
    for column in schema.INPUTS:
        if not column.expect:
            continue
        values = column.allowed if column.kind == "category" else column.probe
        steps = np.diff(_log_odds(_probe(model, [{**base, column.name: v} for v in values])))
        directions[column.name] = float((steps if column.expect == "decreasing" else -steps).max())
    a, b = _probe(model, [{**base, schema.ID: "1111-AAAAA"}, {**base, schema.ID: "9999-ZZZZZ"}])
    return directions, float(abs(a - b))


def dead_features(X_train: pd.DataFrame) -> tuple[str, ...]:
    """The feature columns that take a single value (or none) on the training split, in FEATURE_COLUMNS order."""
    return tuple(name for name in X_train.columns if X_train[name].nunique(dropna=True) <= 1)


def importance(model: Any, rows: pd.DataFrame, seed: int, how: Measuring) -> dict[str, float]:
    """Per declared input: the share of holdout churn probabilities that move when that input alone is shuffled.

    Shuffling the input, not one feature column, moves every feature derived
    from it together (tenure and log tenure; all of a category's indicators),
    so the figure says whether the model reads the input at all: exactly 0
    for an input it never sees (never built into a feature, or built into a
    constant one), ~1 for a number it reads, about 1 - sum(share^2) for a
    category. Not the AUC lost, nor the mean movement: on data/churn.csv
    the billed total adds no signal beyond tenure x monthly, and both refuse
    healthy models (generator seed 6: coefficient -0.0002, mean movement
    0.00003, AUC lost ~0). Seeded: same data + seed, same figures.
    """
    base = model.predict_proba(build_features(rows)[0])[:, 1]
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for column in schema.INPUTS:
        if column.kind == "id":
            continue
        moved = []
        for _ in range(how.permutation_repeats):
            shuffled = rows.assign(**{column.name: rng.permutation(rows[column.name].to_numpy())})
            change = np.abs(model.predict_proba(build_features(shuffled)[0])[:, 1] - base)
            moved.append(np.mean(change > how.move_epsilon))
        out[column.name] = float(np.mean(moved))
    return out


def gather(
    fitted: train.Fitted, model: Any, described: ArtifactRecord, model_file: Path, baseline: Path, how: Measuring
) -> Evidence:
    """Measure what the checks need, on the shipped model and the one holdout split."""
    p = model.predict_proba(fitted.X_hold)[:, 1]
    y = fitted.y_hold.to_numpy()
    single = LogisticRegression().fit(fitted.X_train[[BASELINE_FEATURE]], fitted.y_train)
    single_auc = metrics.roc_auc(y, single.predict_proba(fitted.X_hold[[BASELINE_FEATURE]])[:, 1])
    slices = {k: s for k, s in described.slices[train.SLICE_COLUMN].items() if s.n >= how.slice_min_rows}
    worst = min(slices, key=lambda k: -1.0 if slices[k].auc is None else slices[k].auc) if slices else None
    directions, id_effect = behaviour(model)
    return Evidence(
        auc=described.holdout_auc,
        ece=described.holdout_ece,
        brier=float(np.mean((p - y) ** 2)),
        base_rate_brier=float(np.mean((fitted.y_train.mean() - y) ** 2)),
        single_input_auc=single_auc,
        worst_slice=worst,
        worst_slice_auc=slices[worst].auc if worst else None,
        worst_slice_n=slices[worst].n if worst else 0,
        p99_ms=described.predict_p99_ms,
        size_mb=model_file.stat().st_size / 1e6,
        baseline_auc=record.read(baseline).holdout_auc if baseline.is_file() else None,
        baseline_path=baseline,
        directions=directions,
        id_effect=id_effect,
        dead_features=dead_features(fitted.X_train),
        importance=importance(model, fitted.hold_rows, fitted.seed, how),
    )

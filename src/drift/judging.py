"""Judging recent traffic against the training snapshot: PSI per model input, into a typed report.

A model is only as good as the match between the customers it was trained
on and the customers it scores now; the gate cannot see that, because it
runs before any customer arrives.

The lines are calibrated to the batch: PSI from noise alone shrinks with the
sample (about (1/n + 1/m) * chi2(bins - 1)), so each feature's warn and
retrain lines are the quantiles of a simulated noise-only PSI for this n, this
m and these bins (`src.metrics.psi_null`), never below the common-practice
0.1 / 0.25. The warn budget is a 2.5 % chance per batch that an undrifted
batch warns at all, the retrain budget 0.25 %, split evenly over the features
(Bonferroni: correlated features only make it more conservative).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from src import data, schema
from src.drift.reading import CATEGORICAL_FEATURES, NUMERIC_FEATURES, DriftInputError, read_prediction_log
from src.features import REQUIRED_INPUTS, build_features
from src.metrics import (
    BINS,
    EPSILON,
    bin_shares,
    null_p_value,
    null_quantile,
    psi_from_shares,
    psi_null,
    quantile_edges,
)

# Common practice for PSI, kept as floors: below 0.1 a shift is within what
# sampling noise and seasons produce; over 0.25 the population is no longer
# the one the model learned from. A large batch never gets a stricter line.
PSI_WARN = 0.1
PSI_RETRAIN = 0.25
# Chance that an undrifted batch crosses a line anywhere in the report: half
# of the 5 % the check promises, so the promise holds with room to spare
# (at 0.05 a seeded study of 200 batches of 100 measured 5.5 %).
WARN_FALSE_ALARM = 0.025
RETRAIN_FALSE_ALARM = 0.0025
# The API rejects unknown categories, so a served request never carries one:
# any at all means a client skipping validation or a new product to look at.
UNKNOWN_WARN = 0.0
# One request in twenty on a contract the model has never seen: the training
# data no longer describes the customers. The contract PSI crosses 0.25 near
# the same point (0.05 * ln(0.05 / EPSILON) = 0.31); this line says it in words.
UNKNOWN_RETRAIN = 0.05
# With lines calibrated to the batch an undrifted batch warns 0-2 % of the time at any n;
# what sets the floor is power: from n = 200 a 10 % price rise is flagged in 98 % of batches
# (docs/benchmarks.md "src/drift").
MIN_ROWS = 200

Status = Literal["ok", "warn", "retrain"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "retrain")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureDrift(_Frozen):
    """One input's PSI, its p-value under noise alone, and the lines calibrated to this batch."""

    psi: float
    p: float
    warn: float
    retrain: float
    bins: int
    status: Status


class UnknownShare(_Frozen):
    """The share of a category's values the contract does not know (the API rejects them)."""

    share: float
    status: Status


class Thresholds(_Frozen):
    """The lines the report was judged by, recorded with it so a reader needs no source; only min_rows varies."""

    psi_warn_floor: float = PSI_WARN
    psi_retrain_floor: float = PSI_RETRAIN
    warn_false_alarm: float = WARN_FALSE_ALARM
    retrain_false_alarm: float = RETRAIN_FALSE_ALARM
    unknown_warn: float = UNKNOWN_WARN
    unknown_retrain: float = UNKNOWN_RETRAIN
    bins: int = BINS
    epsilon: float = EPSILON
    min_rows: int = MIN_ROWS


class DriftReport(_Frozen):
    """The verdict on one batch; `model_dump()` is the JSON `--json` writes (plus the log and data paths).

    `lines` and `skipped` are the reader's counts, present when the batch was read from a log (`check`).
    """

    n_training: int
    n_recent: int
    features: dict[str, FeatureDrift]
    unknown: dict[str, UnknownShare]
    status: Status
    reason: str
    thresholds: Thresholds
    lines: int | None = None
    skipped: dict[str, int] | None = None


def category_shares(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Share per known category, then one last bucket for everything else.

    A missing value counts as unknown: the model cannot score it either.
    Compared as objects, so a number never matches a category's text.
    """
    cells = values.to_numpy(dtype=object, na_value=None)  # pd.NA == "x" is NA, which no count can take
    size = max(len(cells), 1)
    counts = [int(np.count_nonzero(cells == c)) for c in categories]
    return np.array([*(c / size for c in counts), (len(cells) - sum(counts)) / size])


def status(value: float, warn: float, retrain: float) -> Status:
    """ok / warn / retrain; a threshold is crossed only when the value is over it."""
    if value > retrain:
        return "retrain"
    if value > warn:
        return "warn"
    return "ok"


def numeric_inputs(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric model inputs exactly as the model sees them (blank totals imputed).

    Reuses build_features so drift is measured on what serving computes. The
    contract is judged separately (with its unknown bucket), so a placeholder
    keeps build_features' contract check from rejecting a log line we want to
    count as unknown.
    """
    missing = [c for c in REQUIRED_INPUTS if c not in df.columns]
    if missing:
        raise DriftInputError(f"missing input column(s): {', '.join(missing)}")
    columns = [c for c in NUMERIC_FEATURES if c in df.columns]
    placeholders = {name: schema.BY_NAME[name].allowed[0] for name in CATEGORICAL_FEATURES}
    X, _ = build_features(df[columns].assign(**placeholders))
    return X[list(NUMERIC_FEATURES)]


@lru_cache(maxsize=32)
def _null(shares: tuple[float, ...], n: int, m: int) -> np.ndarray:
    """The simulated noise floor, kept per (bins, n, m): a bootstrap study asks for the same one many times."""
    null = psi_null(np.array(shares), n, m)
    null.flags.writeable = False
    return null


def judge(expected: np.ndarray, actual: np.ndarray, n: int, m: int, n_features: int) -> FeatureDrift:
    """PSI of one feature, its p-value under noise alone, and the lines calibrated to this n, m and bins."""
    value = psi_from_shares(expected, actual)
    null = _null(tuple(float(x) for x in expected), n, m)
    warn = max(PSI_WARN, null_quantile(null, 1 - WARN_FALSE_ALARM / n_features))
    retrain = max(PSI_RETRAIN, null_quantile(null, 1 - RETRAIN_FALSE_ALARM / n_features))
    return FeatureDrift(
        psi=round(value, 4),
        p=round(null_p_value(null, value), 6),
        warn=round(warn, 4),
        retrain=round(retrain, 4),
        bins=len(expected),
        status=status(value, warn, retrain),
    )


def p_text(p: float) -> str:
    """The p-value as printed: under 0.001 the simulation cannot say how far under (20,000 draws)."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _worst(statuses: list[Status]) -> Status:
    return max(statuses, key=STATUSES.index)


def _reason(features: dict[str, FeatureDrift], unknown: dict[str, UnknownShare], overall: Status) -> str:
    """The one line a scheduled job's log shows (and the retrain dispatch carries): what crossed which line."""
    if overall == "ok":
        return "ok: every feature PSI under its line, no unknown categories"
    texts = [
        f"{name} PSI {row.psi:.4f} > {row.retrain if overall == 'retrain' else row.warn:.4f} (p {p_text(row.p)})"
        for name, row in features.items()
        if row.status == overall
    ]
    limit = UNKNOWN_RETRAIN if overall == "retrain" else UNKNOWN_WARN
    texts += [
        f"unknown {name} share {row.share:.1%} > {limit:.0%}" for name, row in unknown.items() if row.status == overall
    ]
    tail = "" if overall == "retrain" else " (under the retrain line: watch, no retrain)"
    return f"{overall}: {'; '.join(texts)}{tail}"


@dataclass(frozen=True)
class Reference:
    """The training side of every comparison, computed once: a bootstrap study or a
    scheduled check compares many batches against the same snapshot."""

    m: int
    edges: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def reference(training_df: pd.DataFrame) -> Reference:
    """The training snapshot's bins and shares per input, the side every batch is compared with."""
    train_num = numeric_inputs(training_df)
    edges = {name: quantile_edges(train_num[name].to_numpy(), BINS) for name in NUMERIC_FEATURES}
    expected = {name: bin_shares(train_num[name].to_numpy(), edges[name]) for name in NUMERIC_FEATURES}
    for name in CATEGORICAL_FEATURES:
        expected[name] = category_shares(training_df[name], schema.BY_NAME[name].allowed)
    return Reference(m=len(training_df), edges=edges, expected=expected)


def drift_report(training: pd.DataFrame | Reference, recent_df: pd.DataFrame, min_rows: int = MIN_ROWS) -> DriftReport:
    """PSI per model input with its calibrated lines, and the share of unknown categories, with a verdict."""
    ref = training if isinstance(training, Reference) else reference(training)
    n, m = len(recent_df), ref.m
    if n < min_rows:
        raise DriftInputError(f"only {n} recent prediction(s), need at least {min_rows} to tell drift from noise")
    recent_num = numeric_inputs(recent_df)
    n_features = len(NUMERIC_FEATURES) + len(CATEGORICAL_FEATURES)
    features: dict[str, FeatureDrift] = {}
    for name in NUMERIC_FEATURES:
        actual = bin_shares(recent_num[name].to_numpy(), ref.edges[name])
        features[name] = judge(ref.expected[name], actual, n, m, n_features)
    unknown: dict[str, UnknownShare] = {}
    for name in CATEGORICAL_FEATURES:
        actual = category_shares(recent_df[name], schema.BY_NAME[name].allowed)
        features[name] = judge(ref.expected[name], actual, n, m, n_features)
        share = float(actual[-1])
        unknown[name] = UnknownShare(share=round(share, 4), status=status(share, UNKNOWN_WARN, UNKNOWN_RETRAIN))
    overall = _worst([row.status for row in [*features.values(), *unknown.values()]])
    return DriftReport(
        n_training=m,
        n_recent=n,
        features=features,
        unknown=unknown,
        status=overall,
        reason=_reason(features, unknown, overall),
        thresholds=Thresholds(min_rows=min_rows),
    )


def check(log_path: Path, data_path: Path, min_rows: int = MIN_ROWS) -> DriftReport:
    """Read the log, judge it against the snapshot, and fold the reader's counts into the report."""
    return check_frames(log_path, data_path, min_rows)[0]


def check_frames(
    log_path: Path, data_path: Path, min_rows: int = MIN_ROWS
) -> tuple[DriftReport, Reference, pd.DataFrame]:
    """`check`, with the reference and the recent rows it judged (the drift page draws them)."""
    recent, log = read_prediction_log(log_path)
    ref = reference(data.load(data_path))
    report = drift_report(ref, recent, min_rows=min_rows)
    skipped = dict(sorted(log.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    return report.model_copy(update={"lines": log.n_lines, "skipped": skipped}), ref, recent

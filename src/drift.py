"""Has the traffic drifted away from the data the model learned from?

Compares a batch of recent predictions (the service's JSON prediction log)
with the training snapshot, feature by feature, using the population
stability index (PSI). A model is only as good as the match between the
customers it was trained on and the customers it scores now; the gate cannot
see that, because it runs before any customer arrives.

`python -m src.drift --log PATH [--data SNAPSHOT] [--json OUT] [--min-rows N]`

Exit codes, so a scheduled job can act on the result without parsing text:
  0  ok or warn: keep serving (warn is printed for a human to watch)
  2  input error: missing/unreadable log or snapshot, no prediction lines,
     too few requests to judge (argparse usage errors also exit 2)
  3  retrain: a feature is over the retrain threshold; trigger training
  1  is left to Python itself (an unexpected crash), so "the tool broke"
     never reads as "retrain".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src import atomic, config, data, schema
from src.features import REQUIRED_INPUTS, build_features
from src.metrics import BINS, EPSILON, psi, psi_from_shares, quantile_edges

# Common practice for PSI: below 0.1 a shift is within what sampling noise and
# seasons produce; 0.1-0.25 is a real but moderate move worth watching.
PSI_WARN = 0.1
# Over 0.25 the population is no longer the one the model learned from.
PSI_RETRAIN = 0.25
# The API rejects unknown categories, so a served request never carries one:
# any at all means a client skipping validation or a new product to look at.
UNKNOWN_WARN = 0.0
# One request in twenty on a contract the model has never seen: the training
# data no longer describes the customers. The contract PSI crosses 0.25 near
# the same point (0.05 * ln(0.05 / EPSILON) = 0.31); this line says it in words.
UNKNOWN_RETRAIN = 0.05

# An undrifted sample's PSI over 10 bins is ~9 / n from noise alone: 0.09 at
# n = 100 (on the warn line), 0.018 at n = 500. Fewer requests: refuse to judge.
MIN_ROWS = 500

NUMERIC_FEATURES: tuple[str, ...] = schema.NUMERIC  # every numeric input of the data contract
CATEGORICAL_FEATURES: tuple[str, ...] = schema.CATEGORICAL
STATUSES: tuple[str, ...] = ("ok", "warn", "retrain")

EXIT_OK = 0
EXIT_INPUT_ERROR = 2
EXIT_RETRAIN = 3


class DriftInputError(ValueError):
    """The inputs cannot be judged: no log, no predictions, too few of them."""


def category_shares(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Share per known category, then one last bucket for everything else.

    A missing value counts as unknown: the model cannot score it either.
    """
    as_text = values.astype("string")
    known = [float((as_text == c).fillna(False).astype(bool).mean()) for c in categories]
    unknown = float((~as_text.isin(categories)).astype(bool).mean())
    return np.array([*known, unknown])


def status(value: float, warn: float, retrain: float) -> str:
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


def _prediction_record(line: str) -> dict[str, Any] | None:
    """The JSON object on this line if it is a prediction event, else None."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None  # uvicorn access lines, tracebacks, a line cut off mid-write
    if isinstance(record, dict) and record.get("event") == "prediction":
        return record
    return None


def read_prediction_log(path: str | Path) -> pd.DataFrame:
    """One row per prediction in a mixed log; every other line is skipped.

    In shadow mode stable and candidate both log a mirrored request under the
    same request_id; it is one customer request, so it is counted once.
    """
    path = Path(path)
    if not path.is_file():
        raise DriftInputError(f"no prediction log at {path}")
    records: list[dict[str, Any]] = []
    n_lines = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            n_lines += 1
            record = _prediction_record(line)
            if record is not None:
                records.append(record)
    if not records:
        raise DriftInputError(f'{path}: no {{"event": "prediction"}} lines among {n_lines} line(s)')
    df = pd.DataFrame.from_records(records)
    if {"request_id", "customer_id"} <= set(df.columns):
        mirrored = df["request_id"].notna() & df.duplicated(["request_id", "customer_id"])
        df = df[~mirrored]
    return df.reset_index(drop=True)


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUSES.index)


def _reason(features: dict[str, dict[str, Any]], unknown: dict[str, dict[str, Any]], overall: str) -> str:
    """The one line a scheduled job's log shows: what crossed which line."""
    if overall == "ok":
        return f"ok: every feature PSI <= {PSI_WARN}, no unknown categories"
    threshold = PSI_RETRAIN if overall == "retrain" else PSI_WARN
    parts = [name for name, row in features.items() if row["status"] == overall]
    texts = [f"{', '.join(parts)} PSI > {threshold}"] if parts else []
    limit = UNKNOWN_RETRAIN if overall == "retrain" else UNKNOWN_WARN
    texts += [
        f"unknown {name} share {row['share']:.1%} > {limit:.0%}"
        for name, row in unknown.items()
        if row["status"] == overall
    ]
    tail = "" if overall == "retrain" else " (under the retrain line: watch, no retrain)"
    return f"{overall}: {'; '.join(texts)}{tail}"


def drift_report(training_df: pd.DataFrame, recent_df: pd.DataFrame, min_rows: int = MIN_ROWS) -> dict[str, Any]:
    """PSI per model input and the share of unknown categories, with a verdict."""
    if len(recent_df) < min_rows:
        raise DriftInputError(
            f"only {len(recent_df)} recent prediction(s), need at least {min_rows} to tell drift from noise"
        )
    train_num, recent_num = numeric_inputs(training_df), numeric_inputs(recent_df)
    features: dict[str, dict[str, Any]] = {}
    for name in NUMERIC_FEATURES:
        edges = quantile_edges(train_num[name].to_numpy(), BINS)
        value = psi(train_num[name].to_numpy(), recent_num[name].to_numpy(), edges)
        features[name] = {"psi": round(value, 4), "bins": len(edges) - 1}
    unknown: dict[str, dict[str, Any]] = {}
    for name in CATEGORICAL_FEATURES:
        categories = schema.BY_NAME[name].allowed
        expected = category_shares(training_df[name], categories)
        actual = category_shares(recent_df[name], categories)
        features[name] = {"psi": round(psi_from_shares(expected, actual), 4), "bins": len(expected)}
        share = float(actual[-1])
        unknown[name] = {"share": round(share, 4), "status": status(share, UNKNOWN_WARN, UNKNOWN_RETRAIN)}
    for row in features.values():
        row["status"] = status(row["psi"], PSI_WARN, PSI_RETRAIN)
    overall = _worst([row["status"] for row in [*features.values(), *unknown.values()]])
    return {
        "n_training": len(training_df),
        "n_recent": len(recent_df),
        "features": features,
        "unknown": unknown,
        "status": overall,
        "reason": _reason(features, unknown, overall),
        "thresholds": {
            "psi_warn": PSI_WARN,
            "psi_retrain": PSI_RETRAIN,
            "unknown_warn": UNKNOWN_WARN,
            "unknown_retrain": UNKNOWN_RETRAIN,
            "bins": BINS,
            "epsilon": EPSILON,
            "min_rows": min_rows,
        },
    }


def render(report: dict[str, Any]) -> str:
    """A markdown table: readable in a terminal and pasteable into a CI summary."""
    lines = [
        f"drift: {report['n_recent']:,} recent predictions vs {report['n_training']:,} training rows",
        "",
        "| feature | PSI | status |",
        "| --- | --- | --- |",
    ]
    for name, row in report["features"].items():
        lines.append(f"| {name} | {row['psi']:.4f} | {row['status']} |")
    lines.append("")
    for name, row in report["unknown"].items():
        lines.append(
            f"unknown {name} share: {row['share']:.2%} ({row['status']}; "
            f"warn > {UNKNOWN_WARN:.0%}, retrain > {UNKNOWN_RETRAIN:.0%})"
        )
    lines += [
        f"PSI thresholds: warn > {PSI_WARN}, retrain > {PSI_RETRAIN} ({BINS} training-quantile bins)",
        f"drift: {report['reason']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.drift",
        description="Compare recent predictions with the training snapshot (PSI per model input).",
        epilog="exit codes: 0 ok/warn, 2 input error, 3 retrain",
    )
    parser.add_argument("--log", type=Path, required=True, help="the service's JSON prediction log")
    parser.add_argument("--data", type=Path, default=None, help="training snapshot CSV (default: $CHURN_DATA)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--min-rows", type=int, default=MIN_ROWS, help=f"refuse to judge fewer (default {MIN_ROWS})")
    args = parser.parse_args(argv)
    data_path = args.data or config.settings().churn_data
    try:
        recent = read_prediction_log(args.log)
        training = data.load(data_path)
        report = drift_report(training, recent, min_rows=args.min_rows)
        if args.json is not None:
            document = {"log": str(args.log), "data": str(data_path), **report}
            atomic.write_text(args.json, json.dumps(document, indent=2, sort_keys=True) + "\n")
    except (DriftInputError, data.DataError, ValueError, OSError) as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(render(report))
    return EXIT_RETRAIN if report["status"] == "retrain" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""Has the traffic drifted away from the data the model learned from?

Compares a batch of recent predictions (the service's JSON prediction log)
with the training snapshot, feature by feature, using the population
stability index (PSI). A model is only as good as the match between the
customers it was trained on and the customers it scores now; the gate cannot
see that, because it runs before any customer arrives.

`python -m src.drift --log PATH [--data SNAPSHOT] [--json OUT] [--html PAGE] [--min-rows N]`

`--html` also writes the drift page (`src.drift_page`): a histogram per input,
recent vs training, in the very bins PSI compares.

PATH is one log file or a folder of them (a downloaded workflow artifact with
stable.log and candidate.log); a request mirrored to both counts once.

Exit codes, so a scheduled job can act on the result without parsing text:
  0  ok or warn: keep serving (warn is printed for a human to watch)
  2  input error: missing/unreadable log or snapshot, no valid prediction
     lines, too few requests to judge (argparse usage errors also exit 2)
  3  retrain: a feature is over its retrain line; trigger training
  1  is left to Python itself (an unexpected crash), so "the tool broke"
     never reads as "retrain".

Reading is one pass over the lines, each parsed, checked against the data
contract and reduced to the drift inputs: 34 bytes a prediction (three
float64 numbers, a category code, a request key and its flag) instead of a
dict per line. A log of 1M lines took 1,555 MB peak RSS before and 307 MB now
(`python -m benchmarks.drift --part log`, 2-core VM, 2026-11). A line that
is not a valid prediction never stops the batch: it is skipped and counted
under its reason, and the counts are printed with the verdict.

The lines are calibrated to the batch: PSI from noise alone shrinks with the
sample (about (1/n + 1/m) * chi2(bins - 1)), so each feature's warn and
retrain lines are the quantiles of a simulated noise-only PSI for this n, this
m and these bins (`src.metrics.psi_null`), never below the common-practice
0.1 / 0.25. The warn budget is a 2.5 % chance per batch that an undrifted
batch warns at all, the retrain budget 0.25 %, split evenly over the features
(Bonferroni: correlated features only make it more conservative).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src import atomic, config, data, schema
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

# With the fixed lines an undrifted batch of 100 warned 73 % of the time, so
# 500 was the floor. Calibrated, an undrifted batch warns 0-2 % of the time at
# any n (python -m benchmarks.drift --part alarms, 400 draws); what sets the
# floor now is power. From n = 200 the retrain line is the 0.25 floor itself
# and a 10 % price rise (monthly PSI ~0.36) is flagged in 98 % of batches; at
# n = 100 the retrain lines rise to 0.37-0.54 and the same rise is missed in
# about 1 batch in 5.
MIN_ROWS = 200

NUMERIC_FEATURES: tuple[str, ...] = schema.NUMERIC  # every numeric input of the data contract
CATEGORICAL_FEATURES: tuple[str, ...] = schema.CATEGORICAL
STATUSES: tuple[str, ...] = ("ok", "warn", "retrain")

# A prediction line is ~300 bytes; a longer line is not one, and reading it
# whole would let one line without a newline take the memory.
MAX_LINE_BYTES = 64 * 1024
# Integers longer than this fit no count or price; the parser turns them into
# NaN (rejected below) instead of building a 5,000-digit int (which Python
# refuses past 4,300 digits with a ValueError).
MAX_INT_DIGITS = 18

SKIP_REASONS: dict[str, str] = {
    "not_json": "not JSON: access lines, tracebacks, a line cut off mid-write",
    "too_long": f"over {MAX_LINE_BYTES // 1024} KiB: no prediction line is that long",
    "too_deep": "JSON nested deeper than the parser's recursion limit",
    "not_an_object": "a JSON value that is not an object",
    "other_event": 'an object whose "event" is not "prediction" (startup, errors)',
    "mirrored": "a shadow mirror of a request already counted (same request_id and customer_id)",
    "bad_request_id": "request_id present but not a string",
    **{f"bad_{c.name}": f"{c.name} missing, of the wrong type or outside the contract" for c in schema.INPUTS},
}

EXIT_OK = 0
EXIT_INPUT_ERROR = 2
EXIT_RETRAIN = 3


class DriftInputError(ValueError):
    """The inputs cannot be judged: no log, no predictions, too few of them."""


# --- reading the log ---------------------------------------------------------


def _bounded_int(text: str) -> float | int:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else math.nan


_DECODER = json.JSONDecoder(parse_int=_bounded_int)
_CATEGORY_CODES: dict[str, dict[str, int]] = {
    name: {value: code for code, value in enumerate(schema.BY_NAME[name].allowed)} for name in CATEGORICAL_FEATURES
}


def _rule(column: schema.Column) -> tuple[str, float, float, float, bool, bool]:
    """(name, inclusive min, exclusive min, max, integer?, nullable?): the contract's bounds, looked up once."""
    return (
        column.name,
        -math.inf if column.minimum is None else column.minimum,
        -math.inf if column.above is None else column.above,
        math.inf if column.maximum is None else column.maximum,
        column.kind == "integer",
        column.nullable,
    )


# Out-of-range values are skipped, not binned: the API rejects them, so a served prediction never
# carries one, and build_features would refuse the whole batch for a single negative tenure.
_NUMERIC_RULES = tuple(_rule(schema.BY_NAME[name]) for name in NUMERIC_FEATURES)
_ID_MAX_LENGTH = schema.BY_NAME[schema.ID].max_length or MAX_LINE_BYTES


@dataclass
class PredictionLog:
    """The drift inputs of every prediction kept, one compact column each, and what was skipped, by reason."""

    numbers: dict[str, array] = field(default_factory=lambda: {n: array("d") for n in NUMERIC_FEATURES})
    codes: dict[str, array] = field(default_factory=lambda: {n: array("b") for n in CATEGORICAL_FEATURES})
    keys: array = field(default_factory=lambda: array("q"))  # hash of (request_id, customer_id); 0 when no id
    keyed: array = field(default_factory=lambda: array("b"))
    skipped: Counter[str] = field(default_factory=Counter)
    n_lines: int = 0

    def add(self, raw: bytes) -> None:
        """Keep one line if it is a valid prediction, else count why not."""
        self.n_lines += 1
        reason = self._add(raw)
        if reason is not None:
            self.skipped[reason] += 1

    def _add(self, raw: bytes) -> str | None:
        if len(raw) > MAX_LINE_BYTES:
            return "too_long"
        try:
            record = _DECODER.decode(raw.decode("utf-8", "replace"))
        except RecursionError:
            return "too_deep"
        except ValueError:  # JSONDecodeError included
            return "not_json"
        if not isinstance(record, dict):
            return "not_an_object"
        if record.get("event") != "prediction":
            return "other_event"
        request_id = record.get("request_id")
        if request_id is not None and not isinstance(request_id, str):
            return "bad_request_id"
        customer_id = record.get(schema.ID)
        if not isinstance(customer_id, str) or not 0 < len(customer_id) <= _ID_MAX_LENGTH:
            return f"bad_{schema.ID}"
        numbers: list[float] = []
        for name, minimum, above, maximum, integer, nullable in _NUMERIC_RULES:
            value = record.get(name)
            if value is None and nullable:
                numbers.append(math.nan)
                continue
            if type(value) not in (int, float):  # bool is an int subclass: `true` is not a tenure
                return f"bad_{name}"
            x = float(value)  # over-long integers were parsed as NaN
            if not (math.isfinite(x) and minimum <= x <= maximum and x > above) or (integer and not x.is_integer()):
                return f"bad_{name}"
            numbers.append(x)
        codes: list[int] = []
        for name in CATEGORICAL_FEATURES:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                return f"bad_{name}"
            codes.append(_CATEGORY_CODES[name].get(value, -1) if value is not None else -1)  # -1: unknown
        for name, x in zip(NUMERIC_FEATURES, numbers, strict=True):
            self.numbers[name].append(x)
        for name, code in zip(CATEGORICAL_FEATURES, codes, strict=True):
            self.codes[name].append(code)
        self.keys.append(hash((request_id, customer_id)) if request_id is not None else 0)
        self.keyed.append(request_id is not None)
        return None

    def frame(self) -> pd.DataFrame:
        """The kept predictions, a shadow-mirrored request once (its first line), as a DataFrame.

        Two lines are one request when their (request_id, customer_id) hash
        matches: 64 bits, so a false match among 1M lines has odds ~3e-8.
        """
        keep = np.ones(len(self.keyed), dtype=bool)
        keyed = np.flatnonzero(np.frombuffer(self.keyed, dtype=np.int8))
        if len(keyed):
            _, first = np.unique(np.frombuffer(self.keys, dtype=np.int64)[keyed], return_index=True)
            keep[keyed] = False
            keep[keyed[first]] = True
        mirrored = int(len(keep) - keep.sum())
        if mirrored:
            self.skipped["mirrored"] = mirrored
        columns: dict[str, Any] = {
            name: np.frombuffer(values, dtype=np.float64)[keep] for name, values in self.numbers.items()
        }
        for name, values in self.codes.items():
            allowed = list(schema.BY_NAME[name].allowed)
            columns[name] = pd.Categorical.from_codes(np.frombuffer(values, dtype=np.int8)[keep], categories=allowed)
        return pd.DataFrame(columns)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    raise DriftInputError(f"no prediction log at {path}")


def _lines(path: Path) -> Iterator[bytes]:
    """Every line, a too-long one yielded as its first MAX_LINE_BYTES + 1 bytes (the rest is read and dropped)."""
    with path.open("rb") as fh:
        while line := fh.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
            yield line


def read_prediction_log(path: str | Path) -> tuple[pd.DataFrame, PredictionLog]:
    """One row per prediction in a mixed log (a file or a folder of them), and the reader's counts.

    In shadow mode stable and candidate both log a mirrored request under the
    same request_id; it is one customer request, so it is counted once.
    """
    path = Path(path)
    log = PredictionLog()
    for file in _files(path):
        for line in _lines(file):
            log.add(line)
    df = log.frame()
    if df.empty:
        skipped = ", ".join(f"{reason} {n}" for reason, n in log.skipped.most_common())
        raise DriftInputError(
            f'{path}: no {{"event": "prediction"}} lines that are valid among {log.n_lines} line(s)'
            + (f" (skipped: {skipped})" if skipped else "")
        )
    return df, log


# --- judging -----------------------------------------------------------------


def category_shares(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Share per known category, then one last bucket for everything else.

    A missing value counts as unknown: the model cannot score it either.
    Compared as objects, so a number never matches a category's text.
    """
    cells = values.to_numpy(dtype=object, na_value=None)  # pd.NA == "x" is NA, which no count can take
    size = max(len(cells), 1)
    counts = [int(np.count_nonzero(cells == c)) for c in categories]
    return np.array([*(c / size for c in counts), (len(cells) - sum(counts)) / size])


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


@lru_cache(maxsize=32)
def _null(shares: tuple[float, ...], n: int, m: int) -> np.ndarray:
    """The simulated noise floor, kept per (bins, n, m): a bootstrap study asks for the same one many times."""
    null = psi_null(np.array(shares), n, m)
    null.flags.writeable = False
    return null


def judge(expected: np.ndarray, actual: np.ndarray, n: int, m: int, n_features: int) -> dict[str, Any]:
    """PSI of one feature, its p-value under noise alone, and the lines calibrated to this n, m and bins."""
    value = psi_from_shares(expected, actual)
    null = _null(tuple(float(x) for x in expected), n, m)
    warn = max(PSI_WARN, null_quantile(null, 1 - WARN_FALSE_ALARM / n_features))
    retrain = max(PSI_RETRAIN, null_quantile(null, 1 - RETRAIN_FALSE_ALARM / n_features))
    return {
        "psi": round(value, 4),
        "p": round(null_p_value(null, value), 6),
        "warn": round(warn, 4),
        "retrain": round(retrain, 4),
        "bins": len(expected),
        "status": status(value, warn, retrain),
    }


def _p_text(p: float) -> str:
    """The p-value as printed: under 0.001 the simulation cannot say how far under (20,000 draws)."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUSES.index)


def _reason(features: dict[str, dict[str, Any]], unknown: dict[str, dict[str, Any]], overall: str) -> str:
    """The one line a scheduled job's log shows (and the retrain dispatch carries): what crossed which line."""
    if overall == "ok":
        return "ok: every feature PSI under its line, no unknown categories"
    line = "retrain" if overall == "retrain" else "warn"
    texts = [
        f"{name} PSI {row['psi']:.4f} > {row[line]:.4f} (p {_p_text(row['p'])})"
        for name, row in features.items()
        if row["status"] == overall
    ]
    limit = UNKNOWN_RETRAIN if overall == "retrain" else UNKNOWN_WARN
    texts += [
        f"unknown {name} share {row['share']:.1%} > {limit:.0%}"
        for name, row in unknown.items()
        if row["status"] == overall
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
    train_num = numeric_inputs(training_df)
    edges = {name: quantile_edges(train_num[name].to_numpy(), BINS) for name in NUMERIC_FEATURES}
    expected = {name: bin_shares(train_num[name].to_numpy(), edges[name]) for name in NUMERIC_FEATURES}
    for name in CATEGORICAL_FEATURES:
        expected[name] = category_shares(training_df[name], schema.BY_NAME[name].allowed)
    return Reference(m=len(training_df), edges=edges, expected=expected)


def drift_report(
    training: pd.DataFrame | Reference, recent_df: pd.DataFrame, min_rows: int = MIN_ROWS
) -> dict[str, Any]:
    """PSI per model input with its calibrated lines, and the share of unknown categories, with a verdict."""
    ref = training if isinstance(training, Reference) else reference(training)
    n, m = len(recent_df), ref.m
    if n < min_rows:
        raise DriftInputError(f"only {n} recent prediction(s), need at least {min_rows} to tell drift from noise")
    recent_num = numeric_inputs(recent_df)
    n_features = len(NUMERIC_FEATURES) + len(CATEGORICAL_FEATURES)
    features: dict[str, dict[str, Any]] = {}
    for name in NUMERIC_FEATURES:
        actual = bin_shares(recent_num[name].to_numpy(), ref.edges[name])
        features[name] = judge(ref.expected[name], actual, n, m, n_features)
    unknown: dict[str, dict[str, Any]] = {}
    for name in CATEGORICAL_FEATURES:
        actual = category_shares(recent_df[name], schema.BY_NAME[name].allowed)
        features[name] = judge(ref.expected[name], actual, n, m, n_features)
        share = float(actual[-1])
        unknown[name] = {"share": round(share, 4), "status": status(share, UNKNOWN_WARN, UNKNOWN_RETRAIN)}
    overall = _worst([row["status"] for row in [*features.values(), *unknown.values()]])
    return {
        "n_training": m,
        "n_recent": n,
        "features": features,
        "unknown": unknown,
        "status": overall,
        "reason": _reason(features, unknown, overall),
        "thresholds": {
            "psi_warn_floor": PSI_WARN,
            "psi_retrain_floor": PSI_RETRAIN,
            "warn_false_alarm": WARN_FALSE_ALARM,
            "retrain_false_alarm": RETRAIN_FALSE_ALARM,
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
        "| feature | PSI | p (noise) | warn > | retrain > | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in report["features"].items():
        lines.append(
            f"| {name} | {row['psi']:.4f} | {_p_text(row['p'])} | {row['warn']:.4f} | {row['retrain']:.4f} "
            f"| {row['status']} |"
        )
    lines.append("")
    for name, row in report["unknown"].items():
        lines.append(
            f"unknown {name} share: {row['share']:.2%} ({row['status']}; "
            f"warn > {UNKNOWN_WARN:.0%}, retrain > {UNKNOWN_RETRAIN:.0%})"
        )
    if "lines" in report:
        lines += ["", f"lines read: {report['lines']:,}; skipped: {sum(report['skipped'].values()):,}"]
        if report["skipped"]:
            lines += ["", "| skipped line | count | meaning |", "| --- | --- | --- |"]
            lines += [f"| {k} | {v:,} | {SKIP_REASONS[k]} |" for k, v in report["skipped"].items()]
    lines += [
        "",
        f"PSI lines: per feature, the noise-only PSI for this batch size and {BINS} training-quantile bins "
        f"(false alarm per batch <= {WARN_FALSE_ALARM:.1%} warn, {RETRAIN_FALSE_ALARM:.2%} retrain), "
        f"never under {PSI_WARN} / {PSI_RETRAIN}",
        f"drift: {report['reason']}",
    ]
    return "\n".join(lines)


def check(log_path: Path, data_path: Path, min_rows: int = MIN_ROWS) -> dict[str, Any]:
    """Read the log, judge it against the snapshot, and fold the reader's counts into the report."""
    return check_frames(log_path, data_path, min_rows)[0]


def check_frames(
    log_path: Path, data_path: Path, min_rows: int = MIN_ROWS
) -> tuple[dict[str, Any], Reference, pd.DataFrame]:
    """`check`, with the reference and the recent rows it judged (the drift page draws them)."""
    recent, log = read_prediction_log(log_path)
    ref = reference(data.load(data_path))
    report = drift_report(ref, recent, min_rows=min_rows)
    report["lines"] = log.n_lines
    report["skipped"] = dict(sorted(log.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    return report, ref, recent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.drift",
        description="Compare recent predictions with the training snapshot (PSI per model input).",
        epilog="exit codes: 0 ok/warn, 2 input error, 3 retrain",
    )
    parser.add_argument("--log", type=Path, required=True, help="the service's JSON log, or a folder of logs")
    parser.add_argument("--data", type=Path, default=None, help="training snapshot CSV (default: $CHURN_DATA)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--min-rows", type=int, default=MIN_ROWS, help=f"refuse to judge fewer (default {MIN_ROWS})")
    parser.add_argument("--html", type=Path, default=None, help="also write the drift page (HTML histograms) here")
    args = parser.parse_args(argv)
    data_path = args.data or config.settings().churn_data
    try:
        report, ref, recent = check_frames(args.log, data_path, min_rows=args.min_rows)
        if args.json is not None:
            document = {"log": str(args.log), "data": str(data_path), **report}
            atomic.write_text(args.json, json.dumps(document, indent=2, sort_keys=True) + "\n")
        if args.html is not None:
            from src import drift_page  # matplotlib is a development extra, imported only when a page is drawn

            atomic.write_text(args.html, drift_page.render(report, ref, recent))
    except (DriftInputError, data.DataError, ValueError, OSError) as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(render(report))
    return EXIT_RETRAIN if report["status"] == "retrain" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

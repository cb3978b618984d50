"""Reading the service's prediction log into the drift inputs, one compact column each.

One pass over the lines, each parsed, checked against the data contract and
reduced to the drift inputs (three float64 numbers, a category code, a request
key and its flag) instead of a dict per line, so a million-line log fits in a
few hundred MB (docs/benchmarks.md "src/drift"). A line that is not a valid
prediction never stops the batch: it is skipped and counted under its reason.
A path is one log file or a folder of them (a downloaded workflow artifact
with stable.log and candidate.log); a request mirrored to both counts once.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src import schema

NUMERIC_FEATURES: tuple[str, ...] = schema.NUMERIC  # every numeric input of the data contract
CATEGORICAL_FEATURES: tuple[str, ...] = schema.CATEGORICAL

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


class DriftInputError(ValueError):
    """The inputs cannot be judged: no log, no predictions, too few of them."""


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

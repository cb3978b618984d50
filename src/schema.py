"""The data contract: every column of a snapshot declared once, with why.

Everything else that needs to know the columns derives from `COLUMNS`: the
loader's dtypes (`src.data`), the API's request model (`app.schemas`), the
data tests' bounds (`tests/data`), drift's feature list (`src.drift`), the
replay traffic (`deploy.traffic`), the README's schema table (a test keeps
the two in step) and the one example customer used everywhere. Adding an
input column means one entry here plus its modelling in `src/features.py`
(docs/fork.md walks through it).

The snapshot-level rules of the data surface (row count, churn-rate band,
leakage denylist, the totals invariant) live here too: this file and
`src/gate/contract.py` are the whole contract a change must not quietly loosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["id", "integer", "number", "category", "label"]


@dataclass(frozen=True)
class Column:
    """One column: its type, its bounds, and the reason for each."""

    name: str
    kind: Kind
    why: str
    minimum: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound
    maximum: float | None = None  # inclusive
    allowed: tuple[Any, ...] = ()  # categories, or the label's values
    max_length: int | None = None  # ids only
    nullable: bool = False  # may a cell be blank?
    max_null_share: float = 0.0  # ... and in at most this share of rows
    example: Any = None  # the example customer's value (inputs only)
    # What the business knows about churn along this input, checked by the gate on the shipped
    # model: "increasing" / "decreasing" between the two probe values (for a category: along
    # `allowed`, in order). A model that contradicts it learned an artefact of the export.
    expect: Literal["increasing", "decreasing"] | None = None
    probe: tuple[float, float] | None = None

    @property
    def pandas_dtype(self) -> str:
        return {"id": "string", "category": "string", "integer": "Int64", "label": "Int64", "number": "float64"}[
            self.kind
        ]

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "number")

    def rule(self) -> str:
        """The column's rule in words, as the README table shows it."""
        parts: list[str] = []
        if self.kind == "id":
            parts.append("unique, non-empty")
        if self.allowed:
            parts.append(", ".join(f"`{v}`" for v in self.allowed))
        if self.above is not None:
            parts.append(f"> {_number(self.above)}")
        if self.minimum is not None:
            parts.append(f"≥ {_number(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {_number(self.maximum)}")
        if self.nullable:
            parts.append(f"blank in at most {self.max_null_share:.0%} of rows")
        return "; ".join(parts)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


COLUMNS: tuple[Column, ...] = (
    Column(
        "customer_id",
        "id",
        why="joins a prediction to its customer; never a feature",
        max_length=64,
        example="7590-VHVEG",
    ),
    Column(
        "tenure_months",
        "integer",
        why="months as a customer; over 600 (50 years) means the export sent days",
        minimum=0,
        maximum=600,
        example=1,
        expect="decreasing",
        probe=(2, 48),
    ),
    Column(
        "monthly_charges",
        "number",
        why="every plan costs something; over 10,000 means the export sent cents",
        above=0,
        maximum=10_000,
        example=29.85,
        expect="increasing",
        probe=(25.0, 105.0),
    ),
    Column(
        "total_charges",
        "number",
        why="blank for new customers, who have not been billed yet (imputed as tenure x monthly)",
        minimum=0,
        maximum=10_000_000,
        nullable=True,
        max_null_share=0.01,
        example=29.85,
    ),
    Column(
        "contract",
        "category",
        why="the plan's commitment; longer contracts churn less",
        allowed=("month-to-month", "one-year", "two-year"),
        example="month-to-month",
        expect="decreasing",
    ),
    Column(
        "churned",
        "label",
        why="the churn flag: 1 left, 0 stayed (a Yes/No export is a broken export)",
        allowed=(0, 1),
    ),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
ID: str = next(c.name for c in COLUMNS if c.kind == "id")
LABEL: str = next(c.name for c in COLUMNS if c.kind == "label")
INPUTS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.kind != "label")  # what a request carries
NUMERIC: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.numeric)
CATEGORICAL: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "category")
EXAMPLE_CUSTOMER: dict[str, Any] = {c.name: c.example for c in INPUTS}

# --- snapshot-level rules of the data surface --------------------------------
MIN_ROWS = 1_000  # fewer rows and holdout AUC noise swamps the gate's margins
CHURN_RATE_BAND = (0.05, 0.60)  # outside it the export or the label join broke
LEAKAGE_DENYLIST = ("churn_date", "cancellation_reason", "exit_survey_score")  # exist only after churn
INVARIANT_FACTOR = 0.99  # a billed customer (tenure >= 1) paid at least ~one month in total


def read_raw(path: Any) -> pd.DataFrame:
    """The CSV exactly as text: nothing can fail to parse here, so every check gets to run."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def parse(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Convert the contract's columns to their dtypes; cells that do not parse become blank.

    Returns the typed frame and, per column, one line describing what did not
    parse. Blank cells are not parse problems (the null-share check owns them);
    extra columns are kept as text so the leakage check can see them.
    """
    typed = raw.copy()
    problems: dict[str, str] = {}
    for column in COLUMNS:
        if column.name not in raw.columns:
            continue
        text = raw[column.name]
        if column.kind in ("id", "category"):
            typed[column.name] = text.astype("string")
            continue
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna() & text.notna()
        if column.kind in ("integer", "label"):
            bad |= numbers.notna() & (numbers != np.floor(numbers))
        if bad.any():
            noun = "an integer" if column.kind in ("integer", "label") else "a number"
            sample = ", ".join(repr(v) for v in text[bad].unique()[:3])
            problems[column.name] = f"{column.name}: {int(bad.sum())} value(s) not {noun}, e.g. {sample}"
        numbers = numbers.where(~bad)
        typed[column.name] = numbers.astype(column.pandas_dtype) if column.kind != "number" else numbers.astype(float)
    return typed, problems


def bound_violations(df: pd.DataFrame, columns: tuple[str, ...] = NUMERIC) -> dict[str, str]:
    """Per numeric input column, what falls outside its declared bounds (blank cells excluded)."""
    out: dict[str, str] = {}
    for name in columns:
        column = BY_NAME[name]
        if name not in df.columns:
            continue
        values = df[name].dropna().astype(float)
        bad = pd.Series(False, index=values.index)
        if column.minimum is not None:
            bad |= values < column.minimum
        if column.above is not None:
            bad |= values <= column.above
        if column.maximum is not None:
            bad |= values > column.maximum
        if bad.any():
            out[name] = f"{name}: {int(bad.sum())} value(s) outside {column.rule()}, e.g. {values[bad].iloc[0]:g}"
    return out


def request_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot row as the JSON body the API takes: plain Python types, blanks as null."""
    body: dict[str, Any] = {}
    for column in INPUTS:
        value = row[column.name]
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            body[column.name] = None
        elif column.kind == "integer":
            body[column.name] = int(value)
        elif column.kind == "number":
            body[column.name] = float(value)
        else:
            body[column.name] = str(value)
    return body


def markdown_table() -> str:
    """The README's schema table, from the contract itself."""
    lines = ["| column | type | rule | why |", "| --- | --- | --- | --- |"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.kind} | {c.rule()} | {c.why} |")
    return "\n".join(lines)

"""The data surface: is this snapshot fit to train on?

Runs before any training, in seconds. Every check reads the contract in
`src/schema.py` and runs on its own, so a broken export fails exactly the
test named for its failure mode, with a message that says what most likely
broke upstream (the export, a join, a schema change): that is where a
student should look first.
"""

from __future__ import annotations

import pandas as pd
import pytest

from src import schema
from tests.data.conftest import need


def test_columns_are_exactly_the_contract(raw: pd.DataFrame) -> None:
    expected = [c.name for c in schema.COLUMNS]
    missing = [c for c in expected if c not in raw.columns]
    # A post-churn column is the leakage test's to name, with its own hint.
    present = [c for c in raw.columns if c.lower() not in schema.LEAKAGE_DENYLIST]
    extra = [c for c in present if c not in expected]
    assert present == expected, (
        f"missing {missing}, unexpected {extra}, order {present}: the export added, dropped, renamed "
        "or reordered a column; change src/schema.py and the feature code together, or fix the export"
    )


def test_every_input_parses_as_its_declared_type(parsed: tuple[pd.DataFrame, dict[str, str]]) -> None:
    problems = [text for name, text in parsed[1].items() if name != schema.LABEL]
    assert not problems, f"{problems}: a column arrived as text, or a number was exported with a unit or a comma"


def test_no_post_churn_columns_leak_in(raw: pd.DataFrame) -> None:
    leaked = [c for c in raw.columns if c.lower() in schema.LEAKAGE_DENYLIST]
    assert not leaked, (
        f"columns {leaked} are only known after a customer churns; a model trained on them is "
        "perfect offline and useless live. Drop them in the export query"
    )


def test_export_not_truncated_below_min_rows(raw: pd.DataFrame) -> None:
    assert len(raw) >= schema.MIN_ROWS, (
        f"only {len(raw)} rows (need {schema.MIN_ROWS}): the export was truncated or a filter/join dropped rows"
    )


def test_each_customer_appears_once_not_fanned_out_by_a_join(typed: pd.DataFrame) -> None:
    need(typed, schema.ID)
    dupes = typed.loc[typed[schema.ID].duplicated(), schema.ID].head(5).tolist()
    assert not dupes, (
        f"duplicated customer ids, e.g. {dupes}: a one-to-many join fanned rows out; the same "
        "customer can then land in both train and holdout and inflate the AUC"
    )


def test_blank_cells_within_limits(raw: pd.DataFrame) -> None:
    over = {
        c.name: round(float(raw[c.name].isna().mean()), 4)
        for c in schema.COLUMNS
        if c.name in raw.columns and raw[c.name].isna().mean() > c.max_null_share
    }
    limits = {c.name: c.max_null_share for c in schema.COLUMNS}
    assert not over, f"blank share over the limit {limits}: {over}; an upstream column went blank"


def test_label_is_a_0_1_flag_not_yes_no(raw: pd.DataFrame) -> None:
    need(raw, schema.LABEL)
    values = sorted(raw[schema.LABEL].dropna().unique().tolist())
    allowed = [str(v) for v in schema.BY_NAME[schema.LABEL].allowed]
    assert set(values) <= set(allowed), (
        f"label values {values[:10]}: '{schema.LABEL}' must be {allowed}; a Yes/No or multi-class status "
        "was exported instead of the churn flag"
    )


def test_churn_rate_in_band(typed: pd.DataFrame, parsed: tuple[pd.DataFrame, dict[str, str]]) -> None:
    need(typed, schema.LABEL)
    if schema.LABEL in parsed[1]:
        pytest.skip("the label is not numeric: see test_label_is_a_0_1_flag_not_yes_no")
    rate = float(typed[schema.LABEL].mean())
    low, high = schema.CHURN_RATE_BAND
    assert low <= rate <= high, (
        f"churn rate {rate:.3f} outside {schema.CHURN_RATE_BAND}: the label join failed (all 0), "
        "the label was inverted, or only churners were exported"
    )


def test_categories_are_known_not_label_encoded(typed: pd.DataFrame) -> None:
    unknown = {
        name: sorted(set(typed[name].dropna()) - set(schema.BY_NAME[name].allowed))[:5]
        for name in schema.CATEGORICAL
        if name in typed.columns
    }
    unknown = {k: v for k, v in unknown.items() if v}
    assert not unknown, (
        f"unknown values {unknown}: the export label-encoded or renamed the categories; "
        "serving would reject these customers"
    )


def test_numbers_within_bounds_not_cents_or_days(typed: pd.DataFrame) -> None:
    problems = list(schema.bound_violations(typed).values())
    assert not problems, f"{problems}: a unit changed (days, cents) or a sign flipped upstream"


def test_total_covers_at_least_one_month(typed: pd.DataFrame) -> None:
    need(typed, schema.ID, "tenure_months", "monthly_charges", "total_charges")
    billed = typed[(typed["tenure_months"] >= 1) & typed["total_charges"].notna()]
    bad = billed[billed["total_charges"] < schema.INVARIANT_FACTOR * billed["monthly_charges"]]
    assert bad.empty, (
        f"{len(bad)} customers with tenure >= 1 paid less in total than one month, e.g. "
        f"{bad[schema.ID].head(3).tolist()}: total and monthly were swapped or come from different dates"
    )

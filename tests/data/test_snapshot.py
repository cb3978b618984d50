"""The data surface: is this snapshot fit to train on?

Runs before any training, in seconds. Each message names what most likely
broke upstream (the export, a join, a schema change), because that is where a
student should look first.
"""

from __future__ import annotations

import pandas as pd

from src.data import ID_COLUMN, LABEL, SCHEMA
from src.features import CONTRACTS

MIN_ROWS = 1_000  # fewer rows and holdout AUC noise swamps the gate's margins
CHURN_RATE_BAND = (0.05, 0.60)  # outside it the export or the label join broke
LEAKAGE_DENYLIST = ("churn_date", "cancellation_reason", "exit_survey_score")  # exist only after churn
MAX_NULL_SHARE = {  # blank totals are new customers; anything else blank is a broken export
    "customer_id": 0.0,
    "tenure_months": 0.0,
    "monthly_charges": 0.0,
    "total_charges": 0.01,
    "contract": 0.0,
    "churned": 0.0,
}
MAX_TENURE_MONTHS = 600  # 50 years; more means tenure arrived in days
MAX_MONTHLY_CHARGES = 10_000.0  # more means cents, not dollars
INVARIANT_FACTOR = 0.99  # a billed customer paid at least ~one month


def test_schema_is_exactly_the_contract(snapshot: pd.DataFrame) -> None:
    assert list(snapshot.columns) == list(SCHEMA), (
        f"columns {list(snapshot.columns)} != schema {list(SCHEMA)}: the export added, dropped, "
        "renamed or reordered a column; update the README schema and the feature code together, or fix the export"
    )


def test_no_post_churn_columns_leak_in(snapshot: pd.DataFrame) -> None:
    leaked = [c for c in snapshot.columns if c.lower() in LEAKAGE_DENYLIST]
    assert not leaked, (
        f"columns {leaked} are only known after a customer churns; a model trained on them is "
        "perfect offline and useless live. Drop them in the export query"
    )


def test_minimum_rows(snapshot: pd.DataFrame) -> None:
    assert len(snapshot) >= MIN_ROWS, (
        f"only {len(snapshot)} rows (need {MIN_ROWS}): the export was truncated or a filter/join dropped rows"
    )


def test_customer_ids_are_unique(snapshot: pd.DataFrame) -> None:
    dupes = snapshot.loc[snapshot[ID_COLUMN].duplicated(), ID_COLUMN].head(5).tolist()
    assert not dupes, (
        f"duplicated customer ids, e.g. {dupes}: a one-to-many join fanned rows out; the same "
        "customer can then land in both train and holdout and inflate the AUC"
    )


def test_null_share_within_limits(snapshot: pd.DataFrame) -> None:
    over = {
        c: round(float(snapshot[c].isna().mean()), 4)
        for c, limit in MAX_NULL_SHARE.items()
        if snapshot[c].isna().mean() > limit
    }
    assert not over, f"null share over the limit {MAX_NULL_SHARE}: {over}; an upstream column went blank"


def test_label_is_binary(snapshot: pd.DataFrame) -> None:
    values = sorted(snapshot[LABEL].dropna().unique().tolist())
    assert set(values) <= {0, 1}, (
        f"label values {values[:10]}: '{LABEL}' must be 0/1; a yes/no or multi-class status "
        "was exported instead of the churn flag"
    )


def test_churn_rate_in_band(snapshot: pd.DataFrame) -> None:
    rate = float(snapshot[LABEL].mean())
    low, high = CHURN_RATE_BAND
    assert low <= rate <= high, (
        f"churn rate {rate:.3f} outside {CHURN_RATE_BAND}: the label join failed (all 0), "
        "the label was inverted, or only churners were exported"
    )


def test_contract_values_are_known(snapshot: pd.DataFrame) -> None:
    unknown = sorted(set(snapshot["contract"].dropna()) - set(CONTRACTS))
    assert not unknown, (
        f"unknown contract values {unknown[:5]} (allowed {list(CONTRACTS)}): the export "
        "label-encoded or renamed the categories; serving would reject these customers"
    )


def test_numeric_values_in_range(snapshot: pd.DataFrame) -> None:
    problems = []
    tenure, monthly, total = snapshot["tenure_months"], snapshot["monthly_charges"], snapshot["total_charges"]
    if not tenure.between(0, MAX_TENURE_MONTHS).all():
        problems.append(f"tenure_months outside 0..{MAX_TENURE_MONTHS}: {tenure.min()}..{tenure.max()}")
    if not ((monthly > 0) & (monthly <= MAX_MONTHLY_CHARGES)).all():
        problems.append(f"monthly_charges outside (0, {MAX_MONTHLY_CHARGES}]: {monthly.min()}..{monthly.max()}")
    if (total.dropna() < 0).any():
        problems.append(f"negative total_charges: min {total.min()}")
    assert not problems, f"{problems}: a unit changed (days, cents) or a sign flipped upstream"


def test_total_covers_at_least_one_month(snapshot: pd.DataFrame) -> None:
    billed = snapshot[(snapshot["tenure_months"] >= 1) & snapshot["total_charges"].notna()]
    bad = billed[billed["total_charges"] < INVARIANT_FACTOR * billed["monthly_charges"]]
    assert bad.empty, (
        f"{len(bad)} customers with tenure >= 1 paid less in total than one month, e.g. "
        f"{bad[ID_COLUMN].head(3).tolist()}: total and monthly were swapped or come from different dates"
    )

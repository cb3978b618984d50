"""The data surface must go red on a broken snapshot, exactly where it should, and briefly.

Each case writes a snapshot with one classic export bug, runs the real data
tests against it through CHURN_DATA as CI would, and asserts that exactly the
test named for that failure mode fails, with its hint, in a few dozen lines:
a student must see the hint, not a wall of tracebacks.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from src import schema
from src.config import ROOT
from src.make_dataset import write
from tests.processes import run_pytest

SNAPSHOT_TESTS = str(ROOT / "tests" / "data" / "test_snapshot.py")
MAX_OUTPUT_LINES = 60
PLANS = schema.BY_NAME["contract"].allowed  # label-encoding them, in declared order, is one of the faults


def _run_data_surface(tmp_path: Path, df: pd.DataFrame) -> subprocess.CompletedProcess[str]:
    csv = tmp_path / "snapshot.csv"
    write(df, csv)
    return run_pytest(SNAPSHOT_TESTS, {"CHURN_DATA": str(csv)}, timeout=120, args=["--tb=short"])


BREAKAGES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str, str]] = [
    (
        "leaky-column",
        lambda df: df.assign(churn_date=df["churned"].map({1: "2026-01-31", 0: ""})),
        "test_no_post_churn_columns_leak_in",
        "only known after a customer churns",
    ),
    ("degenerate-labels", lambda df: df.assign(churned=0), "test_churn_rate_in_band", "churn rate 0.000"),
    (
        "yes-no-labels",
        lambda df: df.assign(churned=df["churned"].map({1: "Yes", 0: "No"})),
        "test_label_is_a_0_1_flag_not_yes_no",
        "a Yes/No or multi-class status",
    ),
    (
        "duplicated-customers",
        lambda df: pd.concat([df, df.head(50)], ignore_index=True),
        "test_each_customer_appears_once_not_fanned_out_by_a_join",
        "a one-to-many join fanned rows out",
    ),
    (
        "label-encoded-contract",
        lambda df: df.assign(contract=df["contract"].map({v: str(i) for i, v in enumerate(PLANS)})),
        "test_categories_are_known_not_label_encoded",
        "label-encoded",
    ),
    (
        "swapped-totals",
        lambda df: df.assign(total_charges=df["monthly_charges"] / 2),
        "test_total_covers_at_least_one_month",
        "paid less in total than one month",
    ),
    (
        "charges-in-cents",
        lambda df: df.assign(monthly_charges=df["monthly_charges"] * 100, total_charges=df["total_charges"] * 100),
        "test_numbers_within_bounds_not_cents_or_days",
        "a unit changed (days, cents)",
    ),
    (
        "truncated-export",
        lambda df: df.head(500),
        "test_export_not_truncated_below_min_rows",
        "the export was truncated",
    ),
    (
        "missing-column",
        lambda df: df.drop(columns="total_charges"),
        "test_columns_are_exactly_the_contract",
        "missing ['total_charges']",
    ),
    (
        "text-in-a-number",
        lambda df: df.assign(tenure_months=df["tenure_months"].astype(str).where(df.index % 50 > 0, "twelve")),
        "test_every_input_parses_as_its_declared_type",
        "tenure_months: 30 value(s) not an integer, e.g. 'twelve'",
    ),
    (
        "blank-column",
        lambda df: df.assign(contract=None),
        "test_blank_cells_within_limits",
        "an upstream column went blank",
    ),
]


@pytest.fixture(scope="module")
def verdicts(
    small_customers: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every broken snapshot (and the valid one) through the data surface, one process per core at a time."""
    cases = {name: breakage(small_customers) for name, breakage, *_ in BREAKAGES} | {"valid": small_customers}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = {name: pool.submit(_run_data_surface, tmp_path_factory.mktemp(name), df) for name, df in cases.items()}
        return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize(
    ("case", "failing_test", "hint"), [(b[0], *b[2:]) for b in BREAKAGES], ids=[b[0] for b in BREAKAGES]
)
def test_a_broken_snapshot_fails_exactly_its_named_test(
    verdicts: dict[str, subprocess.CompletedProcess[str]], case: str, failing_test: str, hint: str
) -> None:
    result = verdicts[case]
    failed = sorted(
        {line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED")}
    )
    assert result.returncode == 1, f"the data tests passed a broken snapshot:\n{result.stdout[-2000:]}"
    assert failed == [failing_test], f"expected only {failing_test} to fail, got {failed}:\n{result.stdout[-3000:]}"
    assert hint in result.stdout, f"the failure did not explain itself ({hint!r}):\n{result.stdout[-3000:]}"
    lines = len(result.stdout.splitlines())
    assert lines <= MAX_OUTPUT_LINES, f"{lines} lines of output: the hint drowns:\n{result.stdout}"


def test_valid_snapshot_keeps_the_data_surface_green(verdicts: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = verdicts["valid"]
    assert result.returncode == 0, f"data tests reject a valid snapshot:\n{result.stdout[-3000:]}"
    assert "skipped" not in result.stdout, f"a check skipped on a valid snapshot:\n{result.stdout[-2000:]}"

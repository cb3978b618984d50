"""The data surface must go red on a broken snapshot, not only green on ours.

Each case writes a snapshot with one classic export bug and runs the real
data tests against it through CHURN_DATA, as CI would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from src.make_dataset import write
from tests.processes import run_pytest

SNAPSHOT_TESTS = str(Path(__file__).with_name("test_snapshot.py"))


def _leaky(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(churn_date=df["churned"].map({1: "2026-01-31", 0: ""}))


def _degenerate(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(churned=0)


def _duplicated(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.head(50)], ignore_index=True)


def _label_encoded(df: pd.DataFrame) -> pd.DataFrame:
    codes = {"month-to-month": "0", "one-year": "1", "two-year": "2"}
    return df.assign(contract=df["contract"].map(codes))


def _swapped_totals(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(total_charges=df["monthly_charges"] / 2)


def _run_data_surface(tmp_path: Path, df: pd.DataFrame) -> subprocess.CompletedProcess[str]:
    csv = tmp_path / "snapshot.csv"
    write(df, csv)
    return run_pytest(SNAPSHOT_TESTS, {"CHURN_DATA": str(csv)}, timeout=120)


@pytest.mark.parametrize(
    ("breakage", "expected_hint"),
    [
        (_leaky, "only known after a customer churns"),
        (_degenerate, "churn rate 0.000"),
        (_duplicated, "duplicated customer ids"),
        (_label_encoded, "label-encoded"),
        (_swapped_totals, "paid less in total than one month"),
    ],
    ids=["leaky-column", "degenerate-labels", "duplicated-customers", "label-encoded-contract", "swapped-totals"],
)
def test_broken_snapshot_turns_the_data_surface_red(
    tmp_path: Path, small_customers: pd.DataFrame, breakage: Callable, expected_hint: str
) -> None:
    result = _run_data_surface(tmp_path, breakage(small_customers))
    assert result.returncode == 1, f"data tests passed a broken snapshot:\n{result.stdout[-2000:]}"
    assert expected_hint in result.stdout, (
        f"failure did not explain itself ({expected_hint!r}):\n{result.stdout[-3000:]}"
    )


def test_valid_snapshot_keeps_the_data_surface_green(tmp_path: Path, small_customers: pd.DataFrame) -> None:
    result = _run_data_surface(tmp_path, small_customers)
    assert result.returncode == 0, f"data tests reject a valid snapshot:\n{result.stdout[-3000:]}"

"""Bring your own data: a Telco-shaped export becomes a contract snapshot by the declared mapping alone.

The fixture is written here, shaped like the public IBM Telco table (its
column names, `Yes`/`No`, `Month-to-month`, a blank total as one space,
columns the contract does not use); the real table is never copied in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from src import config, data, ingest, schema
from src.make_dataset import generate, write

TELCO_MAPPING = config.ROOT / "mappings" / "telco.toml"
TELCO_PLANS = {"month-to-month": "Month-to-month", "one-year": "One year", "two-year": "Two year"}


def _telco_export(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers as the Telco export writes them."""
    money = lambda s: s.map(lambda v: " " if pd.isna(v) else f"{v:.2f}")  # noqa: E731
    return pd.DataFrame(
        {
            "customerID": customers["customer_id"],
            "gender": "Female",
            "SeniorCitizen": "0",
            "tenure": customers["tenure_months"].astype(str),
            "Contract": customers["contract"].map(TELCO_PLANS),
            "PaymentMethod": "Electronic check",
            "MonthlyCharges": money(customers["monthly_charges"]),
            "TotalCharges": money(customers["total_charges"]),
            "Churn": customers["churned"].map({1: "Yes", 0: "No"}),
        }
    )


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    frame = generate(seed=11, n=1500)
    assert frame["total_charges"].isna().any(), "the fixture must hold a new customer with a blank total"
    return frame


@pytest.fixture
def export(tmp_path: Path, customers: pd.DataFrame) -> Path:
    path = tmp_path / "telco_export.csv"
    _telco_export(customers).to_csv(path, index=False)
    return path


def test_a_telco_shaped_export_becomes_the_contract_snapshot(tmp_path: Path, export: Path, customers) -> None:
    out = tmp_path / "churn.csv"
    assert ingest.main(["--mapping", str(TELCO_MAPPING), "--export", str(export), "--out", str(out)]) == 0
    write(customers, tmp_path / "expected.csv")
    got, expected = data.load(out), data.load(tmp_path / "expected.csv")
    assert list(got.columns) == [c.name for c in schema.COLUMNS], "the snapshot holds the contract's columns only"
    pd.testing.assert_frame_equal(got, expected, obj="ingested snapshot vs the customers the export was made of")
    assert got["total_charges"].isna().sum() == customers["total_charges"].isna().sum(), "' ' must become blank"


@pytest.mark.parametrize(
    ("spoil", "names"),
    [
        (lambda df: df.assign(Contract=df["Contract"].replace("Two year", "Three year")), ["contract", "Three year"]),
        (lambda df: df.assign(Churn=df["Churn"].replace("Yes", "True")), ["churned", "True"]),
        (lambda df: df.assign(churn_date="2025-11-30"), ["churn_date", "neither mapped nor dropped"]),
        (lambda df: df.drop(columns="tenure"), ["tenure", "tenure_months"]),
        (lambda df: df.assign(tenure=df["tenure"].replace("1", "one")), ["tenure_months", "'one'"]),
    ],
    ids=["unmapped-plan", "unmapped-label", "undeclared-extra-column", "missing-column", "text-in-a-number"],
)
def test_an_export_that_does_not_fit_exits_2_in_one_line_and_keeps_the_good_snapshot(
    tmp_path: Path, export: Path, capsys: pytest.CaptureFixture[str], spoil, names: list[str]
) -> None:
    spoilt = tmp_path / "spoilt.csv"
    spoil(pd.read_csv(export, dtype=str, keep_default_na=False)).to_csv(spoilt, index=False)
    out = tmp_path / "churn.csv"
    out.write_text("the last good snapshot\n")
    code = ingest.main(["--mapping", str(TELCO_MAPPING), "--export", str(spoilt), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == ingest.EXIT_INPUT, err
    assert len(err.splitlines()) == 1, f"one readable line, not:\n{err}"
    assert all(name in err for name in names), f"the line must name {names}: {err}"
    assert out.read_text() == "the last good snapshot\n", "a failed ingest replaced the good snapshot"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [], "a temp file was left behind"


def test_a_mapping_naming_a_column_outside_the_contract_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nchurn_flag = "Churn"\n')
    with pytest.raises(ingest.IngestError, match="'churn_flag' is not a contract column"):
        ingest.read_mapping(bad)

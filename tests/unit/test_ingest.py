"""Bring your own data: a Telco-shaped export becomes a contract snapshot by the declared mapping alone.

The fixture is written here, shaped like the public IBM Telco table by the
declared mapping itself (its column names, `Yes`/`No`, `Month-to-month`, a
blank total as one space, columns the contract does not use), from the
contract's columns: the real table is never copied in, and a column a fork
adds to the contract reaches the fixture too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from src import config, data, exits, ingest, schema
from src.make_dataset import generate, write

TELCO_MAPPING = config.ROOT / "mappings" / "telco.toml"
MAPPING = ingest.read_mapping(TELCO_MAPPING)
MAPPED = next(c for c in schema.CATEGORICAL if c in MAPPING.values)  # a category the export spells its own way
NUMBER = next(c.name for c in schema.INPUTS if c.numeric)


def exported(name: str) -> str:
    """The export's name for a contract column (its own name when the mapping does not rename it)."""
    return MAPPING.columns.get(name, name)


def _spelled(name: str, value: str) -> str:
    """The export's spelling of a contract value."""
    return next((k for k, v in MAPPING.values.get(name, {}).items() if v == value), value)


def _telco_export(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers as the Telco export writes them: its names, its spellings, ' ' for blank, extra columns."""
    columns: dict[str, pd.Series] = {}
    for column in schema.COLUMNS:
        values = customers[column.name]
        if column.kind == "number":
            text = values.map(lambda v: " " if pd.isna(v) else f"{v:.2f}")
        else:
            text = values.astype(str).map(lambda v, name=column.name: _spelled(name, v))
        columns[exported(column.name)] = text
    for extra in MAPPING.drop[:3]:
        columns[extra] = pd.Series("Yes", index=customers.index)
    return pd.DataFrame(columns)


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


def test_the_telco_mapping_declares_each_kind_of_difference() -> None:
    assert any(k != v for k, v in MAPPING.columns.items()), "no column renamed"
    assert MAPPING.values.get(schema.LABEL), "the Yes/No label is not mapped"
    assert MAPPING.drop, "the export's extra columns are not declared"


def test_a_telco_shaped_export_becomes_the_contract_snapshot(tmp_path: Path, export: Path, customers) -> None:
    out = tmp_path / "churn.csv"
    assert ingest.main(["--mapping", str(TELCO_MAPPING), "--export", str(export), "--out", str(out)]) == 0
    write(customers, tmp_path / "expected.csv")
    got, expected = data.load(out), data.load(tmp_path / "expected.csv")
    assert list(got.columns) == [c.name for c in schema.COLUMNS], "the snapshot holds the contract's columns only"
    pd.testing.assert_frame_equal(got, expected, obj="ingested snapshot vs the customers the export was made of")
    assert got["total_charges"].isna().sum() == customers["total_charges"].isna().sum(), "' ' must become blank"


def _replace_first(df: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    return df.assign(**{column: [value, *df[column].iloc[1:]]})


SPOILT = [
    ("unmapped-category", lambda df: _replace_first(df, exported(MAPPED), "Three year"), [MAPPED, "Three year"]),
    ("unmapped-label", lambda df: _replace_first(df, exported(schema.LABEL), "True"), [schema.LABEL, "True"]),
    (
        "undeclared-extra-column",
        lambda df: df.assign(**{schema.LEAKAGE_DENYLIST[0]: "2025-11-30"}),
        [schema.LEAKAGE_DENYLIST[0], "neither mapped nor dropped"],
    ),
    ("missing-column", lambda df: df.drop(columns=exported(NUMBER)), [exported(NUMBER), NUMBER]),
    ("text-in-a-number", lambda df: _replace_first(df, exported(NUMBER), "one"), [NUMBER, "'one'"]),
]


@pytest.mark.parametrize(("spoil", "names"), [c[1:] for c in SPOILT], ids=[c[0] for c in SPOILT])
def test_an_export_that_does_not_fit_exits_2_in_one_line_and_keeps_the_good_snapshot(
    tmp_path: Path, export: Path, capsys: pytest.CaptureFixture[str], spoil, names: list[str]
) -> None:
    spoilt = tmp_path / "spoilt.csv"
    spoil(pd.read_csv(export, dtype=str, keep_default_na=False)).to_csv(spoilt, index=False)
    out = tmp_path / "churn.csv"
    out.write_text("the last good snapshot\n")
    code = ingest.main(["--mapping", str(TELCO_MAPPING), "--export", str(spoilt), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == exits.REFUSED, err
    assert len(err.splitlines()) == 1, f"one readable line, not:\n{err}"
    assert all(name in err for name in names), f"the line must name {names}: {err}"
    assert out.read_text() == "the last good snapshot\n", "a failed ingest replaced the good snapshot"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [], "a temp file was left behind"


def test_a_mapping_naming_a_column_outside_the_contract_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nchurn_flag = "Churn"\n')
    with pytest.raises(ingest.IngestError, match="'churn_flag' is not a contract column"):
        ingest.read_mapping(bad)

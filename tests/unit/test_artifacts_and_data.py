"""The snapshot is reproducible, loads strictly, and artifacts open only when verified."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from src import artifacts, config, data
from src.make_dataset import main as make_dataset


def test_regenerated_snapshot_is_byte_identical_to_the_committed_one(tmp_path: Path) -> None:
    assert make_dataset(["--out", str(tmp_path / "churn.csv")]) == 0
    committed = config.ROOT / "data" / "churn.csv"
    assert artifacts.sha256_file(tmp_path / "churn.csv") == artifacts.sha256_file(committed), (
        "data/churn.csv is not what `python -m src.make_dataset` produces: regenerate and commit it"
    )


def test_loader_rejects_a_string_in_a_numeric_column(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "customer_id,tenure_months,monthly_charges,total_charges,contract,churned\n"
        "0001-AAAAA,twelve,70.0,840.0,one-year,0\n"
    )
    with pytest.raises(data.DataError, match="dtype"):
        data.load(csv)


def test_loader_names_missing_columns(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("customer_id,tenure_months\n0001-AAAAA,3\n")
    with pytest.raises(data.DataError, match="missing column"):
        data.load(csv)


def test_tampered_artifact_is_never_unpickled(tmp_path: Path) -> None:
    model_path = tmp_path / artifacts.MODEL_FILE
    joblib.dump({"weights": [1, 2, 3]}, model_path)
    artifacts.write_json({"model_sha256": artifacts.sha256_file(model_path)}, tmp_path / artifacts.METRICS_FILE)
    assert artifacts.load_verified_model(model_path) == {"weights": [1, 2, 3]}
    joblib.dump({"weights": [6, 6, 6]}, model_path)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        artifacts.load_verified_model(model_path)

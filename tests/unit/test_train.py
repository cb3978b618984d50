"""Training code: the one split, determinism, persistence, and the ungated CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from src import artifacts, exits, record
from src.features import build_features
from src.make_dataset import write
from src.train import main, split, train_model


def test_split_is_stratified_and_fixed(small_customers: pd.DataFrame) -> None:
    X, y = build_features(small_customers)
    first, second = split(X, y)[1], split(X, y)[1]
    assert first.index.equals(second.index), "the holdout moved between calls: gate and training disagree"
    assert len(first) == round(0.2 * len(X))
    assert abs(split(X, y)[3].mean() - y.mean()) < 0.01, "holdout churn rate drifted: the split is not stratified"


def test_same_seed_gives_identical_predictions(small_customers: pd.DataFrame) -> None:
    X, y = build_features(small_customers)
    np.testing.assert_array_equal(
        train_model(X, y, seed=42).predict_proba(X), train_model(X, y, seed=42).predict_proba(X)
    )


def test_the_saved_model_predicts_identically(small_customers: pd.DataFrame, tmp_path: Path) -> None:
    X, y = build_features(small_customers)
    model = train_model(X, y)
    staged = artifacts.stage_model(model, tmp_path / artifacts.MODEL_FILE)
    np.testing.assert_array_equal(artifacts.load_model(staged).predict_proba(X), model.predict_proba(X))


def test_cli_writes_a_verifiable_ungated_pair_and_is_deterministic(
    tmp_path: Path, small_customers: pd.DataFrame
) -> None:
    write(small_customers, tmp_path / "snap.csv")
    for out in ("a", "b"):
        assert main(["--data", str(tmp_path / "snap.csv"), "--out", str(tmp_path / out)]) == exits.OK
    a, b = (record.read(tmp_path / out / artifacts.METRICS_FILE) for out in ("a", "b"))
    assert a.model_sha256 == b.model_sha256, "same data + same seed produced a different model file"
    assert (a.holdout_auc, a.holdout_ece) == (b.holdout_auc, b.holdout_ece)
    assert a.gate is None, "a training run that skipped the gate must not look gated"
    artifacts.load_verified(tmp_path / "a" / artifacts.MODEL_FILE)


def test_failed_training_leaves_the_good_artifacts_untouched(
    tmp_path: Path, small_customers: pd.DataFrame, capsys
) -> None:
    write(small_customers, tmp_path / "good.csv")
    assert main(["--data", str(tmp_path / "good.csv"), "--out", str(tmp_path)]) == exits.OK
    before = {name: (tmp_path / name).read_bytes() for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE)}
    write(small_customers.assign(contract="lifetime"), tmp_path / "bad.csv")
    assert main(["--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path)]) == exits.REFUSED
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, f"not one readable line: {err!r}"
    assert "unknown contract 'lifetime'" in err, err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before, "a failed run overwrote the good pair"
    assert not list(tmp_path.glob(".*.tmp")), "a failed run left temp files behind"


def test_cli_reports_a_missing_snapshot_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == exits.REFUSED
    err = capsys.readouterr().err.strip()
    assert "no snapshot at" in err
    assert "\n" not in err

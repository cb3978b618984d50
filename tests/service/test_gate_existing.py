"""Same gate, different provenance: a model trained elsewhere is judged exactly like one the gate trains.

`python -m src.gate --model PATH` runs the same checks on the same holdout
split and writes the same typed record; it refuses a model its record does
not describe, or one trained on another snapshot than the one it is judged on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from src import artifacts, exits, launcher, record, train
from src.config import ROOT
from src.gate import stage
from src.make_dataset import generate, write
from src.processes import run_module
from tests.processes import pair_bytes


def _gate_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_module("src.gate", *args, env=env)


@pytest.fixture(scope="module")
def ungated(small_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model `python -m src.train` writes (no gate), on the snapshot the gated small_artifact was trained on."""
    out = tmp_path_factory.mktemp("ungated")
    result = launcher.run(
        [sys.executable, "-m", "src.train", "--data", str(small_artifact / "snapshot.csv"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"python -m src.train failed: {result.stderr}"
    return out / artifacts.MODEL_FILE


def test_gating_a_model_trained_elsewhere_gives_the_verdict_and_record_of_gating_it_while_training(
    small_artifact: Path, ungated: Path, tmp_path: Path
) -> None:
    trained_here = record.read(small_artifact / artifacts.METRICS_FILE)  # the gate stage trained this one itself
    judged = stage.run_existing(
        ungated, small_artifact / "snapshot.csv", tmp_path, 42, small_artifact / "no_baseline_yet.json"
    )
    assert judged.passed == trained_here.gate_passed, "the same model got another verdict by another path"
    assert judged.record.model_sha256 == trained_here.model_sha256, (
        "src.train and the gate stage wrote different model bytes for the same data and seed"
    )
    assert stage.untimed(judged.record) == stage.untimed(trained_here), (
        "judging an existing model wrote another record than judging it while training: the two paths diverged"
    )
    assert record.read(tmp_path / artifacts.METRICS_FILE) == judged.record, "the record on disk is not the judged one"
    assert (tmp_path / artifacts.MODEL_FILE).read_bytes() == ungated.read_bytes(), (
        "the gated file is not the one judged"
    )


def test_a_model_trained_on_another_snapshot_is_refused_in_one_line(ungated: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    write(generate(seed=8, n=4000), other)
    out = tmp_path / "out"
    result = _gate_cli("--model", str(ungated), "--data", str(other), "--out", str(out))
    assert result.returncode == exits.REFUSED, f"exit {result.returncode}: {result.stdout[-500:]}{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one readable line, got:\n{result.stderr}"
    assert "trained on data sha256" in lines[0], lines[0]
    assert not out.exists(), "a refused model still wrote an artifact"


def test_a_model_its_record_does_not_describe_is_refused(ungated: Path, small_artifact: Path, tmp_path: Path) -> None:
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / artifacts.MODEL_FILE).write_bytes(ungated.read_bytes())
    # another model's record beside it: the sha no longer matches
    other = record.read(small_artifact / artifacts.METRICS_FILE).model_copy(update={"model_sha256": "0" * 64})
    record.write(other, swapped / artifacts.METRICS_FILE)
    result = _gate_cli("--model", str(swapped / artifacts.MODEL_FILE), "--data", str(small_artifact / "snapshot.csv"))
    assert result.returncode == exits.REFUSED, f"exit {result.returncode}: {result.stderr}"
    assert len(result.stderr.strip().splitlines()) == 1, f"expected one readable line, got:\n{result.stderr}"
    assert "does not match" in result.stderr, result.stderr


def test_a_bare_model_file_is_judged_on_the_snapshot_and_lands_as_the_gatedpair_bytes(
    ungated: Path, small_artifact: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare" / artifacts.MODEL_FILE
    bare.parent.mkdir()
    bare.write_bytes(ungated.read_bytes())
    out = tmp_path / "out"
    env = {"PROD_METRICS": str(tmp_path / "none.json")}
    result = _gate_cli("--model", str(bare), "--data", str(small_artifact / "snapshot.csv"), "--out", str(out), env=env)
    assert result.returncode == exits.OK, f"a good model without a record failed: {result.stdout[-1500:]}"
    shipped = artifacts.verify(out / artifacts.MODEL_FILE, require_gate=True)
    assert shipped.data_sha256 == artifacts.sha256_file(small_artifact / "snapshot.csv"), (
        "the record of a bare model must name the snapshot it was judged on"
    )


def test_a_failing_existing_model_lands_in_rejected_and_never_over_the_gatedpair_bytes(
    small_artifact: Path, tmp_path: Path
) -> None:
    customers = generate(seed=7, n=4000)
    leaky = customers.assign(monthly_charges=(40 + 45 * customers["churned"]).astype(float), total_charges=float("nan"))
    write(leaky, tmp_path / "leaky.csv")
    train.run(tmp_path / "leaky.csv", tmp_path / "trained", 42)
    out = tmp_path / "out"
    out.mkdir()
    for name, data in pair_bytes(small_artifact).items():
        (out / name).write_bytes(data)
    before = pair_bytes(out)
    result = stage.run_existing(
        tmp_path / "trained" / artifacts.MODEL_FILE, tmp_path / "leaky.csv", out, 42, tmp_path / "none.json"
    )
    assert not result.passed, "the gate passed a leaky model because it was trained elsewhere"
    assert result.record.gate is not None
    assert "leakage_ceiling" in result.record.gate.failed, result.record.gate.failed
    assert pair_bytes(out) == before, "a failed existing model replaced the gated pair"
    assert record.read(out / artifacts.REJECTED_DIR / artifacts.METRICS_FILE) == result.record

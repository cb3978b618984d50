"""The gate as a pipeline stage: train once (or take a model trained elsewhere), judge, ship only on a pass.

A candidate that fails is written to `<artifact dir>/rejected/`, never over
the last gated pair. Same gate, different provenance: `run_existing` judges
a model trained elsewhere (a skops file, or a registry URI
`models:/churn@candidate` via `run_registered`) on the same holdout split
with the same checks, and writes the same record. Training and judging an
existing model share one path: train -> stage -> judge, or stage -> judge.
The CLI is `python -m src.gate` (`src/gate/__main__.py`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src import artifacts, atomic, data, train
from src.gate import contract, evidence
from src.record import ArtifactRecord

REGISTRY_SCHEME = "models:/"


class GateInputError(ValueError):
    """An existing model the gate cannot judge on this snapshot; the message is one line."""


@dataclass(frozen=True)
class GateRun:
    """One run of the stage: the record it wrote, the model as shipped, and where the pair landed."""

    record: ArtifactRecord
    model: Any
    fitted: train.Fitted
    folder: Path

    @property
    def passed(self) -> bool:
        return self.record.gate_passed


def run(data_path: Path, out_dir: Path, seed: int, baseline: Path) -> GateRun:
    """Train once, then judge: the model this stage trained itself."""
    fitted = train.fit(data.load(data_path), seed)
    staged = artifacts.stage_model(fitted.model, out_dir / artifacts.MODEL_FILE)
    return _judge_staged(staged, lambda shipped: fitted, artifacts.sha256_file(data_path), out_dir, baseline)


def run_existing(model_path: Path, data_path: Path, out_dir: Path, seed: int, baseline: Path) -> GateRun:
    """Judge a model trained elsewhere (a registry, a long training job) exactly as `run` judges its own.

    With a record beside the file, the file must be the one it describes and
    the snapshot the one it was trained on (else GateInputError). A bare file
    carries no provenance: it is judged on `data_path`, its seed is taken as
    `seed` and its training time as unknown (0). The bytes are staged as they
    are, never re-serialised, so the pair that passes holds the file judged.
    """
    recorded = _recorded(model_path)
    data_sha = artifacts.sha256_file(data_path)
    if recorded is not None and recorded.data_sha256 != data_sha:
        raise GateInputError(
            f"{model_path} was trained on data sha256 {recorded.data_sha256[:12]} but {data_path} is "
            f"{data_sha[:12]}: judge it on the snapshot it was trained on (--data / CHURN_DATA)"
        )
    snapshot = data.load(data_path)
    seed, train_seconds = (recorded.seed, recorded.train_seconds) if recorded else (seed, 0.0)
    bytes_judged = model_path.read_bytes()
    staged = atomic.stage(out_dir / artifacts.MODEL_FILE, lambda path: path.write_bytes(bytes_judged))
    return _judge_staged(
        staged,
        lambda shipped: train.resplit(snapshot, shipped, seed, train_seconds),
        data_sha,
        out_dir,
        baseline,
        recorded,
    )


def _recorded(model_path: Path) -> ArtifactRecord | None:
    """The record beside an existing model, proved to describe it; None for a bare model file."""
    if not model_path.is_file():
        raise GateInputError(f"no model file at {model_path}")
    if not artifacts.record_path_for(model_path).is_file():
        return None
    return artifacts.verify(model_path)


TIMED = ("train_seconds", "predict_p50_ms", "predict_p99_ms")  # wall-clock figures: never equal on a rerun


def untimed(rec: ArtifactRecord) -> ArtifactRecord:
    """`rec` without its wall-clock figures (and the latency check's measured value): what a rerun reproduces."""
    update: dict[str, Any] = dict.fromkeys(TIMED, 0.0)
    if rec.gate is not None:
        checks = [c.model_copy(update={"value": None}) if c.id == "latency" else c for c in rec.gate.checks]
        update["gate"] = rec.gate.model_copy(update={"checks": checks})
    return rec.model_copy(update=update)


def _judge_staged(
    staged: Path,
    split_for: Callable[[Any], train.Fitted],
    data_sha: str,
    out_dir: Path,
    baseline: Path,
    recorded: ArtifactRecord | None = None,
) -> GateRun:
    """The one judging path: load the staged file as the service will, measure, judge, place the pair.

    When an existing model's record already holds this very verdict and every
    figure but the wall-clock ones, that record is kept byte for byte: the pair
    that passes is then the pair that was registered (and attested), not a
    copy that differs only in a latency reading.
    """
    try:
        shipped = artifacts.load_model(staged)  # exactly what the service will load
        fitted = split_for(shipped)
        described = train.describe(fitted, shipped, staged, data_sha)
        verdict = contract.judge(evidence.gather(fitted, shipped, described, staged, baseline, contract.MEASURING))
        result = described.model_copy(update={"gate": verdict})
        if recorded is not None and recorded.gate is not None and untimed(recorded) == untimed(result):
            result = recorded
        folder = out_dir if verdict.passed else out_dir / artifacts.REJECTED_DIR
        artifacts.commit_pair(staged, result, folder)
    finally:
        staged.unlink(missing_ok=True)  # gone already unless a step failed
    if verdict.passed:  # a stale rejection would otherwise read as this run's verdict
        for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
            (out_dir / artifacts.REJECTED_DIR / name).unlink(missing_ok=True)
    return GateRun(result, shipped, fitted, folder)


def run_registered(uri: str, data_path: Path, out_dir: Path, seed: int, baseline: Path) -> GateRun:
    """Pull a registered pair into a temp folder and judge it (the MLflow client is an optional extra)."""
    from src import registry  # imports MLflow only when a registry URI is gated

    with tempfile.TemporaryDirectory(prefix="churn-pulled-") as tmp:
        return run_existing(registry.pull(uri, Path(tmp)), data_path, out_dir, seed, baseline)

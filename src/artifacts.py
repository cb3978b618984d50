"""Write and read the gated artifact pair: model_candidate.joblib + metrics.json.

Every write goes to a temp file in the target folder and is renamed into
place, so a crash or a failed step never leaves a half-written file where a
good one stood.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import joblib

MODEL_FILE = "model_candidate.joblib"
METRICS_FILE = "metrics.json"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp's 0600 would hide the model from a non-root server
    return Path(name)


def stage_model(model: Any, target: Path) -> Path:
    """Dump the model beside `target` without touching it; returns the temp path."""
    tmp = _temp_beside(target)
    try:
        joblib.dump(model, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def stage_json(data: dict[str, Any], target: Path) -> Path:
    tmp = _temp_beside(target)
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_json(data: dict[str, Any], target: Path) -> None:
    """Atomically replace a JSON file (metrics.json, prod_metrics.json)."""
    stage_json(data, target).replace(target)


def read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def verify_artifact(
    model_path: str | Path, metrics_path: str | Path | None = None, *, require_gate: bool = False
) -> dict[str, Any]:
    """Prove a model file is the one its metrics.json describes (and, if asked, that its gate passed).

    Returns the metrics. The service, the rollout and this module's loader all
    judge an artifact here, so "gated" and "verified" mean one thing.
    """
    model_path = Path(model_path)
    metrics_path = Path(metrics_path) if metrics_path else model_path.with_name(METRICS_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(f"no model artifact at {model_path}")
    if not metrics_path.is_file():
        raise FileNotFoundError(f"no metrics.json beside the artifact at {metrics_path}")
    metrics = read_json(metrics_path)
    if require_gate and not metrics.get("gate", {}).get("passed"):
        raise ValueError(
            f"{model_path} did not pass the quality gate: its metrics.json does not record a passed gate; "
            "run `make model` on it first"
        )
    expected = metrics.get("model_sha256")
    actual = sha256_file(model_path)
    if expected != actual:
        raise ValueError(
            f"{model_path} sha256 {actual[:12]} does not match {metrics_path} "
            f"model_sha256 {str(expected)[:12]}: refusing to unpickle an unverified file"
        )
    return metrics


def load_verified_model(
    model_path: str | Path, metrics_path: str | Path | None = None, *, require_gate: bool = False
) -> Any:
    """Unpickle only a verified file.

    joblib/pickle run code on load, so an artifact is opened only once it is
    proven to be the exact file the gate measured.
    """
    verify_artifact(model_path, metrics_path, require_gate=require_gate)
    return joblib.load(model_path)

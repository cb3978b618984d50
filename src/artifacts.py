"""The artifact pair: the model file (skops) and its record (metrics.json).

The model is persisted with skops, not pickle: loading a pickle runs whatever
code its author put in `__reduce__`, so whoever can write the model file and
its recorded sha256 could run code in the service. skops rebuilds only types
it is told to trust, and we trust none beyond its defaults (numpy and
scikit-learn's own): `load_model` passes an explicit empty list and refuses
anything else with one line, before any of it is built.

A skops file is a zip whose entries are named after Python object ids and
stamped with the time of writing, so two dumps of one model differ byte for
byte. `canonical` renumbers the ids in order of appearance and fixes the
timestamps, so same data + same seed gives the same sha256, as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from src import atomic
from src import record as records
from src.record import ArtifactRecord, RecordError

MODEL_FILE = "model_candidate.skops"
METRICS_FILE = "metrics.json"
REJECTED_DIR = "rejected"  # a candidate the gate failed lands here, never over the last gated pair
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_NPY = re.compile(r"^(\d+)\.npy$")


class ArtifactError(ValueError):
    """A model file that is missing, not the file its record describes, ungated, or not loadable safely."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical(data: bytes) -> bytes:
    """The same skops archive with deterministic entry names, order and timestamps."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    ids: dict[int, int] = {}

    def renumber(old: int) -> int:
        return ids.setdefault(old, len(ids) + 1)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: renumber(v) if k == "__id__" and isinstance(v, int) else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and (match := _NPY.match(node)):
            return f"{renumber(int(match.group(1)))}.npy"
        return node

    entries = {"schema.json": json.dumps(walk(schema), indent=2).encode()}
    for name in source.namelist():
        if match := _NPY.match(name):
            entries[f"{renumber(int(match.group(1)))}.npy"] = source.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            target.writestr(info, entries[name])
    return out.getvalue()


def stage_model(model: Any, target: Path) -> Path:
    """The model in canonical skops form in a temp file beside `target` (not yet renamed over it)."""
    data = canonical(sio.dumps(model))
    return atomic.stage(target, lambda path: path.write_bytes(data))


def commit_pair(staged_model: Path, rec: ArtifactRecord, folder: Path) -> None:
    """Move a staged model and its record into `folder`: both complete on disk before either replaces a file."""
    folder.mkdir(parents=True, exist_ok=True)
    staged_record = atomic.stage(folder / METRICS_FILE, lambda path: path.write_text(rec.to_json()))
    staged_model.replace(folder / MODEL_FILE)
    staged_record.replace(folder / METRICS_FILE)


def load_model(path: str | Path) -> Any:
    """Rebuild a model from a skops file, trusting no type beyond skops' defaults."""
    try:
        return sio.load(path, trusted=[])
    except UntrustedTypesFoundException as exc:
        raise ArtifactError(f"{path}: refusing to load untrusted types {exc}") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not a skops model file ({type(exc).__name__}: {exc})") from None


def record_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_name(METRICS_FILE)


def verify(
    model_path: str | Path, record_path: str | Path | None = None, *, require_gate: bool = False
) -> ArtifactRecord:
    """Prove a model file is the one its record describes (and, if asked, that its gate passed).

    The service, the rollout and the report all judge an artifact here, so
    "gated" and "verified" mean one thing everywhere.
    """
    model_path = Path(model_path)
    record_path = Path(record_path) if record_path else record_path_for(model_path)
    if not model_path.is_file():
        raise ArtifactError(f"no model artifact at {model_path}")
    try:
        record = records.read(record_path)
    except RecordError as exc:
        raise ArtifactError(str(exc)) from None
    if require_gate and not record.gate_passed:
        raise ArtifactError(
            f"{model_path} did not pass the quality gate: its record does not say passed; "
            "gate it with `make model` (a failed candidate is kept in artifacts' rejected/ folder)"
        )
    actual = sha256_file(model_path)
    if actual != record.model_sha256:
        raise ArtifactError(
            f"{model_path} sha256 {actual[:12]} does not match {record_path} model_sha256 "
            f"{record.model_sha256[:12]}: refusing to load a file the gate did not measure"
        )
    return record


def load_verified(
    model_path: str | Path, record_path: str | Path | None = None, *, require_gate: bool = False
) -> tuple[Any, ArtifactRecord]:
    """Verify, then load (never the other way round)."""
    record = verify(model_path, record_path, require_gate=require_gate)
    return load_model(model_path), record

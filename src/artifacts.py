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

Whatever the file holds, `load_model` answers a fitted model or one
`ArtifactError` with a one-line reason; the service's startup, the gate, the
rollout's candidate check and the registry pull all load through it. The
archive is inspected before skops sees it (`inspect_archive`): member count,
declared and actual uncompressed sizes, encryption, compression method,
duplicate, unreferenced and path-like member names, the schema's shape,
protocol, loaders, type names and nesting depth. Members are then inflated
in bounded chunks (a member's declared size is a claim: zlib would inflate
a lying one in a single call) and skops reads an uncompressed copy of what
was checked, never the file itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skops.io._persist import NODE_TYPE_MAPPING
from skops.io.exceptions import UntrustedTypesFoundException

from src import atomic
from src import record as records
from src.features import build_features
from src.record import ArtifactRecord, RecordError
from src.schema import EXAMPLE_CUSTOMER

MODEL_FILE = "model_candidate.skops"
METRICS_FILE = "metrics.json"
REJECTED_DIR = "rejected"  # a candidate the gate failed lands here, never over the last gated pair
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_NPY = re.compile(r"^(\d+)\.npy$")
SCHEMA_FILE = "schema.json"

# The archive limits, far above the shipped model's own size (docs/benchmarks.md, "src/artifacts.py").
MAX_ARCHIVE_BYTES = 64 << 20  # the file on disk: read whole into memory before anything else
MAX_MEMBERS = 4096  # a pipeline of forests stays far below; a million tiny members is a CPU bomb
MAX_MEMBER_BYTES = 32 << 20  # one array, inflated: a 512 MiB zero member is a zip bomb, not a model
MAX_TOTAL_BYTES = 64 << 20  # every member inflated together: the service's memory, not the file's size
MAX_SCHEMA_DEPTH = 64  # skops walks the schema recursively: 100,000 levels would be a RecursionError
CHUNK_BYTES = 1 << 16  # inflate this much at a time, so a member that lies about its size cannot balloon
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}  # what skops and zip -9 write
_LOADERS = frozenset(loader for loader, _ in NODE_TYPE_MAPPING)
_PROTOCOLS = frozenset(protocol for _, protocol in NODE_TYPE_MAPPING)
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _depth(node: Any) -> int:
    """The nesting depth of parsed JSON, walked without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_SCHEMA_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every dict of the schema, without recursion (the depth is already bounded)."""
    found, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _check_schema(schema: Any) -> set[str]:
    """Refuse a schema skops would trip over; returns the member names it references."""
    if not isinstance(schema, dict):
        raise ArtifactError(f"{SCHEMA_FILE} is a JSON {type(schema).__name__}, not an object")
    protocol = schema.get("protocol")
    if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol not in _PROTOCOLS:
        raise ArtifactError(f"{SCHEMA_FILE} protocol {protocol!r} is not one this skops reads ({sorted(_PROTOCOLS)})")
    referenced: set[str] = set()
    for node in _nodes(schema):
        if "__loader__" in node:
            loader, module, name = node.get("__loader__"), node.get("__module__"), node.get("__class__")
            if not isinstance(loader, str) or loader not in _LOADERS:
                raise ArtifactError(f"{SCHEMA_FILE} names an unknown loader {str(loader)[:60]!r}")
            if not isinstance(module, str) or not _DOTTED.match(module):
                raise ArtifactError(f"{SCHEMA_FILE} names a module that is not a dotted name: {str(module)[:60]!r}")
            if not isinstance(name, str) or not _IDENTIFIER.match(name):
                raise ArtifactError(
                    f"{SCHEMA_FILE} names the type {str(module)[:60]}:{str(name)[:60]!r}: a class name "
                    "is one identifier (a dot in it splits a trusted name somewhere else)"
                )
        if "file" in node:
            if not isinstance(node["file"], str):
                raise ArtifactError(f"{SCHEMA_FILE} references a member by a non-string {node['file']!r}")
            referenced.add(node["file"])
    return referenced


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """A member's bytes, inflated in bounded chunks; never more than its declared size or `budget`."""
    parts, size = [], 0
    with archive.open(info) as fh:
        while chunk := fh.read(CHUNK_BYTES):
            size += len(chunk)
            if size > min(info.file_size, budget):
                raise ArtifactError(f"member {info.filename!r} inflates past its declared {info.file_size} bytes")
            parts.append(chunk)
    return b"".join(parts)


def inspect_archive(data: bytes) -> dict[str, bytes]:
    """The members of a skops archive, each checked and inflated within the limits above; else ArtifactError."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ArtifactError(f"not a zip archive ({_one_line(exc)})") from None
    if len(infos) > MAX_MEMBERS:
        raise ArtifactError(f"{len(infos)} members, more than MAX_MEMBERS={MAX_MEMBERS}")
    names = Counter(info.filename for info in infos)
    for info in infos:
        name = info.filename
        if names[name] > 1:
            raise ArtifactError(f"member {name!r} appears {names[name]} times: which one is the model?")
        if "/" in name or "\\" in name or name in ("", ".", "..") or ":" in name:
            raise ArtifactError(f"member name {name[:80]!r} is a path: skops members are plain names in the archive")
        if info.flag_bits & 0x1:
            raise ArtifactError(f"member {name!r} is encrypted")
        if info.compress_type not in COMPRESSIONS:
            raise ArtifactError(
                f"member {name!r} uses compression method {info.compress_type} (stored or deflated only)"
            )
        if info.file_size > MAX_MEMBER_BYTES:
            raise ArtifactError(
                f"member {name!r} declares {info.file_size} bytes inflated, "
                f"more than MAX_MEMBER_BYTES={MAX_MEMBER_BYTES}"
            )
    declared = sum(info.file_size for info in infos)
    if declared > MAX_TOTAL_BYTES:
        raise ArtifactError(f"members declare {declared} bytes inflated, more than MAX_TOTAL_BYTES={MAX_TOTAL_BYTES}")
    if SCHEMA_FILE not in names:
        raise ArtifactError(f"no {SCHEMA_FILE}: not a skops model file")
    members, budget = {}, MAX_TOTAL_BYTES
    for info in infos:
        try:
            members[info.filename] = _inflate(archive, info, budget)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ArtifactError(f"member {info.filename!r} is damaged ({_one_line(exc)})") from None
        budget -= len(members[info.filename])
    try:
        schema = json.loads(members[SCHEMA_FILE])
    except RecursionError:
        raise ArtifactError(f"{SCHEMA_FILE} nests deeper than MAX_SCHEMA_DEPTH={MAX_SCHEMA_DEPTH}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{SCHEMA_FILE} is not JSON ({_one_line(exc)})") from None
    if (depth := _depth(schema)) > MAX_SCHEMA_DEPTH:
        raise ArtifactError(f"{SCHEMA_FILE} nests {depth} levels, deeper than MAX_SCHEMA_DEPTH={MAX_SCHEMA_DEPTH}")
    referenced = _check_schema(schema)
    if missing := sorted(referenced - set(members)):
        raise ArtifactError(f"{SCHEMA_FILE} references {missing[0]!r}, which the archive does not hold")
    if extra := sorted(set(members) - referenced - {SCHEMA_FILE}):
        raise ArtifactError(f"member {extra[0]!r} is not referenced by {SCHEMA_FILE} ({len(extra)} unreferenced)")
    return members


def _stored(members: dict[str, bytes]) -> bytes:
    """The checked members as an uncompressed archive: what skops reads, so it never inflates anything itself."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name, content in members.items():
            target.writestr(zipfile.ZipInfo(name, date_time=_ZIP_EPOCH), content)
    return out.getvalue()


def check_scores(model: Any) -> None:
    """A fitted classifier that scores the contract's example customer with one probability in [0, 1]."""
    if not callable(getattr(model, "predict_proba", None)):
        raise ArtifactError(f"the file holds a {type(model).__name__}, not a classifier with predict_proba")
    try:
        check_is_fitted(model)
    except (NotFittedError, TypeError) as exc:
        raise ArtifactError(f"the {type(model).__name__} is not fitted ({_one_line(exc)})") from None
    try:
        X, _ = build_features({k: [v] for k, v in EXAMPLE_CUSTOMER.items()})
        proba = np.asarray(model.predict_proba(X), dtype=float)
    except Exception as exc:  # whatever the model raises on the example customer is the refusal's reason
        raise ArtifactError(f"the model cannot score the contract's example customer ({_one_line(exc)})") from None
    if proba.shape != (1, 2) or not np.all(np.isfinite(proba)) or not np.all((proba >= 0) & (proba <= 1)):
        raise ArtifactError(
            f"the model cannot score the contract's example customer (predict_proba gave {proba.tolist()!r:.80})"
        )


def load_model(path: str | Path) -> Any:
    """The one loading boundary: a fitted model from a skops file, or ArtifactError with a one-line reason.

    Trusts no type beyond skops' defaults; inspects the archive before skops
    builds anything; refuses a model that cannot score the example customer.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise ArtifactError(f"{path}: {size} bytes, more than MAX_ARCHIVE_BYTES={MAX_ARCHIVE_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read it ({_one_line(exc)})") from None
    try:
        members = inspect_archive(data)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: refusing the archive: {exc}") from None
    try:
        model = sio.loads(_stored(members), trusted=[])
    except UntrustedTypesFoundException as exc:
        raise ArtifactError(f"{path}: refusing to load untrusted types {exc}") from None
    except Exception as exc:  # the boundary's promise: whatever skops raises, one typed refusal
        raise ArtifactError(f"{path}: not a loadable skops model ({_one_line(exc)})") from None
    try:
        check_scores(model)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    return model


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

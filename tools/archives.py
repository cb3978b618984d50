"""Hostile skops archives, built from a real gated model: each breaks one thing the loader must refuse.

Every builder takes the gated model's bytes and returns a new archive; the
record beside it is rewritten with the new file's sha256 and still says the
gate passed, so the loader itself (src.artifacts.load_model), not the record
checks, is what stands between the file and the service.

Shared by tests/service/test_hostile_archives.py (the proof) and
benchmarks/hostile_archives.py (the table of reasons and peak RSS).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src import artifacts, record

BOMB_BYTES = artifacts.MAX_MEMBER_BYTES + (8 << 20)  # just over the limit: refused without inflating 512 MiB
DEEP_LEVELS = 100_000  # far past Python's recursion limit (1,000)
_EPOCH = (1980, 1, 1, 0, 0, 0)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pack(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of (name, bytes) in order; duplicate names allowed (zipfile warns, and writes both)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = compression  # a ZipInfo keeps its own method, not the archive's
            archive.writestr(info, content)
    return out.getvalue()


def _with_schema(data: bytes, edit: Callable[[Any], Any] | None = None, raw: bytes | None = None) -> bytes:
    found = members(data)
    schema = json.loads(found["schema.json"])
    found["schema.json"] = raw if raw is not None else json.dumps(edit(schema) if edit else schema).encode()
    return pack(list(found.items()))


def _set(**fields: Any) -> Callable[[Any], Any]:
    def edit(schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, **fields}

    return edit


def _patch_headers(data: bytes, name: str, **fields: int) -> bytes:
    """Rewrite fields of one member's local and central headers: flags, method, declared sizes."""
    local = {"flags": 6, "method": 8, "usize": 22}  # offsets in the local file header
    central = {"flags": 8, "method": 10, "usize": 24}  # ... and in the central directory entry
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    at = info.header_offset
    for field, value in fields.items():
        fmt = "<I" if field == "usize" else "<H"
        struct.pack_into(fmt, buf, at + local[field], value)
    start = 0
    while (at := buf.find(b"PK\x01\x02", start)) != -1:
        name_len = struct.unpack_from("<H", buf, at + 28)[0]
        if bytes(buf[at + 46 : at + 46 + name_len]) == name.encode():
            for field, value in fields.items():
                fmt = "<I" if field == "usize" else "<H"
                struct.pack_into(fmt, buf, at + central[field], value)
        start = at + 4
    return bytes(buf)


def deep_schema(data: bytes) -> bytes:
    found = json.loads(members(data)["schema.json"])
    text = json.dumps(found)
    nested = "[" * DEEP_LEVELS + "]" * DEEP_LEVELS
    return _with_schema(data, raw=(text[:-1] + ', "padding": ' + nested + "}").encode())


def split_name(data: bytes) -> bytes:
    """The root Pipeline as module `sklearn`, class `pipeline.Pipeline`: the trusted name, split elsewhere."""
    return _with_schema(data, _set(__module__="sklearn", __class__="pipeline.Pipeline"))


def encrypted(data: bytes) -> bytes:
    return _patch_headers(data, "schema.json", flags=0x1)


def compression_99(data: bytes) -> bytes:
    return _patch_headers(data, "schema.json", method=99)


def zip_bomb(data: bytes) -> bytes:
    """One deflated member of zeros, declared at its true inflated size (BOMB_BYTES)."""
    return pack([*members(data).items(), ("99.npy", bytes(BOMB_BYTES))], zipfile.ZIP_DEFLATED)


def lying_bomb(data: bytes) -> bytes:
    """The same zeros declared as 1 KiB: a bounded inflate stops at 1 KiB and the CRC exposes the lie
    (one unbounded zlib call would have expanded all of it first)."""
    found = members(data)
    name = next(n for n in found if n.endswith(".npy"))
    found[name] = bytes(BOMB_BYTES)
    return _patch_headers(pack(list(found.items()), zipfile.ZIP_DEFLATED), name, usize=1024)


def duplicate_schema(data: bytes) -> bytes:
    found = members(data)
    return pack([*found.items(), ("schema.json", json.dumps({"protocol": 2}).encode())])


def traversal(data: bytes) -> bytes:
    return pack([*members(data).items(), ("../../etc/cron.d/model.npy", b"\x93NUMPY")])


def unreferenced(data: bytes) -> bytes:
    found = members(data)
    return pack([*found.items(), ("999.npy", next(v for k, v in found.items() if k.endswith(".npy")))])


def unfitted(_: bytes) -> bytes:
    return artifacts.canonical(sio.dumps(Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])))


# case -> (builder, a phrase the one-line reason must contain)
CASES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "schema is a JSON list": (lambda d: _with_schema(d, lambda s: [s]), "is a JSON list, not an object"),
    'protocol "2" as a string': (lambda d: _with_schema(d, _set(protocol="2")), "protocol '2' is not one"),
    "unknown __loader__": (lambda d: _with_schema(d, _set(__loader__="EvilNode")), "unknown loader 'EvilNode'"),
    "nested 100,000 levels": (deep_schema, "MAX_SCHEMA_DEPTH"),
    "trusted name split at another dot": (split_name, "a class name is one identifier"),
    "encrypted member": (encrypted, "is encrypted"),
    "compression method 99": (compression_99, "compression method 99"),
    "zip bomb (declared size)": (zip_bomb, "MAX_MEMBER_BYTES"),
    "zip bomb (lying size)": (lying_bomb, "is damaged"),
    "duplicate schema.json": (duplicate_schema, "appears 2 times"),
    "traversal-named member": (traversal, "is a path"),
    "unreferenced member": (unreferenced, "is not referenced by schema.json"),
    "unfitted Pipeline(StandardScaler, LogisticRegression)": (unfitted, "is not fitted"),
}


def write_case(name: str, gated_model: Path, folder: Path) -> Path:
    """The hostile archive `name` in `folder`, with a record that matches it and says the gate passed."""
    build, _ = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / artifacts.MODEL_FILE
    target.write_bytes(build(gated_model.read_bytes()))
    rec = record.read(artifacts.record_path_for(gated_model))
    record.write(
        rec.model_copy(update={"model_sha256": artifacts.sha256_file(target)}), folder / artifacts.METRICS_FILE
    )
    return target

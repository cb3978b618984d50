"""TRUSTED_PUBLIC_KEY on a real uvicorn: a pair signed locally serves; edited or unsigned, it never starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from src import artifacts, loopback, record, schema, signing
from src.processes import free_port, run_module, running
from tests.service.test_service_process import _failure_line, _startup
from tools.image import image_command, local_command
from tools.keys import KeyPair, ec_key_pair, signed_copy


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return ec_key_pair(tmp_path_factory.mktemp("keys"))


def test_a_locally_signed_pair_serves_with_the_trusted_key_set(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    port = free_port()
    env = {"MODEL_PATH": str(model), "TRUSTED_PUBLIC_KEY": str(keys.public)}
    with running(
        local_command(image_command(), port), f"http://127.0.0.1:{port}/health", env, tmp_path / "uvicorn.log"
    ):
        health = loopback.get(f"http://127.0.0.1:{port}/health").json()
        response = loopback.post(f"http://127.0.0.1:{port}/predict", json=schema.EXAMPLE_CUSTOMER)
    assert health["model_sha256"] == record.read(model.parent / artifacts.METRICS_FILE).model_sha256
    assert response.status_code == 200, response.text


def test_one_edited_record_field_stops_startup_in_one_line(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    rec = record.read(model.parent / artifacts.METRICS_FILE)
    record.write(rec.model_copy(update={"holdout_ece": 0.0}), model.parent / artifacts.METRICS_FILE)
    assert artifacts.verify(model, require_gate=True), "the edit must pass the sha check to mean anything"
    result = _startup(model, TRUSTED_PUBLIC_KEY=str(keys.public))
    assert result.returncode != 0, "an edited record served"
    reason = _failure_line(result)["reason"]
    assert f"{artifacts.METRICS_FILE} not the signed bytes" in reason, reason


def test_an_unsigned_pair_stops_startup_when_a_key_is_trusted(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    (model.parent / signing.SIGNATURE_FILE).unlink()
    result = _startup(model, TRUSTED_PUBLIC_KEY=str(keys.public))
    assert result.returncode != 0, "an unsigned pair served although a key is trusted"
    assert "has no signature" in _failure_line(result)["reason"]


def test_a_pair_signed_by_another_key_stops_startup(small_artifact: Path, tmp_path: Path, keys) -> None:
    model = signed_copy(small_artifact, tmp_path / "pair", keys)
    stranger = ec_key_pair(tmp_path / "stranger")
    result = _startup(model, TRUSTED_PUBLIC_KEY=str(stranger.public))
    assert result.returncode != 0, "a pair signed by an untrusted key served"
    assert "Key mismatch" in _failure_line(result)["reason"]


def test_the_cli_signs_verifies_and_refuses_in_one_line(small_artifact: Path, tmp_path: Path, keys) -> None:
    folder = tmp_path / "pair"
    folder.mkdir()
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy(small_artifact / name, folder / name)
    signed = run_module("src.signing", "sign", "--key", str(keys.private), str(folder))
    assert signed.returncode == 0, signed.stderr
    ok = run_module("src.signing", "verify", "--public-key", str(keys.public), str(folder))
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stdout
    with open(folder / artifacts.METRICS_FILE, "a") as fh:
        fh.write(" ")
    bad = run_module("src.signing", "verify", "--public-key", str(keys.public), str(folder))
    assert bad.returncode == 1, f"an edited record verified: {bad.stdout}"
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{bad.stderr}"
    assert lines[0].startswith("verify failed:"), lines[0]

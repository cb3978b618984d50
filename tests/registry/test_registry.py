"""The registry path on a real local MLflow registry (sqlite under a temp dir, no server).

register -> pull by alias -> gate: the pair the gate writes must be byte for
byte the pair that was registered, which is the pair the image ships. An
ungated or failed model never gets a version.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from src import artifacts, exits, record, signing
from src.config import ROOT
from src.processes import run_module
from tests.processes import pair_bytes
from tests.records import with_verdict
from tools.keys import ec_key_pair


def _cli(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module(module, *args, env=env)


@pytest.fixture
def env(tmp_path: Path, small_artifact: Path) -> dict[str, str]:
    """A fresh local registry, and the gate pointed at the snapshot and baseline small_artifact was gated with."""
    return {
        "REGISTRY_DIR": str(tmp_path / ".mlflow"),
        "CHURN_DATA": str(small_artifact / "snapshot.csv"),
        "PROD_METRICS": str(small_artifact / "no_baseline_yet.json"),
        "ARTIFACT_DIR": str(tmp_path / "gated"),
    }


def test_a_registered_model_pulled_by_alias_gates_to_the_identicalpair_bytes(
    small_artifact: Path, env: dict[str, str], tmp_path: Path
) -> None:
    started = time.perf_counter()
    registered = _cli("src.registry", "register", "--model", str(small_artifact / artifacts.MODEL_FILE), env=env)
    assert registered.returncode == 0, f"make register failed: {registered.stderr[-1500:]}"
    assert "@candidate" in registered.stdout, registered.stdout
    judged = _cli("src.gate", "--model", "models:/churn@candidate", env=env)
    took = time.perf_counter() - started
    assert judged.returncode == exits.OK, f"the registered model failed its gate:\n{judged.stderr[-1500:]}"
    gated = Path(env["ARTIFACT_DIR"])
    assert pair_bytes(gated) == pair_bytes(small_artifact), (
        "the pair gated from the registry differs from the pair registered: the image would ship other bytes"
    )
    assert artifacts.verify(gated / artifacts.MODEL_FILE, require_gate=True).gate_passed
    assert not (ROOT / "mlruns").exists(), "MLflow wrote ./mlruns: the local registry must stay under REGISTRY_DIR"
    print(f"\nregistry round trip (register + pull by alias + gate, two processes): {took:.1f} s")


def test_registering_an_ungated_model_is_refused_in_one_line(
    small_artifact: Path, env: dict[str, str], tmp_path: Path
) -> None:
    for name, verdict in (("ungated", None), ("failed", False)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / artifacts.MODEL_FILE).write_bytes((small_artifact / artifacts.MODEL_FILE).read_bytes())
        rec = with_verdict(record.read(small_artifact / artifacts.METRICS_FILE), verdict)
        record.write(rec, folder / artifacts.METRICS_FILE)
        result = _cli("src.registry", "register", "--model", str(folder / artifacts.MODEL_FILE), env=env)
        assert result.returncode == 2, f"a {name} model was registered: {result.stdout}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one readable line for a {name} model, got:\n{result.stderr}"
        assert "refusing to register" in lines[0], lines[0]
    pulled = _cli("src.gate", "--model", "models:/churn@candidate", env=env)
    assert pulled.returncode == exits.REFUSED, "a refused model still reached the registry under the alias"


def test_an_unknown_alias_is_one_line_and_writes_nothing(small_artifact: Path, env: dict[str, str]) -> None:
    registered = _cli("src.registry", "register", "--model", str(small_artifact / artifacts.MODEL_FILE), env=env)
    assert registered.returncode == 0, registered.stderr[-1500:]
    result = _cli("src.gate", "--model", "models:/churn@production", env=env)
    assert result.returncode == exits.REFUSED, f"exit {result.returncode}: {result.stderr[-800:]}"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gate: models:/churn@production"), f"no one-line reason:\n{result.stderr}"
    assert not Path(env["ARTIFACT_DIR"]).exists(), "gating an alias that names nothing wrote an artifact"


def test_the_signature_travels_with_the_pair_through_register_and_pull(
    tmp_path: Path, small_artifact: Path, env: dict[str, str]
) -> None:
    keys = ec_key_pair(tmp_path / "keys")
    folder = tmp_path / "signed"
    folder.mkdir()
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy(small_artifact / name, folder / name)
    signing.sign(folder / artifacts.MODEL_FILE, private_key=keys.private)
    trusted = {**env, "TRUSTED_PUBLIC_KEY": str(keys.public)}
    registered = _cli("src.registry", "register", "--model", str(folder / artifacts.MODEL_FILE), env=trusted)
    assert registered.returncode == 0, registered.stderr[-1500:]
    pulled = _cli("src.registry", "pull", "models:/churn@candidate", "--to", str(tmp_path / "pulled"), env=env)
    assert pulled.returncode == 0, pulled.stderr[-1500:]
    model = next((tmp_path / "pulled").rglob(artifacts.MODEL_FILE))
    assert signing.signature_path(model).is_file(), "the pull dropped the signature the pair was registered with"
    signing.verify(model, public_key=keys.public)


def test_with_a_trusted_key_an_unsigned_pair_is_never_registered(
    tmp_path: Path, small_artifact: Path, env: dict[str, str]
) -> None:
    keys = ec_key_pair(tmp_path / "keys")
    trusted = {**env, "TRUSTED_PUBLIC_KEY": str(keys.public)}
    result = _cli("src.registry", "register", "--model", str(small_artifact / artifacts.MODEL_FILE), env=trusted)
    assert result.returncode == 2, f"an unsigned pair was registered under a trusted key: {result.stdout}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "has no signature" in lines[0], lines[0]

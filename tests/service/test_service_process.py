"""The service as a real process: the image's own command line, startup refusals, and fuzzing.

No Docker engine runs here, so the test starts the exact CMD of the Dockerfile
as a uvicorn process on 127.0.0.1 (only host and port swapped) from the same
files the image copies.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from src import artifacts, launcher, loopback, record, schema
from src.config import ROOT
from src.processes import free_port, running
from tests.unit.test_artifacts_and_data import _booby_trapped
from tools.image import image_command, local_command


@pytest.fixture(scope="module")
def server_process(
    small_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "uvicorn.log"
    env = {"MODEL_PATH": str(small_artifact / artifacts.MODEL_FILE), "MODEL_VARIANT": "candidate"}
    with running(local_command(image_command(), port), f"http://127.0.0.1:{port}/health", env, log) as proc:
        yield f"http://127.0.0.1:{port}", proc


@pytest.fixture(scope="module")
def server(server_process: tuple[str, subprocess.Popen]) -> str:
    return server_process[0]


def test_the_image_command_serves_the_gated_model(server: str, small_artifact: Path) -> None:
    health = loopback.get(f"{server}/health").json()
    assert health["variant"] == "candidate", "MODEL_VARIANT from the environment must reach the service"
    assert health["model_sha256"] == record.read(small_artifact / artifacts.METRICS_FILE).model_sha256
    response = loopback.post(f"{server}/predict", json=schema.EXAMPLE_CUSTOMER)
    assert response.status_code == 200, response.text
    assert 0.0 < response.json()["churn_probability"] < 1.0


def _startup(model_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The image's command on `model_path` until it exits (through the session's launcher, when it runs one)."""
    argv = local_command(image_command(), free_port())
    return launcher.run(argv, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "MODEL_PATH": str(model_path), **env}, timeout=60)


def _failure_line(result: subprocess.CompletedProcess[str]) -> dict:
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith('{"event":"startup_failed"')]
    assert len(lines) == 1, f"expected one startup_failed line:\n{result.stdout}\n{result.stderr}"
    return lines[0]


def test_missing_artifact_stops_startup_with_one_clear_line(tmp_path: Path) -> None:
    result = _startup(tmp_path / "nowhere.skops")
    assert result.returncode != 0, "a service without its model must not start"
    reason = _failure_line(result)["reason"]
    assert "no model artifact" in reason
    assert "run `make model`" in reason, f"the refusal should name the next step: {reason}"


def test_missing_artifact_after_a_failed_gate_run_points_to_the_report(tmp_path: Path, small_artifact: Path) -> None:
    (tmp_path / artifacts.REJECTED_DIR).mkdir()
    shutil.copy(small_artifact / artifacts.METRICS_FILE, tmp_path / artifacts.REJECTED_DIR / artifacts.METRICS_FILE)
    result = _startup(tmp_path / artifacts.MODEL_FILE)
    assert result.returncode != 0
    reason = _failure_line(result)["reason"]
    assert "the last gate run failed" in reason, reason
    assert "`make report`" in reason, f"the refusal should point to the report of the failed run: {reason}"


def _model_on_three_columns(folder: Path, small_artifact: Path) -> Path:
    """A model that loads (skops, trusted types only) and passes every record check, but was fitted on 3 columns."""
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.normal(size=(50, 3)), rng.integers(0, 2, size=50))
    target = folder / artifacts.MODEL_FILE
    artifacts.stage_model(model, target).replace(target)
    rec = record.read(small_artifact / artifacts.METRICS_FILE).model_copy(
        update={"model_sha256": artifacts.sha256_file(target)}
    )
    record.write(rec, folder / artifacts.METRICS_FILE)
    return target


def test_a_model_that_loads_but_cannot_score_never_starts(tmp_path: Path, small_artifact: Path) -> None:
    model = _model_on_three_columns(tmp_path, small_artifact)
    assert artifacts.verify(model, require_gate=True), "the model must pass the artifact checks to mean anything"
    result = _startup(model)
    assert result.returncode != 0, "a model that cannot score the example customer must not serve (500s)"
    reason = _failure_line(result)["reason"]
    assert "cannot score the contract's example customer" in reason, reason
    assert "features" in reason, f"the reason should carry the model's own error: {reason}"


def test_a_record_with_a_numeric_model_version_never_starts(tmp_path: Path, small_artifact: Path) -> None:
    shutil.copy(small_artifact / artifacts.MODEL_FILE, tmp_path / artifacts.MODEL_FILE)
    raw = json.loads((small_artifact / artifacts.METRICS_FILE).read_text())
    raw["model_version"] = 123
    (tmp_path / artifacts.METRICS_FILE).write_text(json.dumps(raw))
    result = _startup(tmp_path / artifacts.MODEL_FILE)
    assert result.returncode != 0
    assert "model_version" in _failure_line(result)["reason"]


def test_a_model_version_with_cr_lf_never_starts(small_artifact: Path) -> None:
    result = _startup(small_artifact / artifacts.MODEL_FILE, MODEL_VERSION="v1\r\nX-Injected: 1")
    assert result.returncode != 0, "CR/LF in MODEL_VERSION would split the X-Model-Version header"
    reason = _failure_line(result)["reason"]
    assert "invalid service setting" in reason, reason
    assert "model_version" in reason, reason


def test_an_artifact_that_failed_the_gate_is_never_served(tmp_path: Path, small_artifact: Path) -> None:
    shutil.copy(small_artifact / artifacts.MODEL_FILE, tmp_path / artifacts.MODEL_FILE)
    rec = record.read(small_artifact / artifacts.METRICS_FILE)
    assert rec.gate is not None
    failed = rec.gate.checks[0].model_copy(update={"outcome": "failed"})
    verdict = rec.gate.model_copy(
        update={"passed": False, "failed": [failed.id], "checks": [failed, *rec.gate.checks[1:]]}
    )
    record.write(rec.model_copy(update={"gate": verdict}), tmp_path / artifacts.METRICS_FILE)
    result = _startup(tmp_path / artifacts.MODEL_FILE)
    assert result.returncode != 0, "a model the gate rejected must not serve"
    assert "did not pass the quality gate" in _failure_line(result)["reason"]


def test_tampered_artifact_is_refused_before_loading(tmp_path: Path, small_artifact: Path) -> None:
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy(small_artifact / name, tmp_path / name)
    with open(tmp_path / artifacts.MODEL_FILE, "ab") as fh:
        fh.write(b"\x00")
    result = _startup(tmp_path / artifacts.MODEL_FILE)
    assert result.returncode != 0
    assert "refusing to load a file the gate did not measure" in _failure_line(result)["reason"]


def test_a_booby_trapped_model_never_runs_and_the_service_never_starts(tmp_path: Path, small_artifact: Path) -> None:
    result = _startup(_booby_trapped(tmp_path, small_artifact))
    assert result.returncode != 0, "a model file that needs untrusted types must not serve"
    assert "refusing to load untrusted types" in _failure_line(result)["reason"]
    assert not (tmp_path / "marker").exists(), "the service ran code from the model file at startup"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_a_1mib_batch_of_empty_rows_gets_413_without_stalling_health(server: str) -> None:
    """Before: 422 after 176 s, /health stalled up to 50 s. The bound is generous: a busy 2-core machine passes it."""
    body = b'{"customers":[' + b",".join([b"{}"] * 349_518) + b"]}"
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            outcome["response"] = loopback.post(
                f"{server}/predict/batch", content=body, headers={"Content-Type": "application/json"}, timeout=30
            )
        except httpx.TransportError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    slowest = 0.0
    with loopback.client(timeout=30) as client:
        while sender.is_alive():
            started = time.monotonic()
            assert client.get(f"{server}/health").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
    sender.join()
    response = outcome.get("response")
    assert isinstance(response, httpx.Response), f"the batch got no answer within 30 s: {outcome.get('error')}"
    assert response.status_code == 413, response.text[:300]
    assert slowest < 2.0, f"/health waited {slowest:.1f} s behind one hostile batch: validation blocks the worker"


def test_an_endless_request_header_is_cut_off_and_memory_stays_bounded(
    server_process: tuple[str, subprocess.Popen],
) -> None:
    """Before: uvicorn's httptools buffered every byte (4 x 32 MiB unfinished headers: +191 MB RSS)."""
    url, proc = server_process
    port = int(url.rsplit(":", 1)[1])
    before = _rss_mb(proc.pid)
    chunk, limit = b"a" * 65536, 16 * 1024 * 1024
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(4)]
    sent = [0] * len(sockets)
    closed = [False] * len(sockets)
    try:
        for sock in sockets:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ")
        while not all(closed) and min(sent) < limit:
            for i, sock in enumerate(sockets):
                if closed[i]:
                    continue
                try:
                    sock.sendall(chunk)
                    sent[i] += len(chunk)
                except OSError:  # reset or broken pipe: the server closed it
                    closed[i] = True
        grown = _rss_mb(proc.pid) - before
    finally:
        for sock in sockets:
            sock.close()
    assert all(closed), f"the server still read an unfinished header after {max(sent) >> 20} MiB on a connection"
    assert max(sent) <= 4 * 1024 * 1024, f"a header was cut off only after {max(sent) >> 20} MiB"
    assert grown < 50, f"the server grew by {grown:.0f} MB reading unfinished headers"
    assert loopback.get(f"{url}/health").status_code == 200, "the server must keep serving other clients"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"a" * 100_000 + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 431"), "a head over the limit should get 431, not silence"
    legit = loopback.get(f"{url}/health", headers={"X-Filler": "a" * 30_000})
    assert legit.status_code == 200, "a 30 KB head is within the limit (nginx allows 32 KB)"


FUZZ_EXAMPLES = 100  # per operation; a fixed seed keeps CI reproducible


def test_large_bodies_on_one_keepalive_connection_never_count_as_a_head(server: str) -> None:
    """A body's bytes belong to its request: counted toward the next head, every third 130 KB batch got a 431."""
    batch = {"customers": [{**schema.EXAMPLE_CUSTOMER, "customer_id": f"c{i:05d}"} for i in range(1000)]}
    with loopback.client(base_url=server, timeout=30) as client:
        statuses = [client.post("/predict/batch", json=batch).status_code for _ in range(6)]
    assert statuses == [200] * 6, f"large batches on one connection were refused: {statuses}"


def test_fuzzed_requests_never_get_a_5xx_or_break_the_schema(server: str, tmp_path: Path) -> None:
    """schemathesis generates valid and invalid requests from our own OpenAPI schema.

    It fails on any 5xx, any response that breaks the documented schema, any
    undocumented status code, and any schema-valid request the API rejects.
    """
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server}/openapi.json",
            "--checks=all",
            f"--max-examples={FUZZ_EXAMPLES}",
            "--seed=42",
        ],
        cwd=tmp_path,  # its replay cache stays out of the repository
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"schemathesis found failures:\n{result.stdout[-4000:]}"
    assert "No issues found" in result.stdout, result.stdout[-2000:]

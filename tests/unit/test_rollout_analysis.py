"""The rollout's rulers: reading logs mid-write, judging windows, refusing what the gate did not pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.analysis import LogCursor, VariantWindow, churn_share_bound, probability_psi
from deploy.rollout import RolloutConfig, check_candidate, gate_tolerance, ratchet_allows
from src import artifacts


def test_log_cursor_reads_only_new_complete_lines(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text('{"event":"access","path":"/health"}\n')
    cursor = LogCursor(log)  # opens at the end: old lines are not this window's
    with open(log, "a") as fh:
        fh.write('INFO: not json\n{"event":"access","path":"/predict","status":200,"latency_ms":1.0}\n{"event":"acc')
    assert [e["path"] for e in cursor.read()] == ["/predict"], "a half-written line must wait, not be lost or parsed"
    with open(log, "a") as fh:
        fh.write('ess","path":"/predict","status":500,"latency_ms":2.0}\n')
    assert [e["status"] for e in cursor.read()] == [500]


def test_window_counts_only_prediction_traffic_and_server_errors() -> None:
    window = VariantWindow()
    window.add(
        [
            {"event": "access", "path": "/health", "status": 200, "latency_ms": 0.1},
            {"event": "access", "path": "/predict", "status": 200, "latency_ms": 1.0},
            {"event": "access", "path": "/predict", "status": 500, "latency_ms": 9.0},
            {"event": "prediction", "request_id": "a", "churn_probability": 0.8, "prediction": 1},
        ]
    )
    assert window.requests == 2, "health checks are not traffic"
    assert window.success_rate == 0.5
    assert window.server_errors == 1
    assert window.churn_share == 1.0


def test_identical_score_distributions_have_zero_psi_and_shifted_ones_do_not() -> None:
    scores = [i / 200 for i in range(200)]
    assert probability_psi(scores, scores) == pytest.approx(0.0)
    assert probability_psi(scores, [min(s + 0.3, 1.0) for s in scores]) > 0.25


def test_churn_share_bound_widens_for_small_windows() -> None:
    def window(n: int, churners: int) -> VariantWindow:
        w = VariantWindow()
        w.scored, w.churn_predictions = n, churners
        return w

    small = churn_share_bound(window(40, 10), window(40, 10), floor=0.05)
    large = churn_share_bound(window(4000, 1000), window(4000, 1000), floor=0.05)
    assert small > 0.2, "with 40 requests a side, chance alone moves the share by ~0.1"
    assert large == 0.05, "with thousands of requests the floor applies"


def _pair(folder: Path, gate: dict | None, tamper: bool = False) -> Path:
    model = folder / artifacts.MODEL_FILE
    model.write_bytes(b"model bytes")
    metrics = {"model_sha256": artifacts.sha256_file(model), "holdout_auc": 0.85}
    if gate is not None:
        metrics["gate"] = gate
    artifacts.write_json(metrics, folder / artifacts.METRICS_FILE)
    if tamper:
        model.write_bytes(b"other bytes")
    return model


def test_candidate_without_a_passed_gate_or_with_a_swapped_file_is_refused(tmp_path: Path) -> None:
    for name, gate, tamper, message in [
        ("ungated", None, False, "passed gate"),
        ("failed", {"passed": False, "checks": []}, False, "passed gate"),
        ("swapped", {"passed": True, "checks": []}, True, "does not match"),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(ValueError, match=message):
            check_candidate(_pair(folder, gate, tamper))
    folder = tmp_path / "good"
    folder.mkdir()
    assert check_candidate(_pair(folder, {"passed": True, "checks": []}))["holdout_auc"] == 0.85


def test_the_ratchet_reads_the_gate_tolerance_and_blocks_a_regression(tmp_path: Path) -> None:
    metrics = {"holdout_auc": 0.80, "gate": {"checks": [{"check": "regression", "tolerance": 0.02}]}}
    assert gate_tolerance(metrics) == 0.02
    prod = tmp_path / "prod_metrics.json"
    prod.write_text(json.dumps({"holdout_auc": 0.85}))
    allowed, why = ratchet_allows(metrics, prod, 0.02)
    assert not allowed, why
    assert ratchet_allows({"holdout_auc": 0.84}, prod, 0.02)[0]
    assert ratchet_allows(metrics, tmp_path / "missing.json", 0.02)[0], "the first model has nothing to regress"


@pytest.mark.parametrize(
    ("steps", "message"),
    [((25, 5, 100), "rise"), ((5, 50), "100 %"), ((0, 100), "rise")],
)
def test_rollout_steps_must_rise_to_100(steps: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutConfig(steps=steps).validate()

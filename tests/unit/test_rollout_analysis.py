"""The rollout's rulers: reading logs mid-write, judging windows, refusing what the gate did not pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.analysis import LogCursor, VariantWindow, churn_share_bound, probability_psi
from deploy.rollout import RolloutSettings, check_candidate, ratchet_allows
from src import artifacts, record
from src.record import ArtifactRecord


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


def test_window_counts_only_prediction_traffic() -> None:
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
    assert window.success_rate == 0.5, "a 500 is a failed request"
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


def _pair(folder: Path, base: ArtifactRecord, passed: bool | None, tamper: bool = False) -> Path:
    """A copy of a real gated pair, its verdict set to `passed` (None: no gate ran), the file swapped if asked."""
    folder.mkdir()
    model = folder / artifacts.MODEL_FILE
    model.write_bytes(b"model bytes")
    gate = None
    if passed is not None and base.gate is not None:
        checks = base.gate.checks if passed else [base.gate.checks[0].model_copy(update={"outcome": "failed"})]
        gate = base.gate.model_copy(
            update={"passed": passed, "checks": checks, "failed": [] if passed else [checks[0].id]}
        )
    record.write(
        base.model_copy(update={"model_sha256": artifacts.sha256_file(model), "gate": gate}),
        folder / artifacts.METRICS_FILE,
    )
    if tamper:
        model.write_bytes(b"other bytes")
    return model


def test_candidate_without_a_passed_gate_or_with_a_swapped_file_is_refused(
    tmp_path: Path, small_artifact: Path
) -> None:
    base = record.read(small_artifact / artifacts.METRICS_FILE)
    for name, passed, tamper, message in [
        ("ungated", None, False, "did not pass the quality gate"),
        ("failed", False, False, "did not pass the quality gate"),
        ("swapped", True, True, "does not match"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_candidate(_pair(tmp_path / name, base, passed, tamper))
    assert check_candidate(_pair(tmp_path / "good", base, True)).holdout_auc == base.holdout_auc


def test_the_ratchet_blocks_a_regression_beyond_the_tolerance(tmp_path: Path, small_artifact: Path) -> None:
    base = record.read(small_artifact / artifacts.METRICS_FILE)
    prod = tmp_path / "prod_metrics.json"
    record.write(base.model_copy(update={"holdout_auc": 0.85}), prod)
    allowed, why = ratchet_allows(base.model_copy(update={"holdout_auc": 0.80}), prod, 0.02)
    assert not allowed, why
    assert ratchet_allows(base.model_copy(update={"holdout_auc": 0.84}), prod, 0.02)[0]
    assert ratchet_allows(base, tmp_path / "missing.json", 0.02)[0], "the first model has nothing to regress"


@pytest.mark.parametrize(
    ("steps", "message"),
    [((25, 5, 100), "rise"), ((5, 50), "100 %"), ((0, 100), "rise")],
)
def test_rollout_steps_must_rise_to_100(steps: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutSettings(steps=steps).check()

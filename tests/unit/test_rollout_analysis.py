"""The rollout's rulers: reading logs mid-write, judging windows, refusing what the gate did not pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from deploy.control.candidate import check_candidate, ratchet_allows, verify_measured
from deploy.rules.analysis import (
    LatencyVerdict,
    LogCursor,
    VariantWindow,
    chance_gap,
    churn_share_bound,
    probability_psi,
)
from deploy.settings import RolloutSettings
from src import artifacts, record

ALPHA = RolloutSettings().churn_share_alpha


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


def window_of(n: int, churners: int) -> VariantWindow:
    w = VariantWindow()
    w.scored, w.churn_predictions = n, churners
    return w


def test_churn_share_bound_widens_for_small_windows() -> None:
    window = window_of
    small = churn_share_bound(window(40, 10), window(40, 10), floor=0.05, alpha=ALPHA)
    large = churn_share_bound(window(4000, 1000), window(4000, 1000), floor=0.05, alpha=ALPHA)
    assert small > 0.2, "with 40 requests a side, chance alone moves the share by ~0.1"
    assert large == 0.05, "with thousands of requests the floor applies"


@pytest.mark.parametrize(("stable_n", "candidate_n"), [(760, 40), (855, 45), (150, 50), (300, 300), (1500, 1500)])
@pytest.mark.parametrize("share", [0.15, 0.22, 0.27, 0.4])
def test_an_unchanged_churn_share_is_almost_never_called_shifted(stable_n: int, candidate_n: int, share: float) -> None:
    """A healthy canary's users are a random share of the same customers: the gap is chance alone.

    The exact chance that the bound fires, summed over every pair of churn
    counts two windows of these sizes draw at `share` (binomial), at a 5 %
    step's sizes and larger ones: at most alpha at the project's churn shares
    (0.22-0.27), at most 1.5 x alpha where 40 requests meet a rare share (the
    normal bound's skew), never the bare 3 SE bound's 1.6 x at the snapshot's.
    """
    stable_pmf, candidate_pmf = (
        binom.pmf(np.arange(stable_n + 1), stable_n, share),
        binom.pmf(np.arange(candidate_n + 1), candidate_n, share),
    )
    stable_c, candidate_c = np.meshgrid(np.arange(stable_n + 1), np.arange(candidate_n + 1), indexing="ij")
    gap = np.abs(candidate_c / candidate_n - stable_c / stable_n)
    fires = gap > chance_gap(stable_n, stable_c, candidate_n, candidate_c, ALPHA)
    chance = float((np.outer(stable_pmf, candidate_pmf) * fires).sum())
    allowed = ALPHA if 0.2 <= share <= 0.3 else 1.5 * ALPHA
    assert chance <= allowed, f"an unchanged {share:.0%} churn share is rolled back in {chance:.2e} of windows"
    single = churn_share_bound(window_of(stable_n, round(stable_n * share)), window_of(candidate_n, 0), 0.0, ALPHA)
    assert single == pytest.approx(chance_gap(stable_n, round(stable_n * share), candidate_n, 0, ALPHA))


def _pair(folder: Path, source: Path, passed: bool | None, tamper: bool = False) -> Path:
    """A copy of a real gated pair, its verdict set to `passed` (None: no gate ran), the file swapped if asked."""
    folder.mkdir()
    base = record.read(source / artifacts.METRICS_FILE)
    model = folder / artifacts.MODEL_FILE
    model.write_bytes((source / artifacts.MODEL_FILE).read_bytes())
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
            check_candidate(_pair(tmp_path / name, small_artifact, passed, tamper))
    assert check_candidate(_pair(tmp_path / "good", small_artifact, True)).holdout_auc == base.holdout_auc


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


def _latencies(rng: np.random.Generator, n: int, slow_share: float = 0.0, extra_ms: float = 0.0) -> list[float]:
    """Service latencies on a busy machine: lognormal around 2.5 ms, plus 2 % scheduling stalls of ~15 ms."""
    base = rng.lognormal(np.log(2.5), 0.5, n) + (rng.random(n) < 0.02) * rng.exponential(15, n)
    return (base + (rng.random(n) < slow_share) * extra_ms).tolist()


def _rejections(n_stable: int, n_candidate: int, runs: int = 400, **candidate: float) -> float:
    rng = np.random.default_rng(7)
    verdicts = [
        LatencyVerdict.judge(
            _latencies(rng, n_stable), _latencies(rng, n_candidate, **candidate), 1.2, 5.0, 0.001, 0.01
        ).failed
        for _ in range(runs)
    ]
    return sum(bool(v) for v in verdicts) / runs


def test_a_p_value_is_computed_only_where_its_effect_could_fail_the_window() -> None:
    """A window whose tail excess and median are within their bounds cannot fail, whatever a test would say."""
    rng = np.random.default_rng(3)
    same = LatencyVerdict.judge([5.0] * 200, [5.0] * 200, 1.2, 5.0, 0.001, 0.01)
    assert (same.tail_p, same.centre_p, same.failed) == (None, None, ""), "an identical window needs no test"
    slow = LatencyVerdict.judge(_latencies(rng, 1500), _latencies(rng, 1500, 1.0, 20.0), 1.2, 5.0, 0.001, 0.01)
    assert slow.centre_p is not None, "a median past its bound must be tested"
    assert slow.centre_p < 0.001, slow
    assert slow.failed.startswith("candidate slower"), slow


@pytest.mark.parametrize(("n_stable", "n_candidate"), [(1500, 1500), (1900, 100), (150, 150)], ids=str)
def test_an_identical_candidate_is_almost_never_called_slower(n_stable: int, n_candidate: int) -> None:
    rate = _rejections(n_stable, n_candidate)
    assert rate <= 0.005, f"an A/A candidate was called slower in {rate:.1%} of windows: the verdict is a coin flip"


def test_a_candidate_slow_on_3_percent_of_requests_is_caught_in_a_shadow_window() -> None:
    rate = _rejections(1500, 1500, slow_share=0.03, extra_ms=100.0)
    assert rate >= 0.99, f"3 % of requests 100 ms slower was caught in only {rate:.1%} of 1,500-request windows"


@pytest.mark.parametrize(("n_stable", "n_candidate"), [(1500, 1500), (1900, 100)], ids=str)
def test_a_candidate_20ms_slower_on_every_request_is_caught(n_stable: int, n_candidate: int) -> None:
    rate = _rejections(n_stable, n_candidate, slow_share=1.0, extra_ms=20.0)
    assert rate >= 0.99, f"+20 ms on every request was caught in only {rate:.1%} of windows"


def test_an_edited_record_is_refused_before_any_traffic(tmp_path: Path, small_artifact: Path) -> None:
    model = tmp_path / artifacts.MODEL_FILE
    model.write_bytes((small_artifact / artifacts.MODEL_FILE).read_bytes())
    honest = record.read(small_artifact / artifacts.METRICS_FILE)
    record.write(honest.model_copy(update={"holdout_auc": 0.999}), tmp_path / artifacts.METRICS_FILE)
    with pytest.raises(ValueError, match="does not describe its model"):
        verify_measured(model, record.read(tmp_path / artifacts.METRICS_FILE), small_artifact / "snapshot.csv")
    verify_measured(small_artifact / artifacts.MODEL_FILE, honest, small_artifact / "snapshot.csv")  # the honest one


def test_a_record_gated_on_another_snapshot_cannot_be_re_measured(tmp_path: Path, small_artifact: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_bytes((small_artifact / "snapshot.csv").read_bytes() + b"\n")
    rec = record.read(small_artifact / artifacts.METRICS_FILE)
    with pytest.raises(ValueError, match="ROLLOUT_GATE_DATA"):
        verify_measured(small_artifact / artifacts.MODEL_FILE, rec, other)

"""The rollout's window checks are declared once: every engine judges them by id, none by the wording of a sentence."""

from __future__ import annotations

import dataclasses

import pytest

from deploy.drivers import prom_engine
from deploy.render.page import CHECK_NAMES
from deploy.rules import promql, window
from deploy.rules.analysis import VariantWindow
from deploy.settings import RolloutSettings

CFG = RolloutSettings()


def _window(n: int, status: int = 200, latency_ms: float = 5.0, churn_every: int = 4) -> VariantWindow:
    """n answered /predict requests, as the service logs them: an access line and a prediction line each."""
    w = VariantWindow()
    for i in range(n):
        churn = int(i % churn_every == 0)
        access = {"event": "access", "path": "/predict", "status": status, "latency_ms": latency_ms + (i % 7) / 10}
        w.add(
            [
                access,
                {
                    "event": "prediction",
                    "request_id": f"r{i}",
                    "churn_probability": 0.2 + 0.6 * churn,
                    "prediction": churn,
                },
            ]
        )
    return w


def test_every_declared_check_is_judged_by_the_log_engine():
    assert set(window._LOG_ENGINE) == set(window.BY_ID), "a declared check the log engine cannot judge, or the reverse"


def test_every_check_promql_names_is_a_query_the_export_carries():
    queries = {c.name for c in promql.checks(CFG, "1m", "10m")}
    declared = {c.promql for c in window.WINDOW_CHECKS if c.promql}
    assert declared == queries, f"window checks name {declared}, the PromQL export carries {queries}"
    assert set(prom_engine.CHECK_OF_QUERY.values()) <= set(window.BY_ID)


def test_every_threshold_a_check_names_is_a_rollout_setting():
    for check in window.WINDOW_CHECKS:
        unknown = set(check.bounded_by) - set(RolloutSettings.model_fields)
        assert not unknown, f"{check.id} is bounded by {unknown}, which RolloutSettings does not have"


def test_the_page_labels_each_check_as_declared():
    assert {c.id: c.label for c in window.WINDOW_CHECKS} == CHECK_NAMES


@pytest.mark.parametrize("stage", ["shadow", "canary 25%"])
def test_a_healthy_window_passes_every_check_of_its_stage(stage: str):
    stable, candidate = _window(400), _window(400)
    figures = window.measure(stage, stable, candidate, CFG, list(stable.latencies_ms or []))
    verdict = window.judge(stage, figures, CFG)
    assert verdict.passed, verdict.reason
    assert [o.check for o in verdict.outcomes] == [c.id for c in window.checks_for(stage)]


def test_a_candidate_that_errors_fails_the_success_check_by_id():
    stable, candidate = _window(400), _window(400, status=500)
    figures = window.measure("canary 50%", stable, candidate, CFG, list(stable.latencies_ms or []))
    verdict = window.judge("canary 50%", figures, CFG)
    failed = [o.check for o in verdict.outcomes if o.passed is False]
    assert failed[0] == "success", f"an erroring candidate failed {failed}, not the success check first"
    assert verdict.reason.startswith("candidate success 0.0% <"), verdict.reason


def test_the_promql_engine_replaces_checks_by_id_and_keeps_the_rest():
    stable, candidate = _window(400), _window(400, status=500)
    figures = window.measure("canary 50%", stable, candidate, CFG, list(stable.latencies_ms or []))
    logs = window.judge("canary 50%", figures, CFG)
    cleared = [window.Outcome("success", "prometheus", True), window.Outcome("latency", "prometheus", True)]
    replaced = logs.replaced(cleared)
    assert [o.check for o in replaced.outcomes] == [o.check for o in logs.outcomes], "the declared order moved"
    assert {o.check: o.engine for o in replaced.outcomes}["success"] == "prometheus"
    assert {o.check: o.engine for o in replaced.outcomes}["churn_share"] == "logs", "a log-only check was dropped"


def test_no_evidence_from_an_engine_fails_the_window_saying_inconclusive():
    stable, candidate = _window(400), _window(400)
    figures = window.measure("canary 5%", stable, candidate, CFG, list(stable.latencies_ms or []))
    none = [window.Outcome("success", "prometheus", None), window.Outcome("latency", "prometheus", None)]
    verdict = window.judge("canary 5%", figures, CFG).replaced(none, "no evidence for success-rate in 12000ms")
    assert not verdict.passed, "a window no engine could judge passed"
    assert verdict.reason == "inconclusive: no evidence for success-rate in 12000ms"


def test_an_engine_cannot_judge_a_check_the_stage_does_not_have():
    stable, candidate = _window(400), _window(400)
    figures = window.measure("canary 5%", stable, candidate, CFG, list(stable.latencies_ms or []))
    with pytest.raises(ValueError, match="score_psi"):
        window.judge("canary 5%", figures, CFG).replaced([window.Outcome("score_psi", "prometheus", True)])


def test_the_verdict_is_typed_not_prose():
    fields = {f.name for f in dataclasses.fields(window.WindowVerdict)}
    assert fields == {"stage", "outcomes", "inconclusive"}


@pytest.mark.parametrize("cfg", [CFG, RolloutSettings(p99_ratio=1.5, p99_slack_ms=10.0)], ids=["defaults", "looser"])
def test_the_promql_latency_check_compares_each_edge_with_the_highest_edge_behind_the_allowance(
    cfg: RolloutSettings,
) -> None:
    """A candidate within the allowance can only lose to stable's share above e' if e' sits behind the allowance."""
    edges = sorted(promql.LATENCY_BUCKETS)
    pairs = promql.allowance_edges(cfg)
    assert pairs, "no edge is tested: the PromQL latency check would judge nothing"
    for e, lower in pairs:
        allowed = max(cfg.p99_ratio * lower, lower + cfg.p99_slack_ms / 1000)
        assert allowed <= e + 1e-9, f"edge {e} s is compared with {lower} s, whose allowance reaches {allowed} s"
        above = [b for b in edges if lower < b < e]
        assert all(max(cfg.p99_ratio * b, b + cfg.p99_slack_ms / 1000) > e + 1e-9 for b in above), (
            f"edge {e} s is compared with {lower} s, not the highest edge behind the allowance: the check loses power"
        )
    untested = [b for b in edges if b not in {e for e, _ in pairs}]
    behind = [b for b in untested if any(x <= min(b / cfg.p99_ratio, b - cfg.p99_slack_ms / 1000) for x in edges)]
    assert not behind, f"edges {behind} have an edge behind the allowance, yet are not tested: slowness there passes"


def test_a_zero_tail_excess_is_refused_it_would_make_the_promql_latency_z_not_a_number() -> None:
    """On an edge neither variant crosses, the z is (0 - tail_excess_min) / 0: -Inf, floored to 0; at 0 it is NaN."""
    with pytest.raises(ValueError, match="tail_excess_min"):
        RolloutSettings(tail_excess_min=0)


def test_an_allowance_that_leaves_no_edge_to_test_is_refused_in_one_line() -> None:
    top = max(promql.LATENCY_BUCKETS) * 1000
    with pytest.raises(ValueError, match="no latency edge to test") as refused:
        promql.checks(RolloutSettings(p99_slack_ms=top), "1m", "10m")
    assert "\n" not in str(refused.value), f"not one line: {refused.value}"


@pytest.mark.parametrize("field", ["latency_alpha", "churn_share_alpha"])
def test_an_alpha_of_zero_is_refused_it_would_pass_every_candidate(field: str) -> None:
    """z at alpha 0 is infinite: no latency excess and no churn-share shift could ever fail a window."""
    with pytest.raises(ValueError, match=field):
        RolloutSettings(**{field: 0})

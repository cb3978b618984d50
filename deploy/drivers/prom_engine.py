"""The PromQL engine: a rollout window judged with the cluster's queries against the stack's own Prometheus.

`ROLLOUT_ANALYSIS=prometheus` makes the local rollout a rehearsal of the
cluster one: every window check that declares a `promql` query
(deploy/rules/window.py: success, latency) is judged by the very query the
Argo/Flagger export carries (deploy/rules/promql.py), over the window just
driven, and replaces the log engine's outcome by id. The log figures are
still computed beside them, so every report row shows both engines. The
shadow score PSI and the churn-share shift stay log-based (they need
per-request scores, see deploy/rules/promql.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from deploy.drivers import prometheus
from deploy.rules import promql
from deploy.rules.window import WINDOW_CHECKS, Outcome
from deploy.settings import RolloutSettings

CHECK_OF_QUERY = {c.promql: c.id for c in WINDOW_CHECKS if c.promql}  # the window check each query judges


@dataclass(frozen=True)
class PromVerdict:
    candidate_requests: float | None
    success_rate: float | None
    latency_z: float | None  # the latency check's figure: <= its bound passes
    candidate_p99_ms: float | None  # shown beside the log engine's; the check does not compare p99s
    p99_bound_ms: float | None
    verdict: str  # pass | fail | inconclusive
    reason: str = ""


@dataclass(frozen=True)
class Judged:
    """The engine's outcomes by window-check id, its figures for the record, and why it could not judge."""

    figures: PromVerdict
    outcomes: tuple[Outcome, ...]
    inconclusive: str = ""


LOOKBACK_S = 2.0  # two scrape intervals before the window opened


def _range(seconds: float) -> str:
    """The window plus LOOKBACK_S, to the millisecond.

    increase() needs a sample from before the first request of the window; a
    range of exactly the window held only post-traffic samples under load and
    read 0 requests (docs/benchmarks.md). No /predict
    traffic flows between two windows (judging waits for a scrape after the
    window closed; the stage switch itself is a file write), so the lookback
    adds none.
    """
    return f"{math.ceil((seconds + LOOKBACK_S) * 1000)}ms"


def judge(url: str, cfg: RolloutSettings, window_start: float, rollout_start: float) -> Judged:
    """The PromQL checks over [window_start, now]; stable's latency over the whole rollout so far.

    Waits for a scrape that began after the window closed, so the last
    requests are in; `window_start` and `rollout_start` are wall-clock times.
    """
    end = time.time()
    prometheus.wait_fresh(url, end)
    at = time.time()
    window, reference = _range(at - window_start), _range(at - rollout_start)
    checks = {c.name: c for c in promql.checks(cfg, window, reference)}
    values = {name: prometheus.query(url, c.query, at) for name, c in checks.items()}
    figures = {
        "candidate_requests": prometheus.query(url, promql.candidate_requests(window), at),
        "success_rate": values["success-rate"],
        "latency_z": values["latency-excess"],
        "candidate_p99_ms": prometheus.query(url, promql.candidate_p99_ms(cfg, window), at),
        "p99_bound_ms": prometheus.query(url, promql.p99_bound_ms(cfg, reference), at),
    }
    missing = [name for name, v in values.items() if v is None]
    if missing:
        why = f"no evidence for {', '.join(missing)} in {window}"
        outcomes = tuple(Outcome(CHECK_OF_QUERY[name], "prometheus", None) for name in checks)
        return Judged(PromVerdict(**figures, verdict="inconclusive", reason=why), outcomes, why)
    judged = [(name, _problem(checks[name], values[name])) for name in checks]
    outcomes = tuple(Outcome(CHECK_OF_QUERY[name], "prometheus", not problem, problem) for name, problem in judged)
    reason = "; ".join(problem for _, problem in judged if problem)
    return Judged(PromVerdict(**figures, verdict="fail" if reason else "pass", reason=reason), outcomes)


def _problem(check: promql.Check, value: float | None) -> str:
    """The one line a PromQL check says when its number is out of range; "" when within."""
    assert value is not None
    if check.min is not None and value < check.min:
        return f"prometheus: {check.name} {value:.3f} < {check.min}"
    if check.max is not None and value > check.max:
        return f"prometheus: {check.name} {value:.2f} > {check.max}"
    return ""

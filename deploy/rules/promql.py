"""The canary checks, written once in PromQL, from RolloutSettings's thresholds.

The local controller judges windows from the services' logs; on a cluster,
Argo Rollouts and Flagger judge them from Prometheus. Both must apply the same
rules, so the rules live here once and every engine renders them: the export
(`deploy/render/manifests.py`: Argo AnalysisTemplate, Flagger MetricTemplates, a plain
rules file) and the promtool tests (`tests/deploy/test_export.py`).

Each check is one query that returns one number, compared with a fixed bound:

    success rate     share of candidate /predict answers < 400       >= min_success_rate
                     (499, a client that hung up, counts for neither side)
    latency excess   the largest z, over the latency edges, of the    <= z(alpha / edges)
                     candidate's excess share of requests above an
                     edge, beyond tail_excess_min

The latency check counts requests, as the log engine's test does
(deploy/rules/analysis.py LatencyVerdict: Fisher and Mann-Whitney on the
same window), rather than comparing a p99 with a p99: a p99 of a few
hundred requests is nearly their maximum, and one scheduling stall on a
busy machine moved an identical candidate over its bound. A
candidate within the allowance (never slower than max(p99_ratio x, x +
p99_slack_ms) of stable) puts no larger share of its requests above an edge
e than stable puts above e', the highest edge at or below min(e / ratio,
e - slack). So, at each edge with such an e', the check takes the candidate's
share above e minus stable's share above e', less tail_excess_min, in
standard errors of "no difference" (pooled), and the largest over the edges
must stay below z at latency_alpha split over the edges (Bonferroni). For
any counts, a z over that bound means an excess of at least tail_excess_min
and an excess z over the bound: both of the log engine's conditions, with a
normal test for its Fisher one. It is no exact test of "excess <=
tail_excess_min" (near that boundary it fails more often than alpha) and,
like the log engine's, it takes requests as independent. A tail (3 % of
requests 100 ms slower) and a centre (+20 ms on every request) both show as
a large excess at some edge; an identical candidate stays at or below 0 in
expectation.

The minimum-request guard sits inside each query (`and on() requests >= N`):
a window with too little traffic returns no sample at all, never a number, so
no engine can mistake "no data" for "healthy". What an engine then does with
an empty result differs (Argo: inconclusive, the rollout pauses; Flagger: a
failed check) and is documented in docs/kubernetes.md.

Which pods are "candidate" and "stable" is the one thing that differs per
engine: the services label their metrics with MODEL_VARIANT, which is enough
on one machine; on a cluster both revisions run the same pod template, so the
selector is the pod-template hash (Argo) or the pod name (Flagger).

The shadow comparison (score PSI on identical requests) is not here: it needs
the two variants' scores joined by request id, and the probability histogram
is cumulative per `le` series, so per-bin shares would need one hand-written
subtraction per bucket pair. It runs as a job/webhook (deploy/release_checks.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString
from scipy.stats import norm

from app.observability import LATENCY_BUCKETS
from deploy.settings import RolloutSettings

PREDICT_ENDPOINTS = 'endpoint=~"/predict|/predict/batch"'  # the analysis covers what users call, not /health
ANSWERED = 'status!="499"'  # a client that hung up (499) is no request to judge, as in the log-based analysis
SUCCESS_STATUS = 'status=~"[123].."'  # < 400, as the log-based analysis counts success
LATENCY = "churn_request_latency_seconds_bucket"  # 499s never enter it (app/middleware.py)


@dataclass(frozen=True)
class Selectors:
    """Label matchers that pick each variant's series (without braces)."""

    candidate: str = 'variant="candidate"'
    stable: str = 'variant="stable"'


LOCAL = Selectors()


def _requests(sel: str, window: str) -> str:
    return f"sum(increase(churn_requests_total{{{sel},{PREDICT_ENDPOINTS},{ANSWERED}}}[{window}]))"


def _successes(sel: str, window: str) -> str:
    # `or vector(0)`: a candidate that answers only 500s has no success series at all
    return f"(sum(increase(churn_requests_total{{{sel},{PREDICT_ENDPOINTS},{SUCCESS_STATUS}}}[{window}])) or vector(0))"


def _p99_ms(sel: str, window: str) -> str:
    buckets = f"{LATENCY}{{{sel},{PREDICT_ENDPOINTS}}}"
    return f"(1000 * histogram_quantile(0.99, sum by (le) (rate({buckets}[{window}]))))"


def _enough(sel: str, window: str, minimum: int) -> str:
    return f"on() ({_requests(sel, window)} >= {minimum})"


def candidate_requests(window: str, sel: Selectors = LOCAL) -> str:
    """The candidate's /predict requests in the window (a figure, not a check)."""
    return _requests(sel.candidate, window)


def success_rate(cfg: RolloutSettings, window: str, sel: Selectors = LOCAL) -> str:
    """Share of candidate requests answered < 400; no sample below cfg.min_requests."""
    ratio = f"{_successes(sel.candidate, window)} / {_requests(sel.candidate, window)}"
    return f"({ratio}) and {_enough(sel.candidate, window, cfg.min_requests)}"


def candidate_p99_ms(cfg: RolloutSettings, window: str, sel: Selectors = LOCAL) -> str:
    return f"{_p99_ms(sel.candidate, window)} and {_enough(sel.candidate, window, cfg.min_requests)}"


def p99_bound_ms(cfg: RolloutSettings, reference_window: str, sel: Selectors = LOCAL) -> str:
    """max(ratio x stable p99, stable p99 + slack), stable measured over the reference window.

    The reference window is longer than a step's: at the 100 % step stable
    serves nothing, and the local controller likewise keeps the last stable
    p99 it could measure.
    """
    stable = _p99_ms(sel.stable, reference_window)
    bound = f"(({cfg.p99_ratio} * {stable}) >= ({stable} + {cfg.p99_slack_ms})) or ({stable} + {cfg.p99_slack_ms})"
    return f"({bound}) and {_enough(sel.stable, reference_window, cfg.min_requests)}"


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def allowance_edges(cfg: RolloutSettings) -> list[tuple[float, float]]:
    """Each latency edge e paired with e', the highest edge a candidate within the allowance stays behind.

    A candidate request above e means stable's matching request lies above
    min(e / ratio, e - slack), so above e'. An edge with no edge at or below
    that point (the lowest ones, within the slack) tests nothing.
    """
    edges = sorted(_us(b) for b in LATENCY_BUCKETS)
    pairs = []
    for e in edges:
        limit = min(e / cfg.p99_ratio, e - _us(cfg.p99_slack_ms / 1000))
        lower = [b for b in edges if b <= limit]
        if lower:
            pairs.append((e / 1_000_000, max(lower) / 1_000_000))
    return pairs


def latency_z_max(cfg: RolloutSettings) -> float:
    """The latency check's bound: z at latency_alpha, split over the edges it tests (Bonferroni)."""
    edges = allowance_edges(cfg)
    if not edges:
        raise ValueError(
            f"p99_ratio {cfg.p99_ratio} and p99_slack_ms {cfg.p99_slack_ms} leave no latency edge to test "
            f"(app/observability.py LATENCY_BUCKETS): the PromQL latency check would judge nothing"
        )
    return round(float(norm.isf(cfg.latency_alpha / len(edges))), 3)


def _edge_counts(sel: str, window: str, le: str) -> str:
    return f"sum by (le) (increase({LATENCY}{{{sel},{PREDICT_ENDPOINTS},le{le}}}[{window}]))"


def _is(edge: float) -> str:
    return f'="{floatToGoString(edge)}"'


def _count(sel: str, window: str) -> str:
    return f'sum(increase({LATENCY}{{{sel},{PREDICT_ENDPOINTS},le="+Inf"}}[{window}]))'


def latency_excess(cfg: RolloutSettings, window: str, reference_window: str, sel: Selectors = LOCAL) -> str:
    """The largest z of the candidate's excess share above an edge; no sample without enough traffic.

    Per edge e: candidate's share above e (this window) minus stable's share
    above e' (the reference window: at 100 % stable serves nothing, so a load
    spike inside the window weighs on the candidate's side alone), minus
    tail_excess_min, over the pooled standard error. Stable's counts at e'
    are relabelled to le=e so the two line up by `le`.
    """
    pairs = allowance_edges(cfg)
    tested = "|".join(re.escape(floatToGoString(e)) for e, _ in pairs)
    n_c, n_s = _count(sel.candidate, window), _count(sel.stable, reference_window)
    below_c = _edge_counts(sel.candidate, window, f"=~`{tested}`")
    below_s = " or ".join(
        f'label_replace({_edge_counts(sel.stable, reference_window, _is(lower))}, "le", "{floatToGoString(e)}", "", "")'
        for e, lower in pairs
    )
    above_c, above_s = f"({n_c} - on() group_right() ({below_c}))", f"({n_s} - on() group_right() ({below_s}))"
    excess = f"({above_c} / on() group_left() {n_c} - {above_s} / on() group_left() {n_s} - {cfg.tail_excess_min})"
    pooled = f"(({above_c} + {above_s}) / on() group_left() ({n_c} + {n_s}))"
    variance = f"({pooled} * (1 - {pooled}) * on() group_left() (1 / {n_c} + 1 / {n_s}))"
    # Floored at 0, "no evidence of slowness": where neither variant has a request above an edge the z is -Inf.
    z = f"clamp_min(max({excess} / sqrt({variance})), 0)"
    return (
        f"({z}) and {_enough(sel.candidate, window, cfg.min_requests)}"
        f" and {_enough(sel.stable, reference_window, cfg.min_requests)}"
    )


@dataclass(frozen=True)
class Check:
    """One canary check: a query and the range its one number must stay in."""

    name: str
    query: str
    min: float | None = None
    max: float | None = None

    def verdict(self) -> str:
        """1 when the number is within range, 0 when not, no sample when there is no evidence."""
        if self.min is not None:
            return f"({self.query}) >= bool {self.min}"
        return f"({self.query}) <= bool {self.max}"


def checks(cfg: RolloutSettings, window: str, reference_window: str, sel: Selectors = LOCAL) -> list[Check]:
    """Every canary check, in the order the engines report them."""
    return [
        Check("success-rate", success_rate(cfg, window, sel), min=cfg.min_success_rate),
        Check("latency-excess", latency_excess(cfg, window, reference_window, sel), max=latency_z_max(cfg)),
    ]


def rules(cfg: RolloutSettings, window: str, reference_window: str, sel: Selectors = LOCAL) -> dict:
    """A Prometheus rules file: each check's figure and verdict as recorded series (promtool checks it)."""
    group = []
    for check in checks(cfg, window, reference_window, sel):
        name = check.name.replace("-", "_")
        group.append({"record": f"churn_canary:{name}", "expr": check.query})
        group.append({"record": f"churn_canary:{name}:ok", "expr": check.verdict()})
    return {"groups": [{"name": "churn-canary", "rules": group}]}

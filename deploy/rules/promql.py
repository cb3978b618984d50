"""The canary checks, written once in PromQL, from RolloutSettings's thresholds.

The local controller judges windows from the services' logs; on a cluster,
Argo Rollouts and Flagger judge them from Prometheus. Both must apply the same
rules, so the rules live here once and every engine renders them: the export
(`deploy/render/manifests.py`: Argo AnalysisTemplate, Flagger MetricTemplates, a plain
rules file) and the promtool tests (`tests/unit/test_export.py`).

Each check is one query that returns one number, compared with a fixed bound:

    success rate     share of candidate /predict answers < 400       >= min_success_rate
                     (499, a client that hung up, counts for neither side)
    p99 over bound   candidate p99 / max(ratio x stable p99,         <= 1
                     stable p99 + slack)

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

from dataclasses import dataclass

from deploy.settings import RolloutSettings

PREDICT_ENDPOINTS = 'endpoint=~"/predict|/predict/batch"'  # the analysis covers what users call, not /health
ANSWERED = 'status!="499"'  # a client that hung up (499) is no request to judge, as in the log-based analysis
SUCCESS_STATUS = 'status=~"[123].."'  # < 400, as the log-based analysis counts success


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
    buckets = f"churn_request_latency_seconds_bucket{{{sel},{PREDICT_ENDPOINTS}}}"
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


def p99_over_bound(cfg: RolloutSettings, window: str, reference_window: str, sel: Selectors = LOCAL) -> str:
    """Candidate p99 divided by its allowed bound: <= 1 passes; no sample without enough traffic."""
    return f"({candidate_p99_ms(cfg, window, sel)}) / ({p99_bound_ms(cfg, reference_window, sel)})"


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
        Check("p99-over-bound", p99_over_bound(cfg, window, reference_window, sel), max=1.0),
    ]


def rules(cfg: RolloutSettings, window: str, reference_window: str, sel: Selectors = LOCAL) -> dict:
    """A Prometheus rules file: each check's figure and verdict as recorded series (promtool checks it)."""
    group = []
    for check in checks(cfg, window, reference_window, sel):
        name = check.name.replace("-", "_")
        group.append({"record": f"churn_canary:{name}", "expr": check.query})
        group.append({"record": f"churn_canary:{name}:ok", "expr": check.verdict()})
    return {"groups": [{"name": "churn-canary", "rules": group}]}

"""Judge a rollout window with the cluster's PromQL against the stack's own Prometheus.

`ROLLOUT_ANALYSIS=prometheus` makes the local rollout a rehearsal of the
cluster one: the success-rate and p99 checks are the very queries the
Argo/Flagger export carries (deploy/promql.py), evaluated over the window
just driven; the log-based figures are still computed beside them, so every
report row shows both engines. The shadow score PSI and the churn-share shift
stay log-based (they need per-request scores, see deploy/promql.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy import prometheus, promql

if TYPE_CHECKING:
    from deploy.rollout import RolloutSettings

LOG_CHECKS = ("candidate success", "candidate slower")  # the log-based problems PromQL replaces


@dataclass(frozen=True)
class PromVerdict:
    candidate_requests: float | None
    success_rate: float | None
    candidate_p99_ms: float | None
    p99_bound_ms: float | None
    verdict: str  # pass | fail | inconclusive
    reason: str = ""


LOOKBACK_S = 2.0  # two scrape intervals before the window opened


def _range(seconds: float) -> str:
    """The window plus LOOKBACK_S, to the millisecond.

    increase() needs a sample from before the first request of the window; a
    range of exactly the window held only post-traffic samples under load and
    read 0 requests (measured 2026-11-23 with two CPU burners). No /predict
    traffic flows between two windows (judging waits for a scrape after the
    window closed; the stage switch itself is a file write), so the lookback
    adds none.
    """
    return f"{math.ceil((seconds + LOOKBACK_S) * 1000)}ms"


def judge(url: str, cfg: RolloutSettings, window_start: float, rollout_start: float) -> PromVerdict:
    """The PromQL checks over [window_start, now]; stable's p99 over the whole rollout so far.

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
        "candidate_p99_ms": prometheus.query(url, promql.candidate_p99_ms(cfg, window), at),
        "p99_bound_ms": prometheus.query(url, promql.p99_bound_ms(cfg, reference), at),
    }
    if any(v is None for v in values.values()):
        missing = ", ".join(name for name, v in values.items() if v is None)
        return PromVerdict(**figures, verdict="inconclusive", reason=f"no evidence for {missing} in {window}")
    problems = []
    for name, check in checks.items():
        value = values[name]
        assert value is not None
        if check.min is not None and value < check.min:
            problems.append(f"prometheus: {name} {value:.3f} < {check.min}")
        if check.max is not None and value > check.max:
            problems.append(f"prometheus: {name} {value:.2f} > {check.max}")
    return PromVerdict(**figures, verdict="fail" if problems else "pass", reason="; ".join(problems))


def other_log_problems(reason: str) -> list[str]:
    """The log-based problems PromQL does not judge (score PSI, churn share)."""
    return [p for p in reason.split("; ") if p and not p.startswith(LOG_CHECKS)]

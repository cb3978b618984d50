"""Where a canary is decided: the rollout's window checks, declared once like the gate's.

A window is the shadow stage or one canary step. It passes when every check
declared for its stage passes. Each check says what it catches, which
settings bound it (RolloutSettings, printed at the start of every rollout)
and which engines can judge it. The log engine (`judge`, below) judges all of
them from the services' logs. The PromQL engine (deploy/drivers/prom_engine.py)
judges the checks that name a `promql` query and replaces them by id. Every
verdict is a typed `WindowVerdict`, not a list of sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from deploy.rules.analysis import LatencyVerdict, VariantWindow, churn_share_bound, probability_psi
from deploy.settings import RolloutSettings

SHADOW, CANARY = "shadow", "canary"


@dataclass(frozen=True)
class WindowCheck:
    id: str
    label: str  # the rollout page's row
    catches: str  # the failure it stops, in a user's words
    bounded_by: tuple[str, ...]  # the RolloutSettings fields of its threshold
    stages: tuple[str, ...]
    promql: str | None = None  # the deploy/rules/promql.py check that judges it on a cluster


WINDOW_CHECKS: tuple[WindowCheck, ...] = (
    WindowCheck(
        "success",
        "candidate success rate >= min",
        "a candidate that errors: its share of answers < 400 falls below the floor",
        ("min_success_rate",),
        (SHADOW, CANARY),
        promql="success-rate",
    ),
    WindowCheck(
        "latency",
        "candidate not slower than stable (tail and centre)",
        "a candidate slower than stable on the same load, in its tail or on every request",
        ("p99_ratio", "p99_slack_ms", "latency_alpha", "tail_excess_min"),
        (SHADOW, CANARY),
        promql="latency-excess",
    ),
    WindowCheck(
        "score_psi",
        "shadow score PSI <= max (same requests)",
        "train/serve skew: other scores for the very same requests",
        ("shadow_psi_max",),
        (SHADOW,),
    ),
    WindowCheck(
        "decision_flips",
        "shadow decision flips <= bound",
        "a candidate that decides otherwise on the same customers",
        ("churn_share_floor",),
        (SHADOW,),
    ),
    WindowCheck(
        "churn_share",
        "canary churn-share shift <= bound",
        "a candidate that calls a different share of its users churners (beyond chance at alpha, and the floor)",
        ("churn_share_floor", "churn_share_alpha"),
        (CANARY,),
    ),
)
BY_ID = {check.id: check for check in WINDOW_CHECKS}


def checks_for(stage: str) -> tuple[WindowCheck, ...]:
    kind = SHADOW if stage == SHADOW else CANARY
    return tuple(c for c in WINDOW_CHECKS if kind in c.stages)


@dataclass(frozen=True)
class Outcome:
    check: str  # a WindowCheck id
    engine: str  # "logs" or "prometheus"
    passed: bool | None  # None: this engine had no evidence
    problem: str = ""  # the one line a failure says


@dataclass(frozen=True)
class WindowVerdict:
    stage: str
    outcomes: tuple[Outcome, ...]
    inconclusive: str = ""  # why an engine could not judge: the window fails, saying so

    @property
    def passed(self) -> bool:
        return not self.inconclusive and all(o.passed for o in self.outcomes)

    @property
    def reason(self) -> str:
        problems = [f"inconclusive: {self.inconclusive}"] if self.inconclusive else []
        return "; ".join(problems + [o.problem for o in self.outcomes if o.passed is False])

    def replaced(self, outcomes: Iterable[Outcome], inconclusive: str = "") -> WindowVerdict:
        """This window with some checks judged by another engine: replaced by id, the declared order kept."""
        by_id = {o.check: o for o in outcomes}
        unknown = by_id.keys() - {o.check for o in self.outcomes}
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not checks of the {self.stage} window")
        return replace(self, outcomes=tuple(by_id.get(o.check, o) for o in self.outcomes), inconclusive=inconclusive)


@dataclass(frozen=True)
class Figures:
    """What the log engine measured on one window: the evidence every check reads."""

    stable: VariantWindow
    candidate: VariantWindow
    latency: LatencyVerdict
    psi: float | None  # shadow only: the score PSI on the requests both variants answered
    shift: float  # shadow: share of decision flips; canary: churn-share gap
    churn_bound: float


def measure(
    stage: str, stable: VariantWindow, candidate: VariantWindow, cfg: RolloutSettings, reference_ms: list[float]
) -> Figures:
    """The window's figures; `reference_ms` is stable's latency in the last window where it had enough."""
    latency = LatencyVerdict.judge(
        list(reference_ms) or [0.0],
        list(candidate.latencies_ms or []) or [0.0],
        cfg.p99_ratio,
        cfg.p99_slack_ms,
        cfg.latency_alpha,
        cfg.tail_excess_min,
    )
    if stage == SHADOW:
        stable_p, candidate_p = stable.probabilities or {}, candidate.probabilities or {}
        joined = sorted(set(stable_p) & set(candidate_p))
        psi = probability_psi([stable_p[r] for r in joined], [candidate_p[r] for r in joined])
        # Each service's own decision, as it answered (its own DECISION_THRESHOLD), on the same request.
        stable_d, candidate_d = stable.decisions or {}, candidate.decisions or {}
        shift = sum(stable_d[r] != candidate_d[r] for r in joined) / max(len(joined), 1)
        return Figures(stable, candidate, latency, psi, shift, cfg.churn_share_floor)
    shift = abs(candidate.churn_share - stable.churn_share) if stable.scored else 0.0
    bound = churn_share_bound(stable, candidate, cfg.churn_share_floor, cfg.churn_share_alpha)
    return Figures(stable, candidate, latency, None, shift, bound)


# The log engine: each check id -> (passed, the problem it says); lazy, so a figure absent at a stage is never read.
_LOG_ENGINE: dict[str, Callable[[Figures, RolloutSettings], tuple[bool, Callable[[], str]]]] = {
    "success": lambda f, cfg: (
        f.candidate.success_rate >= cfg.min_success_rate,
        lambda: f"candidate success {f.candidate.success_rate:.1%} < {cfg.min_success_rate:.0%}",
    ),
    "latency": lambda f, cfg: (not f.latency.failed, lambda: f.latency.failed),
    "score_psi": lambda f, cfg: (
        f.psi is not None and f.psi <= cfg.shadow_psi_max,
        lambda: f"score PSI {f.psi:.3f} > {cfg.shadow_psi_max} on identical requests (train/serve skew?)",
    ),
    "decision_flips": lambda f, cfg: (
        f.shift <= f.churn_bound,
        lambda: f"churn-share shift {f.shift:.3f} > {f.churn_bound:.3f}",
    ),
    "churn_share": lambda f, cfg: (
        f.shift <= f.churn_bound,
        lambda: f"churn-share shift {f.shift:.3f} > {f.churn_bound:.3f}",
    ),
}


def judge(stage: str, figures: Figures, cfg: RolloutSettings) -> WindowVerdict:
    """The log engine's verdict on every check of the stage, in the declared order."""
    outcomes = []
    for check in checks_for(stage):
        passed, problem = _LOG_ENGINE[check.id](figures, cfg)
        outcomes.append(Outcome(check.id, "logs", passed, "" if passed else problem()))
    return WindowVerdict(stage, tuple(outcomes))


def p99(latencies_ms: list[float] | None) -> float | None:
    return float(np.percentile(latencies_ms, 99)) if latencies_ms else None


@dataclass
class StepResult:
    """One window as the rollout's record (rollout.json "steps") keeps it: figures, verdict, reason."""

    stage: str
    requests: int
    candidate_requests: int
    success_rate: float
    candidate_p99_ms: float
    p99_bound_ms: float
    candidate_tail: float
    stable_tail: float
    psi: float | None
    churn_shift: float
    churn_bound: float
    verdict: str
    reason: str = ""
    log_verdict: str | None = None  # with analysis=prometheus: what each engine said on this window
    prometheus: dict[str, Any] | None = None
    stable_success_rate: float | None = None  # stable's side of the window, for the rollout page
    stable_p99_ms: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # each window check: "pass" / "fail"


def step_result(stage: str, f: Figures, verdict: WindowVerdict) -> StepResult:
    return StepResult(
        stage=stage,
        requests=f.stable.requests + f.candidate.requests if stage != SHADOW else f.stable.requests,
        candidate_requests=f.candidate.requests,
        success_rate=f.candidate.success_rate,
        candidate_p99_ms=f.latency.candidate_p99_ms,
        p99_bound_ms=f.latency.bound_ms,
        candidate_tail=f.latency.candidate_tail,
        stable_tail=f.latency.stable_tail,
        psi=f.psi,
        churn_shift=f.shift,
        churn_bound=f.churn_bound,
        verdict="pass" if verdict.passed else "fail",
        reason=verdict.reason,
        stable_success_rate=f.stable.success_rate if f.stable.requests else None,
        stable_p99_ms=p99(f.stable.latencies_ms),
        checks={o.check: "pass" if o.passed else "fail" for o in verdict.outcomes},
    )

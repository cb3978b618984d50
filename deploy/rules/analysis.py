"""Judge a rollout window from the services' own logs.

Each service writes one JSON access line per request and one prediction line
per scored customer, both carrying nginx's request id. A window is the lines
appended since it opened; stable and candidate are compared on the same
window, and in shadow on the very same request ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import fisher_exact, mannwhitneyu, norm

from src.metrics import psi, quantile_edges

PREDICT_PATHS = ("/predict", "/predict/batch")
CLIENT_CLOSED = 499  # app.middleware logs a client that disconnected mid-request so (nginx's convention)


class LogCursor:
    """Reads only what a log gained since the last read; a half-written last line waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        events = []
        for line in complete.decode("utf-8", "replace").splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        return events


@dataclass
class VariantWindow:
    """What one variant did in one window."""

    requests: int = 0
    ok: int = 0
    latencies_ms: list[float] | None = None
    probabilities: dict[str, float] | None = None  # request_id -> churn probability (single-customer requests)
    decisions: dict[str, int] | None = None  # request_id -> the 0/1 decision the service returned
    churn_predictions: int = 0
    scored: int = 0
    client_closed: int = 0  # 499s: neither successes nor failures, and no latency

    def add(self, events: list[dict[str, Any]]) -> None:
        self.latencies_ms = self.latencies_ms or []
        self.probabilities = self.probabilities or {}
        self.decisions = self.decisions or {}
        for e in events:
            if e.get("event") == "access" and e.get("path") in PREDICT_PATHS:
                status = int(e.get("status", 500))
                if status == CLIENT_CLOSED:  # the caller hung up mid-request: evidence of nothing about the model
                    self.client_closed += 1
                    continue
                self.requests += 1
                self.ok += status < 400
                self.latencies_ms.append(float(e.get("latency_ms", 0.0)))
            elif e.get("event") == "prediction":
                self.scored += 1
                self.churn_predictions += int(e.get("prediction", 0))
                self.probabilities[str(e.get("request_id"))] = float(e["churn_probability"])
                self.decisions[str(e.get("request_id"))] = int(e.get("prediction", 0))

    @property
    def success_rate(self) -> float:
        return self.ok / self.requests if self.requests else 0.0

    @property
    def churn_share(self) -> float:
        return self.churn_predictions / self.scored if self.scored else 0.0


def probability_psi(stable: list[float], candidate: list[float]) -> float:
    """PSI of the candidate's score distribution against stable's, 10 bins at stable's deciles."""
    if not stable or not candidate:
        return 0.0
    reference = np.asarray(stable, dtype="float64")
    return psi(reference, np.asarray(candidate, dtype="float64"), quantile_edges(reference))


def churn_share_bound(stable: VariantWindow, candidate: VariantWindow, floor: float, alpha: float) -> float:
    """How far two churn shares may differ by chance (two-sided, at `alpha`), at least `floor`."""
    if not stable.scored or not candidate.scored:
        return floor
    chance = chance_gap(stable.scored, stable.churn_predictions, candidate.scored, candidate.churn_predictions, alpha)
    return float(max(floor, chance))


def chance_gap(stable_n: Any, stable_churners: Any, candidate_n: Any, candidate_churners: Any, alpha: float) -> Any:
    """The churn-share gap chance alone exceeds with probability ~alpha (counts or numpy arrays of them).

    The deploy and docs surfaces judge ~15 healthy canary windows a run (the
    labs more), so at 0.001 a window (a 3.29 SE bound) about one run in 60
    rolled a healthy candidate back (0.215 > 0.205 at 50 %, 2026-12-07); at
    0.0001, one in 600. The continuity correction, half a request on each side,
    keeps the normal bound near alpha at a 5 % step's 40 requests, where the
    bare one fired at 1.6 x alpha (tests/unit/test_rollout_analysis.py).
    """
    p = (stable_churners + candidate_churners) / (stable_n + candidate_n)
    se = np.sqrt(p * (1 - p) * (1 / stable_n + 1 / candidate_n))
    return norm.isf(alpha / 2) * se + 0.5 * (1 / stable_n + 1 / candidate_n)


@dataclass(frozen=True)
class LatencyVerdict:
    """Is the candidate slower than stable, beyond chance, on the same window's load?

    Two questions, each a test on samples taken side by side (interleaved by
    nginx's hash in canary, the very same requests in shadow), so machine
    load moves both variants alike and cancels out:

    - tail: the share of candidate requests above `bound` (the larger of
      ratio x stable's p99 and stable's p99 + slack), against stable's own
      share above it. Fails when the candidate's share is at least
      `min_excess` higher and a one-sided Fisher exact test gives p < alpha.
      This catches a candidate slow on a few requests (3 % at +100 ms).
    - centre: the candidate's median above max(ratio x stable's median,
      stable's median + slack) with a one-sided Mann-Whitney p < alpha.
      This catches a candidate slower on every request even when stable's own
      tail is long enough to hide it (a constant +20 ms under load).

    Comparing one p99 with another, as a single number each, rolls back
    identical candidates on a busy machine (docs/benchmarks.md): a p99 over a
    few hundred requests is nearly their maximum, and one scheduling stall
    moves it. Counting exceedances turns the stall into one request among
    hundreds, which a test with alpha = 0.001 weighs as the noise it is.
    """

    bound_ms: float
    candidate_p99_ms: float
    candidate_tail: float
    stable_tail: float
    tail_p: float | None  # None: the excess is under min_excess, so no p-value could fail it (none computed)
    candidate_median_ms: float
    median_bound_ms: float
    centre_p: float | None  # None: the median is within its bound, so no p-value could fail it (none computed)
    failed: str  # "" when the candidate is not slower

    @classmethod
    def judge(
        cls,
        stable_ms: list[float],
        candidate_ms: list[float],
        ratio: float,
        slack_ms: float,
        alpha: float,
        min_excess: float,
    ) -> LatencyVerdict:
        s, c = np.asarray(stable_ms, dtype=float), np.asarray(candidate_ms, dtype=float)
        s_p99, s_median = float(np.percentile(s, 99)), float(np.median(s))
        bound = max(ratio * s_p99, s_p99 + slack_ms)
        k_c, k_s = int((c > bound).sum()), int((s > bound).sum())
        tail_c, tail_s = k_c / c.size, k_s / s.size
        median_bound = max(ratio * s_median, s_median + slack_ms)
        c_median = float(np.median(c))
        # A test only where its effect is large enough to fail the window: the same verdicts, and a healthy
        # window (the rollout's usual one, and the calibration draws' thousands) skips scipy's ~1.7 ms.
        tail_p = centre_p = None
        if tail_c - tail_s >= min_excess:
            tail_p = float(fisher_exact([[k_c, c.size - k_c], [k_s, s.size - k_s]], alternative="greater").pvalue)
        if c_median > median_bound:
            centre_p = float(mannwhitneyu(c, s, alternative="greater").pvalue)
        failed = ""
        if tail_p is not None and tail_p < alpha:
            failed = (
                f"candidate slower: {tail_c:.1%} of requests over {bound:.1f} ms "
                f"vs stable's {tail_s:.1%} (p={tail_p:.1g})"
            )
        elif centre_p is not None and centre_p < alpha:
            failed = f"candidate slower: median {c_median:.1f} ms > {median_bound:.1f} ms (p={centre_p:.1g})"
        return cls(
            bound_ms=bound,
            candidate_p99_ms=float(np.percentile(c, 99)),
            candidate_tail=tail_c,
            stable_tail=tail_s,
            tail_p=tail_p,
            candidate_median_ms=c_median,
            median_bound_ms=median_bound,
            centre_p=centre_p,
            failed=failed,
        )

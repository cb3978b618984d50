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

from src.metrics import psi, quantile_edges

PREDICT_PATHS = ("/predict", "/predict/batch")


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

    def add(self, events: list[dict[str, Any]]) -> None:
        self.latencies_ms = self.latencies_ms or []
        self.probabilities = self.probabilities or {}
        self.decisions = self.decisions or {}
        for e in events:
            if e.get("event") == "access" and e.get("path") in PREDICT_PATHS:
                self.requests += 1
                status = int(e.get("status", 500))
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
    def p99_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else 0.0

    @property
    def churn_share(self) -> float:
        return self.churn_predictions / self.scored if self.scored else 0.0


def probability_psi(stable: list[float], candidate: list[float]) -> float:
    """PSI of the candidate's score distribution against stable's, 10 bins at stable's deciles."""
    if not stable or not candidate:
        return 0.0
    reference = np.asarray(stable, dtype="float64")
    return psi(reference, np.asarray(candidate, dtype="float64"), quantile_edges(reference))


def churn_share_bound(stable: VariantWindow, candidate: VariantWindow, floor: float) -> float:
    """How far the two churn shares may differ by chance: 3 standard errors, at least `floor`."""
    if not stable.scored or not candidate.scored:
        return floor
    p = (stable.churn_predictions + candidate.churn_predictions) / (stable.scored + candidate.scored)
    se = np.sqrt(p * (1 - p) * (1 / stable.scored + 1 / candidate.scored))
    return float(max(floor, 3 * se))

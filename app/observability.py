"""Prometheus metrics and structured logs: what shadow and canary analysis read.

The rollout compares stable and candidate by request outcome, latency and the
distribution of predicted probabilities; each has a metric here, labelled by
variant. One JSON log line per prediction lets drift checks and shadow joins
work from logs alone (joined on request_id).
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from pydantic_core import to_json

disable_created_metrics()  # the *_created series double the scrape and no dashboard here reads them

# 15 and 20 ms: the rollout's p99 bound, max(1.2 x stable p99, stable p99 + 5 ms), lands at 10-20 ms for a
# stable p99 of 5-15 ms. histogram_quantile interpolates inside a bucket, so with nothing between 10 and 25 ms
# a candidate at 12 ms and one at 24 ms read alike; Prometheus-based canary checks need the finer edges.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 20 equal bins for PSI

_stream: list[TextIO | None] = [None]  # None: whatever sys.stdout is at the time of writing


class Metrics:
    """One registry per app, so tests can build many apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churn_requests",
            "HTTP requests by variant, endpoint and status code",
            ["variant", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churn_request_latency_seconds",
            "Request latency in seconds",
            ["variant", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.probability = Histogram(
            "churn_predicted_probability",
            "Predicted churn probabilities (one observation per customer scored)",
            ["variant"],
            buckets=PROBABILITY_BUCKETS,
            registry=self.registry,
        )

    def start_at_zero(self, variant: str, endpoints: tuple[str, ...]) -> None:
        """Export the series canary analysis reads at 0 from startup, before the first request.

        Prometheus's increase() needs a sample before a counter's first rise: a
        series born at 140 between two scrapes reads as no requests at all
        (measured 2026-11-23: a 300-request burst through a fresh stack gave the
        PromQL checks no sample), and a candidate's first 500s would go uncounted.
        """
        for endpoint in endpoints:
            for status in ("200", "500"):
                self.requests.labels(variant, endpoint, status)
            self.latency.labels(variant, endpoint)


def configure_logging(stream: TextIO | None = None) -> None:
    """JSON lines, one per event, flushed per line so `tail -f` and log shippers see them live.

    Written straight to the stream rather than through `logging`: the stdlib
    machinery costs more per line than scoring a customer.
    """
    target = stream or sys.stdout
    if isinstance(target, io.TextIOWrapper) and not target.line_buffering:
        target.reconfigure(line_buffering=True)
    _stream[0] = stream


_second: list[Any] = [-1, ""]  # the last whole UTC second seen, and its text


def timestamp() -> str:
    """UTC now as 2026-11-23T12:11:16.789Z; the text of the second is formatted once per second.

    datetime.now(UTC).isoformat() cost 3.1 us a call, a third of a log line (2-core VM at load ~5, 2026-11).
    """
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"


def _line(event: str, stamp: str, fields: dict[str, Any]) -> str:
    # pydantic-core's serialiser: 2.4 us for a prediction line where json.dumps took 13 us (same VM and day).
    # It writes UTF-8 rather than \u escapes; NaN/Infinity become null (the validated inputs carry neither).
    return to_json({"event": event, "ts": stamp, **fields}).decode() + "\n"


def log_event(event: str, **fields: Any) -> None:
    (_stream[0] or sys.stdout).write(_line(event, timestamp(), fields))


def log_events(event: str, records: Iterable[dict[str, Any]]) -> None:
    """One line per record, all stamped alike and written at once: a batch is one write, not one per customer."""
    stamp = timestamp()
    (_stream[0] or sys.stdout).write("".join(_line(event, stamp, fields) for fields in records))

"""Prometheus metrics and structured logs: what shadow and canary analysis read.

The rollout compares stable and candidate by request outcome, latency and the
distribution of predicted probabilities; each has a metric here, labelled by
variant. One JSON log line per prediction lets drift checks and shadow joins
work from logs alone (joined on request_id).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from pydantic_core import to_json

disable_created_metrics()  # the *_created series double the scrape and no dashboard here reads them

# 15 and 20 ms: the rollout's latency allowance, max(1.2 x stable, stable + 5 ms), lands at 10-20 ms for a
# stable of 5-15 ms. The PromQL latency check compares the candidate's share above each edge with stable's
# above the edge the allowance lower (deploy/rules/promql.py); with nothing between 10 and 25 ms, a candidate
# at 12 ms and one at 24 ms read alike.
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
        (docs/benchmarks.md, "app/observability.py"), and a candidate's first
        500s would go uncounted.
        """
        for endpoint in endpoints:
            for status in ("200", "500"):
                self.requests.labels(variant, endpoint, status)
            self.latency.labels(variant, endpoint)


SMALL_BATCH = 8  # below this, per-value observe() is cheaper than numpy's setup


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """Observe every value of a batch in one pass: counts per bucket, one increment each.

    Per-value `observe()` takes two locks and walks the buckets in Python:
    ~1.5 us a customer, a fifth of a batch of 1,000. This adds the same
    counts to the same child (`amount <= bound` is numpy's `side="left"`),
    through the attributes prometheus-client 0.26 keeps them in; a version
    without them gets the per-value loop (tests/unit/test_observability.py
    pins that the pinned version takes the fast way and exports the same).
    """
    buckets, total = getattr(histogram, "_buckets", None), getattr(histogram, "_sum", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    if buckets is None or total is None or bounds is None or len(values) < SMALL_BATCH:
        for value in values.tolist():
            histogram.observe(value)
        return
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for i in np.flatnonzero(counts).tolist():
        buckets[i].inc(int(counts[i]))
    total.inc(float(values.sum()))


def configure_logging(stream: TextIO | None = None) -> None:
    """JSON lines, one per event, written straight to the stream (default: sys.stdout at write time).

    Not through `logging`: the stdlib machinery costs more per line than
    scoring a customer. Each event is flushed when written (`log_event`), so
    `tail -f` and log shippers see it live; a request's prediction lines go
    out with its access line, in one write instead of one per line.
    """
    _stream[0] = stream


_second: list[Any] = [-1, ""]  # the last whole UTC second seen, and its text


def timestamp() -> str:
    """UTC now as 2026-11-23T12:11:16.789Z; the text of the second is formatted once per second.

    datetime.now(UTC).isoformat() cost a third of a log line (docs/benchmarks.md, "app/observability.py").
    """
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"


def _line(event: str, stamp: str, fields: dict[str, Any]) -> str:
    # pydantic-core's serialiser: a fifth of json.dumps's time for a prediction line (docs/benchmarks.md).
    # It writes UTF-8 rather than \u escapes; NaN/Infinity become null (the validated inputs carry neither).
    return to_json({"event": event, "ts": stamp, **fields}).decode() + "\n"


_pending: list[str] = []  # prediction lines waiting for their request's access line (one event loop: no lock)


def log_event(event: str, **fields: Any) -> None:
    """One line, written and flushed together with the prediction lines queued before it.

    A request logs its predictions, then its access line (app.middleware):
    one write for both. Under PYTHONUNBUFFERED, as in the image, every
    write is a syscall: two per /predict cost ~4 % of its time.
    """
    _pending.append(_line(event, timestamp(), fields))
    text = "".join(_pending)
    _pending.clear()
    stream = _stream[0] or sys.stdout
    stream.write(text)
    stream.flush()


def log_rows(event: str, shared: dict[str, Any], keys: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """One line per row, queued for the next `log_event`: `shared` fields first, then the row's `keys`.

    Serialised in two `to_json` calls, not one per line: the shared head once,
    the rows as one list, whose elements are split where `},{"<first key>":`
    stands. JSON's grammar allows that only between two elements: a quote
    inside a string is always escaped, and a string's closing quote is
    followed by `,` `:` `]` or `}`, never by `{`. Per-line serialisation cost
    a quarter of a batch of 1,000 (docs/benchmarks.md, "app/observability.py").
    Row values are scalars (validated inputs, predictions): no nested object
    can carry the boundary either.
    """
    if not rows:
        return
    head = to_json({"event": event, "ts": timestamp(), **shared})[:-1] + b","  # {"event":..., and the row follows
    first = to_json(keys[0]) + b":"
    body = to_json([dict(zip(keys, row, strict=True)) for row in rows])[2:-1]  # "first":...},{"first":...}
    _pending.append((head + body.replace(b"},{" + first, b"}\n" + head + first)).decode() + "\n")

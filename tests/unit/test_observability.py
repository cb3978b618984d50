"""The batch shortcuts of app.observability export and log exactly what the one-by-one way would.

A batch of 1,000 is observed in one pass and logged in one serialisation:
if either drifted from the slow way, canary analysis would read other
probabilities than the service served, or the drift check would skip lines.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from app import observability
from app.observability import PROBABILITY_BUCKETS, log_event, log_rows, observe_many


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    histogram = Histogram("p", "probabilities", ["variant"], buckets=PROBABILITY_BUCKETS, registry=registry)
    return registry, histogram


def _exported(registry: CollectorRegistry) -> dict[str, float]:
    lines = generate_latest(registry).decode().splitlines()
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines if not line.startswith("#"))}


def test_observing_a_batch_at_once_exports_what_observing_each_value_exports() -> None:
    rng = np.random.default_rng(0)
    edges = np.array(PROBABILITY_BUCKETS)  # a value on a bucket's edge belongs to that bucket (le = "<=")
    values = np.concatenate([rng.random(1000), edges, [0.0, 1.0]])
    one_by_one, slow = _histogram()
    at_once, fast = _histogram()
    for value in values.tolist():
        slow.labels("stable").observe(value)
    observe_many(fast.labels("stable"), values)
    expected, got = _exported(one_by_one), _exported(at_once)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), f"{name}: {got[name]} at once vs {value} one by one"


def test_the_pinned_prometheus_client_takes_the_one_pass_way(monkeypatch: pytest.MonkeyPatch) -> None:
    _, histogram = _histogram()
    child = histogram.labels("stable")

    def refuse(amount: float, exemplar: object = None) -> None:
        raise AssertionError("a batch went through per-value observe(): the client's internals moved")

    monkeypatch.setattr(child, "observe", refuse)
    observe_many(child, np.linspace(0, 1, 100))


@pytest.mark.parametrize(
    "customer_id",
    ['},{"event":"prediction"', '"', "\\", "\n", '}\n{"event":', "é — 中", "\\u0000"],
    ids=["a-record-boundary", "a-quote", "a-backslash", "a-newline", "a-fake-line", "unicode", "escaped-text"],
)
def test_every_row_is_one_json_line_whatever_its_strings(customer_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(observability, "_stream", [sink])
    rows = [(customer_id, 0.25, 0), ("plain", 0.75, 1), (customer_id + customer_id, 0.5, 1)]
    log_rows("prediction", {"request_id": customer_id}, ("customer_id", "churn_probability", "prediction"), rows)
    assert sink.getvalue() == "", "prediction lines go out with their request's access line, in one write"
    log_event("access", status=200)
    *lines, access = sink.getvalue().splitlines()
    assert json.loads(access)["event"] == "access", f"the access line must come last:\n{sink.getvalue()}"
    assert len(lines) == len(rows), f"{len(rows)} rows became {len(lines)} lines:\n{sink.getvalue()}"
    for line, (cid, p, prediction) in zip(lines, rows, strict=True):
        event = json.loads(line)
        assert list(event) == ["event", "ts", "request_id", "customer_id", "churn_probability", "prediction"]
        assert (event["request_id"], event["customer_id"], event["churn_probability"], event["prediction"]) == (
            customer_id,
            cid,
            p,
            prediction,
        )

"""The series canary analysis reads exist at 0 before the first request (app/observability.py)."""

from __future__ import annotations

from prometheus_client import generate_latest

from app.observability import LATENCY_BUCKETS, Metrics


def test_predict_series_exist_at_zero_before_any_request() -> None:
    """Otherwise Prometheus's increase() misses a counter's first rise: a burst reads as no traffic."""
    metrics = Metrics()
    metrics.start_at_zero("candidate", ("/predict",))
    text = generate_latest(metrics.registry).decode()
    for status in ("200", "500"):
        line = f'churn_requests_total{{endpoint="/predict",status="{status}",variant="candidate"}} 0.0'
        assert line in text, f"no zero {status} series for /predict: the first window's requests would go unseen"
    assert 'churn_request_latency_seconds_count{endpoint="/predict",variant="candidate"} 0.0' in text


def test_latency_buckets_resolve_the_p99_bound() -> None:
    """The rollout's bound max(1.2 x p99, p99 + 5 ms) lands at 10-20 ms: buckets there keep quantiles apart."""
    assert {0.01, 0.015, 0.02, 0.025} <= set(LATENCY_BUCKETS)
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)

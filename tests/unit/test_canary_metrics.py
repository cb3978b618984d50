"""The series canary analysis reads: there at 0 before the first request, and errors under their endpoint."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from app.main import create_app
from app.observability import LATENCY_BUCKETS, Metrics
from app.settings import ServiceSettings
from src import artifacts


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


def test_an_error_answered_before_routing_counts_against_its_endpoint(small_artifact: Path) -> None:
    """A 413 (or a middleware's 500) never reaches the router; the metric must still say /predict."""
    settings = ServiceSettings(model_path=small_artifact / artifacts.MODEL_FILE, max_body_bytes=1024)
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", content=b"x" * 4096).status_code == 413
        assert client.get("/no-such-page").status_code == 404
        text = client.get("/metrics").text
    assert 'churn_requests_total{endpoint="/predict",status="413",variant="stable"} 1.0' in text, (
        "a refused /predict is invisible to endpoint-filtered canary queries"
    )
    assert 'endpoint="/no-such-page"' not in text, "unknown paths must not become label values (cardinality)"

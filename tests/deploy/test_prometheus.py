"""Prometheus in the loop: the stack's real Prometheus scrapes both services, the PromQL checks read it.

The same queries the Argo/Flagger export carries (deploy/rules/promql.py), run
against the local Prometheus, and the release checks (deploy/release_checks.py)
run against the real services, as a cluster Job or webhook would.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from deploy.drivers.traffic import replay
from deploy.rules import promql
from deploy.settings import RolloutSettings
from src import launcher, loopback
from tests.deploy.conftest import MakeStack


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    response = loopback.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    assert response.status_code == 200, f"Prometheus rejected the query: {response.text[:300]}"
    return response.json()["data"]["result"]


def _until(condition: Any, timeout: float = 30.0) -> Any:
    """Poll until condition() is truthy: scrapes land every second, later under load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    return condition()


def test_stack_prometheus_scrapes_both_services(make_stack: MakeStack) -> None:
    stack = make_stack(mode="canary", canary_percent=50, prometheus=True)
    base = stack.cfg.prometheus_url

    def both_up() -> bool:
        targets = loopback.get(f"{base}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return len(targets) == 2 and all(t["health"] == "up" for t in targets)

    assert _until(both_up), "Prometheus does not see both services up: check the rendered STACK_DIR/prometheus.yml"


def test_the_promql_checks_judge_live_traffic_from_the_stack(make_stack: MakeStack, bodies: list) -> None:
    """Healthy identical models at 50 %: both checks have a sample, and both pass."""
    stack = make_stack(mode="canary", canary_percent=50, prometheus=True)
    cfg = RolloutSettings().model_copy(update={"min_requests": 50})
    sent = sum(1 for _ in replay(stack.cfg.url, bodies, 300))
    assert sent == 300
    checks = {c.name: c for c in promql.checks(cfg, "2m", "2m")}

    def measured() -> dict[str, float] | None:
        values = {name: _query(stack.cfg.prometheus_url, c.query) for name, c in checks.items()}
        if all(values.values()):
            return {name: float(v[0]["value"][1]) for name, v in values.items()}
        return None

    values = _until(measured)
    assert values, "no sample for a check after 300 requests: the scrape or the minimum-request guard is off"
    assert values["success-rate"] == 1.0, f"healthy candidate measured at success {values['success-rate']}"
    z_max = checks["latency-excess"].max
    assert values["latency-excess"] <= z_max, (
        f"identical models, yet the candidate's latency excess is z {values['latency-excess']:.2f} > {z_max}"
    )
    idle = promql.checks(cfg.model_copy(update={"min_requests": 100_000}), "2m", "2m")
    assert all(_query(stack.cfg.prometheus_url, c.query) == [] for c in idle), "no evidence must return no sample"


def test_release_checks_pass_identical_models_and_refuse_a_dead_candidate(make_stack: MakeStack) -> None:
    stack = make_stack(mode="stable", prometheus=True)
    urls = ["--stable", stack.cfg.service_url("stable"), "--candidate", stack.cfg.service_url("candidate")]
    for check in ("gate-record", "ratchet", "shadow"):
        result = launcher.run(
            [sys.executable, "-m", "deploy.release_checks", check, *urls, "--customers", "100"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{check} failed for two identical gated models: {result.stderr}"
    dead = ["--stable", stack.cfg.service_url("stable"), "--candidate", "http://127.0.0.1:9"]
    result = launcher.run(
        [sys.executable, "-m", "deploy.release_checks", "gate-record", *dead], capture_output=True, text=True
    )
    assert result.returncode == 1, "an unreachable candidate passed the gate-record check"
    assert len(result.stderr.strip().splitlines()) == 1, f"not one readable line: {result.stderr}"

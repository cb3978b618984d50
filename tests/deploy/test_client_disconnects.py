"""A burst of clients hanging up mid-body does not fail a healthy canary, in either engine.

A real canary stack (nginx at 50 %, two uvicorn services on the same gated
model, the stack's Prometheus) gets replayed traffic through nginx, and the
candidate service gets DISCONNECTS clients that send a /predict head and half
its body, then close the socket, directly (as a client reaches a pod on a
cluster; nginx itself buffers bodies, so behind it the service never sees a
half body). The service logs each as status 499 without a traceback, counts
it as 499 (never 500), and both the log-based analysis and the PromQL checks
leave 499s out of the evidence: the window passes. The same disconnects
counted as failures would have failed it, which the test checks too.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from deploy.control.controller import Rollout
from deploy.drivers import prom_engine
from deploy.drivers.traffic import replay
from deploy.rules.analysis import LogCursor, VariantWindow
from deploy.settings import RolloutSettings
from src import loopback, schema
from tests.deploy.conftest import MakeStack

DISCONNECTS = 200  # more than the candidate's own requests in the window: counted, they would sink it
REQUESTS = 300  # through nginx at 50 %: ~150 for the candidate
CFG = RolloutSettings(min_requests=50, inconclusive_retries=4, inconclusive_wait_s=1.0)


def hang_up_mid_body(url: str, count: int) -> None:
    """`count` connections that each send a /predict head and half its declared body, then close."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(schema.EXAMPLE_CUSTOMER).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(count):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(head + body[: len(body) // 2])
            time.sleep(0.002)  # let the service start reading the body before the client is gone


def _events(path: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]


def _wait(condition: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def _counter(metrics_text: str, status: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("churn_requests_total{") and f'status="{status}"' in line and '"/predict"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _histogram_count(metrics_text: str) -> float:
    prefix = 'churn_request_latency_seconds_count{endpoint="/predict",variant="candidate"}'
    return sum(float(x.rsplit(" ", 1)[1]) for x in metrics_text.splitlines() if x.startswith(prefix))


def test_a_burst_of_client_disconnects_does_not_fail_a_healthy_canary(make_stack: MakeStack, bodies: list) -> None:
    stack = make_stack(mode="canary", canary_percent=50, prometheus=True)
    logs = stack.cfg.stack_dir
    cursors = {v: LogCursor(logs / f"{v}.log") for v in ("stable", "candidate")}
    opened = time.time()
    sent = 0
    for share in (DISCONNECTS - 2 * (DISCONNECTS // 3), DISCONNECTS // 3, DISCONNECTS // 3):  # interleaved
        hang_up_mid_body(stack.cfg.service_url("candidate"), share)
        sent += sum(1 for _ in replay(stack.cfg.url, bodies[sent:] + bodies, REQUESTS // 3))

    def closed() -> list[dict[str, Any]]:
        return [e for e in _events(logs / "candidate.log") if e.get("event") == "access" and e.get("status") == 499]

    assert _wait(lambda: len(closed()) >= DISCONNECTS), f"the candidate logged {len(closed())} of {DISCONNECTS} 499s"
    windows = {v: VariantWindow() for v in cursors}
    for variant, cursor in cursors.items():
        windows[variant].add(cursor.read())
    candidate_log = (logs / "candidate.log").read_text()
    assert "Traceback" not in candidate_log, "a client hanging up must not log a traceback"
    assert "ClientDisconnect" not in candidate_log

    metrics = loopback.get(f"{stack.cfg.service_url('candidate')}/metrics", timeout=5).text
    assert _counter(metrics, "500") == 0, "a client hanging up was counted as a server error"
    assert _counter(metrics, "499") == DISCONNECTS, "every disconnect is counted, as 499"

    stable, candidate = windows["stable"], windows["candidate"]
    assert candidate.client_closed == DISCONNECTS, "the log engine must see the 499s, and set them aside"
    observed = _histogram_count(metrics)
    assert observed == candidate.requests, (
        f"{observed} latencies observed for {candidate.requests} answered requests: the 499s entered the histogram"
    )
    counted_as_failures = candidate.ok / (candidate.requests + candidate.client_closed)
    assert counted_as_failures < CFG.min_success_rate, (
        f"the burst is too small to prove anything: counted as failures it gives success {counted_as_failures:.1%}"
    )

    logged, _ = Rollout(stack, CFG, bodies).judge("canary 50%", stable, candidate)
    for _ in range(CFG.inconclusive_retries + 1):
        promql = prom_engine.judge(stack.cfg.prometheus_url, CFG, opened, opened).figures
        if promql.verdict != "inconclusive":
            break
        time.sleep(CFG.inconclusive_wait_s)
    print(
        f"\ndisconnects {DISCONNECTS} (499), candidate requests {candidate.requests}, stable {stable.requests}; "
        f"logs: success {logged.success_rate:.1%}, p99 {logged.candidate_p99_ms:.1f}/{logged.p99_bound_ms:.1f} ms "
        f"-> {logged.verdict} {logged.reason}; promql: requests {promql.candidate_requests}, success "
        f"{promql.success_rate}, latency z {promql.latency_z} -> {promql.verdict} "
        f"{promql.reason}; had 499s counted as failures: success {counted_as_failures:.1%}"
    )
    assert logged.verdict == "pass", f"the log engine failed a healthy canary: {logged.reason}"
    assert logged.success_rate == 1.0, f"success {logged.success_rate:.1%}: a 499 was counted"
    # The PromQL success check is what 499s could sink; 499s never reach the latency check's histogram (above).
    assert promql.success_rate == 1.0, f"PromQL success {promql.success_rate}: a 499 was counted"
    assert promql.verdict == "pass", f"the PromQL checks failed a healthy canary: {promql.reason}"

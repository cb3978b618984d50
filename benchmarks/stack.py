"""Stack figures: what nginx adds, and what a slow shadow still costs users.

nginx finalises a request only when its mirror subrequest ends, so a client
reusing its keepalive connection waits for the shadow too; SHADOW_TIMEOUT caps
that wait. This prints the user-side latency through nginx for a healthy, a
slow and a hanging candidate, on one keepalive connection and with a new
connection per request. Run with `make bench`; figures only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deploy.drivers.stack import Stack
from deploy.drivers.traffic import customers, replay
from src import artifacts, config, exits, loopback
from tools.stacks import local_stack

REQUESTS = 200
CASES = [
    ("healthy candidate", {}),
    ("candidate +50 ms", {"FAULT_DELAY_S": "0.05"}),
    ("candidate hangs 5 s", {"FAULT_DELAY_S": "5"}),
]


def _fresh_connections(url: str, bodies: list[dict], n: int) -> list[float]:
    latencies = []
    with loopback.client(base_url=url, timeout=10) as client:
        for body in bodies[:n]:
            started = time.perf_counter()
            client.post("/predict", json=body, headers={"Connection": "close"})
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _row(name: str, latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"    {name:<42} p50 {q[49]:8.1f} ms   p99 {q[98]:8.1f} ms"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)  # --help, nothing else
    model = config.settings().artifact_dir / artifacts.MODEL_FILE
    if not model.is_file():
        print("no gated artifact: run `make run` first", file=sys.stderr)
        return exits.REFUSED
    bodies = customers()
    print(f"(stack) user latency through nginx, shadow stage, SHADOW_TIMEOUT=1s, {REQUESTS} requests per row")
    for name, fault in CASES:
        n = REQUESTS if not fault.get("FAULT_DELAY_S", "0").startswith("5") else 10
        with tempfile.TemporaryDirectory() as tmp:
            cfg = local_stack(
                model, Path(tmp), mode="shadow", candidate_app="deploy.drivers.faulty:app", candidate_env=fault
            )
            with Stack(cfg) as stack:
                keepalive = [r.latency_ms for r in replay(stack.cfg.url, bodies, n)]
                fresh = _fresh_connections(stack.cfg.url, bodies, n)
        print(_row(f"{name}, keepalive", keepalive))
        print(_row(f"{name}, new connection each", fresh))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

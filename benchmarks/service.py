"""Service figures: where the time of one prediction goes, from the model call
to HTTP under load, against a real uvicorn process on 127.0.0.1.

Run with `make bench` (needs `wrk`: `apt-get install wrk`). Figures only;
nothing here passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.main import create_app
from app.predictor import Predictor
from app.settings import ServiceSettings
from src import artifacts, config, data, schema
from src.features import build_features
from src.train import split
from tests.processes import free_port, running

CUSTOMER = schema.EXAMPLE_CUSTOMER
WRK_SECONDS = 5


def _per_call_us(fn: Callable[[], object], n: int = 5000) -> float:
    for _ in range(n // 10):
        fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def model_floor(predictor: Predictor) -> None:
    X, y = build_features(data.load(config.settings().churn_data))
    _, X_hold, _, _ = split(X, y)
    row = X_hold.iloc[[0]]
    matrix = row.to_numpy()
    columns = {k: [v] for k, v in CUSTOMER.items()}
    print("(a) one row, in-process")
    print(f"    sklearn predict_proba (DataFrame)   {_per_call_us(lambda: predictor.model.predict_proba(row)):8.1f} us")
    if predictor.fast_path is not None:
        print(f"    numpy replay of the same model      {_per_call_us(lambda: predictor.fast_path(matrix)):8.1f} us")
    print(
        f"    build_features + model (service)    {_per_call_us(lambda: predictor.churn_probability(columns)):8.1f} us"
    )


async def _asgi_call(app, body: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        return None

    await app(scope, receive, send)


async def _handler_cost(settings: ServiceSettings, n: int = 3000) -> float:
    import app.observability as observability

    app = create_app(settings)
    body = json.dumps(CUSTOMER).encode()
    async with app.router.lifespan_context(app):
        with open("/dev/null", "w") as sink:
            observability.configure_logging(sink)
            for _ in range(300):
                await _asgi_call(app, body)
            started = time.perf_counter()
            for _ in range(n):
                await _asgi_call(app, body)
            observability.configure_logging(sys.stdout)
    return (time.perf_counter() - started) / n * 1e6


def _wrk(url: str, connections: int, lua: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{WRK_SECONDS}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        figures[f"p{pct}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    figures["errors"] = float(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    return figures


def http(settings: ServiceSettings, tmp: Path) -> None:
    if shutil.which("wrk") is None:
        print("(c-e) skipped: wrk not found (apt-get install wrk)")
        return
    lua = tmp / "post.lua"
    body = json.dumps(CUSTOMER).replace('"', '\\"')
    lua.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = "{body}"\n')
    batch = tmp / "batch.lua"
    batch_body = json.dumps({"customers": [CUSTOMER] * 1000}).replace('"', '\\"')
    batch.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = "{batch_body}"\n'
    )
    service_port, constant_port = free_port(), free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    env = {"MODEL_PATH": str(settings.model_path)}
    with (
        running(
            [*uvicorn, "--port", str(service_port), "app.main:app"], f"http://127.0.0.1:{service_port}/health", env
        ),
        running(
            [*uvicorn, "--port", str(constant_port), "benchmarks.constant_app:app"],
            f"http://127.0.0.1:{constant_port}/docs",
        ),
    ):
        print(f"(c, d) HTTP on one uvicorn worker, wrk {WRK_SECONDS} s per row")
        print("    endpoint      conns   req/s     p50 ms   p99 ms   non-2xx")
        results = {}
        for name, url in (
            ("/predict", f"http://127.0.0.1:{service_port}/predict"),
            ("constant", f"http://127.0.0.1:{constant_port}/constant"),
        ):
            for conns in (1, 32):
                r = _wrk(url, conns, lua)
                results[(name, conns)] = r
                print(
                    f"    {name:<12} {conns:>5} {r['rps']:>8.0f} {r['p50']:>9.2f} {r['p99']:>8.2f} {r['errors']:>9.0f}"
                )
        share = results[("/predict", 32)]["rps"] / results[("constant", 32)]["rps"]
        print(f"    /predict throughput at c=32 = {share:.0%} of the constant endpoint (target >= 60 %)")
        print(f"    /predict p99 at c=32 = {results[('/predict', 32)]['p99']:.1f} ms (target <= 25 ms)")
        r = _wrk(f"http://127.0.0.1:{service_port}/predict/batch", 4, batch)
        print(f"(e) HTTP /predict/batch of 1000, c=4: {r['rps'] * 1000:,.0f} rows/s (p50 {r['p50']:.1f} ms)")


def main() -> int:
    folder = config.settings().artifact_dir
    if not (folder / artifacts.METRICS_FILE).is_file():
        print("no gated artifact: run `make run` (or `make model`) first", file=sys.stderr)
        return 1
    settings = ServiceSettings(model_path=folder / artifacts.MODEL_FILE)
    predictor = Predictor.load(settings)
    model_floor(predictor)
    print(f"(b) in-process /predict through the ASGI app      {asyncio.run(_handler_cost(settings)):8.1f} us")
    rows = {k: [v] * 1000 for k, v in CUSTOMER.items()}
    per_batch = _per_call_us(lambda: predictor.churn_probability(rows), n=300)
    print(f"(e) batch of 1000 in-process: {1000 / per_batch * 1e6:,.0f} rows/s")
    with tempfile.TemporaryDirectory() as tmp:
        http(settings, Path(tmp))
    return 0


if __name__ == "__main__":
    np.seterr(all="raise")
    sys.exit(main())

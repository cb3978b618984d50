"""Service figures: where the time of one prediction goes, from the model call
to HTTP under load, against a real uvicorn process on 127.0.0.1.

Run with `make bench` (needs `wrk`: `apt-get install wrk`). Figures only;
nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from app.main import create_app
from app.predictor import Predictor
from app.settings import ServiceSettings
from benchmarks.baseline import StepFailed, checkout
from src import artifacts, config, data, exits, schema, scoring
from src.config import ROOT
from src.features import build_features
from src.processes import free_port, stop, wait_healthy
from src.train import split
from tools import asgi

CUSTOMER = schema.EXAMPLE_CUSTOMER
WRK_SECONDS = 5
# Every HTTP row is measured this many times, the rows interleaved: on a shared machine one 5 s row can
# catch a neighbour's burst (the measurement behind it: docs/benchmarks.md, benchmarks/service.py).
ROUNDS = 3


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
    fast = scoring.fast_churn_probability(predictor.model)
    if fast is not None:
        print(f"    numpy replay of the same model      {_per_call_us(lambda: fast(matrix)):8.1f} us")
    service = _per_call_us(lambda: predictor.churn_probability(columns))
    print(f"    build_matrix + model (service)      {service:8.1f} us  (issue, build_features + model: 75)")


async def _handler_cost(settings: ServiceSettings, n: int = 3000) -> float:
    import app.observability as observability

    app = create_app(settings)
    body = json.dumps(CUSTOMER).encode()
    async with app.router.lifespan_context(app):
        with open("/dev/null", "w") as sink:
            observability.configure_logging(sink)
            for _ in range(300):
                await asgi.post(app, "/predict", body)
            started = time.perf_counter()
            for _ in range(n):
                await asgi.post(app, "/predict", body)
            observability.configure_logging(sys.stdout)
    return (time.perf_counter() - started) / n * 1e6


def _wrk(url: str, connections: int, lua: Path) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{WRK_SECONDS}s", "--latency", "-s", str(lua), url]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise StepFailed(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    out = done.stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        figures[f"p{pct}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    figures["errors"] = float(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    return figures


@contextmanager
def _server(argv: list[str], health: str, env: dict[str, str], log: Path, cwd: Path) -> Iterator[None]:
    """A real uvicorn in `cwd` (this checkout or the baseline's); a server that fails shows its own log."""
    env = {**os.environ, **env, "PYTHONPATH": str(cwd)}
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_healthy(health, proc)
            except (RuntimeError, TimeoutError) as exc:
                raise StepFailed(f"{' '.join(argv)} in {cwd}: {exc}\n{log.read_text()[-3000:]}") from None
            yield
        finally:
            stop(proc)


def _lua(path: Path, body: object) -> Path:
    text = json.dumps(body).replace('"', '\\"')
    path.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = "{text}"\n')
    return path


# The issue's figures (quiet 2-core VM, one uvicorn worker, wrk 5 s a row), printed beside today's.
ISSUE = {
    "constant": "7,043 /s p99 5.1",
    "validated": "5,434 /s p99 6.6",
    "predict": "1,994 /s",
    "share": "37 %",
    "p99": "65 ms",
    "batch": "33,390 rows/s",
}


def http(settings: ServiceSettings, tmp: Path, baseline: Path | None) -> None:
    """/predict against the validating constant in the same run, logs to a file, one worker each."""
    if shutil.which("wrk") is None:
        raise StepFailed("wrk not found: apt-get install -y wrk")
    one = _lua(tmp / "one.lua", CUSTOMER)
    batch = _lua(tmp / "batch.lua", {"customers": [CUSTOMER] * 1000})
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    served = [*uvicorn, "--http", "app.server:BoundedHttpToolsProtocol", "app.main:app"]  # as `make serve` runs it
    env = {"MODEL_PATH": str(settings.model_path)}
    ports = {name: free_port() for name in ("constant", "now", "baseline")}
    with ExitStack() as stack:
        stack.enter_context(
            _server(
                [*uvicorn, "--port", str(ports["constant"]), "benchmarks.constant_app:app"],
                f"http://127.0.0.1:{ports['constant']}/docs",
                {},
                tmp / "constant.log",
                ROOT,
            )
        )
        checkouts = {"now": ROOT, **({"baseline": baseline} if baseline else {})}
        for name, cwd in checkouts.items():
            port = ports[name]
            # the JSON prediction log goes to a real file, as a deployment's does
            stack.enter_context(
                _server(
                    [*served, "--port", str(port)], f"http://127.0.0.1:{port}/health", env, tmp / f"{name}.log", cwd
                )
            )
        base = f"http://127.0.0.1:{ports['constant']}"
        runs = {"constant": (f"{base}/constant", 32, one), "validated": (f"{base}/constant/validated", 32, one)}
        for name in checkouts:
            runs[name] = (f"http://127.0.0.1:{ports[name]}/predict", 32, one)
            runs[f"{name} batch"] = (f"http://127.0.0.1:{ports[name]}/predict/batch", 4, batch)
        rounds = [{name: _wrk(*run) for name, run in runs.items()} for _ in range(ROUNDS)]
        lines = sum(1 for _ in (tmp / "now.log").open())
    _table(_median_round(rounds), baseline, lines)


def _median_round(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per figure, the median over rounds; a share is taken within each round first (same minute, same load)."""
    out = {name: {k: float(np.median([r[name][k] for r in rounds])) for k in rounds[0][name]} for name in rounds[0]}
    for name in rounds[0]:
        out[name]["share"] = float(np.median([r[name]["rps"] / r["validated"]["rps"] for r in rounds]))
        out[name]["errors"] = sum(r[name]["errors"] for r in rounds)
    return out


def _table(r: dict[str, dict[str, float]], baseline: Path | None, log_lines: int) -> None:
    def cell(name: str, what: str) -> str:
        if name not in r:
            return "-"
        f = r[name]
        if what == "rps":
            return f"{f['rps']:,.0f} /s p99 {f['p99']:.1f}"
        if what == "share":
            return f"{f['share']:.0%}"
        if what == "p99":
            return f"{f['p99']:.1f} ms"
        return f"{f['rps'] * 1000:,.0f} rows/s"

    now = r["now"]
    rows = [
        ("constant, no body, c=32", "", ISSUE["constant"], "", cell("constant", "rps"), ""),
        ("constant validating Customer, c=32", "", ISSUE["validated"], "", cell("validated", "rps"), ""),
        ("/predict c=32, log to a file", "", ISSUE["predict"], cell("baseline", "rps"), cell("now", "rps"), ""),
        (
            "/predict share of validating constant",
            ">= 60 %",
            ISSUE["share"],
            cell("baseline", "share"),
            cell("now", "share"),
            f"{now['share'] / 0.60:.2f}",
        ),
        (
            "/predict p99 at c=32",
            "<= 20 ms",
            ISSUE["p99"],
            cell("baseline", "p99"),
            cell("now", "p99"),
            f"{20 / now['p99']:.2f}",
        ),
        (
            "/predict/batch of 1,000, c=4",
            ">= 150,000 rows/s",
            ISSUE["batch"],
            cell("baseline batch", "rows"),
            cell("now batch", "rows"),
            f"{r['now batch']['rps'] * 1000 / 150_000:.2f}",
        ),
    ]
    label = f"main {baseline.name}" if baseline else "main (not run)"
    head = ("figure", "target", "issue", label, "now", "ratio")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    print(
        f"(c-e) HTTP, one uvicorn worker each, wrk {WRK_SECONDS} s a row, median of {ROUNDS} interleaved rounds; "
        "ratio = now / target (>= 1 meets it)"
    )
    for row in [head, *rows]:
        print("    " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    errors = ", ".join(f"{name} {f['errors']:.0f}" for name, f in r.items() if f["errors"]) or "none"
    print(f"    non-2xx answers (all rounds): {errors}; prediction + access log lines written to a file: {log_lines:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REF", help="a git ref whose service is measured beside this one")
    args = parser.parse_args(argv)
    folder = config.settings().artifact_dir
    if not (folder / artifacts.METRICS_FILE).is_file():
        print("no gated artifact: run `make run` (or `make model`) first", file=sys.stderr)
        return exits.REFUSED
    settings = ServiceSettings(model_path=folder / artifacts.MODEL_FILE)
    predictor = Predictor.load(settings)
    model_floor(predictor)
    whole = asyncio.run(_handler_cost(settings))
    print(f"(b) in-process /predict through the ASGI app      {whole:8.1f} us  (issue: 379)")
    rows = {k: [v] * 1000 for k, v in CUSTOMER.items()}
    per_batch = _per_call_us(lambda: predictor.churn_probability(rows), n=300)
    print(f"(e) batch of 1000 in-process: {1000 / per_batch * 1e6:,.0f} rows/s")
    try:
        with tempfile.TemporaryDirectory() as tmp, checkout(args.baseline, Path(tmp)) as baseline:
            http(settings, Path(tmp), baseline)
    except StepFailed as exc:
        print(f"benchmarks.service: a step failed; its output:\n{exc}", file=sys.stderr)
        return exits.REFUSED
    return exits.OK


if __name__ == "__main__":
    np.seterr(all="raise")
    sys.exit(main())

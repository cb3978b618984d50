"""How often does the rollout reach the right verdict on a busy machine?

Runs real rollouts on the local stack, N times each, with six clients of
background traffic through nginx and (optionally) CPU burners beside them:
an identical candidate (A/A: the stable model itself, which must be
promoted), one slow on 3 % of requests (+100 ms) and one ten times slower
(+20 ms on every request), which must both be rolled back. Prints the count
of each outcome. Figures only; nothing here passes or fails.

With `--analysis prometheus` the latency and success checks are the PromQL
ones the Argo/Flagger export carries, against the stack's own Prometheus.

    python -m benchmarks.rollout_verdicts [--runs 20] [--burners 2] [--clients 6] [--analysis prometheus]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from deploy.control.controller import run
from deploy.drivers.stack import Stack
from deploy.drivers.traffic import customers, replay
from deploy.settings import RolloutSettings
from src import artifacts, config, exits
from tools.stacks import local_stack

CASES = {
    "identical (A/A)": ("app.main:app", {}),
    "3 % of requests +100 ms": ("deploy.drivers.faulty:app", {"FAULT_DELAY_S": "0.1", "FAULT_SLOW_SHARE": "0.03"}),
    "every request +20 ms": ("deploy.drivers.faulty:app", {"FAULT_DELAY_S": "0.02"}),
}


def _burn() -> None:
    while True:
        pass


def _background(url: str, bodies: list[dict], stop: threading.Event, start: int) -> None:
    """One user client: distinct customers in turn (the same few repeated would correlate the decisions)."""
    offset = start
    while not stop.is_set():
        for _ in replay(url, bodies[offset : offset + 20], 20):
            if stop.is_set():
                return
        offset = (offset + 20) % (len(bodies) - 20)


def one_rollout(
    model: Path, app: str, env: dict[str, str], clients: int, bodies: list[dict], analysis: str
) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        prod = Path(tmp) / "prod_metrics.json"
        shutil.copyfile(model.with_name(artifacts.METRICS_FILE), prod)
        stack_cfg = local_stack(model, Path(tmp) / "stack", candidate_app=app, candidate_env=env)
        stop = threading.Event()
        threads: list[threading.Thread] = []

        def start_load(line: str) -> None:  # once the stack is up: the rollout prints its header then
            if line.startswith("stage") and not threads:
                for client in range(clients):
                    start = client * len(bodies) // clients
                    threads.append(threading.Thread(target=_background, args=(stack_cfg.url, bodies, stop, start)))
                    threads[-1].start()

        try:
            cfg = RolloutSettings(analysis=analysis)
            code = run(stack_cfg, cfg, prod, Path(tmp) / "rollout.json", out=start_load)
            reason = (Path(tmp) / "rollout.json").read_text()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            Stack.attach(stack_cfg.stack_dir).down()
        return code == exits.OK, reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--case", choices=list(CASES), action="append")
    parser.add_argument("--analysis", choices=("logs", "prometheus"), default="logs")
    args = parser.parse_args(argv)
    model = config.settings().artifact_dir / artifacts.MODEL_FILE
    if not model.is_file():
        print("no gated model: run `make model` first", file=sys.stderr)
        return exits.REFUSED
    bodies = customers()
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    try:
        print(
            f"rollout verdicts ({args.analysis}): {args.runs} runs per case, {args.clients} clients,"
            f" {args.burners} CPU burners"
        )
        for name in args.case or CASES:
            app, env = CASES[name]
            outcomes: Counter[str] = Counter()
            started = time.perf_counter()
            for _ in range(args.runs):
                promoted, report = one_rollout(model, app, env, args.clients, bodies, args.analysis)
                outcomes["promoted" if promoted else "rolled back"] += 1
                if not promoted and not env:
                    print(f"    A/A rolled back: {json.loads(report)['reason']}")
            took = (time.perf_counter() - started) / args.runs
            print(
                f"  {name:<26} promoted {outcomes['promoted']:>3}  rolled back {outcomes['rolled back']:>3}"
                f"  ({took:.0f} s a rollout)"
            )
    finally:
        for burner in burners:
            burner.terminate()
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

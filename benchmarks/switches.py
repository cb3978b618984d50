"""Requests lost per stage switch under sustained keep-alive traffic: raw, and as the project's client sees it.

    python -m benchmarks.switches                    # a local stack of its own (no Docker), four switches
    python -m benchmarks.switches --target compose   # the running compose project (`make compose-up MODE=stable`)
    python -m benchmarks.switches --rounds 3         # the four switches three times over

Two keep-alive connections per client kind (--connections) (`POST /predict`, `POST
/predict/batch` of 10), back to back, through `shadow`, `canary 25`, `canary
50`, `stable`, with at least DWELL requests after each switch. Each request
is counted raw (the first attempt) and as deploy.drivers.traffic.post sees it (once
more when the connection closed before any response). Figures only, never a
verdict: the tests hold the zero (tests/deploy/test_switches.py,
tests/container/test_compose.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deploy.drivers import compose
from deploy.drivers.stack import Stack
from deploy.drivers.traffic import customers
from src import artifacts, config, exits
from tools.keepalive import SWITCHES, KeepAliveLoad, Tally, through_switches
from tools.stacks import local_stack

DWELL = 2000


def _rounds(url: str, switch: Callable[[str, int], None], rounds: int, connections: int) -> tuple[Tally, float]:
    started = time.monotonic()
    with KeepAliveLoad(url, customers(), connections) as load:
        through_switches(load, switch, SWITCHES * rounds, dwell_requests=DWELL)
    return load.tally, time.monotonic() - started


def stack(rounds: int, connections: int) -> tuple[Tally, float]:
    model = config.settings().artifact_dir / artifacts.MODEL_FILE
    with tempfile.TemporaryDirectory() as tmp:
        cfg = local_stack(model, Path(tmp), mode="stable", prometheus=False)
        with Stack(cfg) as running:
            return _rounds(running.cfg.url, running.set_stage, rounds, connections)


def in_compose(rounds: int, connections: int) -> tuple[Tally, float]:
    url = compose.published_url()
    compose.set_stage("stable", "0")
    return _rounds(url, lambda mode, percent: compose.set_stage(mode, str(percent)), rounds, connections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["stack", "compose"], default="stack")
    parser.add_argument("--rounds", type=int, default=1, help="how many times to run the four switches")
    parser.add_argument("--connections", type=int, default=2, help="keep-alive connections per client kind")
    args = parser.parse_args(argv)
    if args.target == "stack" and not (config.settings().artifact_dir / artifacts.MODEL_FILE).is_file():
        print("switches: no gated artifact: run `make model` first", file=sys.stderr)
        return exits.REFUSED
    try:
        tally, seconds = (stack if args.target == "stack" else in_compose)(args.rounds, args.connections)
    except (compose.ComposeError, RuntimeError, TimeoutError) as exc:
        return exits.refuse("switches", exc)
    total = tally.total()
    print(
        f"({args.target}) {len(SWITCHES) * args.rounds} switches under keep-alive load: {total.sent} requests "
        f"in {seconds:.1f} s ({total.sent / seconds:.0f} req/s), {args.connections} connections per kind"
    )
    print(tally.table())
    errors = total.errors
    if errors:
        print("    first errors: " + "; ".join(errors[:3]))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

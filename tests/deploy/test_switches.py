"""Stage switches under sustained keep-alive traffic: no request lost, raw or as the project's client sees it.

A switch used to reload nginx, whose old workers close idle keep-alive
connections at once: a client already sending its next request on one got
"Server disconnected without sending a response" (9 of 13,711 requests over
12 switches on this stack, 2026-12). The stage is now files nginx reads per
request, so a switch closes nothing. Several keep-alive clients per kind
(`/predict`, `/predict/batch`) run back to back through the issue's four
switches, thousands of requests each, and every request is counted raw (the
first attempt) and after deploy.drivers.traffic.post's one retry.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.drivers.stack import Stack
from deploy.settings import StackSettings
from src import artifacts, loopback
from src.processes import free_port
from tools.keepalive import SWITCHES, KeepAliveLoad, Tally, label, through_switches

CONNECTIONS = 2  # keep-alive clients per kind: 4 connections, as many as the race needs to show up
DWELL_REQUESTS = 1500  # per switch, after it: thousands of requests per switch window
SIGMAS = 4.5  # the canary share's band: a false alarm about once in 150,000 runs


def report(line: str) -> None:
    print(f"\n[switches] {line}")


@pytest.fixture
def switched(small_artifact: Path, bodies: list[dict[str, Any]], tmp_path_factory) -> Iterator[tuple[Stack, Tally]]:
    """One stack from `stable` through the four switches under keep-alive load."""
    model = small_artifact / artifacts.MODEL_FILE
    cfg = StackSettings(
        stable_model=model,
        candidate_model=model,
        mode="stable",
        port=free_port(),
        stable_port=free_port(),
        candidate_port=free_port(),
        prometheus=False,
        stack_dir=tmp_path_factory.mktemp("switches"),
    )
    with Stack(cfg) as stack:
        with KeepAliveLoad(stack.cfg.url, bodies, CONNECTIONS) as load:
            tally = through_switches(load, stack.set_stage, dwell_requests=DWELL_REQUESTS)
        report("local stack, 4 switches:\n" + tally.table())
        yield stack, tally


def test_four_switches_under_keep_alive_traffic_lose_no_request_and_reach_connections_already_open(
    switched: tuple[Stack, Tally], bodies: list[dict[str, Any]]
) -> None:
    """Both lessons of one run: a second test on the same stack would be a second stack under pytest-xdist.

    xdist's workers each build a module fixture one of their tests needs, and
    its `loadgroup` (one worker per marked group) no longer groups under pytest
    9.2 (pytest-dev/pytest-xdist#1386): two tests here drove two stacks and
    ~15,700 requests, 59 % of make deploy's traffic.
    """
    stack, tally = switched
    no_request_lost(tally)
    every_switch_reached_the_open_connections(stack, tally, bodies)


def no_request_lost(tally: Tally) -> None:
    for mode, percent in SWITCHES:
        window = tally.total(label(mode, percent))
        assert window.sent >= DWELL_REQUESTS, f"only {window.sent} requests around the {mode} switch: no real load"
        assert window.lost == 0, (
            f"switching to {label(mode, percent)} lost {window.lost} of {window.sent} requests even with one retry: "
            f"{window.errors}"
        )
        assert window.raw_lost == 0, (
            f"switching to {label(mode, percent)} closed {window.raw_lost} of {window.sent} keep-alive requests "
            f"under their clients ({window.errors}): does the switch reload nginx again?"
        )
    control = tally.total("no switch")
    assert control.raw_lost == 0, f"{control.raw_lost} requests failed with no switch at all: {control.errors}"


def every_switch_reached_the_open_connections(stack: Stack, tally: Tally, bodies: list[dict[str, Any]]) -> None:
    """Once the switch command returns, every request on the kept-alive connections meets the new stage."""
    for mode, percent in SWITCHES:
        window = tally.total(label(mode, percent))
        n, candidate = window.settled, window.settled_candidate
        assert n >= DWELL_REQUESTS // 2, f"only {n} requests after the switch to {label(mode, percent)} returned"
        if mode == "canary":
            p = percent / 100
            bound = SIGMAS * math.sqrt(n * p * (1 - p))
            assert abs(candidate - n * p) <= bound, (
                f"after switching to canary {percent}, {candidate} of {n} requests went to the candidate: "
                f"outside {n * p:.0f} +- {bound:.0f}"
            )
        else:
            assert candidate == 0, (
                f"after the switch to {mode} returned, the candidate still answered {candidate} of {n} requests: "
                "do connections already open keep the old stage?"
            )
    with loopback.client(base_url=stack.cfg.url) as client:
        assert client.get("/stage").json() == {"mode": "stable"}
        stack.set_stage("canary", 100)
        answer = client.post("/predict", json=bodies[0])
        assert answer.headers["x-model-variant"] == "candidate", "the same connection still routed by the old stage"

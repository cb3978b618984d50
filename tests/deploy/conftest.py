"""Real stacks for the deployment tests: two uvicorn services and nginx on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.drivers.stack import Stack
from deploy.drivers.traffic import customers
from deploy.settings import StackSettings
from src import artifacts
from src.processes import free_port

MakeStack = Callable[..., Stack]


@pytest.fixture(scope="session")
def bodies(small_artifact: Path) -> list[dict[str, Any]]:
    return customers(small_artifact / "snapshot.csv")


@pytest.fixture
def make_stack(small_artifact: Path, tmp_path: Path) -> Iterator[MakeStack]:
    """make_stack(mode=..., canary_percent=..., ...) starts a stack; every one started is stopped."""
    started: list[Stack] = []
    model = small_artifact / artifacts.MODEL_FILE

    def start(**overrides: Any) -> Stack:
        cfg = StackSettings(
            stable_model=model,
            candidate_model=model,
            port=free_port(),
            stable_port=free_port(),
            candidate_port=free_port(),
            prometheus_port=free_port(),
            prometheus=False,  # a stack that needs Prometheus asks for it: make_stack(prometheus=True)
            stack_dir=tmp_path / f"stack{len(started)}",
        )
        stack = Stack(cfg.model_copy(update=overrides))
        started.append(stack)
        return stack.up()

    yield start
    for stack in started:
        stack.down()


def log_events(path: Path, event: str) -> list[dict[str, Any]]:
    """The JSON lines of one event type from a service log."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == event]

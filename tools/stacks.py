"""A local stack's settings for a test or a benchmark: one model as stable and candidate, every port a free one.

Tests and benchmarks start many stacks side by side on a shared machine, so
none may take a documented default port (8080, 8001, 8002, 9090): each stack
gets ports the kernel just handed out, and the caller overrides what its
measurement is about (a mode, a faulty candidate, Prometheus off).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.settings import StackSettings
from src.processes import free_port


def local_stack(model: Path, stack_dir: Path, **overrides: Any) -> StackSettings:
    """StackSettings serving `model` as both variants from `stack_dir`, on free ports, then `overrides`."""
    return StackSettings(
        **{
            "stable_model": model,
            "candidate_model": model,
            "port": free_port(),
            "stable_port": free_port(),
            "candidate_port": free_port(),
            "prometheus_port": free_port(),  # its default 9090 is often a host Prometheus's
            "stack_dir": stack_dir,
            **overrides,
        }
    )

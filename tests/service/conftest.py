"""The launcher tests' own launcher: one for tests/service, not one per module (each costs ~2 s of CPU to import)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from src import launcher


@pytest.fixture(scope="session")
def server() -> Iterator[launcher.Server]:
    """A launcher these tests start and stop themselves: the session's may be off (make LAUNCHER=0)."""
    started = launcher.start()
    yield started
    started.stop()

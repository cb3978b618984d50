"""Test-only process helpers: a test surface run in a fresh pytest, an artifact pair compared byte for byte.

Starting, waiting for and stopping servers is src/processes.py's job (the
stack, labs and benchmarks do it the same way); what is here serves only tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from src import artifacts, launcher
from src.config import ROOT


def run_pytest(
    target: str, env: dict[str, str], timeout: float = 300, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run one test surface (or file) in a fresh process, as CI would, with env overrides.

    How the suite proves its own gates go red: point them at a broken
    snapshot through the environment and read the real verdict.
    """
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, target]
    return launcher.run(argv, cwd=ROOT, env={**os.environ, **env}, timeout=timeout)


def pair_bytes(folder: Path) -> dict[str, bytes]:
    """The artifact pair in `folder`, byte for byte: what "unchanged" and "identical" compare."""
    return {name: (folder / name).read_bytes() for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE)}

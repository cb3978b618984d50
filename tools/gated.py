"""A model the real gate passed, made on demand: what the service, the stack and the benchmarks need to start.

The service refuses any model file the gate did not pass, so every test and
benchmark that serves one makes it the way the pipeline does (`src.gate.stage.run`),
never by training and saving by hand.
"""

from __future__ import annotations

from pathlib import Path

from src import artifacts
from src.gate import stage


class NotGated(RuntimeError):
    """The gate refused the model; the message names each failed check."""


def gated(snapshot: Path, out: Path, baseline: Path | None = None, seed: int = 42) -> Path:
    """Run the real gate stage on `snapshot`; returns the gated model file (the gate must pass)."""
    result = stage.run(snapshot, out, seed, baseline or out / "no_baseline_yet.json")
    if not result.passed:  # one line naming each failed check: a fixture error is read by every test that needs it
        failed = "; ".join(f"{c.id}: {c.detail}" for c in result.record.gate.checks if c.outcome == "failed")
        raise NotGated(f"the model did not pass the gate: {failed}")
    return out / artifacts.MODEL_FILE

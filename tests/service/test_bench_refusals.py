"""The benchmarks as a user runs them on bad input: exit 2 (src/exits.py REFUSED) and one readable line.

A benchmark prints figures and never a verdict, so it has no exit 1; what it
can do wrong is start measuring without what it needs, or die with a
traceback. Each case here runs the real `python -m benchmarks.<name>` with one
thing missing, before any server starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from src import exits
from src.processes import run_module


def _cases(tmp: Path) -> dict[str, tuple[tuple[str, ...], dict[str, str], str]]:
    """module -> (args, env, what the line must name): an empty ARTIFACT_DIR, or a file that is not there."""
    empty = {"ARTIFACT_DIR": str(tmp)}
    return {
        "benchmarks.service": ((), empty, "no gated artifact"),
        "benchmarks.stack": ((), empty, "no gated artifact"),
        "benchmarks.switches": ((), empty, "no gated artifact"),
        "benchmarks.rollout_verdicts": ((), empty, "no gated model"),
        "benchmarks.hostile": (("--model", str(tmp / "none.skops")), {}, "no model file"),
        "benchmarks.hostile_archives": (("--model", str(tmp / "none.skops")), {}, "no model file"),
        "benchmarks.evidence": (("--telco", str(tmp / "none.csv")), {}, "none.csv"),
    }


@pytest.mark.parametrize("module", list(_cases(Path("."))))
def test_a_benchmark_missing_its_input_refuses_with_exit_2_and_one_line(module: str, tmp_path: Path) -> None:
    args, env, names = _cases(tmp_path)[module]
    done = run_module(module, *args, env=env)
    assert done.returncode == exits.REFUSED, f"{module} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, f"{module}: not one readable line: {done.stderr!r}"
    assert names in done.stderr, f"{module}: the line should say what is missing ({names!r}): {done.stderr!r}"

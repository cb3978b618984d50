"""A candidate the service could not load is refused by the rollout in one line, before any process starts.

Exit 3 (exits.REFUSED), never 1: 1 means "rolled back", which a crashing
rollout used to print with a traceback. The hostile archives are the
service's own (tools/archives.py), each with a record that matches it.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

from deploy.rollout import main
from src import artifacts, exits, launcher
from src.config import ROOT
from src.processes import free_port
from tools import archives


def _hostile(case: str, small_artifact: Path, folder: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicate member is written on purpose
        return archives.write_case(case, small_artifact / artifacts.MODEL_FILE, folder)


def _env(small_artifact: Path, candidate: Path, stack_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STABLE_MODEL": str(small_artifact / artifacts.MODEL_FILE),
        "CANDIDATE_MODEL": str(candidate),
        "STACK_DIR": str(stack_dir),
        "STACK_PORT": str(free_port()),
        "STABLE_PORT": str(free_port()),
        "CANDIDATE_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
        "PROMETHEUS": "false",
        "CHURN_DATA": str(small_artifact / "snapshot.csv"),
    }


def test_every_unloadable_candidate_exits_refused_before_the_stack_starts(
    small_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_dir = tmp_path / "stack"
    monkeypatch.setenv("STACK_DIR", str(stack_dir))
    monkeypatch.setenv("PROMETHEUS", "false")
    for i, case in enumerate(archives.CASES):
        candidate = _hostile(case, small_artifact, tmp_path / str(i))
        code = main(["--stable", str(small_artifact / artifacts.MODEL_FILE), "--candidate", str(candidate)])
        captured = capsys.readouterr()
        assert code == exits.REFUSED, f"{case}: exit {code}, expected {exits.REFUSED} (refused):\n{captured.err}"
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, f"{case}: one line expected: {captured.err}"
        assert lines[0].startswith("rollout refused: "), f"{case}: {captured.err}"
        assert archives.CASES[case][1] in lines[0], f"{case}: the line should name the cause: {lines[0]}"
        assert not (stack_dir / "state.json").exists(), f"{case}: a stack was started for a refused candidate"


def test_the_rollout_command_refuses_an_unfitted_candidate_in_one_line(small_artifact: Path, tmp_path: Path) -> None:
    candidate = _hostile("unfitted Pipeline(StandardScaler, LogisticRegression)", small_artifact, tmp_path / "cand")
    stack_dir = tmp_path / "stack"
    done = launcher.run(
        [sys.executable, "-m", "deploy.rollout"],
        cwd=ROOT,
        env=_env(small_artifact, candidate, stack_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == exits.REFUSED, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.stderr.strip().count("\n") == 0, f"one line expected:\n{done.stderr}"
    assert "is not fitted" in done.stderr, done.stderr
    assert not stack_dir.exists() or not any(stack_dir.iterdir()), "nothing may start for a refused candidate"

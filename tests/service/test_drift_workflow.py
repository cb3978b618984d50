"""The drift workflow's own shell, run here on a log artifact laid out as the runner downloads it.

GitHub cannot be reached from a test, but everything after the download can:
the `judge` step of .github/workflows/drift.yml is taken from the YAML as it
is and run with bash, with `.venv/bin/python` being this interpreter (its
`-m` lines forked from the suite's launcher, src/launcher.py), on a
folder holding stable.log and candidate.log as a shadow stack writes them.
What it writes to $GITHUB_OUTPUT is what decides whether training is
dispatched, so that is what these tests read.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from src import launcher
from src.config import ROOT
from tests.unit.test_workflow_contract import DRIFT, load
from tools.service_log import prediction_line, write_log

ARTIFACT_ROWS = 600


def step(name_or_id: str) -> dict[str, str]:
    steps = load(DRIFT)["jobs"]["check"]["steps"]
    return next(s for s in steps if name_or_id in (s.get("id"), s.get("name")))


class StepResult(NamedTuple):
    code: int
    outputs: dict[str, str]  # what the step wrote to $GITHUB_OUTPUT
    summary: str  # what it wrote to $GITHUB_STEP_SUMMARY
    log: str  # stdout + stderr, as the run's log shows them


def run_step(workdir: Path, script: str, env: dict[str, str], fresh: bool = False) -> StepResult:
    """Run one step's script like the runner does (bash -eo pipefail); `fresh`: its python a new interpreter."""
    launcher.write_python_shim(workdir / ".venv" / "bin" / "python", fresh=fresh)
    output, summary = workdir / "github_output", workdir / "step_summary"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "example/churn-service",
        **env,
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    outputs = dict(
        line.split("=", 1) for line in (output.read_text() if output.exists() else "").splitlines() if "=" in line
    )
    return StepResult(
        proc.returncode, outputs, summary.read_text() if summary.exists() else "", proc.stdout + proc.stderr
    )


def artifact(folder: Path, customers: pd.DataFrame) -> Path:
    """The prediction-log artifact of a shadow stack: every request in stable.log and again in candidate.log."""
    folder.mkdir(parents=True)
    write_log(folder / "stable.log", customers)
    mirrored = [prediction_line(row, f"req-{i}", "candidate") for i, (_, row) in enumerate(customers.iterrows())]
    (folder / "candidate.log").write_text("\n".join(mirrored) + "\n")
    return folder


def judge(
    tmp_path: Path, customers: pd.DataFrame, env: dict[str, str] | None = None, fresh: bool = False
) -> StepResult:
    artifact(tmp_path / "prediction-log", customers)
    judge_step = step("judge")
    return run_step(tmp_path, judge_step["run"], {**judge_step.get("env", {}), **(env or {})}, fresh)


def test_a_drifted_artifact_sets_retrain_with_the_reason(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    customers = snapshot.sample(ARTIFACT_ROWS, random_state=3)
    risen = customers.assign(
        monthly_charges=customers["monthly_charges"] * 1.5, total_charges=customers["total_charges"] * 1.5
    )
    result = judge(tmp_path, risen)
    assert result.code == 0, f"a retrain verdict is a result, not a failed step:\n{result.log}"
    assert result.outputs.get("status") == "retrain", f"exit 1 + a retrain report: {result.outputs}"
    assert result.outputs.get("reason", "").startswith("retrain: monthly_charges PSI"), result.outputs
    assert f"drift: {ARTIFACT_ROWS:,} recent predictions" in result.summary, "candidate.log's mirrors counted twice"
    assert f"| mirrored | {ARTIFACT_ROWS:,} |" in result.summary, "the run summary must show the skipped mirrors"


def test_an_undrifted_artifact_sets_ok_and_no_reason(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    result = judge(tmp_path, snapshot.sample(ARTIFACT_ROWS, random_state=4))
    assert result.code == 0, result.log
    assert result.outputs == {"status": "ok"}, f"a green check gives the dispatch nothing to act on: {result.outputs}"


def test_an_artifact_that_cannot_be_judged_fails_the_run_and_dispatches_nothing(
    tmp_path: Path, snapshot: pd.DataFrame
) -> None:
    result = judge(tmp_path, snapshot.head(10))  # far under MIN_ROWS
    assert result.code == 2, f"src.drift's input error (2) must fail the step, got {result.code}:\n{result.log}"
    assert "status" not in result.outputs, "a log that could not be judged must neither look green nor retrain"
    assert "need at least" in result.log, "the run log must say why the log could not be judged"


def test_a_crash_exits_1_like_retrain_but_fails_the_run_and_dispatches_nothing(
    tmp_path: Path, snapshot: pd.DataFrame
) -> None:
    # A runner without matplotlib (a development extra): src.drift judges the log, then crashes drawing the
    # page, exiting 1 as a retrain verdict does. Only the report, written last, may say "retrain".
    blocker = tmp_path / "no-matplotlib"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text('import sys\nsys.modules["matplotlib"] = None\n')
    customers = snapshot.sample(ARTIFACT_ROWS, random_state=3)
    risen = customers.assign(
        monthly_charges=customers["monthly_charges"] * 1.5, total_charges=customers["total_charges"] * 1.5
    )
    result = judge(tmp_path, risen, {"PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}, fresh=True)
    assert "import of matplotlib halted" in result.log, f"the crash this test stages did not happen:\n{result.log}"
    assert result.code == 1, f"a crash must fail the step, got {result.code}:\n{result.log}"
    assert "status" not in result.outputs, f"a crash was read as a verdict: {result.outputs}"
    assert not (tmp_path / "drift.json").exists(), "a crashed run left a report behind"


@pytest.mark.parametrize(("source", "message"), [("ftp", "unknown log source"), ("object-storage", "DRIFT_LOG_URI")])
def test_a_misconfigured_log_source_fails_with_one_readable_line(tmp_path: Path, source: str, message: str) -> None:
    fetch = step("Fetch the latest prediction log")
    result = run_step(tmp_path, fetch["run"], {"SOURCE": source, "URI": "", "ARTIFACT": "prediction-log"})
    assert result.code == 2, f"source {source!r}: the fetch must fail before anything is judged:\n{result.log}"
    errors = [line for line in result.log.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, f"expected one ::error line, got:\n{result.log}"
    assert message in errors[0]

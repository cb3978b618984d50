"""`make ci` must behave like the GitHub runner, or a green local run means nothing.

Each test runs a tiny workflow of shell one-liners through tools.ci_local and
checks one rule of GitHub's step semantics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools import ci_local

CI_YML = ci_local.WORKFLOW


def _workflow(tmp_path: Path, steps: list[dict]) -> Path:
    path = tmp_path / "wf.yml"
    path.write_text(yaml.safe_dump({"jobs": {"gates": {"steps": steps}}}))
    return path


def _run(tmp_path: Path, steps: list[dict]) -> tuple[int, str]:
    log = tmp_path / "out.log"
    with log.open("w") as out:
        code = ci_local.run_job(ci_local.load_steps(_workflow(tmp_path, steps)), cwd=tmp_path, out=out)
    return code, log.read_text()


def test_make_ci_reads_its_steps_from_ci_yml_not_from_a_copy() -> None:
    runs = [s.run for s in ci_local.load_steps() if s.run]
    raw = [s["run"] for s in yaml.safe_load(CI_YML.read_text())["jobs"]["gates"]["steps"] if "run" in s]
    assert runs == raw, "make ci runs a different step list than the gates job in ci.yml"


def test_a_red_step_stops_later_steps_but_not_always_steps(tmp_path: Path) -> None:
    code, out = _run(
        tmp_path,
        [
            {"name": "first", "run": "touch first"},
            {"name": "red", "run": "exit 3"},
            {"name": "after", "run": "touch after"},
            {"name": "summary", "if": "always()", "run": "touch summary"},
        ],
    )
    assert code == 1, "a job with a red step must exit non-zero, or `make ci` reports green on a failed gate"
    assert (tmp_path / "first").exists(), "steps before the failure did not run"
    assert not (tmp_path / "after").exists(), "a step ran after a failure: GitHub would have skipped it"
    assert (tmp_path / "summary").exists(), "an `if: always()` step was skipped after a failure"
    assert "exit 3" in out, f"the recap does not show which step failed and how:\n{out}"


def test_a_failing_command_inside_a_pipe_fails_the_step(tmp_path: Path) -> None:
    code, _ = _run(tmp_path, [{"name": "pipe", "run": "false | cat"}])
    assert code == 1, "`shell: bash` runs with pipefail on GitHub; locally a failing pipe passed"


def test_uses_steps_are_skipped_and_the_step_summary_is_printed(tmp_path: Path) -> None:
    code, out = _run(
        tmp_path,
        [
            {"name": "checkout", "uses": "actions/checkout@0000000000000000000000000000000000000000"},
            {"name": "summary", "if": "${{ always() }}", "run": 'echo "| gate | PASSED |" >> "$GITHUB_STEP_SUMMARY"'},
        ],
    )
    assert code == 0, out
    assert "GitHub only: actions/checkout" in out, f"a skipped action step is not reported as skipped:\n{out}"
    assert out.rstrip().endswith("| gate | PASSED |"), f"the step summary is not printed at the end:\n{out}"


def test_an_if_that_cannot_be_evaluated_locally_is_refused(tmp_path: Path) -> None:
    path = _workflow(tmp_path, [{"name": "x", "if": "github.event_name == 'push'", "run": "true"}])
    with pytest.raises(ValueError, match="understands only"):
        ci_local.load_steps(path)


def test_each_local_ci_run_starts_with_no_artifacts_like_a_fresh_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTIFACT_DIR", raising=False)
    code, out = _run(
        tmp_path,
        [{"name": "fresh", "run": 'test -d "$ARTIFACT_DIR" && test -z "$(ls -A "$ARTIFACT_DIR")"'}],
    )
    assert code == 0, f"an old metrics.json could stand in for a gate that never ran:\n{out}"

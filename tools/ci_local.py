"""Run CI's `gates` job on this machine, step by step, as GitHub would.

The step list is read from .github/workflows/ci.yml rather than repeated here,
so `make ci` cannot drift from what GitHub runs. GitHub's rules are kept:
steps run in order in `bash -eo pipefail`; after a red step only `if: always()`
(or `failure()`) steps still run; the job is red if any step was. Steps that
`uses:` an action (checkout, setup-python, artifact upload) exist only on a
runner and are skipped. `$GITHUB_STEP_SUMMARY` points at a temp file that is
printed at the end, so you read the same table the run page would show.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
JOB = "gates"
CONDITIONS = ("success()", "always()", "failure()")


@dataclass(frozen=True)
class Step:
    name: str
    run: str | None
    uses: str | None
    condition: str

    def should_run(self, job_failed: bool) -> bool:
        if self.condition == "always()":
            return True
        return job_failed if self.condition == "failure()" else not job_failed


def load_steps(workflow: Path = WORKFLOW, job: str = JOB) -> list[Step]:
    """The job's steps; an `if:` this runner cannot evaluate is an error, not a guess."""
    doc = yaml.safe_load(workflow.read_text())
    steps = []
    for raw in doc["jobs"][job]["steps"]:
        condition = str(raw.get("if", "success()")).removeprefix("${{").removesuffix("}}").strip()
        name = raw.get("name") or raw.get("run") or raw.get("uses")
        if condition not in CONDITIONS:
            raise ValueError(f"step {name!r} has `if: {condition}`; `make ci` understands only {', '.join(CONDITIONS)}")
        steps.append(Step(name=name, run=raw.get("run"), uses=raw.get("uses"), condition=condition))
    return steps


def _step_env(summary: Path, artifact_dir: Path) -> dict[str, str]:
    # A fresh folder for the artifact pair, as a runner's fresh checkout has: a
    # metrics.json left by an earlier local run must never stand in for this one.
    env = {"ARTIFACT_DIR": str(artifact_dir), **os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    # Each step runs `make <target>` as a developer types it, not as a sub-make.
    for key in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        env.pop(key, None)
    return env


def run_job(steps: list[Step], title: str = JOB, cwd: Path = ROOT, out=sys.stdout) -> int:
    """Run the steps with GitHub's semantics; print a recap and the step summary; return the exit code."""
    failed = False
    recap: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "step_summary.md"
        summary.touch()
        artifact_dir = Path(tmp) / "artifacts"
        artifact_dir.mkdir()
        for i, step in enumerate(steps, 1):
            if step.run is None:
                recap.append(("skip", step.name, f"GitHub only: {str(step.uses).split('@')[0]}"))
                continue
            if not step.should_run(failed):
                recap.append(("-", step.name, "not run: an earlier step failed"))
                continue
            print(f"\n==> [{i}/{len(steps)}] {step.name}: {step.run.strip()}", file=out, flush=True)
            start = time.perf_counter()
            code = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run],
                cwd=cwd,
                env=_step_env(summary, artifact_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
            took = f"{time.perf_counter() - start:.1f}s"
            failed = failed or code != 0
            recap.append(("ok" if code == 0 else "FAIL", step.name, took if code == 0 else f"{took}, exit {code}"))
        print(f"\n==> {title}: {'FAILED' if failed else 'passed'}", file=out)
        for mark, name, note in recap:
            print(f"  {mark:<5} {name}  ({note})", file=out)
        print("\n==> step summary (what the run page shows)\n", file=out)
        print(summary.read_text().rstrip() or "(empty)", file=out, flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run CI's gates job locally, from .github/workflows/ci.yml.")
    parser.add_argument("--workflow", type=Path, default=WORKFLOW)
    parser.add_argument("--job", default=JOB)
    args = parser.parse_args(argv)
    return run_job(load_steps(args.workflow, args.job), title=args.job)


if __name__ == "__main__":
    sys.exit(main())

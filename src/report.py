"""Print the gated model's metrics and the gate's verdict as a table.

Reads only metrics.json (the artifact's record), so `make run`, `make ci`
and the CI step summary all show the same numbers the gate judged.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from src import artifacts, config

NO_METRICS = "gate failed before producing metrics"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render(metrics: dict[str, Any], model_path: Path) -> str:
    """A GitHub-flavoured markdown table: readable in a terminal and in a CI summary."""
    lines = [
        f"model `{model_path}` (version {metrics.get('model_version', '?')}, seed {metrics.get('seed')})",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for key in ("holdout_auc", "holdout_ece", "n_train", "n_holdout", "predict_p99_ms"):
        lines.append(f"| {key} | {_fmt(metrics.get(key))} |")
    gate = metrics.get("gate")
    lines += ["", "| gate | value | threshold | result |", "| --- | --- | --- | --- |"]
    if not gate:
        lines.append("| (gate not run) | - | - | - |")
    else:
        for row in gate["checks"]:
            mark = {"passed": "pass", "failed": "FAIL"}.get(row["outcome"], row["outcome"])
            lines.append(f"| {row['check']} | {_fmt(row['value'])} | {row['op']} {_fmt(row['threshold'])} | {mark} |")
        not_run = gate.get("not_run", [])
        why = ", ".join(gate["failed_tests"]) or (f"not run: {', '.join(not_run)}" if not_run else "see log")
        verdict = "PASSED" if gate["passed"] else f"FAILED ({why})"
        lines += ["", f"gate: **{verdict}**"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show the gated model's metrics table.")
    parser.add_argument("--dir", type=Path, default=None, help="artifact folder (default: $ARTIFACT_DIR)")
    args = parser.parse_args(argv)
    folder = args.dir or config.artifact_dir()
    metrics_path = folder / artifacts.METRICS_FILE
    if not metrics_path.is_file():
        print(NO_METRICS)
        return 1
    metrics = artifacts.read_json(metrics_path)
    print(render(metrics, Path(os.path.relpath(folder / artifacts.MODEL_FILE))))
    return 0 if metrics.get("gate", {}).get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())

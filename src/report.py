"""Print a model's record and the gate's verdict as a table.

Reads only the typed record (metrics.json), so `make run`, `make ci`, the
gate's own CLI and the CI summary all show the numbers the gate judged. A
failed gate leaves its record in `rejected/`; the report shows that one,
because it is the newest verdict, and says the last gated pair is untouched.

Exit codes (src/exits.py): 0 the gate passed; 1 it failed (the table says
which check); 2 no record, an unreadable one, or a card that cannot be drawn
(one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from src import artifacts, atomic, config, exits, record
from src.record import ArtifactRecord, RecordError


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render(rec: ArtifactRecord, model_path: Path) -> str:
    """A GitHub-flavoured markdown table: readable in a terminal and in a CI summary."""
    # Relative only inside the working folder: `make ci` gates into a temporary folder, never `../../tmp…`.
    relative = os.path.relpath(model_path)
    shown = model_path if relative.startswith("..") else relative
    lines = [
        f"model `{shown}` (version {rec.model_version}, seed {rec.seed})",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for key in ("holdout_auc", "holdout_ece", "n_train", "n_holdout", "predict_p99_ms"):
        lines.append(f"| {key} | {_fmt(getattr(rec, key))} |")
    lines += ["", "| gate check | value | threshold | result |", "| --- | --- | --- | --- |"]
    if rec.gate is None:
        lines += ["| (gate not run: an ungated training run) | - | - | - |", "", "gate: **NOT RUN**"]
        return "\n".join(lines)
    for check in rec.gate.checks:
        mark = {"passed": "pass", "failed": "FAIL", "skipped": "skipped"}[check.outcome]
        threshold = "-" if check.outcome == "skipped" else f"{check.op} {_fmt(check.threshold)}"
        lines.append(f"| {check.label} | {_fmt(check.value)} | {threshold} | {mark} |")
    if rec.gate.passed:
        lines += ["", "gate: **PASSED**"]
    else:
        lines += ["", f"gate: **FAILED ({', '.join(rec.gate.failed)})**"]
        lines += [f"- {c.id}: {c.detail}" for c in rec.gate.checks if c.outcome == "failed"]
    return "\n".join(lines)


def latest(folder: Path) -> tuple[Path, bool] | None:
    """The newest verdict in an artifact folder: (record path, is it a rejection?), or None."""
    rejected = folder / artifacts.REJECTED_DIR / artifacts.METRICS_FILE
    if rejected.is_file():
        return rejected, True
    gated = folder / artifacts.METRICS_FILE
    return (gated, False) if gated.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show the last gate run's record and verdict.")
    parser.add_argument("--dir", type=Path, default=None, help="artifact folder (default: $ARTIFACT_DIR)")
    parser.add_argument("--html", type=Path, default=None, help="write the model card (HTML) here instead")
    parser.add_argument("--data", type=Path, default=None, help="the snapshot it was gated on (default: $CHURN_DATA)")
    parser.add_argument(
        "--mermaid", action="store_true", help="append the card's charts as Mermaid (a CI job summary renders them)"
    )
    args = parser.parse_args(argv)
    folder = args.dir or config.settings().artifact_dir
    found = latest(folder)
    if found is None:
        print(
            f"report: no gate record in {folder}: the gate has not run here yet (`make model`, or `make run`)",
            file=sys.stderr,
        )
        return exits.REFUSED
    path, rejected = found
    try:
        rec = record.read(path)
    except RecordError as exc:
        return exits.refuse("report", exc)
    if args.html is not None:
        snapshot = args.data or config.settings().churn_data
        return write_card(rec, path.with_name(artifacts.MODEL_FILE), snapshot, args.html)
    print(render(rec, path.with_name(artifacts.MODEL_FILE)))
    if args.mermaid:
        from src import card  # as for --html

        print(card.mermaid(rec, path.with_name(artifacts.MODEL_FILE), args.data or config.settings().churn_data))
    if rejected:
        print(f"\nthe candidate was kept in {path.parent}; the last gated pair in {folder} is unchanged")
    return exits.OK if rec.gate_passed and not rejected else exits.NO


def write_card(rec: ArtifactRecord, model_path: Path, data_path: Path, target: Path) -> int:
    """Render the card and replace `target` atomically: a failed render never leaves half a page."""
    from src import card  # matplotlib is a development extra, imported only when a card is drawn

    try:
        text = card.render(rec, model_path, data_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(target, text)
    except (card.CardError, artifacts.ArtifactError, RecordError, ValueError, OSError) as exc:
        return exits.refuse("report", exc)
    verdict = "not gated" if rec.gate is None else "gate passed" if rec.gate.passed else "gate FAILED"
    print(f"model card ({verdict}, model {rec.model_version}): {target} ({len(text.encode()) / 1024:.0f} KiB)")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

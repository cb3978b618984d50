"""The gate's evidence checks, measured: never pass/fail, figures for the closing note and docs/gate.md.

1. Spellings: the contract's plans renamed consistently (src/schema.py and
   the data, as a fork whose export says `Month-to-month`, `One year` does):
   holdout AUC before and after, on a copy of the tree.
2. The same rename with the feature code of BASE_REF (which compared against
   the literals "one-year" / "two-year"): the gate's verdict and the dead
   features it names.
3. The fork walkthrough (docs/fork.md, tools/fork_walkthrough.py) applied to
   a copy: holdout AUC before and after the new input, its moves_ figure.
4. False refusals: the evidence checks (dead_features, moves_*, direction_*)
   on N healthy pipelines (generator seed = training seed = 0..N-1); the
   lowest margin of each figure over its threshold.

    .venv/bin/python -m benchmarks.evidence [--seeds 20] [--telco path/to/telco_customer_churn.csv]

With --telco the real table is mapped by mappings/telco.toml (src.ingest)
into a temp folder and measured the same way in 1 and 2; it is never copied
into the project.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.baseline import StepFailed
from src import exits, ingest, make_dataset
from src.config import ROOT
from src.gate import stage
from tools.copies import copy_tree

BASE_REF = "eebcd3f"  # the last commit whose src/features.py spelled the plans itself
RENAMED = {"month-to-month": "Month-to-month", "one-year": "One year", "two-year": "Two year"}
CONTRACT_LINES = ('allowed=("month-to-month", "one-year", "two-year"),', 'example="month-to-month",')
EVIDENCE_PREFIXES = ("dead_features", "moves_", "direction_")


def rename_contract(root: Path) -> None:
    """src/schema.py of the copy spells the plans as the Telco export does."""
    path = root / "src" / "schema.py"
    text = path.read_text()
    for line in CONTRACT_LINES:
        if line not in text:
            raise StepFailed(f"src/schema.py no longer holds {line!r}; update CONTRACT_LINES")
        renamed = line
        for old, new in RENAMED.items():
            renamed = renamed.replace(f'"{old}"', f'"{new}"')
        text = text.replace(line, renamed)
    path.write_text(text)


def renamed_snapshot(snapshot: Path, out: Path) -> Path:
    frame = pd.read_csv(snapshot, dtype=str, keep_default_na=False)
    frame.assign(contract=frame["contract"].map(RENAMED)).to_csv(out, index=False, lineterminator="\n")
    return out


def run_gate(root: Path, snapshot: Path, out: Path) -> tuple[int, dict]:
    """`python -m src.gate` in the copy `root`, no baseline; its exit code and the record it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", "src.gate", "--data", str(snapshot), "--out", str(out), "--baseline", str(out / "none")],
        cwd=root,
        capture_output=True,
        text=True,
    )
    written = out / "metrics.json" if done.returncode == 0 else out / "rejected" / "metrics.json"
    if not written.is_file():
        raise StepFailed(f"the gate wrote no record (exit {done.returncode}): {done.stderr[-500:]}")
    return done.returncode, json.loads(written.read_text())


def spellings(work: Path, snapshots: dict[str, Path]) -> None:
    template, renamed, literal = (copy_tree(work / name) for name in ("template", "renamed", "literal"))
    rename_contract(renamed)
    rename_contract(literal)
    old_features = subprocess.run(
        ["git", "show", f"{BASE_REF}:src/features.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    (literal / "src" / "features.py").write_text(old_features)
    print("1-2. plans spelled Month-to-month / One year / Two year in src/schema.py and the data")
    for name, snapshot in snapshots.items():
        slug = name.replace("/", "_").replace(" ", "_")
        respelt = renamed_snapshot(snapshot, work / f"{slug}-renamed.csv")
        code0, before = run_gate(template, snapshot, work / f"out-{slug}-template")
        code1, after = run_gate(renamed, respelt, work / f"out-{slug}-renamed")
        code2, lit = run_gate(literal, respelt, work / f"out-{slug}-literal")
        dead = next(c for c in lit["gate"]["checks"] if c["id"] == "dead_features") if lit["gate"] else None
        print(f"  {name}")
        print(f"    contract spellings      AUC {before['holdout_auc']:.4f}  gate exit {code0}")
        print(
            f"    renamed consistently    AUC {after['holdout_auc']:.4f}  gate exit {code1}  "
            f"(difference {after['holdout_auc'] - before['holdout_auc']:+.4f})"
        )
        print(
            f"    + {BASE_REF} literals    AUC {lit['holdout_auc']:.4f}  gate exit {code2}  "
            f"failed {lit['gate']['failed']}"
        )
        if dead and dead["outcome"] == "failed":
            print(f"      dead_features: {dead['detail']}")


def walkthrough(work: Path) -> None:
    """docs/fork.md's steps on a copy, the gate run by the page's own `make model`; the figures the page quotes."""
    from tools.fork_walkthrough import NEW_INPUT, STEPS

    root = copy_tree(work / "fork")
    _, before = run_gate(root, root / "data" / "churn.csv", work / "fork-before")
    venv = Path(sys.executable).parent.parent  # the pages' commands run with the project's venv activated
    env = {**os.environ, "VENV": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    for name in ("CHURN_DATA", "ARTIFACT_DIR", "PROD_METRICS"):
        env.pop(name, None)
    for step in STEPS:
        step.apply(root)
        for command in step.commands:
            subprocess.run(["bash", "-c", command], cwd=root, env=env, check=True, capture_output=True)
        if step.derive is not None:
            step.derive(root)
    after = json.loads((root / "metrics.json").read_text())
    moved = next(c for c in after["gate"]["checks"] if c["id"] == f"moves_{NEW_INPUT}")
    print(f"3. the fork walkthrough ({NEW_INPUT}), gated by its own `make model`")
    print(
        f"  holdout AUC {before['holdout_auc']:.4f} -> {after['holdout_auc']:.4f}; "
        f"gate passed {after['gate']['passed']}"
    )
    print(f"  moves_{NEW_INPUT} {moved['value']} (>= {moved['threshold']})")


def false_refusals(work: Path, seeds: int) -> None:
    """The evidence checks on healthy pipelines: any failure is a false refusal."""
    refused: list[str] = []
    others: list[str] = []
    margins: dict[str, float] = {}
    passed = 0
    for seed in range(seeds):
        snapshot = work / f"seed{seed}.csv"
        make_dataset.write(make_dataset.generate(seed), snapshot)
        result = stage.run(snapshot, work / f"seed{seed}", seed, work / "no-baseline.json")
        passed += result.passed
        assert result.record.gate is not None
        for check in result.record.gate.checks:
            if not check.id.startswith(EVIDENCE_PREFIXES):
                if check.outcome == "failed":
                    others.append(f"seed {seed} {check.id} {check.value} {check.op} {check.threshold}")
                continue
            if check.outcome != "passed":
                refused.append(f"seed {seed} {check.id} {check.value}")
            margin = abs((check.value or 0.0) - check.threshold)
            margins[check.id] = min(margins.get(check.id, margin), margin)
    print(f"4. evidence checks on {seeds} healthy pipelines (generator seed = training seed = 0..{seeds - 1})")
    print(f"  false refusals {len(refused)}/{seeds} ({len(refused) / seeds:.0%}); whole gate passed {passed}/{seeds}")
    for line in refused:
        print(f"    {line}")
    print(f"  the other checks' failures on these seeds (not the evidence checks'): {len(others)}")
    for line in others:
        print(f"    {line}")
    for check_id, margin in margins.items():
        print(f"  {check_id:<28} smallest margin over its threshold {margin:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evidence", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--telco", type=Path, default=None, help="the IBM Telco CSV, mapped by mappings/telco.toml")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="churn-evidence-") as tmp:
        work = Path(tmp)
        snapshots = {"data/churn.csv": ROOT / "data" / "churn.csv"}
        try:
            if args.telco is not None:
                snapshots["IBM Telco"] = work / "telco.csv"
                ingest.ingest(ROOT / "mappings" / "telco.toml", args.telco, snapshots["IBM Telco"])
            spellings(work, snapshots)
            walkthrough(work)
            false_refusals(work, args.seeds)
        except (StepFailed, ingest.IngestError) as exc:
            return exits.refuse("benchmarks.evidence", exc)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

"""Drift figures: the CLI's throughput and peak memory on a big log, and how
often the verdict cries wolf on undrifted traffic.

    python -m benchmarks.drift                 # both parts
    python -m benchmarks.drift --part log --lines 1000000
    python -m benchmarks.drift --part alarms --draws 400
    python -m benchmarks.drift --part log --root /path/to/older/checkout   # the same log, older code

`log` writes a JSON-lines log like a shadow stack's (every tenth request also
logged by the candidate under the same request_id, a non-prediction line every
fifty), runs `python -m src.drift` on it as a child process and prints lines/s
and the child's peak RSS (getrusage). `alarms` draws undrifted resamples
(bootstrap from the training snapshot) at n = 100 / 500 / 2,000 and prints how
often the verdict is not "ok" under the fixed 0.1 / 0.25 lines (the PSI values
are the same, only the lines differ) and under the report's own verdict, and
how often a 10 % price rise is flagged. Nothing here is a pass/fail.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from src import config, data, exits, schema
from src.drift import judging

FIXED_WARN, FIXED_RETRAIN = 0.1, 0.25  # the lines before calibration
SIZES = (100, 200, 500, 2000)


def write_big_log(path: Path, snapshot: pd.DataFrame, lines: int) -> int:
    """Write about `lines` lines; returns how many were written."""
    bodies = [json.dumps(schema.request_body(row)) for _, row in snapshot.iterrows()]
    junk = 'INFO:     127.0.0.1:51234 - "POST /predict HTTP/1.1" 200 OK'
    written = 0
    with path.open("w") as fh:
        i = 0
        while written < lines:
            body = bodies[i % len(bodies)][1:]  # '"customer_id": ...}'
            stable = f'{{"event":"prediction","request_id":"req-{i}","variant":"stable","churn_probability":0.41,{body}'
            fh.write(stable + "\n")
            written += 1
            if i % 10 == 0:
                fh.write(stable.replace('"stable"', '"candidate"') + "\n")
                written += 1
            if i % 50 == 0:
                fh.write(junk + "\n")
                written += 1
            i += 1
    return written


def log_part(lines: int, root: Path) -> None:
    snapshot = data.load(config.settings().churn_data)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        written = write_big_log(log, snapshot, lines)
        size_mb = log.stat().st_size / 1e6
        cmd = [sys.executable, "-m", "src.drift", "--log", str(log), "--data", str(config.settings().churn_data)]
        cmd += ["--min-rows", "100"]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(f"drift CLI on {written:,} lines ({size_mb:,.0f} MB) from {root}")
    print(f"  exit {proc.returncode}; wall {wall:.1f} s; {written / wall:,.0f} lines/s; peak RSS {peak_mb:,.0f} MB")
    tail = (proc.stdout or proc.stderr).strip().splitlines()[-1:]
    print(f"  last line: {tail[0] if tail else '(none)'}")


def verdicts(report: judging.DriftReport) -> tuple[str, str]:
    """(verdict under the fixed lines, the report's own verdict) for one report."""
    worst = max(row.psi for row in report.features.values())
    unknown = max(row.share for row in report.unknown.values())
    fixed = "retrain" if worst > FIXED_RETRAIN else "warn" if worst > FIXED_WARN or unknown > 0 else "ok"
    return fixed, report.status


def alarms_part(draws: int) -> None:
    snapshot = data.load(config.settings().churn_data)
    rng = np.random.default_rng(2026)
    training = judging.reference(snapshot)
    print(f"undrifted bootstrap resamples of {len(snapshot):,} training rows, {draws} draws per size")
    print("| n | fixed lines: warn or retrain | fixed: retrain | calibrated: warn or retrain | calibrated: retrain |")
    print("| --- | --- | --- | --- | --- |")
    for n in SIZES:
        counts = np.zeros((2, 2))
        for _ in range(draws):
            sample = snapshot.iloc[rng.integers(0, len(snapshot), n)].reset_index(drop=True)
            for k, verdict in enumerate(verdicts(judging.drift_report(training, sample, min_rows=n))):
                counts[k] += [verdict != "ok", verdict == "retrain"]
        rates = counts / draws
        print(f"| {n:,} | {rates[0, 0]:.1%} | {rates[0, 1]:.1%} | {rates[1, 0]:.1%} | {rates[1, 1]:.1%} |")
    print("\n10 % price rise (monthly and total charges x 1.1): share of draws flagged retrain")
    for n in SIZES:
        flagged = np.zeros(2)
        for _ in range(draws):
            sample = snapshot.iloc[rng.integers(0, len(snapshot), n)].reset_index(drop=True)
            risen = sample.assign(
                monthly_charges=sample["monthly_charges"] * 1.1, total_charges=sample["total_charges"] * 1.1
            )
            flagged += [v == "retrain" for v in verdicts(judging.drift_report(training, risen, min_rows=n))]
        print(f"  n = {n:>5,}: fixed lines {flagged[0] / draws:.1%}, calibrated {flagged[1] / draws:.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift")
    parser.add_argument("--part", choices=("log", "alarms", "all"), default="all")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--root", type=Path, default=config.ROOT, help="run the CLI from this checkout")
    args = parser.parse_args(argv)
    if args.part in ("log", "all"):
        log_part(args.lines, args.root)
    if args.part in ("alarms", "all"):
        alarms_part(args.draws)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

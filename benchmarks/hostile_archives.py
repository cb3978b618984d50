"""Hostile model archives against the service's startup: the one-line reason, exit code and peak RSS of each.

    python -m benchmarks.hostile_archives              # a gated model is built once in a temp folder
    python -m benchmarks.hostile_archives --model PATH  # or use this gated model (its metrics.json beside it)

Each case of tools/archives.py is written beside a record that matches it and
says the gate passed, then the image's own command (the Dockerfile's CMD, on
127.0.0.1 and a free port) starts on it until it exits. Peak RSS is the
service process's own (os.wait4 through a small parent, src.processes.run_to_exit);
`tb` says whether a traceback reached stdout or stderr. Figures only;
tests/service/test_hostile_archives.py is what passes or fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

from src import artifacts, exits
from src.make_dataset import generate, write
from src.processes import free_port, run_to_exit
from tools import archives
from tools.gated import gated
from tools.image import image_command, local_command


def _reason(stdout: str) -> str:
    lines = [json.loads(x) for x in stdout.splitlines() if x.startswith('{"event":"startup_failed"')]
    return lines[0]["reason"].split(": refusing the archive: ")[-1] if len(lines) == 1 else f"{len(lines)} lines"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a gated model file (default: build one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="churn-hostile-") as tmp:
        root = Path(tmp)
        model = args.model
        if model is None:
            write(generate(seed=7, n=4000), root / "snapshot.csv")
            model = gated(root / "snapshot.csv", root / "gated")
        if not model.is_file():
            print(f"benchmarks.hostile_archives: no model file at {model}", file=sys.stderr)
            return exits.REFUSED
        print(f"{'case':<54}{'exit':>5}{'RSS MB':>8}  tb  one-line reason")
        for i, case in enumerate(archives.CASES):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hostile = archives.write_case(case, model, root / f"case{i}")
            logs = root / f"logs{i}"
            logs.mkdir()
            done = run_to_exit(local_command(image_command(), free_port()), {"MODEL_PATH": str(hostile)}, logs)
            traceback = "yes" if "Traceback" in done.stdout + done.stderr else "no"
            reason = _reason(done.stdout).replace(str(hostile.parent), "…")
            print(f"{case:<54}{done.returncode:>5}{done.peak_rss_mb:>8.0f}  {traceback:<3} {reason}")
        print(
            f"limits: {artifacts.MAX_MEMBERS} members, {artifacts.MAX_MEMBER_BYTES >> 20} MiB a member, "
            f"{artifacts.MAX_TOTAL_BYTES >> 20} MiB inflated in all, schema depth {artifacts.MAX_SCHEMA_DEPTH}"
        )
    return exits.OK


if __name__ == "__main__":
    raise SystemExit(main())

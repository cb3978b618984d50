"""`python -m src.drift`: recent predictions vs the training snapshot, PSI per model input.

    python -m src.drift --log PATH [--data SNAPSHOT] [--json OUT] [--html PAGE] [--min-rows N]

`--html` also writes the drift page (`src.drift.page`): a histogram per input,
recent vs training, in the very bins PSI compares.

Exit codes (src/exits.py), so a scheduled job can act on the result without parsing text:
  0  ok or warn: keep serving (warn is printed for a human to watch)
  1  retrain: a feature is over its retrain line (the verdict said no); trigger training
  2  input error: missing/unreadable log or snapshot, no valid prediction
     lines, too few requests to judge (argparse usage errors also exit 2)
Python's own crash also exits 1, so `--json` is written last, only once the
verdict is whole: a scheduler retrains on 1 only when that report says
"retrain" (.github/workflows/drift.yml), and a crash never reads as one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from src import atomic, config, data, exits
from src.drift.judging import MIN_ROWS, check_frames
from src.drift.reading import DriftInputError
from src.drift.rendering import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.drift",
        description="Compare recent predictions with the training snapshot (PSI per model input).",
        epilog="exit codes: 0 ok/warn, 1 retrain, 2 input error",
    )
    parser.add_argument("--log", type=Path, required=True, help="the service's JSON log, or a folder of logs")
    parser.add_argument("--data", type=Path, default=None, help="training snapshot CSV (default: $CHURN_DATA)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--min-rows", type=int, default=MIN_ROWS, help=f"refuse to judge fewer (default {MIN_ROWS})")
    parser.add_argument("--html", type=Path, default=None, help="also write the drift page (HTML histograms) here")
    args = parser.parse_args(argv)
    data_path = args.data or config.settings().churn_data
    try:
        report, ref, recent = check_frames(args.log, data_path, min_rows=args.min_rows)
        if args.html is not None:
            from src.drift import page  # matplotlib is a development extra, imported only when a page is drawn

            atomic.write_text(args.html, page.render(report, ref, recent))
        if args.json is not None:
            document = {"log": str(args.log), "data": str(data_path), **report.model_dump(exclude_none=True)}
            atomic.write_text(args.json, json.dumps(document, indent=2, sort_keys=True) + "\n")
    except (DriftInputError, data.DataError, ValueError, OSError) as exc:
        return exits.refuse("drift", exc)
    print(render(report))
    return exits.NO if report.status == "retrain" else exits.OK


if __name__ == "__main__":
    sys.exit(main())

"""`python -m src.gate`: train once (or take `--model`) and run the quality gate; print the verdict table.

    python -m src.gate [--data CSV] [--out DIR] [--seed N] [--baseline prod_metrics.json] [--model PATH|URI]

Exit codes (src/exits.py): 0 passed; 1 failed (the table says which check); 2 input error, in one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from src import artifacts, config, data, exits
from src.gate import stage
from src.record import RecordError
from src.report import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.gate", description="Train once and run the quality gate.")
    parser.add_argument("--data", type=Path, default=None, help="snapshot CSV (default: $CHURN_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="artifact folder (default: $ARTIFACT_DIR)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (default: $CHURN_SEED)")
    parser.add_argument("--baseline", type=Path, default=None, help="production record (default: $PROD_METRICS)")
    parser.add_argument(
        "--model",
        default=None,
        help="judge this model instead of training one: a skops file (its metrics.json beside it, if any) "
        "or a registry URI models:/NAME@ALIAS (needs requirements-registry.txt)",
    )
    args = parser.parse_args(argv)
    settings = config.settings()
    data_path = args.data or settings.churn_data
    out_dir = args.out or settings.artifact_dir
    seed = settings.churn_seed if args.seed is None else args.seed
    baseline = args.baseline or settings.prod_metrics
    try:
        if args.model is None:
            result = stage.run(data_path, out_dir, seed, baseline)
        elif args.model.startswith(stage.REGISTRY_SCHEME):
            result = stage.run_registered(args.model, data_path, out_dir, seed, baseline)
        else:
            result = stage.run_existing(Path(args.model), data_path, out_dir, seed, baseline)
    except (data.DataError, RecordError, artifacts.ArtifactError, ValueError, OSError) as exc:  # RegistryError too
        return exits.refuse("gate", exc)
    print(render(result.record, result.folder / artifacts.MODEL_FILE))
    return exits.OK if result.passed else exits.NO


if __name__ == "__main__":
    sys.exit(main())

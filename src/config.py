"""Every environment variable the ML code reads, in one place.

Read at call time (not import time) so a test or a CLI flag can point the
pipeline at another snapshot without reloading modules.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 42


def data_path() -> Path:
    """The snapshot every surface reads: `CHURN_DATA`, default data/churn.csv."""
    return Path(os.environ.get("CHURN_DATA", ROOT / "data" / "churn.csv"))


def artifact_dir() -> Path:
    """Where the gate writes model_candidate.joblib + metrics.json: `ARTIFACT_DIR`."""
    return Path(os.environ.get("ARTIFACT_DIR", ROOT))


def prod_metrics_path() -> Path:
    """The production baseline the gate must not regress: `PROD_METRICS`."""
    return Path(os.environ.get("PROD_METRICS", ROOT / "prod_metrics.json"))

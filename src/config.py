"""Every environment variable the ML code reads, in one place.

Read at call time (not import time) so a test or a CLI flag can point the
pipeline at another snapshot without reloading modules.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 42


def _env(name: str) -> str | None:
    """An environment variable, with empty meaning unset (make exports unset variables as "")."""
    return os.environ.get(name) or None


def data_path() -> Path:
    """The snapshot every surface reads: `CHURN_DATA`, default data/churn.csv."""
    return Path(_env("CHURN_DATA") or ROOT / "data" / "churn.csv")


def artifact_dir() -> Path:
    """Where the gate writes model_candidate.joblib + metrics.json: `ARTIFACT_DIR`."""
    return Path(_env("ARTIFACT_DIR") or ROOT)


def seed() -> int:
    """The training seed for the gate and `python -m src.train`: `CHURN_SEED`, default 42."""
    return int(_env("CHURN_SEED") or SEED)


def prod_metrics_path() -> Path:
    """The production baseline the gate must not regress: `PROD_METRICS`."""
    return Path(_env("PROD_METRICS") or ROOT / "prod_metrics.json")

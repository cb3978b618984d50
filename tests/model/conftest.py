"""Train once for the whole gate, and record the gate's verdict in metrics.json.

The fixture writes the artifact pair CI uploads. Each gate test registers
(value, threshold) through `gate`; when the session ends the verdict of every
check, from the tests' real outcomes, is written into metrics.json under
"gate", so CI summaries and the rollout read one record of what passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from src import artifacts, config, data
from src.features import build_features
from src.train import run, split


@dataclass
class Trained:
    model: Any
    metrics: dict[str, Any]
    X_train: pd.DataFrame
    X_hold: pd.DataFrame
    y_train: pd.Series
    y_hold: pd.Series


_checks: dict[str, dict[str, Any]] = {}
_outcomes: dict[str, str] = {}
_metrics_path: list[Any] = []


@pytest.fixture(scope="module")
def trained() -> Trained:
    out = config.artifact_dir()
    metrics = run(config.data_path(), out, seed=config.seed())
    _metrics_path.append(out / artifacts.METRICS_FILE)
    model = artifacts.load_verified_model(out / artifacts.MODEL_FILE)
    X, y = build_features(data.load(config.data_path()))
    X_train, X_hold, y_train, y_hold = split(X, y)
    return Trained(model, metrics, X_train, X_hold, y_train, y_hold)


@pytest.fixture
def gate(request: pytest.FixtureRequest):
    """gate(check, value, threshold, op, **extra) registers one row of the gate table.

    `extra` carries contract numbers later stages reuse (the rollout's ratchet
    reads the regression tolerance from here, not from a copy).
    """

    def record(check: str, value: float | None, threshold: float, op: str, **extra: float) -> None:
        _checks[request.node.nodeid] = {
            "check": check,
            "value": None if value is None else round(float(value), 4),
            "threshold": threshold,
            "op": op,
            **extra,
        }

    return record


def _gate_tests() -> set[str]:
    from tests.model import test_gate

    return {name for name in vars(test_gate) if name.startswith("test_")}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.nodeid] = report.outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _metrics_path or not _metrics_path[0].is_file():
        return
    rows = [{**row, "outcome": _outcomes.get(nodeid, "not run")} for nodeid, row in _checks.items()]
    failed = sorted(n for n, o in _outcomes.items() if o == "failed")
    # A gate is passed only when all of it ran: `-k` or `--deselect` must not mint a pass.
    ran = {nodeid.rsplit("::", 1)[-1] for nodeid in _outcomes if "test_gate.py::" in nodeid}
    not_run = sorted(_gate_tests() - ran)
    metrics = artifacts.read_json(_metrics_path[0])
    metrics["gate"] = {
        "passed": exitstatus == 0 and not failed and not not_run,
        "checks": rows,
        "failed_tests": failed,
        "not_run": not_run,
    }
    artifacts.write_json(metrics, _metrics_path[0])

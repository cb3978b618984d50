"""No pass without evidence: features follow the contract, and the gate refuses what it cannot see.

A fork that spells its categories its own way (`Month-to-month`, `One year`)
must get the same model, or a red gate naming the dead feature; a verdict
whose checks were all skipped must be refused by every reader of a record.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deploy.control import candidate as admission
from src import artifacts, config, data, record, schema, train
from src.features import FEATURE_COLUMNS, build_features, one_hot_columns
from src.gate import contract, evidence

FEATURES_SOURCE = (config.ROOT / "src" / "features.py").read_text()


@pytest.mark.parametrize("column", [schema.BY_NAME[c] for c in schema.CATEGORICAL], ids=lambda c: c.name)
def test_no_category_spelling_is_a_literal_in_the_feature_code(column: schema.Column) -> None:
    for value in column.allowed:
        assert not re.search(rf"""["']{re.escape(str(value))}["']""", FEATURES_SOURCE), (
            f"src/features.py spells the {column.name} value {value!r} itself: an export that spells it otherwise "
            "gets a feature that is always 0; derive it from src/schema.py `allowed`"
        )


def test_one_hot_columns_follow_the_declared_values_in_order() -> None:
    telco = schema.Column("contract", "category", why="-", allowed=("Month-to-month", "One year", "Two year"))
    assert one_hot_columns(telco) == ("contract_one_year", "contract_two_year"), "renamed spellings, new columns"
    for name in schema.CATEGORICAL:
        assert set(one_hot_columns(schema.BY_NAME[name])) <= set(FEATURE_COLUMNS), f"{name}'s indicators are unused"


@pytest.mark.parametrize("name", schema.CATEGORICAL)
def test_each_indicator_is_on_exactly_for_its_declared_value(small_customers: pd.DataFrame, name: str) -> None:
    X, _ = build_features(small_customers)
    column = schema.BY_NAME[name]
    for feature, value in zip(one_hot_columns(column), column.allowed[1:], strict=True):
        expected = (small_customers[name] == value).to_numpy(dtype=float)
        assert np.array_equal(X[feature].to_numpy(), expected), f"{feature} is not {name} == {value!r}"
        assert X[feature].nunique() == 2, f"{feature} is constant on a sample holding every {name}"


@pytest.fixture(scope="module")
def healthy(small_artifact: Path) -> tuple[evidence.Evidence, train.Fitted]:
    """The gate's evidence on the small gated model, measured exactly as the gate stage measures it."""
    model_file = small_artifact / artifacts.MODEL_FILE
    model, described = artifacts.load_verified(model_file, require_gate=True)
    fitted = train.resplit(data.load(small_artifact / "snapshot.csv"), model, described.seed, 0.0)
    return evidence.gather(
        fitted, model, described, model_file, small_artifact / "no_baseline.json", contract.MEASURING
    ), fitted


def _outcome(ev: evidence.Evidence, check_id: str) -> record.CheckResult:
    return next(r for r in contract.judge(ev).checks if r.id == check_id)


def test_the_healthy_model_passes_every_evidence_check(healthy) -> None:
    ev, _ = healthy
    for check_id in [
        "dead_features",
        *(f"moves_{c}" for c in ev.importance),
        *(f"direction_{c}" for c in ev.directions),
    ]:
        result = _outcome(ev, check_id)
        assert result.outcome == "passed", f"{check_id} refused a healthy model: {result.detail}"


def test_a_constant_feature_column_is_dead_and_named() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "contract_one_year": [0.0, 0.0, 0.0], "blank": [np.nan] * 3})
    assert evidence.dead_features(X) == ("contract_one_year", "blank")


def test_a_model_trained_on_dead_indicators_fails_naming_them(healthy) -> None:
    """What a fork's literal `== "one-year"` does on `One year` data: the indicators are 0 in training."""
    ev, fitted = healthy
    dead = one_hot_columns(schema.BY_NAME["contract"])
    X_train = fitted.X_train.assign(**dict.fromkeys(dead, 0.0))
    model = train.train_model(X_train, fitted.y_train)
    assert evidence.dead_features(X_train) == dead
    moved = evidence.importance(model, fitted.hold_rows, fitted.seed, contract.MEASURING)
    assert moved["contract"] == 0.0, "a model that never saw the contract cannot move with it"
    ev = dataclasses.replace(ev, dead_features=evidence.dead_features(X_train), importance=moved)
    verdict = contract.judge(ev)
    assert not verdict.passed
    assert {"dead_features", "moves_contract"} <= set(verdict.failed), verdict.failed
    detail = _outcome(ev, "dead_features").detail
    assert all(name in detail for name in dead), f"the failure must name the dead columns: {detail}"


@pytest.mark.parametrize("column", [c.name for c in schema.INPUTS if c.expect])
def test_a_direction_with_no_measurable_effect_fails(healthy, column: str) -> None:
    ev, _ = healthy
    flat = dataclasses.replace(ev, directions={**ev.directions, column: 0.0})
    result = _outcome(flat, f"direction_{column}")
    assert result.outcome == "failed", f"a flat response to {column} passed as if it went the expected way"


def test_the_evidence_is_deterministic(healthy, small_artifact: Path) -> None:
    ev, fitted = healthy
    model = artifacts.load_model(small_artifact / artifacts.MODEL_FILE)
    assert evidence.importance(model, fitted.hold_rows, fitted.seed, contract.MEASURING) == ev.importance, (
        "same data + seed, same figures"
    )


def _all_skipped(path: Path) -> dict:
    raw = json.loads(path.read_text())
    for check in raw["gate"]["checks"]:
        check.update(outcome="skipped", value=None, detail="no evidence")
    raw["gate"]["failed"] = []
    raw["gate"]["passed"] = True
    return raw


@pytest.mark.parametrize("checks", ["all-skipped", "none"])
def test_a_verdict_without_an_executed_check_is_refused_by_every_reader(
    tmp_path: Path, small_artifact: Path, checks: str
) -> None:
    raw = _all_skipped(small_artifact / artifacts.METRICS_FILE)
    if checks == "none":
        raw["gate"]["checks"] = []
    (tmp_path / artifacts.MODEL_FILE).write_bytes((small_artifact / artifacts.MODEL_FILE).read_bytes())
    (tmp_path / artifacts.METRICS_FILE).write_text(json.dumps(raw))
    with pytest.raises(record.RecordError) as read:
        record.read(tmp_path / artifacts.METRICS_FILE)
    message = str(read.value)
    assert "\n" not in message, "one line"
    assert "no gate check was executed" in message, message
    # the service and the registry load through verify; the rollout too, and it reads the ratchet with record.read
    with pytest.raises(artifacts.ArtifactError, match="no gate check was executed"):
        artifacts.load_verified(tmp_path / artifacts.MODEL_FILE, require_gate=True)
    with pytest.raises(admission.CandidateRefused, match="no gate check was executed"):
        admission.check_candidate(tmp_path / artifacts.MODEL_FILE)
    candidate = record.read(small_artifact / artifacts.METRICS_FILE)
    with pytest.raises(record.RecordError, match="no gate check was executed"):
        admission.ratchet_allows(candidate, tmp_path / artifacts.METRICS_FILE, 0.02)

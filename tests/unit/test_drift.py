"""The drift detector: first its ruler (PSI), then the CLI on replayed logs.

The replays are real JSON-lines files in the service's log format, mixed with
the lines a real log also holds, and go through the CLI's `main` unmocked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src import config, drift, schema
from src.drift import (
    EXIT_INPUT_ERROR,
    EXIT_OK,
    EXIT_RETRAIN,
    PSI_RETRAIN,
    PSI_WARN,
    category_shares,
    read_prediction_log,
    status,
)
from src.metrics import BINS, bin_shares, psi, psi_from_shares, quantile_edges

# Lines a real service log holds besides predictions; the reader must skip all of them.
JUNK_LINES = [
    'INFO:     127.0.0.1:51234 - "POST /predict HTTP/1.1" 200 OK',
    '{"event": "startup", "model_version": "5725b3c78e5e", "variant": "stable"}',
    '{"event": "prediction", "tenure_months": 3',  # a line cut off mid-write
    "Traceback (most recent call last):",
    "[1, 2, 3]",
    "",
]
REPLAY_ROWS = 2000


# --- the ruler ---------------------------------------------------------------


def test_psi_of_identical_distributions_is_zero() -> None:
    values = np.random.default_rng(0).normal(50, 10, 5000)
    edges = quantile_edges(values)
    assert psi(values, values, edges) == pytest.approx(0.0, abs=1e-12), "the same data cannot have drifted"


def test_psi_of_two_samples_from_one_distribution_stays_under_warn() -> None:
    rng = np.random.default_rng(1)
    train, recent = rng.normal(50, 10, 20_000), rng.normal(50, 10, 5000)
    assert psi(train, recent, quantile_edges(train)) < PSI_WARN / 5, "sampling noise alone must not look like drift"


def test_psi_matches_a_hand_computed_two_bin_case() -> None:
    # Bins split at 0.5. Expected shares (0.5, 0.5), actual (0.9, 0.1):
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5) = 0.2351 + 0.6438 = 0.8789
    edges = np.array([-np.inf, 0.5, np.inf])
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 90 + [1.0] * 10)
    assert psi(expected, actual, edges) == pytest.approx(0.8789, abs=1e-4)
    assert psi(actual, expected, edges) == pytest.approx(psi(expected, actual, edges)), "PSI is symmetric"


def test_an_empty_bin_gives_a_large_but_finite_psi() -> None:
    # Without the epsilon floor ln(0.5 / 0) is infinite and one empty bin breaks the report.
    value = psi_from_shares(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    assert math.isfinite(value), "an empty bin must be floored at EPSILON, not divide by zero"
    assert value > PSI_RETRAIN, "half the traffic in a bin training never filled is severe drift"


def test_tied_training_values_merge_duplicate_quantile_edges() -> None:
    # 60 % of customers at tenure 0: deciles 1-6 are all 0, so six edges coincide.
    tenure = np.array([0] * 600 + list(range(1, 401)), dtype=float)
    edges = quantile_edges(tenure)
    assert np.all(np.diff(edges) > 0), "repeated quantile edges must be merged, not left as zero-width bins"
    assert len(edges) - 1 < BINS, "ties leave fewer, fatter bins"
    assert bin_shares(tenure, edges).sum() == pytest.approx(1.0), "every training value must land in a bin"
    assert psi(tenure, tenure, edges) == pytest.approx(0.0, abs=1e-12)


def test_values_outside_the_training_range_are_counted_not_dropped() -> None:
    train = np.linspace(0.0, 10.0, 1000)
    edges = quantile_edges(train)
    shares = bin_shares(np.array([-5.0, 100.0, 100.0, 5.0]), edges)
    assert shares.sum() == pytest.approx(1.0), "out-of-range values were dropped: the outer bins must be open"
    assert shares[0] == pytest.approx(0.25), "a value below the training minimum belongs in the first bin"
    assert shares[-1] == pytest.approx(0.5), "a value above the training maximum belongs in the last bin"
    assert psi(train, np.full(500, 100.0), edges) > PSI_RETRAIN, "all traffic past the training range is drift"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "ok"),
        (PSI_WARN, "ok"),
        (PSI_WARN + 0.001, "warn"),
        (PSI_RETRAIN, "warn"),
        (PSI_RETRAIN + 0.001, "retrain"),
    ],
)
def test_a_threshold_is_crossed_only_when_psi_is_over_it(value: float, expected: str) -> None:
    assert status(value, PSI_WARN, PSI_RETRAIN) == expected


def test_unseen_and_missing_contracts_go_to_the_unknown_bucket() -> None:
    contracts = ("month-to-month", "one-year", "two-year")
    shares = category_shares(pd.Series(["month-to-month", "one-year", "three-year", None]), contracts)
    assert shares.tolist() == pytest.approx([0.25, 0.25, 0.0, 0.5]), "(m2m, one-year, two-year, unknown)"


# --- the log reader ----------------------------------------------------------


def prediction_line(row: pd.Series, request_id: str, variant: str = "stable") -> str:
    """One line exactly as the service logs a prediction (null total for new customers)."""
    return json.dumps(
        {
            "event": "prediction",
            "ts": "2026-11-23T02:10:00.123Z",
            "request_id": request_id,
            "variant": variant,
            "model_version": "5725b3c78e5e",
            **schema.request_body(row),
            "churn_probability": 0.4123,
            "prediction": 0,
            "latency_ms": 0.8,
        }
    )


def write_log(path: Path, customers: pd.DataFrame) -> Path:
    """A JSON-lines log with junk lines interleaved every 7 predictions."""
    lines: list[str] = []
    for i, (_, row) in enumerate(customers.iterrows()):
        if i % 7 == 0:
            lines.append(JUNK_LINES[(i // 7) % len(JUNK_LINES)])
        lines.append(prediction_line(row, request_id=f"req-{i}"))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_reader_keeps_predictions_and_skips_every_other_line(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    customers = snapshot.head(50)
    log = write_log(tmp_path / "service.log", customers)
    df = read_prediction_log(log)
    assert len(df) == 50, "access lines, other events and broken JSON must be skipped, every prediction kept"
    assert df["customer_id"].tolist() == customers["customer_id"].tolist()


def test_a_shadow_mirrored_request_is_counted_once(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    row = snapshot.iloc[0]
    log = tmp_path / "shadow.log"
    log.write_text(prediction_line(row, "req-1", "stable") + "\n" + prediction_line(row, "req-1", "candidate") + "\n")
    assert len(read_prediction_log(log)) == 1, "stable and candidate logging one mirrored request is one request"


# --- the CLI on replays ------------------------------------------------------


def run_drift(log: Path, *extra: str) -> int:
    return drift.main(["--log", str(log), "--data", str(config.settings().churn_data), *extra])


def table_status(stdout: str) -> dict[str, str]:
    """{feature: status} parsed from the printed markdown table."""
    rows = [line.strip("| ").split(" | ") for line in stdout.splitlines() if line.startswith("| ")]
    return {cells[0]: cells[2] for cells in rows if len(cells) == 3 and cells[0] not in ("feature", "---")}


@pytest.fixture
def replay(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Recent customers drawn from the training snapshot, new (blank-total) customers included."""
    new_customers = snapshot[snapshot["total_charges"].isna()]
    return pd.concat([new_customers, snapshot.sample(REPLAY_ROWS, random_state=0)])


def test_an_undrifted_replay_exits_zero_with_every_feature_ok(
    tmp_path: Path, replay: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_drift(write_log(tmp_path / "service.log", replay))
    out = capsys.readouterr().out
    assert code == EXIT_OK, f"customers like the training ones must not trigger retraining:\n{out}"
    assert table_status(out) == dict.fromkeys([*drift.NUMERIC_FEATURES, *drift.CATEGORICAL_FEATURES], "ok"), out
    assert "unknown contract share: 0.00%" in out


def test_a_drifted_replay_exits_with_retrain_and_names_the_drifted_features(
    tmp_path: Path, replay: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every customer on month-to-month, every price doubled; tenure left alone.
    drifted = replay.assign(
        contract="month-to-month",
        monthly_charges=replay["monthly_charges"] * 2,
        total_charges=replay["total_charges"] * 2,
    )
    report_path = tmp_path / "drift.json"
    code = run_drift(write_log(tmp_path / "service.log", drifted), "--json", str(report_path))
    out = capsys.readouterr().out
    assert code == EXIT_RETRAIN, f"a shifted population must exit {EXIT_RETRAIN} so the schedule retrains:\n{out}"
    statuses = table_status(out)
    for feature in ("monthly_charges", "total_charges", "contract"):
        assert statuses[feature] == "retrain", f"{feature} was shifted on purpose but the table says:\n{out}"
    assert statuses["tenure_months"] == "ok", "tenure was not touched: flagging it would be a false alarm"
    assert out.strip().splitlines()[-1].startswith("drift: retrain: "), "the last line must say why"
    report = json.loads(report_path.read_text())
    assert report["status"] == "retrain"
    assert report["features"]["monthly_charges"]["psi"] > PSI_RETRAIN


def test_unknown_contracts_are_counted_not_crashed_on(
    tmp_path: Path, replay: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # A log from another client or a newer schema: 10 % of customers on a contract the model never saw.
    contract = replay["contract"].copy()
    contract.iloc[: len(replay) // 10] = "three-year"
    code = run_drift(write_log(tmp_path / "service.log", replay.assign(contract=contract)))
    out = capsys.readouterr().out
    assert code == EXIT_RETRAIN, f"10 % unknown contracts is over the {drift.UNKNOWN_RETRAIN:.0%} retrain line:\n{out}"
    assert "unknown contract share" in out.strip().splitlines()[-1], "the reason must name the unknown share"


def test_a_few_unknown_contracts_warn_even_when_the_contract_psi_is_ok(
    tmp_path: Path, replay: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1 % unknown moves the contract PSI by only ~0.05, yet a served request should never carry one.
    contract = replay["contract"].copy()
    contract.iloc[: len(replay) // 100] = "three-year"
    report_path = tmp_path / "drift.json"
    code = run_drift(write_log(tmp_path / "service.log", replay.assign(contract=contract)), "--json", str(report_path))
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["features"]["contract"]["status"] == "ok", "1 % unknown should not move the contract PSI past warn"
    assert report["status"] == "warn", f"any unknown contract must be reported, even under the PSI lines:\n{out}"
    assert code == EXIT_OK, "warn is for a human to watch; it must not trigger retraining"


def test_the_exit_codes_are_the_documented_ones() -> None:
    # Scheduled jobs branch on these numbers; 1 stays Python's own code for a crash.
    assert (EXIT_OK, EXIT_INPUT_ERROR, EXIT_RETRAIN) == (0, 2, 3), "README and schedulers rely on 0 / 2 / 3"


def assert_input_error(code: int, capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    captured = capsys.readouterr()
    assert code == EXIT_INPUT_ERROR, f"bad input must exit {EXIT_INPUT_ERROR}, never {EXIT_RETRAIN} (retrain)"
    assert len(captured.err.strip().splitlines()) == 1, f"expected one readable line, got:\n{captured.err}"
    assert fragment in captured.err
    assert captured.out == "", "no table may be printed for input the tool could not judge"


def test_a_missing_log_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_input_error(run_drift(tmp_path / "nope.log"), capsys, "no prediction log at")


def test_a_log_without_prediction_lines_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "service.log"
    log.write_text("\n".join(JUNK_LINES) + "\n")
    assert_input_error(run_drift(log), capsys, 'no {"event": "prediction"} lines')


def test_too_few_requests_are_refused_not_judged(
    tmp_path: Path, snapshot: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(tmp_path / "service.log", snapshot.head(drift.MIN_ROWS - 1))
    assert_input_error(run_drift(log), capsys, f"need at least {drift.MIN_ROWS}")

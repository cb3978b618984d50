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

from src import config, exits
from src.drift import __main__ as drift_cli
from src.drift import judging, reading
from src.drift.judging import PSI_RETRAIN, PSI_WARN, category_shares, status
from src.drift.reading import read_prediction_log
from src.metrics import BINS, bin_shares, psi, psi_from_shares, quantile_edges
from tools.service_log import JUNK_LINES, prediction_line, write_log

# Lines a real service log holds besides predictions; the reader must skip all of them.
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


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_a_missing_contract_counts_as_unknown_in_any_column_dtype(dtype: str) -> None:
    contracts = ("month-to-month", "one-year", "two-year")
    column = pd.Series(["one-year", pd.NA, "two-year", None], dtype=dtype)
    shares = category_shares(column, contracts)
    assert shares.tolist() == pytest.approx([0.0, 0.25, 0.25, 0.5]), f"{dtype}: missing is unknown, never a crash"


# --- the log reader ----------------------------------------------------------


def test_the_reader_keeps_predictions_and_skips_every_other_line(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    customers = snapshot.head(50)
    log = write_log(tmp_path / "service.log", customers)
    df, counts = read_prediction_log(log)
    assert len(df) == 50, "access lines, other events and broken JSON must be skipped, every prediction kept"
    assert df["monthly_charges"].tolist() == customers["monthly_charges"].tolist(), "rows kept out of order"
    assert df["contract"].astype(str).tolist() == customers["contract"].tolist()
    assert counts.n_lines == 50 + 8, "every line read must be counted"
    # 8 junk lines: 3 access lines / a cut-off line / a traceback / a blank, 2 startups, 1 JSON array.
    assert counts.skipped == {"not_json": 5, "other_event": 2, "not_an_object": 1}, "skipped lines miscounted"


def test_a_shadow_mirrored_request_is_counted_once(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    row = snapshot.iloc[0]
    log = tmp_path / "shadow.log"
    log.write_text(prediction_line(row, "req-1", "stable") + "\n" + prediction_line(row, "req-1", "candidate") + "\n")
    df, counts = read_prediction_log(log)
    assert len(df) == 1, "stable and candidate logging one mirrored request is one request"
    assert counts.skipped == {"mirrored": 1}, "the mirror must be reported, not silently dropped"


def test_one_batch_request_for_many_customers_keeps_every_customer(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    # /predict/batch logs one line per customer under a single request_id: not mirrors.
    log = tmp_path / "batch.log"
    log.write_text("".join(prediction_line(row, "req-batch") + "\n" for _, row in snapshot.head(3).iterrows()))
    df, counts = read_prediction_log(log)
    assert len(df) == 3, "dedup must key on request_id AND customer_id"
    assert "mirrored" not in counts.skipped


def test_a_mirror_in_another_file_of_the_artifact_is_counted_once(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    # A downloaded log artifact holds stable.log and candidate.log; a mirrored request sits in both, far apart.
    folder = tmp_path / "prediction-log"
    folder.mkdir()
    customers = snapshot.head(40)
    write_log(folder / "stable.log", customers)
    (folder / "candidate.log").write_text(
        "".join(prediction_line(row, f"req-{i}", "candidate") + "\n" for i, (_, row) in enumerate(customers.iterrows()))
    )
    df, counts = read_prediction_log(folder)
    assert len(df) == 40, f"40 requests, each logged by stable and candidate, must count 40 times, not {len(df)}"
    assert counts.skipped["mirrored"] == 40


def test_a_line_without_newline_far_over_the_limit_is_skipped_whole(tmp_path: Path, snapshot: pd.DataFrame) -> None:
    # 5 MB of one line in the middle: skipped as one line, and the next prediction still read.
    log = tmp_path / "service.log"
    rows = snapshot.head(2)
    log.write_text(
        prediction_line(rows.iloc[0], "req-0") + "\n" + "x" * 5_000_000 + "\n" + prediction_line(rows.iloc[1], "req-1")
    )
    df, counts = read_prediction_log(log)
    assert len(df) == 2, "the prediction after the long line was lost"
    assert counts.skipped == {"too_long": 1}, counts.skipped
    assert counts.n_lines == 3, "the long line must count as one line, however it was read"


# --- hostile lines: one bad line is skipped and counted, the batch is still judged ---------


def hostile_prediction(row: pd.Series, **overrides: object) -> str:
    """A prediction line for `row` with some fields replaced by raw JSON text."""
    line = prediction_line(row, request_id="req-hostile")
    record = json.loads(line)
    for key in overrides:
        record[key] = f"@@{key}@@"
    text = json.dumps(record)
    for key, raw in overrides.items():
        text = text.replace(f'"@@{key}@@"', str(raw))
    return text


HOSTILE = {
    "a 100k-nested JSON array": ("[" * 100_000 + "]" * 100_000, "too_long"),
    "a 5k-nested JSON array under the line limit": ("[" * 5_000 + "]" * 5_000, "too_deep"),
    "a dict as customer_id": ({"customer_id": '{"a": 1}'}, "bad_customer_id"),
    "a dict as request_id": ({"request_id": '{"a": 1}'}, "bad_request_id"),
    "a 5000-digit integer as tenure": ({"tenure_months": "9" * 5000}, "bad_tenure_months"),
    "a 30-digit integer as monthly charges": ({"monthly_charges": "9" * 30}, "bad_monthly_charges"),
    "NaN as monthly charges": ({"monthly_charges": "NaN"}, "bad_monthly_charges"),
    "Infinity as total charges": ({"total_charges": "Infinity"}, "bad_total_charges"),
    "1e999 as total charges": ({"total_charges": "1e999"}, "bad_total_charges"),
    "a string where tenure belongs": ({"tenure_months": '"12"'}, "bad_tenure_months"),
    "true where tenure belongs": ({"tenure_months": "true"}, "bad_tenure_months"),
    "a negative tenure": ({"tenure_months": "-5"}, "bad_tenure_months"),
    "a fractional tenure": ({"tenure_months": "2.5"}, "bad_tenure_months"),
    "a number as contract": ({"contract": "2"}, "bad_contract"),
    "a prediction without customer_id": ({"customer_id": "null"}, "bad_customer_id"),
    "a JSON string": ('"prediction"', "not_an_object"),
    "JSON null": ("null", "not_an_object"),
    "a JSON number": ("42", "not_an_object"),
    "invalid UTF-8 bytes": ("\udcff\udcfe{", "not_json"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=lambda case: case.replace(" ", "-"))
def test_a_hostile_line_is_skipped_and_counted_never_a_crash(
    case: str, tmp_path: Path, snapshot: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, reason = HOSTILE[case]
    customers = snapshot.head(judging.MIN_ROWS)
    hostile = spec if isinstance(spec, str) else hostile_prediction(customers.iloc[0], **spec)
    log = tmp_path / "service.log"
    lines = [prediction_line(row, request_id=f"req-{i}") for i, (_, row) in enumerate(customers.iterrows())]
    lines.insert(len(lines) // 2, hostile)
    log.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    report_path = tmp_path / "drift.json"
    code = run_drift(log, "--json", str(report_path))
    captured = capsys.readouterr()
    assert code in (exits.OK, exits.NO), f"{case}: one bad line must not fail the batch:\n{captured.err}"
    report = json.loads(report_path.read_text())
    assert report["skipped"] == {reason: 1}, f"{case}: expected one line skipped as {reason!r}, got {report['skipped']}"
    assert report["n_recent"] == judging.MIN_ROWS, "every valid prediction around the bad line must still be judged"
    assert f"| {reason} | 1 |" in captured.out, f"{case}: the printed table must show the skipped line:\n{captured.out}"


# --- the CLI on replays ------------------------------------------------------


def run_drift(log: Path, *extra: str) -> int:
    return drift_cli.main(["--log", str(log), "--data", str(config.settings().churn_data), *extra])


def table_status(stdout: str) -> dict[str, str]:
    """{feature: status} parsed from the printed feature table."""
    rows = [line.strip("| ").split(" | ") for line in stdout.splitlines() if line.startswith("| ")]
    return {cells[0]: cells[-1] for cells in rows if len(cells) == 6 and cells[0] not in ("feature", "---")}


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
    assert code == exits.OK, f"customers like the training ones must not trigger retraining:\n{out}"
    assert table_status(out) == dict.fromkeys([*reading.NUMERIC_FEATURES, *reading.CATEGORICAL_FEATURES], "ok"), out
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
    assert code == exits.NO, f"a shifted population must exit {exits.NO} so the schedule retrains:\n{out}"
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
    assert code == exits.NO, f"10 % unknown contracts is over the {judging.UNKNOWN_RETRAIN:.0%} retrain line:\n{out}"
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
    assert code == exits.OK, "warn is for a human to watch; it must not trigger retraining"


def test_a_run_that_fails_after_judging_writes_no_report_a_scheduler_could_read_as_retrain(
    tmp_path: Path, replay: pd.DataFrame
) -> None:
    # Retrain and Python's own crash both exit 1: the JSON report, written last, is what tells them apart.
    drifted = replay.assign(monthly_charges=replay["monthly_charges"] * 2, total_charges=replay["total_charges"] * 2)
    report_path = tmp_path / "drift.json"
    log = write_log(tmp_path / "service.log", drifted)
    page = log / "drift.html"  # under a file: no folder can be made there
    code = run_drift(log, "--json", str(report_path), "--html", str(page))
    assert code == exits.REFUSED, "a page that cannot be written is an input error, not a verdict"
    assert not report_path.exists(), "a report was written although the run failed: a scheduler would retrain on it"


def assert_input_error(code: int, capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    captured = capsys.readouterr()
    assert code == exits.REFUSED, f"bad input must exit {exits.REFUSED}, never {exits.NO} (retrain)"
    assert len(captured.err.strip().splitlines()) == 1, f"expected one readable line, got:\n{captured.err}"
    assert fragment in captured.err
    assert captured.out == "", "no table may be printed for input the tool could not judge"


def test_a_missing_log_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_input_error(run_drift(tmp_path / "nope.log"), capsys, "no prediction log at")


def test_a_log_without_prediction_lines_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "service.log"
    log.write_text("\n".join(JUNK_LINES) + "\n")
    assert_input_error(run_drift(log), capsys, 'no {"event": "prediction"} lines that are valid')


def test_too_few_requests_are_refused_not_judged(
    tmp_path: Path, snapshot: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(tmp_path / "service.log", snapshot.head(judging.MIN_ROWS - 1))
    assert_input_error(run_drift(log), capsys, f"need at least {judging.MIN_ROWS}")

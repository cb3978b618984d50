"""The snapshot is reproducible and loads strictly; a model file opens only when verified, and never runs code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io as sio

from src import artifacts, data, record, schema
from src.make_dataset import GENERATED_SHA256
from src.make_dataset import main as make_dataset


def _csv_row(**overrides: object) -> str:
    """The contract's header and one row: the example customer, not churned, with `overrides`."""
    row = {**schema.EXAMPLE_CUSTOMER, schema.LABEL: 0, **overrides}
    return ",".join(c.name for c in schema.COLUMNS) + "\n" + ",".join(str(row[c.name]) for c in schema.COLUMNS) + "\n"


def test_the_generator_reproduces_its_recorded_bytes(tmp_path: Path) -> None:
    assert make_dataset(["--out", str(tmp_path / "churn.csv")]) == 0
    produced = artifacts.sha256_file(tmp_path / "churn.csv")
    assert produced == GENERATED_SHA256, (
        f"`python -m src.make_dataset` now writes sha256 {produced}, not the recorded one: the generator or a "
        "pinned library changed; regenerate data/churn.csv and update GENERATED_SHA256 in one commit"
    )


def test_loader_names_the_column_and_a_bad_value_in_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(_csv_row(tenure_months="twelve"))
    with pytest.raises(data.DataError, match=r"tenure_months: 1 value\(s\) not an integer, e.g. 'twelve'") as excinfo:
        data.load(csv)
    assert "\n" not in str(excinfo.value)


def test_loader_names_missing_columns(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("customer_id,tenure_months\n0001-AAAAA,3\n")
    with pytest.raises(data.DataError, match="missing column"):
        data.load(csv)


def test_a_skops_file_is_byte_identical_for_the_same_model(small_artifact: Path, tmp_path: Path) -> None:
    model = artifacts.load_model(small_artifact / artifacts.MODEL_FILE)
    first = artifacts.stage_model(model, tmp_path / "a.skops")
    second = artifacts.stage_model(artifacts.load_model(first), tmp_path / "b.skops")
    assert first.read_bytes() == second.read_bytes(), "same model, different bytes: object ids or timestamps leaked"
    assert first.read_bytes() == (small_artifact / artifacts.MODEL_FILE).read_bytes()


def test_the_shipped_model_needs_no_trusted_types(small_artifact: Path) -> None:
    untrusted = sio.get_untrusted_types(file=small_artifact / artifacts.MODEL_FILE)
    assert untrusted == [], f"the model needs {untrusted} trusted: loading with an empty trust list would refuse it"


class Trap:
    """Stands for an attacker's object: building it writes a marker file."""

    marker: Path | None = None

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("code ran")


def _booby_trapped(folder: Path, small_artifact: Path) -> Path:
    """A skops file holding a Trap, with a record that matches it byte for byte and says the gate passed."""
    trap = Trap()
    trap.__dict__["marker"] = str(folder / "marker")
    model = folder / artifacts.MODEL_FILE
    sio.dump(trap, model)
    rec = record.read(small_artifact / artifacts.METRICS_FILE).model_copy(
        update={"model_sha256": artifacts.sha256_file(model)}
    )
    record.write(rec, folder / artifacts.METRICS_FILE)
    return model


def test_a_booby_trapped_model_with_a_matching_record_is_refused_without_running_it(
    tmp_path: Path, small_artifact: Path
) -> None:
    model = _booby_trapped(tmp_path, small_artifact)
    assert artifacts.verify(model, require_gate=True), "the trap must pass the sha and gate checks to mean anything"
    with pytest.raises(artifacts.ArtifactError, match="refusing to load untrusted types"):
        artifacts.load_verified(model, require_gate=True)
    assert not (tmp_path / "marker").exists(), "loading the model file ran code from it"


def test_a_tampered_model_is_refused_before_loading(tmp_path: Path, small_artifact: Path) -> None:
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        (tmp_path / name).write_bytes((small_artifact / name).read_bytes())
    with open(tmp_path / artifacts.MODEL_FILE, "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(artifacts.ArtifactError, match="refusing to load a file the gate did not measure"):
        artifacts.load_verified(tmp_path / artifacts.MODEL_FILE)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r["gate"].__setitem__("passed", "false"), "gate.passed"),
        (lambda r: r.__setitem__("holdout_auc", 1.5), "holdout_auc"),
        (lambda r: r.__setitem__("n_train", "5634"), "n_train"),
        (lambda r: r.__setitem__("model_version", "abc\r\nX-Evil: 1"), "model_version"),
        (
            lambda r: r["gate"].__setitem__("failed", []) or r["gate"]["checks"][0].__setitem__("outcome", "failed"),
            "gate",
        ),
    ],
    ids=["passed-as-a-string", "auc-above-1", "count-as-text", "crlf-in-version", "failed-check-but-passed"],
)
def test_an_invalid_record_is_refused_in_one_line_naming_the_field(
    tmp_path: Path, small_artifact: Path, edit, field: str
) -> None:
    raw = json.loads((small_artifact / artifacts.METRICS_FILE).read_text())
    edit(raw)
    path = tmp_path / artifacts.METRICS_FILE
    path.write_text(json.dumps(raw))
    with pytest.raises(record.RecordError) as excinfo:
        record.read(path)
    message = str(excinfo.value)
    assert "\n" not in message, message
    assert f"invalid record: {field}" in message, message

"""make test's order: cheap surfaces in sequence up to the gate, the slow ones longest first in lanes."""

from __future__ import annotations

import json
from pathlib import Path

from tools import suite


def test_everything_up_to_the_gate_runs_in_order_and_nothing_after_it_does() -> None:
    serial, lanes = suite.split_serial(["lint", "unit", "data", "model", "deploy", "docs"])
    assert serial == ["lint", "unit", "data", "model"], "a lint, unit, data or model failure must never wait"
    assert lanes == ["deploy", "docs"]


def test_a_list_without_the_gate_runs_wholly_in_order() -> None:
    assert suite.split_serial(["unit", "deploy"]) == (["unit", "deploy"], []), "make test SURFACES=... stays literal"


def test_the_slowest_surface_starts_first_so_the_lanes_end_together() -> None:
    typical = {"docs": 78.0, "deploy": 248.0, "labs": 50.0}
    order = suite.by_typical_time(["docs", "deploy", "labs", "new"], typical, True)
    assert order == ["deploy", "docs", "labs", "new"], "unknown surfaces go last, in their given order"


def test_beside_the_gate_the_quickest_surface_starts_first() -> None:
    order = suite.by_typical_time(["docs", "new", "labs", "pages"], {"docs": 78.0, "labs": 50.0, "pages": 12.0}, False)
    assert order == ["pages", "labs", "docs", "new"], "a red gate should wait on the shortest surface beside it"


def test_one_disturbed_run_does_not_reorder_the_next(tmp_path: Path) -> None:
    history = tmp_path / "suite-history.jsonl"
    runs = [{"service": 78.0, "labs": 45.0}] * 4 + [{"service": 133.0, "labs": 44.0}]
    history.write_text("".join(json.dumps({"complete": True, "surfaces": s}) + "\n" for s in runs) + "{torn line\n")
    typical = suite.typical_times(history, tmp_path / "absent.json")
    assert typical == {"service": 78.0, "labs": 45.0}, "a median over recent runs, not the last run's figure"


def test_without_a_finished_run_the_last_record_orders(tmp_path: Path) -> None:
    record = tmp_path / "suite.json"
    record.write_text(json.dumps({"complete": False, "surfaces": {"unit": 30.0}}))
    assert suite.typical_times(tmp_path / "absent.jsonl", record) == {"unit": 30.0}
    assert suite.typical_times(tmp_path / "absent.jsonl", tmp_path / "absent.json") == {}

"""make test's order: cheap surfaces in sequence up to the gate, the slow ones longest first in lanes."""

from __future__ import annotations

from tools import suite


def test_everything_up_to_the_gate_runs_in_order_and_nothing_after_it_does() -> None:
    serial, lanes = suite.split_serial(["lint", "unit", "data", "model", "deploy", "docs"])
    assert serial == ["lint", "unit", "data", "model"], "a lint, unit, data or model failure must never wait"
    assert lanes == ["deploy", "docs"]


def test_a_list_without_the_gate_runs_wholly_in_order() -> None:
    assert suite.split_serial(["unit", "deploy"]) == (["unit", "deploy"], []), "make test SURFACES=... stays literal"


def test_the_slowest_surface_starts_first_so_the_lanes_end_together() -> None:
    order = suite.by_last_time(["docs", "deploy", "labs", "new"], {"docs": 78.0, "deploy": 248.0, "labs": 50.0}, True)
    assert order == ["deploy", "docs", "labs", "new"], "unknown surfaces go last, in their given order"


def test_beside_the_gate_the_quickest_surface_starts_first() -> None:
    order = suite.by_last_time(["docs", "new", "labs", "pages"], {"docs": 78.0, "labs": 50.0, "pages": 12.0}, False)
    assert order == ["pages", "labs", "docs", "new"], "a red gate should wait on the shortest surface beside it"

"""make test's runner as a user meets it: lanes that finish, a red surface that stops the rest, output kept whole.

The surfaces here are tiny Python commands standing in for make targets, so
the runner's own behaviour is what is under test, in a second or two.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from src import exits
from tools import suite


def _commands(behaviour: dict[str, str]):
    """A surface name -> a real process: `ok`, `red` (exit 3), or `slow` (0.5 s, then ok)."""
    scripts = {
        "ok": "print('ran {name}')",
        "red": "print('broke {name}'); raise SystemExit(3)",
        "slow": "import time; time.sleep(0.5); print('ran {name}')",
    }
    return lambda name: [sys.executable, "-c", scripts[behaviour[name]].format(name=name)]


def test_every_lane_surface_runs_and_its_output_is_printed_whole(tmp_path: Path, capsys) -> None:
    behaviour = {"a": "slow", "b": "ok", "c": "ok", "d": "slow"}
    times: dict[str, float] = {}
    suite.run_lanes(list(behaviour), 2, times, _commands(behaviour), tmp_path)
    out = capsys.readouterr().out
    assert set(times) == set(behaviour), f"a surface in the lanes never ran: {times}"
    for name in behaviour:
        assert f"ran {name}" in out, f"surface {name}'s own output must reach the terminal"
        assert (tmp_path / f"{name}.log").read_text().strip() == f"ran {name}", "each surface keeps its own log"


def test_after_a_red_surface_no_new_one_starts(tmp_path: Path) -> None:
    behaviour = {"first": "red", "second": "ok", "third": "ok"}
    times: dict[str, float] = {}
    with pytest.raises(suite.Failed) as red:
        suite.run_lanes(list(behaviour), 1, times, _commands(behaviour), tmp_path)
    assert (red.value.surface, red.value.code) == ("first", 3), "the red surface and its exit code are named"
    assert list(times) == ["first"], "one lane: nothing may start after the red surface"


def test_a_red_surface_in_a_lane_lets_the_running_one_finish(tmp_path: Path) -> None:
    behaviour = {"long": "slow", "short": "red", "later": "ok"}
    times: dict[str, float] = {}
    with pytest.raises(suite.Failed):
        suite.run_lanes(list(behaviour), 2, times, _commands(behaviour), tmp_path)
    assert "long" in times, "a surface already running when another goes red finishes and is timed"
    assert "later" not in times, "no surface starts after a red one"


def test_a_surface_after_the_gate_runs_beside_it_and_is_printed_once_the_gate_is_through(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    behaviour = {"lint": "ok", "gate": "slow", "quick": "ok", "next": "ok"}
    times: dict[str, float] = {}
    left, running = suite.run_head(["lint", "gate"], ["quick", "next"], times, _commands(behaviour), tmp_path)
    suite.run_lanes(left, 2, times, _commands(behaviour), tmp_path, running=running)
    out = capfd.readouterr().out
    assert set(times) == set(behaviour), f"a surface never ran: {times}"
    assert "started beside the gate" in out, "the idle core must get a surface while the gate runs"
    assert out.index("ran gate") < out.index("ran quick"), "a surface beside the gate is printed after the gate"


def test_after_the_gate_the_lane_beside_it_goes_on_from_the_short_end(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The lane takes the longest first; the lane beside the gate takes the shortest at once, not after it."""
    behaviour = {"longer": "slow", "long": "slow", "short": "ok"}
    times: dict[str, float] = {}
    suite.run_lanes(list(behaviour), 1, times, _commands(behaviour), tmp_path, beside=True)
    out = capfd.readouterr().out
    assert set(times) == set(behaviour), f"a surface never ran: {times}"
    assert out.index("`make short` started in the lane beside the gate") < out.index("ran longer"), (
        "the short surface waited for the one lane instead of running beside it"
    )


def test_a_red_gate_starts_nothing_more_and_lets_the_one_beside_it_finish(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    behaviour = {"lint": "ok", "gate": "red", "beside": "slow", "later": "ok"}
    times: dict[str, float] = {}
    with pytest.raises(suite.Failed) as red:
        suite.run_head(["lint", "gate"], ["beside", "later"], times, _commands(behaviour), tmp_path)
    assert red.value.surface == "gate", "the red gate is what the suite reports, not the surface beside it"
    assert "beside" in times, "the surface already running beside the gate finishes and is timed"
    assert "later" not in times, "nothing starts after a red gate"
    assert "is finishing" in capfd.readouterr().out, "the wait for the surface beside a red gate is said"


def test_a_red_surface_beside_the_gate_stops_the_suite_after_the_gate(tmp_path: Path) -> None:
    behaviour = {"lint": "ok", "gate": "slow", "beside": "red", "later": "ok"}
    times: dict[str, float] = {}
    with pytest.raises(suite.Failed) as red:
        suite.run_head(["lint", "gate"], ["beside", "later"], times, _commands(behaviour), tmp_path)
    assert (red.value.surface, red.value.code) == ("beside", 3), "the red surface beside the gate is named"
    assert "gate" in times, "the gate itself still runs to its end"
    assert "later" not in times, "nothing starts beside the gate after a red surface"


def test_a_red_lint_costs_nothing_beside_it(tmp_path: Path) -> None:
    behaviour = {"lint": "red", "gate": "ok", "beside": "ok"}
    times: dict[str, float] = {}
    with pytest.raises(suite.Failed) as red:
        suite.run_head(["lint", "gate"], ["beside"], times, _commands(behaviour), tmp_path)
    assert red.value.surface == "lint"
    assert list(times) == ["lint"], f"a lint failure must not cost a run of anything else: {times}"


def test_a_call_without_surfaces_is_refused_in_one_line_before_anything_runs(capsys) -> None:
    assert suite.main([]) == exits.REFUSED, "no surfaces is bad input (exit 2), not a red suite"
    err = capsys.readouterr().err
    assert err.count("\n") == 1, f"not one readable line: {err!r}"
    assert "SURFACE" in err, f"the line should say what is missing: {err!r}"

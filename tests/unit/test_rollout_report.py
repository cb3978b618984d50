"""The rollout's last line tells the truth about what is left running."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from deploy.control import controller as rollout
from src import exits


def finish(tmp_path: Path, port: int | None) -> list[str]:
    said: list[str] = []
    rollout._finish({}, tmp_path / "rollout.json", "refused", "ratchet: worse", said.append, exits.NO, port)
    assert json.loads((tmp_path / "rollout.json").read_text())["outcome"] == "refused"
    return said


def report_line(said: list[str]) -> str:
    """The line naming the record and what is left running (the page's line may follow it)."""
    return next(line for line in said if line.startswith("report: "))


def test_a_rollout_that_started_no_stack_never_says_the_stack_keeps_serving(tmp_path: Path) -> None:
    said = finish(tmp_path, None)
    assert not any("make stack-down" in line for line in said), said
    assert "no stack is left running" in report_line(said), said


def test_a_rollout_whose_nginx_answers_says_how_to_stop_it(tmp_path: Path) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        said = finish(tmp_path, listening.getsockname()[1])
    assert "stop it with `make stack-down`" in report_line(said), said


def test_a_stack_port_nobody_listens_on_is_not_called_serving(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    said = finish(tmp_path, port)
    assert not any("make stack-down" in line for line in said), said

"""`make stack-up` names a taken port and its variable before starting anything."""

from __future__ import annotations

import socket

import pytest

from deploy.drivers.stack import check_ports_free
from deploy.settings import StackSettings
from src.processes import free_port


def test_a_taken_port_is_named_with_its_variable_before_anything_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        cfg = StackSettings().model_copy(
            update={"port": free_port(), "stable_port": free_port(), "candidate_port": taken, "prometheus": False}
        )
        with pytest.raises(RuntimeError, match=rf"port {taken} \(CANDIDATE_PORT\) is already in use"):
            check_ports_free(cfg)


def test_free_ports_pass_the_preflight():
    cfg = StackSettings().model_copy(
        update={"port": free_port(), "stable_port": free_port(), "candidate_port": free_port(), "prometheus": False}
    )
    check_ports_free(cfg)  # raises on a taken port; a race with another process is the only way this goes red

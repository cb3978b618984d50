"""`make stack-up` names a taken port and its variable before starting anything; the ports the tests pick are free."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from deploy.drivers.stack import check_ports_free
from deploy.settings import StackSettings
from src import processes
from src.config import ROOT
from src.processes import free_port

PICK = "from src.processes import free_port; print(*(free_port() for _ in range(50)))"


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


def test_a_picked_port_is_not_picked_again_while_leased_not_even_by_another_process():
    """A stack picks its ports now and binds them a second later; a docs page, a minute later."""
    ours = [free_port() for _ in range(50)]
    other = subprocess.run([sys.executable, "-c", PICK], cwd=ROOT, capture_output=True, text=True, timeout=60)
    theirs = [int(p) for p in other.stdout.split()]
    assert len(set(ours)) == len(ours), "one process was handed the same port twice"
    assert len(theirs) == 50, other.stderr
    assert not set(ours) & set(theirs), "two processes were handed the same port within its lease"


def test_picked_ports_stay_below_the_range_outgoing_connections_take_theirs_from():
    low, _ = processes._ephemeral_range()
    picked = [free_port() for _ in range(50)]
    assert all(processes.PORT_FLOOR <= p < low for p in picked), f"a port inside the ephemeral range: {picked}"

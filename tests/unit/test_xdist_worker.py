"""tools/xdist_worker.py: xdist's spec names the launcher's client; the worker takes only execnet's bootstrap."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from execnet import XSpec
from execnet.gateway_io import popen_args

from src import fork_client
from tools import xdist_worker


def test_the_spec_makes_execnet_start_the_worker_through_the_launchers_client() -> None:
    socket = "/tmp/churn launcher/launcher.sock"  # a space, as a user's temp folder may have
    specs = xdist_worker.worker_spec(3, socket)
    assert len(specs) == 3
    args = popen_args(XSpec(specs[0]))
    client = str(Path(fork_client.__file__).resolve())
    assert args[:5] == [sys.executable, client, socket, "-m", "tools.xdist_worker"], args
    assert tuple(args[5:7]) == xdist_worker.BOOTSTRAP_FORM, f"execnet now passes {args[5:]}: update BOOTSTRAP_FORM"


@pytest.mark.parametrize("argv", [[], ["-c", "print(1)"], ["-u", "-m", "x", "y"], ["-u", "-c"]])
def test_anything_but_execnets_bootstrap_is_refused_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert xdist_worker.main(argv) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1, said
    assert said[0].startswith("usage: python -m tools.xdist_worker"), said

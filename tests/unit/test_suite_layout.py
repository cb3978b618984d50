"""The suite's shape: every test folder runs somewhere, and the cheap surfaces stay cheap.

A folder no surface runs is a set of tests nobody runs; a server or a nested
pytest in the code surface turns a 10-second gate into a minute, and people
stop running it before they push.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from src.config import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()
CHEAP = ("unit", "data", "model")
NOT_IN_MAKE_TEST = {
    "container": "needs a Docker engine: make container",
    "lab_matrix": "every lab end to end, ~15 min: make lab-matrix",
}
# What starts a server or a nested test run, in a test's source.
PROCESS_MARKERS = ("run_pytest", "running(", "Popen", "uvicorn", '"-m", "pytest"', "run_module(", "labs.surfaces")


def _surfaces() -> list[str]:
    found = re.search(r"^SURFACES := (.+)$", MAKEFILE, re.MULTILINE)
    assert found, "the Makefile must list make test's surfaces in SURFACES"
    return found.group(1).split()


def _folders_run_by(target: str) -> set[str]:
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    return set(re.findall(r"\btests/(\w+)", recipe.group(1))) if recipe else set()


def test_every_test_folder_is_run_by_make_test_or_named_as_not() -> None:
    run = set().union(*(_folders_run_by(surface) for surface in _surfaces()))
    folders = {p.parent.name for p in (ROOT / "tests").glob("*/test_*.py")}
    orphans = sorted(folders - run - NOT_IN_MAKE_TEST.keys())
    assert not orphans, f"tests/{orphans} run in no surface of make test: add a target to SURFACES or say why not"


def test_make_test_runs_the_cheap_surfaces_first() -> None:
    assert _surfaces()[:4] == ["lint", *CHEAP], "a lint or unit failure must never wait for the slow surfaces"


@pytest.mark.parametrize("surface", CHEAP)
def test_the_cheap_surfaces_never_start_a_server_or_a_nested_pytest(surface: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {marker}"
        for path in sorted((ROOT / "tests" / surface).glob("*.py"))
        if path != Path(__file__)
        for marker in PROCESS_MARKERS
        if marker in path.read_text()
    ]
    assert not offenders, f"move these to tests/service or tests/surfaces (real processes): {offenders}"

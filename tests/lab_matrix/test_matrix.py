"""The full break-the-pipeline matrix: every lab is caught by its own surface, with its hint, then solved.

Not part of `make test` (it rolls candidates out through nginx, twice per
deploy lab): `make lab-matrix` runs it. `make labs` seeds every lab on every
run and grades the code, data and model labs end to end
(tests/labs/test_every_lab.py). Here each fault is checked both ways, the
full check (all of tests/unit, every canary step) and `--quick` (a code lab's
own unit test files, one canary step at 100 %), and both must name the lab's
own surface. Verdicts are cached by tree content across the copies: the
solved tree of every lab is the starting tree again, so its surfaces run once
for all of them, and the stable model is gated once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.catalog import LABS, Lab
from tests.labs.rows import prove_row


@pytest.fixture(scope="session")
def lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One verdict cache for every clone: a solved tree identical to another is judged once."""
    return tmp_path_factory.mktemp("labs-cache")


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_the_fault_is_caught_by_its_own_surface_and_the_solution_makes_everything_green(
    lab: Lab, tmp_path: Path, lab_cache: Path
) -> None:
    prove_row(lab, tmp_path, lab_cache)

"""The full break-the-pipeline matrix: every lab is caught by its own surface, with its hint, then solved.

Not part of `make test` (it starts every lab, rolls candidates out through
nginx and gates several models): `make lab-matrix` runs it. `make labs`
keeps a cheap slice of it (tests/labs/test_matrix_slice.py) in the suite.
Checks run `--quick` (each code lab runs its own unit test files; the deploy
labs roll out through shadow and one canary step at 100 %), and verdicts are
cached by tree content across the copies: the solved tree of most labs is
the starting tree again, so the unit, data and model surfaces run once for
all of them, and the stable model is gated once.
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

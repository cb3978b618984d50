"""A slice of the break-the-pipeline matrix kept in the suite: one code lab and one data lab, end to end.

Both solved trees are the starting tree again, so the model gate runs once
for the two rows (the verdict cache is shared). Budget: all of `make labs`
(these two rows and the CLI tests) took 48 to 58 s on the 2-core shared machine at
load ~4 (2026-11-23). The whole matrix, every lab on every surface, is
`make lab-matrix` (tests/lab_matrix, about 15 minutes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.catalog import BY_ID
from tests.labs.rows import prove_row

SLICE = ("imputation-removed", "truncated-export")


@pytest.mark.parametrize("lab_id", SLICE)
def test_a_code_and_a_data_fault_are_caught_by_their_surface_and_solved(
    lab_id: str, tmp_path: Path, lab_cache: Path
) -> None:
    prove_row(BY_ID[lab_id], tmp_path, lab_cache)

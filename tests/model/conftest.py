"""Run the gate stage once for the whole model surface.

`src.gate.stage.run` trains once, judges every check on the model loaded back from
its own file, and writes the pair: to the artifact folder on a pass, to its
rejected/ folder on a failure. The tests only read that verdict; nothing a
test runner does can change it.
"""

from __future__ import annotations

import pytest

from src import config
from src.gate import stage


@pytest.fixture(scope="session")
def gated() -> stage.GateRun:
    settings = config.settings()
    return stage.run(settings.churn_data, settings.artifact_dir, settings.churn_seed, settings.prod_metrics)

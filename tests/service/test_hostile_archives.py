"""Hostile model archives against the real service process: one startup_failed line each, no traceback.

Each case (tools/archives.py) starts the image's own command on a hostile
archive whose record matches it and says the gate passed, so only the
loading boundary can stop it. The child's peak RSS comes from the kernel's
accounting of that one child (os.wait4), not from sampling.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from src import artifacts
from src.processes import free_port, run_to_exit
from tools import archives
from tools.image import image_command, local_command

MAX_RSS_MB = 300  # the bound: the 512 MiB bomb once peaked at 1.2 GB before it was refused


@pytest.mark.parametrize("case", list(archives.CASES), ids=lambda c: c.replace(" ", "-"))
def test_a_hostile_archive_stops_startup_with_one_line_and_no_traceback(
    case: str, small_artifact: Path, tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns while writing the duplicate member on purpose
        model = archives.write_case(case, small_artifact / artifacts.MODEL_FILE, tmp_path / "model")
    assert artifacts.verify(model, require_gate=True), "the record must pass, or only the sha check is tested"
    logs = tmp_path / "logs"
    logs.mkdir()
    result = run_to_exit(local_command(image_command(), free_port()), {"MODEL_PATH": str(model)}, logs)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{case}: the service started on a hostile archive:\n{output[-2000:]}"
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith('{"event":"startup_failed"')]
    assert len(lines) == 1, f"{case}: expected exactly one startup_failed line:\n{output[-2000:]}"
    reason = lines[0]["reason"]
    assert archives.CASES[case][1] in reason, f"{case}: the reason should name the cause, got: {reason}"
    assert "Traceback" not in output, f"{case}: a traceback reached the output:\n{output[-3000:]}"
    assert '"event":"model_loaded"' not in result.stdout, f"{case}: the model was loaded before the refusal"
    assert result.peak_rss_mb < MAX_RSS_MB, f"{case}: peak RSS {result.peak_rss_mb:.0f} MB >= {MAX_RSS_MB} MB"


def test_the_loader_refuses_every_hostile_archive_with_an_artifact_error(small_artifact: Path, tmp_path: Path) -> None:
    """In-process, the same boundary: ArtifactError for each case, never another exception type."""
    for i, case in enumerate(archives.CASES):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = archives.write_case(case, small_artifact / artifacts.MODEL_FILE, tmp_path / str(i))
        with pytest.raises(artifacts.ArtifactError) as refused:
            artifacts.load_model(model)
        assert "\n" not in str(refused.value), f"{case}: the reason must be one line: {refused.value}"
        assert archives.CASES[case][1] in str(refused.value), f"{case}: {refused.value}"
    assert artifacts.load_model(small_artifact / artifacts.MODEL_FILE) is not None, "the gated model must still load"

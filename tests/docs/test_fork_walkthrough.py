"""docs/fork.md's "add `payment_method`" walkthrough, done as a fork would do it, on a fresh copy of the tree.

The steps are declared once in `tools/fork_walkthrough.py`, which the page
quotes (a unit test keeps the two equal), so what this test does is what the
page says: the same edits, the same commands, then the unit, data and model
surfaces and a served /predict with and without the new field. The page's
file count is the set of files git sees changed, and no test is among them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from src import loopback
from tests.docs.test_runnable_blocks import Shell, fresh_copy
from tools.fork_walkthrough import NEW_INPUT, STEPS, TOUCHED


def _changed(root: Path) -> list[str]:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True, text=True, check=True
    )
    return sorted(line[3:] for line in status.stdout.splitlines())


def test_the_fork_walkthrough_works_as_written_and_touches_what_the_page_says(tmp_path: Path) -> None:
    root = fresh_copy(tmp_path / "fork")
    shell = Shell(root)
    try:
        for step in STEPS:
            step.apply(root)
            for command in step.commands:
                shell.run(command)
            if step.derive is not None:
                step.derive(root)
        changed = _changed(root)
        assert changed == sorted(TOUCHED), f"the page promises {sorted(TOUCHED)}, git sees {changed} changed"
        assert not [p for p in changed if p.startswith("tests/")], "the walkthrough must not need a test edited"

        for surface in ("unit", "data", "model"):
            shell.run(f"make {surface}")
        record = json.loads((root / "metrics.json").read_text())
        checks = {c["id"]: c for c in record["gate"]["checks"]}
        assert record["gate"]["passed"], f"the gate failed on the walkthrough: {record['gate']['failed']}"
        assert checks[f"moves_{NEW_INPUT}"]["outcome"] == "passed", checks[f"moves_{NEW_INPUT}"]
        assert checks["regression"]["outcome"] == "passed", "the re-baselined ratchet must be judged against"

        body = json.loads(shell.run("make -s example"))
        assert NEW_INPUT in body, f"the contract's example customer lacks {NEW_INPUT}: {body}"
        shell.run("make serve")
        url = f"http://127.0.0.1:{shell.ports['PORT']}/predict"
        served = loopback.post(url, json=body, timeout=10)
        assert served.status_code == 200, served.text
        assert 0.0 <= served.json()["churn_probability"] <= 1.0
        without = loopback.post(url, json={k: v for k, v in body.items() if k != NEW_INPUT}, timeout=10)
        assert without.status_code == 422, f"a body without the new required field was scored: {without.text}"
        assert any(e["loc"][-1] == NEW_INPUT and "required" in e["msg"] for e in without.json()["detail"]), without.text
    finally:
        shell.stop_servers()

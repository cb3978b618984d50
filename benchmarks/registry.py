"""The registry round trip: register a gated pair, pull it back by alias, gate it (needs requirements-registry.txt).

Prints the wall time of each step on a fresh local sqlite registry in a temp
folder. The first register pays for creating the registry's tables (alembic
migrations); later ones do not, so both are shown.

    .venv/bin/python -m benchmarks.registry
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from src import artifacts, exits, registry
from src.gate import stage
from src.make_dataset import generate, write
from tools.gated import gated


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="churn-registry-bench-") as tmp:
        root = Path(tmp)
        write(generate(seed=7, n=4000), root / "snapshot.csv")
        baseline = root / "no_baseline.json"
        model = gated(root / "snapshot.csv", root / "gated", baseline)
        settings = registry.RegistrySettings(dir=root / ".mlflow")
        for label in ("first register (creates the registry)", "second register (new version, alias moved)"):
            started = time.perf_counter()
            version, _ = registry.register(model, settings)
            print(f"{label:<45} {time.perf_counter() - started:6.2f} s  (version {version})")
        started = time.perf_counter()
        pulled = registry.pull("models:/churn@candidate", root / "pulled", settings)
        print(f"{'pull models:/churn@candidate':<45} {time.perf_counter() - started:6.2f} s")
        started = time.perf_counter()
        judged = stage.run_existing(pulled, root / "snapshot.csv", root / "judged", 42, baseline)
        print(f"{'gate the pulled pair':<45} {time.perf_counter() - started:6.2f} s  (passed: {judged.passed})")
        same = all(
            (root / "judged" / n).read_bytes() == (root / "gated" / n).read_bytes()
            for n in (artifacts.MODEL_FILE, artifacts.METRICS_FILE)
        )
        print(f"{'gated pair byte-identical to the registered one':<45} {same}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

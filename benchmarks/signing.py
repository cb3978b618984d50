"""What verifying the signed pair costs at startup (TRUSTED_PUBLIC_KEY), beside the same startup without it.

Prints, on a pair the real gate passed (4,000 seeded customers) signed with a
throwaway P-256 key:
- importing model_signing in a fresh interpreter (sigstore comes with it),
  which only a service with a trusted signer pays;
- signing and verifying the pair in-process once the library is loaded;
- uvicorn's startup to the first 200 on /health, with and without
  TRUSTED_PUBLIC_KEY, interleaved so machine load hits both alike.
Each figure is the median of its runs, with the min and max beside it.

    .venv/bin/python -m benchmarks.signing [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src import artifacts, exits, signing
from src.config import ROOT
from src.make_dataset import generate, write
from src.processes import free_port, stop, wait_healthy
from tools.gated import gated
from tools.keys import ec_key_pair


def _figure(label: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{label:<52} median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f}   max {max(ms):8.1f}   n={len(ms)}")


def _import_time() -> float:
    code = "import time; t = time.perf_counter(); import model_signing.verifying; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def _startup(model: Path, env: dict[str, str]) -> float:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "MODEL_PATH": str(model), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        return time.perf_counter() - started
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args(argv).runs
    os.environ.pop("TRUSTED_PUBLIC_KEY", None)
    os.environ.pop("TRUSTED_IDENTITY", None)
    with tempfile.TemporaryDirectory(prefix="churn-signing-bench-") as tmp:
        root = Path(tmp)
        write(generate(seed=7, n=4000), root / "snapshot.csv")
        model = gated(root / "snapshot.csv", root / "pair")
        keys = ec_key_pair(root / "keys")
        record_bytes = model.with_name(artifacts.METRICS_FILE).stat().st_size
        print(f"pair: {model.stat().st_size:,} B model + {record_bytes:,} B record; load {os.getloadavg()[0]:.1f}")

        _figure("import model_signing (fresh interpreter)", [_import_time() for _ in range(runs)])
        signs, verifies = [], []
        for _ in range(runs):
            started = time.perf_counter()
            signing.sign(model, private_key=keys.private)
            signs.append(time.perf_counter() - started)
            started = time.perf_counter()
            signing.verify(model, public_key=keys.public)
            verifies.append(time.perf_counter() - started)
        _figure("sign the pair (library loaded)", signs)
        _figure("verify the pair (library loaded)", verifies)

        plain, trusted = [], []
        for _ in range(runs):
            plain.append(_startup(model, {}))
            trusted.append(_startup(model, {"TRUSTED_PUBLIC_KEY": str(keys.public)}))
        _figure("service startup to /health, TRUSTED_PUBLIC_KEY unset", plain)
        _figure("service startup to /health, TRUSTED_PUBLIC_KEY set", trusted)
        extra = statistics.median(trusted) - statistics.median(plain)
        print(f"{'verification cost at startup (difference of medians)':<52} {extra * 1000:8.1f} ms")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())

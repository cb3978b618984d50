"""Wall time of each test surface, warm venv, one run each: `make bench-suite` (not part of `make bench`).

A surface that fails prints its own output and stops the run, so a red surface is never a bare exit code.
"""

from __future__ import annotations

import subprocess
import sys
import time

from src import config

SURFACES = ("lint", "unit", "data", "model", "test")


def main() -> int:
    print("test surfaces (warm venv, one run each)")
    for target in SURFACES:
        started = time.perf_counter()
        done = subprocess.run(["make", "--no-print-directory", target], cwd=config.ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(
                f"  make {target:<6} failed after {seconds:.1f} s (exit {done.returncode}); its output:",
                file=sys.stderr,
            )
            print(done.stdout[-8000:] + done.stderr[-4000:], file=sys.stderr)
            return 1
        print(f"  make {target:<6} {seconds:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

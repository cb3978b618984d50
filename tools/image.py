"""The container image's own command, run without Docker: the Dockerfile's CMD on 127.0.0.1 and a port of ours.

The service tests and benchmarks.hostile_archives start exactly what the image
starts (same app, same uvicorn flags), so a flag the image depends on is tested
where no Docker daemon runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from src.config import ROOT

UVICORN = [sys.executable, "-m", "uvicorn"]


class NotTheImageCommand(ValueError):
    """The Dockerfile's CMD is not one exec-form `uvicorn ... --host H --port P` line."""


def image_command(checkout: Path = ROOT) -> list[str]:
    """The exec-form CMD of `checkout`'s Dockerfile, parsed from the file itself."""
    lines = [line for line in (checkout / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    if len(lines) != 1:
        raise NotTheImageCommand(f"the Dockerfile needs exactly one exec-form CMD, it has {len(lines)}")
    return json.loads(lines[0].removeprefix("CMD "))


def local_command(cmd: list[str], port: int) -> list[str]:
    """`cmd` (the image's) as this venv runs it: 127.0.0.1 and `port` in place of the image's host and port."""
    if cmd[0] != "uvicorn":
        raise NotTheImageCommand(f"the image must start uvicorn, not {cmd[0]!r}")
    args = cmd[1:]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    return UVICORN + args

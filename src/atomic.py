"""Write a file so that readers see the old bytes or the new ones, never half.

Every file the project replaces while something may read it (the artifact
pair, prod_metrics.json, the snapshot, nginx's rendered stage, the stack's
state, a report) goes through here: the bytes land in a temp file in the
target's folder, reach the disk, and are renamed over the target. A crash
or a failed write leaves the target as it was and no temp file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def stage(target: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(temp)` for a temp file beside `target` and return it, complete and synced, unrenamed.

    The caller renames it (`temp.replace(target)`), which lets two files be
    fully written before either replaces a good one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(name)
    try:
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the file from a non-root reader (the image's uid 10001)
        write(temp)
        with open(temp, "rb+") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_with(target: Path, write: Callable[[Path], None]) -> None:
    """Atomically replace `target` with what `write(path)` puts at `path`."""
    temp = stage(target, write)
    try:
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_text(target: Path, text: str) -> None:
    """Atomically replace `target` with `text`."""
    write_with(target, lambda path: path.write_text(text))


def write_bytes(target: Path, data: bytes) -> None:
    """Atomically replace `target` with `data`."""
    write_with(target, lambda path: path.write_bytes(data))

"""A real headless Chromium for the page tests: the page as a reader's browser draws it.

Debian's `chromium` (installed by `make system-deps`, like nginx) is started
once per look, with a fresh profile and every background service that could
reach the network switched off, on a `file://` URL: what it shows is what a
page opened offline from a CI artifact shows. `--dump-dom` gives the DOM after
parsing (the sections a reader would see), `--screenshot` the pixels (a page
that parses but draws nothing is blank, and that is a failure too).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1200, 2400)
TIMEOUT_S = 120.0  # a cold start on a loaded 2-core VM takes seconds; a hung browser must still end the test


def chromium() -> str:
    """The browser's path, or a skip that names why (only where it cannot be installed)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed here (Debian package chromium; `make system-deps` installs it)")
    return found


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="churn-chromium-") as profile:
        return subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                *extra,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )


@dataclass(frozen=True)
class Rendered:
    dom: str  # the document after Chromium parsed it
    screenshot: Path

    def ink(self) -> float:
        """Share of the screenshot's pixels that are not background white."""
        pixels = np.asarray(Image.open(self.screenshot).convert("L"))
        return float(np.mean(pixels < 245))

    def colours(self) -> int:
        """Distinct colours in the screenshot: text alone has few, charts add many."""
        return len(Image.open(self.screenshot).convert("RGB").getcolors(maxcolors=1 << 20) or [])


def render(page: Path, screenshot: Path) -> Rendered:
    """Load `page` from its file in Chromium twice: once for the DOM, once for a screenshot."""
    dom = _run(page, "--dump-dom")
    assert dom.returncode == 0, f"chromium --dump-dom exited {dom.returncode}: {dom.stderr.decode()[-500:]}"
    shot = _run(page, f"--screenshot={screenshot}")
    assert shot.returncode == 0, f"chromium --screenshot exited {shot.returncode}: {shot.stderr.decode()[-500:]}"
    assert screenshot.is_file(), f"chromium wrote no screenshot: {shot.stderr.decode()[-500:]}"
    return Rendered(dom.stdout.decode(), screenshot)


def section_ids(dom: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', dom)

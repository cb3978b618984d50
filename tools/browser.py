"""A real headless Chromium: the page as a reader's browser draws it (the page tests, benchmarks.pages).

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


class MissingBrowser(RuntimeError):
    """No Chromium on this machine: a page can still be written, not looked at."""


class BrowserFailed(RuntimeError):
    """Chromium ran and did not draw the page; the message carries its own error output."""


def chromium() -> str:
    """The browser's path; MissingBrowser names the package that provides it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise MissingBrowser("chromium is not installed here (Debian package chromium; `make system-deps` installs it)")
    return found


def look(page: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """One run of Chromium on `page`'s file with a fresh profile and `extra` flags (--dump-dom, --screenshot=...)."""
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


def _checked(done: subprocess.CompletedProcess[bytes], what: str) -> subprocess.CompletedProcess[bytes]:
    if done.returncode != 0:
        raise BrowserFailed(f"chromium {what} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return done


def _drawn(done: subprocess.CompletedProcess[bytes], png: Path) -> Path:
    if not png.is_file():
        raise BrowserFailed(f"chromium wrote no screenshot: {done.stderr.decode()[-500:]}")
    return png


def screenshot(page: Path, png: Path) -> Path:
    """`page` drawn into `png` by Chromium; BrowserFailed when no picture came out."""
    return _drawn(_checked(look(page, f"--screenshot={png}"), "--screenshot"), png)


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


def render(page: Path, png: Path) -> Rendered:
    """Load `page` from its file in Chromium once, for both its DOM and its screenshot (one start, ~0.7 s of CPU)."""
    done = _checked(look(page, "--dump-dom", f"--screenshot={png}"), "--dump-dom --screenshot")
    return Rendered(done.stdout.decode(), _drawn(done, png))


def section_ids(dom: str) -> list[str]:
    """The ids of the page's top-level sections, in the order the DOM holds them."""
    return re.findall(r'<section id="([^"]+)"', dom)

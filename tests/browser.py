"""The page tests' Chromium (tools/browser.py): a machine without the browser skips and says why.

The skip is for where Chromium cannot be installed; a browser that runs and
draws nothing is a failure (tools.browser.BrowserFailed), never a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import browser
from tools.browser import Rendered, section_ids

__all__ = ["Rendered", "render", "section_ids"]


def render(page: Path, screenshot: Path) -> Rendered:
    """tools.browser.render, skipped where no Chromium is installed."""
    try:
        return browser.render(page, screenshot)
    except browser.MissingBrowser as missing:
        pytest.skip(str(missing))
